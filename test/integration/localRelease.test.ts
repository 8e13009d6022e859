// How `npm run local` finds the etcd it boots: a directory of binaries is packed into the mirror in the
// upstream layout; when nothing fits, the error lists every source it tried. (The download fallback is not
// exercised: tests make no traffic beyond this machine.)
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import { findRelease } from "../../scripts/lib/local/localRelease";
import { requireTool, run } from "../helpers/tools";

let mirror: string;
let etcdDir: string;
beforeAll(() => {
    requireTool("etcd", "etcd-server");
    requireTool("etcdctl", "etcd-client");
    etcdDir = dirname(run("sh", ["-c", "command -v etcd"]).stdout.trim());
});
beforeEach(() => (mirror = mkdtempSync(join(tmpdir(), "etcd-mirror-"))));
afterEach(() => rmSync(mirror, { recursive: true, force: true }));

test("binaries from a directory are packed as etcd-vX-linux-amd64.tar.gz with their checksum", () => {
    const release = findRelease({ mirrorDir: mirror, etcdDir });
    expect(release.version).toBe("3.4.23");
    expect(release.tarball).toBe("v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz");
    const tarball = join(mirror, release.tarball);
    expect(createHash("sha256").update(readFileSync(tarball)).digest("hex")).toBe(release.sha256);
    expect(readFileSync(join(mirror, "v3.4.23", "SHA256SUMS"), "utf8")).toBe(`${release.sha256}  etcd-v3.4.23-linux-amd64.tar.gz\n`);
    expect(execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort()).toEqual(
        ["etcd-v3.4.23-linux-amd64/", "etcd-v3.4.23-linux-amd64/etcd", "etcd-v3.4.23-linux-amd64/etcdctl"].sort(),
    );
    // Found again from the mirror, unchanged.
    expect(findRelease({ mirrorDir: mirror, version: "3.4.23" })).toEqual(release);
});

test("a directory holding another version than the one asked for is refused", () => {
    expect(() => findRelease({ mirrorDir: mirror, etcdDir, version: "3.5.30" })).toThrow(`--etcd-dir ${etcdDir} holds etcd 3.4.23, not the requested 3.5.30`);
});

test("when no source fits, the error names each one tried and what to do", () => {
    expect(() => findRelease({ mirrorDir: mirror, version: "3.5.99" })).toThrow(
        new RegExp(
            `no etcd 3\\.5\\.99 release found\\. Tried: mirror ${mirror}: empty; ${etcdDir}/etcd: etcd 3\\.4\\.23; etcd 3\\.5\\.99 has no pinned checksum; give --etcd-dir instead\\. Run \`npm run setup\``,
        ),
    );
});
