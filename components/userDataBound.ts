// EC2 refuses user-data over 16 KB, and the real user-data exists only during `pulumi up`, once the
// certificates do. The bound here is known before any resource exists: each member's user-data is rendered
// by the real renderer from the plain arguments, with every value that is not yet known (addresses, volume
// ids, the region, certificates and keys, an output-valued URL) replaced by a placeholder of its largest
// possible size. A feature that adds to user-data is counted as soon as it renders, and the reserve keeps
// room for those still to come.
import { createHash } from "crypto";
import { membershipLayout, membershipParameterNames } from "./membership";
import { ReleaseArch } from "./releases";
import { allMemberNames } from "./render/membership";
import { MemberTlsMaterial, MemberUserDataParams, renderMemberUserData } from "./render/memberUserData";
import { ClusterSettings, EtcdClusterArgumentError, limits } from "./validation";

/**
 * Bytes of EC2's 16 KB that every combination of arguments leaves free, for features to come (backups took 1 KB
 * of 2). The largest SSM combination (auth, metricsCidrs, a 40-character name, an output URL counted at 320
 * characters, backups and a restore) needs 15031 bytes.
 */
export const userDataReserveBytes = 1024;

/** The most user-data any combination may need: EC2's limit less the reserve. */
export const userDataBudgetBytes = limits.userDataBytes - userDataReserveBytes;

/**
 * Largest DER sizes of what the cluster's own CA issues (CN of up to 64 characters, the member's address
 * and loopback as SANs), with a margin over what openssl and the tls provider produce: ECDSA P-256
 * certificates are at most about 590 bytes, RSA 2048 about 990; keys (SEC1 or PKCS#1) 121 and 1193.
 */
const derBound = {
    ECDSA: { certificate: 620, key: 125 },
    RSA: { certificate: 1120, key: 1240 },
} as const;

/** A PEM block of the given DER size, laid out in 64-character lines like a real one. */
function pemPlaceholder(label: string, derBytes: number): string {
    const body = "A".repeat(Math.ceil(derBytes / 3) * 4);
    return `-----BEGIN ${label}-----\n${body.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
}

const derOfPem = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64").length;

/** What the bound needs to know: the plain arguments and what is derived from them before anything exists. */
export interface UserDataBoundParams {
    settings: ClusterSettings;
    memberNames: string[];
    clusterId: string;
    /** The parameter path of each member's keys and certificates (SSM delivery). */
    ssmParameterPrefix: (memberName: string) => string;
    /** The release URL when plain, undefined when it is an output (the longest accepted URL is assumed). */
    binaryUrl: string | undefined | "output";
    /** The caller's CA certificate when plain, "output" when it is one, undefined for the cluster's own CA. */
    caCertPem: string | undefined | "output";
    /** Architectures the instance type may have (both while it is an output). */
    arches: ReleaseArch[];
    metricsOnMemberAddress: boolean;
    /** The official URL of a release for an architecture. */
    officialUrl: (arch: ReleaseArch) => string;
    /** Backups on: the tools object's URL and SHA-256 (and the restore step) are in user-data. */
    backupTools?: { restore: boolean; toolsKey: string };
    /** Defragmentation's script and units are in user-data (render/maintenance.ts). */
    defragInUserData?: boolean;
}

export interface UserDataBound {
    /** Largest user-data of any member, in bytes. */
    bytes: number;
    /** The member that needs it. */
    member: string;
}

/**
 * A source of characters drawn from an alphabet by a SHA-256 chain: as incompressible as real digests, ids and
 * names, and never the same twice (with inline delivery the scripts are compressed, and a repeated character,
 * or two placeholders with the same text, would compress far better than the values they stand for).
 */
function incompressibleSource(): (length: number, alphabet: string) => string {
    let block = 0;
    return (length, alphabet) => {
        let out = "";
        while (out.length < length) {
            for (const byte of createHash("sha256").update(`user-data bound ${block++}`).digest()) {
                out += alphabet[byte % alphabet.length];
            }
        }
        return out.slice(0, length);
    };
}

/**
 * Bytes added to the bound of compressed (inline-delivery) user-data: deflate codes the same number of
 * random characters in a few bytes more or less depending on the characters (the tests measure the spread).
 */
export const compressionSlackBytes = 48;

/** Renders every member with the largest placeholders; returns the largest size. */
export function userDataBound(p: UserDataBoundParams): UserDataBound {
    const s = p.settings;
    const alg = s.keyAlgorithm;
    // "output" is a string too: it must be told apart before the plain values it stands for.
    const plainCa = p.caCertPem === "output" ? undefined : p.caCertPem;
    const caDer = plainCa !== undefined ? derOfPem(plainCa) : 0;
    const caCertPem = plainCa ?? pemPlaceholder("CERTIFICATE", derBound[alg].certificate);
    // A certificate from the caller's CA carries its subject as issuer and its signature: at most the CA's size more.
    const issued = pemPlaceholder("CERTIFICATE", derBound[alg].certificate + caDer);
    const key = pemPlaceholder(alg === "RSA" ? "RSA PRIVATE KEY" : "EC PRIVATE KEY", derBound[alg].key);
    const tls: MemberTlsMaterial = { caCertPem, serverCertPem: issued, peerCertPem: issued, serverKeyPem: key, peerKeyPem: key };
    const members = p.memberNames.map((name) => ({ name, ip: "255.255.255.255" }));
    const layout = membershipLayout(s, p.backupTools !== undefined);
    const parameterNames = membershipParameterNames(p.clusterId);
    const base = p.memberNames[0].replace(/-0$/, "");
    let largest: UserDataBound = { bytes: 0, member: "" };
    const incompressible = incompressibleSource();
    const hex = (n: number) => incompressible(n, "0123456789abcdef");
    const letters = (n: number) => incompressible(n, "abcdefghijklmnopqrstuvwxyz0123456789");
    for (const arch of p.arches) {
        const releaseUrl = p.binaryUrl === "output" ? letters(limits.binaryUrlChars) : (p.binaryUrl ?? p.officialUrl(arch));
        members.forEach((member, i) => {
            const params: MemberUserDataParams = {
                member,
                seeds: members.slice(0, i),
                discoveryParameter: layout.discovery ? parameterNames.discovery : undefined,
                membershipLibrary: layout.library === "ssm" ? { name: parameterNames.library, sha256: hex(64) } : layout.library,
                clusterToken: p.backupTools?.restore ? `${p.clusterId}-r${hex(8)}` : p.clusterId,
                version: s.version.text,
                features: s.features,
                arch,
                tuning: s.tuning,
                tlsMinVersion: s.tlsMinVersion,
                metricsOnMemberAddress: p.metricsOnMemberAddress,
                releaseUrl,
                releaseSha256: hex(64),
                dataVolumeId: `vol-${hex(17)}`,
                region: letters(24),
                ssmParameterPrefix: s.keyDelivery === "ssm" ? p.ssmParameterPrefix(member.name) : undefined,
                enableAuth: s.auth && i === 0 ? { memberNames: allMemberNames(base) } : undefined,
                // The longest bucket name (a bucket the component creates, or one passed as an output) and the real key.
                memberTools: p.backupTools && {
                    url: `s3://${letters(63)}/${p.backupTools.toolsKey}`,
                    sha256: hex(64),
                    restore: p.backupTools.restore,
                },
                defragInUserData: p.defragInUserData,
                tls,
            };
            // Compressed files (inline delivery) shrink differently for different values of the same length.
            const bytes = Buffer.byteLength(renderMemberUserData(params), "utf8") + (s.keyDelivery === "inline" ? compressionSlackBytes : 0);
            if (bytes > largest.bytes) {
                largest = { bytes, member: member.name };
            }
        });
    }
    return largest;
}

/**
 * Refuses, before any resource exists, a combination of arguments whose user-data could exceed the budget
 * (EC2's 16 KB less the reserve). SSM delivery keeps certificates and keys out of user-data, so every
 * combination fits; inline delivery carries them, which RSA keys, many members or a large CA can exceed.
 */
export function checkUserDataBound(p: UserDataBoundParams): UserDataBound {
    const s = p.settings;
    if (s.keyDelivery === "inline" && p.caCertPem === "output") {
        throw new EtcdClusterArgumentError(
            "ca.certPem",
            'a plain string with keyDelivery "inline" (the certificates travel in user-data, and its size must be known before anything is created), or keyDelivery "ssm"',
            "an output",
        );
    }
    const bound = userDataBound(p);
    if (bound.bytes > userDataBudgetBytes) {
        const combination = [
            `keyDelivery "${s.keyDelivery}"`,
            `${s.keyAlgorithm} keys`,
            `${s.size} members`,
            ...(s.auth ? ["auth"] : []),
            ...(p.metricsOnMemberAddress ? ["metricsCidrs"] : []),
            ...(typeof p.caCertPem === "string" ? [`a CA certificate of ${p.caCertPem.length} bytes`] : []),
        ].join(", ");
        throw new EtcdClusterArgumentError(
            s.keyDelivery === "inline" ? "keyDelivery" : "user-data",
            `arguments whose user-data fits in ${userDataBudgetBytes} bytes (EC2 allows ${limits.userDataBytes}; ${userDataReserveBytes} are kept free); ` +
                `${combination} need up to ${bound.bytes} bytes for ${bound.member}: use keyDelivery "ssm" (certificates and keys by parameter), ECDSA keys, fewer members or a shorter component name`,
            combination,
        );
    }
    return bound;
}
