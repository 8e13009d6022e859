// `npm run local`: boots the example stack's etcd cluster on this machine from its exact user-data, with
// local stand-ins for AWS only. `npm run local -- --down` stops it and removes its files.
import { join } from "path";
import { down, endpointStates, installHostEtcdctl, loadCluster, LocalCluster, localStateRoot, up, waitHealthy } from "./lib/local/localCluster";
import { applyToRunningCluster, loadState, LocalState, recordBootedProgram } from "./lib/local/localResources";
import { RefusedChange } from "./lib/local/localApply";
import { chooseNetworkIndex, downCommand, networkIndexes, networkPrefix as prefixOf, readNetworkState } from "./lib/local/localNetwork";
import { renderLocalPlan } from "./lib/local/localRender";
import { backupStoreAddress, removeBackupStore, runningBackupStore } from "./lib/local/backupStore";
import { findRelease } from "./lib/local/localRelease";
import { spawnSync } from "child_process";

const usage = `usage: npm run local -- [--size N] [--zones N] [--etcd-version V] [--etcd-dir DIR] [--name NAME] [--network-index K] [--auth] [--quota-bytes N] [--no-backup] [--restore s3://BUCKET/KEY] [--json] [--plan-only]
       npm run local -- --name NAME [--size N] [--etcd-version V] ... [--unprotect RESOURCE,...]   (on a running cluster: applies the change)
       npm run local -- --down [--name NAME] [--backup-store]`;

interface CliOptions {
    down: boolean;
    json: boolean;
    planOnly: boolean;
    auth: boolean;
    size: number;
    zones: number;
    name: string;
    /** Given with --network-index; otherwise a free range is chosen. */
    networkIndex?: number;
    etcdVersion?: string;
    etcdDir?: string;
    /** The component's restore.from: the new cluster is restored from this backup. */
    restoreFrom?: string;
    /** With --down: also stop the local backup store, losing every backup it holds. */
    backupStore: boolean;
    /** tuning.quotaBackendBytes of the stack; the members' volumes are sized for it. */
    quotaBytes?: number;
    /** backup.enabled: false. */
    noBackup?: boolean;
    /** Protected resources a change on a running cluster may delete (its leaving members' data volumes). */
    unprotect: string[];
    /** The flags given: on a running cluster, the others keep the running program's values. */
    given: Set<string>;
}

function parseArgs(argv: string[]): CliOptions {
    const o: CliOptions = {
        down: false,
        json: false,
        planOnly: false,
        auth: false,
        size: 3,
        zones: 3,
        name: "local",
        backupStore: false,
        unprotect: [],
        given: new Set(),
    };
    const value = (i: number) => {
        if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value\n${usage}`);
        return argv[i + 1];
    };
    const integer = (flag: string, text: string, min: number, max: number) => {
        const n = Number(text);
        if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        o.given.add(argv[i]);
        switch (argv[i]) {
            case "--down":
                o.down = true;
                break;
            case "--json":
                o.json = true;
                break;
            case "--plan-only":
                o.planOnly = true;
                break;
            case "--auth":
                o.auth = true;
                break;
            case "--restore":
                o.restoreFrom = value(i++);
                break;
            case "--backup-store":
                o.backupStore = true;
                break;
            case "--quota-bytes":
                o.quotaBytes = integer("--quota-bytes", value(i++), 2 ** 20, 100 * 2 ** 30);
                break;
            case "--no-backup":
                o.noBackup = true;
                break;
            case "--size":
                o.size = integer("--size", value(i++), 1, 9);
                break;
            case "--zones":
                o.zones = integer("--zones", value(i++), 1, 4);
                break;
            case "--name":
                o.name = value(i++);
                break;
            case "--network-index":
                o.networkIndex = integer("--network-index", value(i++), networkIndexes.min, networkIndexes.max);
                break;
            case "--etcd-version":
                o.etcdVersion = value(i++);
                break;
            case "--etcd-dir":
                o.etcdDir = value(i++);
                break;
            case "--unprotect":
                o.unprotect = value(i++).split(",");
                break;
            case "-h":
            case "--help":
                console.log(usage);
                process.exit(0);
                break;
            default:
                throw new Error(`unknown option ${argv[i]}\n${usage}`);
        }
    }
    return o;
}

/** Command-line flags of the component arguments the runner sets, so that an argument error names what was typed. */
const flagOfArgument: Record<string, string> = {
    auth: "--auth",
    size: "--size",
    version: "--etcd-version",
    subnetIds: "--zones",
    restore: "--restore",
    "restore.from": "--restore",
    "tuning.quotaBackendBytes": "--quota-bytes",
};

function inFlagTerms(e: Error): Error {
    const argument = (e as { argument?: unknown }).argument;
    if (typeof argument !== "string" || !flagOfArgument[argument] || !e.message.startsWith(`${argument}: `)) return e;
    return new Error(`${flagOfArgument[argument]}: ${e.message.slice(argument.length + 2)}`);
}

function table(rows: string[][]): string {
    const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
    return rows
        .map((r) =>
            r
                .map((cell, col) => cell.padEnd(widths[col]))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}

async function main(): Promise<void> {
    const o = parseArgs(process.argv.slice(2));
    if (process.getuid?.() !== 0) {
        throw new Error("npm run local needs root: it starts containers and creates a bridge, loop devices and cgroups");
    }
    if (o.backupStore && !o.down) throw new Error(`--backup-store goes with --down\n${usage}`);
    if (o.down) {
        console.log(down(o.name) ? `local cluster ${o.name} stopped and removed` : `no local cluster named ${o.name}`);
        const store = runningBackupStore();
        if (o.backupStore) {
            console.log(
                removeBackupStore()
                    ? `local backup store stopped and removed (every backup it held is gone; interface ${backupStoreAddress.link} deleted)`
                    : "no local backup store was running",
            );
        } else if (store) {
            console.log(
                `kept: the local backup store (moto at ${store.endpoint}, pid ${store.pid}), which holds the backups of every local cluster, ` +
                    `as S3 outlives a cluster. Remove it too with: npm run local -- --down --backup-store`,
            );
        }
        return;
    }
    // A running cluster with a recorded program: the command applies the change; unchanged flags keep its values.
    const running = o.planOnly ? undefined : runningProgram(o.name);
    if (running) {
        o.size = o.given.has("--size") ? o.size : running.options.size;
        o.zones = o.given.has("--zones") ? o.zones : running.options.zones;
        o.auth = o.auth || running.options.auth;
        o.quotaBytes = o.given.has("--quota-bytes") ? o.quotaBytes : running.options.quotaBytes;
        o.noBackup = o.noBackup || running.options.noBackup;
        // restore.from only seeds a new cluster: a running one keeps its data.
        if (o.restoreFrom) throw new Error(`--restore applies to a new cluster; ${o.name} runs (remove it first with: ${downCommand(o.name)})`);
        if (!o.given.has("--etcd-version") && !o.given.has("--etcd-dir")) {
            o.etcdVersion = running.options.version;
            o.etcdDir = running.options.etcdDir;
        }
    }
    const log = (message: string) => console.error(`[local ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
    const started = Date.now();
    // A range held by another cluster or interface is refused now, not after a two-minute health wait.
    const network =
        o.planOnly && o.networkIndex !== undefined ? { index: o.networkIndex } : chooseNetworkIndex(readNetworkState(localStateRoot), o.name, o.networkIndex);
    if (network.note) log(network.note);
    const networkPrefix = prefixOf(network.index);
    const runningGateway = running && loadCluster(o.name)?.gatewayIp;
    if (runningGateway && runningGateway !== `${networkPrefix}.1`) {
        throw new Error(
            `--network-index: cluster ${o.name} runs in ${runningGateway.replace(/\.1$/, ".0/24")}; a running cluster cannot move (remove it first: ${downCommand(o.name)})`,
        );
    }
    const mirrorDir = join(__dirname, "..", ".cache", "etcd-mirror");
    const release = findRelease({ mirrorDir, version: o.etcdVersion, etcdDir: o.etcdDir });
    log(`etcd ${release.version}: ${release.tarball} (sha256 ${release.sha256.slice(0, 12)}...)`);
    log(`rendering the example stack under mocks: ${o.size} members over ${o.zones} zones, real TLS material${o.auth ? ", etcd auth on" : ""}`);
    const plan = await renderLocalPlan({
        size: o.size,
        zones: o.zones,
        version: release.version,
        binaryUrl: `file:///run/etcd-mirror/${release.tarball}`,
        binarySha256: release.sha256,
        networkPrefix,
        auth: o.auth,
        quotaBackendBytes: o.quotaBytes,
        backup: o.noBackup ? false : undefined,
        stack: o.name,
        restoreFrom: o.restoreFrom,
        existing: running?.resources,
    }).catch((e: Error) => {
        throw inFlagTerms(e);
    });
    for (const w of plan.warnings) log(`warning: ${w}`);
    if (o.planOnly) {
        // What the members would receive (it holds the private keys): for tests that boot members themselves.
        console.log(JSON.stringify({ plan, release, networkPrefix }, null, 2));
        return;
    }
    const programOptions = {
        size: o.size,
        zones: o.zones,
        version: release.version,
        auth: o.auth,
        etcdDir: o.etcdDir,
        quotaBytes: o.quotaBytes,
        noBackup: o.noBackup,
    };
    if (!running && loadCluster(o.name)) {
        log(`replacing the running local cluster ${o.name}`);
    }
    const bootStarted = Date.now();
    booting = o.name;
    let cluster: LocalCluster;
    if (running) {
        applying = true;
        log(`applying the change to the running local cluster ${o.name} as pulumi up would (the state is saved after every step)`);
        applyToRunningCluster(o.name, plan, programOptions, { unprotect: o.unprotect, progress: log });
        applying = false;
        cluster = loadCluster(o.name)!;
        // The host's etcdctl follows the cluster's version (the steps ran with the previous one).
        installHostEtcdctl(cluster.dir, mirrorDir, release.tarball);
    } else {
        cluster = up(plan, { name: o.name, networkPrefix, mirrorDir, tarball: release.tarball, progress: log });
        recordBootedProgram(cluster, plan.resources, programOptions);
    }
    const bootMs = Date.now() - bootStarted;
    log("waiting for every member to report healthy");
    const ms = waitHealthy(cluster, 120000);
    log(
        running
            ? `change applied in ${bootMs} ms; healthy ${ms} ms later`
            : `healthy ${ms} ms after cloud-init finished on every member (${bootMs + ms} ms after the containers started)`,
    );

    // The same readiness gate `pulumi up` runs, with the environment the component gave it.
    const gate = spawnSync("bash", ["-c", plan.gate.script], {
        env: { ...process.env, ...plan.gate.environment, PATH: `${join(cluster.dir, "bin")}:${process.env.PATH}` },
        encoding: "utf8",
    });
    log(`readiness gate: ${gate.status === 0 ? "passed" : `FAILED (exit ${gate.status}): ${gate.stderr.trim()}`}`);

    const states = endpointStates(cluster);
    const etcdctlLine = `${cluster.etcdctl} --endpoints=${cluster.clientEndpoints.join(",")} --cacert=${cluster.caFile} --cert=${cluster.certFile} --key=${cluster.keyFile} endpoint health`;
    if (o.json) {
        console.log(
            JSON.stringify(
                {
                    cluster,
                    states,
                    timings: { bootMs, healthyAfterLastBootMs: ms, containerStartToHealthyMs: bootMs + ms },
                    gate: { status: gate.status, stderr: gate.stderr },
                    etcdctl: etcdctlLine,
                    auth: o.auth,
                    faultTolerance: plan.faultTolerance,
                },
                null,
                2,
            ),
        );
    } else {
        console.log(
            table([
                ["member", "address", "zone", "role", "health"],
                ...cluster.members.map((m, i) => [
                    m.name,
                    m.ip,
                    m.zone,
                    states[i].leader ? "leader" : "follower",
                    states[i].healthy ? "healthy" : `unhealthy: ${states[i].detail}`,
                ]),
            ]),
        );
        console.log(`\nclient endpoints: ${cluster.clientEndpoints.join(",")}`);
        console.log(`fault tolerance: ${plan.faultTolerance.members} member(s), ${plan.faultTolerance.zones} zone(s)`);
        console.log(
            o.auth
                ? "etcd auth: on (the client certificate, CN root, is etcd's root user; other certificates of the CA map to no user)"
                : "etcd auth: off (any certificate of the cluster's CA has full access; --auth turns it on)",
        );
        console.log(`\n${etcdctlLine}\n`);
        console.log(`stop and remove: ${downCommand(o.name)}`);
    }
    if (gate.status !== 0 || states.some((s) => !s.healthy)) {
        console.error(`npm run local: cluster ${o.name} is not healthy; it is left running for inspection. Remove it with: ${downCommand(o.name)}`);
        process.exitCode = 1;
    }
}

/** The cluster being booted, once anything of it may exist: a failure then says how to remove it. */
let booting: string | undefined;
/** A change is being applied to it: a failure leaves the steps done recorded, and running it again finishes. */
let applying = false;

function runningProgram(name: string): LocalState | undefined {
    const c = loadCluster(name);
    return c && loadState(c);
}

main().catch((e: Error) => {
    console.error(`npm run local: ${e.message}`);
    if (booting && applying && !(e instanceof RefusedChange)) {
        console.error(
            `npm run local: the steps done so far are recorded; run the same command again to finish the change, or remove the cluster with: ${downCommand(booting)}`,
        );
    } else if (booting && loadCluster(booting)) {
        console.error(`npm run local: what cluster ${booting} created so far is left for inspection. Remove it with: ${downCommand(booting)}`);
    }
    process.exit(1);
});
