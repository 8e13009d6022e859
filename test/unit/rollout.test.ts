// New clusters are created all at once; existing clusters change one member at a time. The program tells
// them apart by asking AWS for the cluster's tagged network interfaces: these tests give the mocked AWS
// the resources of a previous run (all of them, some of them, or another cluster's) and judge the graph.
import * as pulumi from "@pulumi/pulumi";
import type { EtcdClusterArgs } from "../../components";
import { criticalPath } from "../../scripts/lib/plan/criticalPath";
import { installStackMocks, RecordedResource, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);
// The warnings (e.g. about readiness "none") are tested elsewhere.
pulumi.log.warn = async () => undefined;

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"], version: "3.6.13" };
const T = {
    eni: "aws:ec2/networkInterface:NetworkInterface",
    instance: "aws:ec2/instance:Instance",
    command: "command:local:Command",
};

async function run(args: EtcdClusterArgs, existingResources: RecordedResource[] = [], name = "prod", preview = false): Promise<StackMocks> {
    const mocks = await installStackMocks({ tls: "fake", existingResources }, { preview });
    const { EtcdCluster } = await import("../../components");
    const cluster = new EtcdCluster(name, args);
    if (!preview) {
        await valueOf(cluster.members);
    }
    await settled(mocks);
    return mocks;
}

/** Each instance's dependencies on other members' resources, by instance name. */
const memberOrder = (mocks: StackMocks, size: number) => Array.from({ length: size }, (_, i) => otherMembersBefore(mocks, "prod", i));

/** Names of other members' resources that member i's instance depends on. */
function otherMembersBefore(mocks: StackMocks, name: string, i: number): string[] {
    const instance = mocks.get(T.instance, `${name}-member-${i}`);
    const byUrn = new Map(mocks.resources.map((r) => [r.urn, r]));
    return instance.dependsOn
        .map((urn) => byUrn.get(urn))
        .filter((r): r is RecordedResource => r !== undefined && r.type !== T.eni)
        .map((r) => r.name)
        .filter((n) => /-member-\d+/.test(n) && !n.startsWith(`${name}-member-${i}`));
}

/** Member i+1's instance waits for member i's gate, for every i. */
function expectChained(mocks: StackMocks, name: string, size: number): void {
    for (let i = 1; i < size; i++) {
        expect(otherMembersBefore(mocks, name, i)).toEqual([`${name}-member-${i - 1}-rolled`]);
        expect(mocks.get(T.instance, `${name}-member-${i}`).dependsOn).toContain(mocks.get(T.command, `${name}-member-${i - 1}-rolled`).urn);
    }
}

describe("a new cluster", () => {
    let mocks: StackMocks;
    beforeAll(async () => {
        mocks = await run({ ...base, size: 5 });
    });

    test("asks AWS for interfaces tagged with the cluster's id, the tag every member interface carries", () => {
        const lookups = mocks.invokes.filter((i) => i.token === "aws:ec2/getNetworkInterfaces:getNetworkInterfaces");
        expect(lookups).toHaveLength(1);
        const [filter] = lookups[0].args.filters;
        expect(filter.name).toBe("tag:etcd:cluster");
        const enis = mocks.ofType(T.eni);
        expect(enis).toHaveLength(5);
        for (const eni of enis) {
            expect(eni.inputs.tags["etcd:cluster"]).toBe(filter.values[0]);
        }
    });

    test("no member's instance waits for another member: every member is created at once", () => {
        for (let i = 0; i < 5; i++) {
            expect(otherMembersBefore(mocks, "prod", i)).toEqual([]);
        }
    });

    test("no member waits for the backup before a change: there is no cluster to back up yet", () => {
        const backup = mocks.get(T.command, "prod-backup-before-change");
        for (let i = 0; i < 5; i++) {
            expect(mocks.get(T.instance, `prod-member-${i}`).dependsOn).not.toContain(backup.urn);
        }
    });

    test("the cluster's readiness check runs after every member's attachment, not after the launch records", () => {
        const ready = mocks.get(T.command, "prod-ready");
        for (let i = 0; i < 5; i++) {
            expect(ready.dependsOn).not.toContain(mocks.get(T.command, `prod-member-${i}-rolled`).urn);
            expect(ready.dependsOn).toContain(mocks.get("aws:ec2/volumeAttachment:VolumeAttachment", `prod-member-${i}-data`).urn);
        }
    });
});

describe("an existing cluster", () => {
    let before: StackMocks;
    beforeAll(async () => {
        before = await run(base);
    });

    test("once deployed, members change one at a time behind the previous member's gate", async () => {
        const mocks = await run(base, before.resources);
        expectChained(mocks, "prod", 3);
    });

    test("once deployed, the cluster's readiness check runs after every member's gate and attachment", async () => {
        const mocks = await run(base, before.resources);
        const ready = mocks.get(T.command, "prod-ready");
        for (let i = 0; i < 3; i++) {
            expect(ready.dependsOn).toContain(mocks.get(T.command, `prod-member-${i}-rolled`).urn);
            expect(ready.dependsOn).toContain(mocks.get("aws:ec2/volumeAttachment:VolumeAttachment", `prod-member-${i}-data`).urn);
        }
    });

    test("preview and up decide alike, for a new and for an existing cluster", async () => {
        for (const existing of [[], before.resources]) {
            const preview = memberOrder(await run(base, existing, "prod", true), 3);
            const up = memberOrder(await run(base, existing), 3);
            expect(preview).toEqual(up);
            expect(preview[2]).toEqual(existing.length > 0 ? ["prod-member-1-rolled"] : []);
        }
    });

    test("a first `pulumi up` that failed after one interface counts as existing", async () => {
        const mocks = await run(base, [before.get(T.eni, "prod-member-0")]);
        expectChained(mocks, "prod", 3);
    });

    test("another cluster's interfaces (another component name) do not count", async () => {
        const mocks = await run(base, before.resources, "other");
        for (let i = 0; i < 3; i++) {
            expect(otherMembersBefore(mocks, "other", i)).toEqual([]);
        }
    });

    test("once deployed, the first member waits for the backup before a change, which finds the members by the cluster's tag", async () => {
        const mocks = await run(base, before.resources);
        const backup = mocks.get(T.command, "prod-backup-before-change");
        expect(mocks.get(T.instance, "prod-member-0").dependsOn).toContain(backup.urn);
        for (let i = 1; i < 3; i++) {
            expect(mocks.get(T.instance, `prod-member-${i}`).dependsOn).not.toContain(backup.urn);
        }
        const env = backup.inputs.environment;
        expect(env).toMatchObject({
            ETCD_GATE_MODE: "ssm",
            ETCD_GATE_BEFORE_CHANGE: "1",
            ETCD_GATE_CLUSTER_ID: mocks.get(T.eni, "prod-member-0").inputs.tags["etcd:cluster"],
        });
        expect(env.ETCD_GATE_INSTANCE_IDS).toBeUndefined();
        expect(env.ETCD_GATE_CHANGE_REVISION).toMatch(/^[0-9a-f]{64}$/);
        // Its update backs up; its create (a new cluster, nothing to back up) only records.
        expect(backup.inputs.update).toContain("backup_before_change");
        expect(backup.inputs.create).not.toContain("backup_before_change");
    });

    test("the backup before a change runs when any member's user-data or the instance type changes, and not for a change that replaces no member", async () => {
        const revision = async (args: EtcdClusterArgs) =>
            (await run(args, before.resources)).get(T.command, "prod-backup-before-change").inputs.environment.ETCD_GATE_CHANGE_REVISION;
        const same = await revision(base);
        expect(await revision(base)).toBe(same);
        expect(await revision({ ...base, tags: { team: "platform" } })).toBe(same);
        expect(await revision({ ...base, instanceType: "m6i.xlarge" })).not.toBe(same);
        expect(await revision({ ...base, tuning: { snapshotCount: 20000 } })).not.toBe(same);
    });

    test("in direct mode the backup before a change is taken from this machine: it is told where snapshots go; none without backups or readiness checks", async () => {
        const direct = await run({ ...base, readiness: { mode: "direct" } }, before.resources);
        const backup = direct.get(T.command, "prod-backup-before-change");
        expect(direct.get(T.instance, "prod-member-0").dependsOn).toContain(backup.urn);
        const env = backup.inputs.environment;
        expect(env).toMatchObject({
            ETCD_GATE_MODE: "direct",
            ETCD_GATE_BEFORE_CHANGE: "1",
            ETCD_GATE_CLUSTER_ID: direct.get(T.eni, "prod-member-0").inputs.tags["etcd:cluster"],
            AWS_REGION: "eu-west-1",
        });
        expect(env.ETCD_GATE_BACKUP_URL).toMatch(new RegExp(`^s3://[a-z0-9.-]+/etcd-backups/${env.ETCD_GATE_CLUSTER_ID}/snapshots/$`));
        expect(env.ETCD_GATE_BACKUP_KMS_KEY_ARN).toMatch(/^arn:aws:kms:eu-west-1:\d{12}:key\//);
        expect(env.ETCD_GATE_ACCOUNT_ID).toMatch(/^\d{12}$/);
        expect(env.ETCD_GATE_ENDPOINTS.split(",")).toHaveLength(3);
        // The metadata's etcd version comes from the leader: before an upgrade the program's is not the cluster's.
        expect(env.ETCD_GATE_ETCD_VERSION).toBeUndefined();
        for (const args of [
            { ...base, readiness: { mode: "none" } },
            { ...base, backup: { enabled: false } },
        ] as EtcdClusterArgs[]) {
            const mocks = await run(args, before.resources);
            expect(mocks.resources.filter((r) => r.name === "prod-backup-before-change")).toEqual([]);
        }
    });

    test("without readiness gates, each member waits for the previous member's volume attachment", async () => {
        const args: EtcdClusterArgs = { ...base, readiness: { mode: "none" } };
        const first = await run(args);
        expect(otherMembersBefore(first, "prod", 1)).toEqual([]);
        const mocks = await run(args, first.resources);
        for (let i = 1; i < 3; i++) {
            expect(otherMembersBefore(mocks, "prod", i)).toEqual([`prod-member-${i - 1}-data`]);
        }
    });
});

describe("critical path, counted on the dependency graph", () => {
    test("a new cluster's does not grow with its size and is at most 8 resource steps", async () => {
        const steps: number[] = [];
        for (const size of [3, 5, 7]) {
            steps.push(criticalPath((await run({ ...base, size })).resources).steps);
        }
        expect(steps[0]).toBeLessThanOrEqual(8);
        expect(steps).toEqual([steps[0], steps[0], steps[0]]);
    });

    test("an existing cluster's grows by one member's instance, attachment and gate per member", async () => {
        const steps: number[] = [];
        for (const size of [3, 5]) {
            const first = await run({ ...base, size });
            steps.push(criticalPath((await run({ ...base, size }, first.resources)).resources).steps);
        }
        expect(steps[1] - steps[0]).toBe(2 * 3);
    });
});
