// Runs clusters whose CIDRs are outputs, under mocks, in a process of its own: a refused output fails
// its resource's registration as an unhandled rejection (what fails `pulumi up`), which a test process
// cannot observe. Prints {"rejections": [...], "rules": [...]} as JSON.
import * as pulumi from "@pulumi/pulumi";
import { installStackMocks, settled, valueOf } from "../../scripts/lib/mocks/stackMocks";

const rejections: string[] = [];
process.on("unhandledRejection", (e) => rejections.push(String(e instanceof Error ? e.message : e)));

async function main(): Promise<void> {
    const cidrs: Record<string, string> = JSON.parse(process.argv[2]);
    const mocks = await installStackMocks({ tls: "fake" });
    const { EtcdCluster } = await import("../../components");
    const subnetIds = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
    const clusters = Object.entries(cidrs).map(
        ([name, cidr]) => new EtcdCluster(name, { vpcId: "vpc-0123abcd", subnetIds, clientCidrs: [pulumi.output(cidr)], readiness: { mode: "none" } }),
    );
    await Promise.all(clusters.map((c) => valueOf(c.members)));
    await settled(mocks);
    const rules = mocks
        .ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        .map((r) => ({ name: r.name, cidrIpv4: r.inputs.cidrIpv4, cidrIpv6: r.inputs.cidrIpv6 }));
    process.stdout.write(JSON.stringify({ rejections, rules }), () => process.exit(0));
}

main().catch((e) => {
    process.stderr.write(String(e));
    process.exit(2);
});
