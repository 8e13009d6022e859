import * as pulumi from "@pulumi/pulumi";
import { AutoCompactionMode, DataVolumeType, EtcdClusterArgs, KeyAlgorithm, KeyDelivery, ReadinessMode, TlsMinVersion } from "./args";
import { isWorldOpen, parseCidr } from "./cidr";
import { faultTolerance, quorum } from "./placement";
import {
    defaultVersion,
    EtcdVersion,
    EtcdVersionFeatures,
    isSupportedLine,
    parseVersion,
    pinnedVersions,
    supportedMinorLines,
    versionFeatures,
} from "./releases";
import { formatBytes, largestQuotaBytes, requiredVolumeBytes, requiredVolumeGib } from "./volumeSizing";

/** A bad argument: the message names the argument and the values it accepts. */
export class EtcdClusterArgumentError extends Error {
    constructor(
        public readonly argument: string,
        expected: string,
        got: unknown,
    ) {
        super(`${argument}: expected ${expected}, got ${describe(got)}`);
        this.name = "EtcdClusterArgumentError";
    }
}

function describe(value: unknown): string {
    if (typeof value === "string") {
        return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
        return `[${value.map(describe).join(", ")}]`;
    }
    return String(value);
}

export const limits = {
    size: { min: 1, max: 9 },
    gp3: { minGib: 1, maxGib: 65536, minIops: 3000, maxIops: 80000, iopsPerGib: 500, minThroughput: 125, maxThroughput: 2000 },
    io2: { minGib: 4, maxGib: 65536, minIops: 100, maxIops: 256000, iopsPerGib: 1000 },
    /** EC2 refuses user-data over 16 KB (before base64). */
    userDataBytes: 16384,
    /** Longest accepted binaryUrl: user-data must fit whatever an output-valued URL turns out to be. */
    binaryUrlChars: 320,
    readinessTimeoutSeconds: { min: 30, max: 7200 },
    certificateValidityHours: { min: 24, max: 87600 },
} as const;

/** Resolved, plain settings of a cluster: what validation decided, with defaults filled in. */
export interface ClusterSettings {
    size: number;
    zoneCount: number;
    version: EtcdVersion;
    features: EtcdVersionFeatures;
    /** True when the version has an upstream checksum in the pinned table. */
    pinned: boolean;
    keyDelivery: KeyDelivery;
    tlsMinVersion: TlsMinVersion;
    keyAlgorithm: KeyAlgorithm;
    certificateValidityHours: number;
    readinessMode: ReadinessMode;
    readinessTimeoutSeconds: number;
    tuning: ResolvedTuning;
    auth: boolean;
    warnings: string[];
}

export interface ResolvedTuning {
    heartbeatIntervalMs: number;
    electionTimeoutMs: number;
    quotaBackendBytes: number;
    autoCompactionMode: AutoCompactionMode;
    autoCompactionRetention: string;
    snapshotCount: number;
}

/** Data volume settings once known. */
export interface ResolvedDataVolume {
    sizeGib: number;
    type: DataVolumeType;
    iops: number;
    /** gp3 only. */
    throughput?: number;
}

function oneOf<T extends string>(argument: string, value: unknown, accepted: readonly T[], fallback: T): T {
    if (value === undefined) {
        return fallback;
    }
    if (typeof value !== "string" || !(accepted as readonly string[]).includes(value)) {
        throw new EtcdClusterArgumentError(argument, `one of ${accepted.map((a) => `"${a}"`).join(", ")}`, value);
    }
    return value as T;
}

/** AWS identifier shapes, checked when the value is a plain string (outputs are AWS's own, already valid). */
const identifierShapes = {
    vpcId: [/^vpc-[0-9a-zA-Z]+$/, 'a VPC id such as "vpc-0123456789abcdef0"'],
    subnetId: [/^subnet-[0-9a-zA-Z-]+$/, 'a subnet id such as "subnet-0123456789abcdef0"'],
    securityGroupId: [/^sg-[0-9a-zA-Z]+$/, 'a security group id such as "sg-0123456789abcdef0"'],
    ami: [/^ami-[0-9a-f]{8,17}$/, 'an AMI id such as "ami-0123456789abcdef0"'],
    instanceType: [/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an EC2 instance type such as "m7i.large"'],
    kmsKeyArn: [
        /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-zA-Z-]+$/,
        'a KMS key ARN such as "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"',
    ],
    kmsKeyId: [
        /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[0-9a-zA-Z/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias\/[0-9a-zA-Z/_-]+)$/,
        "a KMS key id, key ARN, alias name or alias ARN",
    ],
} as const;

function checkIdentifier(argument: string, value: unknown, shape: keyof typeof identifierShapes): void {
    const [pattern, accepted] = identifierShapes[shape];
    if (typeof value === "string" && !pattern.test(value)) {
        throw new EtcdClusterArgumentError(argument, accepted, value);
    }
    if (value !== undefined && typeof value !== "string" && !pulumi.Output.isInstance(value) && !(value instanceof Promise)) {
        throw new EtcdClusterArgumentError(argument, accepted, value);
    }
}

const pemBlock = (label: RegExp) => new RegExp(`^\\s*-----BEGIN ${label.source}-----\\n[\\s\\S]+\\n-----END ${label.source}-----\\s*$`);

/** Ids, ARNs, tags, the CA and flags whose plain values reach AWS or rendered text. */
function checkPlainIdentifiers(args: EtcdClusterArgs): void {
    checkIdentifier("vpcId", args.vpcId, "vpcId");
    args.subnetIds.forEach((id, i) => checkIdentifier(`subnetIds[${i}]`, id, "subnetId"));
    if (typeof args.subnetIds[0] === "string") {
        const seen = new Set<unknown>();
        args.subnetIds.forEach((id, i) => {
            if (typeof id === "string" && seen.has(id)) {
                throw new EtcdClusterArgumentError(`subnetIds[${i}]`, "distinct subnets, one per availability zone", id);
            }
            seen.add(id);
        });
    }
    if (args.clientSecurityGroupIds !== undefined && !Array.isArray(args.clientSecurityGroupIds)) {
        throw new EtcdClusterArgumentError(
            "clientSecurityGroupIds",
            'a list of security group ids such as "sg-0123456789abcdef0"',
            args.clientSecurityGroupIds,
        );
    }
    (args.clientSecurityGroupIds ?? []).forEach((id, i) => checkIdentifier(`clientSecurityGroupIds[${i}]`, id, "securityGroupId"));
    checkIdentifier("ami", args.ami, "ami");
    checkIdentifier("instanceType", args.instanceType, "instanceType");
    checkIdentifier("kmsKeyArn", args.kmsKeyArn, "kmsKeyArn");
    checkIdentifier("dataVolume.kmsKeyId", args.dataVolume?.kmsKeyId, "kmsKeyId");
    if (args.allowPublicAccess !== undefined && typeof args.allowPublicAccess !== "boolean") {
        throw new EtcdClusterArgumentError("allowPublicAccess", "true or false", args.allowPublicAccess);
    }
    if (args.ca !== undefined) {
        if (typeof args.ca.certPem === "string" && !pemBlock(/CERTIFICATE/).test(args.ca.certPem)) {
            throw new EtcdClusterArgumentError("ca.certPem", "a PEM certificate (-----BEGIN CERTIFICATE-----)", "not a PEM certificate");
        }
        if (typeof args.ca.privateKeyPem === "string" && !pemBlock(/(EC |RSA )?PRIVATE KEY/).test(args.ca.privateKeyPem)) {
            // The value itself is never echoed: it may be a key.
            throw new EtcdClusterArgumentError("ca.privateKeyPem", "a PEM private key (PKCS#8, EC or RSA)", "not a PEM private key");
        }
    }
    const tags = args.tags;
    if (tags !== undefined && tags !== null && typeof tags === "object" && !pulumi.Output.isInstance(tags)) {
        for (const [key, value] of Object.entries(tags)) {
            if (key.length < 1 || key.length > 128 || key.toLowerCase().startsWith("aws:") || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(key)) {
                throw new EtcdClusterArgumentError("tags", "keys of 1 to 128 letters, digits, spaces and _ . : / = + - @, not starting with aws:", key);
            }
            if (typeof value === "string" && (value.length > 256 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(value))) {
                throw new EtcdClusterArgumentError(`tags.${key}`, "a value of up to 256 letters, digits, spaces and _ . : / = + - @", value);
            }
        }
    } else if (tags !== undefined && (tags === null || typeof tags !== "object")) {
        throw new EtcdClusterArgumentError("tags", "a map of tag names to values", tags);
    }
}

function integerIn(argument: string, value: unknown, min: number, max: number, fallback?: number): number {
    if (value === undefined && fallback !== undefined) {
        return fallback;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        throw new EtcdClusterArgumentError(argument, `an integer from ${min} to ${max}`, value);
    }
    return value;
}

/**
 * Validates the plain arguments (those that decide what is built) and fills in defaults. Throws an
 * {@link EtcdClusterArgumentError} before any resource exists. Values that may be outputs are checked by
 * {@link checkCidr}, {@link resolveDataVolume} and {@link checkSha256} once known.
 */
export function resolveSettings(args: EtcdClusterArgs): ClusterSettings {
    const warnings: string[] = [];
    if (!args || typeof args !== "object") {
        throw new EtcdClusterArgumentError("args", "an object with vpcId and subnetIds", args);
    }
    if (args.vpcId === undefined || args.vpcId === "") {
        throw new EtcdClusterArgumentError("vpcId", 'a VPC id such as "vpc-0123456789abcdef0"', args.vpcId);
    }
    if (!Array.isArray(args.subnetIds) || args.subnetIds.length === 0) {
        throw new EtcdClusterArgumentError("subnetIds", "a list of 1 or more subnet ids, one per availability zone", args.subnetIds);
    }
    const size = integerIn("size", args.size, limits.size.min, limits.size.max, 3);
    const zoneCount = args.subnetIds.length;
    if (zoneCount > size) {
        throw new EtcdClusterArgumentError("subnetIds", `at most size (${size}) subnets, so that every zone holds a member`, `${zoneCount} subnets`);
    }

    const versionText = args.version ?? defaultVersion();
    const version = typeof versionText === "string" ? parseVersion(versionText) : undefined;
    const pinnedList = pinnedVersions();
    const pinnedRange = `${pinnedList[0].text} to ${pinnedList[pinnedList.length - 1].text}`;
    if (!version || !isSupportedLine(version)) {
        throw new EtcdClusterArgumentError(
            "version",
            `a release of etcd ${supportedMinorLines.join(", ")} such as "${defaultVersion()}" (pinned checksums: ${pinnedRange})`,
            versionText,
        );
    }
    const pinned = pinnedList.some((v) => v.text === version.text);
    const hasUrl = args.binaryUrl !== undefined;
    const hasSha = args.binarySha256 !== undefined;
    if (hasUrl !== hasSha) {
        throw new EtcdClusterArgumentError(
            hasUrl ? "binarySha256" : "binaryUrl",
            "binaryUrl and binarySha256 given together",
            hasUrl ? "binaryUrl alone" : "binarySha256 alone",
        );
    }
    if (!pinned && !hasUrl) {
        throw new EtcdClusterArgumentError(
            "version",
            `a version with a pinned checksum (${pinnedRange}), or binaryUrl and binarySha256 for any other ${supportedMinorLines.join("/")} release`,
            version.text,
        );
    }
    if (typeof args.binaryUrl === "string") {
        checkUrl("binaryUrl", args.binaryUrl);
    }
    if (typeof args.binarySha256 === "string") {
        checkSha256("binarySha256", args.binarySha256);
    }
    if (version.minor === 4) {
        warnings.push(`etcd ${version.text}: the 3.4 line is end of life; use 3.5 or 3.6`);
    }
    const features = versionFeatures(version);

    const keyDelivery = oneOf<KeyDelivery>("keyDelivery", args.keyDelivery, ["ssm", "inline"], "ssm");
    if (keyDelivery === "inline") {
        warnings.push(
            'keyDelivery "inline": private keys travel in user-data, readable through instance metadata and by principals allowed ec2:DescribeInstanceAttribute',
        );
    }
    const tlsArgs = args.tls ?? {};
    const tlsMinVersion = oneOf<TlsMinVersion>("tls.minVersion", tlsArgs.minVersion, ["TLS1.2", "TLS1.3"], "TLS1.2");
    if (tlsMinVersion === "TLS1.3" && !features.tlsVersionFlags) {
        throw new EtcdClusterArgumentError("tls.minVersion", `"TLS1.2" for etcd ${version.text} (TLS1.3-only needs 3.4.25+, 3.5.8+ or 3.6)`, tlsMinVersion);
    }
    const keyAlgorithm = oneOf<KeyAlgorithm>("tls.keyAlgorithm", tlsArgs.keyAlgorithm, ["ECDSA", "RSA"], "ECDSA");
    const certificateValidityHours = integerIn(
        "tls.certificateValidityHours",
        tlsArgs.certificateValidityHours,
        limits.certificateValidityHours.min,
        limits.certificateValidityHours.max,
        17520,
    );

    const readiness = args.readiness ?? {};
    const readinessMode = oneOf<ReadinessMode>("readiness.mode", readiness.mode, ["ssm", "direct", "none"], "ssm");
    const readinessTimeoutSeconds = integerIn(
        "readiness.timeoutSeconds",
        readiness.timeoutSeconds,
        limits.readinessTimeoutSeconds.min,
        limits.readinessTimeoutSeconds.max,
        900,
    );
    if (readinessMode === "none") {
        warnings.push('readiness.mode "none": pulumi up does not wait for a healthy cluster, and changed members are not updated one at a time');
    }

    const tuning = resolveTuning(args, features.defaultSnapshotCount);
    if (args.auth !== undefined && typeof args.auth !== "boolean") {
        throw new EtcdClusterArgumentError("auth", "true or false", args.auth);
    }
    const auth = args.auth === true;
    if (auth && !features.certificateOnlyUsers) {
        throw new EtcdClusterArgumentError("auth", `false for etcd ${version.text} (certificate-only users need 3.5 or later)`, true);
    }

    if (size % 2 === 0) {
        warnings.push(
            `size ${size}: an even member count tolerates no more failures than ${size - 1} members (quorum ${quorum(size)} of ${size}, ${size - quorum(size)} failure(s) tolerated)`,
        );
    }
    const tolerance = faultTolerance(size, zoneCount);
    if (size > 1 && tolerance.zones === 0) {
        warnings.push(`${size} members over ${zoneCount} zone(s): losing one availability zone loses quorum; give at least 3 subnets in distinct zones`);
    }
    if (size === 1) {
        warnings.push("size 1: a single member tolerates no failure; use 3 or 5 members in production");
    }

    checkPlainIdentifiers(args);

    for (const [argument, cidrs] of [
        ["clientCidrs", args.clientCidrs],
        ["metricsCidrs", args.metricsCidrs],
    ] as const) {
        if (cidrs !== undefined && !Array.isArray(cidrs)) {
            throw new EtcdClusterArgumentError(argument, 'a list of CIDR blocks such as "10.0.0.0/16"', cidrs);
        }
        const seen = new Map<string, number>();
        (cidrs ?? []).forEach((cidr, i) => {
            if (typeof cidr === "string") {
                warnings.push(...checkCidr(`${argument}[${i}]`, cidr, args.allowPublicAccess === true));
                // AWS refuses a second rule for the same block and port (InvalidPermission.Duplicate) at pulumi up.
                const first = seen.get(cidr);
                if (first !== undefined) {
                    throw new EtcdClusterArgumentError(`${argument}[${i}]`, `a block not already given (${argument}[${first}])`, cidr);
                }
                seen.set(cidr, i);
            }
        });
    }

    return {
        size,
        zoneCount,
        version,
        features,
        pinned,
        keyDelivery,
        tlsMinVersion,
        keyAlgorithm,
        certificateValidityHours,
        readinessMode,
        readinessTimeoutSeconds,
        tuning,
        auth,
        warnings,
    };
}

function resolveTuning(args: EtcdClusterArgs, defaultSnapshotCount: number): ResolvedTuning {
    const t = args.tuning ?? {};
    const heartbeatIntervalMs = integerIn("tuning.heartbeatIntervalMs", t.heartbeatIntervalMs, 10, 10000, 100);
    const electionTimeoutMs = integerIn("tuning.electionTimeoutMs", t.electionTimeoutMs, 50, 50000, 1000);
    if (electionTimeoutMs < 5 * heartbeatIntervalMs) {
        throw new EtcdClusterArgumentError(
            "tuning.electionTimeoutMs",
            `at least 5 x tuning.heartbeatIntervalMs (${5 * heartbeatIntervalMs})`,
            electionTimeoutMs,
        );
    }
    const quotaBackendBytes = integerIn("tuning.quotaBackendBytes", t.quotaBackendBytes, 1 << 20, 100 * 2 ** 30, 2 * 2 ** 30);
    const autoCompactionMode = oneOf<AutoCompactionMode>("tuning.autoCompactionMode", t.autoCompactionMode, ["periodic", "revision"], "periodic");
    const retention = t.autoCompactionRetention ?? "0";
    const retentionPattern = autoCompactionMode === "periodic" ? /^(\d+|(\d+(\.\d+)?(h|m|s))+)$/ : /^\d+$/;
    if (typeof retention !== "string" || !retentionPattern.test(retention)) {
        throw new EtcdClusterArgumentError(
            "tuning.autoCompactionRetention",
            autoCompactionMode === "periodic" ? 'a duration such as "1h", "30m" or a number of hours such as "1"' : 'a revision count such as "1000"',
            retention,
        );
    }
    const snapshotCount = integerIn("tuning.snapshotCount", t.snapshotCount, 1, 10_000_000, defaultSnapshotCount);
    return { heartbeatIntervalMs, electionTimeoutMs, quotaBackendBytes, autoCompactionMode, autoCompactionRetention: retention, snapshotCount };
}

/**
 * Checks one CIDR block on its parsed value and returns warnings (a world-open block when allowed). Refuses
 * what is not a block, and a block not written in the canonical form AWS stores (network address, shortest
 * spelling): "10.0.0.1/16" means 10.0.0.0/16 and "0::/0" is ::/0, the whole IPv6 internet.
 */
export function checkCidr(argument: string, cidr: string, allowPublic: boolean): string[] {
    const parsed = typeof cidr === "string" ? parseCidr(cidr) : undefined;
    if (!parsed) {
        throw new EtcdClusterArgumentError(argument, 'an IPv4 or IPv6 CIDR block such as "10.0.0.0/16" or "2001:db8::/32"', cidr);
    }
    if (isWorldOpen(parsed) && !allowPublic) {
        throw new EtcdClusterArgumentError(
            argument,
            `a CIDR block narrower than the whole internet (${parsed.canonical === cidr ? "" : `this is ${parsed.canonical}; `}set allowPublicAccess to open it)`,
            cidr,
        );
    }
    if (parsed.canonical !== cidr) {
        throw new EtcdClusterArgumentError(argument, `the block in canonical form, "${parsed.canonical}"`, cidr);
    }
    return isWorldOpen(parsed) ? [`${argument} ${cidr}: the port is open to the whole internet`] : [];
}

export function checkSha256(argument: string, value: string): string {
    if (!/^[0-9a-f]{64}$/i.test(value)) {
        throw new EtcdClusterArgumentError(argument, "a SHA-256 digest of 64 hexadecimal digits", value);
    }
    return value.toLowerCase();
}

/** URLs end up in a shell script: only http(s) and file URLs made of URL-safe characters are accepted. */
export function checkUrl(argument: string, value: string): string {
    if (!/^(https?|file):\/\/[A-Za-z0-9._~:/?#[\]@!&'()*+,;=%-]+$/.test(value) || /['\s]/.test(value)) {
        throw new EtcdClusterArgumentError(argument, "an http(s):// or file:// URL without spaces or quotes", value);
    }
    if (value.length > limits.binaryUrlChars) {
        throw new EtcdClusterArgumentError(argument, `a URL of at most ${limits.binaryUrlChars} characters`, `${value.length} characters`);
    }
    return value;
}

/** Checks the data volume once its values are known, with AWS's limits, and fills in defaults. */
export function resolveDataVolume(dv: { sizeGib?: number; type?: DataVolumeType; iops?: number; throughput?: number }): ResolvedDataVolume {
    const type = oneOf<DataVolumeType>("dataVolume.type", dv.type, ["gp3", "io2"], "gp3");
    if (type === "gp3") {
        const l = limits.gp3;
        const sizeGib = integerIn("dataVolume.sizeGib", dv.sizeGib, l.minGib, l.maxGib, 32);
        const iops = integerIn("dataVolume.iops", dv.iops, l.minIops, Math.min(l.maxIops, Math.max(l.minIops, sizeGib * l.iopsPerGib)), l.minIops);
        const throughput = integerIn(
            "dataVolume.throughput",
            dv.throughput,
            l.minThroughput,
            Math.min(l.maxThroughput, Math.max(l.minThroughput, Math.floor(iops / 4))),
            l.minThroughput,
        );
        return { sizeGib, type, iops, throughput };
    }
    const l = limits.io2;
    if (dv.throughput !== undefined) {
        throw new EtcdClusterArgumentError("dataVolume.throughput", "no value for io2 (throughput is set for gp3 only)", dv.throughput);
    }
    const sizeGib = integerIn("dataVolume.sizeGib", dv.sizeGib, l.minGib, l.maxGib, 32);
    if (dv.iops === undefined) {
        throw new EtcdClusterArgumentError(
            "dataVolume.iops",
            `an integer from ${l.minIops} to ${Math.min(l.maxIops, sizeGib * l.iopsPerGib)} (required for io2)`,
            dv.iops,
        );
    }
    const iops = integerIn("dataVolume.iops", dv.iops, l.minIops, Math.min(l.maxIops, sizeGib * l.iopsPerGib));
    return { sizeGib, type, iops };
}

/**
 * The quota must fit the volume (rule and figures: components/volumeSizing.ts): a database that reaches its quota
 * then raises NOSPACE, which a person recovers from, instead of filling the disk, which crash-loops etcd. A
 * quota that does not fit is refused, never lowered quietly: the quota is a capacity decision (a Kubernetes
 * control plane's limit), and a volume resize must not change it behind the user's back.
 */
export function checkQuotaFitsVolume(quotaBackendBytes: number, sizeGib: number): void {
    const needed = requiredVolumeBytes(quotaBackendBytes);
    if (sizeGib * 2 ** 30 >= needed) {
        return;
    }
    const largest = largestQuotaBytes(sizeGib * 2 ** 30);
    const quota = `tuning.quotaBackendBytes ${quotaBackendBytes} (${formatBytes(quotaBackendBytes)})`;
    throw new EtcdClusterArgumentError(
        "dataVolume.sizeGib",
        `at least ${requiredVolumeGib(quotaBackendBytes)} for ${quota}: the volume holds the database and either ` +
            `defragmentation's copy or the backup and its gzip (3 x the quota), the WAL and snapshot files (512 MiB) and ` +
            `ext4's reserve (8 % + 128 MiB)` +
            (largest > 0 ? `; or tuning.quotaBackendBytes of at most ${largest} (${formatBytes(largest)}) for ${sizeGib} GiB` : ""),
        sizeGib,
    );
}

/** Resolves the data volume now when every value is plain, else when the outputs are known. */
export function dataVolumeOutput(args: EtcdClusterArgs): pulumi.Output<ResolvedDataVolume> {
    const dv = args.dataVolume ?? {};
    return pulumi
        .output({ sizeGib: dv.sizeGib, type: dv.type, iops: dv.iops, throughput: dv.throughput })
        .apply((plain) => resolveDataVolume(plain as Parameters<typeof resolveDataVolume>[0]));
}

/** Checks user-data against EC2's limit. */
export function checkUserDataSize(member: string, userData: string): void {
    const bytes = Buffer.byteLength(userData, "utf8");
    if (bytes > limits.userDataBytes) {
        throw new EtcdClusterArgumentError(
            `user-data of ${member}`,
            `at most ${limits.userDataBytes} bytes (EC2's limit; the bound checked before deploying should have refused this)`,
            `${bytes} bytes`,
        );
    }
}
