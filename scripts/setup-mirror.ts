// Second half of `npm run setup`: fills the local release mirror (.cache/etcd-mirror) with a 3.4, the newest
// 3.5 and, when a source has one, a 3.6, each in the upstream tarball layout, from the best source available:
// the official release checked against the pinned checksum table when its download answers, otherwise the
// distribution's packages (the machine's own etcd-server, then other suites of its own archive). The choices
// are made by scripts/lib/mirror/releaseSources.ts; this file only runs curl, apt-get and dpkg-deb.
//
// Options (for a mirror of the official layout, and for tests against a local server): --mirror DIR, and the
// environment variables ETCD_RELEASE_BASE_URL (replaces https://github.com/etcd-io/etcd/releases/download) and
// ETCD_RELEASE_CA_FILE (CA bundle for curl). Checksums are always the pinned ones.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join, resolve } from "path";
import { pinnedVersions } from "../components/releases";
import { AptSource, distributionArchive, parseDeb822Sources, parseOneLineSources, parseOsRelease } from "./lib/mirror/aptSources";
import { run, SuiteIndex } from "./lib/mirror/aptSuites";
import { downloadRelease, mirroredVersions, packDirectory, probeRelease, ReleaseDownload, releaseUrl } from "./lib/local/localRelease";
import {
    describeSource,
    extraSuites,
    lineOf,
    MirrorPlan,
    PackagedRelease,
    packagedReleases,
    planMirror,
    PlannedRelease,
    requiredLines,
    SuitePackages,
    upstreamVersion,
} from "./lib/mirror/releaseSources";

const repo = join(__dirname, "..");
const log = (message: string) => console.error(`setup: ${message}`);

/** The machine's apt sources, deb822 and one-line. */
function machineAptSources(): AptSource[] {
    const dir = "/etc/apt/sources.list.d";
    const files = existsSync(dir) ? readdirSync(dir).sort() : [];
    const read = (file: string) => readFileSync(file, "utf8");
    return [
        ...files.filter((f) => f.endsWith(".sources")).flatMap((f) => parseDeb822Sources(read(join(dir, f)))),
        ...(existsSync("/etc/apt/sources.list") ? parseOneLineSources(read("/etc/apt/sources.list")) : []),
        ...files.filter((f) => f.endsWith(".list")).flatMap((f) => parseOneLineSources(read(join(dir, f)))),
    ];
}

/** The machine's own etcd-server package, when installed. */
function installedPackage(): { version: string; packageVersion: string } | undefined {
    const r = run("dpkg-query", ["-W", "-f", "${Status} ${Version}", "etcd-server"]);
    const m = /^install ok installed (\S+)$/.exec(r.stdout.trim());
    const version = m ? upstreamVersion(m[1]) : undefined;
    return m && version ? { version, packageVersion: m[1] } : undefined;
}

function parseArgs(argv: string[]): { mirrorDir: string } {
    let mirrorDir = join(repo, ".cache", "etcd-mirror");
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--mirror" && argv[i + 1]) mirrorDir = resolve(argv[++i]);
        else throw new Error(`unknown option ${argv[i]}; usage: ts-node scripts/setup-mirror.ts [--mirror DIR]`);
    }
    return { mirrorDir };
}

function main(): void {
    const { mirrorDir } = parseArgs(process.argv.slice(2));
    mkdirSync(mirrorDir, { recursive: true });
    const held = mirroredVersions(mirrorDir);
    const heldLines = new Set(held.map(lineOf));
    if (requiredLines.every((line) => heldLines.has(line))) {
        log(`the mirror already holds ${held.join(", ")} (remove ${mirrorDir} to fill it again)`);
        return;
    }

    const download: ReleaseDownload = { baseUrl: process.env.ETCD_RELEASE_BASE_URL || undefined, caFile: process.env.ETCD_RELEASE_CA_FILE || undefined };
    const pinned = pinnedVersions().map((v) => v.text);
    const probeVersion = pinned.filter((v) => lineOf(v) === "3.5").pop()!;
    const probe = probeRelease(probeVersion, download);
    log(
        probe.reachable ? `official releases: ${probe.detail} answers` : `official releases not reachable (${probe.detail}); using the distribution's packages`,
    );

    const installed = installedPackage();
    const input = { online: probe.reachable, pinnedVersions: pinned, installed, packaged: [] as PackagedRelease[], mirrored: held };
    let plan: MirrorPlan = planMirror(input);
    // Official downloads first, before any package list is fetched: a checksum mismatch stops setup here.
    const filled = new Set<string>();
    for (const r of plan.releases.filter((r) => r.source.kind === "official")) {
        log(describeSource(r, releaseUrl(r.version, download.baseUrl)));
        fill(r, mirrorDir, download, undefined);
        filled.add(r.version);
    }

    // Other suites of the machine's archive, only when the official releases and the machine's own package leave a need.
    const os = parseOsRelease(existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "");
    const suites = extraSuites[os.id];
    const newer = suites?.newer ?? [];
    const older = (suites?.older ?? []).filter((s) => s !== os.codename);
    const needNewer = !probe.reachable;
    const needOlder = () => plan.missing.length > 0;
    let index: SuiteIndex | undefined;
    if (installed) log(`this machine's etcd-server package: ${installed.packageVersion}`);
    else log("no etcd-server package installed on this machine");
    if ((needNewer || needOlder()) && !suites) {
        log(`${os.id || "this distribution"}: no known suites with etcd packages (Debian and Ubuntu are); using what the machine has`);
    } else if (needNewer || needOlder()) {
        const archive = distributionArchive(machineAptSources(), os);
        if (!archive) {
            log(`no ${os.id} ${os.codename} archive found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources`);
        } else {
            index = new SuiteIndex(archive, os, join(repo, ".cache", "apt-suites"), log);
            const lists: SuitePackages[] = [];
            for (const group of [needNewer ? newer : [], older]) {
                if (!group.length || (group === older && !needOlder())) continue;
                lists.push(...index.fetch(group));
                const found = packagedReleases(lists);
                input.packaged = found.releases;
                for (const note of found.notes) log(note);
                plan = planMirror(input);
            }
        }
    }

    for (const line of plan.absent) log(`etcd ${line}: no source offers one (optional: the tests need 3.4 and 3.5)`);
    for (const r of plan.releases.filter((r) => !filled.has(r.version))) {
        log(describeSource(r, releaseUrl(r.version, download.baseUrl)));
        fill(r, mirrorDir, download, index);
    }
    if (plan.missing.length) {
        throw new Error(
            plan.missing.map((m) => `etcd ${m.line}: ${m.reason}`).join("\n") +
                "\nThe tests need a release of each of these lines: connect this machine to the internet, or pass a directory of etcd binaries to `npm run local -- --etcd-dir DIR` once to add it to the mirror.",
        );
    }
    log(`mirror ${mirrorDir}: ${mirroredVersions(mirrorDir).join(", ")}`);
}

function fill(r: PlannedRelease, mirrorDir: string, download: ReleaseDownload, index: SuiteIndex | undefined): void {
    const check = (version: string, from: string) => {
        if (version !== r.version) throw new Error(`${from} holds etcd ${version}, expected ${r.version}`);
    };
    switch (r.source.kind) {
        case "mirror":
            return;
        case "official": {
            const release = downloadRelease(r.version, mirrorDir, download);
            log(`mirror: ${release.tarball} (sha256 ${release.sha256.slice(0, 12)}..., the pinned sum)`);
            return;
        }
        case "installed": {
            const release = packDirectory("/usr/bin", mirrorDir);
            check(release.version, "/usr/bin/etcd");
            log(`mirror: ${release.tarball} (sha256 ${release.sha256.slice(0, 12)}...)`);
            return;
        }
        case "package": {
            const work = mkdtempSync(join(tmpdir(), "etcd-package-"));
            try {
                const release = packDirectory(index!.unpack(r.source.packageVersion, work), mirrorDir);
                check(release.version, `etcd-server ${r.source.packageVersion}`);
                log(`mirror: ${release.tarball} (sha256 ${release.sha256.slice(0, 12)}...)`);
            } finally {
                rmSync(work, { recursive: true, force: true });
            }
        }
    }
}

try {
    main();
} catch (e) {
    log(`ERROR: ${(e as Error).message}`);
    process.exit(1);
}
