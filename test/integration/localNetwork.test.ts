// `npm run local` on a machine where address ranges are taken: a range in use is refused before anything is
// created, naming what holds it, and without --network-index a free one is chosen. Runs inside a network
// namespace of its own (the host's interfaces are never touched), through npm as a user types it.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "fs";
import { join } from "path";
import { localStateRoot } from "../../scripts/lib/local/localCluster";
import { requireRoot, run } from "../helpers/tools";

jest.setTimeout(120_000);

const repo = join(__dirname, "..", "..");
const netns = `etcd-probe-${process.pid}`;
const held = "probe-held";
const other = "probe-other";

/** `npm run -s local -- ARGS` inside the test's namespace. */
const local = (...args: string[]) => run("ip", ["netns", "exec", netns, "npm", "run", "-s", "local", "--", ...args], { cwd: repo });

beforeAll(() => {
    requireRoot("the runner needs root, and the test creates a network namespace");
    // The namespace's own interface holds 10.213.0.0/24, as another checkout's bridge or a VPN would on a host.
    for (const args of [
        ["netns", "add", netns],
        ["-n", netns, "link", "add", "probe0", "type", "bridge"],
        ["-n", netns, "addr", "add", "10.213.0.1/24", "dev", "probe0"],
        ["-n", netns, "link", "set", "probe0", "up"],
    ]) {
        const r = run("ip", args);
        if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
    }
    // A saved cluster of this checkout holds 10.213.1.0/24 (its bridge need not exist: it is held until removed).
    mkdirSync(join(localStateRoot, held), { recursive: true });
    writeFileSync(
        join(localStateRoot, held, "cluster.json"),
        JSON.stringify({ name: held, gatewayIp: "10.213.1.1", bridge: "etcbr-fffff", members: [], clientEndpoints: [] }),
    );
    rmSync(join(localStateRoot, other), { recursive: true, force: true });
});

afterAll(() => {
    run("ip", ["netns", "del", netns]);
    rmSync(join(localStateRoot, held), { recursive: true, force: true });
    rmSync(join(localStateRoot, other), { recursive: true, force: true });
});

test("a range held by an interface of the host is refused, naming the interface, and nothing is created", () => {
    const r = local("--name", other, "--network-index", "0");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim()).toBe(
        "npm run local: --network-index 0: 10.213.0.0/24 is in use on this machine by interface probe0 (10.213.0.1/24). " +
            "Choose a free range, e.g. --network-index 2 (10.213.2.0/24), or leave --network-index out.",
    );
    expect(existsSync(join(localStateRoot, other))).toBe(false);
    expect(run("ip", ["-n", netns, "-o", "link", "show", "type", "bridge"]).stdout.match(/etcbr-/g)).toBeNull();
});

test("a range held by a saved local cluster is refused, naming the cluster and the command that removes it", () => {
    const r = local("--name", other, "--network-index", "1");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
        `npm run local: --network-index 1: 10.213.1.0/24 is in use on this machine by local cluster "${held}" (remove it with: npm run local -- --down --name ${held}).`,
    );
    expect(existsSync(join(localStateRoot, other))).toBe(false);
});

test("with only --name, a free range is chosen; `npm run -s local -- --plan-only --json` writes nothing but JSON to stdout", () => {
    const r = local("--name", other, "--plan-only", "--json", "--size", "1", "--zones", "1");
    expect(r.stderr).toContain("10.213.0.0/24 is in use (interface probe0 (10.213.0.1/24)): using 10.213.2.0/24");
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout);
    expect(printed.networkPrefix).toBe("10.213.2");
    expect(printed.plan.members.map((m: { ip: string }) => m.ip)).toEqual(["10.213.2.10"]);
    // The parameters the member's role may read: its keys (SecureString) and certificates (String), and the
    // cluster's discovery list of members (String).
    const parameters = Object.entries(printed.plan.members[0].parameters as Record<string, unknown>);
    expect(parameters.map(([name, value]) => [name.split("/").pop(), typeof value]).sort()).toEqual(
        ["ca.crt", "members", "peer.crt", "peer.key", "server.crt", "server.key"].map((file) => [file, "string"]),
    );
});

test("an argument the component refuses is reported as the flag that was typed", () => {
    const r = local("--name", other, "--network-index", "5", "--plan-only", "--auth", "--etcd-version", "3.4.23");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("npm run local: --auth: expected false for etcd 3.4.23 (certificate-only users need 3.5 or later), got true");
});

/** `claimSubnet` run inside the test's namespace, as `up` runs it just before creating the cluster's bridge. */
function claim(gatewayIp: string) {
    const code =
        `const { claimSubnet } = require(${JSON.stringify(join(repo, "scripts", "lib", "local", "localCluster"))});` +
        `claimSubnet({ bridge: "etcbr-mine0", gatewayIp: ${JSON.stringify(gatewayIp)} }, 24, (line) => console.log(line));`;
    return run("ip", ["netns", "exec", netns, "node", "-r", "ts-node/register/transpile-only", "-e", code], { cwd: repo });
}

test("a cluster's bridge left by a killed run (no member attached) is removed before a new cluster takes its range; a link in use is refused", () => {
    // A killed run's bridge holds 10.213.7.0/24 with nothing attached: left in place, it would take the route
    // that the new members' replies (from the backup store) follow, and their AWS calls would hang.
    for (const args of [
        ["link", "add", "etcbr-stale", "type", "bridge"],
        ["addr", "add", "10.213.7.1/24", "dev", "etcbr-stale"],
        ["link", "add", "etcbr-busy", "type", "bridge"],
        ["addr", "add", "10.213.8.1/24", "dev", "etcbr-busy"],
        ["link", "add", "probe-port", "type", "veth", "peer", "name", "probe-peer"],
        ["link", "set", "probe-port", "master", "etcbr-busy"],
    ]) {
        expect(run("ip", ["-n", netns, ...args])).toMatchObject({ status: 0 });
    }
    const stale = claim("10.213.7.1");
    expect(stale.stderr).toBe("");
    expect(stale.stdout.trim()).toBe("network: removing etcbr-stale, a stale bridge of another local cluster on 10.213.7.0/24 (no member attached)");
    expect(run("ip", ["-n", netns, "link", "show", "etcbr-stale"]).status).not.toBe(0);

    // A bridge with a member attached belongs to a running cluster, and any other link may be a VPN: both stay.
    const busy = claim("10.213.8.1");
    expect(busy.status).not.toBe(0);
    expect(busy.stderr).toContain("network 10.213.8.0/24 is already used by etcbr-busy (a running local cluster); stop that cluster");
    const other = claim("10.213.0.1");
    expect(other.stderr).toContain(
        "network 10.213.0.0/24 is already used by probe0; stop that cluster (npm run local -- --down --name NAME) or choose another --network-index",
    );
    expect(run("ip", ["-n", netns, "link", "show", "etcbr-busy"]).status).toBe(0);
    // A range nobody holds is taken without a word.
    expect(claim("10.213.9.1")).toMatchObject({ status: 0, stdout: "" });
});
