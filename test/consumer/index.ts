// A platform program that depends on the packed package: it must type-check under `strict` against the
// package's declarations alone.
import * as pulumi from "@pulumi/pulumi";
import { DataVolumeType, EtcdCluster, EtcdClusterArgs, EtcdMember, memberZoneIndexes, renderSystemdUnit } from "@platform/etcd-cluster";

const args: EtcdClusterArgs = {
    vpcId: "vpc-0123456789abcdef0",
    subnetIds: ["subnet-0aaa", "subnet-0bbb", "subnet-0ccc"],
    size: 5,
    dataVolume: { sizeGib: 64, type: DataVolumeType.Gp3, iops: 6000 },
    clientCidrs: [pulumi.output("10.0.0.0/16")],
    readiness: { mode: "ssm" },
};

export function build(): pulumi.Output<string[]> {
    const cluster = new EtcdCluster("platform-etcd", args);
    const names: pulumi.Output<string[]> = cluster.members.apply((members: EtcdMember[]) => members.map((m) => m.name));
    return pulumi.all([names, cluster.clientEndpoints]).apply(([n, urls]) => n.map((name, i) => `${name}=${urls[i]}`));
}

export const unitPreview: string = renderSystemdUnit({ memberName: "platform-etcd-0" });
export const spread: number[] = memberZoneIndexes(5, 3);
