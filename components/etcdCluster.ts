import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { EtcdClusterArgs } from "./args";
import { backupLayout, clusterBackup, resolveBackup, resolveRestore } from "./backup";
import { clusterIdentity, memberParameterPrefix } from "./identity";
import { Member, MemberContext, memberInterface, prepareMember } from "./member";
import { membershipLayout, membershipParameters } from "./membership";
import { memberSecurityGroup } from "./network";
import { EtcdFaultTolerance, faultTolerance, memberZoneIndexes } from "./placement";
import { instanceArch, officialReleaseUrl, pinnedChecksum, ReleaseArch } from "./releases";
import { clientUrl, MemberEndpoint, peerUrl } from "./render/etcdConfig";
import { backupBeforeChange, clusterExists, clusterReadyGate, clusterTagKey, memberGate, RolloutContext, rolloutPredecessor } from "./rollout";
import { checkUserDataBound, userDataBound, UserDataBoundParams, userDataBudgetBytes } from "./userDataBound";
import { checkQuotaFitsVolume, checkSha256, checkUrl, ClusterSettings, EtcdClusterArgumentError, resolveDataVolume, resolveSettings } from "./validation";

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
        resolvePlainDataVolume(args, settings.tuning.quotaBackendBytes);
        const backup = resolveBackup(args.backup);
        const restore = resolveRestore(args.restore, settings.version, backup, settings.warnings);
        const base = safeClusterName(name);
        // Unique per project, stack and component name: keeps two clusters' parameters and tokens apart.
        const clusterId = `${base}-${sha256(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`).slice(0, 8)}`;
        const memberNames = Array.from({ length: settings.size }, (_, i) => `${base}-${i}`);
        const defragInUserData = checkPlainUserDataBound(
            args,
            settings,
            clusterId,
            memberNames,
            backup && { restore: restore !== undefined, toolsKey: backupLayout(backup.prefix, clusterId).toolsKey },
        );
        super(etcdClusterType, name, {}, opts);
        for (const warning of settings.warnings) {
            pulumi.log.warn(warning, this);
        }

        const parent = { parent: this };
        const tags: pulumi.Output<Record<string, string>> = pulumi
            .output(args.tags ?? {})
            .apply((t): Record<string, string> => ({ ...t, [clusterTagKey]: clusterId }));
        const version = settings.version.text;

        const region = aws.getRegionOutput({}, parent).region;
        const partition = aws.getPartitionOutput({}, parent).partition;
        const accountId = aws.getCallerIdentityOutput({}, parent).accountId;
        const instanceType = pulumi.output(args.instanceType ?? defaultInstanceType);
        const arch = instanceType.apply((t) => instanceArch(t));
        const release = pulumi.all([arch, args.binaryUrl, args.binarySha256]).apply(([a, url, sum]) => releaseSource(version, a, url, sum));
        const ami = args.ami ? pulumi.output(args.ami) : this.keptImage(name, arch);
        const dataVolume = pulumi.output({ ...args.dataVolume, kmsKeyId: undefined }).apply((dv) => {
            const resolved = resolveDataVolume(dv as Parameters<typeof resolveDataVolume>[0]);
            checkQuotaFitsVolume(settings.tuning.quotaBackendBytes, resolved.sizeGib);
            return resolved;
        });

        const identity = clusterIdentity(name, clusterId, args, settings, tags, this);
        const clusterBackups =
            backup &&
            clusterBackup({
                name,
                clusterId,
                backup,
                restore,
                version: settings.version,
                kmsKeyArn: identity.kmsKeyArn,
                region,
                partition,
                tags,
                parent: this,
            });
        const securityGroup = memberSecurityGroup(name, args, tags, this);
        this.securityGroupId = securityGroup.id;

        // Members: interfaces first, since a member's configuration names the members before it.
        const zoneIndexes = memberZoneIndexes(settings.size, settings.zoneCount);
        const subnetZones = args.subnetIds.map((id) => aws.ec2.getSubnetOutput({ id }, parent).availabilityZone);
        const interfaces = zoneIndexes.map((zone, i) => memberInterface({ name, parent: this, memberNames, tags }, i, args.subnetIds[zone], securityGroup.id));
        const endpoints: pulumi.Output<MemberEndpoint[]> = pulumi
            .all(interfaces.map((eni) => eni.privateIp))
            .apply((ips) => ips.map((ip, i) => ({ name: memberNames[i], ip })));
        // What members read at first start (see membership.ts).
        const layout = membershipLayout(settings, backup !== undefined);
        const membership = membershipParameters(name, clusterId, layout, endpoints, tags, this);
        const cluster: MemberContext = {
            name,
            parent: this,
            clusterId,
            base,
            membershipLayout: layout,
            membership,
            memberNames,
            args,
            settings,
            tags,
            identity,
            endpoints,
            release,
            arch,
            region,
            partition,
            accountId,
            ami,
            instanceType,
            dataVolume,
            backup: clusterBackups,
            defragInUserData,
            // A restored cluster must not share the token of the cluster its snapshot came from.
            clusterToken: restoredClusterToken(clusterId, args.restore?.from),
        };
        const rollout: RolloutContext = {
            name,
            clusterId,
            parent: this,
            settings,
            region,
            endpoints,
            ca: identity.ca,
            client: identity.client,
            instanceType,
            explicitAmi: args.ami,
            accountId: settings.readinessMode === "ssm" || clusterBackups ? accountId : pulumi.output(""),
            backup: clusterBackups?.target,
            base,
        };

        // A new cluster creates every member at once; on an existing one the first member waits for the backup
        // before a change, and each further member for the previous member's gate (see rollout.ts).
        const exists = clusterExists(clusterId, this);
        const prepared = zoneIndexes.map((zone, i) => prepareMember(cluster, i, interfaces[i], subnetZones[zone]));
        const members: Member[] = [];
        const gates: pulumi.Resource[] = [];
        let previous: pulumi.Resource | undefined = backupBeforeChange(rollout, prepared);
        prepared.forEach((preparedMember, i) => {
            const member = preparedMember.launch(rolloutPredecessor(exists, previous));
            members.push(member);
            const gate = memberGate(rollout, i, member);
            gates.push(...(gate ? [gate] : []));
            previous = gate ?? member.attachment;
        });
        clusterReadyGate(rollout, members, gates, exists);

        this.caCertPem = identity.ca.certPem;
        this.clientCertPem = identity.client.certPem;
        this.clientKeyPem = pulumi.secret(identity.client.privateKeyPem);
        this.clientEndpoints = endpoints.apply((ms) => ms.map((m) => clientUrl(m.ip)));
        this.members = pulumi
            .all([endpoints, pulumi.all(subnetZones), pulumi.all(args.subnetIds), pulumi.all(members.map((m) => m.instance.id))])
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

    /**
     * The Amazon Linux 2023 image of the members' architecture, as it was when first needed. One holder per
     * architecture records the image at its creation and ignores newer ones, so a newer image never replaces
     * running members; an instance type of the other architecture reads the other holder, which replaces the
     * members with an image they can boot (with ignoreChanges on the instance itself, the replacement would
     * reuse the old architecture's image and RunInstances would refuse it).
     */
    private keptImage(name: string, arch: pulumi.Output<ReleaseArch>): pulumi.Output<string> {
        const held = (["amd64", "arm64"] as const).map((a) => {
            const alArch = a === "arm64" ? "arm64" : "x86_64";
            const latest = aws.ssm.getParameterOutput({ name: `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${alArch}` }, { parent: this });
            const holder = new command.local.Command(
                `${name}-image-${alArch}`,
                { create: pulumi.interpolate`echo ${latest.insecureValue}` },
                { parent: this, ignoreChanges: ["create"] },
            );
            return [a, holder.stdout] as const;
        });
        return pulumi.all([arch, held[0][1], held[1][1]]).apply(([a, amd64, arm64]) => (a === "arm64" ? arm64 : amd64).trim());
    }
}

/** The cluster token of a cluster restored from `from`: the cluster id and a digest of the snapshot's URL. */
export function restoredClusterToken(clusterId: string, from: string | undefined): string | undefined {
    return from === undefined ? undefined : `${clusterId}-r${sha256(from).slice(0, 8)}`;
}

/**
 * Refuses, before anything exists, arguments whose user-data could exceed EC2's 16 KB (userDataBound.ts).
 * Returns whether defragmentation's files go in user-data: with backups on they travel in the tools object;
 * without, in user-data when they fit, else they are left out with a warning (inline keys take the room).
 */
function checkPlainUserDataBound(
    args: EtcdClusterArgs,
    settings: ClusterSettings,
    clusterId: string,
    memberNames: string[],
    backupTools: { restore: boolean; toolsKey: string } | undefined,
): boolean {
    const plainOr = <T>(value: pulumi.Input<T> | undefined): T | undefined | "output" =>
        value === undefined ? undefined : typeof value === "string" ? (value as T) : "output";
    const instanceType = plainOr(args.instanceType ?? defaultInstanceType);
    const bound: UserDataBoundParams = {
        settings,
        memberNames,
        clusterId,
        ssmParameterPrefix: (member) => memberParameterPrefix(clusterId, member),
        binaryUrl: plainOr(args.binaryUrl),
        caCertPem: args.ca === undefined ? undefined : plainOr(args.ca.certPem),
        arches: instanceType === "output" || instanceType === undefined ? ["amd64", "arm64"] : [instanceArch(instanceType)],
        metricsOnMemberAddress: (args.metricsCidrs ?? []).length > 0,
        officialUrl: (a) => officialReleaseUrl(settings.version.text, a),
        backupTools,
    };
    if (!backupTools) {
        const withDefrag = userDataBound({ ...bound, defragInUserData: true });
        if (withDefrag.bytes <= userDataBudgetBytes) {
            return true;
        }
        settings.warnings.push(
            `no automatic defragmentation: with backups off its script and timer would take user-data to ${withDefrag.bytes} bytes ` +
                `(over ${userDataBudgetBytes}); turn backups on (they carry it), use keyDelivery "ssm", or defragment by hand (README: "Defragmentation")`,
        );
    }
    checkUserDataBound(bound);
    return false;
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

/** Checks the data volume, and that the quota fits it, before any resource exists when all its values are plain. */
function resolvePlainDataVolume(args: EtcdClusterArgs, quotaBackendBytes: number): void {
    const dv = args.dataVolume ?? {};
    const values = [dv.sizeGib, dv.type, dv.iops, dv.throughput];
    if (values.every((v) => v === undefined || typeof v === "number" || typeof v === "string")) {
        checkQuotaFitsVolume(quotaBackendBytes, resolveDataVolume(dv as Parameters<typeof resolveDataVolume>[0]).sizeGib);
    }
}
