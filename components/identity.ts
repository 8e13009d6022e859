import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdClusterArgs } from "./args";
import { clientCertificateParams, ClusterCa, clusterCa, issueCertificate, IssuedCertificate } from "./pki";
import { ssmFileNames } from "./render/memberUserData";
import { ClusterSettings } from "./validation";

/** What the whole cluster shares: the key that encrypts its secrets and volumes, its CA and the client certificate. */
export interface ClusterIdentity {
    /** The cluster's KMS key (the caller's or its own): encrypts the key parameters, and the volumes unless overridden. */
    kmsKeyArn: pulumi.Output<string>;
    /** The KMS key of the data and root volumes. */
    volumeKmsKeyId: pulumi.Output<string>;
    ca: ClusterCa;
    client: IssuedCertificate;
}

/** The cluster's KMS key (unless the caller brings one), its CA (likewise) and the client certificate. */
export function clusterIdentity(
    name: string,
    clusterId: string,
    args: EtcdClusterArgs,
    settings: ClusterSettings,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): ClusterIdentity {
    const opts = { parent };
    const kmsKeyArn = args.kmsKeyArn
        ? pulumi.output(args.kmsKeyArn)
        : new aws.kms.Key(
              `${name}-kms`,
              { description: `etcd cluster ${clusterId}: keys and volumes`, enableKeyRotation: true, deletionWindowInDays: 30, tags },
              // Kept when the component is destroyed: the data volumes' final snapshots are encrypted with it,
              // and a key scheduled for deletion would make them unrestorable 30 days later.
              { ...opts, retainOnDelete: true },
          ).arn;
    const volumeKmsKeyId = args.dataVolume?.kmsKeyId !== undefined ? keyArnOf(args.dataVolume.kmsKeyId, opts) : kmsKeyArn;
    const ca = clusterCa(name, settings.keyAlgorithm, args.ca, opts);
    const client = issueCertificate(`${name}-client`, ca, settings.keyAlgorithm, clientCertificateParams(), settings.certificateValidityHours, opts);
    return { kmsKeyArn, volumeKmsKeyId, ca, client };
}

const keyArnPattern = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-zA-Z-]+$/;

/**
 * The key ARN of a KMS key given as key id, key ARN, alias name or alias ARN. EBS reads a volume's (and a
 * root device's) kmsKeyId back as the key ARN, and the property forces replacement: anything else would
 * replace every data volume and instance on the next `pulumi up`. So everything but a key ARN is resolved
 * with a lookup (kms:DescribeKey).
 */
export function keyArnOf(key: pulumi.Input<string>, opts: pulumi.InvokeOptions): pulumi.Output<string> {
    if (typeof key === "string") {
        return keyArnPattern.test(key) ? pulumi.output(key) : aws.kms.getKeyOutput({ keyId: key }, opts).arn;
    }
    return pulumi
        .output(key)
        .apply((k): Promise<string> => (keyArnPattern.test(k) ? Promise.resolve(k) : aws.kms.getKey({ keyId: k }, opts).then((found) => found.arn)));
}

/** The SSM parameter path of one member: per member, so that a member can read its own only. */
export function memberParameterPrefix(clusterId: string, memberName: string): string {
    return `/etcd/${clusterId}/${memberName}`;
}

/** SSM parameter names of one member's private keys. */
export function memberKeyParameterNames(clusterId: string, memberName: string): { serverKey: string; peerKey: string } {
    const prefix = memberParameterPrefix(clusterId, memberName);
    return { serverKey: `${prefix}/${ssmFileNames.serverKey}`, peerKey: `${prefix}/${ssmFileNames.peerKey}` };
}

/**
 * A member's certificate (public) as a String parameter: user-data names it with its SHA-256 instead of
 * holding it, which keeps user-data within EC2's 16 KB whatever the key algorithm, size and options.
 */
export function certificateParameter(
    resourceName: string,
    parameterName: string,
    certPem: pulumi.Output<string>,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): aws.ssm.Parameter {
    return new aws.ssm.Parameter(resourceName, { name: parameterName, type: "String", insecureValue: certPem, tier: "Standard", tags }, { parent });
}

/** A member's private key as a SecureString under the cluster's KMS key. */
export function keyParameter(
    resourceName: string,
    parameterName: string,
    cert: { privateKeyPem: pulumi.Output<string> },
    kmsKeyArn: pulumi.Output<string>,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): aws.ssm.Parameter {
    return new aws.ssm.Parameter(
        resourceName,
        { name: parameterName, type: "SecureString", keyId: kmsKeyArn, value: pulumi.secret(cert.privateKeyPem), tier: "Standard", tags },
        { parent },
    );
}

/** The member's role and the policies it must hold before the instance boots. */
export interface MemberProfile {
    profile: aws.iam.InstanceProfile;
    /** Inline policy and managed policy attachment: the instance waits for them, not only for the profile. */
    policies: pulumi.Resource[];
}

/** Parameter reads: the member's own parameters only, whatever else its role is granted. */
const parameterReads = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"];

/**
 * The policy document of a member's role: read its own parameters (at least the cluster's discovery list),
 * decrypt only its own keys, and an explicit deny of every other parameter read (AmazonSSMManagedInstanceCore,
 * attached for the readiness check, allows ssm:GetParameter(s) on every parameter of the account).
 */
export function memberPolicyDocument(parameterArns: string[], keyParameterArns: string[], kmsKeyArn: string): object {
    if (parameterArns.length === 0) {
        // A member with a role always reads the cluster's list of members (membership.ts): no list, no role.
        throw new Error("a member's role reads at least the cluster's discovery parameter");
    }
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "OwnParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: parameterArns },
            ...(keyParameterArns.length > 0
                ? [
                      {
                          Sid: "OwnKeys",
                          Effect: "Allow",
                          Action: "kms:Decrypt",
                          Resource: kmsKeyArn,
                          Condition: { StringEquals: { "kms:EncryptionContext:PARAMETER_ARN": keyParameterArns } },
                      },
                  ]
                : []),
            { Sid: "NoOtherParameters", Effect: "Deny", Action: parameterReads, NotResource: parameterArns },
        ],
    };
}

/**
 * The member's role: read its own parameters (and decrypt its own keys) only; SSM agent access for the
 * readiness check. Undefined when the member reads no parameter: then it needs no role, since every member
 * with one (SSM keys, the SSM readiness check or backups) reads the cluster's discovery list (membership.ts).
 */
export function memberInstanceProfile(
    name: string,
    i: number,
    settings: ClusterSettings,
    partition: pulumi.Output<string>,
    kmsKeyArn: pulumi.Output<string>,
    /** ARNs of the member's parameters, built from their names: the policy need not wait for the parameters. */
    parameters: { all: pulumi.Input<string>[]; keys: pulumi.Input<string>[] } | undefined,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
    backupPolicy?: pulumi.Output<string>,
): MemberProfile | undefined {
    if (!parameters) {
        return undefined;
    }
    const opts = { parent };
    const role = new aws.iam.Role(
        `${name}-member-${i}`,
        {
            description: "etcd member: reads its own keys",
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags,
        },
        opts,
    );
    const policies: pulumi.Resource[] = [
        new aws.iam.RolePolicy(
            `${name}-member-${i}-keys`,
            {
                role: role.id,
                policy: pulumi
                    .all([pulumi.all(parameters.all), pulumi.all(parameters.keys), kmsKeyArn])
                    .apply(([all, keys, key]) => JSON.stringify(memberPolicyDocument(all, keys, key))),
            },
            opts,
        ),
    ];
    if (backupPolicy) {
        // Snapshots under its cluster's prefix, the tools object, the backup-age metric (backup.ts).
        policies.push(new aws.iam.RolePolicy(`${name}-member-${i}-backup`, { role: role.id, policy: backupPolicy }, opts));
    }
    if (settings.readinessMode === "ssm") {
        policies.push(
            new aws.iam.RolePolicyAttachment(
                `${name}-member-${i}-ssm`,
                { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore` },
                opts,
            ),
        );
    }
    return { profile: new aws.iam.InstanceProfile(`${name}-member-${i}`, { role: role.name, tags }, opts), policies };
}
