// The address range of a local cluster: held ranges are refused with the holder's name (and how to remove it),
// and without --network-index a free range is chosen.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { chooseNetworkIndex, downCommand, NetworkState, parseIpAddr, parseIpRoute, rangeHolders, savedClusters } from "../../scripts/lib/local/localNetwork";

// Shapes as `ip -j -4 addr show` and `ip -j -4 route show` print them (iproute2 6.1).
const ipAddr = JSON.stringify([
    { ifindex: 1, ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host", label: "lo" }] },
    { ifindex: 4, ifname: "eth0", addr_info: [{ family: "inet", local: "192.0.2.2", prefixlen: 24, scope: "global", label: "eth0" }] },
    { ifindex: 9, ifname: "etcbr-25bf8", addr_info: [{ family: "inet", local: "10.213.0.1", prefixlen: 24, scope: "global", label: "etcbr-25bf8" }] },
    { ifindex: 12, ifname: "etcbr-b1275", addr_info: [{ family: "inet", local: "10.213.200.1", prefixlen: 24, scope: "global", label: "etcbr-b1275" }] },
    { ifindex: 13, ifname: "docker0", addr_info: [{ family: "inet", local: "10.213.7.1", prefixlen: 16, scope: "global", label: "docker0" }] },
    { ifindex: 14, ifname: "eth1", addr_info: [] },
]);
const ipRoute = JSON.stringify([
    { dst: "default", gateway: "192.0.2.1", dev: "eth0", flags: [] },
    { dst: "10.0.0.0/8", dev: "tun0", flags: [] },
    { dst: "10.213.0.0/24", dev: "etcbr-25bf8", protocol: "kernel", scope: "link", prefsrc: "10.213.0.1", flags: [] },
    { dst: "10.213.200.0/24", dev: "etcbr-b1275", protocol: "kernel", scope: "link", prefsrc: "10.213.200.1", flags: [] },
    { dst: "10.213.9.128/25", gateway: "192.0.2.9", dev: "eth0", flags: [] },
    { dst: "10.213.11.5", gateway: "192.0.2.9", flags: [] },
]);

const state = (): NetworkState => ({
    addresses: parseIpAddr(ipAddr),
    routes: parseIpRoute(ipRoute),
    clusters: [
        { name: "local", prefix: "10.213.0", bridge: "etcbr-25bf8" },
        // Saved, but its bridge is gone (the machine rebooted): its range is still its own until it is removed.
        { name: "stale", prefix: "10.213.3", bridge: "etcbr-0a0a0" },
    ],
});

test("host addresses and routes are read from ip's JSON: IPv4 only, without the default route", () => {
    expect(parseIpAddr(ipAddr)).toEqual([
        { ifname: "lo", cidr: "127.0.0.1/8" },
        { ifname: "eth0", cidr: "192.0.2.2/24" },
        { ifname: "etcbr-25bf8", cidr: "10.213.0.1/24" },
        { ifname: "etcbr-b1275", cidr: "10.213.200.1/24" },
        { ifname: "docker0", cidr: "10.213.7.1/16" },
    ]);
    expect(parseIpRoute(ipRoute).map((r) => r.dst)).toEqual(["10.0.0.0/8", "10.213.0.0/24", "10.213.200.0/24", "10.213.9.128/25", "10.213.11.5"]);
});

test.each([
    [0, ['local cluster "local" (remove it with: npm run local -- --down)']],
    [3, ['local cluster "stale" (remove it with: npm run local -- --down --name stale)']],
    [200, [expect.stringMatching(/^interface etcbr-b1275 \(10\.213\.200\.1\/24\), the bridge of a local cluster this checkout has not saved/)]],
    [7, ["interface docker0 (10.213.7.1/16)"]],
    [9, ["interface eth0 (a route to 10.213.9.128/25)"]],
    [11, ["a route to 10.213.11.5"]],
    // 10.0.0.0/8 through a VPN and docker0's /16 are wider than the cluster's /24: they do not hold it.
    [1, []],
    [8, []],
])("10.213.%i.0/24 is held by %j", (index, holders) => {
    expect(rangeHolders(index, state(), "third")).toEqual(holders);
});

test("a cluster does not hold the range against itself: booting it again replaces it", () => {
    expect(rangeHolders(0, state(), "local")).toEqual([]);
    expect(rangeHolders(3, state(), "stale")).toEqual([]);
});

test("an idle local cluster bridge (no member attached, not saved here) holds no range: booting removes it", () => {
    // Found by `ip link` (localNetwork.ts, idleLocalBridges); a saved cluster's bridge is never idle.
    const withIdle = { ...state(), idleBridges: ["etcbr-b1275"] };
    expect(rangeHolders(200, withIdle, "third")).toEqual([]);
    expect(chooseNetworkIndex(withIdle, "third", 200)).toEqual({ index: 200 });
    // Other links of the range still hold it.
    expect(rangeHolders(7, withIdle, "third")).toEqual(["interface docker0 (10.213.7.1/16)"]);
});

test("a requested range in use is refused with its holder, the command that removes it and a free range", () => {
    expect(() => chooseNetworkIndex(state(), "third", 0)).toThrow(
        '--network-index 0: 10.213.0.0/24 is in use on this machine by local cluster "local" (remove it with: npm run local -- --down). ' +
            "Choose a free range, e.g. --network-index 1 (10.213.1.0/24), or leave --network-index out.",
    );
    expect(() => chooseNetworkIndex(state(), "third", 200)).toThrow(
        /--network-index 200: 10\.213\.200\.0\/24 is in use on this machine by interface etcbr-b1275/,
    );
    expect(chooseNetworkIndex(state(), "third", 2)).toEqual({ index: 2 });
});

test("without --network-index: the cluster's previous range, else the lowest free one, saying which was taken", () => {
    expect(chooseNetworkIndex(state(), "local")).toEqual({ index: 0 });
    expect(chooseNetworkIndex(state(), "stale")).toEqual({ index: 3 });
    const third = chooseNetworkIndex(state(), "third");
    expect(third.index).toBe(1);
    expect(third.note).toBe('10.213.0.0/24 is in use (local cluster "local" (remove it with: npm run local -- --down)): using 10.213.1.0/24');
    const crowded = state();
    crowded.clusters.push({ name: "other", prefix: "10.213.1", bridge: "etcbr-11111" }, { name: "more", prefix: "10.213.2", bridge: "etcbr-22222" });
    expect(chooseNetworkIndex(crowded, "third").index).toBe(4);
    // The previous range taken meanwhile by another holder: the next free one.
    crowded.clusters.push({ name: "again", prefix: "10.213.3" });
    expect(chooseNetworkIndex({ ...crowded, clusters: crowded.clusters.filter((c) => c.name !== "stale") }, "again").index).toBe(3);
});

test("every range held: the error says so", () => {
    const full: NetworkState = { addresses: [], routes: [{ dst: "10.213.0.0/16" }], clusters: [] };
    // A /16 route is wider than a /24: it holds nothing. 256 /24 routes hold everything.
    expect(chooseNetworkIndex(full, "x").index).toBe(0);
    full.routes = Array.from({ length: 256 }, (_, k) => ({ dst: `10.213.${k}.0/24`, dev: "vpn0" }));
    expect(() => chooseNetworkIndex(full, "x")).toThrow(/no free address range 10\.213\.K\.0\/24/);
});

test("saved clusters are read from their cluster.json files; a damaged file holds no range", () => {
    const root = mkdtempSync(join(tmpdir(), "local-state-"));
    try {
        mkdirSync(join(root, "a"));
        writeFileSync(join(root, "a", "cluster.json"), JSON.stringify({ name: "a", gatewayIp: "10.213.4.1", bridge: "etcbr-aaaaa", members: [] }));
        mkdirSync(join(root, "b"));
        writeFileSync(join(root, "b", "cluster.json"), JSON.stringify({ name: "b", members: [{ ip: "10.213.6.10" }] }));
        mkdirSync(join(root, "c"));
        writeFileSync(join(root, "c", "cluster.json"), '{"name": "c", "gatew');
        mkdirSync(join(root, "d"));
        expect(savedClusters(root)).toEqual([
            { name: "a", prefix: "10.213.4", bridge: "etcbr-aaaaa" },
            { name: "b", prefix: "10.213.6", bridge: undefined },
        ]);
        expect(savedClusters(join(root, "missing"))).toEqual([]);
    } finally {
        rmSync(root, { recursive: true, force: true });
    }
});

test("the --down command is the one the user types", () => {
    expect(downCommand("local")).toBe("npm run local -- --down");
    expect(downCommand("third")).toBe("npm run local -- --down --name third");
});
