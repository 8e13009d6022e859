// The user-data bound against the real user-data of clusters built under mocks with real certificates: never
// below it, and refusals before any resource exists. The bound's own figures: userDataBound.test.ts.
import * as pulumi from "@pulumi/pulumi";
import type { EtcdClusterArgs } from "../../components";
import { userDataBudgetBytes } from "../../components/userDataBound";
import { installStackMocks, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";
import { boundOf, subnetIds } from "../helpers/userDataBound";

jest.setTimeout(120_000);

describe("under mocks with real certificates", () => {
    let mocks: StackMocks;
    let EtcdCluster: typeof import("../../components").EtcdCluster;
    beforeAll(async () => {
        mocks = await installStackMocks({ tls: "real" });
        ({ EtcdCluster } = await import("../../components"));
        pulumi.log.warn = async () => {};
    });

    const userDataOf = async (name: string, args: EtcdClusterArgs) => {
        const cluster = new EtcdCluster(name, args);
        await valueOf(cluster.members);
        await settled(mocks);
        return mocks
            .ofType("aws:ec2/instance:Instance")
            .filter((r) => r.name.startsWith(`${name}-member-`))
            .map((r) => Buffer.byteLength(r.inputs.userData as string));
    };

    test.each([
        // The combinations that exceeded 16 KB before certificates moved to parameters, and the largest ones.
        ["ssm, RSA, auth, 5 members", "ssmrsaauth5", { size: 5, tls: { keyAlgorithm: "RSA" as const }, auth: true }],
        [
            "ssm, RSA, auth, metrics, 9 members",
            "ssmrsaauthmetrics9",
            { size: 9, tls: { keyAlgorithm: "RSA" as const }, auth: true, metricsCidrs: ["10.9.0.0/16"] },
        ],
        ["inline, ECDSA, 3 members", "inlineecdsa3", { keyDelivery: "inline" as const, readiness: { mode: "none" as const } }],
        // Certificates issued by the caller's CA carry its long subject: larger than those the cluster's own CA issues.
    ])("%s: the real user-data stays under the bound, and the bound under the budget", async (_, name, extra) => {
        const args: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds, version: "3.6.14", ...extra };
        const sizes = await userDataOf(name, args);
        expect(sizes.length).toBe("size" in extra ? extra.size : 3);
        const bound = boundOf(args, { name });
        expect(Math.max(...sizes)).toBeLessThanOrEqual(bound);
        expect(bound).toBeLessThanOrEqual(userDataBudgetBytes);
    });

    test("inline keys with RSA cannot fit: refused before any resource, with the figure and what to change", async () => {
        const make = () => new EtcdCluster("inlinersa", { vpcId: "vpc-0123abcd", subnetIds, keyDelivery: "inline", tls: { keyAlgorithm: "RSA" } });
        expect(make).toThrow(
            /^keyDelivery: expected arguments whose user-data fits in 15360 bytes \(EC2 allows 16384; 1024 are kept free\); keyDelivery "inline", RSA keys, 3 members need up to \d+ bytes for inlinersa-\d: use keyDelivery "ssm"/,
        );
        await settled(mocks, 5);
        expect(mocks.resources.filter((r) => r.name.startsWith("inlinersa"))).toEqual([]);
    });

    test("inline keys with a CA known only as an output: refused before any resource (its size decides whether user-data fits)", async () => {
        const make = () =>
            new EtcdCluster("inlineca", {
                vpcId: "vpc-0123abcd",
                subnetIds,
                keyDelivery: "inline",
                ca: { certPem: pulumi.output("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"), privateKeyPem: pulumi.secret("k") },
            });
        expect(make).toThrow('ca.certPem: expected a plain string with keyDelivery "inline"');
        await settled(mocks, 5);
        expect(mocks.resources.filter((r) => r.name.startsWith("inlineca"))).toEqual([]);
    });

    test("a binaryUrl longer than 320 characters is refused (an output URL is bounded by that length)", () => {
        const url = `https://mirror.example/${"a".repeat(300)}.tar.gz`;
        expect(() => new EtcdCluster("longurl", { vpcId: "vpc-0123abcd", subnetIds, binaryUrl: url, binarySha256: "c".repeat(64) })).toThrow(
            `binaryUrl: expected a URL of at most 320 characters, got "${url.length} characters"`,
        );
    });
});
