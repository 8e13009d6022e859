// Backups and the restore drill on container-booted members (`npm run local`): real systemd runs the backup
// timer's service, real cloud-init runs the restore step at first boot, and the members' real AWS CLI talks to
// the local backup store (moto: S3, SSM, KMS, CloudWatch), which outlives the clusters that write to it.
// etcd 3.5.30 (revision bump on restore), and the backup and restore of etcd 3.4.23 (etcdctl, no bump).
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { backupMetric, backupPaths, restoreRevisionBump } from "../../components/render/backup";
import { BackupStore, runningBackupStore, storeAws, storeCliArgs, storeCredentials } from "../../scripts/lib/local/backupStore";
import { containerInit, crashMember, down, etcdctl, inMember, loadCluster, LocalCluster, waitUntil } from "../../scripts/lib/local/localCluster";
import { bootLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { requireRoot, requireTool, run } from "../helpers/tools";

jest.setTimeout(420_000);

const repo = join(__dirname, "..", "..");
const version = "3.5.30";
const names = { a: "drill-a", b: "drill-b", bad: "drill-bad", old34: "drill-old34", new34: "drill-new34" };
let store: BackupStore;
let work: string;

beforeAll(() => {
    requireRoot("members run as containers on a bridge");
    requireMemberImage();
    requireTool("aws", "awscli");
    requireTool("systemd-nspawn", "systemd-container");
    work = mkdtempSync(join(tmpdir(), "etcd-drill-"));
});

afterAll(() => {
    for (const name of Object.values(names)) down(name);
    if (work) rmSync(work, { recursive: true, force: true });
});

/** Where the cluster's backups go, as its user-data names the tools object: s3://BUCKET/<prefix>/<cluster id>/tools/... */
function backupTarget(c: LocalCluster): { bucket: string; prefix: string } {
    const userData = readFileSync(join(c.members[0].dir, "user-data"), "utf8");
    const m = /TOOLS_URL='s3:\/\/([^/]+)\/(.+\/)tools\/member-tools\.sh'/.exec(userData);
    if (!m) throw new Error("no tools URL in the user-data");
    return { bucket: m[1], prefix: `${m[2]}snapshots/` };
}

const aws = (args: string[]) => {
    const r = storeAws(store, "eu-west-1", args);
    if (r.status !== 0) throw new Error(`aws ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
};
const listBackups = (t: { bucket: string; prefix: string }): string[] =>
    aws(["s3api", "list-objects-v2", "--bucket", t.bucket, "--prefix", t.prefix, "--query", "Contents[].Key", "--output", "json"]) ?? [];
const head = (bucket: string, key: string) =>
    aws(["s3api", "head-object", "--bucket", bucket, "--key", key]) as { Metadata: Record<string, string>; ServerSideEncryption: string; SSEKMSKeyId: string };

function leaderIndex(c: LocalCluster, among = [0, 1, 2]): number {
    for (const i of among) {
        const s = etcdctl(c, ["endpoint", "status", "-w", "json"], [c.clientEndpoints[i]]);
        if (s.status !== 0) continue;
        const status = JSON.parse(s.stdout)[0].Status;
        if (status.leader === status.header.member_id) return i;
    }
    return -1;
}
const revisionOf = (c: LocalCluster, i: number) =>
    Number(JSON.parse(etcdctl(c, ["endpoint", "status", "-w", "json"], [c.clientEndpoints[i]]).stdout)[0].Status.header.revision);

function putKeys(c: LocalCluster, keys: string[], endpoints?: string[]): void {
    // One transaction per 100 keys: 200 etcdctl processes would take longer than the test.
    for (let i = 0; i < keys.length; i += 100) {
        const ops = keys
            .slice(i, i + 100)
            .map((k) => `put ${k} "value of ${k}"`)
            .join("\n");
        const r = run(
            c.etcdctl,
            [`--endpoints=${(endpoints ?? c.clientEndpoints).join(",")}`, `--cacert=${c.caFile}`, `--cert=${c.certFile}`, `--key=${c.keyFile}`, "txn"],
            {
                input: `\n${ops}\n\n\n`,
            },
        );
        if (r.status !== 0) throw new Error(r.stderr);
    }
}
const keysWithPrefix = (c: LocalCluster, p: string): string[] => {
    const r = etcdctl(c, ["get", p, "--prefix", "--keys-only"]);
    expect(r.stderr).toBe("");
    return r.stdout.split("\n").filter((l) => l);
};

/**
 * A directory for the Run Command stand-in (test/helpers/ssm-run-command.sh) that knows the cluster's members as
 * running instances i-member0.. tagged etcd:cluster=CLUSTERID.
 */
function runCommandMembers(c: LocalCluster, name: string, clusterId: string): string {
    const runDir = join(work, name);
    mkdirSync(join(runDir, "instances"), { recursive: true });
    mkdirSync(join(runDir, "clusters"), { recursive: true });
    c.members.forEach((m, i) => {
        writeFileSync(join(runDir, "instances", `i-member${i}`), String(containerInit(m)));
        writeFileSync(join(runDir, "clusters", `i-member${i}`), clusterId);
    });
    return runDir;
}

/** Runs the members' backup service (what the timer starts) on one member; returns its journal lines of this run. */
function runBackupService(c: LocalCluster, i: number): { status: number; journal: string } {
    const since = inMember(c, i, ["date", "+%s"]).stdout.trim();
    const r = inMember(c, i, ["systemctl", "start", backupPaths.serviceName]);
    const journal = inMember(c, i, ["journalctl", "--no-pager", "-o", "cat", "-u", backupPaths.serviceName, `--since=@${since}`]).stdout;
    return { status: r.status, journal };
}

describe(`etcd ${version} on container-booted members: backups by the leader, then a restore drill into a new cluster`, () => {
    let a: LocalCluster;
    let target: { bucket: string; prefix: string };
    let first: string;
    let snapshotKey: string;
    let oldRevision: number;

    test("the backup service uploads from the leader only: under the cluster's prefix, SSE-KMS, with its metadata; the age metric follows", () => {
        a = bootLocalCluster({ name: names.a, networkIndex: 70, version });
        store = runningBackupStore()!;
        expect(store).toBeDefined();
        target = backupTarget(a);
        expect(target.prefix).toMatch(/^etcd-backups\/etcd-[0-9a-f]{8}\/snapshots\/$/);
        // The timer is installed and waiting on every member.
        for (const i of [0, 1, 2]) expect(inMember(a, i, ["systemctl", "is-active", backupPaths.timerName]).stdout.trim()).toBe("active");
        putKeys(
            a,
            Array.from({ length: 200 }, (_, i) => `before/${i}`),
        );
        const leader = leaderIndex(a);
        expect(leader).toBeGreaterThanOrEqual(0);
        // The store keeps the backups of earlier runs of a cluster of this name: only what this run adds counts.
        const before = new Set(listBackups(target));
        const runs = [0, 1, 2].map((i) => runBackupService(a, i));
        runs.forEach((r, i) => {
            expect({ member: i, status: r.status, journal: r.status === 0 ? "" : r.journal }).toEqual({ member: i, status: 0, journal: "" });
            if (i === leader) expect(r.journal).toContain("saved revision");
            else expect(r.journal).toContain("not the leader; nothing to do");
        });
        const keys = listBackups(target).filter((k) => !before.has(k));
        expect(keys).toHaveLength(1);
        first = keys[0];
        expect(first).toMatch(new RegExp(`^${target.prefix}(daily|frequent)/\\d{8}T\\d{6}Z-rev\\d+\\.db\\.gz$`));
        const object = head(target.bucket, first);
        expect(object.ServerSideEncryption).toBe("aws:kms");
        expect(object.SSEKMSKeyId).toMatch(/^arn:aws:kms:eu-west-1:\d{12}:key\//);
        const revision = revisionOf(a, leader);
        expect(object.Metadata).toMatchObject({ "etcd-version": version, member: a.members[leader].name, revision: String(revision) });
        expect(object.Metadata["etcd-cluster-id"]).toMatch(/^[0-9a-f]+$/);
        expect(first).toContain(`-rev${revision}.db.gz`);
        // The stored bytes are what the metadata says.
        const copy = join(work, "first.db.gz");
        aws(["s3api", "get-object", "--bucket", target.bucket, "--key", first, copy]);
        expect(execFileSync("sha256sum", [copy], { encoding: "utf8" }).slice(0, 64)).toBe(object.Metadata.sha256);
        expect(Number(object.Metadata.size)).toBe(execFileSync("gzip", ["-dc", copy], { maxBuffer: 256 * 1024 * 1024 }).length);
        const cluster = object.Metadata.cluster;
        const stats = aws([
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            backupMetric.namespace,
            "--metric-name",
            backupMetric.name,
            "--dimensions",
            `Name=${backupMetric.dimension},Value=${cluster}`,
            "--start-time",
            new Date(Date.now() - 3600_000).toISOString(),
            "--end-time",
            new Date(Date.now() + 3600_000).toISOString(),
            "--period",
            "60",
            "--statistics",
            "Maximum",
        ]) as { Datapoints: { Maximum: number }[] };
        expect(stats.Datapoints.length).toBeGreaterThan(0);
        expect(Math.max(...stats.Datapoints.map((d) => d.Maximum))).toBeLessThan(300);
    });

    test("after the leader is killed, the next backup comes from the new leader", () => {
        const old = leaderIndex(a);
        const before = new Set(listBackups(target));
        crashMember(a, old, { holdDown: true });
        try {
            const rest = [0, 1, 2].filter((i) => i !== old);
            let leader = -1;
            waitUntil(() => (leader = leaderIndex(a, rest)) >= 0, 30_000, "no new leader");
            spawnSleep(1100); // object names have a one-second resolution
            for (const i of rest) {
                const r = runBackupService(a, i);
                expect({ status: r.status, journal: r.status === 0 ? "" : r.journal }).toEqual({ status: 0, journal: "" });
            }
            const keys = listBackups(target).filter((k) => !before.has(k));
            expect(keys).toHaveLength(1);
            const second = keys[0];
            expect(head(target.bucket, second).Metadata.member).toBe(a.members[leader].name);
            expect(second.split("/").pop()! > first.split("/").pop()!).toBe(true);
            // On the member whose etcd is down, the timer's run is skipped, not failed: the system is not degraded by it.
            expect(runBackupService(a, old).status).not.toBe(0);
            expect(inMember(a, old, ["systemctl", "is-failed", backupPaths.serviceName]).stdout.trim()).not.toBe("failed");
        } finally {
            inMember(a, old, ["systemctl", "start", "--no-block", "etcd.service"]);
        }
    });

    test("the rolling gate (ssm mode) backs the leader up before the next change, and fails when the backup fails", () => {
        waitUntil(() => etcdctl(a, ["endpoint", "health"]).status === 0, 60_000, "the cluster is not healthy again");
        putKeys(a, ["gate-marker"]);
        const before = new Set(listBackups(target));
        const runDir = join(work, "run-command");
        mkdirSync(join(runDir, "instances"), { recursive: true });
        const follower = [0, 1, 2].find((i) => i !== leaderIndex(a) && containerInit(a.members[i]) !== undefined)!;
        writeFileSync(join(runDir, "instances", "i-follower"), String(containerInit(a.members[follower])));
        const bin = join(work, "gate-bin");
        mkdirSync(bin, { recursive: true });
        writeFileSync(join(bin, "aws"), `#!/bin/bash\nexec bash ${join(repo, "test", "helpers", "ssm-run-command.sh")} "$@"\n`, { mode: 0o755 });
        const gate = (instance: string) =>
            run("bash", [join(repo, "scripts", "etcd-health-gate.sh")], {
                env: {
                    PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
                    LOCAL_RUN_COMMAND_DIR: runDir,
                    ETCD_GATE_MODE: "ssm",
                    AWS_REGION: "eu-west-1",
                    ETCD_GATE_INSTANCE_IDS: instance,
                    ETCD_GATE_TIMEOUT_SECONDS: "120",
                    ETCD_GATE_INTERVAL_SECONDS: "2",
                    ETCD_GATE_MEMBER: a.members[follower].name,
                    ETCD_GATE_BACKUP: "1",
                },
            });
        const r = gate("i-follower");
        expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 });
        expect(r.stderr).toContain("backed up before the next change");
        const added = listBackups(target).filter((k) => !before.has(k));
        expect(added).toHaveLength(1);
        // The gate ran on a follower; the snapshot is the leader's, and holds the write made just before.
        const meta = head(target.bucket, added[0]).Metadata;
        expect(meta.member).toBe(a.members[follower].name);
        expect(Number(meta.revision)).toBeGreaterThanOrEqual(revisionOf(a, follower));
        // A backup that cannot be taken stops the rollout: the tools are gone from that member.
        inMember(a, follower, ["mv", backupPaths.backupScript, `${backupPaths.backupScript}.away`]);
        const failed = gate("i-follower");
        inMember(a, follower, ["mv", `${backupPaths.backupScript}.away`, backupPaths.backupScript]);
        expect(failed.status).not.toBe(0);
        expect(failed.stderr).toContain("the backup before the next change failed, so nothing more is changed");
    });

    test("before a change (ssm mode), the backup runs through a running member found by the cluster's tag, the next one when it fails; no running member means nothing to back up", () => {
        waitUntil(() => etcdctl(a, ["endpoint", "health"]).status === 0, 60_000, "the cluster is not healthy again");
        putKeys(a, ["before-change-marker"]);
        const markerRevision = revisionOf(a, leaderIndex(a));
        const before = new Set(listBackups(target));
        const runDir = runCommandMembers(a, "run-command-before-change", "etcd-drill-a");
        const bin = join(work, "gate-bin");
        mkdirSync(bin, { recursive: true });
        writeFileSync(join(bin, "aws"), `#!/bin/bash\nexec bash ${join(repo, "test", "helpers", "ssm-run-command.sh")} "$@"\n`, { mode: 0o755 });
        const gate = (clusterId: string, timeoutSeconds = 120) =>
            run("bash", [join(repo, "scripts", "etcd-health-gate.sh")], {
                env: {
                    PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
                    LOCAL_RUN_COMMAND_DIR: runDir,
                    ETCD_GATE_MODE: "ssm",
                    AWS_REGION: "eu-west-1",
                    ETCD_GATE_TIMEOUT_SECONDS: String(timeoutSeconds),
                    ETCD_GATE_INTERVAL_SECONDS: "2",
                    ETCD_GATE_BEFORE_CHANGE: "1",
                    ETCD_GATE_CLUSTER_ID: clusterId,
                },
            });
        // The first member found cannot back up (its tools are gone): the next one does.
        inMember(a, 0, ["mv", backupPaths.backupScript, `${backupPaths.backupScript}.away`]);
        try {
            const r = gate("etcd-drill-a");
            expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 });
            expect(r.stderr).toContain("backed up (through i-member1) before the change");
            const added = listBackups(target).filter((k) => !before.has(k));
            expect(added).toHaveLength(1);
            expect(Number(head(target.bucket, added[0]).Metadata.revision)).toBeGreaterThanOrEqual(markerRevision);

            // Another cluster's tag: no running member, so no cluster yet and nothing to back up.
            const none = gate("etcd-other");
            expect({ status: none.status, stderr: none.stderr }).toEqual({
                status: 0,
                stderr: expect.stringContaining("no running member of cluster etcd-other: nothing to back up"),
            });
            expect(listBackups(target).filter((k) => !before.has(k))).toHaveLength(1);

            // No member can back up: the change does not start.
            for (const i of [1, 2]) inMember(a, i, ["mv", backupPaths.backupScript, `${backupPaths.backupScript}.away`]);
            try {
                const failed = gate("etcd-drill-a", 3);
                expect(failed.status).not.toBe(0);
                expect(failed.stderr).toContain("the backup before the change failed on every running member, so nothing is changed");
            } finally {
                for (const i of [1, 2]) inMember(a, i, ["mv", `${backupPaths.backupScript}.away`, backupPaths.backupScript]);
            }
        } finally {
            inMember(a, 0, ["mv", `${backupPaths.backupScript}.away`, backupPaths.backupScript]);
        }
    });

    test("in direct mode the gate backs up from this machine: the leader's snapshot, verified, uploaded with SSE-KMS and the members' metadata, before a change and after a member; an unreachable cluster stops the change", () => {
        waitUntil(() => etcdctl(a, ["endpoint", "health"]).status === 0, 60_000, "the cluster is not healthy again");
        const existing = listBackups(target);
        const kmsKey = head(target.bucket, existing[0]).SSEKMSKeyId;
        putKeys(a, ["direct-marker"]);
        const markerRevision = revisionOf(a, leaderIndex(a));
        const runDir = runCommandMembers(a, "run-command-direct", "etcd-drill-a");
        // This machine's tools: the cluster's etcdctl; the host's AWS CLI (with the host's PATH and HOME) against the
        // store, except for the instance listing.
        const bin = join(work, "direct-bin");
        mkdirSync(bin, { recursive: true });
        symlinkSync(a.etcdctl, join(bin, "etcdctl"));
        const credentials = Object.entries(storeCredentials).map(([k, v]) => `${k}=${v}`);
        writeFileSync(
            join(bin, "aws"),
            `#!/bin/bash\nfor arg in "$@"; do [[ "$arg" == ec2 ]] && exec bash ${join(repo, "test", "helpers", "ssm-run-command.sh")} "$@"; done\n` +
                `exec env ${credentials.join(" ")} AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null PATH=${JSON.stringify(process.env.PATH)} HOME=${JSON.stringify(process.env.HOME)} aws ${storeCliArgs(store).join(" ")} "$@"\n`,
            { mode: 0o755 },
        );
        const gate = (extra: Record<string, string>) =>
            run("bash", [join(repo, "scripts", "etcd-health-gate.sh")], {
                env: {
                    PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
                    HOME: work,
                    LOCAL_RUN_COMMAND_DIR: runDir,
                    ETCD_GATE_MODE: "direct",
                    ETCD_GATE_ENDPOINTS: a.clientEndpoints.join(","),
                    ETCD_GATE_CA_PEM: readFileSync(a.caFile, "utf8"),
                    ETCD_GATE_CERT_PEM: readFileSync(a.certFile, "utf8"),
                    ETCD_GATE_KEY_PEM: readFileSync(a.keyFile, "utf8"),
                    AWS_REGION: "eu-west-1",
                    ETCD_GATE_TIMEOUT_SECONDS: "60",
                    ETCD_GATE_INTERVAL_SECONDS: "2",
                    ETCD_GATE_BACKUP_URL: `s3://${target.bucket}/${target.prefix}`,
                    ETCD_GATE_BACKUP_KMS_KEY_ARN: kmsKey,
                    ETCD_GATE_CLUSTER_ID: "etcd-drill-a",
                    ...extra,
                },
            });
        const added = (known: Set<string>) => listBackups(target).filter((k) => !known.has(k));

        const before = new Set(listBackups(target));
        const r = gate({ ETCD_GATE_BEFORE_CHANGE: "1" });
        expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.stringContaining("backed up before the change") });
        const [key] = added(before);
        expect(added(before)).toHaveLength(1);
        expect(key).toMatch(new RegExp(`^${target.prefix}frequent/\\d{8}T\\d{6}Z-rev\\d+\\.db\\.gz$`));
        const object = head(target.bucket, key);
        expect(object.ServerSideEncryption).toBe("aws:kms");
        expect(object.SSEKMSKeyId).toBe(kmsKey);
        expect(object.Metadata).toMatchObject({ "etcd-version": version, cluster: "etcd-drill-a", member: "deploy-host" });
        expect(Number(object.Metadata.revision)).toBeGreaterThanOrEqual(markerRevision);
        expect(key).toContain(`-rev${object.Metadata.revision}.db.gz`);
        const download = join(work, "direct.db.gz");
        aws(["s3", "cp", `s3://${target.bucket}/${key}`, download, "--only-show-errors"]);
        expect(object.Metadata.sha256).toBe(createHash("sha256").update(readFileSync(download)).digest("hex"));
        expect(object.Metadata["etcd-cluster-id"]).toMatch(/^\d+$/);

        // A member's gate: healthy, then a backup before the next member.
        const afterFirst = new Set(listBackups(target));
        spawnSleep(1100); // object names have a one-second resolution
        const g = gate({ ETCD_GATE_BACKUP: "1", ETCD_GATE_MEMBER: "etcd-1" });
        expect({ status: g.status, stderr: g.stderr }).toEqual({ status: 0, stderr: expect.stringContaining("backed up before the next change") });
        expect(added(afterFirst)).toHaveLength(1);

        // Members run, but none answers this machine: nothing is backed up, and the change does not start.
        const unreachable = gate({
            ETCD_GATE_BEFORE_CHANGE: "1",
            ETCD_GATE_TIMEOUT_SECONDS: "3",
            ETCD_GATE_ENDPOINTS: a.clientEndpoints.map((u) => u.replace(/:2379$/, ":2999")).join(","),
        });
        expect(unreachable.status).not.toBe(0);
        expect(unreachable.stderr).toContain("the backup before the change failed from this machine, so nothing is changed: no member answers");
        // No running member of the cluster: nothing to back up.
        const none = gate({ ETCD_GATE_BEFORE_CHANGE: "1", ETCD_GATE_CLUSTER_ID: "etcd-other" });
        expect({ status: none.status, stderr: none.stderr }).toEqual({
            status: 0,
            stderr: expect.stringContaining("no running member of cluster etcd-other: nothing to back up"),
        });
    });

    test("restore drill: a new cluster restored from the backup has every key from before it, none from after, and a higher revision", () => {
        putKeys(a, ["marker"]);
        const before = new Set(listBackups(target));
        const leader = leaderIndex(a);
        expect(runBackupService(a, leader).status).toBe(0);
        const added = listBackups(target).filter((k) => !before.has(k));
        expect(added).toHaveLength(1);
        snapshotKey = added[0];
        putKeys(
            a,
            Array.from({ length: 50 }, (_, i) => `after/${i}`),
        );
        oldRevision = revisionOf(a, leader);
        // Quorum lost for good: the whole cluster is gone; the backup store keeps the backups.
        down(names.a);

        const b = bootLocalCluster({ name: names.b, networkIndex: 71, version, restoreFrom: `s3://${target.bucket}/${snapshotKey}` });
        // Member 0 founds the new cluster from the snapshot; the others join it as learners and get the data
        // from it (a restore of their own would make three one-member clusters).
        const journals = [0, 1, 2].map((i) => readFileSync(join(b.members[i].dir, "upper", "var", "log", "cloud-init-output.log"), "utf8"));
        expect(journals[0]).toContain("no running cluster answers: founding one");
        expect(journals[0]).toContain(`etcd-restore: restored revision`);
        expect(journals[0]).toContain(`(+${restoreRevisionBump}) from s3://${target.bucket}/${snapshotKey} as ${b.members[0].name}`);
        for (const i of [1, 2]) {
            expect(journals[i]).toContain("added as a learner");
            expect(journals[i]).toContain("etcd-restore: joining a running cluster: its data comes from the cluster, not from the snapshot");
            expect(journals[i]).not.toContain("etcd-restore: restored revision");
            expect(revisionOf(b, i)).toBeGreaterThan(oldRevision + restoreRevisionBump - 100);
        }
        expect(keysWithPrefix(b, "before/")).toHaveLength(200);
        expect(keysWithPrefix(b, "marker")).toEqual(["marker"]);
        expect(keysWithPrefix(b, "gate-marker")).toEqual(["gate-marker"]);
        expect(keysWithPrefix(b, "after/")).toEqual([]);
        expect(revisionOf(b, 0)).toBeGreaterThan(oldRevision + restoreRevisionBump - 100);
        // Kubernetes watchers resume from their last revision: it is compacted, so they relist.
        const old = etcdctl(b, ["get", "marker", `--rev=${oldRevision}`]);
        expect(old.status).not.toBe(0);
        expect(old.stderr).toContain("required revision has been compacted");
        // A member with data never restores over it: its boot runs again without touching the data.
        const again = inMember(b, 0, ["/usr/local/sbin/etcd-bootstrap"]);
        expect(again.status).toBe(0);
        expect(again.stderr).toContain("already holds a member; never restoring over it");
        expect(keysWithPrefix(b, "before/")).toHaveLength(200);
        down(names.b);
    });

    test("a snapshot with one flipped byte, and one whose SHA-256 differs from its metadata, stop the boot: etcd never starts, and the member says why", () => {
        const good = join(work, "first.db.gz");
        const raw = execFileSync("gzip", ["-dc", good], { maxBuffer: 256 * 1024 * 1024 });
        const flipped = Buffer.from(raw);
        flipped[Math.floor(flipped.length / 2)] ^= 0xff;
        const flippedGz = join(work, "flipped.db.gz");
        writeFileSync(flippedGz, execFileSync("gzip", ["-c"], { input: flipped }));
        const sha = (file: string) => execFileSync("sha256sum", [file], { encoding: "utf8" }).slice(0, 64);
        const kms = head(target.bucket, first).SSEKMSKeyId;
        const put = (key: string, file: string, sum: string) =>
            aws([
                "s3api",
                "put-object",
                "--bucket",
                target.bucket,
                "--key",
                key,
                "--body",
                file,
                "--metadata",
                `sha256=${sum}`,
                "--server-side-encryption",
                "aws:kms",
                "--ssekms-key-id",
                kms,
            ]);
        put(`${target.prefix}frequent/bad-flipped.db.gz`, flippedGz, sha(flippedGz));
        put(`${target.prefix}frequent/bad-mismatch.db.gz`, good, "0".repeat(64));

        for (const [key, reason] of [
            ["bad-flipped.db.gz", "holds a damaged snapshot"],
            ["bad-mismatch.db.gz", `its metadata says ${"0".repeat(64)}`],
        ]) {
            const from = `s3://${target.bucket}/${target.prefix}frequent/${key}`;
            expect(() => bootLocalCluster({ name: names.bad, networkIndex: 72, version, size: 1, zones: 1, restoreFrom: from })).toThrow(reason);
            const c = loadCluster(names.bad)!;
            const output = readFileSync(join(c.members[0].dir, "upper", "var", "log", "cloud-init-output.log"), "utf8");
            expect(output).toContain(reason);
            expect(output).toContain("etcd is not started");
            expect(inMember(c, 0, ["cloud-init", "status"]).stdout).toContain("status: error");
            // etcd was never started, and nothing was restored.
            expect(inMember(c, 0, ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", "etcd.service"]).stdout.trim()).toBe("0");
            expect(inMember(c, 0, ["systemctl", "show", "-p", "NRestarts", "--value", "etcd.service"]).stdout.trim()).toBe("0");
            expect(inMember(c, 0, ["test", "-e", "/var/lib/etcd/member"]).status).not.toBe(0);
            down(names.bad);
        }
    });
});

describe("etcd 3.4.23 on container-booted members: etcdctl takes, verifies and restores the snapshot, without a revision bump", () => {
    test("a backup of a one-member cluster restored into a new one", () => {
        const old = bootLocalCluster({ name: names.old34, networkIndex: 73, version: "3.4.23", size: 1, zones: 1 });
        store = runningBackupStore()!;
        const t = backupTarget(old);
        putKeys(
            old,
            Array.from({ length: 20 }, (_, i) => `v34/${i}`),
        );
        const r = runBackupService(old, 0);
        expect({ status: r.status, journal: r.status === 0 ? "" : r.journal }).toEqual({ status: 0, journal: "" });
        const [key] = listBackups(t);
        expect(head(t.bucket, key).Metadata["etcd-version"]).toBe("3.4.23");
        const oldRevision = revisionOf(old, 0);
        down(names.old34);

        const restored = bootLocalCluster({
            name: names.new34,
            networkIndex: 74,
            version: "3.4.23",
            size: 1,
            zones: 1,
            restoreFrom: `s3://${t.bucket}/${key}`,
        });
        const output = readFileSync(join(restored.members[0].dir, "upper", "var", "log", "cloud-init-output.log"), "utf8");
        expect(output).toContain(`etcd-restore: restored revision ${oldRevision} from s3://${t.bucket}/${key}`);
        expect(keysWithPrefix(restored, "v34/")).toHaveLength(20);
        // No bump before 3.4.27: the revision goes on from the snapshot's.
        expect(revisionOf(restored, 0)).toBe(oldRevision);
        down(names.new34);
    });
});

function spawnSleep(ms: number): void {
    execFileSync("sleep", [String(ms / 1000)]);
}
