import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdClusterArgs } from "./args";
import { ClusterBackup } from "./backup";
import { certificateParameter, ClusterIdentity, keyParameter, memberInstanceProfile, memberKeyParameterNames, memberParameterPrefix } from "./identity";
import { issueCertificate, peerCertificateParams, serverCertificateParams } from "./pki";
import { ReleaseArch } from "./releases";
import { MembershipLayout, MembershipParameters } from "./membership";
import { MemberEndpoint } from "./render/etcdConfig";
import { allMemberNames } from "./render/membership";
import { renderMemberUserData, ssmFileNames } from "./render/memberUserData";
import { checkUserDataSize, ClusterSettings, ResolvedDataVolume } from "./validation";

/** What every member of one cluster shares. */
export interface MemberContext {
    /** The component's name: the prefix of every resource name. */
    name: string;
    /** The component itself, parent of every member resource. */
    parent: pulumi.Resource;
    /** Unique per project, stack and component: the etcd cluster token and the key parameters' path. */
    clusterId: string;
    /** etcd member names, in member order. */
    memberNames: string[];
    args: EtcdClusterArgs;
    settings: ClusterSettings;
    tags: pulumi.Output<Record<string, string>>;
    identity: ClusterIdentity;
    /** Every member's name and fixed address; a member's configuration names only those before it. */
    endpoints: pulumi.Output<MemberEndpoint[]>;
    /** The safe cluster name that member names start with. */
    base: string;
    /** Where members find the membership functions and the discovery list (membership.ts). */
    membershipLayout: MembershipLayout;
    /** The membership parameters, when members have a role to read them with. */
    membership?: MembershipParameters;
    release: pulumi.Output<{ url: string; sha256: string }>;
    arch: pulumi.Output<ReleaseArch>;
    region: pulumi.Output<string>;
    partition: pulumi.Output<string>;
    accountId: pulumi.Output<string>;
    /** The AMI: the caller's, or the image kept for the member's architecture (see etcdCluster.ts). */
    ami: pulumi.Output<string>;
    instanceType: pulumi.Output<string>;
    dataVolume: pulumi.Output<ResolvedDataVolume>;
    /** The etcd cluster token when it is not the cluster id: a restored cluster gets a new one. */
    clusterToken?: string;
    /** Backups (and restore): the members' tools, their policy, and what must exist first. */
    backup?: ClusterBackup;
    /** Defragmentation's files are in user-data (without backups, when they fit: etcdCluster.ts). */
    defragInUserData: boolean;
}

/** One member's resources that the rollout and the outputs need. */
export interface Member {
    name: string;
    instance: aws.ec2.Instance;
    attachment: aws.ec2.VolumeAttachment;
    /** The member's user-data: it changes whenever the member's configuration does. */
    userData: pulumi.Output<string>;
}

/** A member's network interface: holds the member's fixed private IP across instance replacements. */
export function memberInterface(
    cluster: Pick<MemberContext, "name" | "parent" | "memberNames" | "tags">,
    i: number,
    subnetId: pulumi.Input<string>,
    securityGroupId: pulumi.Input<string>,
): aws.ec2.NetworkInterface {
    const memberName = cluster.memberNames[i];
    return new aws.ec2.NetworkInterface(
        `${cluster.name}-member-${i}`,
        {
            subnetId,
            securityGroups: [securityGroupId],
            description: `etcd member ${memberName}: its fixed address`,
            tags: cluster.tags.apply((t) => ({ ...t, Name: memberName })),
        },
        { parent: cluster.parent },
    );
}

/**
 * A member before its instance: everything its instance needs is declared, and its user-data is known. Every
 * member of a cluster is prepared before any is launched, so that what waits for the first instance (the
 * backup before a change, rollout.ts) can know whether any member will change.
 */
export interface PreparedMember {
    name: string;
    /** The member's user-data: it changes whenever the member's configuration does. */
    userData: pulumi.Output<string>;
    /** Declares the instance and its volume attachment; the instance also waits for `after`. */
    launch(after: pulumi.Output<pulumi.Resource[]> | pulumi.Resource[]): Member;
}

/**
 * One member on its interface: data volume, certificates, key parameters and role, and user-data; then, at
 * launch, the instance and the volume attachment. The rollout decides what the instance waits for.
 */
export function prepareMember(cluster: MemberContext, i: number, eni: aws.ec2.NetworkInterface, availabilityZone: pulumi.Input<string>): PreparedMember {
    const { name, clusterId, settings, args, identity, tags } = cluster;
    const parent = { parent: cluster.parent };
    const memberName = cluster.memberNames[i];
    const memberTags = tags.apply((t) => ({ ...t, Name: memberName }));
    const volume = new aws.ebs.Volume(
        `${name}-member-${i}-data`,
        {
            availabilityZone,
            size: cluster.dataVolume.sizeGib,
            type: cluster.dataVolume.type,
            iops: cluster.dataVolume.iops,
            throughput: cluster.dataVolume.throughput,
            encrypted: true,
            kmsKeyId: identity.volumeKmsKeyId,
            // A snapshot is kept if the volume is ever deleted: etcd's data is never lost silently.
            finalSnapshot: true,
            tags: memberTags,
        },
        // Nothing should ever delete etcd's data: a change that would replace the volume, or a destroy, stops
        // with an error until the volume is unprotected on purpose (README: "Removing a cluster").
        { ...parent, protect: true },
    );
    const server = issueCertificate(
        `${name}-member-${i}-server`,
        identity.ca,
        settings.keyAlgorithm,
        eni.privateIp.apply((ip) => serverCertificateParams(memberName, ip)),
        settings.certificateValidityHours,
        parent,
    );
    const peer = issueCertificate(
        `${name}-member-${i}-peer`,
        identity.ca,
        settings.keyAlgorithm,
        eni.privateIp.apply((ip) => peerCertificateParams(ip)),
        settings.certificateValidityHours,
        parent,
    );

    const parameterNames = memberKeyParameterNames(clusterId, memberName);
    const prefix = memberParameterPrefix(clusterId, memberName);
    const parameters =
        settings.keyDelivery === "ssm"
            ? {
                  keys: [
                      keyParameter(`${name}-member-${i}-server-key`, parameterNames.serverKey, server, identity.kmsKeyArn, tags, cluster.parent),
                      keyParameter(`${name}-member-${i}-peer-key`, parameterNames.peerKey, peer, identity.kmsKeyArn, tags, cluster.parent),
                  ],
                  certificates: [
                      certificateParameter(`${name}-member-${i}-ca-cert`, `${prefix}/${ssmFileNames.caCert}`, identity.ca.certPem, tags, cluster.parent),
                      certificateParameter(`${name}-member-${i}-server-cert`, `${prefix}/${ssmFileNames.serverCert}`, server.certPem, tags, cluster.parent),
                      certificateParameter(`${name}-member-${i}-peer-cert`, `${prefix}/${ssmFileNames.peerCert}`, peer.certPem, tags, cluster.parent),
                  ],
              }
            : undefined;
    const allParameters = parameters ? [...parameters.keys, ...parameters.certificates] : [];
    // The ARNs AWS gives these parameters, known from their names (a parameter named "/a/b" is "parameter/a/b").
    const parameterArn = (parameterName: string) =>
        pulumi.interpolate`arn:${cluster.partition}:ssm:${cluster.region}:${cluster.accountId}:parameter${parameterName}`;
    const keyParameterNames = [parameterNames.serverKey, parameterNames.peerKey];
    const certificateParameterNames = [ssmFileNames.caCert, ssmFileNames.serverCert, ssmFileNames.peerCert].map((f) => `${prefix}/${f}`);
    const membershipNames = cluster.membership
        ? [cluster.membership.discoveryName, ...(cluster.membership.library ? [cluster.membership.library.name] : [])]
        : [];
    const parameterArns = {
        keys: parameters ? keyParameterNames.map(parameterArn) : [],
        all: [...(parameters ? [...keyParameterNames, ...certificateParameterNames] : []), ...membershipNames].map(parameterArn),
    };
    const profile = memberInstanceProfile(
        name,
        i,
        settings,
        cluster.partition,
        identity.kmsKeyArn,
        parameterArns.all.length > 0 ? parameterArns : undefined,
        tags,
        cluster.parent,
        cluster.backup?.memberPolicy,
    );

    const userData = pulumi
        .output({
            members: cluster.endpoints,
            rel: cluster.release,
            a: cluster.arch,
            reg: cluster.region,
            volumeId: volume.id,
            caPem: identity.ca.certPem,
            serverPem: server.certPem,
            peerPem: peer.certPem,
            serverKey: server.privateKeyPem,
            peerKey: peer.privateKeyPem,
            tools: cluster.backup?.memberTools,
        })
        .apply(({ members, rel, a, reg, volumeId, caPem, serverPem, peerPem, serverKey, peerKey, tools }) => {
            const text = renderMemberUserData({
                member: members[i],
                // Only the members before this one: a size change leaves this member's user-data unchanged.
                seeds: members.slice(0, i),
                discoveryParameter: cluster.membership?.discoveryName,
                // The library parameter exists exactly when the layout says "ssm".
                membershipLibrary: cluster.membership?.library
                    ? { name: cluster.membership.library.name, sha256: cluster.membership.library.sha256 }
                    : cluster.membershipLayout.library === "tools"
                      ? "tools"
                      : "user-data",
                clusterToken: cluster.clusterToken ?? clusterId,
                version: settings.version.text,
                features: settings.features,
                arch: a,
                tuning: settings.tuning,
                tlsMinVersion: settings.tlsMinVersion,
                metricsOnMemberAddress: (args.metricsCidrs ?? []).length > 0,
                releaseUrl: rel.url,
                releaseSha256: rel.sha256,
                dataVolumeId: volumeId,
                region: reg,
                ssmParameterPrefix: parameters ? prefix : undefined,
                // Users for every possible member name: members added later authenticate with their certificate too.
                enableAuth: settings.auth && i === 0 ? { memberNames: allMemberNames(cluster.base) } : undefined,
                memberTools: tools,
                defragInUserData: cluster.defragInUserData,
                tls: {
                    caCertPem: caPem,
                    serverCertPem: serverPem,
                    peerCertPem: peerPem,
                    ...(parameters ? {} : { serverKeyPem: serverKey, peerKeyPem: peerKey }),
                },
            });
            checkUserDataSize(memberName, text);
            return text;
        });
    // With SSM delivery user-data holds no secret (its diff stays reviewable); inline keys make it secret.
    const publicUserData = settings.keyDelivery === "ssm" ? pulumi.unsecret(userData) : pulumi.secret(userData);

    const launch = (after: pulumi.Output<pulumi.Resource[]> | pulumi.Resource[]): Member => {
        const instance = new aws.ec2.Instance(
            `${name}-member-${i}`,
            {
                ami: cluster.ami,
                instanceType: cluster.instanceType,
                primaryNetworkInterface: { networkInterfaceId: eni.id },
                iamInstanceProfile: profile?.profile.name,
                userData: publicUserData,
                // A new user-data boots a new instance (cloud-init runs once per instance); the address
                // and data volume carry over, and the rollout gates roll members one at a time.
                userDataReplaceOnChange: true,
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true, kmsKeyId: identity.volumeKmsKeyId, deleteOnTermination: true },
                tags: memberTags,
            },
            {
                parent: cluster.parent,
                // The fixed interface can belong to one instance only: the old one goes first.
                deleteBeforeReplace: true,
                // The parameters exist and the role holds its policies before the boot script asks for them.
                dependsOn: withResources(after, [
                    ...allParameters,
                    ...(profile ? [profile.profile, ...profile.policies] : []),
                    ...(cluster.backup?.ready ?? []),
                    ...(cluster.membership
                        ? [cluster.membership.discovery, ...(cluster.membership.library ? [cluster.membership.library.parameter] : [])]
                        : []),
                ]),
            },
        );
        const attachment = new aws.ec2.VolumeAttachment(
            `${name}-member-${i}-data`,
            { deviceName: "/dev/sdf", volumeId: volume.id, instanceId: instance.id, stopInstanceBeforeDetaching: true },
            parent,
        );
        return { name: memberName, instance, attachment, userData };
    };
    return { name: memberName, userData, launch };
}

/** Resources, some possibly known only as an output, as one dependsOn value. */
function withResources(
    first: pulumi.Output<pulumi.Resource[]> | pulumi.Resource[],
    rest: pulumi.Resource[],
): pulumi.Output<pulumi.Resource[]> | pulumi.Resource[] {
    return pulumi.Output.isInstance(first) ? first.apply((resources) => [...resources, ...rest]) : [...first, ...rest];
}
