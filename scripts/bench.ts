// `npm run bench`: boots 3-member local clusters from the rendered user-data and reports launch-to-healthy
// time, leader-kill-to-first-write time and resident memory per member, each next to its floor.
// A report, not a test: figures depend on the machine, which is printed with them.
import { spawnSync } from "child_process";
import { cpus, release, totalmem } from "os";
import { readFileSync } from "fs";
import { join } from "path";
import { newestMirrored } from "./lib/mirror/mirrorLines";
import { crashMember, down, endpointStates, etcdctl, etcdPid, LocalCluster, startMember, waitHealthy } from "./lib/local/localCluster";

const repo = join(__dirname, "..");

interface Round {
    launchToHealthyMs: number;
    launchFromFirstBootMs: number;
    electionMs: number;
    failoverMs: number;
    rssIdleMiB: number[];
    rssLoadedMiB: number[];
}

function parseArgs(argv: string[]): { versions: string[]; rounds: number } {
    // The newest 3.5 and the newest 3.4 the local mirror holds (`npm run setup` fills it).
    let versions: string[] | undefined;
    let rounds = 3;
    for (let i = 0; i < argv.length; i++) {
        // A version, or a minor line ("3.5") for the newest of that line in the mirror.
        if (argv[i] === "--etcd-version") versions = [/^\d+\.\d+$/.test(argv[i + 1] ?? "") ? newestMirrored(argv[++i]) : argv[++i]];
        else if (argv[i] === "--rounds") rounds = Number(argv[++i]);
        else throw new Error(`unknown option ${argv[i]}; usage: npm run bench -- [--etcd-version V|LINE] [--rounds N]`);
    }
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds: expected a positive integer");
    return { versions: versions ?? ["3.5", "3.4"].map((line) => newestMirrored(line)), rounds };
}

const log = (message: string) => console.error(`[bench] ${message}`);

interface Booted {
    cluster: LocalCluster;
    timings: { bootMs: number; healthyAfterLastBootMs: number };
}

/** Boots a cluster through `npm run local`'s entry point, which times the boot and the wait for health. */
function boot(name: string, networkIndex: number, version: string): Booted {
    const r = spawnSync(
        join(repo, "node_modules", ".bin", "ts-node"),
        ["--transpile-only", join(repo, "scripts", "local.ts"), "--json", "--name", name, "--network-index", String(networkIndex), "--etcd-version", version],
        { cwd: repo, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    if (r.status !== 0) throw new Error(`local cluster ${name} failed:\n${r.stderr}`);
    return JSON.parse(r.stdout) as Booted;
}

const rssMiB = (pid: number | undefined) => {
    if (!pid) return NaN;
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
        .split("\n")
        .find((l) => l.startsWith("VmRSS:"));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
};

function pollMs(check: () => boolean, timeoutMs: number, what: string): number {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
        if (check()) return Date.now() - start;
        spawnSync("sleep", ["0.05"]);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
}

function round(version: string, index: number): Round {
    const name = `bench-${index}`;
    down(name);
    // Launch: the members' boot commands have run (etcd started without blocking); healthy: every endpoint
    // answers `etcdctl endpoint health` (polled every 100 ms by local.ts).
    const { cluster: c, timings } = boot(name, 200 + index, version);
    try {
        const launchToHealthyMs = timings.healthyAfterLastBootMs;
        const launchFromFirstBootMs = timings.bootMs + timings.healthyAfterLastBootMs;
        const electionMs = electionTimeoutMs(c);
        spawnSync("sleep", ["10"]);
        const rssIdleMiB = c.members.map((m) => rssMiB(etcdPid(m)));
        // 10000 keys of 100 bytes in transactions of 100 puts (etcdctl txn reads its operations from stdin).
        const value = "x".repeat(100);
        for (let batch = 0; batch < 100; batch++) {
            const ops = Array.from({ length: 100 }, (_, k) => `put /bench/${batch}/${k} ${value}`).join("\n");
            const r = spawnSync(
                c.etcdctl,
                [`--endpoints=${c.clientEndpoints.join(",")}`, `--cacert=${c.caFile}`, `--cert=${c.certFile}`, `--key=${c.keyFile}`, "txn"],
                {
                    input: `\n${ops}\n\n\n`,
                    encoding: "utf8",
                    env: { ...process.env, ETCDCTL_API: "3" },
                },
            );
            if (r.status !== 0) throw new Error(`write batch ${batch} failed: ${r.stderr}`);
        }
        const rssLoadedMiB = c.members.map((m) => rssMiB(etcdPid(m)));

        const leader = endpointStates(c).findIndex((s) => s.leader);
        if (leader < 0) throw new Error("no leader before failover");
        const survivors = c.clientEndpoints.filter((_, i) => i !== leader);
        crashMember(c, leader);
        let n = 0;
        const failoverMs = pollMs(
            () => etcdctl(c, ["put", `/bench/failover/${n++}`, "x", "--command-timeout=200ms"], survivors).status === 0,
            30000,
            "write after leader kill",
        );
        startMember(c, leader);
        waitHealthy(c, 60000);
        return { launchToHealthyMs, launchFromFirstBootMs, electionMs, failoverMs, rssIdleMiB, rssLoadedMiB };
    } finally {
        down(name);
    }
}

function stats(values: number[]): string {
    const sorted = [...values].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    return `${f(sorted[0])} / ${f(median)} / ${f(sorted[sorted.length - 1])}`;
}

function electionTimeoutMs(c: LocalCluster): number {
    const env = readFileSync(join(c.members[0].dir, "upper", "etc", "etcd", "etcd.env"), "utf8");
    return Number(/^ETCD_ELECTION_TIMEOUT=(\d+)/m.exec(env)?.[1] ?? NaN);
}

function main(): void {
    if (process.getuid?.() !== 0) throw new Error("npm run bench needs root (network namespaces, loop devices, mounts)");
    const { versions, rounds } = parseArgs(process.argv.slice(2));
    const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU";
    const machine = `${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}`;
    const out: string[] = [`machine: ${machine}`, `rounds: ${rounds} per version (min / median / max)`, ""];
    versions.forEach((version, v) => {
        const results: Round[] = [];
        for (let r = 0; r < rounds; r++) {
            log(`etcd ${version}, round ${r + 1} of ${rounds}`);
            results.push(round(version, v * 20 + r));
        }
        const election = results[0].electionMs;
        const rows = [
            ["metric", "min / median / max", "floor"],
            [
                "last member launched to all healthy (ms)",
                stats(results.map((r) => r.launchToHealthyMs)),
                `first election: up to one election timeout (${election} ms)`,
            ],
            ["first member launched to all healthy (ms)", stats(results.map((r) => r.launchFromFirstBootMs)), "boot steps of every member, then the above"],
            ["leader killed to first write (ms)", stats(results.map((r) => r.failoverMs)), `election timeout ${election} ms (randomized up to 2x)`],
            ["RSS per member, idle (MiB)", stats(results.flatMap((r) => r.rssIdleMiB)), "-"],
            ["RSS per member, 10000 keys (MiB)", stats(results.flatMap((r) => r.rssLoadedMiB)), "-"],
        ];
        const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
        out.push(`etcd ${version}`);
        for (const row of rows)
            out.push(
                `  ${row
                    .map((cell, col) => cell.padEnd(widths[col]))
                    .join("  ")
                    .trimEnd()}`,
            );
        out.push("");
    });
    console.log(out.join("\n"));
}

try {
    main();
} catch (e) {
    console.error(`npm run bench: ${(e as Error).message}`);
    process.exit(1);
}
