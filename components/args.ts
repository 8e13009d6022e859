import * as pulumi from "@pulumi/pulumi";

// Enumerations are const objects with a derived literal type: callers pass plain strings ("gp3"), and
// schema generation for other Pulumi languages sees an enum.

/** EBS volume types offered for the etcd data volume: both are SSD-backed. */
export const DataVolumeType = {
    /** General purpose SSD: 3000 IOPS and 125 MiB/s baseline, provisionable up to 80000 IOPS. */
    Gp3: "gp3",
    /** Provisioned IOPS SSD, for the largest clusters. */
    Io2: "io2",
} as const;
export type DataVolumeType = (typeof DataVolumeType)[keyof typeof DataVolumeType];

/** How members receive their private keys. */
export const KeyDelivery = {
    /** SSM Parameter Store SecureStrings under a KMS key; user-data holds only their names. */
    Ssm: "ssm",
    /** Inside user-data (readable through instance metadata): for places without SSM. */
    Inline: "inline",
} as const;
export type KeyDelivery = (typeof KeyDelivery)[keyof typeof KeyDelivery];

/** Lowest TLS version the members accept on their client and peer listeners. */
export const TlsMinVersion = {
    /** TLS 1.2, with ECDHE AES-GCM and ChaCha20 suites only. */
    Tls12: "TLS1.2",
    /** TLS 1.3 only. */
    Tls13: "TLS1.3",
} as const;
export type TlsMinVersion = (typeof TlsMinVersion)[keyof typeof TlsMinVersion];

/** Algorithm of every private key the cluster generates. */
export const KeyAlgorithm = {
    /** ECDSA on the P-256 curve. */
    Ecdsa: "ECDSA",
    /** RSA with 2048-bit keys. */
    Rsa: "RSA",
} as const;
export type KeyAlgorithm = (typeof KeyAlgorithm)[keyof typeof KeyAlgorithm];

/** How `pulumi up` verifies that the cluster is healthy. */
export const ReadinessMode = {
    /** etcdctl on the members through SSM Run Command. */
    Ssm: "ssm",
    /** The deploying machine checks every client endpoint itself. */
    Direct: "direct",
    /** No check, and no one-at-a-time rolling. */
    None: "none",
} as const;
export type ReadinessMode = (typeof ReadinessMode)[keyof typeof ReadinessMode];

/** etcd's auto-compaction modes. */
export const AutoCompactionMode = {
    /** Keep a time window of history, e.g. "1h". */
    Periodic: "periodic",
    /** Keep a number of revisions. */
    Revision: "revision",
} as const;
export type AutoCompactionMode = (typeof AutoCompactionMode)[keyof typeof AutoCompactionMode];

/** The SSD-backed EBS volume that holds `/var/lib/etcd` on each member. */
export interface EtcdDataVolumeArgs {
    /**
     * Size in GiB: at least what `tuning.quotaBackendBytes` needs (3 x the quota + 640 MiB, over 92 %: 8 GiB for the
     * default 2 GiB quota; the default 32 GiB holds up to 9.6 GiB). @default 32
     */
    sizeGib?: pulumi.Input<number>;
    /** Volume type. @default "gp3" */
    type?: pulumi.Input<DataVolumeType>;
    /** Provisioned IOPS (gp3: 3000 to 80000, io2: 100 to 256000, required for io2). @default 3000 for gp3 */
    iops?: pulumi.Input<number>;
    /** Throughput in MiB/s (gp3 only: 125 to 2000). @default 125 */
    throughput?: pulumi.Input<number>;
    /**
     * KMS key that encrypts the data and root volumes: a key ARN, or a key id, alias name or alias ARN, which is
     * resolved to the key ARN with a lookup (kms:DescribeKey), since EBS reads the key back as its ARN and a
     * change replaces the volumes. @default the cluster's own KMS key
     */
    kmsKeyId?: pulumi.Input<string>;
}

/** etcd performance and retention settings; each defaults to etcd's own default for the chosen version. */
export interface EtcdTuningArgs {
    /** Raft heartbeat interval in milliseconds. @default 100 */
    heartbeatIntervalMs?: number;
    /** Raft election timeout in milliseconds (at least 5x the heartbeat, at most 50000). @default 1000 */
    electionTimeoutMs?: number;
    /**
     * Backend database size quota in bytes (at most 8 GiB is recommended); a larger quota needs a larger
     * `dataVolume.sizeGib` (README: "Disk space and the quota"). @default 2147483648 (2 GiB)
     */
    quotaBackendBytes?: number;
    /** Auto-compaction mode; compaction is off unless `autoCompactionRetention` is set. @default "periodic" */
    autoCompactionMode?: AutoCompactionMode;
    /** Auto-compaction retention: a duration such as "1h" or "30m" (periodic) or a revision count (revision). @default "0" (off) */
    autoCompactionRetention?: string;
    /** Committed transactions that trigger a snapshot to disk. @default 100000 for 3.4 and 3.5, 10000 for 3.6 */
    snapshotCount?: number;
}

/** A certificate authority supplied by the caller instead of the cluster's own. */
export interface EtcdCaArgs {
    /** PEM certificate of the CA. It must be a CA used for etcd only (CIS 2.7). */
    certPem: pulumi.Input<string>;
    /** PEM private key of the CA. */
    privateKeyPem: pulumi.Input<string>;
}

/** TLS settings. */
export interface EtcdTlsArgs {
    /** Lowest accepted TLS version (enforced from etcd 3.4.25 and 3.5.8 on). @default "TLS1.2" */
    minVersion?: TlsMinVersion;
    /** Algorithm of generated keys: ECDSA P-256 or RSA 2048. @default "ECDSA" */
    keyAlgorithm?: KeyAlgorithm;
    /** Validity of member and client certificates in hours. @default 17520 (2 years) */
    certificateValidityHours?: number;
}

/** How `pulumi up` waits for the cluster to report healthy. */
export interface EtcdReadinessArgs {
    /**
     * "ssm": run `etcdctl endpoint health --cluster` on the members through SSM Run Command (works for a
     * private cluster; needs the AWS CLI on the deploying machine). "direct": the deploying machine checks
     * every client endpoint itself with the client certificate (needs a route to the members, and
     * etcdctl or curl; with backups, etcdctl and the AWS CLI: the backups before a change are taken from
     * there). "none": no check, no backup before a change, and members are no longer updated one at a time.
     * @default "ssm"
     */
    mode?: ReadinessMode;
    /** Seconds to wait before `pulumi up` fails. @default 900 */
    timeoutSeconds?: number;
}

/** How long the bucket's lifecycle rules keep backups (a bucket the component creates only). */
export interface EtcdBackupRetentionArgs {
    /** Days every snapshot is kept. @default 7 */
    allDays?: number;
    /** Days the first snapshot of each UTC day is kept (at least `allDays`). @default 90 */
    dailyDays?: number;
    /** Days a replaced or deleted object's previous version is kept (the bucket is versioned). @default 30 */
    noncurrentDays?: number;
}

/** Scheduled backups to S3, taken by the leader, verified, compressed and encrypted with the cluster's KMS key. */
export interface EtcdBackupArgs {
    /** Take scheduled backups. @default true */
    enabled?: boolean;
    /**
     * An existing bucket to write to instead of one the component creates. Its versioning, public access
     * block, policy and lifecycle rules are then yours to set (see the README's backup section).
     * @default a bucket created for the cluster
     */
    bucketName?: pulumi.Input<string>;
    /** Key prefix: the cluster writes under `<prefix><cluster id>/`. A plain string. @default "etcd-backups/" */
    prefix?: string;
    /** Minutes between backups: 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720 or 1440. @default 15 */
    intervalMinutes?: number;
    /** Retention by lifecycle rules. @default every snapshot for 7 days, one a day for 90 days */
    retention?: EtcdBackupRetentionArgs;
    /** SNS topic the backup-age alarm notifies (the alarm exists without it). @default none */
    alarmTopicArn?: pulumi.Input<string>;
}

/** Bootstraps a new cluster from a snapshot instead of an empty keyspace. */
export interface EtcdRestoreArgs {
    /**
     * The snapshot object, as "s3://bucket/key": a backup this component took (gzip, with its sha256
     * metadata). Each member restores it on its first boot only, when its data volume holds no member.
     */
    from: string;
}

/** Arguments of an {@link EtcdCluster}. */
export interface EtcdClusterArgs {
    /** VPC the members run in. */
    vpcId: pulumi.Input<string>;
    /**
     * Subnets, one per availability zone. Members are spread round-robin over them, so the number of zones
     * is the number of subnets given. Use 3 zones to survive the loss of a zone.
     */
    subnetIds: pulumi.Input<string>[];
    /** Number of members, 1 to 9 (3 or 5 recommended). A plain number: it decides how many resources exist. @default 3 */
    size?: number;
    /** etcd version: 3.4.x, 3.5.x or 3.6.x. A plain string: it decides which flags are rendered. @default the newest 3.6 release in the checksum table */
    version?: string;
    /** EC2 instance type; a Graviton type (such as m7g.large) selects the arm64 release. @default "m7i.large" (2 vCPU, 8 GiB) */
    instanceType?: pulumi.Input<string>;
    /** AMI id. When omitted, the newest Amazon Linux 2023 image is looked up once and a newer image never replaces running members. */
    ami?: pulumi.Input<string>;
    /** Data volume for /var/lib/etcd. @default gp3, 32 GiB, 3000 IOPS, 125 MiB/s, encrypted */
    dataVolume?: EtcdDataVolumeArgs;
    /** CIDR blocks that may reach the client port 2379. @default none */
    clientCidrs?: pulumi.Input<string>[];
    /** Security groups whose members may reach the client port 2379. @default none */
    clientSecurityGroupIds?: pulumi.Input<string>[];
    /** CIDR blocks that may scrape the plaintext metrics port 2381; without any, metrics listen on 127.0.0.1 only. @default none */
    metricsCidrs?: pulumi.Input<string>[];
    /** Allow 0.0.0.0/0 or ::/0 in `clientCidrs` or `metricsCidrs` (a warning is still printed). @default false */
    allowPublicAccess?: boolean;
    /** URL of the release tarball (a mirror or an air-gapped copy). Required with `binarySha256` for a version outside the checksum table. @default the official GitHub release URL */
    binaryUrl?: pulumi.Input<string>;
    /** SHA-256 of the tarball at `binaryUrl`, 64 hex digits. @default the pinned upstream checksum */
    binarySha256?: pulumi.Input<string>;
    /** etcd tuning; etcd's defaults when omitted. */
    tuning?: EtcdTuningArgs;
    /** TLS settings. */
    tls?: EtcdTlsArgs;
    /** A CA to sign the certificates with; the cluster creates its own when omitted. */
    ca?: EtcdCaArgs;
    /**
     * How private keys reach the members. "ssm": SecureString parameters under a KMS key, readable only by
     * the member they belong to; user-data holds only their names. "inline": keys inside user-data (readable
     * through instance metadata and by principals allowed ec2:DescribeInstanceAttribute), for places without
     * SSM. @default "ssm"
     */
    keyDelivery?: KeyDelivery;
    /** KMS key ARN for the SSM parameters and, unless `dataVolume.kmsKeyId` is set, the volumes. @default a key created for the cluster */
    kmsKeyArn?: pulumi.Input<string>;
    /**
     * Turn on etcd's own authentication once the cluster is healthy: the client certificate (CN "root") is
     * the root user, each member's certificate a user with the root role; all certificate-only. Needs etcd
     * 3.5 or later. @default false
     */
    auth?: boolean;
    /** Readiness check run by `pulumi up`. */
    readiness?: EtcdReadinessArgs;
    /** Scheduled backups to S3. @default on: every 15 minutes, to a bucket created for the cluster */
    backup?: EtcdBackupArgs;
    /** Restore a new cluster from a backup at first boot. @default none (an empty cluster) */
    restore?: EtcdRestoreArgs;
    /** Tags added to every taggable resource. */
    tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}
