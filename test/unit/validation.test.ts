import { EtcdClusterArgs } from "../../components/args";
import { checkQuotaFitsVolume, checkUserDataSize, EtcdClusterArgumentError, resolveDataVolume, resolveSettings } from "../../components/validation";
import { largestQuotaBytes, requiredVolumeBytes, requiredVolumeGib } from "../../components/volumeSizing";

const base: EtcdClusterArgs = { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b", "subnet-c"] };
const withArgs = (extra: Partial<EtcdClusterArgs>): EtcdClusterArgs => ({ ...base, ...extra });

describe("resolveSettings: bad arguments are refused with the argument and the accepted values", () => {
    test.each<[string, Partial<EtcdClusterArgs>, string]>([
        ["vpcId missing", { vpcId: "" }, 'vpcId: expected a VPC id such as "vpc-0123456789abcdef0", got ""'],
        ["no subnets", { subnetIds: [] }, "subnetIds: expected a list of 1 or more subnet ids, one per availability zone, got []"],
        ["more zones than members", { size: 1 }, 'subnetIds: expected at most size (1) subnets, so that every zone holds a member, got "3 subnets"'],
        ["size 0", { size: 0 }, "size: expected an integer from 1 to 9, got 0"],
        ["size 10", { size: 10 }, "size: expected an integer from 1 to 9, got 10"],
        ["size 2.5", { size: 2.5 }, "size: expected an integer from 1 to 9, got 2.5"],
        [
            "malformed version",
            { version: "latest" },
            'version: expected a release of etcd 3.4, 3.5, 3.6 such as "3.6.14" (pinned checksums: 3.5.6 to 3.6.14), got "latest"',
        ],
        [
            "unsupported line",
            { version: "3.3.27" },
            'version: expected a release of etcd 3.4, 3.5, 3.6 such as "3.6.14" (pinned checksums: 3.5.6 to 3.6.14), got "3.3.27"',
        ],
        [
            "unpinned version without a mirror",
            { version: "3.4.23" },
            'version: expected a version with a pinned checksum (3.5.6 to 3.6.14), or binaryUrl and binarySha256 for any other 3.4/3.5/3.6 release, got "3.4.23"',
        ],
        [
            "binaryUrl alone",
            { binaryUrl: "https://mirror.example/etcd.tar.gz" },
            'binarySha256: expected binaryUrl and binarySha256 given together, got "binaryUrl alone"',
        ],
        ["binarySha256 alone", { binarySha256: "a".repeat(64) }, 'binaryUrl: expected binaryUrl and binarySha256 given together, got "binarySha256 alone"'],
        [
            "binaryUrl with a quote",
            { binaryUrl: "https://m.example/x'; rm -rf /", binarySha256: "a".repeat(64) },
            'binaryUrl: expected an http(s):// or file:// URL without spaces or quotes, got "https://m.example/x\'; rm -rf /"',
        ],
        [
            "binaryUrl ftp",
            { binaryUrl: "ftp://m.example/e.tgz", binarySha256: "a".repeat(64) },
            'binaryUrl: expected an http(s):// or file:// URL without spaces or quotes, got "ftp://m.example/e.tgz"',
        ],
        [
            "short checksum",
            { binaryUrl: "https://m.example/e.tgz", binarySha256: "abc" },
            'binarySha256: expected a SHA-256 digest of 64 hexadecimal digits, got "abc"',
        ],
        [
            "malformed CIDR",
            { clientCidrs: ["10.0.0.0/33"] },
            'clientCidrs[0]: expected an IPv4 or IPv6 CIDR block such as "10.0.0.0/16" or "2001:db8::/32", got "10.0.0.0/33"',
        ],
        [
            "CIDR without prefix",
            { clientCidrs: ["10.0.0.1"] },
            'clientCidrs[0]: expected an IPv4 or IPv6 CIDR block such as "10.0.0.0/16" or "2001:db8::/32", got "10.0.0.1"',
        ],
        [
            "octet over 255",
            { metricsCidrs: ["10.0.0.0/8", "300.1.1.0/24"] },
            'metricsCidrs[1]: expected an IPv4 or IPv6 CIDR block such as "10.0.0.0/16" or "2001:db8::/32", got "300.1.1.0/24"',
        ],
        [
            "world-open client port",
            { clientCidrs: ["0.0.0.0/0"] },
            'clientCidrs[0]: expected a CIDR block narrower than the whole internet (set allowPublicAccess to open it), got "0.0.0.0/0"',
        ],
        ["keyDelivery", { keyDelivery: "s3" as never }, 'keyDelivery: expected one of "ssm", "inline", got "s3"'],
        ["tls.minVersion", { tls: { minVersion: "TLS1.1" as never } }, 'tls.minVersion: expected one of "TLS1.2", "TLS1.3", got "TLS1.1"'],
        [
            "TLS1.3 on a version without the flag",
            { version: "3.5.6", tls: { minVersion: "TLS1.3" } },
            'tls.minVersion: expected "TLS1.2" for etcd 3.5.6 (TLS1.3-only needs 3.4.25+, 3.5.8+ or 3.6), got "TLS1.3"',
        ],
        ["tls.keyAlgorithm", { tls: { keyAlgorithm: "DSA" as never } }, 'tls.keyAlgorithm: expected one of "ECDSA", "RSA", got "DSA"'],
        ["certificate validity", { tls: { certificateValidityHours: 1 } }, "tls.certificateValidityHours: expected an integer from 24 to 87600, got 1"],
        ["readiness.mode", { readiness: { mode: "http" as never } }, 'readiness.mode: expected one of "ssm", "direct", "none", got "http"'],
        ["readiness.timeoutSeconds", { readiness: { timeoutSeconds: 5 } }, "readiness.timeoutSeconds: expected an integer from 30 to 7200, got 5"],
        ["heartbeat", { tuning: { heartbeatIntervalMs: 0 } }, "tuning.heartbeatIntervalMs: expected an integer from 10 to 10000, got 0"],
        [
            "election below 5x heartbeat",
            { tuning: { heartbeatIntervalMs: 300, electionTimeoutMs: 1000 } },
            "tuning.electionTimeoutMs: expected at least 5 x tuning.heartbeatIntervalMs (1500), got 1000",
        ],
        ["quota", { tuning: { quotaBackendBytes: 1 } }, "tuning.quotaBackendBytes: expected an integer from 1048576 to 107374182400, got 1"],
        [
            "compaction mode",
            { tuning: { autoCompactionMode: "hourly" as never } },
            'tuning.autoCompactionMode: expected one of "periodic", "revision", got "hourly"',
        ],
        [
            "compaction retention",
            { tuning: { autoCompactionRetention: "1 hour" } },
            'tuning.autoCompactionRetention: expected a duration such as "1h", "30m" or a number of hours such as "1", got "1 hour"',
        ],
        [
            "revision retention",
            { tuning: { autoCompactionMode: "revision", autoCompactionRetention: "1h" } },
            'tuning.autoCompactionRetention: expected a revision count such as "1000", got "1h"',
        ],
        ["snapshot count", { tuning: { snapshotCount: 0 } }, "tuning.snapshotCount: expected an integer from 1 to 10000000, got 0"],
        ["auth not a boolean", { auth: "yes" as never }, 'auth: expected true or false, got "yes"'],
        ["vpcId not a VPC id", { vpcId: "subnet-0abc" }, 'vpcId: expected a VPC id such as "vpc-0123456789abcdef0", got "subnet-0abc"'],
        [
            "subnet id malformed",
            { subnetIds: ["subnet-a", "vpc-0abc"] },
            'subnetIds[1]: expected a subnet id such as "subnet-0123456789abcdef0", got "vpc-0abc"',
        ],
        ["subnet given twice", { subnetIds: ["subnet-a", "subnet-a"] }, 'subnetIds[1]: expected distinct subnets, one per availability zone, got "subnet-a"'],
        [
            "client security group malformed",
            { clientSecurityGroupIds: ["sg-1", "0.0.0.0/0"] },
            'clientSecurityGroupIds[1]: expected a security group id such as "sg-0123456789abcdef0", got "0.0.0.0/0"',
        ],
        ["ami malformed", { ami: "al2023" }, 'ami: expected an AMI id such as "ami-0123456789abcdef0", got "al2023"'],
        [
            "instance type malformed",
            { instanceType: "m7i large; reboot" },
            'instanceType: expected an EC2 instance type such as "m7i.large", got "m7i large; reboot"',
        ],
        [
            "kmsKeyArn not an ARN",
            { kmsKeyArn: "alias/etcd" },
            'kmsKeyArn: expected a KMS key ARN such as "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", got "alias/etcd"',
        ],
        [
            "dataVolume.kmsKeyId malformed",
            { dataVolume: { kmsKeyId: "my key" } },
            'dataVolume.kmsKeyId: expected a KMS key id, key ARN, alias name or alias ARN, got "my key"',
        ],
        ["allowPublicAccess not a boolean", { allowPublicAccess: "yes" as never }, 'allowPublicAccess: expected true or false, got "yes"'],
        [
            "ca.certPem not PEM",
            { ca: { certPem: "hello", privateKeyPem: "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n" } },
            'ca.certPem: expected a PEM certificate (-----BEGIN CERTIFICATE-----), got "not a PEM certificate"',
        ],
        [
            "ca.privateKeyPem not PEM (and not echoed)",
            { ca: { certPem: "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n", privateKeyPem: "secret-material" } },
            'ca.privateKeyPem: expected a PEM private key (PKCS#8, EC or RSA), got "not a PEM private key"',
        ],
        [
            "tag key reserved",
            { tags: { "aws:owner": "x" } },
            'tags: expected keys of 1 to 128 letters, digits, spaces and _ . : / = + - @, not starting with aws:, got "aws:owner"',
        ],
        [
            "tag value with a newline",
            { tags: { team: "a\nb" } },
            'tags.team: expected a value of up to 256 letters, digits, spaces and _ . : / = + - @, got "a\\nb"',
        ],
        [
            "auth on 3.4",
            { version: "3.4.23", binaryUrl: "file:///m/e.tgz", binarySha256: "a".repeat(64), auth: true },
            "auth: expected false for etcd 3.4.23 (certificate-only users need 3.5 or later), got true",
        ],
    ])("%s", (_, extra, message) => {
        let error: unknown;
        try {
            resolveSettings(withArgs(extra));
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(EtcdClusterArgumentError);
        expect((error as Error).message).toBe(message);
    });
});

describe("resolveDataVolume: AWS limits", () => {
    test.each<[string, Parameters<typeof resolveDataVolume>[0], string]>([
        ["type", { type: "gp2" as never }, 'dataVolume.type: expected one of "gp3", "io2", got "gp2"'],
        ["gp3 size 0", { sizeGib: 0 }, "dataVolume.sizeGib: expected an integer from 1 to 65536, got 0"],
        ["gp3 IOPS below baseline", { iops: 100 }, "dataVolume.iops: expected an integer from 3000 to 16000, got 100"],
        ["gp3 IOPS over 500 per GiB", { sizeGib: 10, iops: 6000 }, "dataVolume.iops: expected an integer from 3000 to 5000, got 6000"],
        ["gp3 throughput over IOPS/4", { throughput: 1000 }, "dataVolume.throughput: expected an integer from 125 to 750, got 1000"],
        ["io2 without IOPS", { type: "io2" }, "dataVolume.iops: expected an integer from 100 to 32000 (required for io2), got undefined"],
        [
            "io2 throughput",
            { type: "io2", iops: 1000, throughput: 500 },
            "dataVolume.throughput: expected no value for io2 (throughput is set for gp3 only), got 500",
        ],
        ["io2 too small", { type: "io2", sizeGib: 2, iops: 1000 }, "dataVolume.sizeGib: expected an integer from 4 to 65536, got 2"],
        ["io2 over 1000 IOPS per GiB", { type: "io2", sizeGib: 10, iops: 20000 }, "dataVolume.iops: expected an integer from 100 to 10000, got 20000"],
    ])("%s", (_, dv, message) => {
        expect(() => resolveDataVolume(dv)).toThrow(message);
    });

    test("defaults: gp3, 32 GiB, baseline IOPS and throughput", () => {
        expect(resolveDataVolume({})).toEqual({ type: "gp3", sizeGib: 32, iops: 3000, throughput: 125 });
        expect(resolveDataVolume({ type: "io2", sizeGib: 100, iops: 16000 })).toEqual({ type: "io2", sizeGib: 100, iops: 16000 });
    });
});

describe("the quota must fit the data volume", () => {
    const MiB = 2 ** 20;
    const GiB = 2 ** 30;

    test("the volume holds 3 database-sized files, 512 MiB of WAL and snapshot files and ext4's share (92 % usable, less 128 MiB)", () => {
        // (3 x 2048 + 512 + 128) MiB / 0.92 = 7373.9 MiB
        expect(requiredVolumeBytes(2 * GiB)).toBe(7732108244);
        expect(requiredVolumeGib(2 * GiB)).toBe(8);
        expect(requiredVolumeGib(8 * GiB)).toBe(27);
        // (3 x 64 + 640) MiB / 0.92 = 904.3 MiB
        expect(Math.ceil(requiredVolumeBytes(64 * MiB) / MiB)).toBe(905);
    });

    test("largest quota per volume, in whole MiB: the default 32 GiB volume holds etcd's suggested maximum (8 GiB)", () => {
        expect(largestQuotaBytes(32 * GiB)).toBe(9835 * MiB);
        expect(largestQuotaBytes(8 * GiB)).toBe(2298 * MiB);
        expect(largestQuotaBytes(4 * GiB)).toBe(1042 * MiB);
        expect(largestQuotaBytes(1 * GiB)).toBe(100 * MiB);
        expect(largestQuotaBytes(512 * MiB)).toBe(0);
        // The two agree: the largest quota fits, one MiB more does not.
        for (const gib of [1, 8, 32, 100]) {
            const q = largestQuotaBytes(gib * GiB);
            expect(requiredVolumeBytes(q)).toBeLessThanOrEqual(gib * GiB);
            expect(requiredVolumeBytes(q + MiB)).toBeGreaterThan(gib * GiB);
        }
    });

    test("accepted: the defaults (2 GiB on 32 GiB), 2 GiB on 8 GiB, 8 GiB on 27 GiB", () => {
        expect(() => checkQuotaFitsVolume(2 * GiB, 32)).not.toThrow();
        expect(() => checkQuotaFitsVolume(2 * GiB, 8)).not.toThrow();
        expect(() => checkQuotaFitsVolume(8 * GiB, 27)).not.toThrow();
    });

    test.each<[string, number, number, string]>([
        [
            "2 GiB on 4 GiB",
            2 * GiB,
            4,
            "dataVolume.sizeGib: expected at least 8 for tuning.quotaBackendBytes 2147483648 (2 GiB): the volume holds the database and either " +
                "defragmentation's copy or the backup and its gzip (3 x the quota), the WAL and snapshot files (512 MiB) and ext4's reserve " +
                "(8 % + 128 MiB); or tuning.quotaBackendBytes of at most 1092616192 (1 GiB) for 4 GiB, got 4",
        ],
        [
            "8 GiB on 26 GiB",
            8 * GiB,
            26,
            "dataVolume.sizeGib: expected at least 27 for tuning.quotaBackendBytes 8589934592 (8 GiB): the volume holds the database and either " +
                "defragmentation's copy or the backup and its gzip (3 x the quota), the WAL and snapshot files (512 MiB) and ext4's reserve " +
                "(8 % + 128 MiB); or tuning.quotaBackendBytes of at most 8337227776 (7.8 GiB) for 26 GiB, got 26",
        ],
        ["any quota on a volume too small for one", 1 * MiB, 0, "dataVolume.sizeGib: expected at least 1 for tuning.quotaBackendBytes 1048576 (1 MiB): "],
        // 1073741824 bytes are exactly 1 GiB, and are shown so; (3 x 1024 + 512 + 128) MiB / 0.92 = 4034.8 MiB.
        ["1 GiB on 1 GiB", 1 * GiB, 1, "dataVolume.sizeGib: expected at least 4 for tuning.quotaBackendBytes 1073741824 (1 GiB): "],
    ])("refused: %s, naming both arguments, the figures and the accepted values", (_, quota, sizeGib, message) => {
        let error: unknown;
        try {
            checkQuotaFitsVolume(quota, sizeGib);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(EtcdClusterArgumentError);
        expect((error as EtcdClusterArgumentError).argument).toBe("dataVolume.sizeGib");
        expect((error as Error).message.startsWith(message)).toBe(true);
    });
});

describe("resolveSettings: defaults and warnings", () => {
    test("defaults: 3 members, newest pinned 3.6, SSM delivery, TLS 1.2, ECDSA, SSM readiness", () => {
        const s = resolveSettings(base);
        expect(s.size).toBe(3);
        expect(s.version.text).toBe("3.6.14");
        expect(s.pinned).toBe(true);
        expect(s.keyDelivery).toBe("ssm");
        expect(s.tlsMinVersion).toBe("TLS1.2");
        expect(s.keyAlgorithm).toBe("ECDSA");
        expect(s.readinessMode).toBe("ssm");
        expect(s.tuning).toEqual({
            heartbeatIntervalMs: 100,
            electionTimeoutMs: 1000,
            quotaBackendBytes: 2 * 1024 ** 3,
            autoCompactionMode: "periodic",
            autoCompactionRetention: "0",
            snapshotCount: 10000,
        });
        expect(s.warnings).toEqual([]);
    });

    test("snapshot count follows the version's own default", () => {
        expect(resolveSettings(withArgs({ version: "3.5.30" })).tuning.snapshotCount).toBe(100000);
    });

    test("an even size is allowed, with a warning that it tolerates what size-1 does", () => {
        const s = resolveSettings(withArgs({ size: 4 }));
        expect(s.size).toBe(4);
        expect(s.warnings).toContain("size 4: an even member count tolerates no more failures than 3 members (quorum 3 of 4, 1 failure(s) tolerated)");
    });

    test("3 members over 2 zones: warned that one zone takes quorum with it", () => {
        const s = resolveSettings(withArgs({ subnetIds: ["subnet-a", "subnet-b"] }));
        expect(s.warnings).toContain("3 members over 2 zone(s): losing one availability zone loses quorum; give at least 3 subnets in distinct zones");
    });

    test("an unpinned version with a mirror and checksum is accepted; 3.4 is warned as end of life", () => {
        const s = resolveSettings(withArgs({ version: "3.4.23", binaryUrl: "file:///srv/etcd.tar.gz", binarySha256: "b".repeat(64) }));
        expect(s.pinned).toBe(false);
        expect(s.features.needsZapLogger).toBe(true);
        expect(s.warnings).toContain("etcd 3.4.23: the 3.4 line is end of life; use 3.5 or 3.6");
    });

    test("world-open access only when asked for, and then warned", () => {
        const s = resolveSettings(withArgs({ clientCidrs: ["0.0.0.0/0"], allowPublicAccess: true }));
        expect(s.warnings).toContain("clientCidrs[0] 0.0.0.0/0: the port is open to the whole internet");
    });

    test("inline key delivery is warned about", () => {
        expect(resolveSettings(withArgs({ keyDelivery: "inline" })).warnings.join("\n")).toContain("private keys travel in user-data");
    });

    test("IPv6 CIDRs are accepted", () => {
        expect(() => resolveSettings(withArgs({ clientCidrs: ["2001:db8::/32"] }))).not.toThrow();
    });
});

test("user-data over EC2's 16 KB limit is refused", () => {
    expect(() => checkUserDataSize("etcd-0", "x".repeat(16384))).not.toThrow();
    expect(() => checkUserDataSize("etcd-0", "x".repeat(16385))).toThrow(
        'user-data of etcd-0: expected at most 16384 bytes (EC2\'s limit; the bound checked before deploying should have refused this), got "16385 bytes"',
    );
});
