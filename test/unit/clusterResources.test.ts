// What the component (etcdCluster.ts) and each member (member.ts) decide, checked on the inputs and options of
// every resource they register, the outputs, the warnings and the order of creation: five small clusters that
// differ in exactly those decisions, placeholder certificates, literal expectations throughout.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { releaseSource, restoredClusterToken, safeClusterName } from "../../components/etcdCluster";
import {
    defaultMockSubnets,
    earlierResource,
    installStackMocks,
    RecordedResource,
    settled,
    StackMocks,
    unwrapSecrets,
    valueOf,
} from "../../scripts/lib/mocks/stackMocks";

// A healthy run takes seconds; a mistake that leaves an output unresolved fails here rather than hanging for a minute.
jest.setTimeout(30_000);

const T = {
    component: "etcd-cluster:index:EtcdCluster",
    eni: "aws:ec2/networkInterface:NetworkInterface",
    volume: "aws:ebs/volume:Volume",
    instance: "aws:ec2/instance:Instance",
    attachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    group: "aws:ec2/securityGroup:SecurityGroup",
    parameter: "aws:ssm/parameter:Parameter",
    profile: "aws:iam/instanceProfile:InstanceProfile",
    kms: "aws:kms/key:Key",
    cert: "tls:index/locallySignedCert:LocallySignedCert",
    csr: "tls:index/certRequest:CertRequest",
    command: "command:local:Command",
};

const [subnetA, subnetB, subnetC, subnetD] = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333", "subnet-0ddd4444"];
const vpc = { vpcId: "vpc-0123abcd" };
const restoreFrom = "s3://old-etcd-backups/etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz";
const mirrorSha = "ab".repeat(32);
// Cluster ids: the safe name and the first 8 hex digits of sha256("etcd-cluster/test/<name>") (project/stack/name).
const ids = { solo: "solo-ce8db85a", trio: "trio-51edeb74", exist: "exist-5a30715e", pair: "pair-3ce5ecac", restored: "restored-0e2de2b2" };
// The images the mocked SSM parameters hold for Amazon Linux 2023.
const amdImage = "ami-0a1b2c3d4e5f60718";
const armImage = "ami-0f9e8d7c6b5a40312";
const officialAmd = "https://github.com/etcd-io/etcd/releases/download/v3.6.14/etcd-v3.6.14-linux-amd64.tar.gz";
const officialArm = "https://github.com/etcd-io/etcd/releases/download/v3.6.14/etcd-v3.6.14-linux-arm64.tar.gz";

const build: Record<string, EtcdClusterArgs> = {
    // Defaults: keys in SSM, the SSM readiness check, its own key and CA; backups off; the caller's tags.
    solo: { ...vpc, subnetIds: [subnetA], size: 1, backup: { enabled: false }, tags: { team: "platform" } },
    // Three members over two zones, the readiness check from this machine, metrics on the member's address, auth.
    trio: {
        ...vpc,
        subnetIds: [subnetA, subnetB],
        size: 3,
        backup: { enabled: false },
        readiness: { mode: "direct" },
        metricsCidrs: ["10.9.0.0/24"],
        auth: true,
    },
    // A cluster that exists already (an interface carries its tag), with backups: members roll one at a time.
    exist: { ...vpc, subnetIds: [subnetA, subnetB], size: 2 },
    // Keys in user-data and no readiness check: no role, no parameters, no gates; Graviton and a mirror.
    pair: {
        ...vpc,
        subnetIds: [subnetB],
        size: 2,
        keyDelivery: "inline",
        readiness: { mode: "none" },
        backup: { enabled: false },
        instanceType: "m7g.large",
        binaryUrl: "https://mirror.internal/etcd.tar.gz",
        binarySha256: mirrorSha,
    },
    // Arguments whose largest user-data with defragmentation is exactly the budget, 15360 bytes (userDataBound.ts).
    e: {
        ...vpc,
        subnetIds: [subnetA],
        size: 1,
        auth: true,
        tls: { minVersion: "TLS1.3" },
        tuning: { heartbeatIntervalMs: 50, electionTimeoutMs: 500, snapshotCount: 100, quotaBackendBytes: 10 * 2 ** 20 },
        binaryUrl: "file:///e",
        binarySha256: mirrorSha,
        readiness: { mode: "none" },
        backup: { enabled: false },
    },
    // Restored from a snapshot, keys in user-data (a role for the backups only); the caller's image, an instance type known only at deployment, an io2 volume.
    restored: {
        ...vpc,
        subnetIds: [subnetC],
        size: 1,
        readiness: { mode: "none" },
        keyDelivery: "inline",
        ami: "ami-0123456789abcdef0",
        instanceType: pulumi.output("m7g.large"),
        dataVolume: { type: "io2", sizeGib: pulumi.output(64), iops: 8000 },
        restore: { from: restoreFrom },
    },
};

let mocks: StackMocks;
/** Each provider function call with the provider it was sent to. */
const calls: { token: string; provider?: string }[] = [];
const clusters: Record<string, EtcdClusterType> = {};
const warnings: { message: string; resource?: pulumi.Resource }[] = [];
let componentOutputs: Record<string, Record<string, unknown>>;

const existingInterface = earlierResource({
    type: T.eni,
    name: "exist-member-0",
    id: "eni-0feedface0000001",
    inputs: { tags: { "etcd:cluster": ids.exist } },
});

beforeAll(async () => {
    mocks = await installStackMocks({
        tls: "fake",
        existingResources: [existingInterface],
        subnets: { ...defaultMockSubnets, [subnetD]: { cidrBlock: "10.0.4.0/24", availabilityZone: "eu-west-1a" } },
    });
    const call = mocks.call.bind(mocks);
    mocks.call = (args) => {
        calls.push({ token: args.token, provider: args.provider });
        return call(args);
    };
    // `echo` prints the image id with a newline.
    const newResource = mocks.newResource.bind(mocks);
    mocks.newResource = (args) => {
        const result = newResource(args) as pulumi.runtime.MockResourceResult;
        if (args.type === T.command && /^echo ami-/.test(String(args.inputs.create))) result.state.stdout += "\n";
        return result;
    };
    const warn = pulumi.log.warn;
    pulumi.log.warn = async (message: string, resource?: pulumi.Resource) => {
        warnings.push({ message, resource });
    };
    const { EtcdCluster } = await import("../../components");
    for (const [name, args] of Object.entries(build)) clusters[name] = new EtcdCluster(name, args);
    // A cluster given its own AWS provider: every lookup it makes goes to that provider.
    const frankfurt = new aws.Provider("frankfurt", { region: "eu-west-1" });
    clusters.prov = new EtcdCluster(
        "prov",
        { ...vpc, subnetIds: [subnetD], size: 1, keyDelivery: "inline", readiness: { mode: "none" }, backup: { enabled: false } },
        { providers: { aws: frankfurt } },
    );
    // The outputs' own promises: a mistake that throws while an output resolves fails here at once.
    const resolved = (o: pulumi.Output<unknown>) => (o as unknown as { promise(): Promise<unknown> }).promise();
    await Promise.all(Object.values(clusters).map((c) => Promise.all([resolved(c.members), resolved(c.clientKeyPem), resolved(c.caCertPem)])));
    await settled(mocks);
    pulumi.log.warn = warn;
    // What each component registered as its outputs, as the engine received them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const registered: Map<string, { state?: { toJavaScript(): Record<string, unknown> } }> = require("@pulumi/pulumi/runtime/settings")
        .getMonitor()
        .getRegisteredResources();
    componentOutputs = {};
    for (const name of Object.keys(clusters)) {
        const urn = mocks.get(T.component, name).urn;
        componentOutputs[name] = unwrapSecrets(registered.get(urn)?.state?.toJavaScript() ?? {});
    }
});

const get = (type: string, name: string) => mocks.get(type, name);
const of = (cluster: string, type: string): RecordedResource[] => mocks.resources.filter((r) => r.type === type && r.name.startsWith(`${cluster}-`));
const names = (cluster: string, type: string) =>
    of(cluster, type)
        .map((r) => r.name)
        .sort();
/** What a resource waits for, as "Type name" (the last part of the type token). */
const waitsFor = (type: string, name: string) =>
    get(type, name)
        .dependsOn.map((urn) => {
            const [, , typeChain, resourceName] = urn.split("::");
            return `${typeChain.split(":").pop()} ${resourceName}`;
        })
        .sort();
/** A member's user-data files by path (compressed files decoded). */
function files(cluster: string, i: number): Record<string, string> {
    const doc = parse(get(T.instance, `${cluster}-member-${i}`).inputs.userData);
    return Object.fromEntries(
        doc.write_files.map((f: { path: string; content: string; encoding?: string }) => [
            f.path,
            f.encoding === "gz+b64" ? gunzipSync(Buffer.from(f.content, "base64")).toString("utf8") : f.content,
        ]),
    );
}
const bootScript = (cluster: string, i: number) => files(cluster, i)["/usr/local/sbin/etcd-bootstrap"];
const env = (cluster: string, i: number) =>
    Object.fromEntries(
        files(cluster, i)
            ["/etc/etcd/etcd.env"].split("\n")
            .filter((l) => l && !l.startsWith("#"))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
const ip = (cluster: string, i: number) => get(T.eni, `${cluster}-member-${i}`).outputs.privateIp as string;
const pem = (kind: string, label: string) => `-----BEGIN ${kind}-----\n${Buffer.from(label).toString("base64")}\n-----END ${kind}-----\n`;

describe("etcdCluster.ts: names, tokens and the release, from plain values", () => {
    test.each([
        ["prod", "prod"],
        ["Prod_Cluster.1", "prod-cluster-1"],
        ["--a..b--", "a-b"],
        ["ÉTCD", "tcd"],
        ["a".repeat(45), "a".repeat(40)],
        [`${"a".repeat(39)}-b`, "a".repeat(39)],
        [`${"a".repeat(38)}--b`, "a".repeat(38)],
        ["___", "etcd"],
        ["", "etcd"],
    ])("safeClusterName(%j) is %j", (name, safe) => {
        expect(safeClusterName(name)).toBe(safe);
    });

    test("a restored cluster's token is the cluster id and 8 hex digits of the snapshot URL's SHA-256; none without a restore", () => {
        // sha256("s3://b/k") = a65db92a...
        expect(restoredClusterToken("prod-1a2b3c4d", "s3://b/k")).toBe("prod-1a2b3c4d-ra65db92a");
        expect(restoredClusterToken("prod-1a2b3c4d", undefined)).toBeUndefined();
    });

    test("the release: the caller's mirror and sum, checked; else the official URL and the pinned sum; a version without one is refused", () => {
        expect(releaseSource("3.6.14", "amd64", "https://mirror.internal/e.tgz", mirrorSha)).toEqual({
            url: "https://mirror.internal/e.tgz",
            sha256: mirrorSha,
        });
        expect(releaseSource("3.6.14", "arm64")).toEqual({ url: officialArm, sha256: "fa1b80565ee6fc2df1ae6f57a508b221f3ecc7d591c317c581cd8281b0842b3e" });
        // A URL without its sum (or a sum without its URL) takes the official release.
        expect(releaseSource("3.6.14", "amd64", "https://mirror.internal/e.tgz").url).toBe(officialAmd);
        expect(releaseSource("3.6.14", "amd64", undefined, mirrorSha).url).toBe(officialAmd);
        expect(() => releaseSource("3.6.14", "amd64", "ftp://mirror.internal/e.tgz", mirrorSha)).toThrow(/^binaryUrl: /);
        expect(() => releaseSource("3.6.14", "amd64", "https://mirror.internal/e.tgz", "abc")).toThrow(/^binarySha256: /);
        expect(() => releaseSource("3.6.99", "amd64")).toThrow(
            'version: expected a version with a pinned amd64 checksum, or binaryUrl and binarySha256, got "3.6.99"',
        );
    });
});

describe("etcdCluster.ts: arguments refused before anything is registered", () => {
    const refused = async (name: string, args: EtcdClusterArgs) => {
        const { EtcdCluster } = await import("../../components");
        const before = mocks.resources.length;
        let error: unknown;
        try {
            new EtcdCluster(name, args);
        } catch (e) {
            error = e;
        }
        await settled(mocks, 5);
        expect(mocks.resources.slice(before).map((r) => r.name)).toEqual([]);
        return (error as Error).message;
    };

    test("user-data that cannot fit EC2's 16 KB: inline RSA keys", async () => {
        expect(
            await refused("bigkeys", {
                ...vpc,
                subnetIds: [subnetA],
                size: 1,
                keyDelivery: "inline",
                tls: { keyAlgorithm: "RSA" },
                backup: { enabled: false },
            }),
        ).toBe(
            'keyDelivery: expected arguments whose user-data fits in 15360 bytes (EC2 allows 16384; 1024 are kept free); keyDelivery "inline", RSA keys, 1 members need up to 19260 bytes for bigkeys-0: use keyDelivery "ssm" (certificates and keys by parameter), ECDSA keys, fewer members or a shorter component name, got "keyDelivery \\"inline\\", RSA keys, 1 members"',
        );
    });

    // Each figure is the largest user-data these arguments allow (userDataBound.ts), so it changes with each of them.
    const inlineRsa = { ...vpc, subnetIds: [subnetA], size: 1, keyDelivery: "inline", tls: { keyAlgorithm: "RSA" } } satisfies EtcdClusterArgs;
    const fakeCa = { certPem: pem("CERTIFICATE", "c".repeat(600)), privateKeyPem: pem("EC PRIVATE KEY", "k".repeat(100)) };
    test.each([
        ["with backups and a restore", { ...inlineRsa, restore: { from: restoreFrom } }, "need up to 17177 bytes for big-0"],
        ["with backups", inlineRsa, "need up to 17151 bytes for big-0"],
        [
            "with a mirror, Graviton, metrics and the caller's CA",
            {
                ...inlineRsa,
                backup: { enabled: false },
                binaryUrl: "https://mirror.internal/etcd.tar.gz",
                binarySha256: mirrorSha,
                instanceType: "m7g.large",
                metricsCidrs: ["10.9.0.0/24"],
                ca: fakeCa,
            },
            "metricsCidrs, a CA certificate of 855 bytes need up to 20145 bytes for big-0",
        ],
        [
            "with a mirror known only at deployment",
            {
                ...inlineRsa,
                backup: { enabled: false },
                binaryUrl: pulumi.output("https://mirror.internal/etcd.tar.gz"),
                binarySha256: mirrorSha,
                instanceType: pulumi.output("m7g.large"),
            },
            "need up to 19540 bytes for big-0",
        ],
    ])("inline RSA keys %s: refused with the bound", async (_, args, expected) => {
        expect(await refused("big", args as EtcdClusterArgs)).toContain(expected);
    });

    test("the bound of a plain instance type is its architecture's: for this name, the arm64 release's user-data compresses 4 bytes smaller", async () => {
        expect(await refused("large", { ...inlineRsa, instanceType: "m7g.large" })).toContain("need up to 17159 bytes for large-0");
        expect(await refused("large", inlineRsa)).toContain("need up to 17163 bytes for large-0");
        // A type known only at deployment: the larger of both.
        expect(await refused("large", { ...inlineRsa, instanceType: pulumi.output("m7g.large") })).toContain("need up to 17163 bytes for large-0");
    });

    test("etcd 3.4 on arm64 needs one more setting (ETCD_UNSUPPORTED_ARCH): a type not known as amd64 is bounded by it", async () => {
        const v34 = { ...inlineRsa, version: "3.4.23", binaryUrl: "https://mirror.internal/etcd.tar.gz", binarySha256: mirrorSha } satisfies EtcdClusterArgs;
        const bytes = async (args: EtcdClusterArgs) => {
            const message = await refused("large", args);
            const n = /need up to (\d+) bytes for large-0/.exec(message)?.[1];
            if (n === undefined) throw new Error(message);
            return Number(n);
        };
        const arm = await bytes({ ...v34, instanceType: "m7g.large" });
        const amd = await bytes({ ...v34, instanceType: "m6i.large" });
        expect(arm).toBeGreaterThan(amd);
        // Known only at deployment: either architecture may boot. The default type is an amd64 one.
        expect(await bytes({ ...v34, instanceType: pulumi.output("m6i.large") })).toBe(arm);
        expect(await bytes(v34)).toBe(amd);
    });

    test("a plain data volume too small for the quota", async () => {
        expect(
            await refused("small", {
                ...vpc,
                subnetIds: [subnetA],
                size: 1,
                dataVolume: { type: "gp3", sizeGib: 20 },
                tuning: { quotaBackendBytes: 8 * 2 ** 30 },
                backup: { enabled: false },
            }),
        ).toMatch(/^dataVolume\.sizeGib: expected at least \d+ for tuning\.quotaBackendBytes 8589934592 /);
    });
});

describe("member.ts: each member's interface, volume, instance and attachment", () => {
    const soloTags = { Name: "solo-0", "etcd:cluster": ids.solo, team: "platform" };

    test("the interface: in the member's subnet, in the members' group, described and tagged with the member's name", () => {
        const group = get(T.group, "solo-members").id;
        expect(get(T.eni, "solo-member-0").inputs).toEqual({
            subnetId: subnetA,
            securityGroups: [group],
            description: "etcd member solo-0: its fixed address",
            tags: soloTags,
        });
        expect(get(T.eni, "trio-member-2").inputs).toEqual({
            subnetId: subnetA,
            securityGroups: [get(T.group, "trio-members").id],
            description: "etcd member trio-2: its fixed address",
            tags: { Name: "trio-2", "etcd:cluster": ids.trio },
        });
        expect(get(T.eni, "trio-member-1").inputs.subnetId).toBe(subnetB);
    });

    test("the data volume: in the member's zone, gp3 defaults, encrypted with the cluster's key, a final snapshot, protected", () => {
        const volume = get(T.volume, "solo-member-0-data");
        expect(volume.inputs).toEqual({
            availabilityZone: "eu-west-1a",
            size: 32,
            type: "gp3",
            iops: 3000,
            throughput: 125,
            encrypted: true,
            kmsKeyId: get(T.kms, "solo-kms").outputs.arn,
            finalSnapshot: true,
            tags: soloTags,
        });
        expect(volume.protect).toBe(true);
        expect(volume.deleteBeforeReplace).toBe(false);
        expect(get(T.volume, "trio-member-1-data").inputs.availabilityZone).toBe("eu-west-1b");
        expect(get(T.volume, "trio-member-2-data").inputs.availabilityZone).toBe("eu-west-1a");
        // The caller's io2 figures: no throughput.
        expect(get(T.volume, "restored-member-0-data").inputs).toEqual({
            availabilityZone: "eu-west-1c",
            size: 64,
            type: "io2",
            iops: 8000,
            encrypted: true,
            kmsKeyId: get(T.kms, "restored-kms").outputs.arn,
            finalSnapshot: true,
            tags: { Name: "restored-0", "etcd:cluster": ids.restored },
        });
    });

    test("the instance: image, type, the fixed interface, its profile, IMDSv2, an encrypted root, replaced (old one first) when user-data changes", () => {
        const instance = get(T.instance, "solo-member-0");
        const { userData, ...inputs } = instance.inputs;
        expect(inputs).toEqual({
            ami: amdImage,
            instanceType: "m7i.large",
            primaryNetworkInterface: { networkInterfaceId: get(T.eni, "solo-member-0").id },
            iamInstanceProfile: get(T.profile, "solo-member-0").outputs.name,
            userDataReplaceOnChange: true,
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true, kmsKeyId: get(T.kms, "solo-kms").outputs.arn, deleteOnTermination: true },
            tags: soloTags,
        });
        expect(userData).toMatch(/^#cloud-config\n/);
        expect(instance.deleteBeforeReplace).toBe(true);
        expect(instance.protect).toBe(false);
        expect(instance.ignoreChanges).toEqual([]);
        // Keys in SSM: user-data holds no secret, and is not marked secret (its diff stays readable).
        expect(instance.secretInputs).toEqual([]);
        // Inline keys: user-data is secret.
        expect(get(T.instance, "pair-member-0").secretInputs).toEqual(["userData"]);
        expect(get(T.instance, "pair-member-0").inputs.iamInstanceProfile).toBeUndefined();
    });

    test("the volume attachment: the member's volume on its instance as /dev/sdf, the instance stopped before detaching", () => {
        const attachment = get(T.attachment, "solo-member-0-data");
        expect(attachment.inputs).toEqual({
            deviceName: "/dev/sdf",
            volumeId: get(T.volume, "solo-member-0-data").id,
            instanceId: get(T.instance, "solo-member-0").id,
            stopInstanceBeforeDetaching: true,
        });
        expect(get(T.attachment, "trio-member-2-data").inputs.volumeId).toBe(get(T.volume, "trio-member-2-data").id);
        expect(get(T.attachment, "trio-member-2-data").inputs.instanceId).toBe(get(T.instance, "trio-member-2").id);
    });

    test("every member resource is a child of its component", () => {
        const component = get(T.component, "trio").urn;
        for (const type of [T.eni, T.volume, T.instance, T.attachment, T.cert, T.parameter, T.profile, T.command]) {
            const children = of("trio", type);
            expect(children.length).toBeGreaterThan(0);
            for (const r of children) expect(`${r.name} ${r.parent}`).toBe(`${r.name} ${component}`);
        }
    });

    test("certificates name the member's address: the server's with its name, the peer's without", () => {
        expect(get(T.csr, "trio-member-1-server-csr").inputs).toMatchObject({ subject: { commonName: "trio-1" }, ipAddresses: [ip("trio", 1), "127.0.0.1"] });
        expect(get(T.csr, "trio-member-1-peer-csr").inputs).toMatchObject({ subject: { commonName: "etcd-peer" }, ipAddresses: [ip("trio", 1)] });
        expect(get(T.cert, "pair-member-0-server").inputs.validityPeriodHours).toBe(17520);
    });
});

describe("member.ts: key and certificate parameters", () => {
    test("keys in SSM: five parameters per member under /etcd/<cluster id>/<member>/, their values the member's own", () => {
        expect(names("solo", T.parameter)).toEqual([
            "solo-member-0-ca-cert",
            "solo-member-0-peer-cert",
            "solo-member-0-peer-key",
            "solo-member-0-server-cert",
            "solo-member-0-server-key",
            "solo-members",
            "solo-membership-functions",
        ]);
        const parameter = (n: string) => get(T.parameter, `trio-member-1-${n}`).inputs;
        expect(parameter("server-key")).toMatchObject({
            name: `/etcd/${ids.trio}/trio-1/server.key`,
            value: pem("EC PRIVATE KEY", "trio-member-1-server-key"),
        });
        expect(parameter("peer-key")).toMatchObject({ name: `/etcd/${ids.trio}/trio-1/peer.key`, value: pem("EC PRIVATE KEY", "trio-member-1-peer-key") });
        expect(parameter("ca-cert")).toMatchObject({ name: `/etcd/${ids.trio}/trio-1/ca.crt`, insecureValue: pem("CERTIFICATE", "trio-ca") });
        expect(parameter("server-cert")).toMatchObject({
            name: `/etcd/${ids.trio}/trio-1/server.crt`,
            insecureValue: pem("CERTIFICATE", "trio-member-1-server"),
        });
        expect(parameter("peer-cert")).toMatchObject({ name: `/etcd/${ids.trio}/trio-1/peer.crt`, insecureValue: pem("CERTIFICATE", "trio-member-1-peer") });
        expect(get(T.parameter, "trio-member-1-server-key").inputs.keyId).toBe(get(T.kms, "trio-kms").outputs.arn);
    });

    test("inline keys: no parameter, and the keys and certificates are files of user-data", () => {
        expect(names("pair", T.parameter)).toEqual([]);
        const f = files("pair", 1);
        expect(f["/etc/etcd/pki/ca.crt"]).toBe(pem("CERTIFICATE", "pair-ca"));
        expect(f["/etc/etcd/pki/server.crt"]).toBe(pem("CERTIFICATE", "pair-member-1-server"));
        expect(f["/etc/etcd/pki/peer.crt"]).toBe(pem("CERTIFICATE", "pair-member-1-peer"));
        expect(f["/etc/etcd/pki/server.key"]).toBe(pem("EC PRIVATE KEY", "pair-member-1-server-key"));
        expect(f["/etc/etcd/pki/peer.key"]).toBe(pem("EC PRIVATE KEY", "pair-member-1-peer-key"));
        // With SSM delivery no key or certificate is in user-data.
        expect(Object.keys(files("solo", 0)).filter((path) => path.startsWith("/etc/etcd/pki/"))).toEqual([]);
    });
});

describe("member.ts: what each member's user-data says", () => {
    test("its name, address, token, release, volume, region and parameter path", () => {
        const script = bootScript("trio", 1);
        expect(script).toContain("readonly MEMBER_NAME='trio-1'\n");
        expect(script).toContain("readonly ETCD_VERSION='3.6.14'\n");
        expect(script).toContain(`readonly RELEASE_URL='${officialAmd}'\n`);
        expect(script).toContain("readonly RELEASE_SHA256='ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5'\n");
        expect(script).toContain(`readonly DATA_VOLUME_ID='${get(T.volume, "trio-member-1-data").id}'\n`);
        expect(script).toContain("readonly AWS_REGION='eu-west-1'\n");
        expect(script).toContain(`readonly SSM_PREFIX='/etcd/${ids.trio}/trio-1'\n`);
        expect(env("trio", 1)).toMatchObject({
            ETCD_NAME: "trio-1",
            ETCD_INITIAL_CLUSTER_TOKEN: ids.trio,
            ETCD_INITIAL_ADVERTISE_PEER_URLS: `https://${ip("trio", 1)}:2380`,
            // metricsCidrs: metrics on the member's address too.
            ETCD_LISTEN_METRICS_URLS: `http://${ip("trio", 1)}:2381,http://127.0.0.1:2381`,
            ETCD_TLS_MIN_VERSION: "TLS1.2",
            ETCD_SNAPSHOT_COUNT: "10000",
        });
        expect(env("solo", 0).ETCD_LISTEN_METRICS_URLS).toBe("http://127.0.0.1:2381");
        // A restored cluster: a token of its own.
        expect(env("restored", 0).ETCD_INITIAL_CLUSTER_TOKEN).toBe("restored-0e2de2b2-r9d629b7a");
        // The caller's mirror, the arm64 release of an instance type known only at deployment.
        expect(bootScript("pair", 0)).toContain("readonly RELEASE_URL='https://mirror.internal/etcd.tar.gz'\n");
        expect(bootScript("pair", 0)).toContain(`readonly RELEASE_SHA256='${mirrorSha}'\n`);
        expect(bootScript("pair", 0)).not.toContain("SSM_PREFIX");
        expect(bootScript("restored", 0)).toContain(`readonly RELEASE_URL='${officialArm}'\n`);
    });

    test("the members it may join: those before it, or the discovery parameter; the membership functions by layout", () => {
        expect(bootScript("pair", 0)).toContain(`readonly SELF_IP='${ip("pair", 0)}' SEEDS=() MAY_FOUND=1 DISCOVERY=''\n`);
        expect(bootScript("pair", 1)).toContain(`readonly SELF_IP='${ip("pair", 1)}' SEEDS=('${ip("pair", 0)}') MAY_FOUND=0 DISCOVERY=''\n`);
        expect(bootScript("trio", 2)).toContain(`readonly SELF_IP='${ip("trio", 2)}' SEEDS=() MAY_FOUND=0 DISCOVERY='/etcd/${ids.trio}/members'\n`);
        // Keys in SSM, no backups: the functions are a parameter, fetched and checked against their digest.
        const library = get(T.parameter, "trio-membership-functions").inputs;
        expect(library.name).toBe(`/etcd/${ids.trio}/membership.sh`);
        expect(bootScript("trio", 1)).toMatch(new RegExp(`\\n *fetch_ssm membership\\.sh '[0-9a-f]{64}' '/etcd/${ids.trio}/membership\\.sh'\\n`));
        expect(bootScript("trio", 1)).toContain("readonly MEMBERSHIP_LIB=/etc/etcd/pki/membership.sh\n");
        // Inline keys: in user-data; with backups: in the tools object.
        expect(files("pair", 0)["/usr/local/lib/etcd/membership.sh"]).toMatch(/^# shellcheck shell=bash /);
        expect(bootScript("exist", 0)).toContain("readonly MEMBERSHIP_LIB=/usr/local/lib/etcd/membership.sh\n");
        expect(files("exist", 0)["/usr/local/lib/etcd/membership.sh"]).toBeUndefined();
        expect(bootScript("exist", 0)).toMatch(
            /\nreadonly TOOLS_URL='s3:\/\/etcd-backups-5a30715e-\d+\/etcd-backups\/exist-5a30715e\/tools\/member-tools\.sh' TOOLS_SHA256='[0-9a-f]{64}'\n/,
        );
        expect(bootScript("trio", 0)).not.toContain("TOOLS_URL");
    });

    test("auth: the first member alone enables it, for every possible member name", () => {
        expect(files("trio", 0)["/usr/local/sbin/etcd-enable-auth"]).toContain("readonly USERS=('root' 'trio-'{0..8})\n");
        expect(Object.keys(files("trio", 0))).toContain("/etc/systemd/system/etcd-enable-auth.service");
        for (const i of [1, 2]) expect(Object.keys(files("trio", i)).filter((path) => path.includes("auth"))).toEqual([]);
        expect(Object.keys(files("solo", 0)).filter((path) => path.includes("auth"))).toEqual([]);
    });

    test("defragmentation: in user-data when it fits without backups, in the tools object with backups, left out (with a warning) otherwise", () => {
        const defrag = (cluster: string) => Object.keys(files(cluster, 0)).filter((path) => path.includes("defrag"));
        expect(defrag("pair")).toEqual(["/etc/systemd/system/etcd-defrag.service", "/etc/systemd/system/etcd-defrag.timer", "/usr/local/sbin/etcd-defrag"]);
        expect(defrag("solo")).toEqual(["/etc/systemd/system/etcd-defrag.service", "/etc/systemd/system/etcd-defrag.timer", "/usr/local/sbin/etcd-defrag"]);
        expect(defrag("exist")).toEqual([]);
        expect(defrag("trio")).toEqual([]);
        // Exactly the budget still fits.
        expect(defrag("e")).toEqual(["/etc/systemd/system/etcd-defrag.service", "/etc/systemd/system/etcd-defrag.timer", "/usr/local/sbin/etcd-defrag"]);
        expect(warnings.filter((w) => w.resource === clusters.e).map((w) => w.message)).toEqual([
            'readiness.mode "none": pulumi up does not wait for a healthy cluster, and changed members are not updated one at a time',
            "size 1: a single member tolerates no failure; use 3 or 5 members in production",
        ]);
    });
});

describe("etcdCluster.ts: images, outputs, warnings", () => {
    test("without an AMI: one holder per architecture records the current Amazon Linux 2023 image and ignores newer ones", () => {
        expect(names("solo", T.command).filter((n) => n.includes("image"))).toEqual(["solo-image-arm64", "solo-image-x86_64"]);
        for (const [arch, image] of [
            ["x86_64", amdImage],
            ["arm64", armImage],
        ]) {
            const holder = get(T.command, `solo-image-${arch}`);
            expect(holder.inputs).toEqual({ create: `echo ${image}` });
            expect(holder.ignoreChanges).toEqual(["create"]);
            expect(holder.parent).toBe(get(T.component, "solo").urn);
        }
        const asked = mocks.invokes.filter((i) => i.token === "aws:ssm/getParameter:getParameter").map((i) => i.args.name);
        expect(asked).toContain("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64");
        expect(asked).toContain("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64");
        expect(get(T.instance, "pair-member-1").inputs.ami).toBe(armImage);
        expect(get(T.instance, "pair-member-1").inputs.instanceType).toBe("m7g.large");
        // The caller's AMI: no holder.
        expect(get(T.instance, "restored-member-0").inputs.ami).toBe("ami-0123456789abcdef0");
        expect(names("restored", T.command)).toEqual([]);
    });

    test("outputs: endpoints and members in member order, with zones, subnets, addresses, instances and URLs; the client key secret", async () => {
        const trio = clusters.trio;
        const a = [ip("trio", 0), ip("trio", 1), ip("trio", 2)];
        expect(a).toEqual(["10.0.1.10", "10.0.2.10", "10.0.1.11"]);
        expect(await valueOf(trio.clientEndpoints)).toEqual(["https://10.0.1.10:2379", "https://10.0.2.10:2379", "https://10.0.1.11:2379"]);
        const instance = (i: number) => get(T.instance, `trio-member-${i}`).id;
        expect(await valueOf(trio.members)).toEqual([
            {
                name: "trio-0",
                privateIp: "10.0.1.10",
                availabilityZone: "eu-west-1a",
                subnetId: subnetA,
                instanceId: instance(0),
                clientUrl: "https://10.0.1.10:2379",
                peerUrl: "https://10.0.1.10:2380",
            },
            {
                name: "trio-1",
                privateIp: "10.0.2.10",
                availabilityZone: "eu-west-1b",
                subnetId: subnetB,
                instanceId: instance(1),
                clientUrl: "https://10.0.2.10:2379",
                peerUrl: "https://10.0.2.10:2380",
            },
            {
                name: "trio-2",
                privateIp: "10.0.1.11",
                availabilityZone: "eu-west-1a",
                subnetId: subnetA,
                instanceId: instance(2),
                clientUrl: "https://10.0.1.11:2379",
                peerUrl: "https://10.0.1.11:2380",
            },
        ]);
        expect(await valueOf(trio.faultTolerance)).toEqual({ members: 1, zones: 0 });
        expect(await valueOf(clusters.solo.faultTolerance)).toEqual({ members: 0, zones: 0 });
        expect(await valueOf(trio.securityGroupId)).toBe(get(T.group, "trio-members").id);
        expect(await valueOf(trio.caCertPem)).toBe(pem("CERTIFICATE", "trio-ca"));
        expect(await valueOf(trio.clientCertPem)).toBe(pem("CERTIFICATE", "trio-client"));
        expect(await valueOf(trio.clientKeyPem)).toBe(pem("EC PRIVATE KEY", "trio-client-key"));
        expect(await pulumi.isSecret(trio.clientKeyPem)).toBe(true);
        expect(await pulumi.isSecret(trio.clientCertPem)).toBe(false);
        expect(await pulumi.isSecret(trio.caCertPem)).toBe(false);
    });

    test("the component registers each output under its name", () => {
        expect(componentOutputs.solo).toEqual({
            clientEndpoints: [`https://${ip("solo", 0)}:2379`],
            members: [
                {
                    name: "solo-0",
                    privateIp: ip("solo", 0),
                    availabilityZone: "eu-west-1a",
                    subnetId: subnetA,
                    instanceId: get(T.instance, "solo-member-0").id,
                    clientUrl: `https://${ip("solo", 0)}:2379`,
                    peerUrl: `https://${ip("solo", 0)}:2380`,
                },
            ],
            caCertPem: pem("CERTIFICATE", "solo-ca"),
            clientCertPem: pem("CERTIFICATE", "solo-client"),
            clientKeyPem: pem("EC PRIVATE KEY", "solo-client-key"),
            securityGroupId: get(T.group, "solo-members").id,
            faultTolerance: { members: 0, zones: 0 },
        });
    });

    test("warnings: each argument check's and the defragmentation's, once, on the component", () => {
        const on = (cluster: string) => warnings.filter((w) => w.resource === clusters[cluster]).map((w) => w.message);
        expect(warnings.every((w) => Object.values(clusters).includes(w.resource as EtcdClusterType))).toBe(true);
        expect(on("solo")).toEqual(["size 1: a single member tolerates no failure; use 3 or 5 members in production"]);
        expect(on("trio")).toEqual([
            "3 members over 2 zone(s): losing one availability zone loses quorum; give at least 3 subnets in distinct zones",
            'no automatic defragmentation: with backups off its script and timer would take user-data to 15759 bytes (over 15360); turn backups on (they carry it), use keyDelivery "ssm", or defragment by hand (README: "Defragmentation")',
        ]);
        expect(on("pair")).toEqual([
            'keyDelivery "inline": private keys travel in user-data, readable through instance metadata and by principals allowed ec2:DescribeInstanceAttribute',
            'readiness.mode "none": pulumi up does not wait for a healthy cluster, and changed members are not updated one at a time',
            "size 2: an even member count tolerates no more failures than 1 members (quorum 2 of 2, 0 failure(s) tolerated)",
            "2 members over 1 zone(s): losing one availability zone loses quorum; give at least 3 subnets in distinct zones",
        ]);
    });

    test("tags: the caller's and the cluster's id on every member resource", () => {
        // Named after the member: its interface, volume and instance.
        const named = { Name: "solo-0", "etcd:cluster": ids.solo, team: "platform" };
        for (const type of [T.eni, T.volume, T.instance]) for (const r of of("solo", type)) expect([r.name, r.inputs.tags]).toEqual([r.name, named]);
        // Without tags of the caller's: the cluster's id alone.
        expect(get(T.volume, "pair-member-1-data").inputs.tags).toEqual({ Name: "pair-1", "etcd:cluster": ids.pair });
        for (const r of of("solo", T.parameter)) expect([r.name, r.inputs.tags]).toEqual([r.name, { "etcd:cluster": ids.solo, team: "platform" }]);
        expect(get(T.parameter, "solo-member-0-server-key").inputs.tags).toEqual({ "etcd:cluster": ids.solo, team: "platform" });
        expect(get(T.group, "solo-members").inputs.tags).toEqual({ "etcd:cluster": ids.solo, team: "platform" });
    });
});

describe("member.ts: what a member's role may read", () => {
    const reads = (cluster: string) => JSON.parse(get("aws:iam/rolePolicy:RolePolicy", `${cluster}-member-0-keys`).inputs.policy).Statement;
    const arn = (id: string, path: string) => `arn:aws:ssm:eu-west-1:123456789012:parameter/etcd/${id}/${path}`;

    test("keys in SSM: its five parameters and the membership parameters by ARN; it decrypts its two keys only", () => {
        const own = ["solo-0/server.key", "solo-0/peer.key", "solo-0/ca.crt", "solo-0/server.crt", "solo-0/peer.crt", "members", "membership.sh"].map((f) =>
            arn(ids.solo, f),
        );
        const [allow, decrypt] = reads("solo");
        expect(allow.Resource).toEqual(own);
        expect(decrypt.Condition).toEqual({ StringEquals: { "kms:EncryptionContext:PARAMETER_ARN": own.slice(0, 2) } });
    });

    test("inline keys with a role (for backups): the cluster's list of members alone, nothing to decrypt", () => {
        const members = [arn(ids.restored, "members")];
        expect(reads("restored")).toEqual([
            { Sid: "OwnParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: members },
            {
                Sid: "NoOtherParameters",
                Effect: "Deny",
                Action: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"],
                NotResource: members,
            },
        ]);
    });

    test("with backups the membership functions travel in the tools object: no parameter of theirs to read", () => {
        const own = ["exist-1/server.key", "exist-1/peer.key", "exist-1/ca.crt", "exist-1/server.crt", "exist-1/peer.crt", "members"].map((f) =>
            arn(ids.exist, f),
        );
        const statements = JSON.parse(get("aws:iam/rolePolicy:RolePolicy", "exist-member-1-keys").inputs.policy).Statement;
        expect(statements[0].Resource).toEqual(own);
    });
});

describe("the order of creation", () => {
    test("an instance waits for its parameters, its role's profile and policies, and the membership parameters", () => {
        expect(waitsFor(T.instance, "solo-member-0")).toEqual(
            expect.arrayContaining([
                "Parameter solo-member-0-server-key",
                "Parameter solo-member-0-peer-key",
                "Parameter solo-member-0-ca-cert",
                "Parameter solo-member-0-server-cert",
                "Parameter solo-member-0-peer-cert",
                "InstanceProfile solo-member-0",
                "RolePolicy solo-member-0-keys",
                "RolePolicyAttachment solo-member-0-ssm",
                "Parameter solo-members",
                "Parameter solo-membership-functions",
            ]),
        );
        // With backups: the backup policy and what backups need first (the bucket's settings, the tools object).
        expect(waitsFor(T.instance, "exist-member-1")).toEqual(
            expect.arrayContaining(["RolePolicy exist-member-1-backup", "BucketObjectv2 exist-member-tools", "Parameter exist-members"]),
        );
        expect(waitsFor(T.instance, "exist-member-1").filter((d) => d.startsWith("BucketPublicAccessBlock") || d.startsWith("BucketPolicy"))).not.toEqual([]);
    });

    test("a new cluster creates every member at once; the readiness check waits for every attachment", () => {
        for (const i of [1, 2]) expect(waitsFor(T.instance, `trio-member-${i}`).filter((d) => d.startsWith("Command ") && !d.includes("image"))).toEqual([]);
        expect(waitsFor(T.command, "trio-ready").filter((d) => d.startsWith("VolumeAttachment ") || d.startsWith("Command "))).toEqual([
            "VolumeAttachment trio-member-0-data",
            "VolumeAttachment trio-member-1-data",
            "VolumeAttachment trio-member-2-data",
        ]);
        expect(waitsFor(T.command, "trio-member-1-rolled")).toContain("VolumeAttachment trio-member-1-data");
        // No readiness check: no gates; the next member waits for nothing of the previous one.
        expect(names("pair", T.command)).toEqual(["pair-image-arm64", "pair-image-x86_64"]);
        expect(waitsFor(T.instance, "pair-member-1").filter((d) => /^(Instance|VolumeAttachment|Command) pair-member-0/.test(d))).toEqual([]);
    });

    test("an existing cluster: a backup before the first member changes, then each member after the previous member's gate", () => {
        expect(waitsFor(T.instance, "exist-member-0")).toContain("Command exist-backup-before-change");
        expect(waitsFor(T.instance, "exist-member-0").filter((d) => d.includes("rolled"))).toEqual([]);
        expect(waitsFor(T.instance, "exist-member-1")).toContain("Command exist-member-0-rolled");
        expect(waitsFor(T.instance, "exist-member-1")).not.toContain("Command exist-backup-before-change");
        expect(waitsFor(T.command, "exist-ready")).toEqual(expect.arrayContaining(["Command exist-member-0-rolled", "Command exist-member-1-rolled"]));
        expect(get(T.command, "exist-backup-before-change").inputs.create).toBe(`echo "etcd cluster ${ids.exist}: 2 members recorded"`);
    });

    test("a component given its own AWS provider makes every lookup through it", () => {
        const frankfurt = mocks.resources.find((r) => r.type === "pulumi:providers:aws" && r.name === "frankfurt")!;
        const through = calls.filter((c) => c.provider === `${frankfurt.urn}::${frankfurt.id}`).map((c) => c.token);
        expect([...new Set(through)].sort()).toEqual([
            "aws:ec2/getNetworkInterfaces:getNetworkInterfaces",
            "aws:ec2/getSubnet:getSubnet",
            "aws:index/getCallerIdentity:getCallerIdentity",
            "aws:index/getPartition:getPartition",
            "aws:index/getRegion:getRegion",
            "aws:ssm/getParameter:getParameter",
        ]);
        expect(through.filter((t) => t === "aws:ssm/getParameter:getParameter")).toHaveLength(2);
        expect(get(T.instance, "prov-member-0").inputs.ami).toBe(amdImage);
    });

    test("the readiness check asks AWS as the deploying account (ssm mode)", () => {
        expect(get(T.command, "solo-ready").inputs.environment).toMatchObject({ ETCD_GATE_ACCOUNT_ID: "123456789012", AWS_REGION: "eu-west-1" });
        expect(get(T.command, "exist-member-0-rolled").inputs.environment).toMatchObject({ ETCD_GATE_ACCOUNT_ID: "123456789012" });
        const lookups = mocks.invokes.filter((i) => i.token === "aws:ec2/getNetworkInterfaces:getNetworkInterfaces").map((i) => i.args.filters);
        expect(lookups).toContainEqual([{ name: "tag:etcd:cluster", values: [ids.exist] }]);
    });
});
