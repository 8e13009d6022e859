// The local backup store: moto's implementation of the AWS APIs (S3, SSM, KMS, CloudWatch), served over TLS
// on an address of this host that every local cluster's members reach through their bridge. Like S3, it
// outlives the clusters that write to it: `npm run local -- --down` leaves it running (a restore drill
// destroys one cluster and restores its backup into another); `--down --backup-store` removes it. moto keeps
// its state in memory: whatever it holds is gone once its process ends.
import { execFileSync, spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { join } from "path";
import { LocalAwsResources, LocalPlan } from "./localRender";

const repoRoot = join(__dirname, "..", "..", "..");
export const backupStoreDir = join(repoRoot, ".cache", "local-backup-store");
const provisionScript = join(repoRoot, "scripts", "local", "aws-provision.py");

/**
 * Where the store listens: a host address on an interface of its own (outside every cluster's bridge, so that
 * it survives them), in network index 255, which no cluster then takes (the host holds an address in it).
 */
export const backupStoreAddress = { link: "etcd-store", ip: "10.213.255.254", port: 443 } as const;

export interface BackupStore {
    /** https://ADDRESS: the endpoint members and the host use. */
    endpoint: string;
    /** The CA of the store's certificate (made by openssl for this store). */
    caFile: string;
    pid: number;
    dir: string;
}

const alive = (pid: number) => {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
};

const stateFile = join(backupStoreDir, "store.json");

/** The running store, if any. */
export function runningBackupStore(): BackupStore | undefined {
    if (!existsSync(stateFile)) return undefined;
    const s = JSON.parse(readFileSync(stateFile, "utf8")) as BackupStore;
    return alive(s.pid) ? s : undefined;
}

/** Environment and arguments of the host's AWS CLI against the store. */
export function storeCliArgs(s: BackupStore): string[] {
    return ["--endpoint-url", s.endpoint, "--ca-bundle", s.caFile];
}

export const storeCredentials = { AWS_ACCESS_KEY_ID: "local", AWS_SECRET_ACCESS_KEY: "local" } as const;

/**
 * The environment in which this host's AWS CLI talks to the store: what the scripts `pulumi up` runs on the
 * deploying machine (the readiness gate's backups) get in a local apply.
 */
export function storeEnvironment(s: BackupStore): Record<string, string> {
    return {
        ...storeCredentials,
        AWS_ENDPOINT_URL: s.endpoint,
        AWS_CA_BUNDLE: s.caFile,
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    };
}

/**
 * An EC2 instance in the store with a member's tags, as RunInstances gives the member on AWS: the readiness
 * gate's backup before a change finds a cluster's running members by their tags. Returns its id.
 */
export function registerInstance(s: BackupStore, region: string, tags: Record<string, string>): string {
    const spec = [{ ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }];
    const r = storeAws(s, region, [
        "ec2",
        "run-instances",
        "--image-id",
        "ami-00000000000000000",
        "--count",
        "1",
        "--tag-specifications",
        JSON.stringify(spec),
        "--query",
        "Instances[0].InstanceId",
        "--output",
        "text",
    ]);
    if (r.status !== 0) throw new Error(`the local backup store refused an EC2 instance: ${r.stderr}`);
    return r.stdout.trim();
}

/** Terminates an instance that registerInstance made; nothing when the store is gone (moto keeps state in memory). */
export function terminateInstance(region: string, id: string | undefined): void {
    const s = runningBackupStore();
    if (s && id) storeAws(s, region, ["ec2", "terminate-instances", "--instance-ids", id]);
}

/** The AWS CLI of this host against the store (tests and operators: list, download, upload objects). */
export function storeAws(s: BackupStore, region: string, args: string[]): { status: number; stdout: string; stderr: string } {
    const env: NodeJS.ProcessEnv = { ...process.env, ...storeCredentials, AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null" };
    delete env.AWS_PROFILE;
    delete env.AWS_SESSION_TOKEN;
    const r = spawnSync("aws", [...storeCliArgs(s), "--region", region, ...args], {
        env,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
    });
    return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** The certificate of the store: a CA of its own and a server certificate for its address. */
function makeCertificates(dir: string): void {
    const ossl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    ossl(
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365", "-subj", "/CN=local backup store CA"].concat([
            "-keyout",
            join(dir, "ca.key"),
            "-out",
            join(dir, "ca.crt"),
        ]),
    );
    ossl(
        ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=local backup store", "-keyout", join(dir, "server.key")].concat(
            ["-out", join(dir, "server.csr")],
        ),
    );
    writeFileSync(join(dir, "server.ext"), `subjectAltName=IP:${backupStoreAddress.ip}\nextendedKeyUsage=serverAuth\n`);
    ossl(
        ["x509", "-req", "-in", join(dir, "server.csr"), "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-days", "365"].concat([
            "-extfile",
            join(dir, "server.ext"),
            "-out",
            join(dir, "server.crt"),
        ]),
    );
}

const tryRun = (command: string, args: string[]) => spawnSync(command, args, { stdio: "ignore" }).status === 0;

/** The store, started when it does not run (about 2 s); an existing store and its contents are kept. */
export function ensureBackupStore(progress: (message: string) => void = () => undefined): BackupStore {
    const running = runningBackupStore();
    if (running) return running;
    if (spawnSync("python3", ["-c", "import moto.server, boto3"], { stdio: "ignore" }).status !== 0) {
        throw new Error('the local backup store needs moto\'s server for python3: run `npm run setup` (or pip install "moto[server]")');
    }
    const { link, ip, port } = backupStoreAddress;
    // The address is the machine's, the store's files are this checkout's: a store started from another checkout
    // would answer with a certificate this one cannot check, and taking its interface away would break it.
    const holder = spawnSync("ss", ["-Hltnp", `src ${ip}:${port}`], { encoding: "utf8" }).stdout?.trim();
    if (holder) {
        throw new Error(
            `the local backup store's address ${ip}:${port} is held by another process (${holder.replace(/\s+/g, " ")}): a store started from another checkout? Stop it there with \`npm run local -- --down --backup-store\`, or end that process`,
        );
    }
    rmSync(backupStoreDir, { recursive: true, force: true });
    mkdirSync(backupStoreDir, { recursive: true, mode: 0o700 });
    makeCertificates(backupStoreDir);
    tryRun("ip", ["link", "del", link]);
    // A bridge without ports: the kernel may lack the dummy device; a local address on it is all that is needed.
    execFileSync("ip", ["link", "add", link, "type", "bridge"]);
    execFileSync("ip", ["addr", "add", `${ip}/32`, "dev", link]);
    execFileSync("ip", ["link", "set", link, "up"]);
    const pidFile = join(backupStoreDir, "moto.pid");
    // Forked off (setsid --fork): it outlives this process and every cluster until removed.
    const r = spawnSync(
        "setsid",
        [
            "--fork",
            "bash",
            "-c",
            `echo $$ >"$0"; exec python3 -m moto.server -H ${ip} -p ${port} -c "$1" -k "$2" >>"$3" 2>&1`,
            pidFile,
            join(backupStoreDir, "server.crt"),
            join(backupStoreDir, "server.key"),
            join(backupStoreDir, "moto.log"),
        ],
        { stdio: "ignore" },
    );
    if (r.status !== 0) throw new Error(`the local backup store did not start (exit ${r.status})`);
    const store: BackupStore = {
        endpoint: `https://${ip}${port === 443 ? "" : `:${port}`}`,
        caFile: join(backupStoreDir, "ca.crt"),
        pid: 0,
        dir: backupStoreDir,
    };
    const started = Date.now();
    while (Date.now() - started < 30_000) {
        if (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "") {
            store.pid = Number(readFileSync(pidFile, "utf8"));
            const probe = spawnSync("curl", ["--silent", "--output", "/dev/null", "--max-time", "2", "--cacert", store.caFile, `${store.endpoint}/moto-api/`], {
                stdio: "ignore",
            });
            if (probe.status === 0) {
                writeFileSync(stateFile, JSON.stringify(store, null, 2));
                progress(`backup store: moto (S3, SSM, KMS, CloudWatch) at ${store.endpoint}, pid ${store.pid}, state in memory`);
                return store;
            }
        }
        spawnSync("sleep", ["0.2"]);
    }
    throw new Error(`the local backup store did not answer at ${store.endpoint} within 30 s (see ${join(backupStoreDir, "moto.log")})`);
}

/** Stops the store and removes its interface and files: every backup it holds is gone. */
export function removeBackupStore(): boolean {
    const s = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, "utf8")) as BackupStore) : undefined;
    if (s && alive(s.pid)) {
        process.kill(s.pid, "SIGTERM");
        for (let i = 0; i < 50 && alive(s.pid); i++) spawnSync("sleep", ["0.1"]);
        if (alive(s.pid)) process.kill(s.pid, "SIGKILL");
    }
    const hadLink = tryRun("ip", ["link", "del", backupStoreAddress.link]);
    rmSync(backupStoreDir, { recursive: true, force: true });
    return s !== undefined || hadLink;
}

/** The AWS CLI wrapper a local member runs as `aws`: Debian's AWS CLI, with the store's endpoint and CA. */
export function memberAwsWrapper(s: BackupStore): string {
    return `#!/bin/sh
# Local member: the real AWS CLI against the local backup store. On EC2 the CLI reaches AWS itself and takes
# the instance profile's credentials; here only the endpoint, its CA and (any) credentials are added.
export AWS_ACCESS_KEY_ID=${storeCredentials.AWS_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY=${storeCredentials.AWS_SECRET_ACCESS_KEY}
exec /usr/bin/aws --endpoint-url ${s.endpoint} --ca-bundle /run/local-aws/ca.crt "$@"
`;
}

/** What one write to the store creates, updates or deletes (scripts/local/aws-provision.py carries it out). */
export interface StoreChange extends Partial<LocalAwsResources> {
    deletedObjects?: { bucket: string; key: string }[];
    deletedParameters?: string[];
}

/** Creates, updates or deletes in the store what `pulumi up` would in AWS; returns what was written. */
export function writeToStore(s: BackupStore, region: string, change: StoreChange): string {
    const request = { endpoint: s.endpoint, caBundle: s.caFile, region, ...change };
    const r = spawnSync("python3", [provisionScript], { input: JSON.stringify(request), encoding: "utf8" });
    if (r.status !== 0) throw new Error(`could not write the cluster's AWS resources to the local backup store: ${r.stderr.trim()}`);
    return r.stdout.trim();
}

/** Creates in the store what `pulumi up` would create in AWS for the plan: bucket, tools object, parameters. */
export function provisionPlan(s: BackupStore, plan: LocalPlan): string {
    return writeToStore(s, plan.region, plan.aws);
}
