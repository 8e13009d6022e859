// Options that change how members boot, on real etcd: a tampered release (the boot stops before installing
// anything) and etcd authentication enabled at bootstrap.
import { execFileSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { down, etcdctl, inMember, LocalCluster, loadCluster, up, waitUntil } from "../../scripts/lib/local/localCluster";
import { parseVersion, versionFeatures } from "../../components/releases";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";
import { bootLocalCluster, renderLocalCluster } from "../helpers/localClusters";
import { requireRoot } from "../helpers/tools";

jest.setTimeout(300_000);

const repo = join(__dirname, "..", "..");
const mirrorDir = join(repo, ".cache", "etcd-mirror");

beforeAll(() => requireRoot("members run in network and mount namespaces"));

test("a release that does not match its pinned SHA-256 is never installed: the boot stops and says why, etcd does not start", () => {
    const name = "it-tampered";
    down(name);
    const { plan, release, networkPrefix } = renderLocalCluster({ name, networkIndex: 60, version: newestMirrored("3.5"), size: 1, zones: 1 });
    // A mirror whose tarball was altered after the checksum was pinned.
    const tampered = mkdtempSync(join(tmpdir(), "etcd-tampered-mirror-"));
    try {
        cpSync(join(mirrorDir, `v${release.version}`), join(tampered, `v${release.version}`), { recursive: true });
        // Still a valid tarball with the same binaries, plus one file the publisher never shipped.
        const tarball = join(tampered, release.tarball);
        const unpacked = join(tampered, "unpacked");
        mkdirSync(unpacked);
        execFileSync("tar", ["-xzf", tarball, "-C", unpacked]);
        writeFileSync(join(unpacked, `etcd-v${release.version}-linux-amd64`, "injected.sh"), "#!/bin/sh\n");
        execFileSync("tar", ["-czf", tarball, "-C", unpacked, `etcd-v${release.version}-linux-amd64`]);
        let failure = "";
        try {
            up(plan, { name, networkPrefix, mirrorDir: tampered, tarball: release.tarball });
        } catch (e) {
            failure = (e as Error).message;
        }
        expect(failure).toMatch(/boot command failed/);
        const url = `file:///run/etcd-mirror/${release.tarball}`.replace(/[./]/g, "\\$&");
        expect(failure).toMatch(new RegExp(`checksum mismatch for ${url}: expected [0-9a-f]{64}, got [0-9a-f]{64}; refusing to install etcd`));
        const c = loadCluster(name)!;
        const member = c.members[0];
        expect(existsSync(join(member.dir, "upper", "usr", "local", "bin", "etcd"))).toBe(false);
        expect(existsSync(join(member.dir, "state", "etcd.service.pid"))).toBe(false);
        expect(existsSync(join(member.dir, "state", "etcd.service.supervisor.pid"))).toBe(false);
    } finally {
        down(name);
        rmSync(tampered, { recursive: true, force: true });
    }
});

describe("auth: true on the newest etcd 3.5 in the mirror", () => {
    const name = "it-auth";
    let c: LocalCluster;
    beforeAll(() => {
        const version = newestMirrored("3.5");
        // Certificate-only users, which auth relies on, per the component's version table.
        expect(versionFeatures(parseVersion(version)!).certificateOnlyUsers).toBe(true);
        down(name);
        c = bootLocalCluster({ name, networkIndex: 61, version, auth: true });
    });
    afterAll(() => down(name));

    test("authentication is enabled once healthy; the client certificate (CN root) and members' own certificates keep working", () => {
        waitUntil(() => etcdctl(c, ["auth", "status"]).stdout.includes("Authentication Status: true"), 60_000, "auth was not enabled");
        const users = etcdctl(c, ["user", "list"]).stdout.trim().split("\n").sort();
        expect(users).toEqual([...c.members.map((m) => m.name), "root"].sort());
        expect(etcdctl(c, ["put", "/auth/probe", "ok"]).status).toBe(0);
        // On a member, the etcdctl environment left by the boot works as is (the member's certificate is a root-role user).
        const onMember = inMember(c, 1, [
            "bash",
            "-c",
            ". /etc/profile.d/etcdctl.sh && etcdctl get /auth/probe --print-value-only && etcdctl endpoint health --cluster",
        ]);
        expect(onMember.stderr).not.toMatch(/permission denied|user name is empty/i);
        expect(onMember.stdout.trim().split("\n")[0]).toBe("ok");
        expect(onMember.status).toBe(0);
        const log = readFileSync(join(c.members[0].dir, "upper", "var", "log", "etcd-enable-auth.service.log"), "utf8");
        expect(log).toMatch(/authentication enabled/);
    });
});
