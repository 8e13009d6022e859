import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { EtcdClusterArgs } from "./args";
import { healthGateScript } from "./healthGate";
import { clientCertificateParams, clusterCa, issueCertificate, peerCertificateParams, serverCertificateParams } from "./pki";
import { EtcdFaultTolerance, faultTolerance, memberZoneIndexes } from "./placement";
import { instanceArch, officialReleaseUrl, pinnedChecksum, ReleaseArch } from "./releases";
import { clientUrl, MemberEndpoint, peerUrl } from "./render/etcdConfig";
import { allMemberNames } from "./render/membership";
import { renderMemberUserData } from "./render/memberUserData";
import { ports } from "./render/paths";
import {
    checkCidr,
    checkSha256,
    checkUrl,
    checkUserDataSize,
    ClusterSettings,
    EtcdClusterArgumentError,
    resolveDataVolume,
    resolveSettings,
} from "./validation";

/** The Pulumi type token of the component. */
export const etcdClusterType = "etcd-cluster:index:EtcdCluster";

/** Default instance type: current general purpose, 2 vCPU and 8 GiB (etcd's guidance for ~50-node Kubernetes). */
export const defaultInstanceType = "m7i.large";

/** One member of the cluster. */
export interface EtcdMember {
    /** etcd member name, e.g. "prod-0". */
    name: string;
    /** Fixed private IP: held by the member's network interface across instance replacements. */
    privateIp: string;
    /** Availability zone of the member's subnet, e.g. "eu-west-1a". */
    availabilityZone: string;
    /** Subnet of the member's network interface. */
    subnetId: string;
    /** Current EC2 instance; it changes when the member is replaced, its address and data do not. */
    instanceId: string;
    /** Client URL, https://IP:2379. */
    clientUrl: string;
    /** Peer URL, https://IP:2380. */
    peerUrl: string;
}

/** Lowercase letters, digits and dashes: safe in etcd member names, paths, units and shell. */
export function safeClusterName(name: string): string {
    const cleaned = name
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 40)
        .replace(/-+$/, "");
    return cleaned || "etcd";
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * A TLS-secured etcd cluster on EC2: one member per instance, spread round-robin over the given subnets,
 * each with a fixed private IP and an encrypted SSD data volume that both survive instance replacement.
 */
export class EtcdCluster extends pulumi.ComponentResource {
    /** Client URLs of the members, in member order. */
    public readonly clientEndpoints: pulumi.Output<string[]>;
    /** The members, in member order. */
    public readonly members: pulumi.Output<EtcdMember[]>;
    /** PEM certificate of the cluster's CA. */
    public readonly caCertPem: pulumi.Output<string>;
    /** PEM client certificate (CN "root") for operators and kube-apiserver. */
    public readonly clientCertPem: pulumi.Output<string>;
    /** PEM private key of the client certificate (secret). */
    public readonly clientKeyPem: pulumi.Output<string>;
    /** Security group of the members. */
    public readonly securityGroupId: pulumi.Output<string>;
    /** How many members, and how many whole zones, can fail while quorum holds. */
    public readonly faultTolerance: pulumi.Output<EtcdFaultTolerance>;

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validated before anything is registered, the component itself included.
        const settings = resolveSettings(args);
        resolvePlainDataVolume(args);
        super(etcdClusterType, name, {}, opts);
        for (const warning of settings.warnings) {
            pulumi.log.warn(warning, this);
        }

        const parent = { parent: this };
        const base = safeClusterName(name);
        // Unique per project, stack and component name: keeps two clusters' parameters and tokens apart.
        const clusterId = `${base}-${sha256(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`).slice(0, 8)}`;
        const tags: pulumi.Output<Record<string, string>> = pulumi
            .output(args.tags ?? {})
            .apply((t): Record<string, string> => ({ ...t, "etcd:cluster": clusterId }));
        const version = settings.version.text;

        const region = aws.getRegionOutput({}, parent).region;
        const partition = aws.getPartitionOutput({}, parent).partition;
        const instanceType = pulumi.output(args.instanceType ?? defaultInstanceType);
        const arch = instanceType.apply((t) => instanceArch(t));
        const release = pulumi.all([arch, args.binaryUrl, args.binarySha256]).apply(([a, url, sum]) => releaseSource(version, a, url, sum));
        const ami = args.ami
            ? pulumi.output(args.ami)
            : aws.ssm.getParameterOutput(
                  { name: arch.apply((a) => `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${a === "arm64" ? "arm64" : "x86_64"}`) },
                  parent,
              ).insecureValue;

        const kmsKeyArn = args.kmsKeyArn
            ? pulumi.output(args.kmsKeyArn)
            : new aws.kms.Key(
                  `${name}-kms`,
                  { description: `etcd cluster ${clusterId}: keys and volumes`, enableKeyRotation: true, deletionWindowInDays: 30, tags },
                  parent,
              ).arn;
        const volumeKmsKeyId = args.dataVolume?.kmsKeyId ? pulumi.output(args.dataVolume.kmsKeyId) : kmsKeyArn;
        const dataVolume = pulumi
            .output({ ...args.dataVolume, kmsKeyId: undefined })
            .apply((dv) => resolveDataVolume(dv as Parameters<typeof resolveDataVolume>[0]));

        const securityGroup = this.securityGroup(name, args, tags);
        this.securityGroupId = securityGroup.id;

        const ca = clusterCa(name, settings.keyAlgorithm, args.ca, parent);
        const client = issueCertificate(`${name}-client`, ca, settings.keyAlgorithm, clientCertificateParams(), settings.certificateValidityHours, parent);

        // Members: interfaces first, since every member's configuration lists every member's address.
        const zoneIndexes = memberZoneIndexes(settings.size, settings.zoneCount);
        const subnetZones = args.subnetIds.map((id) => aws.ec2.getSubnetOutput({ id }, parent).availabilityZone);
        const memberNames = zoneIndexes.map((_, i) => `${base}-${i}`);
        const interfaces = zoneIndexes.map(
            (zone, i) =>
                new aws.ec2.NetworkInterface(
                    `${name}-member-${i}`,
                    {
                        subnetId: args.subnetIds[zone],
                        securityGroups: [securityGroup.id],
                        description: `etcd member ${memberNames[i]}: its fixed address`,
                        tags: tags.apply((t) => ({ ...t, Name: memberNames[i] })),
                    },
                    parent,
                ),
        );
        const endpoints: pulumi.Output<MemberEndpoint[]> = pulumi
            .all(interfaces.map((eni) => eni.privateIp))
            .apply((ips) => ips.map((ip, i) => ({ name: memberNames[i], ip })));

        const gateScript = settings.readinessMode === "none" ? "" : healthGateScript();
        const gateEnvironment = (instanceIds: pulumi.Input<string>[]) => this.gateEnvironment(settings, region, instanceIds, endpoints, ca, client);

        const instances: aws.ec2.Instance[] = [];
        const attachments: aws.ec2.VolumeAttachment[] = [];
        let previous: pulumi.Resource | undefined;
        zoneIndexes.forEach((zone, i) => {
            const memberName = memberNames[i];
            const eni = interfaces[i];
            const memberTags = tags.apply((t) => ({ ...t, Name: memberName }));
            const volume = new aws.ebs.Volume(
                `${name}-member-${i}-data`,
                {
                    availabilityZone: subnetZones[zone],
                    size: dataVolume.sizeGib,
                    type: dataVolume.type,
                    iops: dataVolume.iops,
                    throughput: dataVolume.throughput,
                    encrypted: true,
                    kmsKeyId: volumeKmsKeyId,
                    // A snapshot is kept if the volume is ever deleted: etcd's data is never lost silently.
                    finalSnapshot: true,
                    tags: memberTags,
                },
                parent,
            );
            const server = issueCertificate(
                `${name}-member-${i}-server`,
                ca,
                settings.keyAlgorithm,
                eni.privateIp.apply((ip) => serverCertificateParams(memberName, ip)),
                settings.certificateValidityHours,
                parent,
            );
            const peer = issueCertificate(
                `${name}-member-${i}-peer`,
                ca,
                settings.keyAlgorithm,
                eni.privateIp.apply((ip) => peerCertificateParams(ip)),
                settings.certificateValidityHours,
                parent,
            );

            const keyParameters =
                settings.keyDelivery === "ssm"
                    ? {
                          serverKey: this.keyParameter(
                              `${name}-member-${i}-server-key`,
                              `/etcd/${clusterId}/${memberName}/server.key`,
                              server,
                              kmsKeyArn,
                              tags,
                          ),
                          peerKey: this.keyParameter(`${name}-member-${i}-peer-key`, `/etcd/${clusterId}/${memberName}/peer.key`, peer, kmsKeyArn, tags),
                      }
                    : undefined;
            const profile = this.instanceProfile(
                name,
                i,
                settings,
                partition,
                kmsKeyArn,
                keyParameters && [keyParameters.serverKey, keyParameters.peerKey],
                tags,
            );

            const userData = pulumi
                .output({
                    members: endpoints,
                    rel: release,
                    a: arch,
                    reg: region,
                    volumeId: volume.id,
                    caPem: ca.certPem,
                    serverPem: server.certPem,
                    peerPem: peer.certPem,
                    serverKey: server.privateKeyPem,
                    peerKey: peer.privateKeyPem,
                })
                .apply(({ members, rel, a, reg, volumeId, caPem, serverPem, peerPem, serverKey, peerKey }) => {
                    const text = renderMemberUserData({
                        member: members[i],
                        // Only the members before this one: a size change leaves this member's user-data unchanged.
                        seeds: members.slice(0, i),
                        clusterToken: clusterId,
                        version,
                        features: settings.features,
                        arch: a,
                        tuning: settings.tuning,
                        tlsMinVersion: settings.tlsMinVersion,
                        metricsOnMemberAddress: (args.metricsCidrs ?? []).length > 0,
                        releaseUrl: rel.url,
                        releaseSha256: rel.sha256,
                        dataVolumeId: volumeId,
                        region: reg,
                        ssmKeyParameters: keyParameters && {
                            serverKey: `/etcd/${clusterId}/${memberName}/server.key`,
                            peerKey: `/etcd/${clusterId}/${memberName}/peer.key`,
                        },
                        enableAuth: settings.auth && i === 0 ? { memberNames: allMemberNames(base) } : undefined,
                        tls: {
                            caCertPem: caPem,
                            serverCertPem: serverPem,
                            peerCertPem: peerPem,
                            ...(keyParameters ? {} : { serverKeyPem: serverKey, peerKeyPem: peerKey }),
                        },
                    });
                    checkUserDataSize(memberName, text);
                    return text;
                });
            // With SSM delivery user-data holds no secret (its diff stays reviewable); inline keys make it secret.
            const publicUserData = settings.keyDelivery === "ssm" ? pulumi.unsecret(userData) : pulumi.secret(userData);

            const instance = new aws.ec2.Instance(
                `${name}-member-${i}`,
                {
                    ami,
                    instanceType,
                    primaryNetworkInterface: { networkInterfaceId: eni.id },
                    iamInstanceProfile: profile?.name,
                    userData: publicUserData,
                    // A new user-data boots a new instance (cloud-init runs once per instance); the address
                    // and data volume carry over, and the gates below roll members one at a time.
                    userDataReplaceOnChange: true,
                    metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                    rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true, kmsKeyId: volumeKmsKeyId, deleteOnTermination: true },
                    tags: memberTags,
                },
                {
                    parent: this,
                    // The fixed interface can belong to one instance only: the old one goes first.
                    deleteBeforeReplace: true,
                    dependsOn: [
                        ...(previous ? [previous] : []),
                        ...(keyParameters ? [keyParameters.serverKey, keyParameters.peerKey] : []),
                        ...(profile ? [profile] : []),
                    ],
                    // The default AMI is looked up anew each run: a newer image must not replace running members.
                    ignoreChanges: args.ami ? [] : ["ami"],
                },
            );
            const attachment = new aws.ec2.VolumeAttachment(
                `${name}-member-${i}-data`,
                { deviceName: "/dev/sdf", volumeId: volume.id, instanceId: instance.id, stopInstanceBeforeDetaching: true },
                parent,
            );
            instances.push(instance);
            attachments.push(attachment);

            // Rolling gate: when this member is replaced, the next one waits until the cluster is healthy
            // again. At creation there is nothing to wait for (no quorum exists before every member does).
            previous = attachment;
            if (settings.readinessMode !== "none") {
                previous = new command.local.Command(
                    `${name}-member-${i}-rolled`,
                    {
                        create: `echo "etcd member ${memberName} launched"`,
                        update: gateScript,
                        interpreter: ["/bin/bash", "-c"],
                        // Whatever replaces or restarts this member changes this environment, so the gate's update
                        // (the health wait) runs before the next member is touched.
                        environment: pulumi
                            .all([gateEnvironment([instance.id]), userData, instanceType, args.ami ?? ""])
                            .apply(([env, ud, type, explicitAmi]): Record<string, string> => ({
                                ...env,
                                ETCD_GATE_MEMBER: memberName,
                                ETCD_GATE_MEMBER_REVISION: sha256(JSON.stringify({ userData: sha256(ud), instanceType: type, ami: explicitAmi })),
                            })),
                    },
                    { parent: this, dependsOn: [attachment] },
                );
            }
        });

        if (settings.readinessMode !== "none") {
            new command.local.Command(
                `${name}-ready`,
                {
                    create: gateScript,
                    update: gateScript,
                    interpreter: ["/bin/bash", "-c"],
                    environment: gateEnvironment(instances.map((inst) => inst.id)),
                },
                { parent: this, dependsOn: [...attachments, ...(previous ? [previous] : [])] },
            );
        }

        this.caCertPem = ca.certPem;
        this.clientCertPem = client.certPem;
        this.clientKeyPem = pulumi.secret(client.privateKeyPem);
        this.clientEndpoints = endpoints.apply((ms) => ms.map((m) => clientUrl(m.ip)));
        this.members = pulumi
            .all([endpoints, pulumi.all(subnetZones), pulumi.all(args.subnetIds), pulumi.all(instances.map((inst) => inst.id))])
            .apply(([ms, zones, subnets, ids]) =>
                ms.map((m, i) => ({
                    name: m.name,
                    privateIp: m.ip,
                    availabilityZone: zones[zoneIndexes[i]],
                    subnetId: subnets[zoneIndexes[i]],
                    instanceId: ids[i],
                    clientUrl: clientUrl(m.ip),
                    peerUrl: peerUrl(m.ip),
                })),
            );
        this.faultTolerance = pulumi.output(faultTolerance(settings.size, settings.zoneCount));
        this.registerOutputs({
            clientEndpoints: this.clientEndpoints,
            members: this.members,
            caCertPem: this.caCertPem,
            clientCertPem: this.clientCertPem,
            clientKeyPem: this.clientKeyPem,
            securityGroupId: this.securityGroupId,
            faultTolerance: this.faultTolerance,
        });
    }

    /** One security group: peers only from itself, clients from itself and the allowed sources, no SSH. */
    private securityGroup(name: string, args: EtcdClusterArgs, tags: pulumi.Output<Record<string, string>>): aws.ec2.SecurityGroup {
        const parent = { parent: this };
        const group = new aws.ec2.SecurityGroup(
            `${name}-members`,
            { vpcId: args.vpcId, description: "etcd members: peer 2380 from members, client 2379 from allowed sources", tags },
            parent,
        );
        const rule = (ruleName: string, port: number, source: { cidr?: pulumi.Input<string>; group?: pulumi.Input<string> }, description: string) =>
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-${ruleName}`,
                {
                    securityGroupId: group.id,
                    ipProtocol: "tcp",
                    fromPort: port,
                    toPort: port,
                    description,
                    ...(source.group !== undefined ? { referencedSecurityGroupId: source.group } : {}),
                    ...(source.cidr !== undefined
                        ? {
                              cidrIpv4: pulumi.output(source.cidr).apply((c) => (c.includes(":") ? undefined : c)) as pulumi.Output<string>,
                              cidrIpv6: pulumi.output(source.cidr).apply((c) => (c.includes(":") ? c : undefined)) as pulumi.Output<string>,
                          }
                        : {}),
                    tags,
                },
                parent,
            );
        const checked = (argument: string, cidr: pulumi.Input<string>, i: number) =>
            pulumi.output(cidr).apply((c) => {
                const warnings = checkCidr(`${argument}[${i}]`, c, args.allowPublicAccess === true);
                // Plain values were checked (and warned about) with the other arguments; outputs only now.
                if (typeof cidr !== "string") {
                    warnings.forEach((w) => pulumi.log.warn(w, this));
                }
                return c;
            });
        rule("peer-from-members", ports.peer, { group: group.id }, "etcd peers");
        rule("client-from-members", ports.client, { group: group.id }, "etcd clients: members");
        (args.clientCidrs ?? []).forEach((cidr, i) => rule(`client-cidr-${i}`, ports.client, { cidr: checked("clientCidrs", cidr, i) }, "etcd clients"));
        (args.clientSecurityGroupIds ?? []).forEach((sg, i) => rule(`client-group-${i}`, ports.client, { group: sg }, "etcd clients"));
        (args.metricsCidrs ?? []).forEach((cidr, i) => rule(`metrics-cidr-${i}`, ports.metrics, { cidr: checked("metricsCidrs", cidr, i) }, "etcd metrics"));

        // Egress: HTTPS for the release download and the SSM and KMS APIs, and the members' own ports.
        const egress = (ruleName: string, fromPort: number, toPort: number, target: { cidr?: string; group?: pulumi.Input<string> }, description: string) =>
            new aws.vpc.SecurityGroupEgressRule(
                `${name}-${ruleName}`,
                {
                    securityGroupId: group.id,
                    ipProtocol: "tcp",
                    fromPort,
                    toPort,
                    description,
                    ...(target.cidr ? { cidrIpv4: target.cidr } : { referencedSecurityGroupId: target.group }),
                    tags,
                },
                parent,
            );
        egress("egress-https", 443, 443, { cidr: "0.0.0.0/0" }, "release download, SSM and KMS");
        egress("egress-members", ports.client, ports.peer, { group: group.id }, "etcd peers and clients");
        const mirrorPort = typeof args.binaryUrl === "string" ? urlPort(args.binaryUrl) : undefined;
        if (mirrorPort !== undefined && mirrorPort !== 443) {
            egress("egress-mirror", mirrorPort, mirrorPort, { cidr: "0.0.0.0/0" }, "release mirror");
        }
        return group;
    }

    /** A member's private key as a SecureString under the cluster's KMS key. */
    private keyParameter(
        resourceName: string,
        parameterName: string,
        cert: { privateKeyPem: pulumi.Output<string> },
        kmsKeyArn: pulumi.Output<string>,
        tags: pulumi.Output<Record<string, string>>,
    ): aws.ssm.Parameter {
        return new aws.ssm.Parameter(
            resourceName,
            { name: parameterName, type: "SecureString", keyId: kmsKeyArn, value: pulumi.secret(cert.privateKeyPem), tier: "Standard", tags },
            { parent: this },
        );
    }

    /** The member's role: read and decrypt its own key parameters only; SSM agent access for the readiness check. */
    private instanceProfile(
        name: string,
        i: number,
        settings: ClusterSettings,
        partition: pulumi.Output<string>,
        kmsKeyArn: pulumi.Output<string>,
        keyParameters: aws.ssm.Parameter[] | undefined,
        tags: pulumi.Output<Record<string, string>>,
    ): aws.iam.InstanceProfile | undefined {
        if (!keyParameters && settings.readinessMode !== "ssm") {
            return undefined;
        }
        const parent = { parent: this };
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
            parent,
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
                parent,
            );
        }
        if (settings.readinessMode === "ssm") {
            new aws.iam.RolePolicyAttachment(
                `${name}-member-${i}-ssm`,
                { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore` },
                parent,
            );
        }
        return new aws.iam.InstanceProfile(`${name}-member-${i}`, { role: role.name, tags }, parent);
    }

    /** Environment of the readiness check (scripts/etcd-health-gate.sh). */
    private gateEnvironment(
        settings: ClusterSettings,
        region: pulumi.Output<string>,
        instanceIds: pulumi.Input<string>[],
        endpoints: pulumi.Output<MemberEndpoint[]>,
        ca: { certPem: pulumi.Output<string> },
        client: { certPem: pulumi.Output<string>; privateKeyPem: pulumi.Output<string> },
    ): pulumi.Output<Record<string, string>> {
        const common = {
            ETCD_GATE_MODE: settings.readinessMode,
            ETCD_GATE_TIMEOUT_SECONDS: String(settings.readinessTimeoutSeconds),
        };
        if (settings.readinessMode === "ssm") {
            return pulumi.all([region, pulumi.all(instanceIds)]).apply(([reg, ids]): Record<string, string> => ({
                ...common,
                AWS_REGION: reg,
                ETCD_GATE_INSTANCE_IDS: ids.join(" "),
            }));
        }
        // Direct mode hands the client key to the check: the whole environment is secret.
        return pulumi.secret(
            pulumi.all([endpoints, ca.certPem, client.certPem, client.privateKeyPem]).apply(([ms, caPem, certPem, keyPem]): Record<string, string> => ({
                ...common,
                ETCD_GATE_ENDPOINTS: ms.map((m) => clientUrl(m.ip)).join(","),
                ETCD_GATE_CA_PEM: caPem,
                ETCD_GATE_CERT_PEM: certPem,
                ETCD_GATE_KEY_PEM: keyPem,
            })),
        );
    }
}

/** Where the release comes from and its checksum: the caller's mirror, or the official URL and pinned sum. */
export function releaseSource(version: string, arch: ReleaseArch, url?: string, sum?: string): { url: string; sha256: string } {
    if (url !== undefined && sum !== undefined) {
        return { url: checkUrl("binaryUrl", url), sha256: checkSha256("binarySha256", sum) };
    }
    const pinned = pinnedChecksum(version, arch);
    if (!pinned) {
        throw new EtcdClusterArgumentError("version", `a version with a pinned ${arch} checksum, or binaryUrl and binarySha256`, version);
    }
    return { url: officialReleaseUrl(version, arch), sha256: pinned };
}

function urlPort(url: string): number | undefined {
    const match = /^(https?):\/\/[^/:]+(?::(\d+))?/.exec(url);
    if (!match) {
        return undefined;
    }
    return match[2] ? Number(match[2]) : match[1] === "https" ? 443 : 80;
}

/** Checks the data volume before any resource exists when all its values are plain. */
function resolvePlainDataVolume(args: EtcdClusterArgs): void {
    const dv = args.dataVolume ?? {};
    const values = [dv.sizeGib, dv.type, dv.iops, dv.throughput];
    if (values.every((v) => v === undefined || typeof v === "number" || typeof v === "string")) {
        resolveDataVolume(dv as Parameters<typeof resolveDataVolume>[0]);
    }
}
