// What only a real boot can show: members are containers in which systemd is PID 1 and cloud-init processes the
// exact user-data (see `npm run local`). cloud-init finishes without an error, systemd is not degraded, the unit's
// sandbox is in force on the running etcd, Restart= brings a crashed etcd back, a rebooted member comes back with
// its data, and a broken configuration ends in a visible failure instead of a silent restart loop.
import { readFileSync } from "fs";
import {
    crashMember,
    down,
    etcdctl,
    etcdPid,
    inMember,
    LocalCluster,
    memberJournal,
    rebootMember,
    systemctl,
    unitProperty,
    waitHealthy,
    waitUntil,
} from "../../scripts/lib/local/localCluster";
import { memberPaths } from "../../components/render/paths";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";
import { bootLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { requireRoot, requireTool } from "../helpers/tools";

jest.setTimeout(300_000);

const name = "it-boot";
let c: LocalCluster;

beforeAll(() => {
    requireRoot("members run as containers on a bridge");
    requireTool("systemd-nspawn", "systemd-container");
    requireMemberImage();
    down(name);
    c = bootLocalCluster({ name, networkIndex: 62, version: newestMirrored("3.5") });
});
afterAll(() => down(name));

const shell = (i: number, script: string) => inMember(c, i, ["bash", "-c", script]);

/** `systemd-analyze security` inside the member: overall figure and the names of the exposed items. */
function security(i: number, target: string[]): { exposure: number; exposed: string[] } {
    const text = inMember(c, i, ["systemd-analyze", "security", ...target]).stdout;
    const figure = /Overall exposure level for etcd\.service: (\d+\.\d+)/.exec(text);
    if (!figure) throw new Error(`no exposure figure from systemd-analyze security ${target.join(" ")}: ${text}`);
    const items: { name: string; set: boolean; exposure: string | null }[] = JSON.parse(
        inMember(c, i, ["systemd-analyze", "security", "--json=short", ...target]).stdout,
    );
    const exposed = items.filter((x) => !x.set && x.exposure !== null && Number(x.exposure) > 0).map((x) => x.name);
    return { exposure: Number(figure[1]), exposed: exposed.sort() };
}

test("cloud-init ran every stage without an error on every member, write_files before runcmd, from the NoCloud seed", () => {
    c.members.forEach((m, i) => {
        const status = inMember(c, i, ["cloud-init", "status", "--long"]);
        expect(status.stdout).toMatch(/^status: done$/m);
        expect(status.status).toBe(0);
        const result = JSON.parse(shell(i, "cat /run/cloud-init/result.json").stdout);
        expect(result.v1.errors).toEqual([]);
        expect(result.v1.datasource).toMatch(/NoCloud/);
        const stages = JSON.parse(shell(i, "cat /run/cloud-init/status.json").stdout).v1;
        for (const stage of ["init-local", "init", "modules-config", "modules-final"]) {
            expect({ stage, errors: stages[stage].errors }).toEqual({ stage, errors: [] });
        }
        // write_files runs in the init stage, runcmd's script in the final stage: the boot script found its files.
        expect(stages.init.finished).toBeLessThanOrEqual(stages["modules-final"].start);
        const log = readFileSync(`${m.dir}/upper/var/log/cloud-init-output.log`, "utf8");
        expect(log).toMatch(/etcd-bootstrap\[etcd-\d\]: etcd started/);
        expect(shell(i, "hostname").stdout.trim()).toBe(m.name);
    });
});

test("systemd reports the system running, not degraded, with no failed unit; etcd and the data volume's mount are active", () => {
    c.members.forEach((_, i) => {
        const state = inMember(c, i, ["systemctl", "is-system-running", "--wait"]);
        expect(state.stdout.trim()).toBe("running");
        expect(systemctl(c, i, ["list-units", "--failed", "--no-legend", "--plain"]).trim()).toBe("");
        expect(unitProperty(c, i, "etcd.service", "ActiveState")).toBe("active");
        expect(unitProperty(c, i, "etcd.service", "Type")).toBe("notify");
        expect(unitProperty(c, i, "var-lib-etcd.mount", "ActiveState")).toBe("active");
        // RequiresMountsFor: etcd is ordered after the data volume's mount and needs it.
        expect(unitProperty(c, i, "etcd.service", "RequiresMountsFor").split(" ")).toContain(memberPaths.dataDir);
        expect(unitProperty(c, i, "etcd.service", "After").split(" ")).toContain("var-lib-etcd.mount");
    });
});

test("systemd-analyze security on the running unit gives the offline figure, with the same items exposed", () => {
    const running = security(0, ["etcd.service"]);
    const offline = security(0, ["--offline=true", memberPaths.unitFile]);
    expect(running.exposure).toBe(offline.exposure);
    expect(running.exposed).toEqual(offline.exposed);
    expect(running.exposure).toBeLessThanOrEqual(1.5);
});

test("etcd runs as etcd with no capabilities, NoNewPrivileges, a seccomp filter, a read-only root and private /dev and /tmp", () => {
    const pid = etcdPid(c, 0)!;
    expect(pid).toBeGreaterThan(0);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (key: string) => new RegExp(`^${key}:\\s+(.*)$`, "m").exec(status)?.[1].trim().split(/\s+/);
    const etcdUid = shell(0, "id -u etcd").stdout.trim();
    expect(field("Uid")).toEqual([etcdUid, etcdUid, etcdUid, etcdUid]);
    for (const caps of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
        expect({ caps, value: field(caps)?.[0] }).toEqual({ caps, value: "0000000000000000" });
    }
    expect(field("NoNewPrivs")).toEqual(["1"]);
    expect(field("Seccomp")).toEqual(["2"]);
    // The process's own mount namespace: / read-only, the data dir writable, /dev and /tmp its own.
    const mounts = readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n");
    const options = (point: string) =>
        mounts
            .find((l) => l.split(" ")[4] === point)
            ?.split(" ")[5]
            .split(",");
    expect(options("/")).toContain("ro");
    expect(options(memberPaths.dataDir)).toContain("rw");
    expect(options("/dev")).toBeDefined();
    expect(options("/tmp")).toBeDefined();
});

test("a crashed etcd is brought back by Restart= and rejoins", () => {
    const before = Number(unitProperty(c, 2, "etcd.service", "NRestarts"));
    const killed = crashMember(c, 2);
    waitUntil(() => (etcdPid(c, 2) ?? killed) !== killed, 30_000, "etcd was not restarted");
    expect(Number(unitProperty(c, 2, "etcd.service", "NRestarts"))).toBe(before + 1);
    waitHealthy(c, 60_000);
});

test("a rebooted member (root disk and data volume kept) comes back healthy with its data; cloud-init does not run the boot again", () => {
    expect(etcdctl(c, ["put", "/reboot/before", "kept"]).status).toBe(0);
    const bootId = shell(1, "cat /proc/sys/kernel/random/boot_id").stdout;
    const etcdBefore = etcdPid(c, 1);
    rebootMember(c, 1);
    waitHealthy(c, 90_000);
    expect(etcdPid(c, 1)).not.toBe(etcdBefore);
    expect(inMember(c, 1, ["systemctl", "is-system-running", "--wait"]).stdout.trim()).toBe("running");
    expect(shell(1, "findmnt -n -o SOURCE /var/lib/etcd").stdout.trim()).toBe(c.members[1].loopDevice);
    const value = etcdctl(c, ["get", "/reboot/before", "--print-value-only", "--consistency=s"], [c.clientEndpoints[1]]);
    expect(value.stdout.trim()).toBe("kept");
    // Per-instance modules do not run again after a reboot: one boot script run in cloud-init's output.
    const log = readFileSync(`${c.members[1].dir}/upper/var/log/cloud-init-output.log`, "utf8");
    expect(log.match(/etcd-bootstrap\[etcd-1\]: etcd started/g)).toHaveLength(1);
    // The journal spans both boots (the same machine, rebooted): the container's systemd saw a shutdown.
    expect(memberJournal(c, 1)).toMatch(/Reached target.*(Shutdown|Power-Off|System Reboot)|Stopped.*etcd/);
    expect(bootId).toBeTruthy();
});

test("a corrupted /etc/etcd/etcd.env makes etcd fail visibly in systemctl status (start limit hit), not restart unnoticed", () => {
    const env = memberPaths.environmentFile;
    expect(shell(2, `cp ${env} /root/etcd.env.good && sed -i 's/^ETCD_HEARTBEAT_INTERVAL=.*/ETCD_HEARTBEAT_INTERVAL=1O0/' ${env}`).status).toBe(0);
    try {
        systemctl(c, 2, ["restart", "--no-block", "etcd.service"]);
        const statusText = () => inMember(c, 2, ["systemctl", "status", "--no-pager", "--lines=20", "etcd.service"]).stdout;
        // systemd 252 keeps the last exit's result ("exit-code") and says why it gave up.
        waitUntil(
            () => unitProperty(c, 2, "etcd.service", "ActiveState") === "failed" && /Start request repeated too quickly/.test(statusText()),
            90_000,
            () => `etcd did not hit its start limit:\n${statusText()}`,
        );
        // Restarted automatically first (five starts in ten minutes count the crash test's restart too), then given up.
        expect(Number(unitProperty(c, 2, "etcd.service", "NRestarts"))).toBeGreaterThanOrEqual(2);
        const status = inMember(c, 2, ["systemctl", "status", "--no-pager", "--lines=50", "etcd.service"]);
        expect(status.status).not.toBe(0);
        expect(status.stdout).toMatch(/Active: failed/);
        // The reason is in the unit's log: etcd names the broken setting.
        expect(memberJournal(c, 2, "etcd.service")).toMatch(/1O0|heartbeat/i);
        expect(inMember(c, 2, ["systemctl", "is-system-running"]).stdout.trim()).toBe("degraded");
    } finally {
        shell(2, `cp /root/etcd.env.good ${env} && systemctl reset-failed etcd.service && systemctl start --no-block etcd.service`);
    }
    waitHealthy(c, 60_000);
    expect(inMember(c, 2, ["systemctl", "is-system-running", "--wait"]).stdout.trim()).toBe("running");
});
