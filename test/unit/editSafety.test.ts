// Typical edits to a running 3-member cluster, judged on the mocked graph: what changes, what is replaced,
// and that members are never all touched at once. The CA, member keys, network interfaces (member
// addresses) and data volumes must survive every one of these edits. The second run of each edit sees the
// first run's resources in AWS, as `pulumi up` on a deployed stack does. Every case runs in both readiness
// modes that gate the roll: in "ssm" mode the gate's environment names the instance ids, so a replaced
// instance changes it anyway; in "direct" mode only the member revision does, and a gap there (an edit
// that touches members but not the revision) shows only in that mode.
import type { EtcdClusterArgs } from "../../components";
import { ChangeKind, diffRuns, plannedInputs, ResourceChange } from "../../scripts/lib/plan/planDiff";
import { installStackMocks, RecordedResource, settled, StackMockOptions, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const modes = ["ssm", "direct"] as const;
let base: EtcdClusterArgs;

async function run(args: EtcdClusterArgs, mockOptions: StackMockOptions = {}): Promise<RecordedResource[]> {
    const mocks = await installStackMocks({ tls: "fake", ...mockOptions });
    const { EtcdCluster } = await import("../../components");
    const cluster = new EtcdCluster("prod", args);
    await valueOf(cluster.members);
    await settled(mocks);
    return mocks.resources;
}

async function edit(
    after: EtcdClusterArgs,
    mockAfter: StackMockOptions = {},
    from: EtcdClusterArgs = base,
): Promise<{ changes: ResourceChange[]; resources: RecordedResource[]; before: RecordedResource[] }> {
    const before = await run(from);
    const resources = await run(after, { existingResources: before, ...mockAfter });
    return { changes: diffRuns(before, resources), resources, before };
}

const names = (changes: ResourceChange[], kind: ChangeKind, type?: string) =>
    changes
        .filter((c) => c.kind === kind && (type === undefined || c.type === type))
        .map((c) => c.name)
        .sort();

/** Nothing that holds the cluster's identity or data is replaced or deleted. */
function expectIdentityKept(changes: ResourceChange[]): void {
    const lost = changes.filter(
        (c) =>
            (c.kind === "replace" || c.kind === "delete") &&
            (c.type === "tls:index/privateKey:PrivateKey" ||
                c.type === "tls:index/selfSignedCert:SelfSignedCert" ||
                c.type === "aws:ec2/networkInterface:NetworkInterface" ||
                c.type === "aws:ebs/volume:Volume" ||
                c.type === "aws:kms/key:Key"),
    );
    expect(lost).toEqual([]);
}

/**
 * Members that an edit replaces or restarts are touched one at a time: member n+1's instance depends on
 * member n's gate, and that gate's environment changed, so its update (the health wait) runs in between.
 */
function expectOneAtATime(changes: ResourceChange[], resources: RecordedResource[]): void {
    const touched = changes.filter((c) => c.type === "aws:ec2/instance:Instance").map((c) => Number(/-(\d+)$/.exec(c.name)![1]));
    for (const i of touched.filter((n) => n > 0)) {
        const gate = resources.find((r) => r.name === `prod-member-${i - 1}-rolled`)!;
        const instance = resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name === `prod-member-${i}`)!;
        expect(instance.dependsOn).toContain(gate.urn);
        expect(gate.inputs.update).toContain("etcd-health-gate");
        const gateChange = changes.find((c) => c.name === gate.name && c.type === "command:local:Command");
        expect(gateChange?.kind).toBe("update");
        expect(gateChange?.changed.every((path) => path.startsWith("environment"))).toBe(true);
    }
    // In ssm mode (backups are on by default) the first touched member waits for the backup before the change,
    // whose update (the backup) runs because the members' revisions changed.
    const backup = resources.find((r) => r.name === "prod-backup-before-change");
    if (touched.length > 0 && backup) {
        const first = resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name === "prod-member-0")!;
        expect(first.dependsOn).toContain(backup.urn);
        const backupChange = changes.find((c) => c.name === backup.name);
        expect(backupChange?.kind).toBe("update");
        expect(backupChange?.changed).toEqual(["environment.ETCD_GATE_CHANGE_REVISION"]);
    }
}

describe.each(modes)("readiness mode %s", (mode) => {
    beforeAll(() => {
        base = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"], version: "3.6.13", readiness: { mode } };
    });

    test(`the gates run in ${mode} mode and name their member`, async () => {
        const resources = await run(base);
        const gates = resources.filter((r) => r.type === "command:local:Command" && !r.name.startsWith("prod-image-"));
        expect(gates.map((g) => g.name).sort()).toEqual([
            "prod-backup-before-change",
            "prod-member-0-rolled",
            "prod-member-1-rolled",
            "prod-member-2-rolled",
            "prod-ready",
        ]);
        for (const gate of gates) {
            expect(gate.inputs.environment.ETCD_GATE_MODE).toBe(mode);
        }
        expect(gates.filter((g) => g.name.endsWith("-rolled")).map((g) => g.inputs.environment.ETCD_GATE_MEMBER)).toEqual(["prod-0", "prod-1", "prod-2"]);
    });

    test("an unchanged program changes nothing", async () => {
        const { changes } = await edit(base);
        expect(changes).toEqual([]);
    });

    test("etcd version bump: each instance is replaced (new user-data), one at a time; identity and data kept", async () => {
        const { changes, resources } = await edit({ ...base, version: "3.6.14" });
        expect(names(changes, "replace", "aws:ec2/instance:Instance")).toEqual(["prod-member-0", "prod-member-1", "prod-member-2"]);
        expect(names(changes, "replace", "aws:ec2/volumeAttachment:VolumeAttachment")).toEqual([
            "prod-member-0-data",
            "prod-member-1-data",
            "prod-member-2-data",
        ]);
        expectIdentityKept(changes);
        expectOneAtATime(changes, resources);
        expect(names(changes, "create")).toEqual([]);
    });

    test("instance type: instances updated in place (stop and start), one at a time; nothing replaced", async () => {
        const { changes, resources } = await edit({ ...base, instanceType: "m7i.xlarge" });
        expect(names(changes, "update", "aws:ec2/instance:Instance")).toEqual(["prod-member-0", "prod-member-1", "prod-member-2"]);
        expect(names(changes, "replace")).toEqual([]);
        expectOneAtATime(changes, resources);
    });

    test("data volume size: volumes modified in place; no instance touched", async () => {
        const { changes } = await edit({ ...base, dataVolume: { sizeGib: 64 } });
        expect(names(changes, "update")).toEqual(["prod-member-0-data", "prod-member-1-data", "prod-member-2-data"]);
        expect(changes.every((c) => c.type === "aws:ebs/volume:Volume" && c.changed.join() === "size")).toBe(true);
        expectIdentityKept(changes);
    });

    test("a new client CIDR: one security group rule is created, nothing else changes", async () => {
        const { changes } = await edit({ ...base, clientCidrs: ["10.20.0.0/16"] });
        expect(changes).toEqual([
            { type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name: "prod-client-cidr-0", kind: "create", changed: [] },
        ]);
    });

    test("a newer Amazon Linux image (default AMI): no change at all", async () => {
        const { changes } = await edit(base, { ami: "ami-0fedcba9876543210" });
        expect(changes).toEqual([]);
    });

    test("an explicit AMI change: instances replaced one at a time; identity and data kept", async () => {
        const before = await run({ ...base, ami: "ami-0123456789abcdef0" });
        const after = await run({ ...base, ami: "ami-0fedcba987654321f" }, { existingResources: before });
        const changes = diffRuns(before, after);
        expect(names(changes, "replace", "aws:ec2/instance:Instance")).toEqual(["prod-member-0", "prod-member-1", "prod-member-2"]);
        expectIdentityKept(changes);
        expectOneAtATime(changes, after);
    });

    test("the judge can fail: moving the cluster to other subnets replaces interfaces and volumes", async () => {
        const { changes } = await edit({ ...base, subnetIds: ["subnet-0bbb2222", "subnet-0ccc3333", "subnet-0aaa1111"] });
        expect(names(changes, "replace", "aws:ec2/networkInterface:NetworkInterface")).toHaveLength(3);
        expect(() => expectIdentityKept(changes)).toThrow();
        const volumes = changes.filter((c) => c.type === "aws:ebs/volume:Volume");
        expect(volumes.map((c) => [c.name, c.kind, c.refused])).toEqual([
            ["prod-member-0-data", "replace", true],
            ["prod-member-1-data", "replace", true],
            ["prod-member-2-data", "replace", true],
        ]);
    });

    test("a KMS alias for the data volumes: an unchanged program changes nothing (the alias is resolved to the key ARN AWS reads back)", async () => {
        const withAlias: EtcdClusterArgs = { ...base, dataVolume: { kmsKeyId: "alias/etcd-data" } };
        const { changes } = await edit(withAlias, {}, withAlias);
        expect(changes).toEqual([]);
    });

    test("x86 to Graviton: each member is replaced one at a time with the arm64 image (RunInstances refuses an image of the other architecture)", async () => {
        const { changes, resources, before } = await edit({ ...base, instanceType: "m7g.large" });
        expect(names(changes, "replace", "aws:ec2/instance:Instance")).toEqual(["prod-member-0", "prod-member-1", "prod-member-2"]);
        for (const name of ["prod-member-0", "prod-member-1", "prod-member-2"]) {
            const planned = plannedInputs(before, resources, "aws:ec2/instance:Instance", name);
            expect(planned.instanceType).toBe("m7g.large");
            expect(planned.ami).toBe("ami-0f9e8d7c6b5a40312"); // the mocked arm64 Amazon Linux image
            expect(planned.userData).toContain("linux-arm64.tar.gz");
        }
        expectIdentityKept(changes);
        expectOneAtATime(changes, resources);
    });

    test("x86 to Graviton after a newer image appeared: the arm64 image kept since creation, no image holder replaced", async () => {
        const { changes, resources, before } = await edit(
            { ...base, instanceType: "m7g.large" },
            { ami: "ami-0fedcba9876543210", armAmi: "ami-0fedcba9876543211" },
        );
        expect(changes.filter((c) => c.name.startsWith("prod-image-"))).toEqual([]);
        expect(plannedInputs(before, resources, "aws:ec2/instance:Instance", "prod-member-0").ami).toBe("ami-0f9e8d7c6b5a40312");
    });
});

test("the judge can fail: the same version bump, had the program not found the deployed cluster, touches members at once", async () => {
    const before = await run(base);
    const after = await run({ ...base, version: "3.6.14" });
    const changes = diffRuns(before, after);
    expect(names(changes, "replace", "aws:ec2/instance:Instance")).toHaveLength(3);
    expect(() => expectOneAtATime(changes, after)).toThrow();
});

test("the judge knows EBS reads a volume's key back as the key ARN: an alias passed through would replace it on every run", () => {
    const volume = (kmsKeyId: string): RecordedResource => ({
        type: "aws:ebs/volume:Volume",
        name: "v",
        urn: "urn:v",
        id: "vol-1",
        inputs: { availabilityZone: "eu-west-1a", encrypted: true, kmsKeyId, size: 32 },
        secretInputs: [],
        outputs: {},
        parent: "",
        dependsOn: [],
        deleteBeforeReplace: false,
        protect: true,
        retainOnDelete: false,
        ignoreChanges: [],
        replaceOnChanges: [],
        custom: true,
    });
    expect(diffRuns([volume("alias/etcd-data")], [volume("alias/etcd-data")])).toEqual([
        { type: "aws:ebs/volume:Volume", name: "v", kind: "replace", changed: ["kmsKeyId"], refused: true },
    ]);
    const arn = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    expect(diffRuns([volume(arn)], [volume(arn)])).toEqual([]);
});
