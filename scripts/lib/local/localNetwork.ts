// Which 10.213.K.0/24 a local cluster may use. A range is held by a saved local cluster of this checkout
// (.cache/local/<name>/cluster.json), or by this host's interfaces and routes (another checkout's cluster,
// a VPN, a container network). Two bridges with one range break both clusters in confusing ways (peers
// answer from the wrong cluster: "certificate signed by unknown authority"), so a held range is refused
// before anything is created.
import { spawnSync } from "child_process";
import { existsSync, readdirSync, readFileSync } from "fs";
import { join } from "path";

export const networkIndexes = { min: 0, max: 255 };

/** The /24 prefix of network index K: "10.213.K". */
export const networkPrefix = (index: number): string => `10.213.${index}`;
const rangeOf = (index: number) => `${networkPrefix(index)}.0/24`;

/** The command that removes a local cluster, as the user types it. */
export function downCommand(name: string): string {
    return `npm run local -- --down${name === "local" ? "" : ` --name ${name}`}`;
}

export interface HostAddress {
    ifname: string;
    /** Address and prefix length, e.g. "10.213.0.1/24". */
    cidr: string;
}

export interface HostRoute {
    /** Destination, e.g. "10.213.0.0/24"; a host route has no prefix length. */
    dst: string;
    dev?: string;
}

export interface SavedCluster {
    name: string;
    /** "10.213.K" */
    prefix: string;
    bridge?: string;
}

export interface NetworkState {
    addresses: HostAddress[];
    routes: HostRoute[];
    clusters: SavedCluster[];
    /** Bridges of local clusters this checkout has not saved, with no member attached (see `idleLocalBridges`). */
    idleBridges?: string[];
}

/** A local cluster's bridge is named etcbr-<hash of its name>. */
export const isLocalClusterBridge = (ifname: string): boolean => /^etcbr-/.test(ifname);

/**
 * Local cluster bridges with no member attached, except `saved` ones (this checkout's clusters, which
 * `--down` removes): what a killed run leaves. They hold no range: booting a cluster on it removes them
 * first (localCluster.ts, `claimSubnet`), since a stale bridge would take the route the new members' replies follow.
 */
export function idleLocalBridges(saved: string[] = []): string[] {
    const links = (args: string[]): { ifname: string }[] => {
        const r = spawnSync("ip", ["-j", "link", "show", ...args], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`ip link show ${args.join(" ")} failed: ${(r.stderr ?? "").trim()}`);
        return JSON.parse(r.stdout || "[]");
    };
    return links(["type", "bridge"])
        .map((l) => l.ifname)
        .filter((b) => isLocalClusterBridge(b) && !saved.includes(b) && links(["master", b]).length === 0);
}

/** IPv4 addresses of `ip -j addr`. */
export function parseIpAddr(json: string): HostAddress[] {
    const links: { ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[] = JSON.parse(json || "[]");
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === "inet").map((a) => ({ ifname: l.ifname, cidr: `${a.local}/${a.prefixlen}` })));
}

/** Routes of `ip -j route` (IPv4, main table), without the default route. */
export function parseIpRoute(json: string): HostRoute[] {
    const routes: { dst: string; dev?: string }[] = JSON.parse(json || "[]");
    return routes.filter((r) => r.dst !== "default").map((r) => ({ dst: r.dst, dev: r.dev }));
}

/** Local clusters saved under the state directory, with the range each was booted on. */
export function savedClusters(stateRoot: string): SavedCluster[] {
    if (!existsSync(stateRoot)) return [];
    return readdirSync(stateRoot).flatMap((name) => {
        const file = join(stateRoot, name, "cluster.json");
        if (!existsSync(file)) return [];
        try {
            const c = JSON.parse(readFileSync(file, "utf8"));
            const address: string | undefined = c.gatewayIp ?? c.members?.[0]?.ip;
            const prefix = address?.split(".").slice(0, 3).join(".");
            return prefix ? [{ name: c.name ?? name, prefix, bridge: c.bridge }] : [];
        } catch {
            // A cluster.json cut short by a crash: the cluster's name still holds its directory, not a range.
            return [];
        }
    });
}

/** This host's addresses and routes (`ip -j`), and the saved clusters. */
export function readNetworkState(stateRoot: string): NetworkState {
    const ip = (args: string[]) => {
        const r = spawnSync("ip", ["-j", "-4", ...args], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${(r.stderr ?? "").trim()}`);
        return r.stdout;
    };
    const clusters = savedClusters(stateRoot);
    return {
        addresses: parseIpAddr(ip(["addr", "show"])),
        routes: parseIpRoute(ip(["route", "show"])),
        clusters,
        idleBridges: idleLocalBridges(clusters.flatMap((c) => (c.bridge ? [c.bridge] : []))),
    };
}

function parseCidr(cidr: string): { base: number; bits: number } {
    const [address, bits] = cidr.split("/");
    const n = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
    const length = bits === undefined ? 32 : Number(bits);
    const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
    return { base: (n & mask) >>> 0, bits: length };
}

const contains = (outer: { base: number; bits: number }, address: number) => {
    const mask = outer.bits === 0 ? 0 : (0xffffffff << (32 - outer.bits)) >>> 0;
    return (address & mask) >>> 0 === outer.base;
};

/**
 * Who holds network index `index`, in words; empty when it is free. The cluster named `replacing` does not
 * count: booting it again removes it first; nor do idle bridges, which booting removes too. An address inside
 * the range, or a route or subnet inside it, holds it; a wider route (10.0.0.0/8 through a VPN) does not: the cluster's own /24 is more specific.
 */
export function rangeHolders(index: number, state: NetworkState, replacing?: string): string[] {
    const range = parseCidr(rangeOf(index));
    const own = state.clusters.find((c) => c.name === replacing);
    // One entry per holder: a saved cluster (by name), else an interface, else a route.
    const holders = new Map<string, string>();
    const hold = (key: string, text: string) => holders.has(key) || holders.set(key, text);
    for (const c of state.clusters) {
        if (c.name !== replacing && c.prefix === networkPrefix(index)) {
            hold(`cluster:${c.name}`, `local cluster "${c.name}" (remove it with: ${downCommand(c.name)})`);
        }
    }
    const interfaceHolds = (ifname: string, what: string) => {
        if (ifname === own?.bridge || state.idleBridges?.includes(ifname)) return;
        const owner = state.clusters.find((c) => c.bridge === ifname);
        if (owner) {
            hold(`cluster:${owner.name}`, `local cluster "${owner.name}" (remove it with: ${downCommand(owner.name)})`);
        } else if (isLocalClusterBridge(ifname)) {
            hold(`if:${ifname}`, `interface ${ifname} (${what}), the bridge of a local cluster this checkout has not saved (another checkout's, or left over)`);
        } else {
            hold(`if:${ifname}`, `interface ${ifname} (${what})`);
        }
    };
    for (const a of state.addresses) {
        const subnet = parseCidr(a.cidr);
        const address = parseCidr(a.cidr.split("/")[0]).base;
        if (contains(range, address) || (subnet.bits >= 24 && contains(range, subnet.base))) interfaceHolds(a.ifname, a.cidr);
    }
    for (const r of state.routes) {
        const dst = parseCidr(r.dst);
        if (dst.bits < 24 || !contains(range, dst.base)) continue;
        if (r.dev) interfaceHolds(r.dev, `a route to ${r.dst}`);
        else hold(`route:${r.dst}`, `a route to ${r.dst}`);
    }
    return [...holders.values()];
}

/** The lowest free index, preferring `preferred` when it is free. */
export function freeNetworkIndex(state: NetworkState, name: string, preferred?: number): number | undefined {
    if (preferred !== undefined && rangeHolders(preferred, state, name).length === 0) return preferred;
    for (let k = networkIndexes.min; k <= networkIndexes.max; k++) {
        if (rangeHolders(k, state, name).length === 0) return k;
    }
    return undefined;
}

/**
 * The network index cluster `name` boots on: `requested` when it is free (refused, naming its holders,
 * when it is not); without a request, the index the cluster had before, else the lowest free one.
 */
export function chooseNetworkIndex(state: NetworkState, name: string, requested?: number): { index: number; note?: string } {
    if (requested !== undefined) {
        const holders = rangeHolders(requested, state, name);
        if (holders.length > 0) {
            const free = freeNetworkIndex(state, name);
            throw new Error(
                `--network-index ${requested}: ${rangeOf(requested)} is in use on this machine by ${holders.join("; ")}. ` +
                    (free === undefined
                        ? "No other index is free."
                        : `Choose a free range, e.g. --network-index ${free} (${rangeOf(free)}), or leave --network-index out.`),
            );
        }
        return { index: requested };
    }
    const previous = state.clusters.find((c) => c.name === name);
    const previousIndex = previous ? Number(previous.prefix.split(".")[2]) : undefined;
    const index = freeNetworkIndex(state, name, previousIndex ?? networkIndexes.min);
    if (index === undefined) {
        throw new Error(
            `no free address range 10.213.K.0/24 on this machine (K from ${networkIndexes.min} to ${networkIndexes.max}); remove a local cluster first`,
        );
    }
    const wanted = previousIndex ?? networkIndexes.min;
    return index === wanted
        ? { index }
        : { index, note: `${rangeOf(wanted)} is in use (${rangeHolders(wanted, state, name).join("; ")}): using ${rangeOf(index)}` };
}
