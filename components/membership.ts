import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { clientUrl, MemberEndpoint } from "./render/etcdConfig";
import { renderMembershipLibrary } from "./render/membership";

/**
 * Where members find the membership functions and the discovery list (render/membership.ts), decided from
 * the arguments alone (the user-data bound needs it before anything exists):
 * - the discovery list (every member's client URL, so that even member 0 finds the running cluster when its
 *   data volume was lost) is an SSM parameter whenever members have a role to read it with (SSM key
 *   delivery, SSM readiness checks or backups); without one, a member looks at the members before it;
 * - the functions ride in the tools object with backups (pinned by its SHA-256 already), are an SSM
 *   parameter fetched with the keys and checked against its SHA-256 with SSM key delivery, and are written
 *   by user-data otherwise (inline keys: that user-data is secret and its scripts compressed).
 */
export interface MembershipLayout {
    discovery: boolean;
    library: "tools" | "ssm" | "user-data";
}

export function membershipLayout(s: { keyDelivery: string; readinessMode: string }, backups: boolean): MembershipLayout {
    return {
        discovery: s.keyDelivery === "ssm" || s.readinessMode === "ssm" || backups,
        library: backups ? "tools" : s.keyDelivery === "ssm" ? "ssm" : "user-data",
    };
}

/** The cluster's membership parameters: the discovery list, and the functions when they come from SSM. */
export interface MembershipParameters {
    discovery: aws.ssm.Parameter;
    discoveryName: string;
    library?: { parameter: aws.ssm.Parameter; name: string; sha256: string };
}

export function membershipParameterNames(clusterId: string): { library: string; discovery: string } {
    return { library: `/etcd/${clusterId}/membership.sh`, discovery: `/etcd/${clusterId}/members` };
}

/** The SHA-256 the boot script checks the fetched functions against (the value as the member writes it). */
export const membershipLibrarySha256 = () => createHash("sha256").update(renderMembershipLibrary()).digest("hex");

export function membershipParameters(
    name: string,
    clusterId: string,
    layout: MembershipLayout,
    endpoints: pulumi.Output<MemberEndpoint[]>,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): MembershipParameters | undefined {
    if (!layout.discovery) {
        return undefined;
    }
    const names = membershipParameterNames(clusterId);
    // Both are String parameters: nothing in them is secret. insecureValue: the SDK would otherwise mark the
    // value secret (an opaque diff in a preview).
    const library =
        layout.library === "ssm"
            ? {
                  parameter: new aws.ssm.Parameter(
                      `${name}-membership-functions`,
                      {
                          name: names.library,
                          type: "String",
                          insecureValue: renderMembershipLibrary(),
                          tier: "Standard",
                          description: "etcd membership functions, fetched at first start",
                          tags,
                      },
                      { parent },
                  ),
                  name: names.library,
                  sha256: membershipLibrarySha256(),
              }
            : undefined;
    // Updated in place when the size changes; members read it only when their data dir is empty.
    const discovery = new aws.ssm.Parameter(
        `${name}-members`,
        {
            name: names.discovery,
            type: "String",
            insecureValue: endpoints.apply((ms) => ms.map((m) => clientUrl(m.ip)).join(",")),
            tier: "Standard",
            description: "client URLs of the etcd members, where a member with an empty data dir looks for the cluster",
            tags,
        },
        { parent },
    );
    return { discovery, discoveryName: names.discovery, library };
}
