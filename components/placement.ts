/** How many members, and how many whole zones, can fail while the cluster keeps quorum. */
export interface EtcdFaultTolerance {
    /** Members that can fail at once: floor((size - 1) / 2). */
    members: number;
    /** Whole availability zones that can fail at once (the fullest zones first). */
    zones: number;
}

/** The smallest number of members that forms a Raft majority. */
export function quorum(size: number): number {
    return Math.floor(size / 2) + 1;
}

/** Zone (subnet) index of each member: round-robin, so zones differ in member count by at most one. */
export function memberZoneIndexes(size: number, zoneCount: number): number[] {
    return Array.from({ length: size }, (_, i) => i % zoneCount);
}

/** Member count of each zone, in zone order. */
export function membersPerZone(size: number, zoneCount: number): number[] {
    const counts = new Array<number>(zoneCount).fill(0);
    for (const zone of memberZoneIndexes(size, zoneCount)) {
        counts[zone]++;
    }
    return counts;
}

/**
 * Failures the cluster survives. Losing zones removes the fullest ones first (the worst case), and the
 * cluster survives while the members left still form a majority.
 */
export function faultTolerance(size: number, zoneCount: number): EtcdFaultTolerance {
    const majority = quorum(size);
    // Round-robin fills zones in order, so zone order is already fullest first: the worst case.
    const worstFirst = membersPerZone(size, zoneCount);
    let remaining = size;
    let zones = 0;
    for (const lost of worstFirst) {
        if (remaining - lost < majority) {
            break;
        }
        remaining -= lost;
        zones++;
    }
    return { members: size - majority, zones };
}
