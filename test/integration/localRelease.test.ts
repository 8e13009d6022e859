// How `npm run local` and `npm run setup` get the etcd they boot: a directory of binaries is packed into the
// mirror in the upstream layout; the official download is fetched from a local HTTPS server on loopback that
// serves a release in the upstream layout (with its own CA), kept when its SHA-256 matches and refused when it
// does not; when nothing fits, the error lists every source it tried.
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import { pinnedChecksum, pinnedVersions } from "../../components/releases";
import { findRelease, probeRelease } from "../../scripts/lib/local/localRelease";
import { HttpsFileServer, startHttpsFileServer } from "../helpers/httpsFileServer";
import { requireTool, run } from "../helpers/tools";

jest.setTimeout(60_000);

const repo = join(__dirname, "..", "..");
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const tarballName = (version: string) => `etcd-v${version}-linux-amd64.tar.gz`;

let mirror: string;
let etcdDir: string;
/** The version of the etcd on PATH, as it reports it. */
let pathVersion: string;
beforeAll(() => {
    requireTool("etcd", "etcd-server");
    requireTool("etcdctl", "etcd-client");
    requireTool("openssl", "openssl");
    requireTool("curl", "curl");
    etcdDir = dirname(run("sh", ["-c", "command -v etcd"]).stdout.trim());
    pathVersion = /etcd Version: (\d+\.\d+\.\d+)/.exec(run(join(etcdDir, "etcd"), ["--version"]).stdout)![1];
});
beforeEach(() => (mirror = mkdtempSync(join(tmpdir(), "etcd-mirror-"))));
afterEach(() => rmSync(mirror, { recursive: true, force: true }));

describe("binaries from a directory", () => {
    test("are packed as etcd-vX-linux-amd64.tar.gz with their checksum, and found again in the mirror", () => {
        const release = findRelease({ mirrorDir: mirror, etcdDir });
        expect(release.version).toBe(pathVersion);
        expect(release.tarball).toBe(`v${pathVersion}/${tarballName(pathVersion)}`);
        const tarball = join(mirror, release.tarball);
        expect(sha256(tarball)).toBe(release.sha256);
        expect(readFileSync(join(mirror, `v${pathVersion}`, "SHA256SUMS"), "utf8")).toBe(`${release.sha256}  ${tarballName(pathVersion)}\n`);
        const top = `etcd-v${pathVersion}-linux-amd64`;
        const expected = [`${top}/`, `${top}/etcd`, `${top}/etcdctl`, ...(existsSync(join(etcdDir, "etcdutl")) ? [`${top}/etcdutl`] : [])];
        expect(execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort()).toEqual(expected.sort());
        expect(findRelease({ mirrorDir: mirror, version: pathVersion })).toEqual(release);
    });

    test("holding another version than the one asked for, are refused", () => {
        const other = pathVersion === "3.5.99" ? "3.5.98" : "3.5.99";
        expect(() => findRelease({ mirrorDir: mirror, etcdDir, version: other })).toThrow(
            `--etcd-dir ${etcdDir} holds etcd ${pathVersion}, not the requested ${other}`,
        );
    });
});

test("when no source fits, the error names each one tried and what to do", () => {
    expect(() => findRelease({ mirrorDir: mirror, version: "3.5.99" })).toThrow(
        new RegExp(
            `no etcd 3\\.5\\.99 release found\\. Tried: mirror ${mirror}: empty; ${etcdDir}/etcd: etcd ${pathVersion.replace(/\./g, "\\.")}; etcd 3\\.5\\.99 has no pinned checksum; give --etcd-dir instead\\. Run \`npm run setup\``,
        ),
    );
});

describe("download from a release server in the upstream layout (HTTPS on loopback, its own CA)", () => {
    // A pinned version, so that the pinned table itself judges what the server sends.
    const version = pinnedVersions()
        .filter((v) => v.minor === 5)
        .pop()!.text;
    const pinned = pinnedChecksum(version, "amd64")!;
    let work: string;
    let server: HttpsFileServer;
    /** SHA-256 of the tarball the server holds (etcd binaries from this machine, packed as upstream does). */
    let served: string;

    beforeAll(async () => {
        work = mkdtempSync(join(tmpdir(), "etcd-release-server-"));
        const root = join(work, "releases");
        const top = join(work, "pack", `etcd-v${version}-linux-amd64`);
        mkdirSync(top, { recursive: true });
        for (const binary of ["etcd", "etcdctl"]) cpSync(join(etcdDir, binary), join(top, binary));
        mkdirSync(join(root, `v${version}`), { recursive: true });
        const tarball = join(root, `v${version}`, tarballName(version));
        execFileSync("tar", ["-czf", tarball, "-C", join(work, "pack"), `etcd-v${version}-linux-amd64`]);
        served = sha256(tarball);
        writeFileSync(join(root, `v${version}`, "SHA256SUMS"), `${served}  ${tarballName(version)}\n`);
        server = await startHttpsFileServer(root, work);
    });
    afterAll(async () => {
        await server?.stop();
        rmSync(work, { recursive: true, force: true });
    });

    test("a release whose SHA-256 matches is downloaded into the mirror, with its SHA256SUMS", async () => {
        const release = findRelease({
            mirrorDir: mirror,
            version,
            download: { baseUrl: server.baseUrl, caFile: server.caFile, checksumOf: (v) => (v === version ? served : undefined) },
        });
        expect(release).toEqual({ version, tarball: `v${version}/${tarballName(version)}`, sha256: served });
        expect(sha256(join(mirror, release.tarball))).toBe(served);
        expect(readFileSync(join(mirror, `v${version}`, "SHA256SUMS"), "utf8")).toBe(`${served}  ${tarballName(version)}\n`);
        expect(await server.requests()).toContain(`GET /v${version}/${tarballName(version)} 200`);
    });

    test("a release that does not match the pinned checksum is refused and nothing is left in the mirror", () => {
        expect(served).not.toBe(pinned);
        expect(() => findRelease({ mirrorDir: mirror, version, download: { baseUrl: server.baseUrl, caFile: server.caFile } })).toThrow(
            `downloaded etcd ${version} has SHA-256 ${served}, expected the pinned ${pinned}; not used`,
        );
        expect(readdirSync(join(mirror, `v${version}`))).toEqual([]);
    });

    test("the server's certificate is verified: without its CA the download fails", () => {
        expect(() => findRelease({ mirrorDir: mirror, version, download: { baseUrl: server.baseUrl, checksumOf: () => served } })).toThrow(
            /download of etcd .* failed: curl: \(60\)/,
        );
    });

    test("setup's reachability probe: a served release answers; a missing one, and a server that never answers, do not", () => {
        expect(probeRelease(version, { baseUrl: server.baseUrl, caFile: server.caFile })).toEqual({
            reachable: true,
            detail: `${server.baseUrl}/v${version}/${tarballName(version)}`,
        });
        expect(probeRelease("3.5.99", { baseUrl: server.baseUrl, caFile: server.caFile }).detail).toMatch(/: HTTP 404$/);
        const start = Date.now();
        const stalled = probeRelease(version, { baseUrl: `${server.baseUrl}/stall`, caFile: server.caFile }, 2);
        expect(stalled.reachable).toBe(false);
        expect(stalled.detail).toMatch(/timed out/);
        expect(Date.now() - start).toBeLessThan(10_000);
    });

    test("setup with a reachable release server that sends a mismatching tarball stops before anything else, naming both sums", () => {
        const r = spawnSync(join(repo, "node_modules", ".bin", "ts-node"), ["--transpile-only", join(repo, "scripts", "setup-mirror.ts"), "--mirror", mirror], {
            cwd: repo,
            encoding: "utf8",
            env: { ...process.env, ETCD_RELEASE_BASE_URL: server.baseUrl, ETCD_RELEASE_CA_FILE: server.caFile },
        });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`setup: official releases: ${server.baseUrl}/v${version}/${tarballName(version)} answers`);
        expect(r.stderr).toContain(`setup: ERROR: downloaded etcd ${version} has SHA-256 ${served}, expected the pinned ${pinned}; not used`);
        expect(r.stderr).not.toMatch(/fetching the package lists/);
        expect(readdirSync(mirror).flatMap((d) => readdirSync(join(mirror, d)))).toEqual([]);
    });
});
