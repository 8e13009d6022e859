// `npm run plan -- --new-network`: the stack as a plain `pulumi up` builds it, with the network it creates
// (the committed snapshot shows the component in an existing network, without it).
import { readFileSync } from "fs";
import { join } from "path";
import { planExampleStack } from "../../scripts/lib/plan/plan";

jest.setTimeout(60_000);

let plan: string;
beforeAll(async () => {
    plan = await planExampleStack({}, { newNetwork: true });
});

const rows = (type: string) => plan.split("\n").filter((l) => l.startsWith(`${type} `));

test("the default stack creates a VPC, a public subnet with the NAT gateway and its public address, and one private subnet per zone", () => {
    expect(rows("aws.ec2.Vpc")).toEqual([expect.stringMatching(/ etcd +10\.80\.0\.0\/16$/)]);
    expect(rows("aws.ec2.Subnet").map((l) => l.split(/ +/).slice(1).join(" "))).toEqual([
        "etcd-private-0 10.80.1.0/24 az=eu-west-1a",
        "etcd-private-1 10.80.2.0/24 az=eu-west-1b",
        "etcd-private-2 10.80.3.0/24 az=eu-west-1c",
        "etcd-public 10.80.0.0/24 az=eu-west-1a",
    ]);
    expect(rows("aws.ec2.NatGateway")).toEqual([expect.stringMatching(/in <etcd-public> address=<etcd-nat>$/)]);
    expect(rows("aws.ec2.Eip")).toHaveLength(1);
    expect(rows("aws.ec2.InternetGateway")).toHaveLength(1);
    expect(rows("aws.ec2.RouteTable").map((l) => l.split(/ {2,}/).slice(1).join(" "))).toEqual([
        "etcd-private 0.0.0.0/0 -> nat gateway <etcd>",
        "etcd-public 0.0.0.0/0 -> internet gateway <etcd>",
    ]);
    expect(rows("aws.ec2.RouteTableAssociation")).toHaveLength(4);
});

test("the members sit in the private subnets it creates, and the rest of the plan is the snapshot's", () => {
    const subnetIds = rows("aws.ec2.NetworkInterface").map((l) => /subnet=(\S+)/.exec(l)?.[1]);
    expect(new Set(subnetIds).size).toBe(3);
    expect(subnetIds.every((id) => /^subnet-[0-9a-f]{17}$/.test(id ?? ""))).toBe(true);
    const snapshot = readFileSync(join(__dirname, "..", "plan", "example-stack.plan.txt"), "utf8");
    expect(snapshot).not.toMatch(/^aws\.ec2\.(Vpc|NatGateway|Subnet|Eip) /m);
    const count = (text: string, type: string) => text.split("\n").filter((l) => l.startsWith(`${type} `)).length;
    for (const type of ["aws.ec2.Instance", "aws.ebs.Volume", "aws.ssm.Parameter", "aws.kms.Key", "aws.iam.Role", "command.local.Command"]) {
        expect([type, count(plan, type)]).toEqual([type, count(snapshot, type)]);
    }
    expect(Number(/^(\d+) resources:/m.exec(plan)?.[1])).toBe(Number(/^(\d+) resources:/m.exec(snapshot)?.[1]) + 14);
});
