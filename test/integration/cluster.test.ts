// Real etcd clusters booted from the component's rendered user-data (see `npm run local`): health with the
// exported client certificate, refused clients, member and quorum loss, a partitioned leader, a replaced
// member keeping its data volume, and the readiness gate script, for each etcd line the tests can run.
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
    crashMember,
    down,
    endpointStates,
    etcdctl,
    etcdPid,
    heal,
    inMember,
    isolate,
    LocalCluster,
    replaceMember,
    rerunBoot,
    startMember,
    waitHealthy,
    waitUntil,
} from "../../scripts/lib/local/localCluster";
import { certRequest, generatePrivateKey, locallySignedCert, selfSignedCert } from "../../scripts/lib/mocks/realTls";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";
import { bootLocalCluster } from "../helpers/localClusters";
import { requireRoot, requireTool, run } from "../helpers/tools";

jest.setTimeout(300_000);

const repo = join(__dirname, "..", "..");
const gateScript = join(repo, "scripts", "etcd-health-gate.sh");

/**
 * The etcd lines the tests run, each at the newest release the local mirror holds (`npm run setup` fills it), with
 * the network index its clusters use. A line missing from the mirror fails its own tests with what to run.
 */
const lines: [string, number][] = [
    ["3.5", 35],
    ["3.4", 34],
];

beforeAll(() => {
    requireRoot("members run in network and mount namespaces");
    for (const [tool, pkg] of [
        ["ip", "iproute2"],
        ["losetup", "util-linux"],
        ["nsenter", "util-linux"],
        ["curl", "curl"],
        ["openssl", "openssl"],
    ]) {
        requireTool(tool, pkg);
    }
});

const put = (c: LocalCluster, key: string, value: string, endpoints?: string[]) => etcdctl(c, ["put", key, value], endpoints).status === 0;
const get = (c: LocalCluster, key: string, endpoints?: string[], consistency: "l" | "s" = "l") => {
    const r = etcdctl(c, ["get", key, "--print-value-only", `--consistency=${consistency}`], endpoints);
    return r.status === 0 ? r.stdout.trim() : undefined;
};
const others = (c: LocalCluster, i: number) => c.clientEndpoints.filter((_, j) => j !== i);

/** The readiness gate script of `pulumi up`, in direct mode, against the cluster's endpoints. */
function gate(c: LocalCluster, timeoutSeconds: number) {
    return run("bash", [gateScript], {
        env: {
            PATH: `${join(c.dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
            ETCD_GATE_MODE: "direct",
            ETCD_GATE_TIMEOUT_SECONDS: String(timeoutSeconds),
            ETCD_GATE_INTERVAL_SECONDS: "1",
            ETCD_GATE_ENDPOINTS: c.clientEndpoints.join(","),
            ETCD_GATE_CA_PEM: readFileSync(c.caFile, "utf8"),
            ETCD_GATE_CERT_PEM: readFileSync(c.certFile, "utf8"),
            ETCD_GATE_KEY_PEM: readFileSync(c.keyFile, "utf8"),
        },
    });
}

describe.each(lines)("etcd %s (the newest in the mirror): 3 members from the rendered user-data", (line, networkIndex) => {
    const name = `it-${networkIndex}`;
    let c: LocalCluster;
    let version: string;

    beforeAll(() => {
        version = newestMirrored(line);
        down(name);
        c = bootLocalCluster({ name, networkIndex, version });
    });
    afterAll(() => down(name));

    test("every endpoint is healthy with the exported client certificate; a put then a linearizable get returns it", () => {
        for (const endpoint of c.clientEndpoints) {
            const r = etcdctl(c, ["endpoint", "health"], [endpoint]);
            expect(r.status).toBe(0);
            expect(r.stdout + r.stderr).toContain(`${endpoint} is healthy`);
        }
        const members = etcdctl(c, ["member", "list", "-w", "json"]);
        expect(
            JSON.parse(members.stdout)
                .members.map((m: { name: string }) => m.name)
                .sort(),
        ).toEqual(c.members.map((m) => m.name).sort());
        expect(put(c, "/smoke/hello", `world-${version}`, [c.clientEndpoints[0]])).toBe(true);
        expect(get(c, "/smoke/hello", [c.clientEndpoints[2]])).toBe(`world-${version}`);
        const versionLine = etcdctl(c, ["endpoint", "status", "-w", "json"], [c.clientEndpoints[0]]);
        expect(JSON.parse(versionLine.stdout)[0].Status.version).toBe(version);
    });

    test("refused: a client without a certificate, one with a certificate from another CA, and plaintext http", () => {
        const endpoint = c.clientEndpoints[0];
        const noCert = spawnSync(
            c.etcdctl,
            [`--endpoints=${endpoint}`, `--cacert=${c.caFile}`, "--command-timeout=3s", "--dial-timeout=2s", "put", "/refused/a", "x"],
            {
                encoding: "utf8",
                env: { ...process.env, ETCDCTL_API: "3" },
            },
        );
        expect(noCert.status).not.toBe(0);

        const dir = mkdtempSync(join(tmpdir(), "etcd-foreign-ca-"));
        try {
            const caKey = generatePrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
            const caPem = selfSignedCert({
                privateKeyPem: caKey.privateKeyPem,
                subject: { commonName: "another CA" },
                isCaCertificate: true,
                validityPeriodHours: 24,
                allowedUses: ["cert_signing", "digital_signature"],
            });
            const key = generatePrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
            const csr = certRequest({ privateKeyPem: key.privateKeyPem, subject: { commonName: "root" } });
            const cert = locallySignedCert({
                certRequestPem: csr,
                caCertPem: caPem,
                caPrivateKeyPem: caKey.privateKeyPem,
                validityPeriodHours: 24,
                allowedUses: ["digital_signature", "client_auth"],
            });
            writeFileSync(join(dir, "client.crt"), cert);
            writeFileSync(join(dir, "client.key"), key.privateKeyPem);
            const foreign = spawnSync(
                c.etcdctl,
                [
                    `--endpoints=${endpoint}`,
                    `--cacert=${c.caFile}`,
                    `--cert=${join(dir, "client.crt")}`,
                    `--key=${join(dir, "client.key")}`,
                    "--command-timeout=3s",
                    "--dial-timeout=2s",
                    "put",
                    "/refused/b",
                    "x",
                ],
                { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } },
            );
            expect(foreign.status).not.toBe(0);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }

        // Plaintext on the client and peer ports gets no etcd answer; the same request over TLS does.
        for (const url of [endpoint.replace("https://", "http://"), endpoint.replace("https://", "http://").replace(":2379", ":2380")]) {
            const plain = run("curl", ["--silent", "--max-time", "3", `${url}/health`]);
            expect(plain.stdout).not.toContain('"health"');
        }
        const tls = run("curl", ["--silent", "--max-time", "3", "--cacert", c.caFile, "--cert", c.certFile, "--key", c.keyFile, `${endpoint}/health`]);
        expect(tls.stdout).toContain('"health":"true"');
        expect(get(c, "/refused/a")).toBe("");
        expect(get(c, "/refused/b")).toBe("");
    });

    test("each member's data dir is its own ext4 data volume, mode 0700, owned by etcd (CIS 1.1.11, 1.1.12)", () => {
        c.members.forEach((m, i) => {
            const stat = inMember(c, i, ["stat", "-c", "%a %U:%G", "/var/lib/etcd"]);
            expect(stat.stdout.trim()).toBe("700 etcd:etcd");
            const mount = inMember(c, i, ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/var/lib/etcd"]);
            expect(mount.stdout.trim()).toBe(`/dev/${m.loopDevice.replace("/dev/", "")} ext4`);
            const keys = inMember(c, i, ["stat", "-c", "%a %U", "/etc/etcd/pki/server.key", "/etc/etcd/pki/peer.key"]);
            expect(keys.stdout.trim().split("\n")).toEqual(["600 etcd", "600 etcd"]);
        });
    });

    test("on every member, `etcdctl endpoint health --cluster` works as is with the environment the boot leaves", () => {
        c.members.forEach((_, i) => {
            const r = inMember(c, i, ["bash", "-c", ". /etc/profile.d/etcdctl.sh && etcdctl endpoint health --cluster"]);
            expect(r.status).toBe(0);
            for (const endpoint of c.clientEndpoints) {
                expect(r.stdout + r.stderr).toContain(`${endpoint} is healthy`);
            }
        });
    });

    test("the readiness gate script reports the running cluster healthy", () => {
        const r = gate(c, 30);
        expect(r.stderr).toMatch(/healthy/);
        expect(r.status).toBe(0);
    });

    test("1 of 3 down: writes continue; 2 of 3 down: no writes and the gate fails with the reason; restarted: every acknowledged write is present", () => {
        const acknowledged = new Map<string, string>();
        const write = (key: string, value: string) => {
            if (put(c, key, value)) acknowledged.set(key, value);
            return acknowledged.has(key);
        };
        for (let n = 0; n < 5; n++) expect(write(`/faults/before/${n}`, `v${n}`)).toBe(true);

        crashMember(c, 2);
        for (let n = 0; n < 5; n++) {
            // The first write after a crash may land on a new leader's election: allow a few attempts.
            const ms = waitUntil(() => write(`/faults/one-down/${n}`, `v${n}`), 15_000, "write with one member down");
            expect(ms).toBeLessThan(15_000);
        }

        crashMember(c, 1);
        const minority = etcdctl(c, ["put", "/faults/two-down", "lost", "--command-timeout=3s"], [c.clientEndpoints[0]]);
        expect(minority.status).not.toBe(0);
        // The minority applies nothing: its own (serializable) view does not hold the unacknowledged write.
        expect(get(c, "/faults/two-down", [c.clientEndpoints[0]], "s")).toBe("");
        expect(etcdctl(c, ["get", "/faults/before/0", "--consistency=l", "--command-timeout=3s"], [c.clientEndpoints[0]]).status).not.toBe(0);

        const unhealthy = gate(c, 4);
        expect(unhealthy.status).not.toBe(0);
        expect(unhealthy.stderr).toMatch(/timed out|not healthy|unhealthy/i);

        startMember(c, 1);
        startMember(c, 2);
        waitHealthy(c, 60_000);
        for (const [key, value] of acknowledged) {
            expect(get(c, key)).toBe(value);
        }
        // The unacknowledged write may still commit once quorum returns (it was in the leader's log): Raft
        // promises only that acknowledged writes survive, which is what is checked above.
        expect(acknowledged.size).toBe(10);
    });

    test("an isolated leader cannot commit; the majority elects a new leader and writes; after healing the old leader rejoins with those writes", () => {
        const states = endpointStates(c);
        const leader = states.findIndex((s) => s.leader);
        expect(leader).toBeGreaterThanOrEqual(0);
        const m = c.members[leader];

        isolate(c, leader);
        try {
            // From inside the isolated member's own network: its loopback listener, its own server certificate's SAN.
            const isolatedWrite = spawnSync(
                "ip",
                [
                    "netns",
                    "exec",
                    m.netns,
                    c.etcdctl,
                    "--endpoints=https://127.0.0.1:2379",
                    `--cacert=${c.caFile}`,
                    `--cert=${c.certFile}`,
                    `--key=${c.keyFile}`,
                    "--command-timeout=4s",
                    "put",
                    "/partition/isolated",
                    "x",
                ],
                { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } },
            );
            expect(isolatedWrite.status).not.toBe(0);

            waitUntil(() => put(c, "/partition/majority", "committed", others(c, leader)), 20_000, "the majority did not accept a write");
            const newLeader = endpointStates(c).findIndex((s) => s.leader);
            expect(newLeader).not.toBe(leader);
            expect(newLeader).toBeGreaterThanOrEqual(0);
        } finally {
            heal(c, leader);
        }
        waitHealthy(c, 60_000);
        waitUntil(() => get(c, "/partition/majority", [c.clientEndpoints[leader]], "s") === "committed", 20_000, "the healed member did not catch up");
        expect(get(c, "/partition/isolated")).toBe("");
    });

    test("a replaced member (everything but its data volume wiped, user-data run again) rejoins with its data; a second boot run changes nothing", () => {
        expect(put(c, "/replace/before", "kept")).toBe(true);
        const replaced = replaceMember(c, 1);
        expect(replaced.status).toBe(0);
        expect(replaced.output).toMatch(/already holds a ext4 filesystem; keeping it/);
        expect(replaced.output).not.toMatch(/formatting/);
        waitHealthy(c, 60_000);
        expect(get(c, "/replace/before", [c.clientEndpoints[1]], "s")).toBe("kept");
        const log = readFileSync(join(c.members[1].dir, "upper", "var", "log", "etcd.service.log"), "utf8");
        expect(log).not.toMatch(/already been bootstrapped/);
        const members = JSON.parse(etcdctl(c, ["member", "list", "-w", "json"]).stdout).members;
        expect(members).toHaveLength(3);

        const pid = etcdPid(c.members[0]);
        const again = rerunBoot(c, 0);
        expect(again.status).toBe(0);
        expect(again.output).toMatch(/already installed/);
        expect(again.output).toMatch(/keeping it/);
        expect(again.output).not.toMatch(/formatting/);
        expect(etcdPid(c.members[0])).toBe(pid);
        expect(get(c, "/replace/before", [c.clientEndpoints[0]], "s")).toBe("kept");
        waitHealthy(c, 30_000);
    });
});

describe.each(lines)("etcd %s (the newest in the mirror): even and larger sizes", (line, index) => {
    test.each([
        [4, 1],
        [5, 2],
    ])("%i members tolerate %i failure(s) and no more", (size, tolerated) => {
        const version = newestMirrored(line);
        const name = `it-${index}-${size}`;
        down(name);
        const c = bootLocalCluster({ name, networkIndex: index + 100 + size, version, size });
        try {
            for (let i = 0; i < tolerated; i++) crashMember(c, size - 1 - i);
            const alive = c.clientEndpoints.slice(0, size - tolerated);
            waitUntil(() => put(c, "/size/ok", "yes", alive), 20_000, `${size} members with ${tolerated} down did not accept a write`);
            crashMember(c, size - 1 - tolerated);
            const r = etcdctl(c, ["put", "/size/lost", "no", "--command-timeout=3s"], c.clientEndpoints.slice(0, size - tolerated - 1));
            expect(r.status).not.toBe(0);
            expect(get(c, "/size/lost", c.clientEndpoints.slice(0, 1), "s")).toBe("");
            for (let i = 0; i <= tolerated; i++) startMember(c, size - 1 - i);
            waitHealthy(c, 60_000);
            expect(get(c, "/size/ok")).toBe("yes");
        } finally {
            down(name);
        }
    });
});
