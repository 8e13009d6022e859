// Options that change how members boot, on real etcd: a tampered release (the boot stops before installing
// anything) and etcd authentication enabled at bootstrap.
import { execFileSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
    alive,
    containerInit,
    down,
    etcdctl,
    inMember,
    LocalCluster,
    loadCluster,
    memberJournal,
    unitProperty,
    up,
    waitUntil,
} from "../../scripts/lib/localCluster";
import { bootLocalCluster, renderLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { requireRoot } from "../helpers/tools";

jest.setTimeout(300_000);

const repo = join(__dirname, "..", "..");
const mirrorDir = join(repo, ".cache", "etcd-mirror");

beforeAll(() => {
    requireRoot("members run as containers on a bridge");
    requireMemberImage();
});

test("a release that does not match its pinned SHA-256 is never installed: the boot stops and says why, etcd does not start", () => {
    const name = "it-tampered";
    down(name);
    const { plan, release, networkPrefix } = renderLocalCluster({ name, networkIndex: 60, version: "3.5.30", size: 1, zones: 1 });
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
        expect(failure).toMatch(/cloud-init reports an error/);
        expect(failure).toMatch(/^status: error$/m);
        expect(failure).toMatch(
            /checksum mismatch for file:\/\/\/run\/etcd-mirror\/v3\.5\.30\/etcd-v3\.5\.30-linux-amd64\.tar\.gz: expected [0-9a-f]{64}, got [0-9a-f]{64}; refusing to install etcd/,
        );
        const c = loadCluster(name)!;
        const member = c.members[0];
        expect(existsSync(join(member.dir, "upper", "usr", "local", "bin", "etcd"))).toBe(false);
        expect(inMember(c, 0, ["test", "-e", "/usr/local/bin/etcd"]).status).not.toBe(0);
        // systemd never started etcd (no invocation) and it is not enabled for the next boot.
        expect(unitProperty(c, 0, "etcd.service", "InvocationID")).toBe("");
        expect(unitProperty(c, 0, "etcd.service", "UnitFileState")).toBe("disabled");
    } finally {
        down(name);
        rmSync(tampered, { recursive: true, force: true });
    }
});

test("down leaves nothing behind: no container process, cgroup, mount, loop device, network link or file", () => {
    const name = "it-down";
    down(name);
    const { plan, release, networkPrefix } = renderLocalCluster({ name, networkIndex: 63, version: "3.5.30", size: 1, zones: 1 });
    const c = up(plan, { name, networkPrefix, mirrorDir, tarball: release.tarball });
    const m = c.members[0];
    const cgroups = readFileSync(join(m.dir, "cgroups"), "utf8").split("\n").filter(Boolean);
    const init = containerInit(m);
    expect(init).toBeGreaterThan(0);
    expect(cgroups.length).toBeGreaterThan(0);
    expect(cgroups.every((dir) => existsSync(dir))).toBe(true);
    expect(execFileSync("ip", ["-o", "link"], { encoding: "utf8" })).toContain(m.hostVeth);

    expect(down(name)).toBe(true);
    // Gone, or at most a zombie waiting for this machine's init to reap it.
    expect(alive(init!)).toBe(false);
    expect(cgroups.filter((dir) => existsSync(dir))).toEqual([]);
    const links = execFileSync("ip", ["-o", "link"], { encoding: "utf8" });
    expect(links).not.toContain(m.hostVeth);
    expect(links).not.toContain(c.bridge);
    expect(execFileSync("losetup", ["-a"], { encoding: "utf8" })).not.toContain(c.dir);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(c.dir);
    // nspawn ran in a mount namespace of its own: nothing of it shows on this machine.
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toMatch(/\/run\/systemd\/nspawn/);
    expect(existsSync(c.dir)).toBe(false);
});

describe("auth: true on etcd 3.5.30", () => {
    const name = "it-auth";
    let c: LocalCluster;
    beforeAll(() => {
        down(name);
        c = bootLocalCluster({ name, networkIndex: 61, version: "3.5.30", auth: true });
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
        expect(memberJournal(c, 0, "etcd-enable-auth.service")).toMatch(/authentication enabled/);
    });
});
