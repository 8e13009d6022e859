// Size edits on the mocked graph: a running cluster grows from 3 to 5 members and shrinks back. Existing
// members' resources keep every input; new members come one after another behind the membership steps;
// leaving members are removed from the cluster before their instances go.
import type { EtcdClusterArgs } from "../../components";
import { availabilitySummary, diffRuns, ResourceChange } from "../../scripts/lib/plan/planDiff";
import { memberFromUserData } from "../helpers/cis";
import { installStackMocks, RecordedResource, settled, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"], version: "3.6.13" };

/** A mocked run; `existing` are the resources of the run before (what AWS holds), empty for a new stack. */
async function run(args: EtcdClusterArgs, existing: RecordedResource[] = []): Promise<RecordedResource[]> {
    const mocks = await installStackMocks({ tls: "fake", existingResources: existing });
    const { EtcdCluster } = await import("../../components");
    const cluster = new EtcdCluster("prod", args);
    await valueOf(cluster.members);
    await settled(mocks);
    return mocks.resources;
}

const memberIndex = (name: string) => /^prod-member-(\d+)(-|$)/.exec(name)?.[1];
const byName = (resources: RecordedResource[], type: string, name: string) => resources.find((r) => r.type === type && r.name === name)!;
const T = {
    instance: "aws:ec2/instance:Instance",
    attachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    command: "command:local:Command",
    parameter: "aws:ssm/parameter:Parameter",
};

// A new cluster of 3, then the edit to 5 on it, then back to 3 (each run sees the previous one's resources).
let three: RecordedResource[];
let five: RecordedResource[];
let back: RecordedResource[];
let threeDirect: RecordedResource[];
let fiveDirect: RecordedResource[];
let backDirect: RecordedResource[];

beforeAll(async () => {
    three = await run({ ...base, size: 3 });
    five = await run({ ...base, size: 5 }, three);
    back = await run({ ...base, size: 3 }, five);
    const direct = { ...base, readiness: { mode: "direct" as const } };
    threeDirect = await run({ ...direct, size: 3 });
    fiveDirect = await run({ ...direct, size: 5 }, threeDirect);
    backDirect = await run({ ...direct, size: 3 }, fiveDirect);
});

/** Changes to resources of members 0..2 (anything that belongs to one member). */
const existingMemberChanges = (changes: ResourceChange[]) => changes.filter((c) => ["0", "1", "2"].includes(memberIndex(c.name) ?? ""));

describe.each([
    ["ssm readiness", () => [three, five, back]],
    ["direct readiness", () => [threeDirect, fiveDirect, backDirect]],
])("size 3 to 5 and back (%s)", (_, runs) => {
    test("3 to 5: every input of every existing member's resources is unchanged; only new members and cluster-level lists change", () => {
        const [before, after] = runs();
        const changes = diffRuns(before, after);
        expect(existingMemberChanges(changes)).toEqual([]);
        // Existing members' inputs byte for byte, user-data included.
        for (const r of before.filter((x) => ["0", "1", "2"].includes(memberIndex(x.name) ?? ""))) {
            expect({ name: r.name, inputs: byName(after, r.type, r.name).inputs }).toEqual({ name: r.name, inputs: r.inputs });
        }
        const created = changes.filter((c) => c.kind === "create").map((c) => c.name);
        expect(new Set(created.map(memberIndex))).toEqual(new Set(["3", "4"]));
        // What changes besides: the discovery list (in place), the final gate, which now wants 5 members, and the
        // backup before the change (the members' revisions changed), which the first new member waits for.
        const others = changes.filter((c) => c.kind !== "create").map((c) => `${c.kind} ${c.name}`);
        expect(others.sort()).toEqual(
            ["update prod-ready", "update prod-backup-before-change", ...(before.some((r) => r.name === "prod-members") ? ["update prod-members"] : [])].sort(),
        );
        expect(changes.some((c) => c.kind === "replace" || c.kind === "delete")).toBe(false);
    });

    test("3 to 5: new members are created one after another, each behind the previous member's membership step", () => {
        const [, after] = runs();
        for (const i of [3, 4]) {
            const instance = byName(after, T.instance, `prod-member-${i}`);
            const previousStep = byName(after, T.command, `prod-member-${i - 1}-rolled`);
            expect(instance.dependsOn).toContain(previousStep.urn);
            const step = byName(after, T.command, `prod-member-${i}-rolled`);
            expect(step.dependsOn).toContain(byName(after, T.attachment, `prod-member-${i}-data`).urn);
            // The step's create waits for this member (and those before it) to be started voters.
            expect(step.inputs.create).toContain("check_membership");
            expect(step.inputs.environment.ETCD_GATE_MEMBERS.split(",").map((m: string) => m.split("=")[0])).toEqual(
                Array.from({ length: i + 1 }, (__, k) => `prod-${k}`),
            );
            expect(step.inputs.environment.ETCD_GATE_MEMBERS_EXACT).toBe("false");
        }
        const ready = byName(after, T.command, "prod-ready");
        expect(ready.inputs.environment.ETCD_GATE_MEMBERS_EXACT).toBe("true");
        expect(ready.inputs.environment.ETCD_GATE_MEMBERS.split(",")).toHaveLength(5);
        expect(ready.dependsOn).toContain(byName(after, T.command, "prod-member-4-rolled").urn);
    });

    test("5 to 3: the two highest members go, each removed from the cluster before its instance; nothing else is touched", () => {
        const [first, large, small] = runs();
        const changes = diffRuns(large, small);
        expect(existingMemberChanges(changes)).toEqual([]);
        // Back at 3, members 0-2 have the very inputs they were created with.
        for (const r of first.filter((x) => ["0", "1", "2"].includes(memberIndex(x.name) ?? ""))) {
            expect({ name: r.name, inputs: byName(small, r.type, r.name).inputs }).toEqual({ name: r.name, inputs: r.inputs });
        }
        const deleted = changes.filter((c) => c.kind === "delete");
        expect(new Set(deleted.map((c) => memberIndex(c.name)))).toEqual(new Set(["3", "4"]));
        // A backup first: Pulumi runs updates before deletions, so the cluster is backed up before anyone leaves.
        expect(changes.find((c) => c.name === "prod-backup-before-change")?.kind).toBe("update");
        expect(changes.filter((c) => c.kind === "create" || c.kind === "replace")).toEqual([]);
        for (const i of [3, 4]) {
            // Pulumi deletes dependents first: the step (which removes the member) before the attachment and
            // instance it depends on; member 4's instance depends on member 3's step, so 4 leaves before 3.
            const step = byName(large, T.command, `prod-member-${i}-rolled`);
            expect(step.dependsOn).toContain(byName(large, T.attachment, `prod-member-${i}-data`).urn);
            expect(byName(large, T.attachment, `prod-member-${i}-data`).dependsOn.concat([])).toBeDefined();
            expect(step.inputs.delete).toContain("member remove");
            expect(step.inputs.environment.ETCD_REMOVE_MEMBER).toBe(`prod-${i}`);
            // Whatever order Pulumi deletes the steps in, a member waits for every higher one to have left.
            expect(step.inputs.environment.ETCD_REMOVE_AFTER.split(" ")).toEqual(Array.from({ length: 8 - i }, (__, k) => `prod-${i + 1 + k}`));
        }
        expect(byName(large, T.instance, "prod-member-4").dependsOn).toContain(byName(large, T.command, "prod-member-3-rolled").urn);
        // The final gate runs before Pulumi's deletions: it tolerates the leaving members by name.
        const ready = byName(small, T.command, "prod-ready");
        expect(ready.inputs.environment.ETCD_GATE_LEAVING.split(" ")).toEqual(expect.arrayContaining(["prod-3", "prod-4"]));
        expect(ready.inputs.environment.ETCD_GATE_LEAVING.split(" ")).not.toContain("prod-2");
    });
});

test("members with a role find the cluster through the discovery parameter: no seeds in user-data, member 0 alone may found", () => {
    const discovery = byName(five, T.parameter, "prod-members");
    const ips = [0, 1, 2, 3, 4].map(
        (i) => five.find((r) => r.type === "aws:ec2/networkInterface:NetworkInterface" && r.name === `prod-member-${i}`)!.outputs.privateIp,
    );
    expect(discovery.inputs.insecureValue.split(",")).toEqual(ips.map((ip: string) => `https://${ip}:2379`));
    for (const i of [0, 2, 4]) {
        const userData: string = byName(five, T.instance, `prod-member-${i}`).inputs.userData;
        expect(userData).toContain(`SEEDS=() MAY_FOUND=${i === 0 ? 1 : 0} DISCOVERY='${discovery.inputs.name}'`);
        expect(userData).not.toMatch(/ETCD_INITIAL_CLUSTER=/);
    }
});

test("with backups the membership functions ride in the pinned tools object: no parameter, no fetch in user-data", () => {
    expect(five.some((r) => r.name === "prod-membership-functions")).toBe(false);
    const tools = five.find((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2")!;
    expect(tools.inputs.content).toContain("install -D -m 0644 /dev/stdin /usr/local/lib/etcd/membership.sh <<'ETCD_MEMBER_TOOLS_EOF'\n");
    expect(tools.inputs.content).toContain("join_cluster()");
    const userData: string = byName(five, T.instance, "prod-member-3").inputs.userData;
    expect(userData).toContain("readonly MEMBERSHIP_LIB=/usr/local/lib/etcd/membership.sh");
    expect(userData).not.toContain("membership.sh'");
    // install_tools (which writes them) runs before the join.
    expect(userData.indexOf("  install_tools\n")).toBeLessThan(userData.indexOf("  join_cluster\n"));
    // Each member's role may read the discovery parameter (its policy denies every other parameter).
    const discovery = byName(five, T.parameter, "prod-members");
    const policy = JSON.parse(byName(five, "aws:iam/rolePolicy:RolePolicy", "prod-member-3-keys").inputs.policy);
    expect(policy.Statement.find((st: { Sid: string }) => st.Sid === "OwnParameters").Resource).toContain(discovery.outputs.arn);
    expect(policy.Statement.find((st: { Sid: string }) => st.Sid === "NoOtherParameters").NotResource).toContain(discovery.outputs.arn);
    expect(byName(five, T.instance, "prod-member-3").dependsOn).toContain(discovery.urn);
});

test("with SSM key delivery and no backups the functions come from a per-cluster parameter, fetched by fetch_ssm and checked by SHA-256", async () => {
    const ssm = await run({ ...base, size: 3, backup: { enabled: false } });
    const library = byName(ssm, T.parameter, "prod-membership-functions");
    expect(library.inputs.type).toBe("String");
    expect(library.inputs.insecureValue).toContain("join_cluster()");
    expect(Buffer.byteLength(library.inputs.insecureValue)).toBeLessThanOrEqual(4096); // the Standard tier's limit
    const { createHash } = await import("crypto");
    const sum = createHash("sha256").update(library.inputs.insecureValue).digest("hex");
    const userData: string = byName(ssm, T.instance, "prod-member-2").inputs.userData;
    expect(userData).toContain(`fetch_ssm membership.sh '${sum}' '${library.inputs.name}'`);
    expect(userData).toContain("readonly MEMBERSHIP_LIB=/etc/etcd/pki/membership.sh");
    // One fetch function for keys, certificates and the functions.
    expect(userData.match(/get-parameter/g)).toHaveLength(1);
    const discovery = byName(ssm, T.parameter, "prod-members");
    const policy = JSON.parse(byName(ssm, "aws:iam/rolePolicy:RolePolicy", "prod-member-2-keys").inputs.policy);
    const own = policy.Statement.find((st: { Sid: string }) => st.Sid === "OwnParameters");
    expect(own.Resource).toEqual(expect.arrayContaining([library.outputs.arn, discovery.outputs.arn]));
    expect(byName(ssm, T.instance, "prod-member-2").dependsOn).toEqual(expect.arrayContaining([library.urn, discovery.urn]));
});

test("inline keys without any role (direct readiness, no backups) carry the membership functions and the seeds in user-data instead", async () => {
    const inline = await run({ ...base, size: 3, keyDelivery: "inline", readiness: { mode: "direct" }, backup: { enabled: false } });
    expect(inline.some((r) => r.type === T.parameter)).toBe(false);
    const ips = [0, 1].map(
        (i) => inline.find((r) => r.type === "aws:ec2/networkInterface:NetworkInterface" && r.name === `prod-member-${i}`)!.outputs.privateIp,
    );
    // Compressed (user-data with inline keys is secret, so no diff is shown): decoded as cloud-init does.
    const files = memberFromUserData(byName(inline, T.instance, "prod-member-2").inputs.userData).files;
    expect(files.get("/usr/local/lib/etcd/membership.sh")).toContain("join_cluster()");
    expect(files.get("/usr/local/sbin/etcd-bootstrap")).toContain("join_cluster\n");
    expect(files.get("/usr/local/sbin/etcd-bootstrap")).toContain(`SEEDS=('${ips[0]}' '${ips[1]}') MAY_FOUND=0 DISCOVERY=''`);
});

describe("availability summary of an edit", () => {
    test("size 3 to 5: adds members 3 then 4 as learners; quorum 2 of 3 at the fewest; tolerance never below 1", async () => {
        const summary = availabilitySummary(three, five, diffRuns(three, five));
        expect(summary.added).toEqual(["prod-member-3", "prod-member-4"]);
        expect(summary.removed).toEqual([]);
        expect(summary.replaced).toEqual([]);
        expect(summary.worstFaultTolerance).toBe(1);
        expect(summary.text).toBe(
            "size 3 to 5; adds member 3 then member 4 as learners, each promoted before the next; never fewer than 2 of 3 voters needed; worst fault tolerance during the change: 1 member(s)",
        );
    });

    test("size 5 to 3: removes member 4 then member 3; a version bump replaces all three one at a time with tolerance 0 while one is out", async () => {
        const down = availabilitySummary(five, three, diffRuns(five, three));
        expect(down.removed).toEqual(["prod-member-4", "prod-member-3"]);
        expect(down.text).toContain("removes member 4 then member 3 from the membership before deleting each");
        expect(down.worstFaultTolerance).toBe(1);
        const bumped = await run({ ...base, size: 3, version: "3.6.14" }, three);
        const upgrade = availabilitySummary(three, bumped, diffRuns(three, bumped));
        expect(upgrade.replaced).toEqual(["prod-member-0", "prod-member-1", "prod-member-2"]);
        expect(upgrade.worstFaultTolerance).toBe(0);
        expect(upgrade.text).toContain("replaces member 0 then member 1 then member 2, one at a time");
    });
});
