// The committed plan of the example stack: a change to what gets built shows up in a pull request's diff.
import { readFileSync } from "fs";
import { join } from "path";
import { planExampleStack, redact, redacted } from "../../scripts/lib/plan";
import { RecordedResource } from "../../scripts/lib/stackMocks";

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

test("no secret reaches the plan: no private key, the key parameters and the client key are shown as [secret]", () => {
    expect(plan).not.toMatch(/PRIVATE KEY/);
    const parameterRows = plan.split("\n").filter((l) => l.startsWith("aws.ssm.Parameter") && l.includes("SecureString"));
    expect(parameterRows).toHaveLength(6);
    for (const row of parameterRows) expect(row).toMatch(/value=\[secret\]$/);
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
    expect(rows.filter((l) => l.startsWith("command.local.Command"))).toHaveLength(4);
});
