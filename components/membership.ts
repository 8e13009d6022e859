import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { clientUrl, MemberEndpoint } from "./render/etcdConfig";
import { renderMembershipLibrary } from "./render/membership";

/**
 * What members read at first start, whenever they have a role to read it with (SSM key delivery, SSM
 * readiness checks or backups): the membership functions (the same text for every
 * member, kept out of user-data, which holds only their SHA-256) and a discovery list of every member's
 * client URL, so that even member 0 finds the running cluster when its data volume was lost. Both are
 * String parameters: nothing in them is secret.
 */
export interface MembershipParameters {
    library: aws.ssm.Parameter;
    libraryName: string;
    librarySha256: string;
    discovery: aws.ssm.Parameter;
    discoveryName: string;
}

export function membershipParameterNames(clusterId: string): { library: string; discovery: string } {
    return { library: `/etcd/${clusterId}/membership.sh`, discovery: `/etcd/${clusterId}/members` };
}

export function membershipParameters(
    name: string,
    clusterId: string,
    endpoints: pulumi.Output<MemberEndpoint[]>,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): MembershipParameters {
    const names = membershipParameterNames(clusterId);
    const text = renderMembershipLibrary();
    const library = new aws.ssm.Parameter(
        `${name}-membership-functions`,
        { name: names.library, type: "String", insecureValue: text, tier: "Standard", description: "etcd membership functions, sourced at first start", tags },
        { parent },
    );
    // Updated in place when the size changes; members read it only when their data dir is empty.
    const discovery = new aws.ssm.Parameter(
        `${name}-members`,
        {
            name: names.discovery,
            type: "String",
            // insecureValue: nothing secret, and the SDK would otherwise mark the value secret (an opaque diff).
            insecureValue: endpoints.apply((ms) => ms.map((m) => clientUrl(m.ip)).join(",")),
            tier: "Standard",
            description: "client URLs of the etcd members, where a member with an empty data dir looks for the cluster",
            tags,
        },
        { parent },
    );
    return {
        library,
        libraryName: names.library,
        librarySha256: createHash("sha256").update(text).digest("hex"),
        discovery,
        discoveryName: names.discovery,
    };
}
