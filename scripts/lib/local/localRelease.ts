// Finds the etcd release a local cluster boots, as a tarball in the local mirror (upstream layout):
// a version already mirrored, etcd binaries from a given directory or from this machine's PATH, or the
// official release downloaded and checked against the pinned checksum when the machine is online.
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { defaultVersion, officialReleaseUrl, pinnedChecksum } from "../../../components/releases";

export interface LocalRelease {
    version: string;
    /** Relative to the mirror directory. */
    tarball: string;
    sha256: string;
}

const tarballName = (version: string) => `etcd-v${version}-linux-amd64.tar.gz`;
const relative = (version: string) => `v${version}/${tarballName(version)}`;
const sha256File = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

function compareVersions(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < 3; i++) {
        if (pa[i] !== pb[i]) return pa[i] - pb[i];
    }
    return 0;
}

/** Versions with a tarball in the mirror, newest first. */
export function mirroredVersions(mirrorDir: string): string[] {
    if (!existsSync(mirrorDir)) return [];
    return readdirSync(mirrorDir)
        .filter((d) => /^v\d+\.\d+\.\d+$/.test(d) && existsSync(join(mirrorDir, d, tarballName(d.slice(1)))))
        .map((d) => d.slice(1))
        .sort(compareVersions)
        .reverse();
}

function binaryVersion(etcd: string): string | undefined {
    const r = spawnSync(etcd, ["--version"], { encoding: "utf8" });
    return /etcd Version: (\d+\.\d+\.\d+)/.exec(r.stdout ?? "")?.[1];
}

/** Packs etcd, etcdctl (and etcdutl when present) from a directory into the mirror. */
export function packDirectory(dir: string, mirrorDir: string): LocalRelease {
    const version = binaryVersion(join(dir, "etcd"));
    if (!version) {
        throw new Error(`${dir}/etcd: not an etcd binary (etcd --version printed no version)`);
    }
    const work = mkdtempSync(join(tmpdir(), "etcd-pack-"));
    try {
        const top = join(work, `etcd-v${version}-linux-amd64`);
        mkdirSync(top);
        for (const binary of ["etcd", "etcdctl", "etcdutl"]) {
            if (existsSync(join(dir, binary))) copyFileSync(join(dir, binary), join(top, binary));
        }
        if (!existsSync(join(top, "etcdctl"))) {
            throw new Error(`${dir}: etcdctl is missing next to etcd`);
        }
        mkdirSync(join(mirrorDir, `v${version}`), { recursive: true });
        execFileSync("tar", ["-czf", join(mirrorDir, relative(version)), "-C", work, "--owner=0", "--group=0", "--sort=name", `etcd-v${version}-linux-amd64`]);
    } finally {
        rmSync(work, { recursive: true, force: true });
    }
    return mirrored(version, mirrorDir);
}

function mirrored(version: string, mirrorDir: string): LocalRelease {
    const sha256 = sha256File(join(mirrorDir, relative(version)));
    writeFileSync(join(mirrorDir, `v${version}`, "SHA256SUMS"), `${sha256}  ${tarballName(version)}\n`);
    return { version, tarball: relative(version), sha256 };
}

/** curl's error text once: with --retry it prints the same line for every attempt. */
export function curlFailure(stderr: string): string {
    const lines = stderr
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
    const distinct = [...new Set(lines)];
    const attempts = lines.length > distinct.length ? ` (${lines.length} attempts)` : "";
    return `${distinct.join("; ")}${attempts}`;
}

/**
 * Where a release is downloaded from. The defaults are the official release and the pinned checksum table;
 * tests point `baseUrl` (a server in the upstream layout, `<baseUrl>/v<V>/etcd-v<V>-linux-amd64.tar.gz`),
 * `caFile` (its CA, for curl) and `checksumOf` at a local server and its own release.
 */
export interface ReleaseDownload {
    baseUrl?: string;
    caFile?: string;
    checksumOf?: (version: string) => string | undefined;
}

/** The release tarball's URL: the official one, or the same layout under `baseUrl`. */
export const releaseUrl = (version: string, baseUrl?: string) =>
    baseUrl ? `${baseUrl.replace(/\/+$/, "")}/${relative(version)}` : officialReleaseUrl(version, "amd64");

/**
 * Whether the release download answers within a few seconds (a HEAD request; redirects followed). Offline
 * machines often drop packets rather than refuse them: the short timeouts keep setup's fallback quick. A
 * download host that refuses HEAD after the redirect (403, 405) still counts: it answered, and GET is what
 * the download uses.
 */
export function probeRelease(version: string, source: ReleaseDownload = {}, timeoutSeconds = 5): { reachable: boolean; detail: string } {
    const url = releaseUrl(version, source.baseUrl);
    const r = spawnSync(
        "curl",
        [
            "--head",
            "--silent",
            "--show-error",
            "--location",
            "--connect-timeout",
            String(Math.min(3, timeoutSeconds)),
            "--max-time",
            String(timeoutSeconds),
            ...(source.caFile ? ["--cacert", source.caFile] : []),
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code} %{num_redirects}",
            url,
        ],
        { encoding: "utf8" },
    );
    if (r.status !== 0) {
        return { reachable: false, detail: `${url}: ${(r.stderr ?? "").trim() || `curl exit ${r.status}`}` };
    }
    const [code, redirects] = (r.stdout ?? "").trim().split(" ").map(Number);
    const reachable = (code >= 200 && code < 400) || ([403, 405].includes(code) && redirects > 0);
    return reachable ? { reachable, detail: url } : { reachable, detail: `${url}: HTTP ${code}` };
}

/** The file's SHA-256 compared with the expected one; a mismatch names both. */
export function checkSha256(file: string, expected: string, what: string): void {
    const actual = sha256File(file);
    if (actual !== expected) {
        throw new Error(`${what} has SHA-256 ${actual}, expected the pinned ${expected}; not used`);
    }
}

/** Downloads the release and keeps it only when it matches the pinned checksum. */
export function downloadRelease(version: string, mirrorDir: string, source: ReleaseDownload = {}): LocalRelease {
    const pinned = (source.checksumOf ?? ((v: string) => pinnedChecksum(v, "amd64")))(version);
    if (!pinned) {
        throw new Error(`etcd ${version} has no pinned checksum; give --etcd-dir instead`);
    }
    mkdirSync(join(mirrorDir, `v${version}`), { recursive: true });
    const target = join(mirrorDir, relative(version));
    const r = spawnSync(
        "curl",
        [
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--retry",
            "3",
            "--max-time",
            "120",
            ...(source.caFile ? ["--cacert", source.caFile] : []),
            "--output",
            `${target}.part`,
            releaseUrl(version, source.baseUrl),
        ],
        {
            encoding: "utf8",
        },
    );
    if (r.status !== 0) {
        rmSync(`${target}.part`, { force: true });
        throw new Error(`download of etcd ${version} failed: ${curlFailure(r.stderr ?? "")}`);
    }
    try {
        checkSha256(`${target}.part`, pinned, `downloaded etcd ${version}`);
    } catch (e) {
        rmSync(`${target}.part`, { force: true });
        throw e;
    }
    execFileSync("mv", [`${target}.part`, target]);
    return mirrored(version, mirrorDir);
}

/**
 * The release to boot: `version` from the mirror; else etcd from `etcdDir`; else etcd on PATH; else a
 * download of `version` (or the default version). Errors list every source that was tried.
 */
export function findRelease(o: { mirrorDir: string; version?: string; etcdDir?: string; download?: ReleaseDownload }): LocalRelease {
    mkdirSync(o.mirrorDir, { recursive: true });
    if (o.etcdDir) {
        const packed = packDirectory(o.etcdDir, o.mirrorDir);
        if (o.version && packed.version !== o.version) {
            throw new Error(`--etcd-dir ${o.etcdDir} holds etcd ${packed.version}, not the requested ${o.version}`);
        }
        return packed;
    }
    const available = mirroredVersions(o.mirrorDir);
    const wanted = o.version ?? available[0];
    if (wanted && available.includes(wanted)) {
        return mirrored(wanted, o.mirrorDir);
    }
    const tried: string[] = [`mirror ${o.mirrorDir}: ${available.length ? available.join(", ") : "empty"}`];
    const onPath = spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).stdout?.trim();
    if (onPath) {
        const version = binaryVersion(onPath);
        if (version && (!o.version || version === o.version)) {
            return packDirectory(onPath.replace(/\/etcd$/, ""), o.mirrorDir);
        }
        tried.push(`${onPath}: etcd ${version ?? "unknown"}`);
    } else {
        tried.push("no etcd on PATH");
    }
    const version = o.version ?? defaultVersion();
    try {
        return downloadRelease(version, o.mirrorDir, o.download);
    } catch (e) {
        tried.push((e as Error).message);
    }
    throw new Error(
        `no etcd ${o.version ?? ""} release found. Tried: ${tried.join("; ")}. ` +
            "Run `npm run setup` (fills the mirror with a 3.4 and the newest 3.5), or pass --etcd-dir DIR holding etcd and etcdctl.",
    );
}
