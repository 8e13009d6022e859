// Finds references in the repository's code, tests, scripts and configuration to files outside the repository:
// relative paths that climb above its root, and absolute paths into directories of this host that are neither
// system directories nor the repository. The repository must run and test from a fresh clone anywhere, with
// nothing beside it.
import { spawnSync } from "child_process";
import { existsSync, readdirSync, statSync } from "fs";
import { dirname, extname, join, relative, resolve, sep } from "path";

export interface OutsideReference {
    file: string;
    line: number;
    text: string;
    reason: string;
}

/** Top-level directories of any Linux host (and of an EC2 member); a path under them is not a repository file. */
const systemRoots = new Set(["bin", "boot", "dev", "etc", "lib", "lib64", "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"]);

const scannedExtensions = new Set([".ts", ".js", ".mjs", ".cjs", ".sh", ".json", ".yaml", ".yml"]);
const skipped = new Set(["package-lock.json"]);

/** Files of the repository that are code, tests, scripts or configuration (tracked, or new and not ignored). */
export function repositoryFiles(root: string): string[] {
    const git = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" });
    const all = git.status === 0 ? git.stdout.split("\n").filter(Boolean) : walk(root, root).filter((f) => !/^(node_modules|\.git|\.cache|bin)\//.test(f));
    return all.filter((f) => {
        const name = f.split("/").pop() ?? f;
        if (skipped.has(name)) return false;
        // Extensionless files under .ci or bin-like script folders are shell scripts.
        return scannedExtensions.has(extname(name)) || (extname(name) === "" && /^\.(ci|github)\//.test(f));
    });
}

function walk(root: string, dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
        const full = join(dir, name);
        if (name === "node_modules" || name === ".git") return [];
        return statSync(full).isDirectory() ? walk(root, full) : [relative(root, full)];
    });
}

const inside = (root: string, target: string) => target === root || target.startsWith(root + sep);

/**
 * References to paths outside `root` in the text of `file` (a path relative to `root`). The component's sources
 * also run compiled, from bin/components/ (the published package's layout): a path is inside when it stays in
 * the repository from either place.
 */
export function outsideReferences(root: string, file: string, text: string, hostHasDirectory = (d: string) => existsSync(d)): OutsideReference[] {
    const found: OutsideReference[] = [];
    const fileDirs = [dirname(resolve(root, file)), ...(file.startsWith("components/") ? [dirname(resolve(root, "bin", file))] : [])];
    const staysInside = (...segments: string[]) => fileDirs.some((d) => inside(root, resolve(d, ...segments)));
    const lines = text.split("\n");
    lines.forEach((line, i) => {
        const report = (reason: string) => found.push({ file, line: i + 1, text: line.trim(), reason });
        // 1. A relative path with parent steps, resolved from the file's own directory (imports, data files).
        for (const m of line.matchAll(/(?<![\w.])((?:\.\.\/)+)([\w.$@{}-]*)/g)) {
            if (!staysInside(m[1])) report(`${m[0]} climbs above the repository root`);
        }
        // 2. join/resolve(__dirname, "..", "..", ...): the same, spelled as segments.
        for (const m of line.matchAll(/\b(?:join|resolve)\(\s*__dirname((?:\s*,\s*["'][^"']*["'])+)/g)) {
            const segments = [...m[1].matchAll(/["']([^"']*)["']/g)].map((s) => s[1]);
            if (!staysInside(...segments)) report(`__dirname joined with ${segments.join(", ")} leaves the repository`);
        }
        // 3. Shell: "$(dirname "$0")/../.." or the BASH_SOURCE spelling.
        for (const m of line.matchAll(/dirname "\$(?:0|\{BASH_SOURCE\[0\]\})"\)((?:\/\.\.)+)/g)) {
            if (!staysInside(`.${m[1]}`)) report(`the script's directory${m[1]} leaves the repository`);
        }
        // 4. An absolute path beside the repository, or into a directory of this host other than the system ones
        //    (a home, a work area). Key and parameter names such as /etcd/... are not on the host.
        for (const m of line.matchAll(/(?<![\w.:/$}>\\-])\/([A-Za-z][\w.-]*)\/[\w./-]*/g)) {
            const top = `/${m[1]}`;
            const besideRepository = m[0].startsWith(`${dirname(root)}/`) && !inside(root, m[0]);
            if (besideRepository || (!systemRoots.has(m[1]) && !inside(root, m[0]) && hostHasDirectory(top))) {
                report(`absolute path ${m[0]} is outside the repository`);
            }
        }
    });
    return found;
}
