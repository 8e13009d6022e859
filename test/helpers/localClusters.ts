import { spawnSync } from "child_process";
import { join } from "path";
import { existsSync } from "fs";
import { LocalCluster, memberImage, runner } from "../../scripts/lib/local/localCluster";
import { LocalPlan } from "../../scripts/lib/local/localRender";
import { LocalRelease } from "../../scripts/lib/local/localRelease";

const repo = join(__dirname, "..", "..");

export interface BootOptions {
    name: string;
    networkIndex: number;
    version: string;
    size?: number;
    zones?: number;
    auth?: boolean;
    /** s3://bucket/key: the new cluster is restored from that backup (`--restore`). */
    restoreFrom?: string;
    /** The stack's tuning.quotaBackendBytes (the members' volumes are sized for it). */
    quotaBytes?: number;
    /** Backups off (backup.enabled false). */
    noBackup?: boolean;
}

/**
 * Boots a local cluster with `npm run local`'s own entry point (in a child process: the rendering installs
 * process-wide Pulumi mocks) and returns it once every member reports healthy.
 */
export function bootLocalCluster(o: BootOptions): LocalCluster {
    return JSON.parse(runLocal(o, [])).cluster as LocalCluster;
}

/** The rendered plan only (user-data, parameters, client credentials), without booting anything. */
export function renderLocalCluster(o: BootOptions): { plan: LocalPlan; release: LocalRelease; networkPrefix: string } {
    return JSON.parse(runLocal(o, ["--plan-only"]));
}

function runLocal(o: BootOptions, extra: string[]): string {
    const args = [
        join(repo, "scripts", "local.ts"),
        ...extra,
        "--json",
        "--name",
        o.name,
        "--network-index",
        String(o.networkIndex),
        "--etcd-version",
        o.version,
        "--size",
        String(o.size ?? 3),
        "--zones",
        String(o.zones ?? 3),
        ...(o.auth ? ["--auth"] : []),
        ...(o.restoreFrom ? ["--restore", o.restoreFrom] : []),
        ...(o.quotaBytes !== undefined ? ["--quota-bytes", String(o.quotaBytes)] : []),
        ...(o.noBackup ? ["--no-backup"] : []),
    ];
    const r = spawnSync(join(repo, "node_modules", ".bin", "ts-node"), ["--transpile-only", ...args], {
        cwd: repo,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) {
        throw new Error(`local cluster ${o.name} did not come up (exit ${r.status}):\n${r.stderr}`);
    }
    return r.stdout;
}

/** Fails with the reason when the member image (built by `npm run setup`) is missing. */
export function requireMemberImage(): void {
    if (!existsSync(join(memberImage, "lib", "systemd", "systemd"))) {
        throw new Error(`prerequisite missing: the member image ${memberImage}; run \`npm run setup\` first`);
    }
    // Which runner booted the members, in the test log.
    process.stderr.write(`local members: ${runner} containers with systemd and cloud-init (${memberImage})\n`);
}
