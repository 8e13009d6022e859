import { faultTolerance, memberZoneIndexes, membersPerZone, quorum } from "../../components/placement";

describe("quorum and fault tolerance", () => {
    test.each([
        [1, 1, 0],
        [2, 2, 0],
        [3, 2, 1],
        [4, 3, 1],
        [5, 3, 2],
        [6, 4, 2],
        [7, 4, 3],
        [9, 5, 4],
    ])("%i members: majority %i, %i failure(s) tolerated", (size, majority, tolerated) => {
        expect(quorum(size)).toBe(majority);
        expect(faultTolerance(size, 1).members).toBe(tolerated);
    });

    test("4 members tolerate exactly what 3 do", () => {
        expect(faultTolerance(4, 4)).toEqual({ members: 1, zones: 1 });
        expect(faultTolerance(3, 3)).toEqual({ members: 1, zones: 1 });
        expect(faultTolerance(4, 1)).toEqual({ members: 1, zones: 0 });
        expect(faultTolerance(3, 1)).toEqual({ members: 1, zones: 0 });
    });

    test.each([
        // size, zones, zones tolerated
        [3, 3, 1],
        [3, 2, 0], // the zone holding 2 members takes quorum with it
        [3, 1, 0],
        [5, 3, 1], // 2+2+1: losing a 2-member zone leaves 3 of 5
        [5, 5, 2],
        [6, 3, 1],
        [7, 3, 1],
        [9, 3, 1],
        [7, 7, 3],
    ])("%i members over %i zones survive %i zone failure(s)", (size, zones, expected) => {
        const perZone = membersPerZone(size, zones).sort((a, b) => b - a);
        // Cross-check by brute force: the largest k such that removing the k fullest zones keeps a majority.
        let brute = 0;
        for (let k = 1; k <= zones; k++) {
            const lost = perZone.slice(0, k).reduce((a, b) => a + b, 0);
            if (size - lost >= quorum(size)) brute = k;
        }
        expect(faultTolerance(size, zones).zones).toBe(brute);
        expect(brute).toBe(expected);
    });

    test.each([
        // size, zones, members per zone, zone of each member (literal figures)
        [5, 3, [2, 2, 1], [0, 1, 2, 0, 1]],
        [7, 3, [3, 2, 2], [0, 1, 2, 0, 1, 2, 0]],
        [9, 4, [3, 2, 2, 2], [0, 1, 2, 3, 0, 1, 2, 3, 0]],
        [3, 2, [2, 1], [0, 1, 0]],
        [1, 1, [1], [0]],
    ])("%i members over %i zones: %j per zone, zones %j", (size, zones, perZone, zoneOf) => {
        expect(membersPerZone(size, zones)).toEqual(perZone);
        expect(memberZoneIndexes(size, zones)).toEqual(zoneOf);
    });

    test("4 members over 3 zones lose quorum with their fullest zone", () => {
        expect(membersPerZone(4, 3)).toEqual([2, 1, 1]);
        expect(faultTolerance(4, 3)).toEqual({ members: 1, zones: 0 });
    });

    test("round-robin spread: zones differ by at most one member, for every size and zone count", () => {
        for (let size = 1; size <= 9; size++) {
            for (let zones = 1; zones <= size; zones++) {
                const counts = membersPerZone(size, zones);
                expect(counts.reduce((a, b) => a + b, 0)).toBe(size);
                expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
                expect(memberZoneIndexes(size, zones).slice(0, zones)).toEqual(Array.from({ length: zones }, (_, i) => i));
                // The members of the zones that may fail never exceed the members that may fail.
                const ft = faultTolerance(size, zones);
                const fullestFirst = [...counts].sort((a, b) => b - a);
                // Zone order is fullest first, which faultTolerance relies on for the worst case.
                expect(counts).toEqual(fullestFirst);
                expect(fullestFirst.slice(0, ft.zones).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(ft.members);
            }
        }
    });
});
