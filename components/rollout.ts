import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { healthGateScript } from "./healthGate";
import { ClusterCa, IssuedCertificate } from "./pki";
import { clientUrl, MemberEndpoint, peerUrl } from "./render/etcdConfig";
import { allMemberNames } from "./render/membership";
import { renderDirectRemoveStep, renderSsmRemoveStep } from "./render/memberRemoval";
import { ClusterSettings } from "./validation";
import { Member } from "./member";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** What the readiness checks of one cluster share. */
export interface RolloutContext {
    name: string;
    parent: pulumi.Resource;
    settings: ClusterSettings;
    region: pulumi.Output<string>;
    endpoints: pulumi.Output<MemberEndpoint[]>;
    ca: ClusterCa;
    client: IssuedCertificate;
    instanceType: pulumi.Output<string>;
    /** The caller's AMI, if any: changing it replaces members, so it is part of a member's revision. */
    explicitAmi: pulumi.Input<string> | undefined;
    /** The safe cluster name that member names start with. */
    base: string;
}

/**
 * The membership step of one member, after its instance:
 * - create and update: the gate, until the cluster is healthy and this member and every member before it
 *   are in the member list as started voters with their peer URLs (a new member has added itself as a
 *   learner and been promoted). The next member's instance depends on this step, so members join, and
 *   are replaced or restarted, one at a time;
 * - delete (scale-down): removes the member from the cluster before its instance is destroyed (the step
 *   depends on the instance, so Pulumi deletes the step first), refusing while the rest is unhealthy.
 * Its environment names this member and those before it only: a size change leaves it unchanged.
 * Undefined when the readiness check is off.
 */
export function memberGate(rollout: RolloutContext, i: number, member: Member): command.local.Command | undefined {
    const { settings } = rollout;
    if (settings.readinessMode === "none") {
        return undefined;
    }
    const gate = healthGateScript();
    const upToThis = rollout.endpoints.apply((ms) => ms.slice(0, i + 1));
    return new command.local.Command(
        `${rollout.name}-member-${i}-rolled`,
        {
            create: gate,
            update: gate,
            delete: settings.readinessMode === "ssm" ? renderSsmRemoveStep() : renderDirectRemoveStep(),
            interpreter: ["/bin/bash", "-c"],
            // Whatever replaces or restarts this member changes this environment, so the gate's update
            // (the health wait) runs before the next member is touched.
            environment: pulumi
                .all([gateEnvironment(rollout, [member.instance.id], upToThis), member.userData, rollout.instanceType, rollout.explicitAmi ?? "", upToThis])
                .apply(([env, ud, type, explicitAmi, ms]): Record<string, string> => ({
                    ...env,
                    ...membershipEnvironment(ms, false),
                    ETCD_GATE_MEMBER: member.name,
                    ETCD_GATE_MEMBER_REVISION: sha256(JSON.stringify({ userData: sha256(ud), instanceType: type, ami: explicitAmi })),
                    ETCD_REMOVE_MEMBER: member.name,
                    ETCD_REMOVE_PEER_URL: peerUrl(ms[i].ip),
                    ETCD_REMOVE_TIMEOUT_SECONDS: String(settings.readinessTimeoutSeconds),
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

/** The readiness check of the whole cluster, after every member: `pulumi up` ends when etcd is healthy. */
export function clusterReadyGate(rollout: RolloutContext, members: Member[], after: pulumi.Resource[]): command.local.Command | undefined {
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
            // The final gate wants exactly the program's members; members a scale-down removes are deleted
            // after it (Pulumi deletes last), so they are tolerated as leaving.
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
        { parent: rollout.parent, dependsOn: [...members.map((m) => m.attachment), ...after] },
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
        return pulumi.all([rollout.region, pulumi.all(instanceIds)]).apply(([reg, ids]): Record<string, string> => ({
            ...common,
            AWS_REGION: reg,
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
