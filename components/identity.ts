import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdClusterArgs } from "./args";
import { clientCertificateParams, ClusterCa, clusterCa, issueCertificate, IssuedCertificate } from "./pki";
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
              opts,
          ).arn;
    const volumeKmsKeyId = args.dataVolume?.kmsKeyId ? pulumi.output(args.dataVolume.kmsKeyId) : kmsKeyArn;
    const ca = clusterCa(name, settings.keyAlgorithm, args.ca, opts);
    const client = issueCertificate(`${name}-client`, ca, settings.keyAlgorithm, clientCertificateParams(), settings.certificateValidityHours, opts);
    return { kmsKeyArn, volumeKmsKeyId, ca, client };
}

/** SSM parameter names of one member's private keys: per member, so that a member can read its own only. */
export function memberKeyParameterNames(clusterId: string, memberName: string): { serverKey: string; peerKey: string } {
    return { serverKey: `/etcd/${clusterId}/${memberName}/server.key`, peerKey: `/etcd/${clusterId}/${memberName}/peer.key` };
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

/** The member's role: read and decrypt its own key parameters only; SSM agent access for the readiness check. */
export function memberInstanceProfile(
    name: string,
    i: number,
    settings: ClusterSettings,
    partition: pulumi.Output<string>,
    kmsKeyArn: pulumi.Output<string>,
    keyParameters: aws.ssm.Parameter[] | undefined,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): aws.iam.InstanceProfile | undefined {
    if (!keyParameters && settings.readinessMode !== "ssm") {
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
    if (keyParameters) {
        const arns = keyParameters.map((p) => p.arn);
        new aws.iam.RolePolicy(
            `${name}-member-${i}-keys`,
            {
                role: role.id,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        { Effect: "Allow", Action: "ssm:GetParameter", Resource: arns },
                        {
                            Effect: "Allow",
                            Action: "kms:Decrypt",
                            Resource: kmsKeyArn,
                            Condition: { StringEquals: { "kms:EncryptionContext:PARAMETER_ARN": arns } },
                        },
                    ],
                }),
            },
            opts,
        );
    }
    if (settings.readinessMode === "ssm") {
        new aws.iam.RolePolicyAttachment(
            `${name}-member-${i}-ssm`,
            { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore` },
            opts,
        );
    }
    return new aws.iam.InstanceProfile(`${name}-member-${i}`, { role: role.name, tags }, opts);
}
