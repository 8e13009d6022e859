// Package lists and packages of other suites of the machine's own archive, through a private apt configuration
// (own lists and cache), so that the machine's apt state is never touched. Only the suite differs from the
// machine's own source line.
import { spawnSync, SpawnSyncOptions } from "child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "fs";
import { join } from "path";
import { AptSource, OsRelease, sourceLineForSuite } from "./aptSources";
import { SuitePackages } from "./releaseSources";

/** Runs a command to completion (never throws on a non-zero exit). */
export function run(command: string, args: string[], options: SpawnSyncOptions = {}): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...options });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
}

function mustRun(command: string, args: string[], options: SpawnSyncOptions = {}): string {
    const r = run(command, args, options);
    if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${r.status}): ${r.stderr.trim()}`);
    return r.stdout;
}

export class SuiteIndex {
    private readonly options: string[];
    private readonly suites: string[] = [];

    constructor(
        private readonly archive: AptSource,
        private readonly os: OsRelease,
        /** Directory of the private lists and cache. */
        private readonly dir: string,
        private readonly log: (message: string) => void = () => undefined,
    ) {
        this.options = [
            "-o",
            `Dir::Etc::SourceList=${join(dir, "sources.list")}`,
            "-o",
            "Dir::Etc::SourceParts=/dev/null",
            "-o",
            `Dir::State::Lists=${join(dir, "lists")}`,
            "-o",
            `Dir::Cache=${join(dir, "cache")}`,
            "-o",
            "APT::Get::List-Cleanup=0",
        ];
        mkdirSync(join(dir, "lists", "partial"), { recursive: true });
        mkdirSync(join(dir, "cache", "archives", "partial"), { recursive: true });
    }

    /** Fetches the package lists of `suites`; a suite the mirror lacks comes back without packages. */
    fetch(suites: string[]): SuitePackages[] {
        this.suites.push(...suites.filter((s) => !this.suites.includes(s)));
        writeFileSync(join(this.dir, "sources.list"), this.suites.map((s) => sourceLineForSuite(this.archive, s, this.os)).join("\n") + "\n");
        this.log(`fetching the package lists of ${suites.join(", ")} from ${this.archive.uris[0]} (private lists under ${this.dir})`);
        // A suite missing from the mirror makes apt-get fail after fetching the others: that suite is reported below.
        const update = run("apt-get", [...this.options, "update", "-qq"]);
        if (update.status !== 0) this.log(`apt-get update: ${update.stderr.trim().split("\n").slice(-3).join(" | ")}`);
        const targets = run("apt-get", [...this.options, "indextargets", "--format", "$(RELEASE) $(FILENAME)", "Created-By: Packages"]).stdout;
        return suites.map((suite) => {
            const files = targets
                .split("\n")
                .map((l) => l.split(" "))
                .filter(([release, file]) => release === suite && file && existsSync(file))
                .map(([, file]) => file);
            if (!files.length) return { suite };
            // Only the etcd stanzas matter: filtered here so that a 60 MB index never reaches Node.
            const packages = files
                .map((file) =>
                    mustRun("sh", [
                        "-c",
                        `/usr/lib/apt/apt-helper cat-file "$1" | awk 'BEGIN { RS = ""; ORS = "\\n\\n" } /^Package: etcd-(server|client)\\n/'`,
                        "sh",
                        file,
                    ]),
                )
                .join("");
            return { suite, packages };
        });
    }

    /** Downloads etcd-server and etcd-client at `packageVersion` and unpacks them; returns the directory holding the binaries. */
    unpack(packageVersion: string, work: string): string {
        mustRun("apt-get", [...this.options, "download", "-qq", `etcd-server=${packageVersion}`, `etcd-client=${packageVersion}`], { cwd: work });
        const root = join(work, "root");
        for (const deb of readdirSync(work).filter((f) => f.endsWith(".deb"))) {
            mustRun("dpkg-deb", ["-x", join(work, deb), root]);
        }
        return join(root, "usr", "bin");
    }
}
