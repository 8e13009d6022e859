// `npm run local` applied to a running cluster on real etcd in container members: 3 to 5 to 3 members as
// `pulumi up` would change them (the steps' own scripts run for real), under a write load whose acknowledged
// writes must all survive, with untouched members keeping their etcd process; and an apply killed half way
// that finishes when run again.
import { spawn, spawnSync } from "child_process";
import { join } from "path";
import { runningBackupStore, storeAws } from "../../scripts/lib/local/backupStore";
import { down, etcdctl, etcdPid, loadCluster, LocalCluster } from "../../scripts/lib/local/localCluster";
import { loadState } from "../../scripts/lib/local/localResources";
import { bootLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { requireRoot } from "../helpers/tools";
import { WriteLoad } from "../helpers/writeLoad";

jest.setTimeout(600_000);

const repo = join(__dirname, "..", "..");
const name = "apply-81";
const upgraded = "apply-82";
const localCommand = [join(repo, "node_modules", ".bin", "ts-node"), "--transpile-only", join(repo, "scripts", "local.ts"), "--json"];
const report: string[] = [];

/** `npm run local -- --name NAME ARGS` on the running cluster: its exit status, progress (stderr) and time. */
function apply(args: string[], cluster = name): { status: number; progress: string; ms: number } {
    const started = Date.now();
    const r = spawnSync(localCommand[0], [...localCommand.slice(1), ...args, "--name", cluster], { cwd: repo, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status ?? 1, progress: r.stderr, ms: Date.now() - started };
}

function members(c: LocalCluster): { name: string; learner: boolean; started: boolean }[] {
    const r = etcdctl(c, ["member", "list", "-w", "json"], c.clientEndpoints.slice(0, 3));
    if (r.status !== 0) throw new Error(`member list failed: ${r.stderr}`);
    return JSON.parse(r.stdout).members.map((m: any) => ({ name: m.name ?? "", learner: m.isLearner === true, started: (m.name ?? "") !== "" }));
}

/** The member list holds exactly these names, each once, all started voters. */
function expectVoters(c: LocalCluster, names: string[]): void {
    const list = members(c);
    expect(list.map((m) => m.name).sort()).toEqual([...names].sort());
    expect(list.filter((m) => m.learner || !m.started)).toEqual([]);
}

/** The AWS CLI of this host against the local backup store (moto), which the members read. */
function store(c: LocalCluster, args: string[]): string {
    const r = storeAws(runningBackupStore()!, c.region, args);
    if (r.status !== 0) throw new Error(`aws ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
}

/**
 * The backup store holds what the cluster's recorded program registered, as AWS would after `pulumi up`: each
 * parameter with its value and declared type, no parameter of the cluster the program no longer has, and the
 * tools object's content. Returns the tools object's content.
 */
function expectStoreMatchesProgram(c: LocalCluster): string {
    const resources = loadState(c)!.resources;
    const parameters = resources.filter((r) => r.type === "aws:ssm/parameter:Parameter").map((r) => r.inputs);
    expect(parameters.length).toBeGreaterThan(0);
    for (const p of parameters) {
        const got = JSON.parse(store(c, ["ssm", "get-parameter", "--with-decryption", "--name", p.name])).Parameter;
        expect({ name: p.name, type: got.Type, value: got.Value }).toEqual({ name: p.name, type: p.type, value: p.value ?? p.insecureValue });
    }
    // Every parameter under the cluster's prefix is one of the program's (a removed member's are deleted).
    const names: string[] = parameters.map((p) => p.name);
    let prefix = names.reduce((a, b) => {
        let i = 0;
        while (i < a.length && a[i] === b[i]) i++;
        return a.slice(0, i);
    });
    prefix = prefix.slice(0, prefix.lastIndexOf("/")) || "/";
    const listed = JSON.parse(store(c, ["ssm", "get-parameters-by-path", "--recursive", "--path", prefix])).Parameters.map((p: any) => p.Name);
    expect([...listed].sort()).toEqual([...names].sort());
    const [tools] = resources.filter((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2").map((r) => r.inputs);
    expect(store(c, ["s3", "cp", `s3://${tools.bucket}/${tools.key}`, "-"])).toBe(tools.content);
    return tools.content;
}

/** The backups the deploying machine took (the readiness gate's, in direct mode): key and metadata, oldest first. */
function hostBackups(c: LocalCluster): { key: string; metadata: Record<string, string> }[] {
    const [tools] = loadState(c)!
        .resources.filter((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2")
        .map((r) => r.inputs);
    const prefix = tools.key.replace(/tools\/member-tools\.sh$/, "snapshots/");
    const keys: string[] =
        JSON.parse(store(c, ["s3api", "list-objects-v2", "--bucket", tools.bucket, "--prefix", prefix, "--query", "Contents[].Key", "--output", "json"])) ?? [];
    return keys
        .map((key) => ({ key, metadata: JSON.parse(store(c, ["s3api", "head-object", "--bucket", tools.bucket, "--key", key])).Metadata }))
        .filter((b) => b.metadata.member === "deploy-host")
        .sort((a, b) => a.key.split("/").pop()!.localeCompare(b.key.split("/").pop()!));
}

const lineOf = (progress: string, pattern: RegExp) => progress.split("\n").findIndex((l) => pattern.test(l));

let c: LocalCluster;

beforeAll(() => {
    requireRoot("members run in network and mount namespaces");
    requireMemberImage();
});

afterAll(() => {
    process.stderr.write(`local apply:\n  ${report.join("\n  ")}\n`);
});

describe("npm run local -- --size N on a running cluster (etcd 3.5.30)", () => {
    beforeAll(() => {
        c = bootLocalCluster({ name, networkIndex: 81, version: "3.5.30", size: 3 });
    });
    afterAll(() => down(name));

    let untouched: (number | undefined)[];

    test("3 to 5 under a write load: new members one at a time, each step's gate before the next member; members 0-2 keep their etcd", async () => {
        untouched = [0, 1, 2].map((i) => etcdPid(c, i));
        expect(untouched.every((p) => p !== undefined)).toBe(true);
        expect(hostBackups(c)).toEqual([]);
        const load = new WriteLoad(c, c.clientEndpoints.slice(0, 3), "up");
        const r = apply(["--size", "5"]);
        const result = await load.stop();
        expect(`${r.progress}\nexit ${r.status}`).toMatch(/exit 0$/);
        // Each member's step (the gate) passes before the next member's instance is created.
        const order = [
            // The cluster is backed up (from this host: direct mode) before the first new member starts.
            /update Command etcd-backup-before-change .* done/,
            /create Instance etcd-member-3 \.\.\./,
            /create Command etcd-member-3-rolled done/,
            /create Instance etcd-member-4 \.\.\./,
            /create Command etcd-member-4-rolled done/,
            /update Command etcd-ready .* done/,
        ].map((p) => lineOf(r.progress, p));
        expect(order.every((at) => at >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        expect(r.progress).not.toMatch(/(update|replace|delete)[a-z-]* Instance etcd-member-[012]\b/);
        c = loadCluster(name)!;
        expectVoters(c, ["etcd-0", "etcd-1", "etcd-2", "etcd-3", "etcd-4"]);
        expect([0, 1, 2].map((i) => etcdPid(c, i))).toEqual(untouched);
        expect(load.missing(result)).toEqual([]);
        expect(result.acknowledged.length).toBeGreaterThan(10);
        expectStoreMatchesProgram(c);
        const [backup, ...more] = hostBackups(c);
        expect(more).toEqual([]); // new members' steps take no backup at their creation
        expect(backup.metadata).toMatchObject({ "etcd-version": "3.5.30", cluster: expect.stringMatching(/^etcd-[0-9a-f]{8}$/) });
        report.push(
            `3 to 5: ${r.ms} ms; ${result.acknowledged.length} writes acknowledged, ${result.refused} refused, longest refusal ${result.longestRefusalMs} ms; refused: ${JSON.stringify(result.reasons)}`,
        );
        // Applied again, the same program has nothing left to do.
        expect(apply(["--size", "5"]).progress).toMatch(/0 step\(s\) from the running program to the new one: nothing to do/);
    });

    test("5 to 3 is refused before any step while the leaving members' volumes are protected", () => {
        const r = apply(["--size", "3"]);
        expect(r.status).not.toBe(0);
        expect(r.progress).toMatch(/refused: delete of protected etcd-member-3-data, delete of protected etcd-member-4-data/);
        expect(r.progress).not.toMatch(/\[1\/\d+\]/);
        expectVoters(c, ["etcd-0", "etcd-1", "etcd-2", "etcd-3", "etcd-4"]);
    });

    test("5 to 3 with the volumes unprotected, under a write load: highest member removed first, each before its instance goes", async () => {
        const load = new WriteLoad(c, c.clientEndpoints.slice(0, 3), "down");
        const r = apply(["--size", "3", "--unprotect", "etcd-member-3-data,etcd-member-4-data"]);
        const result = await load.stop();
        expect(`${r.progress}\nexit ${r.status}`).toMatch(/exit 0$/);
        const order = [
            /update Command etcd-ready .* done/,
            /removed member etcd-4/,
            /delete Instance etcd-member-4 \.\.\./,
            /removed member etcd-3/,
            /delete Instance etcd-member-3 \.\.\./,
            /delete Volume etcd-member-3-data done/,
        ].map((p) => lineOf(r.progress, p));
        expect(order.every((at) => at >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        c = loadCluster(name)!;
        expect(c.members.map((m) => m.name)).toEqual(["etcd-0", "etcd-1", "etcd-2"]);
        expectVoters(c, ["etcd-0", "etcd-1", "etcd-2"]);
        expect([0, 1, 2].map((i) => etcdPid(c, i))).toEqual(untouched);
        expect(load.missing(result)).toEqual([]);
        // The leaving members' keys and certificates are gone from the store with their resources.
        expectStoreMatchesProgram(c);
        report.push(
            `5 to 3: ${r.ms} ms; ${result.acknowledged.length} writes acknowledged, ${result.refused} refused, longest refusal ${result.longestRefusalMs} ms; refused: ${JSON.stringify(result.reasons)}`,
        );
    });

    test("3 to 5 killed while member 4's instance boots, then run again: the change finishes, no duplicate member, no learner left", async () => {
        const load = new WriteLoad(c, c.clientEndpoints.slice(0, 3), "killed");
        // The apply in its own process group, killed as a whole once member 3's step passed and member 4 boots.
        const child = spawn(localCommand[0], [...localCommand.slice(1), "--name", name, "--size", "5"], {
            cwd: repo,
            detached: true,
            stdio: ["ignore", "ignore", "pipe"],
        });
        let progress = "";
        const killed = await new Promise<boolean>((resolve) => {
            child.stderr!.on("data", (chunk: Buffer) => {
                progress += chunk.toString();
                if (/create Command etcd-member-3-rolled done/.test(progress) && /etcd-4 \(.*\): container started/.test(progress)) {
                    process.kill(-child.pid!, "SIGKILL");
                    resolve(true);
                }
            });
            child.once("exit", () => resolve(false));
        });
        expect(killed).toBe(true);
        const again = apply(["--size", "5"]);
        const result = await load.stop();
        expect(`${again.progress}\nexit ${again.status}`).toMatch(/exit 0$/);
        // Steps done before the kill are not repeated; the interrupted instance is created again.
        expect(again.progress).not.toMatch(/create (Instance etcd-member-3|Command etcd-member-3-rolled) \.\.\./);
        expect(again.progress).toMatch(/create Instance etcd-member-4 \.\.\./);
        c = loadCluster(name)!;
        expectVoters(c, ["etcd-0", "etcd-1", "etcd-2", "etcd-3", "etcd-4"]);
        expect(load.missing(result)).toEqual([]);
        report.push(
            `3 to 5 killed during member 4's boot and run again: rerun ${again.ms} ms; longest refusal ${result.longestRefusalMs} ms; refused: ${JSON.stringify(result.reasons)}`,
        );
    });
});

describe("npm run local -- --etcd-version 3.5.30 on a running 3.4.23 cluster", () => {
    let u: LocalCluster;
    beforeAll(() => {
        u = bootLocalCluster({ name: upgraded, networkIndex: 82, version: "3.4.23", size: 3 });
    });
    afterAll(() => down(upgraded));

    test("a rolling upgrade under a write load: one member replaced at a time on its own volume, each healthy before the next, writes continue", async () => {
        const ids = () => {
            const r = etcdctl(u, ["member", "list", "-w", "json"]);
            return JSON.parse(r.stdout)
                .members.map((m: any) => `${m.name}=${BigInt(m.ID).toString(16)}`)
                .sort();
        };
        const before = ids();
        const toolsBefore = expectStoreMatchesProgram(u);
        const load = new WriteLoad(u, u.clientEndpoints, "upgrade");
        const r = apply(["--etcd-version", "3.5.30"], upgraded);
        const result = await load.stop();
        expect(`${r.progress}\nexit ${r.status}`).toMatch(/exit 0$/);
        const order = [/update Command etcd-backup-before-change .* done/].concat(
            [0, 1, 2].flatMap((i) => [
                new RegExp(`replace Instance etcd-member-${i} \\(userData\\) \\.\\.\\.`),
                new RegExp(`update Command etcd-member-${i}-rolled .* done`),
            ]),
        );
        const at = order.map((p) => lineOf(r.progress, p));
        expect(at.every((n) => n >= 0)).toBe(true);
        expect([...at].sort((a, b) => a - b)).toEqual(at);
        u = loadCluster(upgraded)!;
        const versions = u.clientEndpoints.map((e) => JSON.parse(etcdctl(u, ["endpoint", "status", "-w", "json"], [e]).stdout)[0].Status.version);
        expect(versions).toEqual(["3.5.30", "3.5.30", "3.5.30"]);
        // Each member came back on its own volume: same member ids, its data kept.
        expect(ids()).toEqual(before);
        // The tools object names the version: the store has the new program's, which the members fetched.
        expect(expectStoreMatchesProgram(u)).not.toBe(toolsBefore);
        // A backup before the change, on 3.4.23 (the leader's version, not the program's), and one after each member.
        const backups = hostBackups(u);
        expect(backups.map((b) => b.metadata["etcd-version"])).toEqual(["3.4.23", expect.any(String), expect.any(String), "3.5.30"]);
        expect(load.missing(result)).toEqual([]);
        expect(result.acknowledged.length).toBeGreaterThan(10);
        report.push(
            `3.4.23 to 3.5.30: ${r.ms} ms; ${result.acknowledged.length} writes acknowledged, ${result.refused} refused, longest refusal ${result.longestRefusalMs} ms; refused: ${JSON.stringify(result.reasons)}`,
        );
    });
});
