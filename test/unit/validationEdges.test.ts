// The boundaries of argument validation and of version handling, each value on both sides of its limit. Limits
// come from AWS's documentation (tag keys of 1 to 128 characters, values of up to 256, the aws: prefix reserved)
// and etcd's (--auto-compaction-retention forms, --election-timeout at least 5 heartbeats, the versions that
// have --tls-min-version, etcdutl and certificate-only users), not from the code under test.
import { EtcdClusterArgs } from "../../components/args";
import { compareVersions, defaultVersion, instanceArch, parseVersion, pinnedVersions, versionFeatures } from "../../components/releases";
import { checkSha256, checkUrl, resolveSettings } from "../../components/validation";

const base: EtcdClusterArgs = { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b", "subnet-c"] };
const settings = (extra: Partial<EtcdClusterArgs>) => resolveSettings({ ...base, ...extra });
const refusal = (extra: Partial<EtcdClusterArgs>) => {
    try {
        settings(extra);
    } catch (e) {
        return (e as Error).message;
    }
    return "accepted";
};

describe("versions", () => {
    test.each([
        ["3.5.30", "3.5.30"],
        ["v3.5.30", "3.5.30"],
        ["10.20.300", "10.20.300"],
    ])("%s parses as %s", (text, expected) => {
        expect(parseVersion(text)?.text).toBe(expected);
    });

    test.each(["3.5", "3.5.30.1", "x3.5.30", "3.5.30-rc.1", "3.5.30 ", "vv3.5.30", "3.5.x"])("%j is not a version", (text) => {
        expect(parseVersion(text)).toBeUndefined();
    });

    test("versions compare by major, then minor, then patch", () => {
        const v = (t: string) => parseVersion(t)!;
        expect(compareVersions(v("3.4.23"), v("3.5.0"))).toBeLessThan(0);
        expect(compareVersions(v("3.5.10"), v("3.5.9"))).toBeGreaterThan(0);
        expect(compareVersions(v("4.0.0"), v("3.9.9"))).toBeGreaterThan(0);
        expect(compareVersions(v("3.6.1"), v("3.6.1"))).toBe(0);
        expect(compareVersions(v("3.5.9"), v("3.6.0"))).toBeLessThan(0);
    });

    test("the pinned table is listed oldest first, and the default is its newest 3.6 release", () => {
        const texts = pinnedVersions().map((v) => v.text);
        expect(texts[0]).toBe("3.5.6");
        expect(texts[texts.length - 1]).toBe("3.6.14");
        expect(texts.indexOf("3.5.10")).toBeGreaterThan(texts.indexOf("3.5.9"));
        expect(defaultVersion()).toBe("3.6.14");
    });

    test.each([
        // version, --tls-min-version, zap logger flag, arm64 needs ETCD_UNSUPPORTED_ARCH, snapshot count, cert-only users, etcdutl
        ["3.4.23", false, true, true, 100000, false, false],
        ["3.4.25", true, true, true, 100000, false, false],
        ["3.5.7", false, false, false, 100000, true, true],
        ["3.5.8", true, false, false, 100000, true, true],
        ["3.5.30", true, false, false, 100000, true, true],
        ["3.6.0", true, false, false, 10000, true, true],
    ])("etcd %s: flags and tools as its release notes give them", (version, tls, zap, arm, snapshots, certUsers, etcdutl) => {
        expect(versionFeatures(parseVersion(version)!)).toEqual({
            tlsVersionFlags: tls,
            needsZapLogger: zap,
            arm64NeedsUnsupportedArch: arm,
            defaultSnapshotCount: snapshots,
            certificateOnlyUsers: certUsers,
            shipsEtcdutl: etcdutl,
        });
    });

    test.each([
        ["m7g.large", "arm64"],
        ["c6gd.xlarge", "arm64"],
        ["c7gn.large", "arm64"],
        ["im4gn.large", "arm64"],
        ["g5g.xlarge", "arm64"],
        ["a1.medium", "arm64"],
        ["m7i.large", "amd64"],
        ["g5.xlarge", "amd64"],
        ["c5.large", "amd64"],
        ["m5dn.large", "amd64"],
        ["xa1.large", "amd64"],
        ["m7g", "arm64"],
    ])("instance type %s runs %s", (type, arch) => {
        expect(instanceArch(type)).toBe(arch);
    });
});

describe("tags, as AWS limits them", () => {
    test.each([
        [{ ["k".repeat(128)]: "v" }, "accepted"],
        [{ ["k".repeat(129)]: "v" }, "tags: expected keys of 1 to 128"],
        [{ "": "v" }, "tags: expected keys of 1 to 128"],
        [{ "AWS:owner": "v" }, "not starting with aws:"],
        [{ "a*b": "v" }, "tags: expected keys"],
        [{ "team name/é": "v" }, "accepted"],
        [{ team: "v".repeat(256) }, "accepted"],
        [{ team: "v".repeat(257) }, "tags.team: expected a value of up to 256"],
        [{ team: "a*" }, "tags.team: expected a value"],
        [{ team: "" }, "accepted"],
    ])("%j: %s", (tags, expected) => {
        expect(refusal({ tags: tags as Record<string, string> })).toContain(expected);
    });

    test("tags that are not a map are refused", () => {
        expect(refusal({ tags: null as unknown as Record<string, string> })).toBe("tags: expected a map of tag names to values, got null");
        expect(refusal({ tags: "team=a" as unknown as Record<string, string> })).toBe('tags: expected a map of tag names to values, got "team=a"');
    });
});

describe("required arguments and warnings", () => {
    test("a missing or empty vpcId, or no arguments at all, is refused by name", () => {
        expect(refusal({ vpcId: "" })).toBe('vpcId: expected a VPC id such as "vpc-0123456789abcdef0", got ""');
        expect(refusal({ vpcId: undefined as unknown as string })).toBe('vpcId: expected a VPC id such as "vpc-0123456789abcdef0", got undefined');
        expect(() => resolveSettings(undefined as unknown as EtcdClusterArgs)).toThrow("args: expected an object with vpcId and subnetIds, got undefined");
    });

    test("the errors are EtcdClusterArgumentErrors that name the argument", () => {
        try {
            settings({ size: 10 });
            throw new Error("accepted");
        } catch (e) {
            expect((e as Error).name).toBe("EtcdClusterArgumentError");
            expect((e as { argument?: string }).argument).toBe("size");
        }
    });

    test("warnings: readiness off, a single member, a zone whose loss takes quorum; none for 3 members over 3 zones", () => {
        expect(settings({}).warnings).toEqual([]);
        expect(settings({ readiness: { mode: "none" } }).warnings).toEqual([
            'readiness.mode "none": pulumi up does not wait for a healthy cluster, and changed members are not updated one at a time',
        ]);
        expect(settings({ size: 1, subnetIds: ["subnet-a"] }).warnings).toEqual([
            "size 1: a single member tolerates no failure; use 3 or 5 members in production",
        ]);
        expect(settings({ subnetIds: ["subnet-a", "subnet-b"] }).warnings).toEqual([
            "3 members over 2 zone(s): losing one availability zone loses quorum; give at least 3 subnets in distinct zones",
        ]);
    });

    test("CIDR lists must be lists", () => {
        expect(refusal({ clientCidrs: "10.0.0.0/16" as unknown as string[] })).toBe(
            'clientCidrs: expected a list of CIDR blocks such as "10.0.0.0/16", got "10.0.0.0/16"',
        );
        expect(refusal({ metricsCidrs: "10.0.0.0/16" as unknown as string[] })).toContain("metricsCidrs: expected a list of CIDR blocks");
    });
});

describe("tuning, as etcd accepts it", () => {
    test("the election timeout must be at least 5 heartbeats: exactly 5 is accepted", () => {
        expect(settings({ tuning: { heartbeatIntervalMs: 200, electionTimeoutMs: 1000 } }).tuning.electionTimeoutMs).toBe(1000);
        expect(refusal({ tuning: { heartbeatIntervalMs: 200, electionTimeoutMs: 999 } })).toBe(
            "tuning.electionTimeoutMs: expected at least 5 x tuning.heartbeatIntervalMs (1000), got 999",
        );
    });

    test.each(["1h", "30m", "90s", "1h30m", "1.5h", "5", "0"])("periodic compaction retention %j is accepted", (retention) => {
        expect(settings({ tuning: { autoCompactionRetention: retention } }).tuning.autoCompactionRetention).toBe(retention);
    });

    test.each(["1d", "h", "1h ", "-1", "", "1.h", "a1h"])("periodic compaction retention %j is refused", (retention) => {
        expect(refusal({ tuning: { autoCompactionRetention: retention } })).toBe(
            `tuning.autoCompactionRetention: expected a duration such as "1h", "30m" or a number of hours such as "1", got ${JSON.stringify(retention)}`,
        );
    });

    test("revision compaction takes a revision count only", () => {
        expect(settings({ tuning: { autoCompactionMode: "revision", autoCompactionRetention: "1000" } }).tuning.autoCompactionRetention).toBe("1000");
        for (const retention of ["1h", "", "10a"]) {
            expect(refusal({ tuning: { autoCompactionMode: "revision", autoCompactionRetention: retention } })).toBe(
                `tuning.autoCompactionRetention: expected a revision count such as "1000", got ${JSON.stringify(retention)}`,
            );
        }
    });
});

describe("digests and URLs", () => {
    test("a SHA-256 is 64 hex digits, returned in lower case", () => {
        expect(checkSha256("binarySha256", "AB".repeat(32))).toBe("ab".repeat(32));
        for (const bad of ["a".repeat(63), "a".repeat(65), "g".repeat(64), ` ${"a".repeat(64)}`, `${"a".repeat(64)}\n`]) {
            expect(() => checkSha256("binarySha256", bad)).toThrow("binarySha256: expected a SHA-256 digest of 64 hexadecimal digits");
        }
    });

    test("a URL is http(s) or file, without spaces or quotes, and at most 320 characters", () => {
        for (const ok of ["http://mirror/etcd.tar.gz", "https://mirror.example/a/b?x=1", "file:///srv/etcd.tar.gz"]) {
            expect(checkUrl("binaryUrl", ok)).toBe(ok);
        }
        for (const bad of ["ftp://mirror/etcd.tar.gz", "https://a b", "https://a/'b", " https://a", "https://a\n", "httpx://a", "https:/a"]) {
            expect(() => checkUrl("binaryUrl", bad)).toThrow("binaryUrl: expected an http(s):// or file:// URL without spaces or quotes");
        }
        const at = (n: number) => `https://m/${"a".repeat(n - "https://m/".length)}`;
        expect(checkUrl("binaryUrl", at(320))).toHaveLength(320);
        expect(() => checkUrl("binaryUrl", at(321))).toThrow('binaryUrl: expected a URL of at most 320 characters, got "321 characters"');
    });
});
