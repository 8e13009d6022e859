// The backup and restore tools run for real: etcd 3.5.30 and 3.4.23 on loopback, moto for S3, KMS and
// CloudWatch through the real AWS CLI, each member's scripts in a copy-on-write view of this machine.
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
    BackupScriptParams,
    backupMetric,
    backupPaths,
    memberToolFiles,
    renderToolsInstaller,
    RestoreScriptParams,
    SnapshotTool,
} from "../../components/render/backup";
import { memberPaths } from "../../components/render/paths";
import { LoopbackCluster, LoopbackMember, MemberHost, Moto, unpackRelease } from "../helpers/backupRig";
import { requireRoot, requireTool, run } from "../helpers/tools";

jest.setTimeout(240_000);

const bucket = "etcd-backups-test";
const clusterId = "drill-1a2b3c4d";
const prefix = `etcd-backups/${clusterId}/snapshots/`;
let moto: Moto;
let work: string;
let kmsKeyArn: string;
const bins: Record<string, string> = {};
const clusters: LoopbackCluster[] = [];

beforeAll(async () => {
    requireRoot("member views are private mount namespaces");
    requireTool("shellcheck", "shellcheck");
    requireTool("systemd-analyze", "systemd");
    requireTool("aws", "awscli");
    work = mkdtempSync(join(tmpdir(), "etcd-backup-test-"));
    bins["3.5.30"] = unpackRelease("3.5.30", join(work, "etcd-3.5.30"));
    bins["3.4.23"] = unpackRelease("3.4.23", join(work, "etcd-3.4.23"));
    moto = await Moto.start();
    moto.awsJson(["s3api", "create-bucket", "--bucket", bucket, "--create-bucket-configuration", "LocationConstraint=eu-west-1"]);
    kmsKeyArn = moto.awsJson<{ KeyMetadata: { Arn: string } }>(["kms", "create-key"]).KeyMetadata.Arn;
});

afterAll(async () => {
    for (const c of clusters) await c.stopAll();
    moto?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
});

const toolOf = (version: string): SnapshotTool => (version.startsWith("3.4") ? "etcdctl" : "etcdutl");

function backupParams(version: string): BackupScriptParams & { intervalMinutes: number } {
    return { clusterId, version, snapshotTool: toolOf(version), bucket, prefix, kmsKeyArn, region: "eu-west-1", intervalMinutes: 15 };
}

function restoreParams(version: string, key: string, b = bucket): RestoreScriptParams {
    return { bucket: b, key, region: "eu-west-1", snapshotTool: toolOf(version), bumpRevision: !version.startsWith("3.4") };
}

/** A member host with the release, the etcdctl profile, etcd.env and the installed tools. */
function memberHost(label: string, version: string, cluster: LoopbackCluster, member: LoopbackMember, installer: string): MemberHost {
    const bin = bins[version];
    const binaries = ["etcdctl", "etcdutl"].filter((b) => existsSync(join(bin, b)));
    const host = MemberHost.create(join(work, label), moto, {
        [memberPaths.etcdctlProfile]: { content: `export ETCDCTL_API=3\nexport ETCDCTL_ENDPOINTS=${member.clientUrl}\n` },
        [memberPaths.environmentFile]: { content: cluster.envFile(member) },
        "/root/member-tools.sh": { content: installer, mode: 0o700 },
        ...Object.fromEntries(binaries.map((b) => [`/usr/local/bin/${b}`, { content: readFileSync(join(bin, b)), mode: 0o755 }])),
    });
    const installed = host.run(["/root/member-tools.sh"]);
    expect(installed.stderr).toBe("");
    expect(installed.status).toBe(0);
    return host;
}

async function loopbackCluster(label: string, version: string, names: string[]): Promise<LoopbackCluster> {
    const cluster = await LoopbackCluster.create(
        bins[version],
        names,
        names.map((n) => join(work, label, `${n}-data`)),
        `${label}-token`,
    );
    clusters.push(cluster);
    return cluster;
}

const listKeys = (): string[] =>
    moto.awsJson<string[] | null>(["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--query", "Contents[].Key"]) ?? [];
const head = (key: string) =>
    moto.awsJson<{ Metadata: Record<string, string>; ServerSideEncryption: string; SSEKMSKeyId: string }>([
        "s3api",
        "head-object",
        "--bucket",
        bucket,
        "--key",
        key,
    ]);
const revisionOf = (c: LoopbackCluster) => Number(/"Revision" : (\d+)/.exec(c.etcdctl(["endpoint", "status", "-w", "fields"], c.leader()).stdout)?.[1]);

function putKeys(c: LoopbackCluster, names: string[]): void {
    for (const n of names) {
        const r = c.etcdctl(["put", n, `value of ${n}`]);
        if (r.status !== 0) throw new Error(r.stderr);
    }
}

function keysWithPrefix(c: LoopbackCluster, p: string): string[] {
    const r = c.etcdctl(["get", p, "--prefix", "--keys-only"]);
    expect(r.status).toBe(0);
    return r.stdout.split("\n").filter((l) => l);
}

describe("validators", () => {
    const installer = renderToolsInstaller(memberToolFiles({ backup: backupParams0(), restore: restoreParams("3.5.30", `${prefix}daily/x.db.gz`) }));
    function backupParams0(): BackupScriptParams & { intervalMinutes: number } {
        return {
            clusterId,
            version: "3.6.14",
            snapshotTool: "etcdutl",
            bucket,
            prefix,
            kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/k",
            region: "eu-west-1",
            intervalMinutes: 15,
        };
    }

    test("the installer and every script it writes pass shellcheck", () => {
        const files = [
            { path: "installer", content: installer },
            ...memberToolFiles({ backup: backupParams0(), restore: restoreParams("3.4.23", "k/x.db.gz") }),
        ];
        for (const f of files.filter((x) => x.content.startsWith("#!/bin/bash"))) {
            const file = join(work, `shellcheck-${f.path.replace(/\W+/g, "-")}`);
            writeFileSync(file, f.content);
            const r = run("shellcheck", ["--severity=style", "--shell=bash", file]);
            expect({ path: f.path, out: r.stdout }).toEqual({ path: f.path, out: "" });
        }
    });

    test("the installed service and timer verify with systemd-analyze, and the timer fires every 15 minutes", () => {
        const host = MemberHost.create(join(work, "verify"), moto, { "/root/member-tools.sh": { content: installer, mode: 0o700 } });
        expect(host.run(["/root/member-tools.sh"]).status).toBe(0);
        const r = host.run(["systemd-analyze", "verify", backupPaths.service, backupPaths.timer]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const calendar = run("systemd-analyze", ["calendar", "--iterations=2", "*-*-* *:00/15:00", "--base-time=2026-01-01 00:07:00 UTC"]);
        expect(calendar.stdout).toMatch(/Next elapse: .*00:15:00 UTC[\s\S]*Iter\. #2: .*00:30:00 UTC/);
        // The verifier is not a rubber stamp: a misspelt directive is reported.
        writeFileSync(host.upper(backupPaths.timer), readFileSync(host.upper(backupPaths.timer), "utf8").replace("OnCalendar", "OnCalender"));
        expect(host.run(["systemd-analyze", "verify", backupPaths.timer]).stderr).toContain("OnCalender");
    });
});

describe("etcd 3.5.30: backups by the leader only, then a restore drill into a new cluster", () => {
    let a: LoopbackCluster;
    let hosts: MemberHost[];
    let firstKey: string;

    test("only the leader uploads, verified, encrypted with the cluster key, with its metadata; the age metric follows", async () => {
        a = await loopbackCluster("a", "3.5.30", ["a-0", "a-1", "a-2"]);
        await a.startAll();
        const installer = renderToolsInstaller(memberToolFiles({ backup: backupParams("3.5.30") }));
        hosts = a.members.map((m, i) => memberHost(`a-host-${i}`, "3.5.30", a, m, installer));
        putKeys(
            a,
            Array.from({ length: 200 }, (_, i) => `before/${i}`),
        );
        const leader = a.leader();
        const results = hosts.map((h) => h.run([backupPaths.backupScript]));
        results.forEach((r, i) => {
            expect({ member: a.members[i].name, status: r.status }).toEqual({ member: a.members[i].name, status: 0 });
            if (a.members[i] !== leader) expect(r.stderr).toContain("not the leader; nothing to do");
        });
        const keys = listKeys();
        expect(keys).toHaveLength(1);
        firstKey = keys[0];
        expect(firstKey).toMatch(new RegExp(`^${prefix}(daily|frequent)/\\d{8}T\\d{6}Z-rev\\d+\\.db\\.gz$`));
        const object = head(firstKey);
        expect(object.ServerSideEncryption).toBe("aws:kms");
        expect(object.SSEKMSKeyId).toBe(kmsKeyArn);
        const revision = revisionOf(a);
        expect(object.Metadata).toMatchObject({ "etcd-version": "3.5.30", member: leader.name, cluster: clusterId, revision: String(revision) });
        expect(firstKey).toContain(`-rev${revision}.db.gz`);
        expect(object.Metadata["sha256"]).toMatch(/^[0-9a-f]{64}$/);
        // The stored bytes are what the metadata says.
        const copy = join(work, "first.db.gz");
        moto.aws(["s3api", "get-object", "--bucket", bucket, "--key", firstKey, copy]);
        expect(execFileSync("sha256sum", [copy], { encoding: "utf8" }).slice(0, 64)).toBe(object.Metadata["sha256"]);
        expect(Number(object.Metadata["size"])).toBe(Number(execFileSync("sh", ["-c", `gzip -dc ${copy} | wc -c`], { encoding: "utf8" })));
        const stats = moto.awsJson<{ Datapoints: { Maximum: number }[] }>([
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            backupMetric.namespace,
            "--metric-name",
            backupMetric.name,
            "--dimensions",
            `Name=${backupMetric.dimension},Value=${clusterId}`,
            "--start-time",
            new Date(Date.now() - 3600_000).toISOString(),
            "--end-time",
            new Date(Date.now() + 3600_000).toISOString(),
            "--period",
            "60",
            "--statistics",
            "Maximum",
        ]);
        expect(stats.Datapoints.length).toBeGreaterThan(0);
        expect(Math.max(...stats.Datapoints.map((d) => d.Maximum))).toBeLessThan(120);
    });

    test("after the leader is killed, the next backup comes from the new leader", async () => {
        const old = a.leader();
        await a.stop(old);
        await a.waitHealthy();
        await new Promise((r) => setTimeout(r, 1100)); // object names have a one-second resolution
        const newLeader = a.leader();
        expect(newLeader).not.toBe(old);
        a.members.forEach((m, i) => {
            if (m !== old) expect(hosts[i].run([backupPaths.backupScript]).status).toBe(0);
        });
        const keys = listKeys();
        expect(keys).toHaveLength(2);
        const second = keys.find((k) => k !== firstKey)!;
        expect(head(second).Metadata.member).toBe(newLeader.name);
        // Names sort by time, whatever their class (daily/ or frequent/).
        expect(second.split("/").pop()! > firstKey.split("/").pop()!).toBe(true);
        a.start(old);
        await a.waitHealthy();
    });

    test("restore drill: a new cluster restored from the snapshot has every key from before it, none from after, and a higher revision", async () => {
        putKeys(a, ["marker"]);
        const keyBefore = listKeys().length;
        const leaderHost = hosts[a.members.indexOf(a.leader())];
        expect(leaderHost.run([backupPaths.backupScript]).status).toBe(0);
        const snapshotKey = listKeys()
            .sort((x, y) => (x.split("/").pop()! < y.split("/").pop()! ? -1 : 1))
            .pop()!;
        expect(listKeys()).toHaveLength(keyBefore + 1);
        putKeys(
            a,
            Array.from({ length: 50 }, (_, i) => `after/${i}`),
        );
        const oldRevision = revisionOf(a);
        await a.stopAll();

        const b = await loopbackCluster("b", "3.5.30", ["b-0", "b-1", "b-2"]);
        const installer = renderToolsInstaller(memberToolFiles({ backup: backupParams("3.5.30"), restore: restoreParams("3.5.30", snapshotKey) }));
        const bHosts = b.members.map((m, i) => memberHost(`b-host-${i}`, "3.5.30", b, m, installer));
        for (const [i, host] of bHosts.entries()) {
            const r = host.run([backupPaths.restoreScript]);
            expect({ member: i, status: r.status, stderr: r.stderr }).toMatchObject({ member: i, status: 0 });
            expect(r.stderr).toContain(`restored revision`);
            expect(r.stderr).toContain("(+1000000000)");
            b.members[i].dataDir = host.upper(memberPaths.dataDir);
        }
        await b.startAll();
        expect(keysWithPrefix(b, "before/")).toHaveLength(200);
        expect(keysWithPrefix(b, "marker")).toEqual(["marker"]);
        expect(keysWithPrefix(b, "after/")).toEqual([]);
        const newRevision = revisionOf(b);
        expect(newRevision).toBeGreaterThan(oldRevision + 1_000_000_000 - 100);
        // Kubernetes watchers resume from their last revision: it is compacted, so they relist.
        const old = b.etcdctl(["get", "marker", `--rev=${oldRevision}`]);
        expect(old.status).not.toBe(0);
        expect(old.stderr).toContain("required revision has been compacted");
        // A member with data never restores over it.
        const again = bHosts[0].run([backupPaths.restoreScript]);
        expect(again.status).toBe(0);
        expect(again.stderr).toContain("already holds a member; never restoring over it");
        await b.stopAll();
    });

    test("a snapshot with one flipped byte, and one whose SHA-256 differs from its metadata, are refused before anything is restored", async () => {
        const good = join(work, "first.db.gz");
        const raw = execFileSync("gzip", ["-dc", good]);
        const flipped = Buffer.from(raw);
        flipped[Math.floor(flipped.length / 2)] ^= 0xff;
        const flippedGz = join(work, "flipped.db.gz");
        writeFileSync(flippedGz, execFileSync("gzip", ["-c"], { input: flipped }));
        const sha = (file: string) => execFileSync("sha256sum", [file], { encoding: "utf8" }).slice(0, 64);
        const put = (key: string, file: string, sum: string) =>
            moto.awsJson(["s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file, "--metadata", `sha256=${sum}`]);
        put("bad/flipped.db.gz", flippedGz, sha(flippedGz));
        put("bad/mismatch.db.gz", good, "0".repeat(64));

        const c = await loopbackCluster("c", "3.5.30", ["c-0"]);
        for (const [key, reason] of [
            ["bad/flipped.db.gz", "holds a damaged snapshot"],
            ["bad/mismatch.db.gz", `its metadata says ${"0".repeat(64)}`],
        ]) {
            const host = memberHost(
                `c-${key.replace(/\W+/g, "-")}`,
                "3.5.30",
                c,
                c.members[0],
                renderToolsInstaller(memberToolFiles({ restore: restoreParams("3.5.30", key) })),
            );
            const r = host.run([backupPaths.restoreScript]);
            expect(r.status).not.toBe(0);
            expect(r.stderr).toContain(reason);
            expect(r.stderr).toContain("etcd is not started");
            expect(existsSync(host.upper(`${memberPaths.dataDir}/member`))).toBe(false);
            expect(existsSync(host.upper(`${memberPaths.dataDir}/.restore`))).toBe(false);
        }
    });
});

describe("etcd 3.4.23: etcdctl takes, verifies and restores the snapshot (no revision bump before 3.4.27)", () => {
    test("backup by the leader, restore into a new cluster", async () => {
        const a = await loopbackCluster("old34", "3.4.23", ["o-0", "o-1", "o-2"]);
        await a.startAll();
        putKeys(
            a,
            Array.from({ length: 20 }, (_, i) => `v34/${i}`),
        );
        const before = new Set(listKeys());
        const installer = renderToolsInstaller(memberToolFiles({ backup: backupParams("3.4.23") }));
        const hosts = a.members.map((m, i) => memberHost(`o-host-${i}`, "3.4.23", a, m, installer));
        hosts.forEach((h) => expect(h.run([backupPaths.backupScript]).status).toBe(0));
        const added = listKeys().filter((k) => !before.has(k));
        expect(added).toHaveLength(1);
        expect(head(added[0]).Metadata["etcd-version"]).toBe("3.4.23");
        await a.stopAll();

        const b = await loopbackCluster("new34", "3.4.23", ["n-0", "n-1", "n-2"]);
        const restore = renderToolsInstaller(memberToolFiles({ restore: restoreParams("3.4.23", added[0]) }));
        b.members.forEach((m, i) => {
            const host = memberHost(`n-host-${i}`, "3.4.23", b, m, restore);
            const r = host.run([backupPaths.restoreScript]);
            expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 });
            expect(r.stderr).not.toContain("+1000000000");
            m.dataDir = host.upper(memberPaths.dataDir);
        });
        await b.startAll();
        expect(keysWithPrefix(b, "v34/")).toHaveLength(20);
        await b.stopAll();
    });
});
