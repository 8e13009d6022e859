// Real etcd on loopback and moto (AWS APIs) for the backup and restore scripts: processes on random free
// ports, each member's scripts run in a copy-on-write view of this machine (overlay-root.sh).
import { ChildProcess, spawn } from "child_process";
import { existsSync, mkdirSync, writeFileSync } from "fs";
import { createServer } from "net";
import { join } from "path";
import { run, RunResult } from "./tools";

const repo = join(__dirname, "..", "..");
export const overlayRoot = join(__dirname, "overlay-root.sh");

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as { port: number }).port;
            server.close(() => resolve(port));
        });
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** etcd, etcdctl (and etcdutl from 3.5) of a mirrored release, unpacked into `dir`. */
export function unpackRelease(version: string, dir: string): string {
    const tarball = join(repo, ".cache", "etcd-mirror", `v${version}`, `etcd-v${version}-linux-amd64.tar.gz`);
    if (!existsSync(tarball)) {
        throw new Error(`prerequisite missing: ${tarball}; run \`npm run setup\` first`);
    }
    mkdirSync(dir, { recursive: true });
    const r = run("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"]);
    if (r.status !== 0) throw new Error(r.stderr);
    return dir;
}

/** moto's server mode on 127.0.0.1, with credentials any client may use. */
export class Moto {
    private constructor(
        private readonly process: ChildProcess,
        public readonly url: string,
    ) {}

    static async start(): Promise<Moto> {
        const port = await freePort();
        const child = spawn("python3", ["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
        const moto = new Moto(child, `http://127.0.0.1:${port}`);
        for (let i = 0; i < 100; i++) {
            try {
                await fetch(`${moto.url}/moto-api/`);
                return moto;
            } catch {
                await sleep(100);
            }
        }
        moto.stop();
        throw new Error('moto did not start (python3 -m moto.server; pip install "moto[server]")');
    }

    /** Environment for the real AWS CLI: dummy credentials and a region. */
    static env = { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_DEFAULT_REGION: "eu-west-1" };

    aws(args: string[]): RunResult {
        return run("aws", ["--endpoint-url", this.url, "--region", "eu-west-1", ...args], { env: { ...process.env, ...Moto.env } });
    }

    awsJson<T = unknown>(args: string[]): T {
        const r = this.aws([...args, "--output", "json"]);
        if (r.status !== 0) throw new Error(`aws ${args.join(" ")}: ${r.stderr}`);
        return JSON.parse(r.stdout || "null");
    }

    /** An `aws` that is the real CLI with this endpoint added (what the local members use). */
    awsWrapper(): string {
        const real = run("sh", ["-c", "command -v aws"]).stdout.trim();
        return `#!/bin/bash\nexec ${real} --endpoint-url ${this.url} "$@"\n`;
    }

    stop(): void {
        this.process.kill("SIGTERM");
    }
}

export interface LoopbackMember {
    name: string;
    clientUrl: string;
    peerUrl: string;
    dataDir: string;
    process?: ChildProcess;
}

/** A plaintext etcd cluster on 127.0.0.1: the snapshot logic does not depend on TLS, which other tests cover. */
export class LoopbackCluster {
    constructor(
        public readonly members: LoopbackMember[],
        public readonly token: string,
        private readonly bin: string,
    ) {}

    static async create(bin: string, names: string[], dataDirs: string[], token: string): Promise<LoopbackCluster> {
        const members: LoopbackMember[] = [];
        for (const [i, name] of names.entries()) {
            members.push({ name, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}`, dataDir: dataDirs[i] });
        }
        return new LoopbackCluster(members, token, bin);
    }

    get initialCluster(): string {
        return this.members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    }

    /** The etcd.env lines the restore script reads for `member`. */
    envFile(member: LoopbackMember): string {
        return [
            `ETCD_NAME=${member.name}`,
            `ETCD_INITIAL_CLUSTER=${this.initialCluster}`,
            `ETCD_INITIAL_CLUSTER_TOKEN=${this.token}`,
            `ETCD_INITIAL_ADVERTISE_PEER_URLS=${member.peerUrl}`,
            "",
        ].join("\n");
    }

    start(member: LoopbackMember): void {
        member.process = spawn(
            join(this.bin, "etcd"),
            [
                `--name=${member.name}`,
                `--data-dir=${member.dataDir}`,
                `--listen-client-urls=${member.clientUrl}`,
                `--advertise-client-urls=${member.clientUrl}`,
                `--listen-peer-urls=${member.peerUrl}`,
                `--initial-advertise-peer-urls=${member.peerUrl}`,
                `--initial-cluster=${this.initialCluster}`,
                `--initial-cluster-token=${this.token}`,
                "--initial-cluster-state=new",
                "--heartbeat-interval=50",
                "--election-timeout=500",
            ],
            { stdio: "ignore" },
        );
    }

    async startAll(): Promise<void> {
        this.members.forEach((m) => this.start(m));
        await this.waitHealthy();
    }

    async waitHealthy(members = this.members.filter((m) => m.process)): Promise<void> {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
            if (this.etcdctl(["endpoint", "health"], ...members).status === 0) return;
            await sleep(200);
        }
        throw new Error(`etcd members ${members.map((m) => m.name).join(", ")} did not become healthy`);
    }

    /** etcdctl against `members` (default: the running ones). */
    etcdctl(args: string[], ...members: LoopbackMember[]): RunResult {
        const endpoints = (members.length ? members : this.members.filter((m) => m.process)).map((m) => m.clientUrl).join(",");
        return run(join(this.bin, "etcdctl"), ["--command-timeout=5s", `--endpoints=${endpoints}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
    }

    /** The member that leads now. */
    leader(): LoopbackMember {
        for (const m of this.members.filter((x) => x.process)) {
            const r = this.etcdctl(["endpoint", "status", "-w", "fields"], m);
            const field = (k: string) => new RegExp(`^"${k}" : (\\d+)$`, "m").exec(r.stdout)?.[1];
            if (r.status === 0 && field("MemberID") === field("Leader")) return m;
        }
        throw new Error("no leader");
    }

    async stop(member: LoopbackMember): Promise<void> {
        const p = member.process;
        if (!p) return;
        member.process = undefined;
        if (p.exitCode !== null) return;
        await new Promise<void>((resolve) => {
            p.once("exit", () => resolve());
            p.kill("SIGKILL");
        });
    }

    async stopAll(): Promise<void> {
        for (const m of this.members) await this.stop(m);
    }
}

/**
 * A member host for the scripts: `dir`/upper holds the member's own files (etcdctl profile, etcd.env,
 * the etcd release in /usr/local/bin); commands run in the copy-on-write view with the AWS wrapper first
 * on PATH, as root.
 */
export class MemberHost {
    static readonly awsDir = "/opt/aws-endpoint";

    constructor(public readonly dir: string) {}

    static create(dir: string, moto: Moto, files: Record<string, { content: string | Buffer; mode?: number }>): MemberHost {
        files = { ...files, [`${MemberHost.awsDir}/aws`]: { content: moto.awsWrapper(), mode: 0o755 } };
        for (const [path, f] of Object.entries(files)) {
            const target = join(dir, "upper", path);
            mkdirSync(join(target, ".."), { recursive: true });
            writeFileSync(target, f.content, { mode: f.mode ?? 0o644 });
        }
        return new MemberHost(dir);
    }

    run(command: string[]): RunResult {
        return run(overlayRoot, [this.dir, ...command], {
            env: { ...process.env, ...Moto.env, PATH: `${MemberHost.awsDir}:/usr/local/sbin:/usr/local/bin:${process.env.PATH}` },
        });
    }

    /** A path inside the member's view, as seen from this machine (its writes only). */
    upper(path: string): string {
        return join(this.dir, "upper", path);
    }
}
