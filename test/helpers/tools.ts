import { spawnSync, SpawnSyncOptions } from "child_process";

export interface RunResult {
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs a command to completion and returns its exit status and output (never throws on a non-zero exit). */
export function run(command: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
    const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options });
    if (r.error) {
        throw r.error;
    }
    return { status: r.status ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
}

/**
 * Fails with the reason when a prerequisite is missing: integration tests never skip silently.
 * `debianPackage` names what `npm run setup` installs to provide it.
 */
export function requireTool(tool: string, debianPackage: string): void {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
    if (found.status !== 0) {
        throw new Error(`prerequisite missing: ${tool} (Debian package ${debianPackage}); run \`npm run setup\` first`);
    }
}

/** Fails with the reason unless the tests run as root (network and mount namespaces need it). */
export function requireRoot(why: string): void {
    if (process.getuid?.() !== 0) {
        throw new Error(`prerequisite missing: root privileges (${why}); run the tests as root`);
    }
}
