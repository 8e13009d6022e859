// EC2's 16 KB user-data limit, known to hold before anything is created: the plain-value bound covers every
// combination the arguments allow with SSM delivery (backups and a restore included, with 1 KB to spare), is
// exactly the user-data of members whose unknown values take their longest form, and refuses what cannot fit.
// The bound against the real user-data of clusters under mocks, with real certificates: userDataBoundMocks.test.ts.
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import type { EtcdClusterArgs } from "../../components";
import { membershipLayout, membershipParameterNames } from "../../components/membership";
import { allMemberNames } from "../../components/render/membership";
import { MemberTlsMaterial, renderMemberUserData } from "../../components/render/memberUserData";
import {
    checkUserDataBound,
    compressionSlackBytes,
    userDataBound,
    UserDataBoundParams,
    userDataBudgetBytes,
    userDataReserveBytes,
} from "../../components/userDataBound";
import { EtcdClusterArgumentError, limits } from "../../components/validation";
import { BoundOptions, boundOf, boundParams, subnetIds } from "../helpers/userDataBound";
import { opensslCa } from "../helpers/opensslCa";

const callerCa = opensslCa("/O=Example Platform Engineering/OU=Kubernetes control planes/CN=etcd certificate authority of production");

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

test("an output binaryUrl counts as the longest URL accepted (320 characters)", () => {
    const url = `https://mirror.example/${"a".repeat(limits.binaryUrlChars - "https://mirror.example/.tar.gz".length)}.tar.gz`;
    expect(url.length).toBe(320);
    const args = { size: 3, binaryUrl: url, binarySha256: "c".repeat(64) };
    expect(boundOf(args, { urlOutput: true })).toBe(boundOf(args));
    expect(boundOf(args)).toBeGreaterThan(boundOf({ ...args, binaryUrl: "https://mirror.example/e.tar.gz" }));
});

test("inline delivery with the caller's CA: the bound grows by the CA certificate, and by its size again in each certificate it issues", () => {
    // A certificate names its issuer by the issuer's subject and carries the issuer's signature (RFC 5280, 4.1.2.4):
    // a CA certificate that grows by n bytes adds n bytes to itself and up to n to the member's server and peer
    // certificates, all three in the member's user-data.
    const small = opensslCa("/CN=etcd CA");
    const large = opensslCa(`/O=${"o".repeat(60)}/OU=${"u".repeat(60)}/CN=${"c".repeat(60)}`);
    const inline = { size: 1, subnetIds: subnetIds.slice(0, 1), keyDelivery: "inline" as const };
    const grown = boundOf({ ...inline, ca: large }, { caCertPem: large.certPem }) - boundOf({ ...inline, ca: small }, { caCertPem: small.certPem });
    expect(grown).toBeGreaterThanOrEqual(3 * (large.certPem.length - small.certPem.length));
});

/** Values unknown before deployment: hex digits (digests, ids), names (URL, bucket) and the region. */
interface Unknowns {
    hex: (n: number) => string;
    letters: (n: number) => string;
    region: string;
}
const fixedUnknowns: Unknowns = {
    hex: (n) => "0123456789abcdef".repeat(8).slice(0, n),
    letters: (n) => "a".repeat(n),
    region: "ap-southeast-5",
};
/** Random values, as real deployments have: what compression makes of them varies. */
function randomUnknowns(): Unknowns {
    const regions = ["ap-southeast-5", "eu-west-1", "us-gov-west-1", "cn-northwest-1", "me-central-1"];
    return {
        hex: (n) => randomBytes(n).toString("hex").slice(0, n),
        letters: (n) => Array.from(randomBytes(n), (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join(""),
        region: regions[randomBytes(1)[0] % regions.length],
    };
}

/**
 * The largest user-data of the members when every value unknown before deployment takes its longest form, from
 * each value's definition rather than from the bound, and the slack of the region (the bound counts it at 24
 * characters, more than any region's code has).
 */
function longestFormUserData(
    p: UserDataBoundParams,
    tls: MemberTlsMaterial,
    u: Unknowns = fixedUnknowns,
): { bytes: number; member: string; regionSlack: number } {
    const s = p.settings;
    const region = u.region;
    const members = p.memberNames.map((name) => ({ name, ip: "255.255.255.255" })); // a dotted quad: at most 15 characters
    const layout = membershipLayout(s, p.backupTools !== undefined);
    const parameterNames = membershipParameterNames(p.clusterId);
    const texts = members.map((member, i) =>
        renderMemberUserData({
            member,
            seeds: members.slice(0, i),
            // Where the membership functions and the discovery list come from, as the cluster decides (membership.ts).
            discoveryParameter: layout.discovery ? parameterNames.discovery : undefined,
            membershipLibrary: layout.library === "ssm" ? { name: parameterNames.library, sha256: u.hex(64) } : layout.library,
            clusterToken: p.backupTools?.restore ? `${p.clusterId}-r${u.hex(8)}` : p.clusterId, // restored: the id, "-r" and 8 hex digits
            version: s.version.text,
            features: s.features,
            arch: "amd64",
            tuning: s.tuning,
            tlsMinVersion: s.tlsMinVersion,
            metricsOnMemberAddress: p.metricsOnMemberAddress,
            releaseUrl: `https://mirror.example/${u.letters(320 - 30)}.tar.gz`, // binaryUrl: at most 320 characters
            releaseSha256: u.hex(64), // SHA-256: 64 hex digits
            dataVolumeId: `vol-${u.hex(17)}`, // EBS volume ids: "vol-" and 17 hex digits
            region,
            ssmParameterPrefix: s.keyDelivery === "ssm" ? p.ssmParameterPrefix(member.name) : undefined,
            // Users for every name a member may ever have (members added later authenticate too).
            enableAuth: s.auth && i === 0 ? { memberNames: allMemberNames(p.memberNames[0].replace(/-0$/, "")) } : undefined,
            // S3 bucket names: at most 63 characters.
            memberTools: p.backupTools && {
                url: `s3://${u.letters(63)}/${p.backupTools.toolsKey}`,
                sha256: u.hex(64),
                restore: p.backupTools.restore,
            },
            tls,
        }),
    );
    const sizes = texts.map((t) => Buffer.byteLength(t));
    const largest = sizes.indexOf(Math.max(...sizes));
    return { bytes: sizes[largest], member: p.memberNames[largest], regionSlack: (24 - region.length) * (texts[largest].split(region).length - 1) };
}

/** A PEM block of `derBytes` bytes as RFC 7468 lays it out: base64 in lines of 64 characters between the labels. */
const pemOf = (label: string, derBytes: number) =>
    `-----BEGIN ${label}-----\n${Buffer.alloc(derBytes)
        .toString("base64")
        .match(/.{1,64}/g)!
        .join("\n")}\n-----END ${label}-----\n`;

const ssmTls: MemberTlsMaterial = { caCertPem: "CA", serverCertPem: "SERVER", peerCertPem: "PEER" };

test.each([
    ["3 members", { size: 3 }, {}],
    ["5 members, auth and metricsCidrs", { size: 5, auth: true, metricsCidrs: ["10.9.0.0/16"] }, {}],
    ["backups off", { size: 3, backup: { enabled: false } }, { noBackup: true }],
])("SSM delivery, %s: the bound is the user-data of members whose every unknown has its longest form", (_, extra, how) => {
    const args: Partial<EtcdClusterArgs> = { ...extra, binaryUrl: "https://mirror.example/e.tar.gz", binarySha256: "c".repeat(64) };
    const p = { ...boundParams(args, { urlOutput: true }), ...("noBackup" in how ? { backupTools: undefined } : {}) };
    const longest = longestFormUserData(p, ssmTls);
    const bound = userDataBound(p);
    expect(bound.bytes - longest.bytes).toBe(longest.regionSlack);
    expect(bound.member).toBe(longest.member);
});

test("inline delivery: the bound holds for user-data with certificates and keys of the largest DER sizes it allows, the caller's CA as given, and random unknowns", () => {
    // ECDSA P-256: certificates up to 620 bytes, SEC1 keys up to 125; RSA 2048: 1120 and PKCS#1 keys up to 1240.
    const cases: [Partial<EtcdClusterArgs>, string | undefined, MemberTlsMaterial][] = [
        [{ tls: { keyAlgorithm: "ECDSA" } }, undefined, tlsOf(pemOf("CERTIFICATE", 620), pemOf("CERTIFICATE", 620), pemOf("EC PRIVATE KEY", 125))],
        [{ tls: { keyAlgorithm: "RSA" } }, undefined, tlsOf(pemOf("CERTIFICATE", 1120), pemOf("CERTIFICATE", 1120), pemOf("RSA PRIVATE KEY", 1240))],
        // A certificate the caller's CA issues is counted larger by the CA certificate's DER size (its subject and signature).
        [{ ca: callerCa }, callerCa.certPem, tlsOf(callerCa.certPem, pemOf("CERTIFICATE", 620 + derSize(callerCa.certPem)), pemOf("EC PRIVATE KEY", 125))],
    ];
    // And a CA whose issued certificates' base64 fills its last line exactly (620 + its DER size a multiple of 48 bytes).
    // The comment appears once in the certificate, so each character adds one byte; the signature's length varies
    // by a byte or two between certificates, so the comment's length is corrected until the size is right.
    let length = 1;
    let filling = opensslCa("/CN=etcd CA", "c");
    for (let attempt = 0; attempt < 20 && (620 + derSize(filling.certPem)) % 48 !== 0; attempt++) {
        length = ((length - 1 + 48 - ((620 + derSize(filling.certPem)) % 48)) % 48) + 1;
        filling = opensslCa("/CN=etcd CA", "c".repeat(length));
    }
    expect((620 + derSize(filling.certPem)) % 48).toBe(0);
    cases.push([{ ca: filling }, filling.certPem, tlsOf(filling.certPem, pemOf("CERTIFICATE", 620 + derSize(filling.certPem)), pemOf("EC PRIVATE KEY", 125))]);
    for (const [extra, caCertPem, tls] of cases) {
        const p = boundParams({ size: 1, subnetIds: subnetIds.slice(0, 1), keyDelivery: "inline", ...extra }, { caCertPem, urlOutput: true });
        // Its scripts are compressed: the bound holds for random values too (what deflate makes of them varies by a
        // few bytes, which compressionSlackBytes covers), and stays close to them.
        const bound = userDataBound(p).bytes;
        for (let trial = 0; trial < 8; trial++) {
            const real = longestFormUserData(p, tls, randomUnknowns()).bytes;
            expect(bound).toBeGreaterThanOrEqual(real);
            expect(bound - real).toBeLessThanOrEqual(compressionSlackBytes + 64);
        }
    }
});

function tlsOf(caCertPem: string, issuedPem: string, keyPem: string): MemberTlsMaterial {
    return { caCertPem, serverCertPem: issuedPem, peerCertPem: issuedPem, serverKeyPem: keyPem, peerKeyPem: keyPem };
}

/** The DER size of a PEM certificate, as openssl writes it. */
function derSize(pem: string): number {
    return execFileSync("openssl", ["x509", "-outform", "DER"], { input: pem }).length;
}

describe("refusals name the combination and the figures", () => {
    const refusal = (args: Partial<EtcdClusterArgs>, options: BoundOptions = {}): EtcdClusterArgumentError => {
        try {
            checkUserDataBound(boundParams(args, options));
        } catch (e) {
            return e as EtcdClusterArgumentError;
        }
        throw new Error("not refused");
    };

    test("inline RSA keys with auth, metrics and the caller's CA", () => {
        const e = refusal(
            { keyDelivery: "inline", tls: { keyAlgorithm: "RSA" }, auth: true, metricsCidrs: ["10.9.0.0/16"], ca: callerCa },
            { caCertPem: callerCa.certPem },
        );
        expect(e.argument).toBe("keyDelivery");
        expect(e.message).toContain(
            `; keyDelivery "inline", RSA keys, 3 members, auth, metricsCidrs, a CA certificate of ${callerCa.certPem.length} bytes need up to `,
        );
    });

    test("with SSM delivery the argument named is user-data (only member names far beyond any real one get there)", () => {
        const e = refusal({}, { name: "n".repeat(2000) });
        expect(e.argument).toBe("user-data");
        expect(e.message).toMatch(
            /^user-data: expected arguments whose user-data fits in 15360 bytes .* keyDelivery "ssm", ECDSA keys, 3 members need up to \d+ bytes for n+-0: /,
        );
    });

    test("inline delivery with a CA known only as an output is refused, whatever its size; SSM delivery takes it", () => {
        const e = refusal({ keyDelivery: "inline" }, { caCertPem: "output" });
        expect(e.argument).toBe("ca.certPem");
        expect(e.message).toContain('expected a plain string with keyDelivery "inline" (the certificates travel in user-data');
        expect(e.message.endsWith('or keyDelivery "ssm", got "an output"')).toBe(true);
        expect(() => checkUserDataBound(boundParams({}, { caCertPem: "output" }))).not.toThrow();
        // Before that refusal, the bound (defragmentation's room is judged with it) never counts such a CA smaller than the cluster's own.
        expect(boundOf({ keyDelivery: "inline" }, { caCertPem: "output" })).toBeGreaterThanOrEqual(boundOf({ keyDelivery: "inline" }));
    });

    test("exactly at the budget is accepted, one byte over is refused", () => {
        // One member whose parameter path appears once in its user-data: each character is one byte.
        const at = (length: number) => boundParams({ size: 1, subnetIds: subnetIds.slice(0, 1) }, { ssmParameterPrefix: () => `/${"p".repeat(length - 1)}` });
        const bytesAt1 = userDataBound(at(1)).bytes;
        expect(userDataBound(at(2)).bytes).toBe(bytesAt1 + 1);
        const fits = userDataBudgetBytes - bytesAt1 + 1;
        expect(checkUserDataBound(at(fits)).bytes).toBe(15360);
        expect(() => checkUserDataBound(at(fits + 1))).toThrow("user-data: expected arguments whose user-data fits in 15360 bytes");
    });
});
