// What backup.ts decides, checked literally: the bucket and each of its settings (public access, ownership,
// versioning, encryption, policy, lifecycle) with their options; the backup-age alarm; the tools object; the
// members' backup permissions; restore; and every refusal of `backup` and `restore` with its message. A few
// one-member clusters that differ in exactly what backup.ts decides.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { parse } from "yaml";
import type { EtcdClusterArgs } from "../../components";
import { backupLayout, backupStore, checkBucketName, resolveBackup, resolveRestore, restoreBumpsRevision, snapshotTool } from "../../components/backup";
import { parseVersion } from "../../components/releases";
import { renderToolsInstaller, memberToolFiles } from "../../components/render/backup";
import { defragFiles } from "../../components/render/maintenance";
import { renderMembershipLibrary } from "../../components/render/membership";
import { RecordedResource, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";
import { buildClusters } from "../helpers/mockClusters";

jest.setTimeout(60_000);

const T = {
    component: "etcd-cluster:index:EtcdCluster",
    bucket: "aws:s3/bucket:Bucket",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    object: "aws:s3/bucketObjectv2:BucketObjectv2",
    alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    instance: "aws:ec2/instance:Instance",
    kms: "aws:kms/key:Key",
    parameter: "aws:ssm/parameter:Parameter",
    command: "command:local:Command",
};

const topic = "arn:aws:sns:eu-west-1:123456789012:etcd-alerts";
const restoreFrom = "s3://old-etcd-backups/etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz";
const one = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111"], size: 1 } satisfies EtcdClusterArgs;

const build: Record<string, EtcdClusterArgs> = {
    // The component's own bucket with the defaults: every 15 minutes, 7/90/30 days.
    own: { ...one, tags: { team: "platform" } },
    // The caller's bucket and topic, a daily backup, the caller's retention.
    given: {
        ...one,
        backup: {
            bucketName: "company-etcd-backups",
            prefix: "prod/",
            intervalMinutes: 1440,
            alarmTopicArn: topic,
            retention: { allDays: 3, dailyDays: 30, noncurrentDays: 10 },
        },
    },
    // A restored cluster (3.6 bumps the revision), twice a day, the readiness check from this machine.
    restored: { ...one, backup: { intervalMinutes: 720 }, restore: { from: restoreFrom }, readiness: { mode: "direct" } },
};

let mocks: StackMocks;
let warnings: string[];

beforeAll(async () => {
    ({ mocks, warnings } = await buildClusters(build));
});

const get = (type: string, name: string) => mocks.get(type, name);
const of = (cluster: string, type: string): RecordedResource[] => mocks.resources.filter((r) => r.type === type && r.name.startsWith(`${cluster}-`));
const componentUrn = (cluster: string) => mocks.resources.find((r) => r.name === cluster && r.type === T.component)!.urn;
/** The cluster id, from its discovery parameter /etcd/<id>/members. */
const clusterIdOf = (cluster: string) => /^\/etcd\/([^/]+)\/members$/.exec(get(T.parameter, `${cluster}-members`).inputs.name)![1];
const keyArnOf = (cluster: string) => get(T.kms, `${cluster}-kms`).outputs.arn as string;
const bucketOf = (cluster: string) => get(T.bucket, `${cluster}-backups`);
const userData = (cluster: string) => get(T.instance, `${cluster}-member-0`).inputs.userData as string;
const bootScript = (cluster: string) =>
    parse(userData(cluster)).write_files.find((f: { path: string }) => f.path === "/usr/local/sbin/etcd-bootstrap").content as string;
const backupPolicy = (cluster: string) => JSON.parse(get(T.rolePolicy, `${cluster}-member-0-backup`).inputs.policy);

describe("the bucket the component creates", () => {
    test("the cluster id names the bucket; tagged; kept on destroy; a child of the cluster", () => {
        const id = clusterIdOf("own");
        expect(id).toMatch(/^own-[0-9a-f]{8}$/);
        const bucket = bucketOf("own");
        expect(bucket.inputs).toEqual({ bucketPrefix: `etcd-backups-${id.slice(4)}-`, tags: { team: "platform", "etcd:cluster": id } });
        expect(bucket.retainOnDelete).toBe(true);
        expect(bucket.parent).toBe(componentUrn("own"));
        expect(of("own", T.bucket).map((r) => r.name)).toEqual(["own-backups"]);
    });

    test("ownership, public access, versioning and encryption: exact inputs, children of the cluster, not kept on destroy", () => {
        const bucketId = bucketOf("own").id;
        const settings: [string, Record<string, unknown>][] = [
            [T.ownership, { bucket: bucketId, rule: { objectOwnership: "BucketOwnerEnforced" } }],
            [T.publicAccess, { bucket: bucketId, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }],
            [T.versioning, { bucket: bucketId, versioningConfiguration: { status: "Enabled" } }],
            [
                T.encryption,
                {
                    bucket: bucketId,
                    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArnOf("own") }, bucketKeyEnabled: false }],
                },
            ],
        ];
        for (const [type, inputs] of settings) {
            const r = get(type, "own-backups");
            expect({ type, inputs: r.inputs, parent: r.parent, retainOnDelete: r.retainOnDelete }).toEqual({
                type,
                inputs,
                parent: componentUrn("own"),
                retainOnDelete: false,
            });
        }
    });

    test("policy: TLS only, objects only under aws:kms with the cluster's key; registered after the public access block", () => {
        const bucket = bucketOf("own");
        const arn = `arn:aws:s3:::${bucket.id}`;
        expect(bucket.outputs.arn).toBe(arn);
        const policy = get(T.bucketPolicy, "own-backups");
        expect(policy.inputs.bucket).toBe(bucket.id);
        expect(JSON.parse(policy.inputs.policy)).toEqual({
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
                    Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArnOf("own") } },
                },
            ],
        });
        expect(policy.parent).toBe(componentUrn("own"));
        expect(policy.retainOnDelete).toBe(false);
        expect(policy.dependsOn).toContain(get(T.publicAccess, "own-backups").urn);
    });

    test("lifecycle: frequent/ for 7 days, daily/ for 90, previous versions for 30, unfinished uploads for 1; after versioning", () => {
        const prefix = `etcd-backups/${clusterIdOf("own")}/snapshots/`;
        const lifecycle = get(T.lifecycle, "own-backups");
        expect(lifecycle.inputs).toEqual({
            bucket: bucketOf("own").id,
            rules: [
                {
                    id: "frequent",
                    status: "Enabled",
                    filter: { prefix: `${prefix}frequent/` },
                    expiration: { days: 7 },
                    noncurrentVersionExpiration: { noncurrentDays: 30 },
                    abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
                },
                {
                    id: "daily",
                    status: "Enabled",
                    filter: { prefix: `${prefix}daily/` },
                    expiration: { days: 90 },
                    noncurrentVersionExpiration: { noncurrentDays: 30 },
                    abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
                },
            ],
        });
        expect(lifecycle.parent).toBe(componentUrn("own"));
        expect(lifecycle.retainOnDelete).toBe(false);
        expect(lifecycle.dependsOn).toContain(get(T.versioning, "own-backups").urn);
    });

    test("a caller's bucket: nothing created for it", () => {
        for (const type of [T.bucket, T.ownership, T.publicAccess, T.versioning, T.encryption, T.bucketPolicy, T.lifecycle]) {
            expect({ type, resources: of("given", type) }).toEqual({ type, resources: [] });
        }
    });

    test("a caller's bucket known only at deployment: used once known; nothing for the members to wait for", async () => {
        const parent = new pulumi.ComponentResource("test:index:Parent", "late-parent");
        const backup = { ...resolveBackup(undefined)!, bucketName: pulumi.output("company-backups") };
        const store = backupStore({
            name: "late",
            clusterId: "late-0a1b2c3d",
            backup,
            kmsKeyArn: pulumi.output("k"),
            tags: pulumi.output<Record<string, string>>({}),
            parent,
        });
        expect(store.ready).toEqual([]);
        expect(store.layout).toEqual({
            clusterPrefix: "etcd-backups/late-0a1b2c3d/",
            snapshotsPrefix: "etcd-backups/late-0a1b2c3d/snapshots/",
            toolsKey: "etcd-backups/late-0a1b2c3d/tools/member-tools.sh",
        });
        expect(await valueOf(store.bucket)).toBe("company-backups");
        // A name refused once known fails the deployment, naming the argument.
        const bad = backupStore({
            name: "late-bad",
            clusterId: "late-bad-0a1b2c3d",
            backup: { ...backup, bucketName: pulumi.output("Company_Backups") },
            kmsKeyArn: pulumi.output("k"),
            tags: pulumi.output<Record<string, string>>({}),
            parent,
        });
        // Every promise the failed output holds rejects; all but the value's are caught here.
        const failed = bad.bucket as unknown as {
            isKnown: Promise<boolean>;
            isSecret: Promise<boolean>;
            allResources?: () => Promise<unknown>;
            promise(): Promise<string>;
        };
        for (const p of [failed.isKnown, failed.isSecret, failed.allResources?.()]) Promise.resolve(p).catch(() => undefined);
        await expect(failed.promise()).rejects.toThrow(
            'backup.bucketName: expected an S3 bucket name: 3 to 63 lowercase letters, digits, dots and dashes, got "Company_Backups"',
        );
    });
});

describe("the backup-age alarm", () => {
    const alarm = (cluster: string, minutes: number, evaluation: number, actions: string[]) => ({
        alarmDescription: `etcd cluster ${clusterIdOf(cluster)}: the newest backup is older than ${3 * minutes} minutes, or no member reports its age`,
        namespace: "EtcdCluster/Backup",
        metricName: "NewestBackupAgeSeconds",
        dimensions: { ClusterId: clusterIdOf(cluster) },
        statistic: "Maximum",
        period: minutes * 60,
        evaluationPeriods: evaluation,
        datapointsToAlarm: evaluation,
        threshold: minutes * 180,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "breaching",
        alarmActions: actions,
        okActions: actions,
        tags: { ...(cluster === "own" ? { team: "platform" } : {}), "etcd:cluster": clusterIdOf(cluster) },
    });

    test("every 15 minutes: over 45 minutes or no figure for two periods of 15 minutes; no topic, no actions", () => {
        const r = get(T.alarm, "own-backup-age");
        expect(r.inputs).toEqual(alarm("own", 15, 2, []));
        expect(r.inputs.alarmDescription).toBe(`etcd cluster ${clusterIdOf("own")}: the newest backup is older than 45 minutes, or no member reports its age`);
        expect([r.inputs.period, r.inputs.threshold]).toEqual([900, 2700]);
        expect(r.parent).toBe(componentUrn("own"));
        expect(of("own", T.alarm).map((a) => a.name)).toEqual(["own-backup-age"]);
    });

    test("twice a day: two periods of 12 hours are exactly CloudWatch's day of evaluation", () => {
        expect(get(T.alarm, "restored-backup-age").inputs).toEqual(alarm("restored", 720, 2, []));
        expect(get(T.alarm, "restored-backup-age").inputs.threshold).toBe(129600);
    });

    test("daily: one period of a day; the caller's topic for alarm and recovery", () => {
        expect(get(T.alarm, "given-backup-age").inputs).toEqual(alarm("given", 1440, 1, [topic]));
        expect(get(T.alarm, "given-backup-age").inputs.period).toBe(86400);
    });
});

describe("the tools object", () => {
    const installer = (cluster: string, bucket: string, prefix: string, interval: number, restore?: { bucket: string; key: string }) =>
        renderToolsInstaller(
            [
                ...defragFiles(),
                { path: "/usr/local/lib/etcd/membership.sh", content: renderMembershipLibrary(), mode: "0644" },
                ...memberToolFiles({
                    backup: {
                        clusterId: clusterIdOf(cluster),
                        version: "3.6.14",
                        snapshotTool: "etcdutl",
                        bucket,
                        prefix,
                        kmsKeyArn: keyArnOf(cluster),
                        region: "eu-west-1",
                        intervalMinutes: interval,
                    },
                    restore: restore && { ...restore, region: "eu-west-1", snapshotTool: "etcdutl", bumpRevision: true },
                }),
            ],
            ["etcd-backup.timer", "etcd-defrag.timer"],
        );

    test("the component's bucket: plain text under tools/, the cluster's key, after the bucket's settings; user-data pins it", () => {
        const tools = get(T.object, "own-member-tools");
        const bucket = bucketOf("own").id;
        const id = clusterIdOf("own");
        const content = installer("own", bucket, `etcd-backups/${id}/snapshots/`, 15);
        expect(tools.inputs).toEqual({
            bucket,
            key: `etcd-backups/${id}/tools/member-tools.sh`,
            content,
            contentType: "text/x-shellscript",
            serverSideEncryption: "aws:kms",
            kmsKeyId: keyArnOf("own"),
            tags: { team: "platform", "etcd:cluster": id },
        });
        expect(content).toContain(`readonly BUCKET='${bucket}' PREFIX='etcd-backups/${id}/snapshots/'`);
        expect(content).toContain("OnCalendar=*-*-* *:00/15:00");
        expect(content).not.toContain("etcd-restore");
        expect(tools.parent).toBe(componentUrn("own"));
        const settingsUrns = [T.ownership, T.publicAccess, T.versioning, T.encryption, T.bucketPolicy, T.lifecycle].map((t) => get(t, "own-backups").urn);
        expect(tools.dependsOn).toEqual(expect.arrayContaining(settingsUrns));
        // The member waits for the bucket's settings and the tools, and its user-data pins the object.
        expect(get(T.instance, "own-member-0").dependsOn).toEqual(expect.arrayContaining([...settingsUrns, tools.urn]));
        const sha = createHash("sha256").update(content).digest("hex");
        expect(bootScript("own")).toContain(`readonly TOOLS_URL='s3://${bucket}/etcd-backups/${id}/tools/member-tools.sh' TOOLS_SHA256='${sha}'`);
        expect(bootScript("own")).not.toContain("/usr/local/sbin/etcd-restore");
    });

    test("a caller's bucket: under its prefix, daily; the member waits for the tools only", () => {
        const id = clusterIdOf("given");
        const tools = get(T.object, "given-member-tools");
        const content = installer("given", "company-etcd-backups", `prod/${id}/snapshots/`, 1440);
        expect(tools.inputs).toEqual({
            bucket: "company-etcd-backups",
            key: `prod/${id}/tools/member-tools.sh`,
            content,
            contentType: "text/x-shellscript",
            serverSideEncryption: "aws:kms",
            kmsKeyId: keyArnOf("given"),
            tags: { "etcd:cluster": id },
        });
        expect(content).toContain("OnCalendar=*-*-* 00:00:00");
        const sha = createHash("sha256").update(content).digest("hex");
        expect(bootScript("given")).toContain(`readonly TOOLS_URL='s3://company-etcd-backups/prod/${id}/tools/member-tools.sh' TOOLS_SHA256='${sha}'`);
        expect(get(T.instance, "given-member-0").dependsOn).toContain(tools.urn);
    });

    test("restore: the tools restore that one object, and the boot script runs them before etcd starts", () => {
        const id = clusterIdOf("restored");
        const bucket = bucketOf("restored").id;
        const content = installer("restored", bucket, `etcd-backups/${id}/snapshots/`, 720, {
            bucket: "old-etcd-backups",
            key: "etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz",
        });
        expect(get(T.object, "restored-member-tools").inputs.content).toBe(content);
        expect(content).toContain("readonly BUCKET='old-etcd-backups' KEY='etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz'");
        expect(content).toContain("--bump-revision 1000000000 --mark-compacted");
        expect(bootScript("restored")).toContain("/usr/local/sbin/etcd-restore");
        expect(warnings.filter((w) => w.startsWith("restore"))).toEqual([]);
    });

    test("direct readiness: the backup before a change is told the cluster's snapshot prefix, key and region", () => {
        const envs = of("restored", T.command)
            .map((c) => c.inputs.environment as Record<string, string> | undefined)
            .filter((e): e is Record<string, string> => e?.ETCD_GATE_BACKUP_URL !== undefined);
        expect(envs.length).toBeGreaterThan(0);
        for (const env of envs) {
            expect(env).toMatchObject({
                ETCD_GATE_BACKUP_URL: `s3://${bucketOf("restored").id}/etcd-backups/${clusterIdOf("restored")}/snapshots/`,
                ETCD_GATE_BACKUP_KMS_KEY_ARN: keyArnOf("restored"),
            });
            expect(Object.values(env)).toContain("eu-west-1");
        }
    });
});

describe("the members' backup permissions", () => {
    const statements = (bucket: string, prefix: string, key: string) => {
        const s3 = (k = "") => `arn:aws:s3:::${bucket}${k ? `/${k}` : ""}`;
        return [
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
                Resource: key,
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
        ];
    };

    test("a caller's bucket: its prefix, the cluster's key", () => {
        expect(backupPolicy("given")).toEqual({
            Version: "2012-10-17",
            Statement: statements("company-etcd-backups", `prod/${clusterIdOf("given")}/`, keyArnOf("given")),
        });
    });

    test("restore: read and decrypt the one snapshot object as well", () => {
        const object = "arn:aws:s3:::old-etcd-backups/etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz";
        expect(backupPolicy("restored")).toEqual({
            Version: "2012-10-17",
            Statement: [
                ...statements(bucketOf("restored").id, `etcd-backups/${clusterIdOf("restored")}/`, keyArnOf("restored")),
                { Sid: "ReadRestoreSnapshot", Effect: "Allow", Action: "s3:GetObject", Resource: object },
                {
                    Sid: "DecryptRestoreSnapshot",
                    Effect: "Allow",
                    Action: "kms:Decrypt",
                    Resource: "*",
                    Condition: { StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": object } },
                },
            ],
        });
        expect(backupPolicy("own").Statement).toHaveLength(5);
    });
});

describe("resolveBackup", () => {
    const defaults = {
        bucketName: undefined,
        prefix: "etcd-backups/",
        intervalMinutes: 15,
        retention: { allDays: 7, dailyDays: 90, noncurrentDays: 30 },
        alarmTopicArn: undefined,
    };
    const refused = (backup: unknown, message: string) => expect(() => resolveBackup(backup as never)).toThrow(message);
    const accepted = (backup: unknown) => expect(() => resolveBackup(backup as never)).not.toThrow();

    test("defaults: on, every 15 minutes under etcd-backups/, 7/90/30 days, no topic; off when enabled is false", () => {
        expect(resolveBackup(undefined)).toEqual(defaults);
        expect(resolveBackup({})).toEqual(defaults);
        expect(resolveBackup(null as never)).toEqual(defaults);
        expect(resolveBackup({ enabled: true })).toEqual(defaults);
        expect(resolveBackup({ enabled: false })).toBeUndefined();
        expect(resolveBackup({ enabled: false, intervalMinutes: 7 })).toBeUndefined();
    });

    test("every value given is kept", () => {
        expect(
            resolveBackup({
                bucketName: "company-etcd-backups",
                prefix: "",
                intervalMinutes: 1440,
                retention: { allDays: 3650, dailyDays: 3650, noncurrentDays: 3650 },
                alarmTopicArn: topic,
            }),
        ).toEqual({
            bucketName: "company-etcd-backups",
            prefix: "",
            intervalMinutes: 1440,
            retention: { allDays: 3650, dailyDays: 3650, noncurrentDays: 3650 },
            alarmTopicArn: topic,
        });
        expect(resolveBackup({ intervalMinutes: 5, retention: { allDays: 1, dailyDays: 1, noncurrentDays: 1 } })).toMatchObject({
            intervalMinutes: 5,
            retention: { allDays: 1, dailyDays: 1, noncurrentDays: 1 },
        });
    });

    test("the daily copies are kept at least as long as every snapshot: 90 days, or allDays when longer", () => {
        expect(resolveBackup({ retention: { allDays: 3 } })!.retention).toEqual({ allDays: 3, dailyDays: 90, noncurrentDays: 30 });
        expect(resolveBackup({ retention: { allDays: 100 } })!.retention).toEqual({ allDays: 100, dailyDays: 100, noncurrentDays: 30 });
        expect(resolveBackup({ retention: { allDays: 10, dailyDays: 10 } })!.retention.dailyDays).toBe(10);
        refused({ retention: { allDays: 10, dailyDays: 9 } }, "backup.retention.dailyDays: expected an integer from 10 to 3650, got 9");
    });

    test("not an object, or enabled not a boolean", () => {
        refused("yes", 'backup: expected an object such as { intervalMinutes: 15 }, got "yes"');
        refused(true, "backup: expected an object such as { intervalMinutes: 15 }, got true");
        refused({ enabled: "yes" }, 'backup.enabled: expected true or false, got "yes"');
        refused({ enabled: 0 }, "backup.enabled: expected true or false, got 0");
    });

    test("retention: integers from 1 (from allDays for dailyDays) to 3650", () => {
        for (const field of ["allDays", "noncurrentDays"]) {
            for (const bad of [0, 3651, 1.5, "7"]) {
                refused(
                    { retention: { [field]: bad } },
                    `backup.retention.${field}: expected an integer from 1 to 3650, got ${typeof bad === "string" ? `"${bad}"` : bad}`,
                );
            }
        }
        refused({ retention: { dailyDays: 3651 } }, "backup.retention.dailyDays: expected an integer from 7 to 3650, got 3651");
        refused({ retention: { dailyDays: 6 } }, "backup.retention.dailyDays: expected an integer from 7 to 3650, got 6");
        expect(resolveBackup({ retention: { dailyDays: 7 } })!.retention.dailyDays).toBe(7);
    });

    test("intervals: those that divide an hour or a day", () => {
        for (const minutes of [5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440]) {
            expect(resolveBackup({ intervalMinutes: minutes as never })!.intervalMinutes).toBe(minutes);
        }
        for (const bad of [7, 0, 45, 2880]) {
            refused(
                { intervalMinutes: bad },
                `backup.intervalMinutes: expected one of 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440 (they divide an hour or a day), got ${bad}`,
            );
        }
        refused(
            { intervalMinutes: "15" },
            'backup.intervalMinutes: expected one of 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440 (they divide an hour or a day), got "15"',
        );
    });

    test("prefix: up to 8 segments of letters, digits, . _ - each ending in /, at most 200 characters, or empty", () => {
        const message = (p: string) =>
            `backup.prefix: expected a key prefix of letters, digits, . _ - ending in "/", such as "etcd-backups/", or "", got "${p}"`;
        for (const p of ["", "Etcd.Backups_2026-x/", "a/b/c/d/e/f/g/h/", "0/", `${"x".repeat(24)}/`.repeat(8)]) {
            expect(resolveBackup({ prefix: p })!.prefix).toBe(p);
        }
        expect(`${"x".repeat(24)}/`.repeat(8)).toHaveLength(200);
        for (const p of ["no-slash", "/", "/x/", "a//", "a b/", "a$/", "a/b/c/d/e/f/g/h/i/", `${"x".repeat(25)}/${`${"x".repeat(24)}/`.repeat(7)}`, "x/\n"]) {
            refused({ prefix: p }, message(p).replace("\n", "\\n"));
        }
        // A list is not a prefix, even one whose text would be.
        refused({ prefix: ["a/"] }, 'backup.prefix: expected a key prefix of letters, digits, . _ - ending in "/", such as "etcd-backups/", or "", got ["a/"]');
        refused({ prefix: 42 }, 'backup.prefix: expected a key prefix of letters, digits, . _ - ending in "/", such as "etcd-backups/", or "", got 42');
    });

    test("bucket names: S3's rules", () => {
        const message = (n: string) => `backup.bucketName: expected an S3 bucket name: 3 to 63 lowercase letters, digits, dots and dashes, got "${n}"`;
        for (const n of ["abc", "0ab", "ab9", "a.b-9c", "x".repeat(63), "xn-abc", "abc-s3", "sthree", "abc-ol-s3"]) {
            expect(checkBucketName("backup.bucketName", n)).toBe(n);
            expect(resolveBackup({ bucketName: n })!.bucketName).toBe(n);
        }
        for (const n of [
            "ab",
            "x".repeat(64),
            "xn--abc",
            "sthree-abc",
            "abc-s3alias",
            "abc--ol-s3",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "Abc",
            "a..b",
            "a_b",
            "abc\n",
            "ab c",
        ]) {
            refused({ bucketName: n }, message(n).replace("\n", "\\n"));
            expect(() => checkBucketName("bucket", n)).toThrow(`bucket: expected an S3 bucket name`);
        }
        // Known only at deployment: checked then (backupStore).
        expect(resolveBackup({ bucketName: pulumi.output("Not_Checked_Yet") })).toMatchObject({ prefix: "etcd-backups/" });
    });

    test("alarm topic: an SNS topic ARN in any partition", () => {
        for (const arn of [
            topic,
            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:Etcd_Alerts-1.fifo",
            "arn:aws-cn:sns:cn-north-1:123456789012:a",
            `arn:aws:sns:eu-west-1:123456789012:${"t".repeat(256)}`,
        ]) {
            expect(resolveBackup({ alarmTopicArn: arn })!.alarmTopicArn).toBe(arn);
        }
        for (const arn of [
            "topic",
            "arn:aws:sqs:eu-west-1:123456789012:etcd-alerts",
            "arn:aws:sns:eu-west-1:12345678901:etcd-alerts",
            "arn:aws:sns:eu-west-1:1234567890123:etcd-alerts",
            "arn:aws:sns:eu-west-1:12345678901a:etcd-alerts",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:etcd alerts",
            "arn:aws:sns:eu-west-1:123456789012:etcd.alerts",
            "arn:aws:sns::123456789012:etcd-alerts",
            "arn:aws:sns:EU-west-1:123456789012:etcd-alerts",
            "arn:awsX:sns:eu-west-1:123456789012:etcd-alerts",
            "xarn:aws:sns:eu-west-1:123456789012:etcd-alerts",
            `${topic}:x`,
            `${topic}.fifo.fifo`,
            `arn:aws:sns:eu-west-1:123456789012:${"t".repeat(257)}`,
        ]) {
            refused(
                { alarmTopicArn: arn },
                `backup.alarmTopicArn: expected an SNS topic ARN such as "arn:aws:sns:eu-west-1:123456789012:etcd-alerts", got "${arn}"`,
            );
        }
        accepted({ alarmTopicArn: pulumi.output(topic) });
    });
});

describe("resolveRestore", () => {
    const v36 = parseVersion("3.6.6")!;
    const backup = resolveBackup(undefined);
    const urlMessage = (got: string) =>
        `restore.from: expected an S3 object URL such as "s3://my-bucket/etcd-backups/prod-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz", got ${got}`;

    test("no restore; an s3:// object URL split into bucket and key; no warning where the revision is bumped", () => {
        const warnings: string[] = [];
        expect(resolveRestore(undefined, v36, backup, warnings)).toBeUndefined();
        expect(resolveRestore({ from: restoreFrom }, v36, backup, warnings)).toEqual({
            bucket: "old-etcd-backups",
            key: "etcd-backups/old-1a2b3c4d/snapshots/daily/20260101T000000Z-rev42.db.gz",
            bumpRevision: true,
        });
        expect(resolveRestore({ from: `s3://a.b-9/${"k".repeat(1024)}` }, v36, backup, warnings)).toMatchObject({ bucket: "a.b-9" });
        expect(resolveRestore({ from: "s3://abc/Az09!_.*'()/-k" }, v36, backup, warnings)).toMatchObject({ key: "Az09!_.*'()/-k" });
        expect(resolveRestore({ from: "s3://abc/k" }, v36, backup, warnings)).toMatchObject({ key: "k" });
        expect(warnings).toEqual([]);
    });

    test("refused: not an s3:// URL of a valid bucket and key", () => {
        for (const from of [
            "https://x/y",
            "s3://bucket-only",
            "s3://bucket-only/",
            "xs3://abc/k",
            "s3://ab/k",
            "s3://Bad_Bucket/k",
            "s3://a..b/k",
            "s3://abc/k$(id)",
            "s3://abc/k y",
            "s3://abc/k\nx",
            `s3://abc/${"k".repeat(1025)}`,
            "s3:///k",
        ]) {
            expect(() => resolveRestore({ from }, v36, backup, [])).toThrow(urlMessage(JSON.stringify(from)));
        }
        expect(() => resolveRestore({ from: ["s3://abc/k"] } as never, v36, backup, [])).toThrow(urlMessage('["s3://abc/k"]'));
        expect(() => resolveRestore({} as never, v36, backup, [])).toThrow(urlMessage("undefined"));
        expect(() => resolveRestore(null as never, v36, backup, [])).toThrow(urlMessage("undefined"));
        expect(() => resolveRestore("s3://abc/k" as never, v36, backup, [])).toThrow(urlMessage("undefined"));
    });

    test("needs backups on", () => {
        expect(() => resolveRestore({ from: "s3://abc/k" }, v36, undefined, [])).toThrow(
            'restore: expected backups enabled (the restore step is delivered through the backup bucket), or no restore, got "backup.enabled false"',
        );
    });

    test("a version that cannot bump the revision restores without it, with a warning", () => {
        const warnings: string[] = [];
        expect(resolveRestore({ from: "s3://abc/k" }, parseVersion("3.4.23")!, backup, warnings)).toEqual({ bucket: "abc", key: "k", bumpRevision: false });
        expect(warnings).toEqual([
            "restore with etcd 3.4.23: revisions are not bumped (needs 3.4.27+, 3.5.10+ or 3.6), so Kubernetes watchers may miss changes made after the snapshot; restart kube-apiservers after the restore",
        ]);
    });

    test("the revision bump: 3.4.27+, 3.5.10+, 3.6; the snapshot tool: etcdutl from 3.5", () => {
        const bumps = ["3.3.30", "3.4.9", "3.4.10", "3.4.26", "3.4.27", "3.5.9", "3.5.10", "3.5.27", "3.6.0", "3.7.0"].map((t) => [
            t,
            restoreBumpsRevision(parseVersion(t)!),
        ]);
        expect(bumps).toEqual([
            ["3.3.30", false],
            ["3.4.9", false],
            ["3.4.10", false],
            ["3.4.26", false],
            ["3.4.27", true],
            ["3.5.9", false],
            ["3.5.10", true],
            ["3.5.27", true],
            ["3.6.0", true],
            ["3.7.0", true],
        ]);
        expect(["3.4.23", "3.5.0", "3.6.6"].map((t) => snapshotTool(parseVersion(t)!))).toEqual(["etcdctl", "etcdutl", "etcdutl"]);
    });

    test("the layout of a cluster's keys", () => {
        expect(backupLayout("", "c-1")).toEqual({ clusterPrefix: "c-1/", snapshotsPrefix: "c-1/snapshots/", toolsKey: "c-1/tools/member-tools.sh" });
    });
});
