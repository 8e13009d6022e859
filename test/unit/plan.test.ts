// The committed plan of the example stack: a change to what gets built shows up in a pull request's diff.
import { readFileSync } from "fs";
import { join } from "path";
import { planExampleStack, redact, redacted, renderPlan } from "../../scripts/lib/plan/plan";
import { RecordedResource } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const snapshot = join(__dirname, "..", "plan", "example-stack.plan.txt");
let plan: string;

beforeAll(async () => {
    plan = await planExampleStack();
});

test("the plan matches the committed snapshot (run `npm run plan -- --update` and commit the diff when the change is intended)", () => {
    const committed = readFileSync(snapshot, "utf8");
    if (plan !== committed) {
        const a = plan.split("\n");
        const b = committed.split("\n");
        const first = a.findIndex((line, i) => line !== b[i]);
        throw new Error(
            `plan differs from ${snapshot} at line ${first + 1}:\n  now:       ${a[first]}\n  committed: ${b[first]}\nRun \`npm run plan -- --update\` and commit it if intended.`,
        );
    }
});

test("no secret reaches the plan: no private key, the key parameters and the client key are shown as [secret]; certificate parameters by digest", () => {
    expect(plan).not.toMatch(/PRIVATE KEY/);
    const parameterRows = plan.split("\n").filter((l) => l.startsWith("aws.ssm.Parameter"));
    // Five per member, and the cluster's discovery list (nothing secret in it).
    expect(parameterRows).toHaveLength(16);
    const keyRows = parameterRows.filter((l) => / \/etcd\/\S+\.key /.test(l));
    expect(keyRows).toHaveLength(6);
    for (const row of keyRows) expect(row).toMatch(/SecureString key=<etcd-kms> value=\[secret\]$/);
    for (const row of parameterRows.filter((l) => !keyRows.includes(l)))
        expect(row).toMatch(/\/(\S+\.crt|members|membership\.sh) String value=sha256:[0-9a-f]{12}$/);
    expect(plan).toMatch(/^ {2}clientKeyPem: \[secret\]$/m);
});

test("redaction covers inputs marked secret and anything shaped like a private key", () => {
    const record = {
        type: "aws:ec2/instance:Instance",
        name: "x",
        secretInputs: ["userData"],
        inputs: {
            userData: "plain but marked secret",
            tags: { note: "-----BEGIN RSA PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----" },
            instanceType: "m7i.large",
        },
    } as unknown as RecordedResource;
    expect(redact(record)).toEqual({ userData: redacted, tags: { note: redacted }, instanceType: "m7i.large" });
});

test("the plan states what a reviewer checks: 3 members over 3 zones, IMDSv2, encrypted volumes, gates", () => {
    const rows = plan.split("\n");
    expect(rows.filter((l) => l.startsWith("aws.ec2.Instance")).every((l) => /imds=v2\/hop1 root=gp3\/encrypted/.test(l))).toBe(true);
    expect(rows.filter((l) => l.startsWith("aws.ebs.Volume")).map((l) => /az=(\S+)/.exec(l)?.[1])).toEqual(["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
    // Three member gates, the cluster's gate and the backup before a change.
    expect(rows.filter((l) => l.startsWith("command.local.Command") && l.includes("health gate"))).toHaveLength(5);
    // The data volumes are protected, the KMS key survives a destroy, and the default image is kept per architecture.
    const optionsOf = (prefix: RegExp) => rows.flatMap((l, i) => (prefix.test(l) ? [rows[i + 1].trim()] : []));
    expect(optionsOf(/^aws\.ebs\.Volume /)).toEqual(["options: protect", "options: protect", "options: protect"]);
    expect(optionsOf(/^aws\.kms\.Key /)).toEqual(["options: retainOnDelete"]);
    expect(optionsOf(/^command\.local\.Command +etcd-image-(x86_64|arm64) /)).toEqual(["options: ignoreChanges=create", "options: ignoreChanges=create"]);
});

test("instances show their profile, key and resource options; a new cluster creates its members at once", () => {
    const rows = plan.split("\n");
    for (let i = 0; i < 3; i++) {
        const at = rows.findIndex((l) => l.startsWith("aws.ec2.Instance") && l.includes(` etcd-member-${i} `));
        expect(rows[at]).toContain(`profile=<etcd-member-${i}>`);
        expect(rows[at]).toContain("root=gp3/encrypted(<etcd-kms>)");
        expect(rows[at + 1].trim()).toMatch(/^options: deleteBeforeReplace dependsOn=\S+$/);
        // The image comes from its per-architecture holder; no instance ignores changes of its own.
        expect(rows[at + 1]).toContain("Command:etcd-image-");
        expect(rows[at + 1]).not.toContain("ignoreChanges");
        // The plan is of a new stack: no member waits for another's gate.
        expect(rows[at + 1]).not.toContain("-rolled");
    }
    expect(plan).toMatch(/^aws\.iam\.RolePolicyAttachment +etcd-member-0-ssm +role=<etcd-member-0> arn:aws:iam::aws:policy\/AmazonSSMManagedInstanceCore$/m);
    expect(plan).toMatch(/^aws\.iam\.InstanceProfile +etcd-member-0 +role=<etcd-member-0>$/m);
});

test("user-data is shown file by file: the etcd configuration line by line, the boot script's settings, certificates as digests", () => {
    const member0 = plan.slice(plan.indexOf("user-data of etcd-member-0:"), plan.indexOf("user-data of etcd-member-1:"));
    expect(member0).toMatch(/^ {6}ETCD_TLS_MIN_VERSION=TLS1\.2$/m);
    expect(member0).toMatch(/^ {6}ETCD_LISTEN_METRICS_URLS=http:\/\/127\.0\.0\.1:2381$/m);
    expect(member0).toMatch(
        /^ {6}readonly RELEASE_URL='https:\/\/github\.com\/etcd-io\/etcd\/releases\/download\/v3\.6\.14\/etcd-v3\.6\.14-linux-amd64\.tar\.gz'$/m,
    );
    // Certificates come from the member's parameters; the boot script pins each by its digest.
    expect(member0).toMatch(/^ {6}fetch_ssm ca\.crt '[0-9a-f]{64}'/m);
    expect(member0).toMatch(/^ {6}NoNewPrivileges=yes$/m);
    const member1 = plan.slice(plan.indexOf("user-data of etcd-member-1:"));
    expect(member1).toMatch(/^ {2}\/etc\/systemd\/system\/etcd-growfs\.service 0644 root:root: same as etcd-member-0$/m);
});

test("a changed flag in user-data is one readable line of the plan's diff, not a new hash", () => {
    const instance = (env: string) =>
        ({
            type: "aws:ec2/instance:Instance",
            name: "m-0",
            urn: "urn:m-0",
            id: "i-0",
            custom: true,
            secretInputs: [],
            dependsOn: [],
            ignoreChanges: [],
            replaceOnChanges: [],
            deleteBeforeReplace: false,
            outputs: {},
            inputs: {
                userData: `#cloud-config\nwrite_files:\n  - path: /etc/etcd/etcd.env\n    owner: root:root\n    permissions: "0644"\n    content: |\n      ETCD_NAME=m-0\n      ${env}\nruncmd:\n  - [/usr/local/sbin/etcd-bootstrap]\n`,
            },
        }) as unknown as RecordedResource;
    const before = renderPlan([instance("ETCD_TLS_MIN_VERSION=TLS1.2")], {}).split("\n");
    const after = renderPlan([instance("ETCD_TLS_MIN_VERSION=TLS1.3")], {}).split("\n");
    const removed = before.filter((l) => !after.includes(l));
    const added = after.filter((l) => !before.includes(l));
    expect(removed.filter((l) => !l.includes("sha256:"))).toEqual(["      ETCD_TLS_MIN_VERSION=TLS1.2"]);
    expect(added.filter((l) => !l.includes("sha256:"))).toEqual(["      ETCD_TLS_MIN_VERSION=TLS1.3"]);
});
