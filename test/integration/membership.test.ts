// Membership changes on real etcd, with the scripts the component hands to members and to Pulumi: members
// join as learners and promote themselves (every local cluster is built that way), a member that lost its
// data volume rejoins by itself, the gate fails with the difference between the member list and the
// program, and the removal step of a scale-down refuses while the rest is unhealthy.
import { spawnSync } from "child_process";
import { readFileSync } from "fs";
import { join } from "path";
import { renderDirectRemoveStep, renderMemberRemovalScript, renderSsmRemoveStep } from "../../components/render/memberRemoval";
import { renderMembershipLibrary } from "../../components/render/membership";
import { down, etcdctl, LocalCluster, replaceMemberWithEmptyVolume, startMember, stopMember, waitHealthy, waitUntil } from "../../scripts/lib/localCluster";
import { bootLocalCluster } from "../helpers/localClusters";
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
    const r = etcdctl(c, ["member", "list", "-w", "json"]);
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

function clientEnv(c: LocalCluster): Record<string, string> {
    return {
        PATH: `${join(c.dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
        ETCD_GATE_MODE: "direct",
        ETCD_GATE_ENDPOINTS: c.clientEndpoints.join(","),
        ETCD_GATE_CA_PEM: readFileSync(c.caFile, "utf8"),
        ETCD_GATE_CERT_PEM: readFileSync(c.certFile, "utf8"),
        ETCD_GATE_KEY_PEM: readFileSync(c.keyFile, "utf8"),
    };
}

function gate(c: LocalCluster, env: Record<string, string>, timeoutSeconds = 3) {
    const r = spawnSync("bash", [gateScript], {
        env: { ...clientEnv(c), ETCD_GATE_TIMEOUT_SECONDS: String(timeoutSeconds), ETCD_GATE_INTERVAL_SECONDS: "1", ...env },
        encoding: "utf8",
    });
    return { status: r.status ?? 1, stderr: r.stderr ?? "" };
}

function removeStep(c: LocalCluster, name: string, peer: string, timeoutSeconds: number, endpoints = c.clientEndpoints) {
    const r = spawnSync("bash", ["-c", renderDirectRemoveStep()], {
        env: {
            ...clientEnv(c),
            ETCD_GATE_ENDPOINTS: endpoints.join(","),
            ETCD_REMOVE_MEMBER: name,
            ETCD_REMOVE_PEER_URL: peer,
            ETCD_REMOVE_TIMEOUT_SECONDS: String(timeoutSeconds),
        },
        encoding: "utf8",
    });
    return { status: r.status ?? 1, stderr: r.stderr ?? "" };
}

test.each([
    ["the membership functions (SSM parameter)", renderMembershipLibrary()],
    ["the removal script", renderMemberRemovalScript()],
    ["the direct removal step", `#!/bin/bash\n${renderDirectRemoveStep()}`],
    ["the SSM removal step", `#!/bin/bash\n${renderSsmRemoveStep()}`],
])("%s passes shellcheck", (_, text) => {
    const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: text, encoding: "utf8" });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
});

beforeAll(() => requireRoot("members run in network and mount namespaces"));

describe.each([
    ["3.5.30", 71],
    ["3.4.23", 72],
])("etcd %s", (version, networkIndex) => {
    const name = `membership-${networkIndex}`;
    let c: LocalCluster;

    beforeAll(() => {
        c = bootLocalCluster({ name, networkIndex, version });
    });
    afterAll(() => {
        down(name);
    });

    test("the cluster assembled itself: member 0 founded it, the others joined as learners and were promoted", () => {
        const { members } = memberList(c);
        expect(members.map((m) => m.name).sort()).toEqual(c.members.map((m) => m.name).sort());
        expect(members.every((m) => m.started && !m.learner)).toBe(true);
        const gateResult = gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2]), ETCD_GATE_MEMBERS_EXACT: "true" });
        expect(gateResult).toMatchObject({ status: 0 });
    });

    test("a member whose data volume is replaced by an empty one rejoins by itself: same cluster, no stale entry, data back", () => {
        const before = memberList(c);
        for (let k = 0; k < 50; k++) expect(etcdctl(c, ["put", `before-loss-${k}`, `v${k}`]).status).toBe(0);
        const oldId = before.members.find((m) => m.name === c.members[1].name)!.id;
        const r = replaceMemberWithEmptyVolume(c, 1);
        expect(r.output).toMatch(/formatting empty data volume/);
        expect(r.output).toMatch(/with an empty data dir: removing that entry to join again/);
        expect(r.output).toMatch(/added as a learner/);
        const ok = gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1, 2]), ETCD_GATE_MEMBERS_EXACT: "true" }, 120);
        expect(ok).toMatchObject({ status: 0 });
        const after = memberList(c);
        expect(after.clusterId).toBe(before.clusterId);
        expect(after.members).toHaveLength(3);
        const rejoined = after.members.find((m) => m.name === c.members[1].name)!;
        expect(rejoined.id).not.toBe(oldId);
        expect(rejoined).toMatchObject({ started: true, learner: false, peer: peerOf(c, 1) });
        // Its own copy of the data, read from it alone.
        const read = etcdctl(c, ["get", "before-loss-49", "--print-value-only", "--consistency=s"], [c.clientEndpoints[1]]);
        expect(read.stdout.trim()).toBe("v49");
        waitHealthy(c, 60000);
    });

    test("the gate fails with the difference: a missing member, an extra one, a member added but never started", () => {
        const missing = gate(c, {
            ETCD_GATE_MEMBERS: `${expected(c, [0, 1, 2])},etcd-9=https://10.213.${networkIndex}.250:2380`,
            ETCD_GATE_MEMBERS_EXACT: "true",
        });
        expect(missing.status).not.toBe(0);
        expect(missing.stderr).toMatch(/etcd-9 \(https:\/\/10\.213\.\d+\.250:2380\): missing from the member list/);

        const extra = gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1]), ETCD_GATE_MEMBERS_EXACT: "true" });
        expect(extra.status).not.toBe(0);
        expect(extra.stderr).toContain(`${c.members[2].name} (${peerOf(c, 2)}`);
        expect(extra.stderr).toMatch(/extra, not a member of the program/);
        // A member's own gate knows only the members before it: others are not extra there.
        expect(gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1]), ETCD_GATE_MEMBERS_EXACT: "false" }).status).toBe(0);
        // Leaving members (removed after the final gate by a scale-down) are tolerated by name.
        expect(gate(c, { ETCD_GATE_MEMBERS: expected(c, [0, 1]), ETCD_GATE_MEMBERS_EXACT: "true", ETCD_GATE_LEAVING: c.members[2].name }).status).toBe(0);

        const ghostPeer = `https://10.213.${networkIndex}.251:2380`;
        expect(etcdctl(c, ["member", "add", "etcd-9", `--peer-urls=${ghostPeer}`, "--learner"]).status).toBe(0);
        const learner = gate(c, { ETCD_GATE_MEMBERS: `${expected(c, [0, 1, 2])},etcd-9=${ghostPeer}`, ETCD_GATE_MEMBERS_EXACT: "true" });
        expect(learner.status).not.toBe(0);
        expect(learner.stderr).toMatch(/etcd-9: added but not started/);
        // The removal step takes it out again (an unstarted learner costs no quorum), and a second run does nothing.
        const out = removeStep(c, "etcd-9", ghostPeer, 30);
        expect(out.stderr + `\nexit ${out.status}`).toMatch(/removed member etcd-9 [^\n]*\n[^]*exit 0$/);
        const again = removeStep(c, "etcd-9", ghostPeer, 30);
        expect(again.status).toBe(0);
        expect(again.stderr).toMatch(/not a member of the cluster: nothing to remove/);
        expect(memberList(c).members).toHaveLength(3);
    });

    test("scale-down removal: refused while another voter is down, done once it is back; the leaving member stops", () => {
        stopMember(c, 1);
        const refused = removeStep(c, c.members[2].name, peerOf(c, 2), 6);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toMatch(/refusing to remove member .*: the remaining voter at https:\/\/[\d.]+:2379 is not healthy/);
        expect(memberList(c).members).toHaveLength(3);
        startMember(c, 1);
        waitHealthy(c, 60000);
        const removed = removeStep(c, c.members[2].name, peerOf(c, 2), 60);
        expect(`${removed.stderr}\nexit ${removed.status}`).toMatch(/removed member [^\n]*; 2 voter\(s\) remain[^]*exit 0$/);
        const left = memberList(c)
            .members.map((m) => m.name)
            .sort();
        expect(left).toEqual([c.members[0].name, c.members[1].name].sort());
        const two = { ...c, clientEndpoints: c.clientEndpoints.slice(0, 2) };
        expect(gate(two, { ETCD_GATE_MEMBERS: expected(c, [0, 1]), ETCD_GATE_MEMBERS_EXACT: "true" }, 30)).toMatchObject({ status: 0 });
        waitUntil(() => etcdctl(c, ["endpoint", "health"], [c.clientEndpoints[2]]).status !== 0, 30000, "the removed member still answers healthy");
    });
});
