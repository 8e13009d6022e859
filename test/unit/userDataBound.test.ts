// EC2's 16 KB user-data limit, known to hold before anything is created: the plain-value bound covers every
// combination the arguments allow with SSM delivery (backups and a restore included, with 1 KB to spare), is never below the real user-data
// (real certificates under mocks), and refuses what cannot fit (inline RSA keys) before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import type { EtcdClusterArgs } from "../../components";
import { backupLayout } from "../../components/backup";
import { officialReleaseUrl } from "../../components/releases";
import { userDataBound, userDataBudgetBytes, userDataReserveBytes } from "../../components/userDataBound";
import { limits, resolveSettings } from "../../components/validation";
import { installStackMocks, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(120_000);

const subnetIds = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
const longName = "c".repeat(40);

function boundOf(args: Partial<EtcdClusterArgs>, options: { name?: string; urlOutput?: boolean; typeOutput?: boolean } = {}) {
    const settings = resolveSettings({ vpcId: "vpc-0123abcd", subnetIds, ...args });
    const base = options.name ?? longName;
    const clusterId = `${base}-0123abcd`;
    return userDataBound({
        settings,
        memberNames: Array.from({ length: settings.size }, (_, i) => `${base}-${i}`),
        clusterId,
        ssmParameterPrefix: (m) => `/etcd/${clusterId}/${m}`,
        binaryUrl: options.urlOutput ? "output" : undefined,
        caCertPem: undefined,
        arches: options.typeOutput ? ["amd64", "arm64"] : ["amd64"],
        metricsOnMemberAddress: (args.metricsCidrs ?? []).length > 0,
        officialUrl: (a) => officialReleaseUrl(settings.version.text, a),
        // Backups are on by default; a restore adds its step.
        backupTools: { restore: true, toolsKey: backupLayout("etcd-backups/", clusterId).toolsKey },
    }).bytes;
}

test("the budget is EC2's limit less a reserve of 1 KB for features to come", () => {
    expect(limits.userDataBytes).toBe(16384);
    expect(userDataReserveBytes).toBe(1024);
    expect(userDataBudgetBytes).toBe(15360);
});

test("SSM delivery: every combination fits the budget, the largest with a 40-character name, an output URL and an output instance type", () => {
    const sizes = [1, 3, 5, 7, 9];
    let largest = 0;
    for (const version of ["3.4.23", "3.5.30", "3.6.14"]) {
        for (const size of sizes) {
            for (const keyAlgorithm of ["ECDSA", "RSA"] as const) {
                for (const auth of version === "3.4.23" ? [false] : [false, true]) {
                    for (const metricsCidrs of [[], ["10.9.0.0/16"]]) {
                        const args: Partial<EtcdClusterArgs> = {
                            size,
                            version,
                            tls: { keyAlgorithm },
                            auth,
                            metricsCidrs,
                            subnetIds: subnetIds.slice(0, Math.min(3, size)),
                            ...(version === "3.4.23" ? { binaryUrl: "https://mirror.example/etcd.tar.gz", binarySha256: "c".repeat(64) } : {}),
                        } as Partial<EtcdClusterArgs>;
                        const bytes = boundOf(args, { urlOutput: true, typeOutput: true });
                        expect(bytes).toBeLessThanOrEqual(userDataBudgetBytes);
                        largest = Math.max(largest, bytes);
                    }
                }
            }
        }
    }
    // The figure the README gives: the worst case leaves this much of EC2's 16 KB free.
    expect(largest).toBeGreaterThan(12000);
    expect(limits.userDataBytes - largest).toBeGreaterThanOrEqual(1024);
});

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
