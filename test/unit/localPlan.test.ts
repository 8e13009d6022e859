// What `npm run local` creates in the local backup store before the members boot: the example stack's own S3
// and SSM resources, translated into the terms of the AWS APIs (scripts/local/aws-provision.py sends them).
import { createHash } from "crypto";
import { LocalPlan, renderLocalPlan } from "../../scripts/lib/local/localRender";

jest.setTimeout(120_000);

let plan: LocalPlan;
beforeAll(async () => {
    plan = await renderLocalPlan({
        size: 3,
        zones: 3,
        version: "3.5.30",
        binaryUrl: "file:///run/etcd-mirror/v3.5.30/etcd-v3.5.30-linux-amd64.tar.gz",
        binarySha256: "a".repeat(64),
        networkPrefix: "10.213.9",
        stack: "plantest",
        restoreFrom: "s3://etcd-backups-0123abcd-1/etcd-backups/etcd-0123abcd/snapshots/daily/20260101T000000Z-rev42.db.gz",
    });
});

test("a region moto's SSM and KMS know", () => {
    expect(plan.region).toBe("eu-west-1");
});

test("the backup bucket with the component's settings, in the S3 API's terms", () => {
    expect(plan.aws.buckets).toHaveLength(1);
    const [b] = plan.aws.buckets;
    const clusterId = /TOOLS_URL='s3:\/\/[^/]+\/etcd-backups\/([^/]+)\//.exec(plan.members[0].userData)![1];
    expect(b.name).toMatch(new RegExp(`^etcd-backups-${clusterId.slice(-8)}-\\d+$`));
    expect(b).toMatchObject({
        ownership: "BucketOwnerEnforced",
        versioning: "Enabled",
        publicAccessBlock: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    expect(b.kmsKeyArn).toMatch(/^arn:aws:kms:eu-west-1:\d{12}:key\//);
    expect(b.lifecycleRules).toEqual([
        {
            ID: "frequent",
            Status: "Enabled",
            Filter: { Prefix: `etcd-backups/${clusterId}/snapshots/frequent/` },
            Expiration: { Days: 7 },
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
        {
            ID: "daily",
            Status: "Enabled",
            Filter: { Prefix: `etcd-backups/${clusterId}/snapshots/daily/` },
            Expiration: { Days: 90 },
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
    ]);
    expect(JSON.parse(b.policy!).Statement.map((s: { Sid: string }) => s.Sid)).toEqual(["DenyWithoutTls", "DenyOtherEncryption", "DenyOtherKmsKeys"]);
});

test("the tools object is what every member's user-data pins, SSE-KMS with the cluster's key, and holds the restore step", () => {
    expect(plan.aws.objects).toHaveLength(1);
    const [o] = plan.aws.objects;
    expect(o.kmsKeyId).toBe(plan.aws.buckets[0].kmsKeyArn);
    expect(o.bucket).toBe(plan.aws.buckets[0].name);
    const sha = createHash("sha256").update(o.content).digest("hex");
    for (const m of plan.members) expect(m.userData).toContain(`TOOLS_URL='s3://${o.bucket}/${o.key}' TOOLS_SHA256='${sha}'`);
    expect(o.content).toContain("/usr/local/sbin/etcd-restore");
    expect(o.content).toContain("KEY='etcd-backups/etcd-0123abcd/snapshots/daily/20260101T000000Z-rev42.db.gz'");
});

test("each member's parameters: keys as SecureString under the cluster's key, certificates as String; the cluster's discovery list as String", () => {
    expect(plan.aws.parameters).toHaveLength(16);
    for (const p of plan.aws.parameters) {
        if (p.name.endsWith("/members")) {
            // Every member's client URL: where a member with an empty data dir finds the running cluster.
            expect(p).toMatchObject({ type: "String", value: plan.clientEndpoints.join(",") });
        } else if (p.name.endsWith(".key")) {
            expect(p).toMatchObject({ type: "SecureString", keyId: plan.aws.buckets[0].kmsKeyArn });
            expect(p.value).toContain("PRIVATE KEY");
        } else {
            expect(p.type).toBe("String");
            expect(p.value).toContain("BEGIN CERTIFICATE");
        }
    }
    // The same values the members' parameters list (what `--plan-only` prints).
    for (const m of plan.members) {
        for (const [name, value] of Object.entries(m.parameters)) expect(plan.aws.parameters.find((p) => p.name === name)?.value).toBe(value);
    }
});
