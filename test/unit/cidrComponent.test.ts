// The component with CIDR blocks in other spellings: no world-open rule is ever registered, whether the
// block is a plain value (refused before anything exists) or an output (refused when it resolves).
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import { join } from "path";
import type { EtcdClusterArgs } from "../../components";
import { installStackMocks, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"] };

describe("the component: no world-open rule by another spelling", () => {
    let mocks: StackMocks;
    const warnings: string[] = [];
    let EtcdCluster: typeof import("../../components").EtcdCluster;

    beforeAll(async () => {
        mocks = await installStackMocks({ tls: "fake" });
        pulumi.log.warn = async (message: string) => {
            warnings.push(message);
        };
        ({ EtcdCluster } = await import("../../components"));
    });

    test("plain 0::/0 without allowPublicAccess: refused before anything is registered", async () => {
        expect(() => new EtcdCluster("bypass", { ...base, clientCidrs: ["0::/0"] })).toThrow(
            "clientCidrs[0]: expected a CIDR block narrower than the whole internet",
        );
        await settled(mocks, 5);
        expect(mocks.resources.filter((r) => r.name.startsWith("bypass"))).toEqual([]);
    });

    test("IPv6 blocks reach the rule as cidrIpv6, IPv4 as cidrIpv4, on the port of their list", async () => {
        const cluster = new EtcdCluster("dual", {
            ...base,
            clientCidrs: ["10.0.0.0/16", "2001:db8::/32"],
            metricsCidrs: ["fd00::/8"],
            readiness: { mode: "none" },
        });
        await valueOf(cluster.members);
        await settled(mocks);
        const rule = (name: string) => mocks.get("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name).inputs;
        expect(rule("dual-client-cidr-0")).toMatchObject({ cidrIpv4: "10.0.0.0/16", fromPort: 2379, toPort: 2379, ipProtocol: "tcp" });
        expect(rule("dual-client-cidr-0").cidrIpv6).toBeUndefined();
        expect(rule("dual-client-cidr-1")).toMatchObject({ cidrIpv6: "2001:db8::/32", fromPort: 2379, toPort: 2379, ipProtocol: "tcp" });
        expect(rule("dual-client-cidr-1").cidrIpv4).toBeUndefined();
        expect(rule("dual-metrics-cidr-0")).toMatchObject({ cidrIpv6: "fd00::/8", fromPort: 2381, toPort: 2381, ipProtocol: "tcp" });
    });

    test("output-valued 0::/0 and 10.0.0.1/16 are refused when they resolve: their rules are never registered, a valid one is", () => {
        const run = spawnSync(
            process.execPath,
            [
                "-r",
                "ts-node/register/transpile-only",
                join(__dirname, "../helpers/lateCidrRun.ts"),
                JSON.stringify({ lateopen: "0::/0", latehost: "10.0.0.1/16", lateok: "2001:db8::/32" }),
            ],
            { encoding: "utf8", timeout: 120_000 },
        );
        // (the process exits non-zero: the refused registrations leave promises that never settle)
        const result = JSON.parse(run.stdout) as { rejections: string[]; rules: { name: string; cidrIpv4?: string; cidrIpv6?: string }[] };
        expect(result.rejections.join("\n")).toContain(
            'clientCidrs[0]: expected a CIDR block narrower than the whole internet (this is ::/0; set allowPublicAccess to open it), got "0::/0"',
        );
        expect(result.rejections.join("\n")).toContain('clientCidrs[0]: expected the block in canonical form, "10.0.0.0/16", got "10.0.0.1/16"');
        const cidrRules = result.rules.filter((r) => r.name.includes("-client-cidr-"));
        expect(cidrRules).toEqual([{ name: "lateok-client-cidr-0", cidrIpv6: "2001:db8::/32" }]);
    });
});
