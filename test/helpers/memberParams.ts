import { parseVersion, pinnedChecksum, versionFeatures } from "../../components/releases";
import { MemberUserDataParams } from "../../components/render/memberUserData";
import { resolveSettings } from "../../components/validation";

/** Three members in three subnets: the plain values a rendered member configuration depends on. */
export const fixtureMembers = [
    { name: "etcd-0", ip: "10.0.1.10" },
    { name: "etcd-1", ip: "10.0.2.10" },
    { name: "etcd-2", ip: "10.0.3.10" },
];

export const fakeCertPem = (label: string) => `-----BEGIN CERTIFICATE-----\n${label}\n-----END CERTIFICATE-----\n`;
export const fakeKeyPem = (label: string) => `-----BEGIN PRIVATE KEY-----\n${label}\n-----END PRIVATE KEY-----\n`;

/** The first member's user-data parameters for `version`, with SSM key delivery unless `extra` says otherwise. */
export function memberParams(version: string, extra: Partial<MemberUserDataParams> = {}): MemberUserDataParams {
    const v = parseVersion(version)!;
    // A version without a pinned checksum needs a mirror URL and its sum, as a user would give them.
    const mirrored = !pinnedChecksum(version, "amd64");
    const settings = resolveSettings({
        vpcId: "vpc-1",
        subnetIds: ["subnet-a", "subnet-b", "subnet-c"],
        version,
        ...(mirrored ? { binaryUrl: "file:///mirror/etcd.tar.gz", binarySha256: "c".repeat(64) } : {}),
    });
    const params: MemberUserDataParams = {
        member: fixtureMembers[0],
        seeds: [],
        discoveryParameter: "/etcd/c/members",
        membershipLibrary: { name: "/etcd/c/membership.sh", sha256: "e".repeat(64) },
        clusterToken: "etcd-1a2b3c4d",
        version,
        features: versionFeatures(v),
        arch: "amd64",
        tuning: settings.tuning,
        tlsMinVersion: "TLS1.2",
        metricsOnMemberAddress: false,
        releaseUrl: `https://github.com/etcd-io/etcd/releases/download/v${version}/etcd-v${version}-linux-amd64.tar.gz`,
        releaseSha256: "f".repeat(64),
        dataVolumeId: "vol-0abc123",
        region: "eu-west-1",
        ssmParameterPrefix: "/etcd/c/etcd-0",
        tls: { caCertPem: fakeCertPem("CA"), serverCertPem: fakeCertPem("SERVER"), peerCertPem: fakeCertPem("PEER") },
        ...extra,
    };
    // Inline keys: no fetch from SSM, so the membership functions are written by user-data (as the component does).
    if (params.ssmParameterPrefix === undefined && extra.membershipLibrary === undefined) {
        params.membershipLibrary = "user-data";
    }
    return params;
}

/** The variables of a rendered environment file (comments and blank lines left out). */
export const envOf = (text: string): Record<string, string> =>
    Object.fromEntries(
        text
            .split("\n")
            .filter((l) => l && !l.startsWith("#"))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
