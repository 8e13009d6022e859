// Options that change how members boot, on real etcd: a tampered release (the boot stops before installing
// anything) and etcd authentication enabled at bootstrap.
import { execFileSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
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
    replaceMember,
    memberJournal,
    unitProperty,
    up,
    waitUntil,
} from "../../scripts/lib/local/localCluster";
import { bootLocalCluster, renderLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { parseVersion, versionFeatures } from "../../components/releases";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";
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
        expect(failure).toMatch(/cloud-init reports an error/);
        expect(failure).toMatch(/^status: error$/m);
        const url = `file:///run/etcd-mirror/${release.tarball}`.replace(/[./]/g, "\\$&");
        expect(failure).toMatch(new RegExp(`checksum mismatch for ${url}: expected [0-9a-f]{64}, got [0-9a-f]{64}; refusing to install etcd`));
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
    const { plan, release, networkPrefix } = renderLocalCluster({ name, networkIndex: 63, version: newestMirrored("3.5"), size: 1, zones: 1 });
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
        // A user for every name a member may ever have (0 to 8): members added later join with their certificate.
        expect(users).toEqual([...Array.from({ length: 9 }, (_, i) => `etcd-${i}`), "root"].sort());
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

describe("dataVolume.sizeGib raised in place: the data filesystem grows to the enlarged volume", () => {
    const name = "it-growfs";
    let c: LocalCluster;
    beforeAll(() => {
        down(name);
        c = bootLocalCluster({ name, networkIndex: 64, version: newestMirrored("3.5"), size: 1, zones: 1 });
    });
    afterAll(() => down(name));

    // Size of the filesystem mounted at the data dir, in 1K blocks, as the member sees it.
    const dataDirBlocks = () => {
        const r = inMember(c, 0, ["df", "--output=size", "-k", "/var/lib/etcd"]);
        expect(r.status).toBe(0);
        return Number(r.stdout.trim().split("\n").pop());
    };
    const hasCapSysResource = () => (BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`) >> 24n) & 1n;

    test("the timer's unit sees the larger volume and grows the mounted ext4 online; the boot step grows it before mounting; etcd keeps its data", () => {
        const member = c.members[0];
        expect(etcdctl(c, ["put", "/growfs/probe", "kept"]).status).toBe(0);
        const before = dataDirBlocks();
        // The volume as sized for the stack's quota (components/volumeSizing.ts), then doubled.
        const initial = statSync(member.dataImage).size;
        const grown = 2 * initial;
        expect(before * 1024).toBeLessThan(initial);
        // EBS modifies the volume in place; the kernel sees the new capacity (losetup -c is what that is here).
        execFileSync("truncate", ["-s", String(grown), member.dataImage]);
        execFileSync("losetup", ["-c", member.loopDevice]);
        expect(dataDirBlocks()).toBe(before);

        // The timer's service, exactly as the unit runs it (and the boot script enabled the timer).
        const unit = readFileSync(join(member.dir, "upper", "etc", "systemd", "system", "etcd-growfs.service"), "utf8");
        const execStart = /^ExecStart=(.*)$/m.exec(unit)![1].split(" ");
        expect(execStart).toEqual(["/usr/local/sbin/etcd-bootstrap", "grow-data"]);
        expect(unitProperty(c, 0, "etcd-growfs.timer", "UnitFileState")).toBe("enabled");
        const online = inMember(c, 0, execStart);
        expect(online.stderr).toMatch(new RegExp(`growing the data filesystem on /dev/loop\\d+ from ${initial} to ${grown} bytes`));
        // The command runs with this process's capabilities inside the member's namespaces.
        if (hasCapSysResource()) {
            expect(online.status).toBe(0);
            expect(dataDirBlocks() * 1024).toBeGreaterThan(1.75 * initial);
        } else {
            // Online growth is the kernel's EXT4_IOC_RESIZE_FS, which needs CAP_SYS_RESOURCE: root on EC2 has
            // it, root on a machine without it gets EPERM, and the filesystem is left as it was.
            expect(online.stderr).toContain("Permission denied to resize filesystem");
            expect(dataDirBlocks()).toBe(before);
        }

        // The boot step (a replaced or rebooted instance): the unmounted filesystem is checked and grown first.
        const boot = replaceMember(c, 0);
        expect(boot.status).toBe(0);
        if (dataDirBlocks() === before) {
            // The boot step names the volume by its stable link (the NVMe path the mount unit uses).
            expect(boot.output).toMatch(
                new RegExp(`growing the data filesystem on /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol\\w+ from ${initial} to ${grown} bytes`),
            );
        }
        expect(dataDirBlocks() * 1024).toBeGreaterThan(1.75 * initial);
        waitUntil(() => etcdctl(c, ["get", "/growfs/probe", "--print-value-only"]).stdout.trim() === "kept", 30_000, "etcd lost its data");

        // Nothing to do any more: the unit stays quiet.
        const again = inMember(c, 0, execStart);
        expect(again).toMatchObject({ status: 0, stderr: "" });
    });
});
