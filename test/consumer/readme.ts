import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EtcdCluster } from "@platform/etcd-cluster";

// Your network: an existing VPC and one private subnet per zone, here from the stack's config
// (pulumi config set vpcId vpc-…; pulumi config set --path 'privateSubnetIds[0]' subnet-…, and so on).
const config = new pulumi.Config();
const vpc = aws.ec2.getVpcOutput({ id: config.require("vpcId") });
const privateSubnetIds = config.requireObject<string[]>("privateSubnetIds");

// The kube-apiserver instances' security group: its members may reach etcd's client port.
const apiServerSg = new aws.ec2.SecurityGroup("kube-apiserver", { vpcId: vpc.id, description: "kube-apiserver" });

const etcd = new EtcdCluster("control-plane-etcd", {
    vpcId: vpc.id,
    subnetIds: privateSubnetIds, // one per zone; 3 zones survive a zone failure
    size: 5,
    clientSecurityGroupIds: [apiServerSg.id],
    dataVolume: { sizeGib: 64, iops: 6000, throughput: 250 },
    tuning: { quotaBackendBytes: 8 * 1024 ** 3 },
    tags: { team: "platform" },
});

export const etcdServers = etcd.clientEndpoints.apply((urls) => urls.join(",")); // kube-apiserver --etcd-servers
export const etcdCa = etcd.caCertPem; // --etcd-cafile
export const etcdCert = etcd.clientCertPem; // --etcd-certfile
export const etcdKey = etcd.clientKeyPem; // --etcd-keyfile (secret)
