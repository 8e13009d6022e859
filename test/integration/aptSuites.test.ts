// Setup's package fallback end to end, without leaving the machine: a signed apt archive in the Debian layout,
// served on loopback, holding etcd-server and etcd-client built from this machine's etcd. Its lists are fetched
// through the private apt configuration, a missing suite is reported as such, the packages are downloaded and
// unpacked, and the binaries packed into the mirror; an archive signed by another key is not read.
import { execFileSync } from "child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import { createHash } from "crypto";
import { SuiteIndex } from "../../scripts/lib/mirror/aptSuites";
import { AptSource } from "../../scripts/lib/mirror/aptSources";
import { packDirectory } from "../../scripts/lib/local/localRelease";
import { packagedReleases } from "../../scripts/lib/mirror/releaseSources";
import { HttpsFileServer, startHttpsFileServer } from "../helpers/httpsFileServer";
import { requireTool, run } from "../helpers/tools";

jest.setTimeout(120_000);

const os = { id: "debian", codename: "localsuite" };
let work: string;
let server: HttpsFileServer;
let etcdDir: string;
let pathVersion: string;
let packageVersion: string;
let keyring: string;
let otherKeyring: string;
const gnupgHomes: string[] = [];

function mustRun(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
    const r = run(command, args, { env });
    if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
}

/** A fresh signing key in its own GnuPG home; returns the public keyring file apt's signed-by takes. */
function signingKey(name: string): { home: string; keyring: string } {
    const home = join(work, `gnupg-${name}`);
    mkdirSync(home, { mode: 0o700 });
    gnupgHomes.push(home);
    const env = { ...process.env, GNUPGHOME: home };
    mustRun("gpg", ["--batch", "--quiet", "--passphrase", "", "--quick-gen-key", `${name} test archive`, "default", "default", "never"], env);
    const file = join(work, `${name}.gpg`);
    writeFileSync(file, execFileSync("gpg", ["--export"], { env }));
    return { home, keyring: file };
}

beforeAll(async () => {
    requireTool("etcd", "etcd-server");
    requireTool("gpg", "gpg");
    requireTool("dpkg-deb", "dpkg");
    etcdDir = dirname(run("sh", ["-c", "command -v etcd"]).stdout.trim());
    pathVersion = /etcd Version: (\d+\.\d+\.\d+)/.exec(run(join(etcdDir, "etcd"), ["--version"]).stdout)![1];
    packageVersion = `${pathVersion}-1test1`;
    work = mkdtempSync(join(tmpdir(), "etcd-apt-archive-"));
    // apt reads lists and keyrings as its own unprivileged user.
    chmodSync(work, 0o755);

    const archive = join(work, "archive");
    const pool = join(archive, "pool");
    mkdirSync(pool, { recursive: true });
    const stanzas: string[] = [];
    for (const [name, binary] of [
        ["etcd-server", "etcd"],
        ["etcd-client", "etcdctl"],
    ]) {
        const root = join(work, "build", name);
        mkdirSync(join(root, "DEBIAN"), { recursive: true });
        mkdirSync(join(root, "usr", "bin"), { recursive: true });
        cpSync(join(etcdDir, binary), join(root, "usr", "bin", binary));
        writeFileSync(
            join(root, "DEBIAN", "control"),
            `Package: ${name}\nVersion: ${packageVersion}\nArchitecture: amd64\nMaintainer: Test <test@example.invalid>\nDescription: ${name} for a local archive\n`,
        );
        const deb = join(pool, `${name}_${packageVersion}_amd64.deb`);
        mustRun("dpkg-deb", ["--build", "--root-owner-group", root, deb]);
        const sha256 = createHash("sha256").update(readFileSync(deb)).digest("hex");
        stanzas.push(
            `${mustRun("dpkg-deb", ["-f", deb]).trim()}\nFilename: pool/${name}_${packageVersion}_amd64.deb\nSize: ${statSync(deb).size}\nSHA256: ${sha256}\n`,
        );
    }
    const dist = join(archive, "dists", "localsuite");
    mkdirSync(join(dist, "main", "binary-amd64"), { recursive: true });
    const packages = stanzas.join("\n");
    writeFileSync(join(dist, "main", "binary-amd64", "Packages"), packages);
    const release = [
        "Origin: Test",
        "Label: Test",
        "Suite: localsuite",
        "Codename: localsuite",
        `Date: ${new Date(Date.now() - 60_000).toUTCString()}`,
        "Architectures: amd64",
        "Components: main",
        "SHA256:",
        ` ${createHash("sha256").update(packages).digest("hex")} ${Buffer.byteLength(packages)} main/binary-amd64/Packages`,
        "",
    ].join("\n");
    writeFileSync(join(dist, "Release"), release);
    const key = signingKey("archive");
    keyring = key.keyring;
    otherKeyring = signingKey("other").keyring;
    mustRun("gpg", ["--batch", "--yes", "--clearsign", "--output", join(dist, "InRelease"), join(dist, "Release")], { ...process.env, GNUPGHOME: key.home });
    server = await startHttpsFileServer(archive, work, "127.0.0.78", true);
});

afterAll(async () => {
    await server?.stop();
    for (const home of gnupgHomes) run("gpgconf", ["--kill", "gpg-agent"], { env: { ...process.env, GNUPGHOME: home } });
    if (work) rmSync(work, { recursive: true, force: true });
});

const source = (signedBy: string): AptSource => ({ uris: [`${server.baseUrl}/`], suites: ["localsuite"], components: ["main"], signedBy });

test("a suite's etcd packages are found, a missing suite is named, and the packages end up in the mirror in the upstream layout", () => {
    const messages: string[] = [];
    const index = new SuiteIndex(source(keyring), os, join(work, "lists-good"), (m) => messages.push(m));
    const lists = index.fetch(["localsuite", "nosuchsuite"]);
    expect(lists.map((l) => [l.suite, l.packages === undefined])).toEqual([
        ["localsuite", false],
        ["nosuchsuite", true],
    ]);
    const found = packagedReleases(lists);
    expect(found.releases).toEqual([{ version: pathVersion, packageVersion, suite: "localsuite" }]);
    expect(found.notes).toEqual(["suite nosuchsuite: not on this mirror"]);
    expect(messages[0]).toBe(`fetching the package lists of localsuite, nosuchsuite from ${server.baseUrl}/ (private lists under ${join(work, "lists-good")})`);

    const unpackDir = mkdtempSync(join(work, "unpack-"));
    chmodSync(unpackDir, 0o755);
    const mirror = join(work, "mirror");
    const release = packDirectory(index.unpack(packageVersion, unpackDir), mirror);
    expect(release.version).toBe(pathVersion);
    const top = `etcd-v${pathVersion}-linux-amd64`;
    expect(
        execFileSync("tar", ["-tzf", join(mirror, release.tarball)], { encoding: "utf8" })
            .trim()
            .split("\n")
            .sort(),
    ).toEqual([`${top}/`, `${top}/etcd`, `${top}/etcdctl`].sort());
    expect(
        readdirSync(unpackDir)
            .filter((f) => f.endsWith(".deb"))
            .sort(),
    ).toEqual([`etcd-client_${packageVersion}_amd64.deb`, `etcd-server_${packageVersion}_amd64.deb`]);
});

test("an archive whose signature does not verify against the keyring is not read", () => {
    const messages: string[] = [];
    const lists = new SuiteIndex(source(otherKeyring), os, join(work, "lists-other-key"), (m) => messages.push(m)).fetch(["localsuite"]);
    expect(lists).toEqual([{ suite: "localsuite" }]);
    expect(messages.join("\n")).toMatch(/NO_PUBKEY|not signed|signature/i);
});
