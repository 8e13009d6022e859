// Membership changes on real etcd in container members (systemd, cloud-init), with the scripts the component
// hands to members and to Pulumi: a cluster rendered at 5 members runs 3 of them (their user-data is what a
// 3-member program gives them), grows to 5 through the new members' own boot and their membership steps'
// create scripts, loses a data volume and heals, and shrinks back through the steps' delete scripts, under a
// write load whose acknowledged writes must all survive; the gate fails with the difference.
import { spawnSync } from "child_process";
import { readFileSync } from "fs";
import { join } from "path";
import { renderDirectRemoveStep, renderMemberRemovalScript, renderSsmRemoveStep } from "../../components/render/memberRemoval";
import { renderMembershipLibrary } from "../../components/render/membership";
import {
    destroyMember,
    down,
    etcdctl,
    etcdPid,
    launchPrepared,
    LocalCluster,
    replaceDataVolume,
    replaceMember,
    startMember,
    stopMember,
    up,
    waitHealthy,
    waitUntil,
} from "../../scripts/lib/local/localCluster";
import { LocalPlan } from "../../scripts/lib/local/localRender";
import { renderLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { WriteLoad } from "../helpers/writeLoad";
import { requireRoot } from "../helpers/tools";

jest.setTimeout(600_000);

const repo = join(__dirname, "..", "..");
const gateScript = join(repo, "scripts", "etcd-health-gate.sh");

interface ListedMember {
    id: string;
    name: string;
    peer: string;
    learner: boolean;
    started: boolean;
}

function memberList(c: LocalCluster): { clusterId: string; members: ListedMember[] } {
    const r = etcdctl(c, ["member", "list", "-w", "json"], c.clientEndpoints.slice(0, 3));
    if (r.status !== 0) throw new Error(`member list failed: ${r.stderr}`);
    const parsed = JSON.parse(r.stdout);
    return {
        clusterId: BigInt(parsed.header.cluster_id).toString(16),
        members: parsed.members.map((m: any) => ({
            id: BigInt(m.ID).toString(16),
            name: m.name ?? "",
            peer: m.peerURLs[0],
            learner: m.isLearner === true,
            started: (m.name ?? "") !== "",
        })),
    };
}

const peerOf = (c: LocalCluster, i: number) => `https://${c.members[i].ip}:2380`;
const expected = (c: LocalCluster, indexes: number[]) => indexes.map((i) => `${c.members[i].name}=${peerOf(c, i)}`).join(",");

/** The first n members' client URLs. */
const firstEndpoints = (c: LocalCluster, n: number) => c.clientEndpoints.slice(0, n).join(",");

function clientEnv(c: LocalCluster, n = 3): Record<string, string> {
    return {
        PATH: `${join(c.dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
        ETCD_GATE_MODE: "direct",
        ETCD_GATE_ENDPOINTS: firstEndpoints(c, n),
        ETCD_GATE_CA_PEM: readFileSync(c.caFile, "utf8"),
        ETCD_GATE_CERT_PEM: readFileSync(c.certFile, "utf8"),
        ETCD_GATE_KEY_PEM: readFileSync(c.keyFile, "utf8"),
    };
}

function gate(c: LocalCluster, env: Record<string, string>, timeoutSeconds = 3, n = 3) {
    const r = spawnSync("bash", [gateScript], {
        env: { ...clientEnv(c, n), ETCD_GATE_TIMEOUT_SECONDS: String(timeoutSeconds), ETCD_GATE_INTERVAL_SECONDS: "1", ...env },
        encoding: "utf8",
    });
    return { status: r.status ?? 1, stderr: r.stderr ?? "" };
}

/** A member step's script (create or delete) as `pulumi up` runs it: the step's own environment (direct mode). */
function runStep(c: LocalCluster, plan: LocalPlan, i: number, which: "create" | "delete", extra: Record<string, string> = {}) {
    const step = plan.members[i].step;
    const r = spawnSync("bash", ["-c", step[which]], {
        env: { ...process.env, ...step.environment, PATH: `${join(c.dir, "bin")}:${process.env.PATH}`, ETCD_GATE_INTERVAL_SECONDS: "2", ...extra },
        encoding: "utf8",
    });
    return { status: r.status ?? 1, stderr: r.stderr ?? "" };
}

function removeStep(c: LocalCluster, name: string, peer: string, timeoutSeconds: number) {
    const r = spawnSync("bash", ["-c", renderDirectRemoveStep()], {
        env: {
            ...clientEnv(c),
            ETCD_REMOVE_MEMBER: name,
            ETCD_REMOVE_AFTER: "",
            ETCD_REMOVE_PEER_URL: peer,
            ETCD_REMOVE_TIMEOUT_SECONDS: String(timeoutSeconds),
        },
        encoding: "utf8",
    });
    return { status: r.status ?? 1, stderr: r.stderr ?? "" };
}

test.each([
    ["the membership functions", renderMembershipLibrary()],
    ["the removal script", renderMemberRemovalScript()],
    ["the direct removal step", `#!/bin/bash\n${renderDirectRemoveStep()}`],
    ["the SSM removal step", `#!/bin/bash\n${renderSsmRemoveStep()}`],
])("%s passes shellcheck", (_, text) => {
    const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: text, encoding: "utf8" });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
});

beforeAll(() => {
    requireRoot("members run in network and mount namespaces");
    requireMemberImage();
});

describe.each([
    ["3.5.30", 71],
    ["3.4.23", 72],
])("etcd %s", (version, networkIndex) => {
    const name = `membership-${networkIndex}`;
    let c: LocalCluster;
    let plan: LocalPlan;
    const report: string[] = [];

    beforeAll(() => {
        // The program at 5 members; members 0-2 get exactly the user-data a 3-member program gives them.
        const rendered = renderLocalCluster({ name, networkIndex, version, size: 5 });
        plan = rendered.plan;
        c = up(plan, {
            name,
            networkPrefix: rendered.networkPrefix,
            mirrorDir: join(repo, ".cache", "etcd-mirror"),
            tarball: rendered.release.tarball,
            launch: 3,
        });
        waitUntil(() => gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2]), ETCD_GATE_MEMBERS_EXACT: "true" }, 2).status === 0, 120_000, "3 members");
    });
    afterAll(() => {
        process.stderr.write(`etcd ${version}:\n  ${report.join("\n  ")}\n`);
        down(name);
    });

    test("the cluster assembled itself: member 0 founded it, the others joined as learners and were promoted", () => {
        const { members } = memberList(c);
        expect(members.map((m) => m.name).sort()).toEqual(c.members.slice(0, 3).map((m) => m.name));
        expect(members.every((m) => m.started && !m.learner)).toBe(true);
    });

    test("scale up 3 to 5 under a write load: each new member joins as a learner, is promoted, and its step passes before the next; members 0-2 keep their etcd process", async () => {
        const pids = [0, 1, 2].map((i) => etcdPid(c, i));
        const load = new WriteLoad(c, c.clientEndpoints.slice(0, 3), "scale-up");
        for (const i of [3, 4]) {
            const started = Date.now();
            const boot = launchPrepared(c, i);
            expect(boot.output).toMatch(/added as a learner/);
            // The step's create: this member and every member before it are started voters.
            const step = runStep(c, plan, i, "create");
            expect(`${step.stderr}\nexit ${step.status}`).toMatch(/exit 0$/);
            report.push(`member ${i}: container start to promoted voter (step passed) in ${Date.now() - started} ms`);
        }
        // The final gate of the 5-member program: exactly these five, all voters.
        const ready = spawnSync("bash", ["-c", plan.gate.script], {
            env: { ...process.env, ...plan.gate.environment, PATH: `${join(c.dir, "bin")}:${process.env.PATH}` },
            encoding: "utf8",
        });
        expect(`${ready.stderr}\nexit ${ready.status}`).toMatch(/exit 0$/);
        const result = await load.stop();
        expect(load.missing(result)).toEqual([]);
        expect(result.acknowledged.length).toBeGreaterThan(10);
        report.push(`3 to 5: ${result.acknowledged.length} writes acknowledged, ${result.refused} refused, longest refusal ${result.longestRefusalMs} ms`);
        expect([0, 1, 2].map((i) => etcdPid(c, i))).toEqual(pids);
        expect(memberList(c).members.every((m) => m.started && !m.learner)).toBe(true);
    });

    test("a member whose data volume is replaced by an empty one rejoins by itself: same cluster, no stale entry, data back", () => {
        const before = memberList(c);
        for (let k = 0; k < 50; k++) expect(etcdctl(c, ["put", `before-loss-${k}`, `v${k}`], c.clientEndpoints.slice(0, 3)).status).toBe(0);
        const oldId = before.members.find((m) => m.name === c.members[1].name)!.id;
        const started = Date.now();
        const r = replaceDataVolume(c, 1);
        expect(r.output).toMatch(/formatting empty data volume/);
        expect(r.output).toMatch(/with an empty data dir: removing that entry to join again/);
        expect(r.output).toMatch(/added as a learner/);
        const ok = gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2, 3, 4]), ETCD_GATE_MEMBERS_EXACT: "true" }, 120, 5);
        expect(ok).toMatchObject({ status: 0 });
        report.push(`lost volume of member 1: new instance to promoted voter in ${Date.now() - started} ms`);
        const after = memberList(c);
        expect(after.clusterId).toBe(before.clusterId);
        expect(after.members).toHaveLength(5);
        const rejoined = after.members.find((m) => m.name === c.members[1].name)!;
        expect(rejoined.id).not.toBe(oldId);
        expect(rejoined).toMatchObject({ started: true, learner: false, peer: peerOf(c, 1) });
        // Its own copy of the data, read from it alone.
        const read = etcdctl(c, ["get", "before-loss-49", "--print-value-only", "--consistency=s"], [c.clientEndpoints[1]]);
        expect(read.stdout.trim()).toBe("v49");
    });

    test("a replaced instance on its own data volume (a rolling change) keeps its data and its member id", () => {
        const before = memberList(c).members.find((m) => m.name === c.members[0].name)!;
        const r = replaceMember(c, 0);
        expect(r.output).toMatch(/already holds a ext4 filesystem; keeping it/);
        expect(r.output).not.toMatch(/stale|added as a learner/);
        expect(gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2, 3, 4]), ETCD_GATE_MEMBERS_EXACT: "true" }, 120, 5)).toMatchObject({ status: 0 });
        expect(memberList(c).members.find((m) => m.name === c.members[0].name)!.id).toBe(before.id);
    });

    test("the gate fails with the difference: a missing member, an extra one, a member added but never started", () => {
        const missing = gate(c, {
            ETCD_GATE_MEMBERS: `${expected(c, [0, 1, 2, 3, 4])},etcd-9=https://10.213.${networkIndex}.250:2380`,
            ETCD_GATE_MEMBERS_EXACT: "true",
        });
        expect(missing.status).not.toBe(0);
        expect(missing.stderr).toMatch(/etcd-9 \(https:\/\/10\.213\.\d+\.250:2380\): missing from the member list/);

        const extra = gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2, 3]), ETCD_GATE_MEMBERS_EXACT: "true" });
        expect(extra.status).not.toBe(0);
        expect(extra.stderr).toContain(`${c.members[4].name} (${peerOf(c, 4)}`);
        expect(extra.stderr).toMatch(/extra, not a member of the program/);
        // A member's own gate knows only the members before it: others are not extra there.
        expect(gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1]), ETCD_GATE_MEMBERS_EXACT: "false" }).status).toBe(0);
        // Leaving members (removed after the final gate by a scale-down) are tolerated by name.
        expect(
            gate(c, {
                ETCD_GATE_MEMBERS: expected(c, [0, 1, 2]),
                ETCD_GATE_MEMBERS_EXACT: "true",
                ETCD_GATE_LEAVING: `${c.members[3].name} ${c.members[4].name}`,
            }).status,
        ).toBe(0);

        const ghostPeer = `https://10.213.${networkIndex}.251:2380`;
        expect(etcdctl(c, ["member", "add", "etcd-9", `--peer-urls=${ghostPeer}`, "--learner"], c.clientEndpoints.slice(0, 3)).status).toBe(0);
        const learner = gate(c, { ETCD_GATE_MEMBERS: `${expected(c, [0, 1, 2, 3, 4])},etcd-9=${ghostPeer}`, ETCD_GATE_MEMBERS_EXACT: "true" });
        expect(learner.status).not.toBe(0);
        expect(learner.stderr).toMatch(/etcd-9: added but not started/);
        // The removal step takes it out again (an unstarted learner costs no quorum), and a second run does nothing.
        const out = removeStep(c, "etcd-9", ghostPeer, 30);
        expect(out.stderr + `\nexit ${out.status}`).toMatch(/removed member etcd-9 [^\n]*\n[^]*exit 0$/);
        const again = removeStep(c, "etcd-9", ghostPeer, 30);
        expect(again.status).toBe(0);
        expect(again.stderr).toMatch(/not a member of the cluster: nothing to remove/);
        expect(memberList(c).members).toHaveLength(5);
    });

    test("scale down 5 to 3 under a write load: member 4 then member 3 leave through their steps' delete scripts (refused while a voter is down); members 0-2 keep their etcd process", async () => {
        // Member 3's removal waits for member 4 to leave first; a short timeout shows the refusal.
        const early = runStep(c, plan, 3, "delete", { ETCD_REMOVE_TIMEOUT_SECONDS: "4" });
        expect(early.status).not.toBe(0);
        expect(early.stderr).toMatch(/member .*-4 leaves first/);
        // Refused while another voter is down.
        stopMember(c, 2);
        const refused = runStep(c, plan, 4, "delete", { ETCD_REMOVE_TIMEOUT_SECONDS: "6" });
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toMatch(/the remaining voter at https:\/\/[\d.]+:2379 is not healthy/);
        startMember(c, 2);
        waitUntil(() => gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2, 3, 4]), ETCD_GATE_MEMBERS_EXACT: "true" }, 2, 5).status === 0, 60_000, "5 healthy");

        const pids = [0, 1, 2].map((i) => etcdPid(c, i));
        const load = new WriteLoad(c, c.clientEndpoints.slice(0, 3), "scale-down");
        for (const i of [4, 3]) {
            const removed = runStep(c, plan, i, "delete");
            expect(`${removed.stderr}\nexit ${removed.status}`).toMatch(/removed member [^\n]*; \d voter\(s\) remain[^]*exit 0$/);
            if (i === 4) {
                // Added again under the same name on a volume that kept the removed member's data: the data is
                // set aside (not deleted) and the member joins as new, then leaves again.
                const again = replaceMember(c, 4);
                expect(again.output).toMatch(/does not list this member: its data is stale; moving it to \/var\/lib\/etcd\/removed-/);
                expect(again.output).toMatch(/added as a learner/);
                expect(gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2, 3, 4]), ETCD_GATE_MEMBERS_EXACT: "true" }, 120, 5)).toMatchObject({ status: 0 });
                expect(runStep(c, plan, 4, "delete").status).toBe(0);
            }
            destroyMember(c, i);
            // Idempotent: run again (an interrupted update retried), it finds nothing to remove.
            expect(runStep(c, plan, i, "delete").stderr).toMatch(/nothing to remove/);
        }
        const three = gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2]), ETCD_GATE_MEMBERS_EXACT: "true" }, 30);
        expect(three).toMatchObject({ status: 0 });
        const result = await load.stop();
        expect(load.missing(result)).toEqual([]);
        report.push(`5 to 3: ${result.acknowledged.length} writes acknowledged, ${result.refused} refused, longest refusal ${result.longestRefusalMs} ms`);
        expect([0, 1, 2].map((i) => etcdPid(c, i))).toEqual(pids);
        expect(
            memberList(c)
                .members.map((m) => m.name)
                .sort(),
        ).toEqual(c.members.slice(0, 3).map((m) => m.name));
        waitHealthy({ ...c, members: c.members.slice(0, 3), clientEndpoints: c.clientEndpoints.slice(0, 3) }, 30_000);
    });
});
