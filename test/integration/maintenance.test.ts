// Maintenance on real etcd, in members booted from their user-data: the defragmentation timer's service
// (one member at a time under an etcd lock, the leader last, while writes continue) and a database that
// reaches its quota (NOSPACE raised, reads served, no member crashes; the README's runbook brings writes back).
import { ChildProcess, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";
import { down, etcdctl, etcdPid, inMember, LocalCluster, localVolumeMiB, systemctl, unitProperty, waitUntil } from "../../scripts/lib/local/localCluster";
import { requiredVolumeBytes } from "../../components/volumeSizing";
import { defragThresholds } from "../../components/render/maintenance";
import { bootLocalCluster, requireMemberImage } from "../helpers/localClusters";
import { requireRoot } from "../helpers/tools";

jest.setTimeout(600_000);

const MiB = 2 ** 20;
// Small enough to fill in a test, large enough for a database worth defragmenting (over 100 MiB).
const quotaBytes = 192 * MiB;
let c: LocalCluster;

interface Status {
    endpoint: string;
    id: string;
    leader: string;
    dbSize: number;
    dbSizeInUse: number;
    revision: number;
}

/** Every member's status; ids as text (they are 64-bit). */
function statuses(): Status[] {
    const r = etcdctl(c, ["endpoint", "status", "-w", "json"]);
    expect(r.status).toBe(0);
    return r.stdout
        .split('{"Endpoint"')
        .slice(1)
        .map((record) => {
            const num = (field: string) => new RegExp(`"${field}":(\\d+)`).exec(record)![1];
            return {
                endpoint: /^:"([^"]+)"/.exec(record)![1],
                id: num("member_id"),
                leader: num("leader"),
                dbSize: Number(num("dbSize")),
                dbSizeInUse: Number(num("dbSizeInUse")),
                revision: Number(num("revision")),
            };
        });
}

/** etcdctl with a value on stdin (values too large for an argument). */
function putFromStdin(key: string, value: Buffer): { status: number; stderr: string } {
    const r = spawnSync(
        c.etcdctl,
        [
            `--endpoints=${c.clientEndpoints.join(",")}`,
            `--cacert=${c.caFile}`,
            `--cert=${c.certFile}`,
            `--key=${c.keyFile}`,
            "--command-timeout=30s",
            "put",
            key,
        ],
        { input: value.toString("base64"), encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } },
    );
    return { status: r.status ?? 1, stderr: r.stderr ?? "" };
}

/** Small writes in a loop until stopped; resolves with how many were made and how many failed. */
function writeLoad(): { stop: () => Promise<{ writes: number; failures: string[] }> } {
    const script = `i=0; failures=0
while [[ ! -e "$STOP" ]]; do
  "$ETCDCTL" --endpoints="$EP" --cacert="$CA" --cert="$CERT" --key="$KEY" --command-timeout=30s put "/load/$((i % 100))" "v$i" >/dev/null 2>>"$STOP.err" || failures=$((failures + 1))
  i=$((i + 1))
done
echo "$i $failures"`;
    const stopFile = `${c.dir}/load-stop-${Date.now()}`;
    const child: ChildProcess = spawn("bash", ["-c", script], {
        env: { ...process.env, STOP: stopFile, ETCDCTL: c.etcdctl, EP: c.clientEndpoints.join(","), CA: c.caFile, CERT: c.certFile, KEY: c.keyFile },
        stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const done = new Promise<void>((resolve) => child.on("close", () => resolve()));
    return {
        stop: async () => {
            spawnSync("touch", [stopFile]);
            await done;
            const [writes, failed] = out.trim().split(" ").map(Number);
            const errors = spawnSync("cat", [`${stopFile}.err`], { encoding: "utf8" }).stdout ?? "";
            return { writes, failures: failed > 0 ? errors.trim().split("\n") : [] };
        },
    };
}

/** The defragmentation service's journal lines on a member, with their times (seconds since the epoch). */
function defragLog(i: number): { t: number; text: string }[] {
    const r = inMember(c, i, ["journalctl", "--no-pager", "-o", "short-unix", "-u", "etcd-defrag.service"]);
    return r.stdout
        .split("\n")
        .map((line) => /^(\d+\.\d+) \S+ [^:]+: (.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ t: Number(m[1]), text: m[2] }));
}

const leaderIndex = () => {
    const s = statuses();
    return c.clientEndpoints.indexOf(s.find((x) => x.id === x.leader)!.endpoint);
};

describe.each([
    ["3.5", "it-maint", 66],
    ["3.4", "it-maint34", 67],
])("etcd %s (the newest in the mirror)", (line, name, networkIndex) => {
    beforeAll(() => {
        requireRoot("members run as containers on a bridge");
        requireMemberImage();
        down(name);
        c = bootLocalCluster({ name, networkIndex, version: newestMirrored(line), quotaBytes, noBackup: true });
    });
    afterAll(() => down(name));

    test("the local members' volumes are sized by the component's rule for the quota they run", () => {
        const env = inMember(c, 0, ["cat", "/etc/etcd/etcd.env"]).stdout;
        expect(env).toContain(`ETCD_QUOTA_BACKEND_BYTES=${quotaBytes}`);
        // (3 x 192 + 640) MiB / 0.92
        expect(localVolumeMiB(`ETCD_QUOTA_BACKEND_BYTES=${quotaBytes}`)).toBe(1322);
        const bytes = Number(spawnSync("blockdev", ["--getsize64", c.members[0].loopDevice], { encoding: "utf8" }).stdout.trim());
        expect(bytes).toBe(1322 * MiB);
        expect(bytes).toBeGreaterThanOrEqual(requiredVolumeBytes(quotaBytes));
    });

    test("defragmentation: a mostly free database shrinks on every member, one member at a time under the lock, the leader last, while writes continue", async () => {
        // 140 MiB of values, then deleted and compacted: the files stay large, almost nothing is in use.
        for (let i = 0; i < 140; i++) {
            const r = putFromStdin(`/bulk/${i}`, randomBytes(768 * 1024));
            expect(r).toMatchObject({ status: 0, stderr: "" });
        }
        expect(etcdctl(c, ["del", "--prefix", "/bulk/"]).status).toBe(0);
        const revision = statuses()[0].revision;
        expect(etcdctl(c, ["compact", String(revision), "--physical"]).status).toBe(0);
        // bbolt frees a transaction's pages only once a later write transaction begins: a few writes settle it.
        waitUntil(
            () => etcdctl(c, ["put", "/settle", "x"]).status === 0 && statuses().every((s) => s.dbSizeInUse * 2 < s.dbSize),
            30_000,
            () => `the compacted space was not freed: ${JSON.stringify(statuses())}`,
        );
        const before = statuses();
        for (const s of before) {
            expect(s.dbSize).toBeGreaterThan(defragThresholds.minDbBytes);
            expect(s.dbSizeInUse * 2).toBeLessThan(s.dbSize);
        }
        const leader = leaderIndex();

        // An operator holds the cluster's defragmentation lock for 4 s: no member may start before it is released.
        const holder = spawn(
            c.etcdctl,
            [`--endpoints=${c.clientEndpoints[0]}`, `--cacert=${c.caFile}`, `--cert=${c.certFile}`, `--key=${c.keyFile}`, "lock", "etcd-defrag", "sleep", "4"],
            { stdio: "ignore", env: { ...process.env, ETCDCTL_API: "3" } },
        );
        const released = new Promise<number>((resolve) => holder.on("exit", () => resolve(Date.now() / 1000)));
        waitUntil(() => etcdctl(c, ["get", "--prefix", "etcd-defrag", "--keys-only"]).stdout.trim() !== "", 10_000, "the test could not take the lock");

        const load = writeLoad();
        for (let i = 0; i < c.members.length; i++) {
            systemctl(c, i, ["start", "--no-block", "etcd-defrag.service"]);
        }
        const releasedAt = await released;
        const idle = (i: number) => ["inactive", "failed"].includes(unitProperty(c, i, "etcd-defrag.service", "ActiveState"));
        waitUntil(() => c.members.every((_, i) => idle(i)), 120_000, "the defragmentation services did not finish");
        // The next timer tick on the leader, now that the followers are done.
        systemctl(c, leader, ["start", "etcd-defrag.service"]);
        const { writes, failures } = await load.stop();

        const logs = c.members.map((_, i) => defragLog(i));
        for (const [i, log] of logs.entries()) {
            expect(unitProperty(c, i, "etcd-defrag.service", "Result")).toBe("success");
            expect(log.filter((l) => l.text.startsWith("defragmenting: ")).length).toBe(1);
            expect(log.filter((l) => l.text.startsWith("defragmented: ")).length).toBe(1);
        }
        // The leader deferred on the first run: the followers still needed it.
        expect(logs[leader].map((l) => l.text)).toContain("leader: another member first");

        // One at a time: no run starts before the previous one ended, nor before the operator released the lock.
        const runs = logs
            .map((log, i) => ({
                i,
                start: log.find((l) => l.text.startsWith("defragmenting: "))!.t,
                end: log.find((l) => l.text.startsWith("defragmented: "))!.t,
            }))
            .sort((a, b) => a.start - b.start);
        expect(runs[0].start).toBeGreaterThan(releasedAt - 0.3);
        for (let k = 1; k < runs.length; k++) {
            expect(runs[k].start).toBeGreaterThanOrEqual(runs[k - 1].end);
        }
        expect(runs[runs.length - 1].i).toBe(leader);

        // Every member's file shrank to a fraction; the writes never stopped failing-free.
        const after = statuses();
        for (const s of after) {
            const b = before.find((x) => x.id === s.id)!;
            expect(s.dbSize).toBeLessThan(b.dbSize / 4);
        }
        expect(failures).toEqual([]);
        expect(writes).toBeGreaterThan(10);

        // Nothing left to do: the next run says so and does not take the lock.
        const again = inMember(c, 0, ["/usr/local/sbin/etcd-defrag"]);
        expect(again.status).toBe(0);
        expect(again.stdout).toMatch(/^db \d+ bytes, \d+ in use: nothing to do$/m);
    });

    test("NOSPACE: a write load that reaches the quota raises the alarm, reads are served, no member crashes; compact, defragment, disarm bring writes back", () => {
        const pids = c.members.map((_, i) => etcdPid(c, i));
        const restarts = c.members.map((_, i) => unitProperty(c, i, "etcd.service", "NRestarts"));
        expect(pids.every((p) => p !== undefined)).toBe(true);

        expect(putFromStdin("/keep", Buffer.from("kept")).status).toBe(0);
        let refused = "";
        for (let i = 0; i < 400 && !refused; i++) {
            const r = putFromStdin(`/fill/${i}`, randomBytes(768 * 1024));
            if (r.status !== 0) refused = r.stderr;
        }
        expect(refused).toContain("database space exceeded");
        expect(etcdctl(c, ["alarm", "list"]).stdout).toMatch(/alarm:NOSPACE/);
        // From 3.5 the health check reports an active alarm; 3.4's etcdctl only checks that a read works.
        const health = etcdctl(c, ["endpoint", "health"]);
        if (line === "3.4") {
            expect(health.status).toBe(0);
        } else {
            expect(health.status).not.toBe(0);
            expect(`${health.stdout}${health.stderr}`).toContain("NOSPACE");
        }

        // Reads are served; writes are refused; deletes are allowed.
        expect(etcdctl(c, ["get", "/keep", "--print-value-only"]).stdout.trim()).toBe(Buffer.from("kept").toString("base64"));
        expect(etcdctl(c, ["put", "/another", "x"]).stderr).toContain("database space exceeded");
        // No member crashed or restarted; the volume kept room (etcd stopped at its quota, not at a full disk).
        for (let i = 0; i < c.members.length; i++) {
            expect(etcdPid(c, i)).toBe(pids[i]);
            expect(unitProperty(c, i, "etcd.service", "NRestarts")).toBe(restarts[i]);
            expect(unitProperty(c, i, "etcd.service", "ActiveState")).toBe("active");
            const avail = Number(inMember(c, i, ["df", "--output=avail", "-B1", "/var/lib/etcd"]).stdout.trim().split("\n").pop());
            expect(avail).toBeGreaterThan(quotaBytes);
        }
        // The timer's service leaves the alarm to a person.
        const timerRun = inMember(c, 1, ["/usr/local/sbin/etcd-defrag"]);
        expect(timerRun.stdout).toMatch(/alarm raised, left to a person: memberID:\d+ alarm:NOSPACE/);
        expect(etcdctl(c, ["alarm", "list"]).stdout).toMatch(/alarm:NOSPACE/);

        // The README's runbook, in its order.
        expect(etcdctl(c, ["del", "--prefix", "/fill/"]).status).toBe(0);
        const revision = statuses()[0].revision;
        expect(etcdctl(c, ["compact", String(revision)]).status).toBe(0);
        const leader = leaderIndex();
        const order = [...c.clientEndpoints.keys()].filter((i) => i !== leader).concat(leader);
        for (const i of order) {
            const r = etcdctl(c, ["defrag", "--command-timeout=5m"], [c.clientEndpoints[i]]);
            expect(r.stderr).toBe("");
            expect(r.status).toBe(0);
        }
        expect(etcdctl(c, ["alarm", "disarm"]).status).toBe(0);
        expect(etcdctl(c, ["alarm", "list"]).stdout.trim()).toBe("");
        expect(etcdctl(c, ["put", "/after", "ok"])).toMatchObject({ status: 0 });
        expect(etcdctl(c, ["endpoint", "health"]).status).toBe(0);
        for (let i = 0; i < c.members.length; i++) {
            expect(etcdPid(c, i)).toBe(pids[i]);
        }
    });
});
