// The backup and restore tools at script level: shellcheck and systemd-analyze on what the installer writes, and
// etcd 3.4.23 (etcdctl takes, verifies and restores snapshots; no revision bump) on loopback with moto for S3,
// KMS and CloudWatch through the real AWS CLI, each member's scripts in a copy-on-write view of this machine.
// The container-booted drill on etcd 3.5.30 (leader-only backups, the gate's backup, restore, damaged
// snapshots) is backupDrill.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { BackupScriptParams, backupPaths, memberToolFiles, renderToolsInstaller, RestoreScriptParams, SnapshotTool } from "../../components/render/backup";
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
