import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdBackupArgs, EtcdRestoreArgs } from "./args";
import { EtcdVersion } from "./releases";
import { createHash } from "crypto";
import { defragFiles, defragPaths } from "./render/maintenance";
import { renderMembershipLibrary } from "./render/membership";
import { memberPaths } from "./render/paths";
import { backupIntervalsMinutes, backupMetric, backupPaths, memberToolFiles, renderToolsInstaller, SnapshotTool } from "./render/backup";
import { EtcdClusterArgumentError } from "./validation";

/** Backup settings once validated, with defaults filled in. */
export interface ResolvedBackup {
    /** A bucket the caller gave; undefined: the component creates one. */
    bucketName?: pulumi.Input<string>;
    prefix: string;
    intervalMinutes: number;
    retention: { allDays: number; dailyDays: number; noncurrentDays: number };
    alarmTopicArn?: pulumi.Input<string>;
}

/** Where a restored cluster's snapshot comes from. */
export interface ResolvedRestore {
    bucket: string;
    key: string;
    /** `--bump-revision --mark-compacted` exist: 3.4.27+, 3.5.10+, 3.6. */
    bumpRevision: boolean;
}

const bucketNamePattern = /^(?!xn--|sthree-)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?<!-s3alias|--ol-s3)$/;
const objectKeyPattern = /^[A-Za-z0-9!_.*'()/-]{1,1024}$/;

/** S3's bucket naming rules; two dots in a row are refused too, which the pattern does not say. */
function isBucketName(name: string): boolean {
    return bucketNamePattern.test(name) && !name.includes("..");
}

/** etcdutl reads and restores snapshots from 3.5 on (3.6's etcdctl has no snapshot restore); 3.4 ships etcdctl only. */
export function snapshotTool(v: EtcdVersion): SnapshotTool {
    return v.minor >= 5 ? "etcdutl" : "etcdctl";
}

/** `snapshot restore --bump-revision --mark-compacted`: 3.4.27+, 3.5.10+ and 3.6. */
export function restoreBumpsRevision(v: EtcdVersion): boolean {
    return v.minor >= 6 || (v.minor === 5 && v.patch >= 10) || (v.minor === 4 && v.patch >= 27);
}

function integerIn(argument: string, value: unknown, min: number, max: number, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        throw new EtcdClusterArgumentError(argument, `an integer from ${min} to ${max}`, value);
    }
    return value;
}

/** Validates `backup`; undefined when backups are off. */
export function resolveBackup(args: EtcdBackupArgs | undefined): ResolvedBackup | undefined {
    // `??` has already made a null argument the defaults.
    const b = args ?? {};
    if (typeof b !== "object") {
        throw new EtcdClusterArgumentError("backup", "an object such as { intervalMinutes: 15 }", b);
    }
    if (b.enabled !== undefined && typeof b.enabled !== "boolean") {
        throw new EtcdClusterArgumentError("backup.enabled", "true or false", b.enabled);
    }
    if (b.enabled === false) return undefined;
    if (typeof b.bucketName === "string") checkBucketName("backup.bucketName", b.bucketName);
    const prefix = b.prefix ?? "etcd-backups/";
    if (typeof prefix !== "string" || !/^([A-Za-z0-9._-]+\/){0,8}$/.test(prefix) || prefix.length > 200) {
        throw new EtcdClusterArgumentError("backup.prefix", 'a key prefix of letters, digits, . _ - ending in "/", such as "etcd-backups/", or ""', prefix);
    }
    const intervalMinutes = b.intervalMinutes ?? 15;
    if (!(backupIntervalsMinutes as readonly unknown[]).includes(intervalMinutes)) {
        throw new EtcdClusterArgumentError(
            "backup.intervalMinutes",
            `one of ${backupIntervalsMinutes.join(", ")} (they divide an hour or a day)`,
            intervalMinutes,
        );
    }
    const r = b.retention ?? {};
    const allDays = integerIn("backup.retention.allDays", r.allDays, 1, 3650, 7);
    const dailyDays = integerIn("backup.retention.dailyDays", r.dailyDays, allDays, 3650, Math.max(90, allDays));
    const noncurrentDays = integerIn("backup.retention.noncurrentDays", r.noncurrentDays, 1, 3650, 30);
    if (typeof b.alarmTopicArn === "string" && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(b.alarmTopicArn)) {
        throw new EtcdClusterArgumentError(
            "backup.alarmTopicArn",
            'an SNS topic ARN such as "arn:aws:sns:eu-west-1:123456789012:etcd-alerts"',
            b.alarmTopicArn,
        );
    }
    return { bucketName: b.bucketName, prefix, intervalMinutes, retention: { allDays, dailyDays, noncurrentDays }, alarmTopicArn: b.alarmTopicArn };
}

/** Validates `restore`; warns when the version cannot bump the revision. */
export function resolveRestore(
    args: EtcdRestoreArgs | undefined,
    version: EtcdVersion,
    backup: ResolvedBackup | undefined,
    warnings: string[],
): ResolvedRestore | undefined {
    if (args === undefined) return undefined;
    const from = typeof args === "object" && args !== null ? args.from : undefined;
    const match = typeof from === "string" ? /^s3:\/\/([^/]+)\/(.+)$/.exec(from) : null;
    if (!match || !isBucketName(match[1]) || !objectKeyPattern.test(match[2])) {
        throw new EtcdClusterArgumentError(
            "restore.from",
            'an S3 object URL such as "s3://my-bucket/etcd-backups/prod-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz"',
            from,
        );
    }
    if (!backup) {
        throw new EtcdClusterArgumentError(
            "restore",
            "backups enabled (the restore step is delivered through the backup bucket), or no restore",
            "backup.enabled false",
        );
    }
    const bumpRevision = restoreBumpsRevision(version);
    if (!bumpRevision) {
        warnings.push(
            `restore with etcd ${version.text}: revisions are not bumped (needs 3.4.27+, 3.5.10+ or 3.6), so Kubernetes watchers may miss changes made after the snapshot; restart kube-apiservers after the restore`,
        );
    }
    return { bucket: match[1], key: match[2], bumpRevision };
}

export function checkBucketName(argument: string, name: string): string {
    if (!isBucketName(name)) {
        throw new EtcdClusterArgumentError(argument, "an S3 bucket name: 3 to 63 lowercase letters, digits, dots and dashes", name);
    }
    return name;
}

/** The parts of the bucket one cluster uses. */
export interface BackupLayout {
    /** `<prefix><cluster id>/`: everything of this cluster. */
    clusterPrefix: string;
    /** Where members write snapshots (the only place they may write). */
    snapshotsPrefix: string;
    /** The member tools installer, written by the component only. */
    toolsKey: string;
}

export function backupLayout(prefix: string, clusterId: string): BackupLayout {
    const clusterPrefix = `${prefix}${clusterId}/`;
    return { clusterPrefix, snapshotsPrefix: `${clusterPrefix}snapshots/`, toolsKey: `${clusterPrefix}tools/member-tools.sh` };
}

type Statement = Record<string, unknown>;

/**
 * The bucket policy of a bucket the component creates: TLS only, and no object unless encrypted with the
 * cluster's KMS key. The encryption conditions use IfExists because multipart upload parts carry no
 * encryption headers; objects sent without them get the bucket's default, the same key.
 */
export function bucketPolicy(bucketArn: string, kmsKeyArn: string): { Version: string; Statement: Statement[] } {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyWithoutTls",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
            {
                Sid: "DenyOtherEncryption",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${bucketArn}/*`,
                Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
            },
            {
                Sid: "DenyOtherKmsKeys",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${bucketArn}/*`,
                Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": kmsKeyArn } },
            },
        ],
    };
}

/**
 * Lifecycle rules over this cluster's snapshots: every snapshot (frequent/) for `allDays`, the first of each
 * UTC day (daily/) for `dailyDays`; previous versions for `noncurrentDays`; unfinished uploads for a day.
 */
export function lifecycleRules(layout: BackupLayout, retention: ResolvedBackup["retention"]) {
    const rule = (id: string, prefix: string, days: number) => ({
        id,
        status: "Enabled",
        filter: { prefix },
        expiration: { days },
        noncurrentVersionExpiration: { noncurrentDays: retention.noncurrentDays },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
    });
    return [rule("frequent", `${layout.snapshotsPrefix}frequent/`, retention.allDays), rule("daily", `${layout.snapshotsPrefix}daily/`, retention.dailyDays)];
}

export interface MemberBackupAccess {
    partition: string;
    region: string;
    bucket: string;
    layout: BackupLayout;
    clusterId: string;
    kmsKeyArn: string;
    restore?: { bucket: string; key: string };
}

/**
 * A member's S3, KMS and CloudWatch permissions: put objects under its cluster's snapshots/ prefix (no
 * delete, no tagging, no ACLs); list that prefix (to find the newest backup and the day's first); read the
 * tools installer and, with `restore`, the one snapshot object; use the key for those objects only
 * (the S3 encryption context names the object); publish the backup-age metric of its own cluster. IAM
 * cannot refuse an overwrite of an existing key: the bucket's versioning keeps the previous version.
 */
export function memberBackupStatements(a: MemberBackupAccess): Statement[] {
    const s3 = (bucket: string, key = "") => `arn:${a.partition}:s3:::${bucket}${key ? `/${key}` : ""}`;
    const viaS3 = { "kms:ViaService": `s3.${a.region}.amazonaws.com` };
    const statements: Statement[] = [
        { Sid: "WriteSnapshots", Effect: "Allow", Action: "s3:PutObject", Resource: s3(a.bucket, `${a.layout.snapshotsPrefix}*`) },
        {
            Sid: "ListSnapshots",
            Effect: "Allow",
            Action: "s3:ListBucket",
            Resource: s3(a.bucket),
            Condition: { StringLike: { "s3:prefix": [`${a.layout.snapshotsPrefix}*`] } },
        },
        { Sid: "ReadTools", Effect: "Allow", Action: "s3:GetObject", Resource: s3(a.bucket, a.layout.toolsKey) },
        {
            Sid: "EncryptSnapshots",
            Effect: "Allow",
            Action: ["kms:GenerateDataKey", "kms:Decrypt"],
            Resource: a.kmsKeyArn,
            Condition: {
                StringEquals: viaS3,
                StringLike: { "kms:EncryptionContext:aws:s3:arn": [s3(a.bucket, `${a.layout.snapshotsPrefix}*`), s3(a.bucket, a.layout.toolsKey)] },
            },
        },
        {
            Sid: "PublishBackupAge",
            Effect: "Allow",
            Action: "cloudwatch:PutMetricData",
            Resource: "*",
            Condition: { StringEquals: { "cloudwatch:namespace": backupMetric.namespace } },
        },
    ];
    if (a.restore) {
        statements.push(
            { Sid: "ReadRestoreSnapshot", Effect: "Allow", Action: "s3:GetObject", Resource: s3(a.restore.bucket, a.restore.key) },
            {
                // The snapshot may be under another cluster's key: any key, for that one object only.
                Sid: "DecryptRestoreSnapshot",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: "*",
                Condition: { StringEquals: { ...viaS3, "kms:EncryptionContext:aws:s3:arn": s3(a.restore.bucket, a.restore.key) } },
            },
        );
    }
    return statements;
}

export interface BackupStoreArgs {
    name: string;
    clusterId: string;
    backup: ResolvedBackup;
    kmsKeyArn: pulumi.Output<string>;
    tags: pulumi.Output<Record<string, string>>;
    parent: pulumi.Resource;
}

export interface BackupStore {
    bucket: pulumi.Output<string>;
    layout: BackupLayout;
    /** Resources the members' first use of the bucket must wait for (its policy and encryption). */
    ready: pulumi.Resource[];
}

/**
 * The cluster's bucket: versioned, private, TLS-only, SSE-KMS with the cluster's key by default and by
 * policy, lifecycle retention, owner-enforced object ownership. It is kept when the stack is destroyed:
 * it holds what a new cluster would be restored from. With `backup.bucketName` the caller's bucket is used
 * as it is.
 */
export function backupStore(a: BackupStoreArgs): BackupStore {
    const layout = backupLayout(a.backup.prefix, a.clusterId);
    if (a.backup.bucketName !== undefined) {
        return { bucket: pulumi.output(a.backup.bucketName).apply((n) => checkBucketName("backup.bucketName", n)), layout, ready: [] };
    }
    const parent = { parent: a.parent };
    const bucket = new aws.s3.Bucket(
        `${a.name}-backups`,
        { bucketPrefix: `etcd-backups-${a.clusterId.slice(-8)}-`, tags: a.tags },
        { ...parent, retainOnDelete: true },
    );
    const ownership = new aws.s3.BucketOwnershipControls(`${a.name}-backups`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, parent);
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
        `${a.name}-backups`,
        { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        parent,
    );
    const versioning = new aws.s3.BucketVersioning(`${a.name}-backups`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, parent);
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
        `${a.name}-backups`,
        {
            bucket: bucket.id,
            // No bucket key: the encryption context then names each object, which the members' KMS grant checks.
            rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: a.kmsKeyArn }, bucketKeyEnabled: false }],
        },
        parent,
    );
    const policy = new aws.s3.BucketPolicy(
        `${a.name}-backups`,
        { bucket: bucket.id, policy: pulumi.all([bucket.arn, a.kmsKeyArn]).apply(([arn, key]) => JSON.stringify(bucketPolicy(arn, key))) },
        { ...parent, dependsOn: [publicAccess] },
    );
    const lifecycle = new aws.s3.BucketLifecycleConfiguration(
        `${a.name}-backups`,
        { bucket: bucket.id, rules: lifecycleRules(layout, a.backup.retention) },
        { ...parent, dependsOn: [versioning] },
    );
    return { bucket: bucket.id, layout, ready: [ownership, publicAccess, versioning, encryption, policy, lifecycle] };
}

/**
 * The alarm on the newest backup's age: over three intervals, or no figure for two periods (no leader
 * ran the timer, or the members are down). CloudWatch allows at most a day of evaluation.
 */
export function backupAgeAlarm(name: string, clusterId: string, backup: ResolvedBackup, tags: pulumi.Output<Record<string, string>>, parent: pulumi.Resource) {
    const period = backup.intervalMinutes * 60;
    const evaluationPeriods = period * 2 <= 86400 ? 2 : 1;
    const actions = backup.alarmTopicArn !== undefined ? [backup.alarmTopicArn] : [];
    return new aws.cloudwatch.MetricAlarm(
        `${name}-backup-age`,
        {
            alarmDescription: `etcd cluster ${clusterId}: the newest backup is older than ${3 * backup.intervalMinutes} minutes, or no member reports its age`,
            namespace: backupMetric.namespace,
            metricName: backupMetric.name,
            dimensions: { [backupMetric.dimension]: clusterId },
            statistic: "Maximum",
            period,
            evaluationPeriods,
            datapointsToAlarm: evaluationPeriods,
            threshold: 3 * period,
            comparisonOperator: "GreaterThanThreshold",
            treatMissingData: "breaching",
            alarmActions: actions,
            okActions: actions,
            tags,
        },
        { parent },
    );
}

export interface ClusterBackupArgs {
    name: string;
    clusterId: string;
    backup: ResolvedBackup;
    restore?: ResolvedRestore;
    version: EtcdVersion;
    kmsKeyArn: pulumi.Output<string>;
    region: pulumi.Output<string>;
    partition: pulumi.Output<string>;
    tags: pulumi.Output<Record<string, string>>;
    parent: pulumi.Resource;
}

/** What the members of a cluster with backups need from it. */
export interface ClusterBackup {
    /** The tools installer in S3 and its SHA-256, which the user-data pins. */
    memberTools: pulumi.Output<{ url: string; sha256: string; restore: boolean }>;
    /** The members' backup policy (JSON). */
    memberPolicy: pulumi.Output<string>;
    /** What must exist before a member boots: the bucket's settings and the tools object. */
    ready: pulumi.Resource[];
    /** Where snapshots go: what a backup taken from the machine that runs `pulumi up` needs (direct readiness mode). */
    target: pulumi.Output<BackupTarget>;
}

/** A cluster's snapshot location and key. */
export interface BackupTarget {
    bucket: string;
    /** Key prefix of the snapshots, ending in "/". */
    snapshotsPrefix: string;
    kmsKeyArn: string;
    region: string;
}

/**
 * The backup side of a cluster: the store, the age alarm, and the members' tools as an S3 object (plain
 * text, so that a preview shows its changes) pinned by SHA-256 in their user-data.
 */
export function clusterBackup(a: ClusterBackupArgs): ClusterBackup {
    const store = backupStore({ name: a.name, clusterId: a.clusterId, backup: a.backup, kmsKeyArn: a.kmsKeyArn, tags: a.tags, parent: a.parent });
    backupAgeAlarm(a.name, a.clusterId, a.backup, a.tags, a.parent);
    const installer = pulumi.all([store.bucket, a.kmsKeyArn, a.region]).apply(([bucket, kmsKeyArn, region]) =>
        renderToolsInstaller(
            [
                // Defragmentation (render/maintenance.ts) and the membership functions (render/membership.ts) ride
                // along: user-data has no room for them next to the tools' pin.
                ...defragFiles(),
                { path: memberPaths.membershipLibrary, content: renderMembershipLibrary(), mode: "0644" },
                ...memberToolFiles({
                    backup: {
                        clusterId: a.clusterId,
                        version: a.version.text,
                        snapshotTool: snapshotTool(a.version),
                        bucket,
                        prefix: store.layout.snapshotsPrefix,
                        kmsKeyArn,
                        region,
                        intervalMinutes: a.backup.intervalMinutes,
                    },
                    restore: a.restore && {
                        bucket: a.restore.bucket,
                        key: a.restore.key,
                        region,
                        snapshotTool: snapshotTool(a.version),
                        bumpRevision: a.restore.bumpRevision,
                    },
                }),
            ],
            [backupPaths.timerName, defragPaths.timerName],
        ),
    );
    const tools = new aws.s3.BucketObjectv2(
        `${a.name}-member-tools`,
        {
            bucket: store.bucket,
            key: store.layout.toolsKey,
            content: installer,
            contentType: "text/x-shellscript",
            serverSideEncryption: "aws:kms",
            kmsKeyId: a.kmsKeyArn,
            tags: a.tags,
        },
        { parent: a.parent, dependsOn: store.ready },
    );
    const memberTools = pulumi.all([store.bucket, installer]).apply(([bucket, text]) => ({
        url: `s3://${bucket}/${store.layout.toolsKey}`,
        sha256: createHash("sha256").update(text).digest("hex"),
        restore: a.restore !== undefined,
    }));
    const memberPolicy = pulumi.all([a.partition, a.region, store.bucket, a.kmsKeyArn]).apply(([partition, region, bucket, kmsKeyArn]) =>
        JSON.stringify({
            Version: "2012-10-17",
            Statement: memberBackupStatements({ partition, region, bucket, layout: store.layout, clusterId: a.clusterId, kmsKeyArn, restore: a.restore }),
        }),
    );
    const target = pulumi
        .all([store.bucket, a.kmsKeyArn, a.region])
        .apply(([bucket, kmsKeyArn, region]): BackupTarget => ({ bucket, snapshotsPrefix: store.layout.snapshotsPrefix, kmsKeyArn, region }));
    return { memberTools, memberPolicy, ready: [...store.ready, tools], target };
}
