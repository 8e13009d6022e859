import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdClusterArgs } from "./args";
import { ports } from "./render/paths";
import { checkCidr } from "./validation";

/**
 * The members' one security group: peers only from itself, clients from itself and the allowed sources,
 * no SSH; egress only to HTTPS (release, SSM, KMS), the members' own ports and a release mirror's port.
 */
export function memberSecurityGroup(
    name: string,
    args: EtcdClusterArgs,
    tags: pulumi.Output<Record<string, string>>,
    parent: pulumi.Resource,
): aws.ec2.SecurityGroup {
    const opts = { parent };
    const group = new aws.ec2.SecurityGroup(
        `${name}-members`,
        { vpcId: args.vpcId, description: "etcd members: peer 2380 from members, client 2379 from allowed sources", tags },
        opts,
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
            opts,
        );
    const checked = (argument: string, cidr: pulumi.Input<string>, i: number) =>
        pulumi.output(cidr).apply((c) => {
            const warnings = checkCidr(`${argument}[${i}]`, c, args.allowPublicAccess === true);
            // Plain values were checked (and warned about) with the other arguments; outputs only now.
            if (typeof cidr !== "string") {
                warnings.forEach((w) => pulumi.log.warn(w, parent));
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
            opts,
        );
    egress("egress-https", 443, 443, { cidr: "0.0.0.0/0" }, "release download, SSM and KMS");
    egress("egress-members", ports.client, ports.peer, { group: group.id }, "etcd peers and clients");
    const mirrorPort = typeof args.binaryUrl === "string" ? urlPort(args.binaryUrl) : undefined;
    if (mirrorPort !== undefined && mirrorPort !== 443) {
        egress("egress-mirror", mirrorPort, mirrorPort, { cidr: "0.0.0.0/0" }, "release mirror");
    }
    return group;
}

/** The TCP port of an http(s) URL, explicit or implied by its scheme. */
function urlPort(url: string): number | undefined {
    const match = /^(https?):\/\/[^/:]+(?::(\d+))?/.exec(url);
    if (!match) {
        return undefined;
    }
    return match[2] ? Number(match[2]) : match[1] === "https" ? 443 : 80;
}
