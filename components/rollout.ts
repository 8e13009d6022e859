import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { healthGateScript } from "./healthGate";
import { BackupTarget } from "./backup";
import { ClusterCa, IssuedCertificate } from "./pki";
import { clientUrl, MemberEndpoint, peerUrl } from "./render/etcdConfig";
import { allMemberNames } from "./render/membership";
import { renderDirectRemoveStep, renderSsmRemoveStep } from "./render/memberRemoval";
import { ClusterSettings } from "./validation";
import { Member, PreparedMember } from "./member";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Tag that every tagged AWS resource of a cluster carries, with the cluster's id as its value. */
export const clusterTagKey = "etcd:cluster";

/**
 * Whether any member of this cluster exists already, asked of AWS: a network interface tagged with the
 * cluster's id. Interfaces are the first member resources created and the last deleted (an instance needs
 * its interface), so a member that could hold data implies one, and a first `pulumi up` that failed after
 * any interface counts as existing. The lookup's arguments are plain values, so preview and up ask the same
 * question and, nothing having changed in between, get the same answer; it needs no input from the user.
 */
export function clusterExists(clusterId: string, parent: pulumi.Resource): pulumi.Output<boolean> {
    return aws.ec2
        .getNetworkInterfacesOutput({ filters: [{ name: `tag:${clusterTagKey}`, values: [clusterId] }] }, { parent })
        .ids.apply((ids) => ids.length > 0);
}

/**
 * What a member's instance waits for besides its own resources. On an existing cluster: the previous
 * member's gate (or its attachment, without gates), so that a change reaches members one at a time, the next
 * only once the cluster is healthy again. On a new cluster: nothing. No quorum exists before a majority of
 * members runs, so there is nothing to protect, and every member is created at once.
 */
export function rolloutPredecessor(
    exists: pulumi.Output<boolean>,
    previous: pulumi.Resource | undefined,
): pulumi.Output<pulumi.Resource[]> | pulumi.Resource[] {
    if (!previous) {
        return [];
    }
    // An output that resolves to resources (the SDK's dependsOn accepts it) rather than pulumi.output([previous]),
    // which would copy the resource into a plain value.
    return exists.apply((existing) => (existing ? [previous] : []));
}

/** What the readiness checks of one cluster share. */
export interface RolloutContext {
    name: string;
    /** The component's cluster id: the members' etcd:cluster tag, and part of a backup's metadata. */
    clusterId: string;
    parent: pulumi.Resource;
    settings: ClusterSettings;
    region: pulumi.Output<string>;
    endpoints: pulumi.Output<MemberEndpoint[]>;
    ca: ClusterCa;
    client: IssuedCertificate;
    instanceType: pulumi.Output<string>;
    /** The caller's AMI, if any: changing it replaces members, so it is part of a member's revision. */
    explicitAmi: pulumi.Input<string> | undefined;
    /** The AWS account the provider deploys to: the AWS CLI calls refuse to run as another account. */
    accountId: pulumi.Output<string>;
    /** Backups are on: the gates back the cluster up before a change and before each next member changes. */
    backup?: pulumi.Output<BackupTarget>;
    /** The safe cluster name that member names start with. */
    base: string;
}

/**
 * The provider's credentials as far as the stack configuration names them (aws:profile, aws:assumeRoles or
 * aws:assumeRole), for the AWS CLI of the ssm-mode check. Credentials of an explicit provider object cannot
 * be read: the check then uses the environment of `pulumi up` and refuses another account than the stack's.
 */
export function stackCredentialEnvironment(config: pulumi.Config = new pulumi.Config("aws")): Record<string, string> {
    const env: Record<string, string> = {};
    const profile = config.get("profile");
    if (profile) {
        env.AWS_PROFILE = profile;
    }
    const roles = config.getObject<{ roleArn?: string }[]>("assumeRoles") ?? [];
    const role = roles[0]?.roleArn ?? config.getObject<{ roleArn?: string }>("assumeRole")?.roleArn;
    if (role) {
        env.ETCD_GATE_ROLE_ARN = role;
    }
    return env;
}

/** What replaces a member when it changes: its user-data, the instance type and the caller's AMI, as one digest. */
function memberRevision(rollout: RolloutContext, member: Pick<PreparedMember, "userData">): pulumi.Output<string> {
    return pulumi
        .all([member.userData, rollout.instanceType, rollout.explicitAmi ?? ""])
        .apply(([ud, type, explicitAmi]) => sha256(JSON.stringify({ userData: sha256(ud), instanceType: type, ami: explicitAmi })));
}

/** Backups before changes run wherever the readiness checks do: with backups on, in ssm and direct mode. */
const backsUpBeforeChanges = (rollout: RolloutContext): rollout is RolloutContext & { backup: pulumi.Output<BackupTarget> } =>
    rollout.backup !== undefined && rollout.settings.readinessMode !== "none";

/**
 * What a gate needs to back the cluster up. In ssm mode the members' own backup script does it (through SSM
 * Run Command), and knows where to. In direct mode nothing can run on the members: the gate takes the
 * leader's snapshot from this machine over the client endpoint and uploads it with the stack's credentials,
 * so it is told the bucket, prefix and key (the etcd version in the metadata is the leader's own: mid-upgrade,
 * the program's is not yet the cluster's).
 */
function backupEnvironment(rollout: RolloutContext & { backup: pulumi.Output<BackupTarget> }): pulumi.Output<Record<string, string>> {
    if (rollout.settings.readinessMode === "ssm") {
        return pulumi.output<Record<string, string>>({ ETCD_GATE_BACKUP: "1" });
    }
    return pulumi.all([rollout.backup, rollout.accountId]).apply(([t, account]): Record<string, string> => ({
        ...stackCredentialEnvironment(),
        ETCD_GATE_BACKUP: "1",
        AWS_REGION: t.region,
        ETCD_GATE_ACCOUNT_ID: account,
        ETCD_GATE_BACKUP_URL: `s3://${t.bucket}/${t.snapshotsPrefix}`,
        ETCD_GATE_BACKUP_KMS_KEY_ARN: t.kmsKeyArn,
        ETCD_GATE_CLUSTER_ID: rollout.clusterId,
    }));
}

/**
 * The backup before a change: when any member is about to be replaced, added or removed (the digest of every
 * member's revision changes), its update backs the running cluster up before the first member is touched, and
 * a failed backup stops the change. It finds the running members by the cluster's tag, not by instance ids
 * (those belong to the instances that wait for it). At creation it only records the cluster's members: no
 * cluster runs yet. In direct mode the backup is taken from this machine (see backupEnvironment). Undefined
 * without backups or readiness checks.
 */
export function backupBeforeChange(rollout: RolloutContext, members: PreparedMember[]): command.local.Command | undefined {
    if (!backsUpBeforeChanges(rollout)) {
        return undefined;
    }
    const script = healthGateScript();
    return new command.local.Command(
        `${rollout.name}-backup-before-change`,
        {
            create: `echo "etcd cluster ${rollout.clusterId}: ${members.length} members recorded"`,
            update: script,
            interpreter: ["/bin/bash", "-c"],
            environment: pulumi
                .all([gateEnvironment(rollout, [], rollout.endpoints), backupEnvironment(rollout), pulumi.all(members.map((m) => memberRevision(rollout, m)))])
                .apply(([env, backup, revisions]): Record<string, string> => {
                    const { ETCD_GATE_INSTANCE_IDS: _byTagInstead, ...gate } = env;
                    const { ETCD_GATE_BACKUP: _always, ...where } = backup;
                    return {
                        ...gate,
                        ...where,
                        ETCD_GATE_BEFORE_CHANGE: "1",
                        ETCD_GATE_CLUSTER_ID: rollout.clusterId,
                        ETCD_GATE_CHANGE_REVISION: sha256(revisions.join(" ")),
                    };
                }),
        },
        { parent: rollout.parent },
    );
}

/**
 * The membership step of one member, after its instance (undefined when the readiness check is off):
 * - create and update: the gate, until the cluster is healthy and this member and every member before it
 *   are in the member list as started voters with their peer URLs (a new member has added itself as a
 *   learner and been promoted). On an existing cluster the next member's instance depends on this step, so
 *   members join, and are replaced or restarted, one at a time; on a new cluster nothing waits for it. With
 *   backups the update (a member replaced or restarted) then backs the cluster up before the next member
 *   changes (on a member in ssm mode, from this machine in direct mode); the create does not (a new cluster
 *   has nothing to back up);
 * - delete (scale-down): removes the member from the cluster before its instance is destroyed (the step
 *   depends on the instance, so Pulumi deletes the step first), after every higher member has left and
 *   refusing while the rest is unhealthy.
 * Its environment names this member and those before it only: a size change leaves it unchanged.
 */
export function memberGate(rollout: RolloutContext, i: number, member: Member): command.local.Command | undefined {
    const { settings } = rollout;
    if (settings.readinessMode === "none") {
        return undefined;
    }
    const gate = healthGateScript();
    // A member's first gate runs no backup: on a new cluster every member's gate runs at once, on an empty one.
    const firstGate = `unset ETCD_GATE_BACKUP\n${gate}`;
    const upToThis = rollout.endpoints.apply((ms) => ms.slice(0, i + 1));
    return new command.local.Command(
        `${rollout.name}-member-${i}-rolled`,
        {
            create: firstGate,
            update: gate,
            delete: settings.readinessMode === "ssm" ? renderSsmRemoveStep() : renderDirectRemoveStep(),
            interpreter: ["/bin/bash", "-c"],
            // Whatever replaces or restarts this member changes this environment, so the gate's update
            // (the health wait) runs before the next member is touched.
            environment: pulumi
                .all([
                    gateEnvironment(rollout, [member.instance.id], upToThis),
                    backsUpBeforeChanges(rollout) ? backupEnvironment(rollout) : {},
                    memberRevision(rollout, member),
                    upToThis,
                ])
                .apply(([env, backup, revision, ms]): Record<string, string> => ({
                    ...env,
                    ...backup,
                    ...membershipEnvironment(ms, false),
                    ETCD_GATE_MEMBER: member.name,
                    ETCD_GATE_MEMBER_REVISION: revision,
                    ETCD_REMOVE_MEMBER: member.name,
                    ETCD_REMOVE_PEER_URL: peerUrl(ms[i].ip),
                    // Scale-down removes the highest index first, whatever order Pulumi deletes the steps in.
                    ETCD_REMOVE_AFTER: allMemberNames(rollout.base)
                        .slice(i + 1)
                        .join(" "),
                })),
        },
        { parent: rollout.parent, dependsOn: [member.attachment] },
    );
}

/** What the gate expects of the member list (scripts/etcd-health-gate.sh). */
function membershipEnvironment(members: MemberEndpoint[], exact: boolean, leaving: string[] = []): Record<string, string> {
    return {
        ETCD_GATE_MEMBERS: members.map((m) => `${m.name}=${peerUrl(m.ip)}`).join(","),
        ETCD_GATE_MEMBERS_EXACT: String(exact),
        ...(leaving.length > 0 ? { ETCD_GATE_LEAVING: leaving.join(" ") } : {}),
    };
}

/**
 * The readiness check of the whole cluster, after every member (and, on an existing cluster, every member's
 * step): `pulumi up` ends when etcd is healthy and its member list is exactly the program's members. Members
 * that a scale-down removes are deleted after it (Pulumi deletes last): they are tolerated as leaving. On a
 * new cluster the check need not wait for the member steps, which keeps the critical path one step shorter.
 */
export function clusterReadyGate(
    rollout: RolloutContext,
    members: Member[],
    gates: pulumi.Resource[],
    exists: pulumi.Output<boolean>,
): command.local.Command | undefined {
    if (rollout.settings.readinessMode === "none") {
        return undefined;
    }
    const script = healthGateScript();
    return new command.local.Command(
        `${rollout.name}-ready`,
        {
            create: script,
            update: script,
            interpreter: ["/bin/bash", "-c"],
            environment: pulumi
                .all([
                    gateEnvironment(
                        rollout,
                        members.map((m) => m.instance.id),
                        rollout.endpoints,
                    ),
                    rollout.endpoints,
                ])
                .apply(([env, ms]): Record<string, string> => ({
                    ...env,
                    ...membershipEnvironment(
                        ms,
                        true,
                        allMemberNames(rollout.base).filter((n) => !ms.some((m) => m.name === n)),
                    ),
                })),
        },
        {
            parent: rollout.parent,
            dependsOn: exists.apply((existing): pulumi.Resource[] => [...members.map((m) => m.attachment), ...(existing ? gates : [])]),
        },
    );
}

/** Environment of the readiness check (scripts/etcd-health-gate.sh). */
function gateEnvironment(
    rollout: RolloutContext,
    instanceIds: pulumi.Input<string>[],
    endpoints: pulumi.Output<MemberEndpoint[]>,
): pulumi.Output<Record<string, string>> {
    const { settings } = rollout;
    const common = {
        ETCD_GATE_MODE: settings.readinessMode,
        ETCD_GATE_TIMEOUT_SECONDS: String(settings.readinessTimeoutSeconds),
    };
    if (settings.readinessMode === "ssm") {
        return pulumi.all([rollout.region, rollout.accountId, pulumi.all(instanceIds)]).apply(([reg, account, ids]): Record<string, string> => ({
            ...common,
            ...stackCredentialEnvironment(),
            AWS_REGION: reg,
            ETCD_GATE_ACCOUNT_ID: account,
            ETCD_GATE_INSTANCE_IDS: ids.join(" "),
        }));
    }
    // Direct mode hands the client key to the check: the whole environment is secret.
    return pulumi.secret(
        pulumi
            .all([endpoints, rollout.ca.certPem, rollout.client.certPem, rollout.client.privateKeyPem])
            .apply(([ms, caPem, certPem, keyPem]): Record<string, string> => ({
                ...common,
                ETCD_GATE_ENDPOINTS: ms.map((m) => clientUrl(m.ip)).join(","),
                ETCD_GATE_CA_PEM: caPem,
                ETCD_GATE_CERT_PEM: certPem,
                ETCD_GATE_KEY_PEM: keyPem,
            })),
    );
}
