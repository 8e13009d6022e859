// Backups under mocks: the bucket and its policy, encryption and lifecycle; the member role's exact S3, KMS
// and CloudWatch permissions (evaluated, not only listed); the backup-age alarm; the tools object the
// user-data pins; restore; and the arguments' validation.
import { createHash } from "crypto";
import { parse } from "yaml";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { buildClusters } from "../helpers/mockClusters";
import { resolveBackup, resolveRestore } from "../../components/backup";
import { parseVersion } from "../../components/releases";
import { userDataBudgetBytes } from "../../components/userDataBound";
import { RecordedResource, settled, StackMocks } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(120_000);

const subnets = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: subnets };
const topic = "arn:aws:sns:eu-west-1:123456789012:etcd-alerts";
const restoreFrom = "s3://old-etcd-backups/etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz";

const build: Record<string, EtcdClusterArgs> = {
    plain: base,
    own: { ...base, backup: { bucketName: "company-etcd-backups", prefix: "prod/", intervalMinutes: 60, alarmTopicArn: topic } },
    kept: { ...base, backup: { retention: { allDays: 3, dailyDays: 30, noncurrentDays: 10 } } },
    off: { ...base, backup: { enabled: false } },
    direct: { ...base, readiness: { mode: "direct" } },
    restored: { ...base, restore: { from: restoreFrom } },
    restored34: {
        ...base,
        version: "3.4.23",
        binaryUrl: "https://mirror.internal/etcd-v3.4.23.tar.gz",
        binarySha256: "ab".repeat(32),
        restore: { from: restoreFrom },
    },
};

const T = {
    bucket: "aws:s3/bucket:Bucket",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    object: "aws:s3/bucketObjectv2:BucketObjectv2",
    alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
    policy: "aws:iam/rolePolicy:RolePolicy",
    instance: "aws:ec2/instance:Instance",
    kms: "aws:kms/key:Key",
    command: "command:local:Command",
};

let mocks: StackMocks;
let EtcdCluster: typeof EtcdClusterType;
let warnings: string[];

beforeAll(async () => {
    ({ mocks, EtcdCluster, warnings } = await buildClusters(build));
});

const of = (cluster: string, type: string): RecordedResource[] =>
    mocks.resources.filter((r) => (r.name === cluster || r.name.startsWith(`${cluster}-`)) && r.type === type);
const one = (type: string, name: string) => mocks.get(type, name);
const clusterIdOf = (cluster: string) => one(T.instance, `${cluster}-member-0`).inputs.tags["etcd:cluster"] as string;
const keyArnOf = (cluster: string) => one(T.kms, `${cluster}-kms`).outputs.arn as string;
const userData = (cluster: string, i = 0) => one(T.instance, `${cluster}-member-${i}`).inputs.userData as string;
const bootScript = (cluster: string, i = 0) =>
    parse(userData(cluster, i)).write_files.find((f: { path: string }) => f.path === "/usr/local/sbin/etcd-bootstrap").content as string;

interface Statement {
    Effect: string;
    Action: string | string[];
    Resource: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
}
const backupPolicy = (cluster: string, i = 0): Statement[] => JSON.parse(one(T.policy, `${cluster}-member-${i}-backup`).inputs.policy).Statement;

/** IAM's evaluation for one request, reduced to what these policies use: wildcards, StringEquals and StringLike. */
function allowed(statements: Statement[], action: string, resource: string, context: Record<string, string> = {}): boolean {
    const glob = (pattern: string, value: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);
    const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
    return statements.some(
        (s) =>
            s.Effect === "Allow" &&
            list(s.Action).some((a) => glob(a, action)) &&
            list(s.Resource).some((r) => glob(r, resource)) &&
            Object.entries(s.Condition ?? {}).every(([op, conditions]) =>
                Object.entries(conditions).every(([key, values]) =>
                    list(values).some((v) => context[key] !== undefined && (op === "StringLike" ? glob(v, context[key]) : v === context[key])),
                ),
            ),
    );
}

describe("the bucket the component creates", () => {
    test("versioned, private, owner-enforced, encrypted by default with the cluster's key (no bucket key), kept on destroy", () => {
        const [bucket] = of("plain", T.bucket);
        expect(bucket.retainOnDelete).toBe(true);
        expect(bucket.inputs.bucketPrefix).toBe(`etcd-backups-${clusterIdOf("plain").slice(-8)}-`);
        expect(one(T.versioning, "plain-backups").inputs.versioningConfiguration).toEqual({ status: "Enabled" });
        expect(one(T.publicAccess, "plain-backups").inputs).toMatchObject({
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        });
        expect(one(T.ownership, "plain-backups").inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
        expect(one(T.encryption, "plain-backups").inputs.rules).toEqual([
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArnOf("plain") }, bucketKeyEnabled: false },
        ]);
        expect(one(T.kms, "plain-kms").retainOnDelete).toBe(true);
    });

    test("policy: no request without TLS, no object encrypted otherwise than with the cluster's key", () => {
        const arn = one(T.bucket, "plain-backups").outputs.arn;
        expect(JSON.parse(one(T.bucketPolicy, "plain-backups").inputs.policy)).toEqual({
            Version: "2012-10-17",
            Statement: [
                {
                    Sid: "DenyWithoutTls",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:*",
                    Resource: [arn, `${arn}/*`],
                    Condition: { Bool: { "aws:SecureTransport": "false" } },
                },
                {
                    Sid: "DenyOtherEncryption",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    Resource: `${arn}/*`,
                    Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
                },
                {
                    Sid: "DenyOtherKmsKeys",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    Resource: `${arn}/*`,
                    Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArnOf("plain") } },
                },
            ],
        });
    });

    test("lifecycle: every snapshot for 7 days, the day's first for 90, previous versions for 30, unfinished uploads for 1; configurable", () => {
        const prefix = `etcd-backups/${clusterIdOf("plain")}/snapshots/`;
        const rule = (id: string, p: string, days: number, noncurrent: number) => ({
            id,
            status: "Enabled",
            filter: { prefix: p },
            expiration: { days },
            noncurrentVersionExpiration: { noncurrentDays: noncurrent },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
        });
        expect(one(T.lifecycle, "plain-backups").inputs.rules).toEqual([
            rule("frequent", `${prefix}frequent/`, 7, 30),
            rule("daily", `${prefix}daily/`, 90, 30),
        ]);
        const keptPrefix = `etcd-backups/${clusterIdOf("kept")}/snapshots/`;
        expect(one(T.lifecycle, "kept-backups").inputs.rules).toEqual([
            rule("frequent", `${keptPrefix}frequent/`, 3, 10),
            rule("daily", `${keptPrefix}daily/`, 30, 10),
        ]);
    });
});

describe("the member role", () => {
    test("exactly: put under its cluster's snapshots/, list them, read the tools, use the key for those objects, publish the age metric", () => {
        const bucket = one(T.bucket, "plain-backups").id;
        const prefix = `etcd-backups/${clusterIdOf("plain")}/`;
        const s3 = (key = "") => `arn:aws:s3:::${bucket}${key ? `/${key}` : ""}`;
        expect(backupPolicy("plain")).toEqual([
            { Sid: "WriteSnapshots", Effect: "Allow", Action: "s3:PutObject", Resource: s3(`${prefix}snapshots/*`) },
            {
                Sid: "ListSnapshots",
                Effect: "Allow",
                Action: "s3:ListBucket",
                Resource: s3(),
                Condition: { StringLike: { "s3:prefix": [`${prefix}snapshots/*`] } },
            },
            { Sid: "ReadTools", Effect: "Allow", Action: "s3:GetObject", Resource: s3(`${prefix}tools/member-tools.sh`) },
            {
                Sid: "EncryptSnapshots",
                Effect: "Allow",
                Action: ["kms:GenerateDataKey", "kms:Decrypt"],
                Resource: keyArnOf("plain"),
                Condition: {
                    StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
                    StringLike: { "kms:EncryptionContext:aws:s3:arn": [s3(`${prefix}snapshots/*`), s3(`${prefix}tools/member-tools.sh`)] },
                },
            },
            {
                Sid: "PublishBackupAge",
                Effect: "Allow",
                Action: "cloudwatch:PutMetricData",
                Resource: "*",
                Condition: { StringEquals: { "cloudwatch:namespace": "EtcdCluster/Backup" } },
            },
        ]);
    });

    test("evaluated: writes its own prefix only, never deletes, never reads backups, never writes the tools", () => {
        const statements = backupPolicy("plain");
        const bucket = one(T.bucket, "plain-backups").id;
        const own = `arn:aws:s3:::${bucket}/etcd-backups/${clusterIdOf("plain")}/`;
        const other = `arn:aws:s3:::${bucket}/etcd-backups/${clusterIdOf("kept")}/`;
        expect(allowed(statements, "s3:PutObject", `${own}snapshots/daily/20260101T000000Z-rev1.db.gz`)).toBe(true);
        expect(allowed(statements, "s3:PutObject", `${other}snapshots/daily/20260101T000000Z-rev1.db.gz`)).toBe(false);
        expect(allowed(statements, "s3:PutObject", `${own}tools/member-tools.sh`)).toBe(false);
        expect(allowed(statements, "s3:PutObject", `arn:aws:s3:::another-bucket/etcd-backups/${clusterIdOf("plain")}/snapshots/x`)).toBe(false);
        for (const action of ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:PutObjectAcl"]) {
            expect({ action, allowed: allowed(statements, action, `${own}snapshots/frequent/x`) }).toEqual({ action, allowed: false });
        }
        expect(allowed(statements, "s3:GetObject", `${own}snapshots/frequent/x`)).toBe(false);
        expect(
            allowed(statements, "s3:ListBucket", `arn:aws:s3:::${bucket}`, { "s3:prefix": `etcd-backups/${clusterIdOf("plain")}/snapshots/daily/2026` }),
        ).toBe(true);
        expect(allowed(statements, "s3:ListBucket", `arn:aws:s3:::${bucket}`, { "s3:prefix": `etcd-backups/` })).toBe(false);
        const viaS3 = { "kms:ViaService": "s3.eu-west-1.amazonaws.com" };
        expect(
            allowed(statements, "kms:GenerateDataKey", keyArnOf("plain"), { ...viaS3, "kms:EncryptionContext:aws:s3:arn": `${own}snapshots/frequent/x` }),
        ).toBe(true);
        expect(allowed(statements, "kms:Decrypt", keyArnOf("plain"), { ...viaS3, "kms:EncryptionContext:aws:s3:arn": `${other}snapshots/frequent/x` })).toBe(
            false,
        );
        expect(allowed(statements, "kms:Decrypt", keyArnOf("plain"), { "kms:EncryptionContext:aws:s3:arn": `${own}snapshots/frequent/x` })).toBe(false);
        expect(allowed(statements, "cloudwatch:PutMetricData", "*", { "cloudwatch:namespace": "AWS/EC2" })).toBe(false);
    });

    test("with restore: read and decrypt that one object, whatever key encrypted it", () => {
        const statements = backupPolicy("restored");
        const object = "arn:aws:s3:::old-etcd-backups/etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz";
        const viaS3 = { "kms:ViaService": "s3.eu-west-1.amazonaws.com" };
        expect(allowed(statements, "s3:GetObject", object)).toBe(true);
        expect(allowed(statements, "s3:GetObject", object.replace("rev42", "rev43"))).toBe(false);
        expect(allowed(statements, "kms:Decrypt", "arn:aws:kms:eu-west-1:123456789012:key/old", { ...viaS3, "kms:EncryptionContext:aws:s3:arn": object })).toBe(
            true,
        );
        expect(
            allowed(statements, "kms:Decrypt", "arn:aws:kms:eu-west-1:123456789012:key/old", { ...viaS3, "kms:EncryptionContext:aws:s3:arn": `${object}x` }),
        ).toBe(false);
        expect(allowed(backupPolicy("plain"), "s3:GetObject", object)).toBe(false);
    });
});

describe("the backup-age alarm", () => {
    test("over three intervals, or no figure for two periods; notifies the topic when given", () => {
        const alarm = one(T.alarm, "plain-backup-age").inputs;
        expect(alarm).toMatchObject({
            namespace: "EtcdCluster/Backup",
            metricName: "NewestBackupAgeSeconds",
            dimensions: { ClusterId: clusterIdOf("plain") },
            statistic: "Maximum",
            period: 900,
            evaluationPeriods: 2,
            datapointsToAlarm: 2,
            threshold: 2700,
            comparisonOperator: "GreaterThanThreshold",
            treatMissingData: "breaching",
        });
        expect(alarm.alarmActions).toEqual([]);
        const own = one(T.alarm, "own-backup-age").inputs;
        expect(own).toMatchObject({ period: 3600, threshold: 10800, alarmActions: [topic], okActions: [topic] });
    });
});

describe("the backup before a change", () => {
    test("every member's rolling gate backs the cluster up once healthy: on the members in ssm mode, from this machine in direct mode; not without backups", () => {
        const gate = (cluster: string, i: number) => one(T.command, `${cluster}-member-${i}-rolled`).inputs;
        for (const i of [0, 1, 2]) {
            expect(gate("plain", i).environment).toMatchObject({ ETCD_GATE_MODE: "ssm", ETCD_GATE_BACKUP: "1" });
            expect(gate("plain", i).update).toContain('run_ssm "etcd backup before a change" "/usr/local/sbin/etcd-backup --from-leader"');
            expect(gate("off", i).environment.ETCD_GATE_BACKUP).toBeUndefined();
            // Direct mode: the gate backs up from the machine that runs pulumi up, told where to.
            expect(gate("direct", i).environment).toMatchObject({
                ETCD_GATE_MODE: "direct",
                ETCD_GATE_BACKUP: "1",
                ETCD_GATE_BACKUP_URL: `s3://${one(T.bucket, "direct-backups").id}/etcd-backups/${clusterIdOf("direct")}/snapshots/`,
                ETCD_GATE_BACKUP_KMS_KEY_ARN: keyArnOf("direct"),
                ETCD_GATE_CLUSTER_ID: clusterIdOf("direct"),
            });
        }
        // The final gate of the cluster does not back up: nothing changes after it.
        expect(one(T.command, "plain-ready").inputs.environment.ETCD_GATE_BACKUP).toBeUndefined();
    });
});

describe("tools and user-data", () => {
    test("the tools object is plain text with the cluster's values; user-data pins its URL and SHA-256; members wait for it", () => {
        const tools = one(T.object, "plain-member-tools");
        const bucket = one(T.bucket, "plain-backups").id;
        const key = `etcd-backups/${clusterIdOf("plain")}/tools/member-tools.sh`;
        expect(tools.inputs).toMatchObject({ bucket, key, contentType: "text/x-shellscript", serverSideEncryption: "aws:kms", kmsKeyId: keyArnOf("plain") });
        const content = tools.inputs.content as string;
        expect(content).toContain(`readonly BUCKET='${bucket}' PREFIX='etcd-backups/${clusterIdOf("plain")}/snapshots/'`);
        expect(content).toContain(`readonly KMS_KEY='${keyArnOf("plain")}'`);
        expect(content).toContain("OnCalendar=*-*-* *:00/15:00");
        expect(content).not.toContain("etcd-restore");
        expect(content).toContain("systemctl enable --now --no-block etcd-backup.timer");
        const sha = createHash("sha256").update(content).digest("hex");
        for (const i of [0, 1, 2]) {
            expect(bootScript("plain", i)).toContain(`readonly TOOLS_URL='s3://${bucket}/${key}' TOOLS_SHA256='${sha}'`);
            expect(one(T.instance, `plain-member-${i}`).dependsOn).toContain(tools.urn);
            expect(Buffer.byteLength(userData("plain", i))).toBeLessThanOrEqual(userDataBudgetBytes);
        }
    });

    test("a caller's bucket: used as given under its prefix, nothing created for it", () => {
        expect(of("own", T.bucket)).toEqual([]);
        expect(of("own", T.bucketPolicy)).toEqual([]);
        expect(one(T.object, "own-member-tools").inputs).toMatchObject({
            bucket: "company-etcd-backups",
            key: `prod/${clusterIdOf("own")}/tools/member-tools.sh`,
        });
        expect(backupPolicy("own")[0]).toMatchObject({
            Action: "s3:PutObject",
            Resource: `arn:aws:s3:::company-etcd-backups/prod/${clusterIdOf("own")}/snapshots/*`,
        });
        expect(one(T.object, "own-member-tools").inputs.content).toContain("OnCalendar=*-*-* 00/1:00:00");
    });

    test("backups off: no bucket, alarm, tools or backup policy, and the boot script has no backup step", () => {
        for (const type of [T.bucket, T.alarm, T.object]) expect(of("off", type)).toEqual([]);
        expect(mocks.resources.filter((r) => r.type === T.policy && r.name.startsWith("off-") && r.name.endsWith("-backup"))).toEqual([]);
        expect(bootScript("off")).not.toContain("install_tools");
        expect(bootScript("off")).not.toContain("etcd-backup");
    });

    test("restore: the tools restore before etcd starts, with the revision bump on 3.6; 3.4.23 restores without it and warns", () => {
        const content = one(T.object, "restored-member-tools").inputs.content as string;
        expect(content).toContain("readonly BUCKET='old-etcd-backups' KEY='etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz'");
        expect(content).toContain("etcdutl snapshot restore");
        expect(content).toContain("--bump-revision 1000000000 --mark-compacted");
        const main = bootScript("restored").slice(bootScript("restored").indexOf("main() {"));
        expect(main.indexOf("/usr/local/sbin/etcd-restore")).toBeGreaterThan(main.indexOf("prepare_data_volume"));
        expect(main.indexOf("/usr/local/sbin/etcd-restore")).toBeLessThan(main.indexOf("start_etcd"));
        const old = one(T.object, "restored34-member-tools").inputs.content as string;
        expect(old).toContain("etcdctl snapshot restore");
        expect(old).not.toContain("--bump-revision");
        expect(warnings.some((w) => w.startsWith("restore with etcd 3.4.23: revisions are not bumped"))).toBe(true);
        expect(bootScript("plain")).not.toContain("etcd-restore");
        // A new cluster token: the restored cluster never shares one with the cluster the snapshot came from.
        const env = (cluster: string) => parse(userData(cluster)).write_files.find((f: { path: string }) => f.path === "/etc/etcd/etcd.env").content as string;
        expect(env("restored")).toMatch(new RegExp(`\nETCD_INITIAL_CLUSTER_TOKEN=${clusterIdOf("restored")}-r[0-9a-f]{8}\n`));
        expect(env("plain")).toContain(`\nETCD_INITIAL_CLUSTER_TOKEN=${clusterIdOf("plain")}\n`);
    });
});

describe("validation", () => {
    const v = parseVersion("3.6.14")!;
    test.each([
        [
            { intervalMinutes: 7 },
            "backup.intervalMinutes: expected one of 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440 (they divide an hour or a day), got 7",
        ],
        [
            { prefix: "no-slash" },
            'backup.prefix: expected a key prefix of letters, digits, . _ - ending in "/", such as "etcd-backups/", or "", got "no-slash"',
        ],
        [{ retention: { allDays: 10, dailyDays: 5 } }, "backup.retention.dailyDays: expected an integer from 10 to 3650, got 5"],
        [{ retention: { allDays: 0 } }, "backup.retention.allDays: expected an integer from 1 to 3650, got 0"],
        [{ bucketName: "Bad_Bucket" }, 'backup.bucketName: expected an S3 bucket name: 3 to 63 lowercase letters, digits, dots and dashes, got "Bad_Bucket"'],
        [{ alarmTopicArn: "topic" }, 'backup.alarmTopicArn: expected an SNS topic ARN such as "arn:aws:sns:eu-west-1:123456789012:etcd-alerts", got "topic"'],
        [{ enabled: "yes" }, 'backup.enabled: expected true or false, got "yes"'],
    ])("backup %j is refused with a message naming the argument", (backup, message) => {
        expect(() => resolveBackup(backup as never)).toThrow(message);
    });

    test("restore.from must be an s3:// object URL, and needs backups on", () => {
        const w: string[] = [];
        expect(() => resolveRestore({ from: "https://x/y" }, v, resolveBackup(undefined), w)).toThrow(
            'restore.from: expected an S3 object URL such as "s3://my-bucket/',
        );
        expect(() => resolveRestore({ from: "s3://bucket-only" }, v, resolveBackup(undefined), w)).toThrow("restore.from: expected an S3 object URL");
        expect(() => resolveRestore({ from: "s3://b-1/k$(id)" }, v, resolveBackup(undefined), w)).toThrow("restore.from: expected an S3 object URL");
        expect(() => resolveRestore({ from: "s3://b-1/k.db.gz" }, v, undefined, w)).toThrow("restore: expected backups enabled");
        expect(resolveRestore({ from: "s3://b-1/p/k.db.gz" }, v, resolveBackup(undefined), w)).toEqual({ bucket: "b-1", key: "p/k.db.gz", bumpRevision: true });
        expect(w).toEqual([]);
    });

    test("the revision bump by version: 3.4.27+, 3.5.10+, 3.6", () => {
        const bump = (text: string) => resolveRestore({ from: "s3://b-1/k" }, parseVersion(text)!, resolveBackup(undefined), [])!.bumpRevision;
        expect([bump("3.4.26"), bump("3.4.27"), bump("3.5.9"), bump("3.5.10"), bump("3.6.0")]).toEqual([false, true, false, true, true]);
    });

    test("a bad backup argument leaves nothing registered", async () => {
        const before = mocks.resources.length;
        expect(() => new EtcdCluster("bad", { ...base, backup: { intervalMinutes: 7 } })).toThrow("backup.intervalMinutes");
        await settled(mocks);
        expect(mocks.resources.length).toBe(before);
    });
});
