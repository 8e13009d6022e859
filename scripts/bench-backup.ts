// `npm run bench:backup`: the backup and restore tools' cost for 10k and 100k keys, each next to its floor.
// The member's own backup script (snapshot, verification, gzip, SHA-256, upload with SSE-KMS, age metric)
// and restore script (download, SHA-256 against the metadata, gunzip, hash check, restore with a revision
// bump) run as rendered, against a real etcd on loopback and moto for S3, KMS and CloudWatch, each in a
// copy-on-write view of this machine (root); the floors are a bare `etcdctl snapshot save` and `etcdutl
// snapshot restore` of the same data. A report, not a test: figures depend on the machine.
import { mkdtempSync, readFileSync, rmSync, statSync } from "fs";
import { cpus, release, tmpdir, totalmem } from "os";
import { randomBytes } from "crypto";
import { join } from "path";
import { performance } from "perf_hooks";
import { backupPaths, memberToolFiles, renderToolsInstaller } from "../components/render/backup";
import { memberPaths } from "../components/render/paths";
import { LoopbackCluster, LoopbackMember, MemberHost, Moto, unpackRelease } from "../test/helpers/backupRig";
import { run } from "../test/helpers/tools";

const version = "3.5.30";
const bucket = "etcd-backups-bench";
const clusterId = "bench-1a2b3c4d";
const prefix = `etcd-backups/${clusterId}/snapshots/`;
const valueBytes = 256;

const log = (message: string) => console.error(`[bench:backup] ${message}`);

function parseArgs(argv: string[]): { counts: number[]; rounds: number } {
    let rounds = 3;
    let counts = [10_000, 100_000];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--rounds") rounds = Number(argv[++i]);
        else if (argv[i] === "--keys") counts = argv[++i].split(",").map(Number);
        else throw new Error(`unknown option ${argv[i]}; usage: npm run bench:backup -- [--rounds N] [--keys 10000,100000]`);
    }
    if (!Number.isInteger(rounds) || rounds < 1 || counts.some((n) => !Number.isInteger(n) || n < 1)) {
        throw new Error("--rounds and --keys: expected positive integers");
    }
    return { counts, rounds };
}

/** Printable and about as compressible as serialized objects with ids and hashes (base64 of random bytes). */
const randomValue = () => randomBytes((valueBytes * 3) / 4).toString("base64");

/** Writes `count` keys of `valueBytes` through the gRPC gateway, 128 puts per transaction (etcd's --max-txn-ops). */
async function load(member: LoopbackMember, count: number): Promise<void> {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const batches: number[][] = [];
    for (let i = 0; i < count; i += 128) batches.push(Array.from({ length: Math.min(128, count - i) }, (_, k) => i + k));
    let next = 0;
    const worker = async () => {
        while (next < batches.length) {
            const batch = batches[next++];
            const body = {
                success: batch.map((k) => ({ requestPut: { key: b64(`/registry/bench/${String(k).padStart(7, "0")}`), value: b64(randomValue()) } })),
            };
            const r = await fetch(`${member.clientUrl}/v3/kv/txn`, { method: "POST", body: JSON.stringify(body) });
            if (!r.ok) throw new Error(`loading keys: ${r.status} ${await r.text()}`);
        }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
}

function timed(what: string, f: () => { status: number; stderr: string }): { ms: number; stderr: string } {
    const start = performance.now();
    const r = f();
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr}`);
    return { ms, stderr: r.stderr };
}

const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};
const fmt = (xs: number[], digits = 0) => {
    const s = stats(xs);
    return [s.min, s.median, s.max].map((x) => x.toFixed(digits)).join(" / ");
};

async function main(): Promise<void> {
    const { counts, rounds } = parseArgs(process.argv.slice(2));
    if (process.getuid?.() !== 0) throw new Error("npm run bench:backup needs root: the member scripts run in private mount namespaces");
    const work = mkdtempSync(join(tmpdir(), "etcd-bench-backup-"));
    const bin = unpackRelease(version, join(work, "release"));
    const moto = await Moto.start();
    const rows: string[][] = [];
    try {
        moto.awsJson(["s3api", "create-bucket", "--bucket", bucket, "--create-bucket-configuration", "LocationConstraint=eu-west-1"]);
        const kmsKeyArn = moto.awsJson<{ KeyMetadata: { Arn: string } }>(["kms", "create-key"]).KeyMetadata.Arn;
        const files = (m: LoopbackMember, c: LoopbackCluster, installer: string) => ({
            [memberPaths.etcdctlProfile]: { content: `export ETCDCTL_API=3\nexport ETCDCTL_ENDPOINTS=${m.clientUrl}\n` },
            [memberPaths.environmentFile]: { content: c.envFile(m) },
            "/root/member-tools.sh": { content: installer, mode: 0o700 },
            "/usr/local/bin/etcdctl": { content: readFileSync(join(bin, "etcdctl")), mode: 0o755 },
            "/usr/local/bin/etcdutl": { content: readFileSync(join(bin, "etcdutl")), mode: 0o755 },
        });
        for (const count of counts) {
            const label = `k${count}`;
            const cluster = await LoopbackCluster.create(bin, [`${label}-0`], [join(work, label, "data")], `${label}-token`);
            await cluster.startAll();
            const member = cluster.members[0];
            log(`${count} keys of ${valueBytes} bytes: loading`);
            await load(member, count);
            const backupInstaller = renderToolsInstaller(
                memberToolFiles({
                    backup: { clusterId, version, snapshotTool: "etcdutl", bucket, prefix, kmsKeyArn, region: "eu-west-1", intervalMinutes: 15 },
                }),
            );
            const host = MemberHost.create(join(work, label, "host"), moto, files(member, cluster, backupInstaller));
            timed("installing the tools", () => host.run(["/root/member-tools.sh"]));
            const floorSave: number[] = [];
            const scriptSave: number[] = [];
            const floorRestore: number[] = [];
            const scriptRestore: number[] = [];
            let snapshotBytes = 0;
            let gzipBytes = 0;
            for (let r = 0; r < rounds; r++) {
                const file = join(work, label, `floor-${r}.db`);
                floorSave.push(timed("etcdctl snapshot save", () => cluster.etcdctl(["--command-timeout=5m", "snapshot", "save", file])).ms);
                snapshotBytes = statSync(file).size;
                const restoreDir = join(work, label, `floor-restore-${r}`);
                floorRestore.push(
                    timed("etcdutl snapshot restore", () =>
                        run(join(bin, "etcdutl"), [
                            "snapshot",
                            "restore",
                            file,
                            `--data-dir=${restoreDir}`,
                            `--name=${member.name}`,
                            `--initial-cluster=${cluster.initialCluster}`,
                            `--initial-cluster-token=${label}-restored`,
                            `--initial-advertise-peer-urls=${member.peerUrl}`,
                            "--bump-revision=1000000000",
                            "--mark-compacted",
                        ]),
                    ).ms,
                );
                rmSync(file);
                rmSync(restoreDir, { recursive: true, force: true });

                // Object names have a one-second resolution.
                await new Promise((resolve) => setTimeout(resolve, 1100));
                const backup = timed("the backup script", () => host.run([backupPaths.backupScript]));
                scriptSave.push(backup.ms);
                const saved = /saved revision \d+ as s3:\/\/[^/]+\/(\S+) \((\d+) bytes/.exec(backup.stderr);
                if (!saved) throw new Error(`the backup script did not report its object: ${backup.stderr}`);
                gzipBytes = Number(saved[2]);
                const restoreInstaller = renderToolsInstaller(
                    memberToolFiles({ restore: { bucket, key: saved[1], region: "eu-west-1", snapshotTool: "etcdutl", bumpRevision: true } }),
                );
                const target = MemberHost.create(join(work, label, `restore-${r}`), moto, files(member, cluster, restoreInstaller));
                timed("installing the restore tool", () => target.run(["/root/member-tools.sh"]));
                scriptRestore.push(timed("the restore script", () => target.run([backupPaths.restoreScript])).ms);
                rmSync(join(work, label, `restore-${r}`), { recursive: true, force: true });
            }
            const awsCall = Array.from(
                { length: rounds },
                () => timed("an AWS CLI call", () => host.run(["aws", "s3api", "head-bucket", "--bucket", bucket])).ms,
            );
            await cluster.stopAll();
            rmSync(join(work, label), { recursive: true, force: true });
            const mib = (n: number) => (n / 2 ** 20).toFixed(1);
            rows.push(
                [`${count} keys: snapshot (ms)`, fmt(scriptSave), fmt(floorSave), "backup script: save, verify, gzip, SHA-256, upload, age metric"],
                [`${count} keys: restore (ms)`, fmt(scriptRestore), fmt(floorRestore), "restore script: download, SHA-256, gunzip, hash check, restore"],
                [`${count} keys: one AWS CLI call (ms)`, fmt(awsCall), "-", "the backup script makes 4 (list, upload, list, metric), the restore 1 (download)"],
                [`${count} keys: size (MiB)`, `${mib(gzipBytes)} gzip`, `${mib(snapshotBytes)} snapshot`, "what S3 stores / what snapshot save writes"],
            );
        }
    } finally {
        moto.stop();
        rmSync(work, { recursive: true, force: true });
    }
    console.log(
        `etcd ${version}, 1 member on loopback, values of ${valueBytes} bytes, S3 = moto on loopback; ${rounds} rounds, min / median / max\n` +
            `machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}`,
    );
    const header = ["metric", "tools", "floor", "what the tools do"];
    const table = [header, ...rows];
    const widths = header.map((_, col) => Math.max(...table.map((r) => r[col].length)));
    for (const r of table)
        console.log(
            r
                .map((cell, col) => cell.padEnd(widths[col]))
                .join("  ")
                .trimEnd(),
        );
}

main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
});
