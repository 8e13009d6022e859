// Which etcd releases `npm run setup` puts into the local release mirror, and from where: pure functions of the
// package lists, the pinned checksum table and what the mirror already holds, so every choice is testable
// without a network.

/** The minor lines the local tests and the bench run; 3.6 is added when a source has it. */
export const requiredLines = ["3.4", "3.5"] as const;
export const optionalLines = ["3.6"] as const;
export type Line = (typeof requiredLines)[number] | (typeof optionalLines)[number];
const allLines: readonly Line[] = [...requiredLines, ...optionalLines];

/**
 * Other suites of the machine's own archive that carry etcd lines its own release may lack: `newer` for the
 * newest 3.5 (and 3.6 once packaged), `older` for a 3.4 when the release itself has none (Debian 13 ships 3.5;
 * Ubuntu 22.04 ships 3.3). Only the suite of the machine's apt source changes, never the host.
 */
export const extraSuites: Readonly<Record<string, { newer: string[]; older: string[] }>> = {
    debian: { newer: ["unstable", "experimental"], older: ["bookworm"] },
    ubuntu: { newer: ["devel"], older: ["noble"] },
};

const versionPattern = /^(\d+)\.(\d+)\.(\d+)$/;

export const lineOf = (version: string) => version.split(".").slice(0, 2).join(".");

/** Orders upstream versions ("3.5.9" before "3.5.30"). */
export function compareVersions(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
}

/** The upstream version in a Debian or Ubuntu package version: "1:3.5.30-2" and "3.4.30-1ubuntu0.24.04.1" give 3.5.30 and 3.4.30. */
export function upstreamVersion(packageVersion: string): string | undefined {
    const m = /^(?:\d+:)?(\d+\.\d+\.\d+)(?:[+~-]|$)/.exec(packageVersion.trim());
    return m && versionPattern.test(m[1]) ? m[1] : undefined;
}

/** `Package` and `Version` of every stanza of a Packages index (as served in dists/SUITE/COMPONENT/binary-ARCH/). */
export function parsePackageIndex(text: string): { name: string; version: string }[] {
    const entries: { name: string; version: string }[] = [];
    for (const stanza of text.split(/\n\s*\n/)) {
        const name = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
        const version = /^Version:\s*(\S+)/m.exec(stanza)?.[1];
        if (name && version) entries.push({ name, version });
    }
    return entries;
}

/** A suite's package index; `packages` is undefined when the mirror has no such suite. */
export interface SuitePackages {
    suite: string;
    packages?: string;
}

/** An etcd release that a suite packages as etcd-server and etcd-client of the same version. */
export interface PackagedRelease {
    version: string;
    packageVersion: string;
    suite: string;
}

/** etcd releases in the given suites (in the order given), with a note for each suite that has none. */
export function packagedReleases(lists: SuitePackages[]): { releases: PackagedRelease[]; notes: string[] } {
    const releases: PackagedRelease[] = [];
    const notes: string[] = [];
    for (const { suite, packages } of lists) {
        if (packages === undefined) {
            notes.push(`suite ${suite}: not on this mirror`);
            continue;
        }
        const entries = parsePackageIndex(packages);
        const clientVersions = new Set(entries.filter((e) => e.name === "etcd-client").map((e) => e.version));
        const servers = entries.filter((e) => e.name === "etcd-server");
        if (!servers.length) {
            notes.push(`suite ${suite}: no etcd-server package`);
            continue;
        }
        for (const server of servers) {
            const version = upstreamVersion(server.version);
            if (!clientVersions.has(server.version)) {
                notes.push(`suite ${suite}: etcd-server ${server.version} has no etcd-client of the same version`);
            } else if (!version) {
                notes.push(`suite ${suite}: etcd-server ${server.version} is not a release version`);
            } else if (!allLines.includes(lineOf(version) as Line)) {
                notes.push(`suite ${suite}: etcd ${version} is not a line the tests run (${allLines.join(", ")})`);
            } else {
                releases.push({ version, packageVersion: server.version, suite });
            }
        }
    }
    return { releases, notes };
}

/** Where one release of the mirror comes from. */
export type ReleaseSource =
    { kind: "mirror" } | { kind: "official" } | { kind: "installed"; packageVersion: string } | { kind: "package"; suite: string; packageVersion: string };

export interface PlannedRelease {
    line: Line;
    version: string;
    source: ReleaseSource;
}

export interface MirrorPlanInput {
    /** The official download answered the reachability probe. */
    online: boolean;
    /** Versions with a pinned amd64 checksum. */
    pinnedVersions: string[];
    /** The machine's own etcd-server package, when installed. */
    installed?: { version: string; packageVersion: string };
    /** Releases packaged by other suites, preferred in the order given on equal versions. */
    packaged: PackagedRelease[];
    /** Versions the mirror already holds. */
    mirrored: string[];
}

export interface MirrorPlan {
    releases: PlannedRelease[];
    /** Required lines no source offers, with the reason. */
    missing: { line: Line; reason: string }[];
    /** Optional lines no source offers. */
    absent: Line[];
}

const newest = (versions: string[]) => [...versions].sort(compareVersions).pop();

/**
 * Per line: the official release (the newest pinned one of its line) when online; otherwise the newest version
 * that the machine's own package or another suite offers. A line the mirror already holds at that version or a
 * newer one is kept as is.
 */
export function planMirror(input: MirrorPlanInput): MirrorPlan {
    const plan: MirrorPlan = { releases: [], missing: [], absent: [] };
    for (const line of allLines) {
        const inLine = (v: string) => lineOf(v) === line;
        let chosen: PlannedRelease | undefined;
        const official = newest(input.pinnedVersions.filter(inLine));
        if (input.online && official) {
            chosen = { line, version: official, source: { kind: "official" } };
        } else {
            const candidates: PlannedRelease[] = [];
            if (input.installed && inLine(input.installed.version)) {
                candidates.push({ line, version: input.installed.version, source: { kind: "installed", packageVersion: input.installed.packageVersion } });
            }
            for (const p of input.packaged.filter((r) => inLine(r.version))) {
                candidates.push({ line, version: p.version, source: { kind: "package", suite: p.suite, packageVersion: p.packageVersion } });
            }
            // A stable sort keeps the first source (the machine's own) among equal versions.
            chosen = candidates.sort((a, b) => compareVersions(b.version, a.version))[0];
        }
        const held = newest(input.mirrored.filter(inLine));
        if (held && (!chosen || compareVersions(held, chosen.version) >= 0)) {
            chosen = { line, version: held, source: { kind: "mirror" } };
        }
        if (chosen) {
            plan.releases.push(chosen);
        } else if ((requiredLines as readonly string[]).includes(line)) {
            const reasons = [
                official ? "the official download is not reachable" : `no pinned checksum for a ${line} release, so no official download`,
                `no etcd-server ${line} package in the machine's release or the suites searched`,
            ];
            plan.missing.push({ line, reason: reasons.join("; ") });
        } else {
            plan.absent.push(line);
        }
    }
    return plan;
}

/** One line of setup's report: which release, from which source. */
export function describeSource(r: PlannedRelease, officialUrl: string): string {
    switch (r.source.kind) {
        case "mirror":
            return `etcd ${r.version}: already in the mirror`;
        case "official":
            return `etcd ${r.version}: official release tarball ${officialUrl}, SHA-256 checked against the pinned table`;
        case "installed":
            return `etcd ${r.version}: this machine's own etcd-server package ${r.source.packageVersion}`;
        case "package":
            return `etcd ${r.version}: package etcd-server ${r.source.packageVersion} from suite ${r.source.suite}`;
    }
}
