// Boots a rendered cluster on this machine: each member a systemd-nspawn container of a minimal Debian
// image (built by `npm run setup`) in which real systemd is PID 1 and real cloud-init processes the member's
// exact user-data from a NoCloud seed. Members sit on a shared bridge, each with a copy-on-write root disk
// and a loop-device data volume at the NVMe path EC2 uses. Also the operations the cluster tests need: stop,
// crash, isolate, reboot and replace a member, run its boot again, read its journal, and etcdctl with the
// exported client certificate.
import { execFileSync, spawnSync } from "child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "fs";
import { createHash } from "crypto";
import { dirname, join } from "path";
import { BackupStore, ensureBackupStore, memberAwsWrapper, provisionPlan, registerInstance, terminateInstance } from "./backupStore";
import { LocalPlan } from "./localRender";
import { idleLocalBridges, isLocalClusterBridge } from "./localNetwork";
import { requiredVolumeBytes } from "../../../components/volumeSizing";

const repoRoot = join(__dirname, "..", "..", "..");
export const localStateRoot = join(repoRoot, ".cache", "local");
export const memberImage = join(repoRoot, ".cache", "member-image", "rootfs");
const containerScript = join(repoRoot, "scripts", "local", "member-container.sh");

/** How the local members run: containers booted by systemd with cloud-init (the only runner). */
export const runner = "nspawn" as const;

export interface LocalMember {
    name: string;
    ip: string;
    zone: string;
    /** Container (machine) name; the host side of its network link is "vb-" + this name. */
    machine: string;
    hostVeth: string;
    dir: string;
    dataImage: string;
    loopDevice: string;
    volumeId: string;
    /** Pid of the process that runs (and after a reboot restarts) the container. */
    launcherPid?: number;
    /** The member's EC2 instance in the local backup store (registerInstance), with its instance's tags. */
    storeInstanceId?: string;
}

/** Everything needed to operate a running local cluster; saved as cluster.json in its directory. */
export interface LocalCluster {
    name: string;
    runner: typeof runner;
    dir: string;
    version: string;
    bridge: string;
    gatewayIp: string;
    members: LocalMember[];
    clientEndpoints: string[];
    /** Paths of the exported CA, client certificate and client key. */
    caFile: string;
    certFile: string;
    keyFile: string;
    /** etcdctl of the cluster's own release. */
    etcdctl: string;
    mirrorDir: string;
    /** The local backup store (moto) the members' AWS CLI talks to; it outlives the cluster. */
    awsEndpoint: string;
    /** The AWS region the stack was evaluated in. */
    region: string;
}

export interface UpOptions {
    name: string;
    /** The member network's /24 prefix; must match the plan's addresses. */
    networkPrefix: string;
    mirrorDir: string;
    /** Release tarball inside mirrorDir, relative, e.g. v3.5.30/etcd-v3.5.30-linux-amd64.tar.gz. */
    tarball: string;
    /** Size of each member's data volume image in MiB. @default what the rendered quota needs (components/volumeSizing.ts) */
    dataVolumeMiB?: number;
    /** Launch only the first N members (default: all); the others are prepared, for startMember later. */
    launch?: number;
    progress?: (message: string) => void;
}

/** What one boot of a member's user-data produced: cloud-init's verdict and the boot command's output. */
export interface BootResult {
    status: number;
    /** `cloud-init status --long` once cloud-init finished. */
    cloudInit: string;
    /** /var/log/cloud-init-output.log: the output of the boot command (runcmd), among cloud-init's own lines. */
    output: string;
}

export const sh = (command: string, args: string[], input?: string): string =>
    execFileSync(command, args, { encoding: "utf8", input, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });

/** Like sh, but a failure is tolerated (cleanup paths). */
export const tryRun = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: "ignore" }).status === 0;

const sleepMs = (ms: number) => spawnSync("sleep", [String(ms / 1000)]);

/** Interface names are limited to 15 characters: a short stable hash of the cluster name keeps them apart. */
export function shortId(name: string): string {
    return createHash("sha256").update(name).digest("hex").slice(0, 5);
}

export function clusterDir(name: string): string {
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) {
        throw new Error(`cluster name: expected lowercase letters, digits and dashes (up to 31), got ${JSON.stringify(name)}`);
    }
    return join(localStateRoot, name);
}

export function loadCluster(name: string): LocalCluster | undefined {
    const file = join(clusterDir(name), "cluster.json");
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

export const saveCluster = (c: LocalCluster) => writeFileSync(join(c.dir, "cluster.json"), JSON.stringify(c, null, 2));

/**
 * Another link holding this cluster's subnet takes the host's route to it, and the members' traffic to the
 * backup store is answered on the wrong link (their AWS calls hang). A local cluster's bridge with no member
 * attached is what a killed run leaves behind: it is removed. Anything else is refused with what to do.
 */
export function claimSubnet(c: Pick<LocalCluster, "bridge" | "gatewayIp">, prefixLength: number, progress: (line: string) => void): void {
    const subnet = `${c.gatewayIp.split(".").slice(0, 3).join(".")}.0/${prefixLength}`;
    const holders: { ifname: string }[] = JSON.parse(sh("ip", ["-j", "-4", "addr", "show", "to", subnet]) || "[]");
    const idle = idleLocalBridges();
    for (const { ifname } of holders.filter((h) => h.ifname !== c.bridge)) {
        if (idle.includes(ifname)) {
            progress(`network: removing ${ifname}, a stale bridge of another local cluster on ${subnet} (no member attached)`);
            sh("ip", ["link", "del", ifname]);
            continue;
        }
        throw new Error(
            `network ${subnet} is already used by ${ifname}${isLocalClusterBridge(ifname) ? " (a running local cluster)" : ""}; ` +
                `stop that cluster (npm run local -- --down --name NAME) or choose another --network-index`,
        );
    }
}

function createBridge(c: LocalCluster, prefixLength: number, progress: (line: string) => void): void {
    claimSubnet(c, prefixLength, progress);
    tryRun("ip", ["link", "del", c.bridge]);
    sh("ip", ["link", "add", c.bridge, "type", "bridge"]);
    sh("ip", ["addr", "add", `${c.gatewayIp}/${prefixLength}`, "dev", c.bridge]);
    sh("ip", ["link", "set", c.bridge, "up"]);
}

function writeInto(root: string, path: string, content: string, mode = 0o644): void {
    const target = join(root, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content, { mode });
}

/**
 * A fresh root disk for the member: an empty copy-on-write layer over the image, seeded with what EC2 would
 * provide: the user-data and instance metadata (as cloud-init's NoCloud seed), the network address, and the
 * data volume at its NVMe path.
 */
export function prepareRootDisk(c: LocalCluster, m: LocalMember, userData: string, instanceId: string): void {
    for (const sub of ["upper", "overlay-work", "root"]) {
        rmSync(join(m.dir, sub), { recursive: true, force: true });
        mkdirSync(join(m.dir, sub), { recursive: true });
    }
    const upper = join(m.dir, "upper");
    writeInto(upper, "var/lib/cloud/seed/nocloud/user-data", userData, 0o600);
    writeInto(upper, "var/lib/cloud/seed/nocloud/meta-data", `instance-id: ${instanceId}\nlocal-hostname: ${m.name}\n`, 0o600);
    writeInto(
        upper,
        "etc/systemd/network/10-host0.network",
        `[Match]\nName=host0\n\n[Network]\nAddress=${m.ip}/24\nGateway=${c.gatewayIp}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
    );
    // udev names EBS volumes on Nitro instances this way; a container has no udev, so tmpfiles makes the link.
    writeInto(
        upper,
        "etc/tmpfiles.d/local-data-volume.conf",
        `L /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${m.volumeId.replace(/-/g, "")} - - - - ${m.loopDevice}\n`,
    );
    writeFileSync(join(m.dir, "user-data"), userData, { mode: 0o600 });
}

/** What the members' `aws` is: Debian's AWS CLI with the backup store's endpoint and CA (mounted read-only). */
function writeAwsClient(c: LocalCluster, store: BackupStore): void {
    const dir = join(c.dir, "aws");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "aws"), memberAwsWrapper(store), { mode: 0o755 });
    writeFileSync(join(dir, "ca.crt"), readFileSync(store.caFile));
}

/**
 * Starts the member's container in the background; it outlives this process until `down`. Forked off
 * (setsid --fork), so that no process of ours has to reap it: the launcher writes its own pid.
 */
export function launch(c: LocalCluster, m: LocalMember): void {
    // The member's previous container is gone, but its host-side veth can outlive it for a while (a network
    // namespace still referenced); nspawn would then refuse to start ("File exists").
    if (tryRun("ip", ["link", "show", m.hostVeth])) {
        tryRun("ip", ["link", "del", m.hostVeth]);
    }
    const pidFile = join(m.dir, "launcher.pid");
    rmSync(pidFile, { force: true });
    const console = openSync(join(m.dir, "console.log"), "a");
    try {
        const r = spawnSync(
            "setsid",
            ["--fork", "bash", containerScript, m.dir, m.machine, c.bridge, m.loopDevice, c.mirrorDir, memberImage, join(c.dir, "aws")],
            {
                stdio: ["ignore", console, console],
            },
        );
        if (r.status !== 0) throw new Error(`member ${m.name}: could not start its container (exit ${r.status})`);
    } finally {
        closeSync(console);
    }
    waitUntil(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "", 10_000, `member ${m.name}: its launcher did not start`);
    m.launcherPid = Number(readFileSync(pidFile, "utf8"));
    saveCluster(c);
}

const readProc = (pid: number, file: string): string | undefined => {
    try {
        return readFileSync(`/proc/${pid}/${file}`, "utf8");
    } catch {
        return undefined;
    }
};

/** The host pid of the member's PID 1 (the container's systemd), if the container runs. */
export function containerInit(m: LocalMember): number | undefined {
    if (!m.launcherPid) return undefined;
    const queue = [m.launcherPid];
    while (queue.length > 0) {
        const pid = queue.shift()!;
        const nspid = /^NSpid:\s+(.*)$/m
            .exec(readProc(pid, "status") ?? "")?.[1]
            .trim()
            .split(/\s+/);
        if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === "1") return pid;
        const children = readProc(pid, `task/${pid}/children`);
        if (children) queue.push(...children.trim().split(/\s+/).filter(Boolean).map(Number));
    }
    return undefined;
}

function requireInit(m: LocalMember): number {
    const pid = containerInit(m);
    if (!pid) throw new Error(`member ${m.name}: its container is not running`);
    return pid;
}

/** Runs a command inside a member's container (all its namespaces), with a login-like clean environment. */
export function inMember(c: LocalCluster, i: number, command: string[], timeoutMs = 120_000): { status: number; stdout: string; stderr: string } {
    const m = c.members[i];
    const r = spawnSync(
        "nsenter",
        [
            `--target=${requireInit(m)}`,
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--",
            "/usr/bin/env",
            "-i",
            "HOME=/root",
            "LANG=C.UTF-8",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ...command,
        ],
        { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
    );
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** Runs a host command in a member's network only (its addresses, its loopback). */
export function inMemberNetwork(c: LocalCluster, i: number, command: string[], env?: NodeJS.ProcessEnv): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("nsenter", [`--target=${requireInit(c.members[i])}`, "--net", "--", ...command], { encoding: "utf8", env });
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Waits until the member's container runs and cloud-init has finished (done or error), and reports the result. */
export function awaitBoot(c: LocalCluster, i: number, timeoutMs = 240_000): BootResult {
    const m = c.members[i];
    waitUntil(() => containerInit(m) !== undefined, 120_000, `member ${m.name}: the container did not start (see ${join(m.dir, "console.log")})`);
    // `cloud-init status --wait` needs the container's /run to be set up by its systemd: retry until it answers.
    let status: { status: number; stdout: string; stderr: string } = { status: 1, stdout: "", stderr: "" };
    waitUntil(
        () => {
            status = inMember(c, i, ["cloud-init", "status", "--wait", "--long"], timeoutMs);
            return /^status: (done|error|degraded)/m.test(status.stdout);
        },
        timeoutMs,
        () => `member ${m.name}: cloud-init did not finish: ${status.stdout}${status.stderr}`,
    );
    const log = join(m.dir, "upper", "var", "log", "cloud-init-output.log");
    return { status: status.status, cloudInit: status.stdout.trim(), output: existsSync(log) ? readFileSync(log, "utf8") : "" };
}

/**
 * The data volume a member's quota needs, by the component's own rule: a member whose database reaches the quota
 * raises NOSPACE instead of filling its volume. The image is a sparse file: only what etcd writes takes space.
 */
export function localVolumeMiB(userData: string): number {
    const quota = /ETCD_QUOTA_BACKEND_BYTES=(\d+)/.exec(userData);
    if (!quota) throw new Error("the rendered user-data names no ETCD_QUOTA_BACKEND_BYTES");
    return Math.ceil(requiredVolumeBytes(Number(quota[1])) / 2 ** 20);
}

/** Boots every member of a rendered plan in parallel; returns once cloud-init has finished on each (etcd starts in the background). */
export function up(plan: LocalPlan, o: UpOptions): LocalCluster {
    const progress = o.progress ?? (() => undefined);
    const dir = clusterDir(o.name);
    const store = ensureBackupStore(progress);
    if (!existsSync(join(memberImage, "lib", "systemd", "systemd"))) {
        throw new Error(`no member image at ${memberImage}; run \`npm run setup\` first`);
    }
    if (loadCluster(o.name)) {
        down(o.name);
    }
    mkdirSync(dir, { recursive: true });
    const id = shortId(o.name);
    const c: LocalCluster = {
        name: o.name,
        runner,
        dir,
        version: plan.version,
        bridge: `etcbr-${id}`,
        gatewayIp: `${o.networkPrefix}.1`,
        mirrorDir: o.mirrorDir,
        clientEndpoints: plan.clientEndpoints,
        caFile: join(dir, "client", "ca.crt"),
        certFile: join(dir, "client", "client.crt"),
        keyFile: join(dir, "client", "client.key"),
        etcdctl: join(dir, "bin", "etcdctl"),
        awsEndpoint: store.endpoint,
        region: plan.region,
        members: plan.members.map((p, i) => ({
            name: p.name,
            ip: p.ip,
            zone: p.zone,
            machine: `etc-${id}-${i}`,
            hostVeth: `vb-etc-${id}-${i}`,
            dir: join(dir, "members", p.name),
            dataImage: join(dir, "members", p.name, "data.img"),
            loopDevice: "",
            volumeId: p.volumeId,
        })),
    };
    for (const m of c.members) {
        if (!m.ip.startsWith(`${o.networkPrefix}.`)) {
            throw new Error(`member ${m.name} has address ${m.ip}, outside the local network ${o.networkPrefix}.0/24`);
        }
    }
    // Saved first, so that `down` can clean up whatever a failed boot left behind.
    saveCluster(c);

    mkdirSync(join(dir, "client"), { recursive: true, mode: 0o700 });
    writeFileSync(c.caFile, plan.caCertPem);
    writeFileSync(c.certFile, plan.clientCertPem);
    writeFileSync(c.keyFile, plan.clientKeyPem, { mode: 0o600 });
    installHostEtcdctl(dir, o.mirrorDir, o.tarball);
    // What `pulumi up` creates in AWS before the instances boot: the backup bucket, the tools object, the parameters.
    progress(`backup store: ${provisionPlan(store, plan)} created or updated`);
    writeAwsClient(c, store);

    const volumeMiB = o.dataVolumeMiB ?? localVolumeMiB(plan.members[0].userData);
    progress(`network: bridge ${c.bridge} (${c.gatewayIp}/24), one container per member`);
    createBridge(c, 24, progress);
    for (const [i, m] of c.members.entries()) {
        mkdirSync(m.dir, { recursive: true });
        sh("truncate", ["-s", `${volumeMiB}M`, m.dataImage]);
        m.loopDevice = sh("losetup", ["--find", "--show", m.dataImage]).trim();
        saveCluster(c);
        prepareRootDisk(c, m, plan.members[i].userData, `i-local-${id}-${i}-1`);
    }
    const launched = c.members.slice(0, o.launch ?? c.members.length);
    for (const [i, m] of launched.entries()) {
        progress(`${m.name} (${m.ip}, ${m.zone}): container started; cloud-init runs its user-data`);
        launch(c, m);
        m.storeInstanceId = registerInstance(store, c.region, memberInstanceTags(plan, i));
        saveCluster(c);
    }
    for (const [i, m] of launched.entries()) {
        const r = awaitBoot(c, i);
        if (r.status !== 0) {
            throw new Error(`member ${m.name}: cloud-init reports an error (exit ${r.status}):\n${r.cloudInit}\n${r.output}`);
        }
        progress(`${m.name}: cloud-init done`);
    }
    return c;
}

/** The tags the program gives member i's instance (the cluster's etcd:cluster tag among them). */
export function memberInstanceTags(plan: LocalPlan, i: number): Record<string, string> {
    const instance = plan.resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name.endsWith(`-member-${i}`));
    if (!instance) throw new Error(`the program has no instance for member ${i}`);
    return instance.inputs.tags;
}

/** Every pid in the member's cgroups: its launcher, nspawn, and everything inside the container. */
function memberPids(m: LocalMember): number[] {
    const pids = new Set<number>();
    const visit = (dir: string) => {
        let entries: string[];
        try {
            entries = readdirSync(dir);
        } catch {
            return;
        }
        for (const line of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) if (line && alive(Number(line))) pids.add(Number(line));
        for (const e of entries) {
            if (existsSync(join(dir, e, "cgroup.procs"))) visit(join(dir, e));
        }
    };
    for (const dir of memberCgroups(m)) visit(dir);
    if (m.launcherPid && alive(m.launcherPid)) pids.add(m.launcherPid);
    return [...pids];
}

/** A process that exists and is not a zombie (a zombie is dead, only not yet reaped by its parent). */
export function alive(pid: number): boolean {
    const stat = readProc(pid, "stat");
    return stat !== undefined && !/^\d+ \(.*\) Z/s.test(stat);
}

function memberCgroups(m: LocalMember): string[] {
    const file = join(m.dir, "cgroups");
    return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

/** Powers the member off at once (as a terminated instance: no shutdown), and removes its cgroups. */
export function killContainer(m: LocalMember): void {
    for (let attempt = 0; attempt < 100; attempt++) {
        const pids = memberPids(m);
        if (pids.length === 0) break;
        for (const pid of pids) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                // already gone
            }
        }
        sleepMs(100);
    }
    const left = memberPids(m);
    if (left.length > 0) throw new Error(`member ${m.name}: processes ${left.join(", ")} survive SIGKILL`);
    for (const dir of memberCgroups(m)) {
        // Deepest first: the container's systemd made cgroups below the member's own.
        spawnSync("find", [dir, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"], { stdio: "ignore" });
        tryRun("rmdir", [dirname(dir)]); // the shared parent, once no member uses it
    }
    rmSync(join(m.dir, "cgroups"), { force: true });
    m.launcherPid = undefined;
}

/** Stops every member and removes the cluster's containers, cgroups, network, loop devices and files. */
export function down(name: string): boolean {
    const c = loadCluster(name);
    const dir = clusterDir(name);
    if (!c) {
        rmSync(dir, { recursive: true, force: true });
        return false;
    }
    for (const m of c.members) {
        killContainer(m);
        terminateInstance(c.region, m.storeInstanceId);
        if (m.loopDevice) {
            tryRun("losetup", ["-d", m.loopDevice]);
        }
        tryRun("ip", ["link", "del", m.hostVeth]);
    }
    tryRun("ip", ["link", "del", c.bridge]);
    rmSync(dir, { recursive: true, force: true });
    return true;
}

/** `systemctl` inside the member; throws with its output on failure. */
export function systemctl(c: LocalCluster, i: number, args: string[]): string {
    const r = inMember(c, i, ["systemctl", ...args]);
    if (r.status !== 0) throw new Error(`${c.members[i].name}: systemctl ${args.join(" ")} failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
}

/** A property of a unit, as `systemctl show -p NAME --value` prints it. */
export function unitProperty(c: LocalCluster, i: number, unit: string, property: string): string {
    return systemctl(c, i, ["show", "-p", property, "--value", unit]).trim();
}

/** The host pid of a process inside the member's container, given its pid there. */
function hostPid(m: LocalMember, containerPid: number): number | undefined {
    const init = containerInit(m);
    if (!init || containerPid <= 0) return undefined;
    const ns = readlinkSafe(`/proc/${init}/ns/pid`);
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        const nspid = /^NSpid:\s+(.*)$/m
            .exec(readProc(Number(entry), "status") ?? "")?.[1]
            .trim()
            .split(/\s+/);
        if (nspid && nspid[nspid.length - 1] === String(containerPid) && readlinkSafe(`/proc/${entry}/ns/pid`) === ns) return Number(entry);
    }
    return undefined;
}

function readlinkSafe(path: string): string | undefined {
    try {
        return execFileSync("readlink", [path], { encoding: "utf8" }).trim();
    } catch {
        return undefined;
    }
}

/** The host pid of the member's etcd (the unit's main process), if it runs. */
export function etcdPid(c: LocalCluster, i: number): number | undefined {
    const r = inMember(c, i, ["systemctl", "show", "-p", "MainPID", "--value", "etcd.service"]);
    return r.status === 0 ? hostPid(c.members[i], Number(r.stdout.trim())) : undefined;
}

/** `systemctl stop etcd` on the member: etcd stays down until started again. */
export function stopMember(c: LocalCluster, i: number): void {
    systemctl(c, i, ["stop", "etcd.service"]);
}

/**
 * etcd crashes (SIGKILL to its process). By default the unit's Restart= brings it back; with holdDown the
 * unit is then stopped as well, so the member stays down until `startMember`. Returns the killed host pid.
 */
export function crashMember(c: LocalCluster, i: number, o: { holdDown?: boolean } = {}): number {
    const m = c.members[i];
    const pid = etcdPid(c, i);
    if (!pid) throw new Error(`member ${m.name}: etcd is not running`);
    systemctl(c, i, ["kill", "--signal=SIGKILL", "--kill-whom=main", "etcd.service"]);
    waitUntil(() => !alive(pid), 15_000, `${m.name}: etcd did not die`);
    if (o.holdDown) {
        // Within RestartSec: the pending restart is cancelled.
        systemctl(c, i, ["stop", "etcd.service"]);
    }
    return pid;
}

/** `systemctl start etcd` on a stopped member (without waiting for it to join a quorum). */
export function startMember(c: LocalCluster, i: number): void {
    systemctl(c, i, ["start", "--no-block", "etcd.service"]);
}

/** Cuts the member off the network (its link to the bridge goes down); `heal` restores it. */
export function isolate(c: LocalCluster, i: number): void {
    sh("ip", ["link", "set", c.members[i].hostVeth, "down"]);
}

export function heal(c: LocalCluster, i: number): void {
    sh("ip", ["link", "set", c.members[i].hostVeth, "up"]);
}

/** Runs the member's boot command again inside its running container (as a second cloud-init run would). */
export function rerunBoot(c: LocalCluster, i: number): { status: number; output: string } {
    const r = inMember(c, i, ["/usr/local/sbin/etcd-bootstrap"]);
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The member's journal (every boot of its root disk), for one unit or all of it. */
export function memberJournal(c: LocalCluster, i: number, unit?: string): string {
    return inMember(c, i, ["journalctl", "--merge", "--no-pager", "-o", "short-monotonic", ...(unit ? ["-u", unit] : [])]).stdout;
}

/**
 * Replaces a member as EC2 would replace its instance: the container is gone at once, its root disk is
 * wiped, and a new instance (a new instance id) boots the same user-data with the same data volume.
 */
export function replaceMember(c: LocalCluster, i: number): BootResult {
    const m = c.members[i];
    killContainer(m);
    const userData = readFileSync(join(m.dir, "user-data"), "utf8");
    const generation = Number(
        /i-local-[0-9a-f]+-\d+-(\d+)/.exec(readFileSync(join(m.dir, "upper", "var", "lib", "cloud", "seed", "nocloud", "meta-data"), "utf8"))?.[1] ?? 1,
    );
    prepareRootDisk(c, m, userData, `i-local-${shortId(c.name)}-${i}-${generation + 1}`);
    launch(c, m);
    return awaitBoot(c, i);
}

/** Boots a member that `up` prepared but did not launch (a member added to a running cluster). */
export function launchPrepared(c: LocalCluster, i: number): BootResult {
    launch(c, c.members[i]);
    return awaitBoot(c, i);
}

/** Destroys a member's instance and its data volume (scale-down): the container, its loop device and link. */
export function destroyMember(c: LocalCluster, i: number): void {
    const m = c.members[i];
    killContainer(m);
    if (m.loopDevice) {
        tryRun("losetup", ["-d", m.loopDevice]);
    }
    tryRun("ip", ["link", "del", m.hostVeth]);
    rmSync(m.dataImage, { force: true });
    m.loopDevice = "";
    saveCluster(c);
}

/**
 * A lost data volume: the instance is gone, a new empty volume takes the old one's place (same device path)
 * and a new instance boots the same user-data on it.
 */
export function replaceDataVolume(c: LocalCluster, i: number, volumeMiB = 256): BootResult {
    const m = c.members[i];
    killContainer(m);
    if (m.loopDevice) {
        tryRun("losetup", ["-d", m.loopDevice]);
    }
    rmSync(m.dataImage, { force: true });
    sh("truncate", ["-s", `${volumeMiB}M`, m.dataImage]);
    m.loopDevice = sh("losetup", ["--find", "--show", m.dataImage]).trim();
    saveCluster(c);
    return replaceMember(c, i);
}

/** Reboots the member (`systemctl reboot` inside): root disk and data volume are kept, as on EC2. */
export function rebootMember(c: LocalCluster, i: number): void {
    const m = c.members[i];
    const before = requireInit(m);
    inMember(c, i, ["systemctl", "reboot"]);
    waitUntil(
        () => {
            const now = containerInit(m);
            return now !== undefined && now !== before;
        },
        60_000,
        `${m.name}: the container did not come back after a reboot (see ${join(m.dir, "console.log")})`,
    );
    waitUntil(() => inMember(c, i, ["systemctl", "is-system-running", "--wait"]).stdout.trim() !== "", 120_000, `${m.name}: systemd did not finish booting`);
}

/**
 * The release's etcdctl as the cluster's host client (`LocalCluster.etcdctl`), also after a version change.
 * Extracted aside and renamed over the old one: clients running the old binary keep it, and none finds it half
 * written (writing it in place fails their exec with "Text file busy").
 */
export function installHostEtcdctl(clusterDir: string, mirrorDir: string, tarball: string): void {
    const fresh = join(clusterDir, "bin.new");
    rmSync(fresh, { recursive: true, force: true });
    mkdirSync(fresh, { recursive: true });
    sh("tar", ["-xzf", join(mirrorDir, tarball), "-C", fresh, "--strip-components=1", "--wildcards", "*/etcdctl"]);
    mkdirSync(join(clusterDir, "bin"), { recursive: true });
    renameSync(join(fresh, "etcdctl"), join(clusterDir, "bin", "etcdctl"));
    rmSync(fresh, { recursive: true, force: true });
}

/** etcdctl from the host with the exported client certificate. */
export function etcdctl(c: LocalCluster, args: string[], endpoints: string[] = c.clientEndpoints): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(
        c.etcdctl,
        [
            `--endpoints=${endpoints.join(",")}`,
            `--cacert=${c.caFile}`,
            `--cert=${c.certFile}`,
            `--key=${c.keyFile}`,
            "--command-timeout=5s",
            "--dial-timeout=3s",
            ...args,
        ],
        { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } },
    );
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export interface EndpointState {
    endpoint: string;
    healthy: boolean;
    leader: boolean;
    detail: string;
}

/** Health and role of each member, one endpoint at a time. */
export function endpointStates(c: LocalCluster): EndpointState[] {
    return c.clientEndpoints.map((endpoint) => {
        const health = etcdctl(c, ["endpoint", "health"], [endpoint]);
        const status = etcdctl(c, ["endpoint", "status", "-w", "json"], [endpoint]);
        let leader = false;
        try {
            const s = JSON.parse(status.stdout)[0].Status;
            leader = s.leader === s.header.member_id;
        } catch {
            // unreachable member: no status
        }
        return { endpoint, healthy: health.status === 0, leader, detail: (health.stdout + health.stderr).trim().split("\n")[0] ?? "" };
    });
}

/** Polls until `check` holds or the time is up; throws with the message then. */
export function waitUntil(check: () => boolean, timeoutMs: number, message: string | (() => string)): number {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
        if (check()) {
            return Date.now() - start;
        }
        spawnSync("sleep", ["0.1"]);
    }
    throw new Error(`${typeof message === "string" ? message : message()} (after ${timeoutMs} ms)`);
}

/** Waits until every member answers healthy; returns the milliseconds it took. */
export function waitHealthy(c: LocalCluster, timeoutMs = 60000): number {
    return waitUntil(
        () => etcdctl(c, ["endpoint", "health"]).status === 0,
        timeoutMs,
        () => `cluster ${c.name} did not become healthy: ${etcdctl(c, ["endpoint", "health"]).stderr.trim()}`,
    );
}
