// Evaluates the example stack (index.ts) under Pulumi mocks with local subnets, and collects what AWS would
// receive for each member: its user-data, data volume id and SSM parameters, plus the client credentials
// and the readiness gate command. Certificates and keys are real (openssl), produced by the component's own
// @pulumi/tls resource graph.
import { join } from "path";
import { installStackMocks, MockSubnet, RecordedResource, settled, StackMocks, valueOf } from "../mocks/stackMocks";

export interface LocalRenderOptions {
    size: number;
    zones: number;
    version: string;
    /** file:// URL of the release tarball as the members see it. */
    binaryUrl: string;
    binarySha256: string;
    /** The member network's /24, e.g. "10.213.0". */
    networkPrefix: string;
    /** Enable etcd auth (3.5+). */
    auth?: boolean;
    /** The stack's tuning.quotaBackendBytes (etcd's 2 GiB when not given). */
    quotaBackendBytes?: number;
    /** false: the stack's backup.enabled is false. */
    backup?: boolean;
    stack?: string;
    /** s3://bucket/key of a snapshot the new cluster is restored from (the component's `restore`). */
    restoreFrom?: string;
    /** The running cluster's resources (its state): unchanged resources keep their ids, keys and certificates. */
    existing?: RecordedResource[];
}

/** The region the local stack is evaluated in: a real region name, as moto's SSM and KMS expect one. */
export const localRegion = "eu-west-1";

export interface LocalMemberPlan {
    name: string;
    ip: string;
    zone: string;
    subnetId: string;
    volumeId: string;
    userData: string;
    /** SSM parameter name -> value (the member's own keys and certificates, the cluster's membership parameters). */
    parameters: Record<string, string>;
    /**
     * The member's membership step as `pulumi up` runs it (direct mode): its create script (the gate on this
     * member and those before it) and delete script (the member's removal, on scale-down), with their environment.
     */
    step: { create: string; delete: string; environment: Record<string, string> };
}

/** A bucket as the component configures it, in the S3 API's terms. */
export interface LocalBucket {
    name: string;
    ownership?: string;
    publicAccessBlock?: Record<string, boolean>;
    versioning?: string;
    kmsKeyArn?: string;
    lifecycleRules?: Record<string, unknown>[];
    policy?: string;
}

/** What `pulumi up` would create in AWS and the members use at boot: the local backup store gets the same. */
export interface LocalAwsResources {
    buckets: LocalBucket[];
    objects: { bucket: string; key: string; content: string; contentType?: string; kmsKeyId?: string }[];
    parameters: { name: string; type: string; value: string; keyId?: string }[];
}

export interface LocalPlan {
    version: string;
    members: LocalMemberPlan[];
    clientEndpoints: string[];
    caCertPem: string;
    clientCertPem: string;
    clientKeyPem: string;
    etcdctlCommand: string;
    faultTolerance: { members: number; zones: number };
    /** The final readiness gate: the script and environment `pulumi up` would run (direct mode). */
    gate: { script: string; environment: Record<string, string> };
    warnings: string[];
    region: string;
    aws: LocalAwsResources;
    /** Every resource the program registered, as the engine received it (the local apply's state). */
    resources: RecordedResource[];
}

/** A lifecycle rule of the provider's BucketLifecycleConfiguration, as the S3 API takes it. */
function lifecycleRule(r: Record<string, any>): Record<string, unknown> {
    return {
        ID: r.id,
        Status: r.status,
        Filter: { Prefix: r.filter?.prefix ?? "" },
        ...(r.expiration?.days !== undefined ? { Expiration: { Days: r.expiration.days } } : {}),
        ...(r.noncurrentVersionExpiration ? { NoncurrentVersionExpiration: { NoncurrentDays: r.noncurrentVersionExpiration.noncurrentDays } } : {}),
        ...(r.abortIncompleteMultipartUpload
            ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortIncompleteMultipartUpload.daysAfterInitiation } }
            : {}),
    };
}

/** The S3 and SSM resources of the evaluated stack, in the terms of the AWS APIs. */
function awsResources(mocks: StackMocks): LocalAwsResources {
    const of = (kind: string) => mocks.ofType(`aws:s3/${kind[0].toLowerCase()}${kind.slice(1)}:${kind}`);
    const forBucket = (kind: string, bucket: string) => of(kind).find((r) => r.inputs.bucket === bucket)?.inputs;
    const buckets = mocks.ofType("aws:s3/bucket:Bucket").map((b): LocalBucket => {
        const name = b.id;
        const pab = forBucket("BucketPublicAccessBlock", name);
        const sse = forBucket("BucketServerSideEncryptionConfiguration", name)?.rules?.[0]?.applyServerSideEncryptionByDefault;
        return {
            name,
            ownership: forBucket("BucketOwnershipControls", name)?.rule?.objectOwnership,
            publicAccessBlock: pab && {
                BlockPublicAcls: !!pab.blockPublicAcls,
                BlockPublicPolicy: !!pab.blockPublicPolicy,
                IgnorePublicAcls: !!pab.ignorePublicAcls,
                RestrictPublicBuckets: !!pab.restrictPublicBuckets,
            },
            versioning: forBucket("BucketVersioning", name)?.versioningConfiguration?.status,
            kmsKeyArn: sse?.sseAlgorithm === "aws:kms" ? sse.kmsMasterKeyId : undefined,
            lifecycleRules: forBucket("BucketLifecycleConfiguration", name)?.rules?.map(lifecycleRule),
            policy: forBucket("BucketPolicy", name)?.policy,
        };
    });
    return {
        buckets,
        objects: of("BucketObjectv2").map((o) => localObject(o.inputs)),
        parameters: mocks.ofType("aws:ssm/parameter:Parameter").map((p) => localParameter(p.inputs)),
    };
}

/** An aws.s3.BucketObjectv2's inputs in the terms of S3's PutObject. */
export function localObject(inputs: Record<string, any>): LocalAwsResources["objects"][number] {
    return {
        bucket: inputs.bucket,
        key: inputs.key,
        content: inputs.content,
        contentType: inputs.contentType,
        kmsKeyId: inputs.serverSideEncryption === "aws:kms" ? inputs.kmsKeyId : undefined,
    };
}

/** An aws.ssm.Parameter's inputs in the terms of SSM's PutParameter (its declared type; a SecureString's key). */
export function localParameter(inputs: Record<string, any>): LocalAwsResources["parameters"][number] {
    return { name: inputs.name, type: inputs.type, value: inputs.value ?? inputs.insecureValue, keyId: inputs.keyId };
}

/** Subnets per zone inside one /24: a /26 each, so members of different zones never share an address. */
export function localSubnets(networkPrefix: string, zones: number): Record<string, MockSubnet> {
    const names = ["a", "b", "c", "d"];
    if (zones < 1 || zones > names.length) {
        throw new Error(`zones: expected 1 to ${names.length} for a local cluster, got ${zones}`);
    }
    return Object.fromEntries(
        names
            .slice(0, zones)
            .map((z, i) => [`subnet-local-${z}`, { cidrBlock: `${networkPrefix}.${i * 64}/26`, availabilityZone: `local-${z}`, vpcId: "vpc-local" }]),
    );
}

export async function renderLocalPlan(o: LocalRenderOptions): Promise<LocalPlan> {
    const subnets = localSubnets(o.networkPrefix, o.zones);
    const warnings: string[] = [];
    const mocks: StackMocks = await installStackMocks(
        { region: localRegion, subnets, tls: "real", existingResources: o.existing ?? [], replayExisting: true },
        {
            stack: o.stack ?? "local",
            config: {
                size: String(o.size),
                version: o.version,
                vpcId: "vpc-local",
                subnetIds: JSON.stringify(Object.keys(subnets)),
                binaryUrl: o.binaryUrl,
                binarySha256: o.binarySha256,
                readinessMode: "direct",
                ...(o.auth ? { auth: "true" } : {}),
                ...(o.restoreFrom ? { restoreFrom: o.restoreFrom } : {}),
                ...(o.quotaBackendBytes !== undefined ? { quotaBackendBytes: String(o.quotaBackendBytes) } : {}),
                ...(o.backup === false ? { backup: "false" } : {}),
            },
        },
    );
    const pulumi = await import("@pulumi/pulumi");
    const warn = pulumi.log.warn;
    pulumi.log.warn = (message: string) => {
        warnings.push(message);
        return Promise.resolve();
    };
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const stack = require(join(__dirname, "..", "..", "..", "index"));
        const [clientEndpoints, members, caCertPem, clientCertPem, clientKeyPem, etcdctlCommand, faultTolerance] = await Promise.all([
            valueOf<string[]>(stack.clientEndpoints),
            valueOf<{ name: string; privateIp: string; availabilityZone: string; subnetId: string }[]>(stack.members),
            valueOf<string>(stack.caCertPem),
            valueOf<string>(stack.clientCertPem),
            valueOf<string>(stack.clientKeyPem),
            valueOf<string>(stack.etcdctlCommand),
            valueOf<{ members: number; zones: number }>(stack.faultTolerance),
        ]);
        await settled(mocks);
        const instances = mocks.ofType("aws:ec2/instance:Instance");
        const attachments = mocks.ofType("aws:ec2/volumeAttachment:VolumeAttachment");
        const parameters = mocks.ofType("aws:ssm/parameter:Parameter");
        const gate = mocks.ofType("command:local:Command").find((c) => c.name.endsWith("-ready"));
        if (!gate) {
            throw new Error("the example stack has no readiness gate command");
        }
        const plan: LocalPlan = {
            version: o.version,
            clientEndpoints,
            caCertPem,
            clientCertPem,
            clientKeyPem,
            etcdctlCommand,
            faultTolerance,
            gate: { script: gate.inputs.create, environment: gate.inputs.environment },
            warnings,
            region: localRegion,
            aws: awsResources(mocks),
            resources: mocks.resources,
            members: members.map((m, i) => {
                const instance = instances.find((r) => r.name.endsWith(`-member-${i}`));
                const attachment = attachments.find((r) => r.name.endsWith(`-member-${i}-data`));
                const step = mocks.ofType("command:local:Command").find((r) => r.name.endsWith(`-member-${i}-rolled`));
                if (!instance || !attachment || !step) {
                    throw new Error(`member ${m.name}: no instance, volume attachment or membership step was registered`);
                }
                return {
                    name: m.name,
                    ip: m.privateIp,
                    zone: m.availabilityZone,
                    subnetId: m.subnetId,
                    volumeId: attachment.inputs.volumeId,
                    userData: instance.inputs.userData,
                    step: { create: step.inputs.create, delete: step.inputs.delete, environment: step.inputs.environment },
                    parameters: Object.fromEntries(
                        parameters
                            // Its own keys and certificates, and the cluster's membership parameters.
                            .filter((p) => String(p.inputs.name).includes(`/${m.name}/`) || /\/(members|membership\.sh)$/.test(String(p.inputs.name)))
                            .map((p) => [p.inputs.name, p.inputs.value ?? p.inputs.insecureValue]),
                    ),
                };
            }),
        };
        return plan;
    } finally {
        pulumi.log.warn = warn;
    }
}
