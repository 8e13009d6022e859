// Example stack: an etcd cluster in an existing network, or in a network of its own spread over `zones`
// availability zones. A new stack needs nothing but AWS credentials and a region.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdCluster, ReadinessMode } from "./components";

const config = new pulumi.Config();
const size = config.getNumber("size") ?? 3;
const zones = config.getNumber("zones") ?? 3;
const vpcId = config.get("vpcId");
const subnetIds = config.getObject<string[]>("subnetIds");

if ((vpcId === undefined) !== (subnetIds === undefined)) {
    throw new Error("config: set vpcId and subnetIds together, or neither (the stack then creates its own network)");
}

/** A VPC with one private subnet per zone for the members and one NAT gateway for the release download. */
function createNetwork(zoneCount: number): { vpcId: pulumi.Output<string>; subnetIds: pulumi.Output<string>[] } {
    const available = aws.getAvailabilityZonesOutput({ state: "available" });
    const vpc = new aws.ec2.Vpc("etcd", { cidrBlock: "10.80.0.0/16", enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: "etcd" } });
    const igw = new aws.ec2.InternetGateway("etcd", { vpcId: vpc.id, tags: { Name: "etcd" } });
    const publicSubnet = new aws.ec2.Subnet("etcd-public", {
        vpcId: vpc.id,
        cidrBlock: "10.80.0.0/24",
        availabilityZone: available.names[0],
        tags: { Name: "etcd-public" },
    });
    const publicRoutes = new aws.ec2.RouteTable("etcd-public", {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: { Name: "etcd-public" },
    });
    new aws.ec2.RouteTableAssociation("etcd-public", { subnetId: publicSubnet.id, routeTableId: publicRoutes.id });
    const natAddress = new aws.ec2.Eip("etcd-nat", { domain: "vpc", tags: { Name: "etcd-nat" } });
    const nat = new aws.ec2.NatGateway("etcd", { subnetId: publicSubnet.id, allocationId: natAddress.id, tags: { Name: "etcd" } }, { dependsOn: [igw] });
    const privateRoutes = new aws.ec2.RouteTable("etcd-private", {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
        tags: { Name: "etcd-private" },
    });
    const subnets = Array.from({ length: zoneCount }, (_, i) => {
        const subnet = new aws.ec2.Subnet(`etcd-private-${i}`, {
            vpcId: vpc.id,
            cidrBlock: `10.80.${i + 1}.0/24`,
            availabilityZone: available.names[i],
            tags: { Name: `etcd-private-${i}` },
        });
        new aws.ec2.RouteTableAssociation(`etcd-private-${i}`, { subnetId: subnet.id, routeTableId: privateRoutes.id });
        return subnet.id;
    });
    return { vpcId: vpc.id, subnetIds: subnets };
}

const network = vpcId && subnetIds ? { vpcId, subnetIds } : createNetwork(zones);

const cluster = new EtcdCluster("etcd", {
    vpcId: network.vpcId,
    subnetIds: network.subnetIds,
    size,
    version: config.get("version"),
    instanceType: config.get("instanceType"),
    clientCidrs: config.getObject<string[]>("clientCidrs"),
    binaryUrl: config.get("binaryUrl"),
    binarySha256: config.get("binarySha256"),
    readiness: { mode: config.get<ReadinessMode>("readinessMode") },
    auth: config.getBoolean("auth"),
    // Scheduled S3 backups are on unless the stack turns them off (`pulumi config set backup false`).
    backup: { enabled: config.getBoolean("backup") },
    tags: { "pulumi:stack": pulumi.getStack() },
});

export const clientEndpoints = cluster.clientEndpoints;
export const members = cluster.members;
export const faultTolerance = cluster.faultTolerance;
export const securityGroupId = cluster.securityGroupId;
export const caCertPem = cluster.caCertPem;
export const clientCertPem = cluster.clientCertPem;
export const clientKeyPem = cluster.clientKeyPem;
/** Paste after saving the certificates: pulumi stack output caCertPem > ca.crt (and so on). */
export const etcdctlCommand = cluster.clientEndpoints.apply(
    (endpoints) => `etcdctl --endpoints=${endpoints.join(",")} --cacert=ca.crt --cert=client.crt --key=client.key endpoint health`,
);
