// Boots a rendered cluster on this machine: each member a test host of its own (network namespace on a
// shared bridge, private mount namespace, copy-on-write root, loop-device data volume), running its exact
// user-data: the same write_files and the same boot command. Also the operations the cluster tests need:
// stop, kill, isolate, replace a member, and etcdctl with the exported client certificate.
import { execFileSync, spawnSync } from "child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createHash } from "crypto";
import { dirname, join } from "path";
import { parse } from "yaml";
import { LocalPlan } from "./localRender";

const repoRoot = join(__dirname, "..", "..");
export const localStateRoot = join(repoRoot, ".cache", "local");
const sandboxScript = join(repoRoot, "scripts", "local", "member-sandbox.sh");

export interface LocalMember {
    name: string;
    ip: string;
    zone: string;
    /** Network namespace and the host side of its veth pair. */
    netns: string;
    hostVeth: string;
    dir: string;
    dataImage: string;
    loopDevice: string;
    volumeId: string;
}

/** Everything needed to operate a running local cluster; saved as cluster.json in its directory. */
export interface LocalCluster {
    name: string;
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
}

export interface UpOptions {
    name: string;
    /** The member network's /24 prefix; must match the plan's addresses. */
    networkPrefix: string;
    mirrorDir: string;
    /** Release tarball inside mirrorDir, relative, e.g. v3.5.30/etcd-v3.5.30-linux-amd64.tar.gz. */
    tarball: string;
    /** Size of each member's data volume image in MiB. */
    dataVolumeMiB?: number;
    progress?: (message: string) => void;
}

const sh = (command: string, args: string[], input?: string): string =>
    execFileSync(command, args, { encoding: "utf8", input, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });

/** Like sh, but a failure is tolerated (cleanup paths). */
const tryRun = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: "ignore" }).status === 0;

/** Interface names are limited to 15 characters: a short stable hash of the cluster name keeps them apart. */
function shortId(name: string): string {
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

interface WrittenFile {
    path: string;
    content: string;
    permissions?: string;
    owner?: string;
}

/** Applies cloud-init's write_files to the member's upper layer, which becomes its root at boot. */
function writeFiles(upper: string, files: WrittenFile[]): void {
    for (const f of files) {
        if (!f.path.startsWith("/") || f.path.includes("..")) {
            throw new Error(`write_files: refusing path ${f.path}`);
        }
        const target = join(upper, f.path);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, f.content);
        chmodSync(target, parseInt(f.permissions ?? "0644", 8));
        const [user, group] = (f.owner ?? "root:root").split(":");
        if (user !== "root" || (group ?? "root") !== "root") {
            throw new Error(`write_files: ${f.path} is owned by ${f.owner}; only root-owned files exist before the boot script creates users`);
        }
        chownSync(target, 0, 0);
    }
}

function createNetwork(c: LocalCluster, prefixLength: number): void {
    tryRun("ip", ["link", "del", c.bridge]);
    sh("ip", ["link", "add", c.bridge, "type", "bridge"]);
    sh("ip", ["addr", "add", `${c.gatewayIp}/${prefixLength}`, "dev", c.bridge]);
    sh("ip", ["link", "set", c.bridge, "up"]);
    for (const m of c.members) {
        tryRun("ip", ["netns", "del", m.netns]);
        tryRun("ip", ["link", "del", m.hostVeth]);
        sh("ip", ["netns", "add", m.netns]);
        sh("ip", ["link", "add", m.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", m.netns]);
        sh("ip", ["link", "set", m.hostVeth, "master", c.bridge]);
        sh("ip", ["link", "set", m.hostVeth, "up"]);
        sh("ip", ["-n", m.netns, "addr", "add", `${m.ip}/${prefixLength}`, "dev", "eth0"]);
        sh("ip", ["-n", m.netns, "link", "set", "eth0", "up"]);
        sh("ip", ["-n", m.netns, "link", "set", "lo", "up"]);
        sh("ip", ["-n", m.netns, "route", "add", "default", "via", c.gatewayIp]);
    }
}

/** Fresh upper layer for a member: everything but its data volume starts empty. */
function resetMemberRoot(m: LocalMember): void {
    for (const sub of ["upper", "overlay-work", "root", "state"]) {
        rmSync(join(m.dir, sub), { recursive: true, force: true });
        mkdirSync(join(m.dir, sub), { recursive: true });
    }
}

function writeParameters(m: LocalMember, parameters: Record<string, string>): void {
    const store = join(m.dir, "ssm");
    rmSync(store, { recursive: true, force: true });
    mkdirSync(store, { recursive: true, mode: 0o700 });
    for (const [name, value] of Object.entries(parameters)) {
        const file = join(store, createHash("sha256").update(name).digest("hex"));
        writeFileSync(file, value, { mode: 0o600 });
    }
}

/** The member's boot: write_files into its root, then each runcmd entry inside its sandbox. */
function bootMember(c: LocalCluster, m: LocalMember, userData: string): { status: number; output: string } {
    const config = parse(userData);
    writeFiles(join(m.dir, "upper"), config.write_files ?? []);
    writeFileSync(join(m.dir, "user-data"), userData, { mode: 0o600 });
    let output = "";
    for (const entry of config.runcmd ?? []) {
        const command = Array.isArray(entry) ? entry.map(String) : ["/bin/sh", "-c", String(entry)];
        const r = spawnSync(
            "ip",
            [
                "netns",
                "exec",
                m.netns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "bash",
                sandboxScript,
                m.dir,
                m.loopDevice,
                m.volumeId,
                c.mirrorDir,
                ...command,
            ],
            {
                encoding: "utf8",
            },
        );
        output += `${r.stdout ?? ""}${r.stderr ?? ""}`;
        if (r.status !== 0) {
            return { status: r.status ?? 1, output };
        }
    }
    writeFileSync(join(m.dir, "boot.log"), output);
    return { status: 0, output };
}

/** Boots every member of a rendered plan; returns once all boot commands have run (etcd starts in the background). */
export function up(plan: LocalPlan, o: UpOptions): LocalCluster {
    const progress = o.progress ?? (() => undefined);
    const dir = clusterDir(o.name);
    if (loadCluster(o.name)) {
        down(o.name);
    }
    mkdirSync(dir, { recursive: true });
    const id = shortId(o.name);
    const c: LocalCluster = {
        name: o.name,
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
        members: plan.members.map((p, i) => ({
            name: p.name,
            ip: p.ip,
            zone: p.zone,
            netns: `etcd-${id}-${i}`,
            hostVeth: `etc-${id}-${i}`,
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
    const save = () => writeFileSync(join(dir, "cluster.json"), JSON.stringify(c, null, 2));
    save();

    mkdirSync(join(dir, "client"), { recursive: true, mode: 0o700 });
    writeFileSync(c.caFile, plan.caCertPem);
    writeFileSync(c.certFile, plan.clientCertPem);
    writeFileSync(c.keyFile, plan.clientKeyPem, { mode: 0o600 });
    mkdirSync(join(dir, "bin"), { recursive: true });
    sh("tar", ["-xzf", join(o.mirrorDir, o.tarball), "-C", join(dir, "bin"), "--strip-components=1", "--wildcards", "*/etcdctl"]);

    progress(`network: bridge ${c.bridge} (${c.gatewayIp}/24), one namespace per member`);
    createNetwork(c, 24);
    for (const [i, m] of c.members.entries()) {
        mkdirSync(m.dir, { recursive: true });
        resetMemberRoot(m);
        sh("truncate", ["-s", `${o.dataVolumeMiB ?? 256}M`, m.dataImage]);
        m.loopDevice = sh("losetup", ["--find", "--show", m.dataImage]).trim();
        save();
        writeParameters(m, plan.members[i].parameters);
    }
    for (const [i, m] of c.members.entries()) {
        progress(`${m.name} (${m.ip}, ${m.zone}): running its user-data`);
        const r = bootMember(c, m, plan.members[i].userData);
        if (r.status !== 0) {
            throw new Error(`member ${m.name}: boot command failed (exit ${r.status}):\n${r.output}`);
        }
    }
    return c;
}

/** Pids of every process whose root is inside the member's sandbox. */
function sandboxPids(m: LocalMember): number[] {
    const root = join(m.dir, "root");
    const out = spawnSync(
        "sh",
        ["-c", 'for p in /proc/[0-9]*; do r=$(readlink "$p/root" 2>/dev/null) && [ "$r" = "$1" ] && echo "${p#/proc/}"; done', "sh", root],
        {
            encoding: "utf8",
        },
    );
    return (out.stdout ?? "").split("\n").filter(Boolean).map(Number);
}

function killSandbox(m: LocalMember): void {
    for (let attempt = 0; attempt < 50; attempt++) {
        const pids = sandboxPids(m);
        if (pids.length === 0) {
            return;
        }
        for (const pid of pids) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                // already gone
            }
        }
        spawnSync("sleep", ["0.1"]);
    }
    throw new Error(`member ${m.name}: processes ${sandboxPids(m).join(", ")} survive SIGKILL`);
}

/** Stops every member and removes the cluster's network, loop devices and files. */
export function down(name: string): boolean {
    const c = loadCluster(name);
    const dir = clusterDir(name);
    if (!c) {
        rmSync(dir, { recursive: true, force: true });
        return false;
    }
    for (const m of c.members) {
        killSandbox(m);
        if (m.loopDevice) {
            tryRun("losetup", ["-d", m.loopDevice]);
        }
        tryRun("ip", ["netns", "del", m.netns]);
        tryRun("ip", ["link", "del", m.hostVeth]);
    }
    tryRun("ip", ["link", "del", c.bridge]);
    rmSync(dir, { recursive: true, force: true });
    return true;
}

const unitState = (m: LocalMember, file: string) => join(m.dir, "state", file);

/** `systemctl stop etcd` on the member: etcd gets SIGTERM and stays down until started again. */
export function stopMember(c: LocalCluster, i: number): void {
    const m = c.members[i];
    writeFileSync(unitState(m, "etcd.service.stopped"), "");
    signalEtcd(m, "SIGTERM");
    waitUntil(() => !etcdAlive(m), 15000, `${m.name}: etcd did not stop`);
}

/** SIGKILL to the member's etcd, as a crash; it stays down until started again. */
export function crashMember(c: LocalCluster, i: number): void {
    const m = c.members[i];
    writeFileSync(unitState(m, "etcd.service.stopped"), "");
    signalEtcd(m, "SIGKILL");
    waitUntil(() => !etcdAlive(m), 15000, `${m.name}: etcd did not die`);
}

/** `systemctl start etcd` on a stopped member. */
export function startMember(c: LocalCluster, i: number): void {
    rmSync(unitState(c.members[i], "etcd.service.stopped"), { force: true });
}

export function etcdPid(m: LocalMember): number | undefined {
    const file = unitState(m, "etcd.service.pid");
    return existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : undefined;
}

function etcdAlive(m: LocalMember): boolean {
    const pid = etcdPid(m);
    if (!pid) return false;
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

function signalEtcd(m: LocalMember, signal: NodeJS.Signals): void {
    const pid = etcdPid(m);
    if (pid) {
        try {
            process.kill(pid, signal);
        } catch {
            // already gone
        }
    }
}

/** Cuts the member off the network (its link to the bridge goes down); `heal` restores it. */
export function isolate(c: LocalCluster, i: number): void {
    sh("ip", ["link", "set", c.members[i].hostVeth, "down"]);
}

export function heal(c: LocalCluster, i: number): void {
    sh("ip", ["link", "set", c.members[i].hostVeth, "up"]);
}

/** Runs the member's boot command again in its running sandbox (as a second cloud-init run would). */
export function rerunBoot(c: LocalCluster, i: number): { status: number; output: string } {
    const m = c.members[i];
    const holder = sandboxPids(m)[0];
    if (!holder) {
        throw new Error(`member ${m.name} has no running sandbox`);
    }
    const r = spawnSync(
        "nsenter",
        [
            "--target",
            String(holder),
            "--mount",
            "--net",
            "chroot",
            join(m.dir, "root"),
            "/usr/bin/env",
            "-i",
            "HOME=/root",
            "PATH=/run/local-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            "/usr/local/sbin/etcd-bootstrap",
        ],
        {
            encoding: "utf8",
        },
    );
    return { status: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

/** Runs a command inside a member's sandbox (its mount and network namespaces, chrooted). */
export function inMember(c: LocalCluster, i: number, command: string[]): { status: number; stdout: string; stderr: string } {
    const m = c.members[i];
    const holder = sandboxPids(m)[0];
    if (!holder) {
        throw new Error(`member ${m.name} has no running sandbox`);
    }
    const r = spawnSync(
        "nsenter",
        [
            "--target",
            String(holder),
            "--mount",
            "--net",
            "chroot",
            join(m.dir, "root"),
            "/usr/bin/env",
            "-i",
            "HOME=/root",
            "PATH=/run/local-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            ...command,
        ],
        {
            encoding: "utf8",
        },
    );
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/**
 * Replaces a member as EC2 would replace its instance: every process is gone, everything but the data
 * volume is wiped, and the same user-data runs on a fresh root.
 */
export function replaceMember(c: LocalCluster, i: number): { status: number; output: string } {
    const m = c.members[i];
    killSandbox(m);
    const userData = readFileSync(join(m.dir, "user-data"), "utf8");
    resetMemberRoot(m);
    return bootMember(c, m, userData);
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

/**
 * Replaces a member as EC2 would after losing its data volume: every process is gone, the volume is a new,
 * empty one (its contents wiped), and the same user-data runs on a fresh root.
 */
export function replaceMemberWithEmptyVolume(c: LocalCluster, i: number): { status: number; output: string } {
    const m = c.members[i];
    killSandbox(m);
    sh("dd", ["if=/dev/zero", `of=${m.loopDevice}`, "bs=1M", "count=16", "conv=fsync", "status=none"]);
    const userData = readFileSync(join(m.dir, "user-data"), "utf8");
    resetMemberRoot(m);
    return bootMember(c, m, userData);
}
