// Typical edits to a running 3-member cluster, judged on the mocked graph: what changes, what is replaced,
// and that members are never all touched at once. The CA, member keys, network interfaces (member
// addresses) and data volumes must survive every one of these edits. The second run of each edit sees the
// first run's resources in AWS, as `pulumi up` on a deployed stack does.
import type { EtcdClusterArgs } from "../../components";
import { ChangeKind, diffRuns, ResourceChange } from "../../scripts/lib/plan/planDiff";
import { installStackMocks, RecordedResource, settled, StackMockOptions, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"], version: "3.6.13" };

async function run(args: EtcdClusterArgs, mockOptions: StackMockOptions = {}): Promise<RecordedResource[]> {
    const mocks = await installStackMocks({ tls: "fake", ...mockOptions });
    const { EtcdCluster } = await import("../../components");
    const cluster = new EtcdCluster("prod", args);
    await valueOf(cluster.members);
    await settled(mocks);
    return mocks.resources;
}

async function edit(after: EtcdClusterArgs, mockAfter: StackMockOptions = {}): Promise<{ changes: ResourceChange[]; resources: RecordedResource[] }> {
    const before = await run(base);
    const resources = await run(after, { existingResources: before, ...mockAfter });
    return { changes: diffRuns(before, resources), resources };
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
}

test("an unchanged program changes nothing", async () => {
    const { changes } = await edit(base);
    expect(changes).toEqual([]);
});

test("etcd version bump: each instance is replaced (new user-data), one at a time; identity and data kept", async () => {
    const { changes, resources } = await edit({ ...base, version: "3.6.14" });
    expect(names(changes, "replace", "aws:ec2/instance:Instance")).toEqual(["prod-member-0", "prod-member-1", "prod-member-2"]);
    expect(names(changes, "replace", "aws:ec2/volumeAttachment:VolumeAttachment")).toEqual(["prod-member-0-data", "prod-member-1-data", "prod-member-2-data"]);
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
    expect(changes).toEqual([{ type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name: "prod-client-cidr-0", kind: "create", changed: [] }]);
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
});

test("the judge can fail: the same version bump, had the program not found the deployed cluster, touches members at once", async () => {
    const before = await run(base);
    const after = await run({ ...base, version: "3.6.14" });
    const changes = diffRuns(before, after);
    expect(names(changes, "replace", "aws:ec2/instance:Instance")).toHaveLength(3);
    expect(() => expectOneAtATime(changes, after)).toThrow();
});
