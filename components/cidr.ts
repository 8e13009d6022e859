// CIDR blocks parsed to numbers: checks (world-open, duplicates) compare what AWS will store, not spellings.
// AWS stores a block in its canonical form ("0::/0" becomes "::/0"), so a check on the text alone can be
// bypassed by another spelling of the same block.

/** A parsed CIDR block. */
export interface ParsedCidr {
    family: 4 | 6;
    /** The address as a number (host bits as written). */
    address: bigint;
    prefix: number;
    /** The block as AWS stores it: network address (host bits zero), shortest spelling, lowercase. */
    canonical: string;
}

const v4Octet = /^(0|[1-9]\d{0,2}|0\d{1,2})$/;

function parseIpv4(text: string): bigint | undefined {
    const parts = text.split(".");
    if (parts.length !== 4 || parts.some((p) => !v4Octet.test(p) || Number(p) > 255)) {
        return undefined;
    }
    return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function parseIpv6(text: string): bigint | undefined {
    // Every group is checked against a strict pattern below: no other character passes.
    let head = text;
    let tail: bigint[] = [];
    // An embedded IPv4 address in the last 32 bits (such as ::ffff:10.0.0.1).
    const lastColon = text.lastIndexOf(":");
    if (text.includes(".")) {
        const v4 = parseIpv4(text.slice(lastColon + 1));
        // (an IPv6 text always has a colon, so lastColon >= 0 here)
        if (v4 === undefined) {
            return undefined;
        }
        tail = [v4 >> 16n, v4 & 0xffffn];
        head = text.slice(0, lastColon + 1);
        if (!head.endsWith("::")) {
            head = head.slice(0, -1);
        }
    }
    const halves = head.split("::");
    if (halves.length > 2) {
        return undefined;
    }
    const groups = (part: string): bigint[] | undefined => {
        if (part === "") {
            return [];
        }
        const list = part.split(":");
        if (list.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) {
            return undefined;
        }
        return list.map((g) => BigInt(parseInt(g, 16)));
    };
    const left = groups(halves[0]);
    const right = halves.length === 2 ? groups(halves[1]) : [];
    if (!left || !right) {
        return undefined;
    }
    const given = left.length + right.length + tail.length;
    let all: bigint[];
    if (halves.length === 2) {
        // "::" stands for at least one group of zeros.
        if (given > 7) {
            return undefined;
        }
        all = [...left, ...new Array<bigint>(8 - given).fill(0n), ...right, ...tail];
    } else {
        if (given !== 8) {
            return undefined;
        }
        all = [...left, ...tail];
    }
    return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

function formatIpv4(address: bigint): string {
    return [24n, 16n, 8n, 0n].map((shift) => String((address >> shift) & 0xffn)).join(".");
}

/** RFC 5952: lowercase, no leading zeros, the longest run of two or more zero groups (the first on a tie) as "::". */
function formatIpv6(address: bigint): string {
    const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((address >> shift) & 0xffffn));
    let bestStart = -1;
    let bestLength = 1;
    for (let i = 0; i < 8;) {
        if (groups[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > bestLength) {
            bestStart = i;
            bestLength = j - i;
        }
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (bestStart < 0) {
        return hex.join(":");
    }
    return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Parses an IPv4 or IPv6 CIDR block; undefined when it is not one. */
export function parseCidr(text: string): ParsedCidr | undefined {
    const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
    if (!match) {
        return undefined;
    }
    const prefix = Number(match[2]);
    const family: 4 | 6 = match[1].includes(":") ? 6 : 4;
    const bits = family === 4 ? 32 : 128;
    const address = family === 4 ? parseIpv4(match[1]) : parseIpv6(match[1]);
    if (address === undefined || prefix > bits) {
        return undefined;
    }
    const hostMask = (1n << BigInt(bits - prefix)) - 1n;
    const network = address & ~hostMask;
    const canonical = `${family === 4 ? formatIpv4(network) : formatIpv6(network)}/${prefix}`;
    return { family, address, prefix, canonical };
}

/** A block with prefix 0 holds every address of its family: the whole internet. */
export function isWorldOpen(cidr: ParsedCidr): boolean {
    return cidr.prefix === 0;
}
