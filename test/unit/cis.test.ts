// CIS Kubernetes Benchmark etcd checks 2.1-2.7 and the data dir checks 1.1.11-1.1.12, read from the rendered
// configuration the way kube-bench reads a running etcd (ETCD_* variables are its flags), for every supported etcd
// line and both key deliveries; also the properties the README's Security section claims (no plaintext listener
// but metrics, TLS floor and cipher suites, pinned peer CN, the environment file as etcd's whole configuration).
// Every check is shown to fail on a configuration broken in that one respect. The CA per cluster (2.7) is checked
// on the component itself under mocks, with real certificates. Live members' data dirs are checked by the cluster
// integration tests.
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parse, stringify } from "yaml";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { peerCertificateParams } from "../../components/pki";
import { parseVersion, pinnedVersions } from "../../components/releases";
import { renderMemberUserData } from "../../components/render/memberUserData";
import { memberPaths } from "../../components/render/paths";
import { installStackMocks, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";
import { CheckId, checkIds, CisExpectations, failedChecks, flagsOf, memberFromUserData, RenderedMember, withVariable } from "../helpers/cis";
import { fakeCertPem, fakeKeyPem, memberParams } from "../helpers/memberParams";

jest.setTimeout(60_000);

/** Whether a version accepts --tls-min-version, from etcd's changelogs (3.4.25, 3.5.8, every 3.6). */
function hasTlsVersionFlags(version: string): boolean {
    const { minor, patch } = parseVersion(version)!;
    return minor === 4 ? patch >= 25 : minor === 5 ? patch >= 8 : true;
}

// A 3.4 (no pinned checksum: rendered with a mirror URL), an older and a newer pinned 3.5, and a 3.6.
const versions = ["3.4.23", "3.5.15", "3.5.30", "3.6.14"];
const deliveries = ["ssm", "inline"] as const;
type Delivery = (typeof deliveries)[number];

function render(version: string, delivery: Delivery, metricsOnMemberAddress: boolean, extra: Parameters<typeof memberParams>[1] = {}) {
    const plain = memberParams(version);
    const params = memberParams(version, {
        metricsOnMemberAddress,
        ...(delivery === "inline"
            ? { ssmParameterPrefix: undefined, tls: { ...plain.tls, serverKeyPem: fakeKeyPem("SERVER KEY"), peerKeyPem: fakeKeyPem("PEER KEY") } }
            : {}),
        ...extra,
    });
    // With SSM delivery the member's own parameters hold its certificates and keys.
    const prefix = params.ssmParameterPrefix;
    const parameters: Record<string, string> = prefix
        ? {
              [`${prefix}/ca.crt`]: params.tls.caCertPem,
              [`${prefix}/server.crt`]: params.tls.serverCertPem,
              [`${prefix}/peer.crt`]: params.tls.peerCertPem,
              [`${prefix}/server.key`]: fakeKeyPem("SERVER KEY"),
              [`${prefix}/peer.key`]: fakeKeyPem("PEER KEY"),
          }
        : {};
    const member = memberFromUserData(renderMemberUserData(params), parameters);
    const expectations: CisExpectations = {
        clusterCaPem: params.tls.caCertPem,
        memberIp: params.member.ip,
        metricsOnMemberAddress,
        tlsVersionFlags: hasTlsVersionFlags(version),
        peerCommonName: peerCertificateParams(params.member.ip).commonName,
    };
    return { params, member, expectations, flags: flagsOf(member.env) };
}

test("the matrix covers every supported line, and the 3.5 release comes from the checksum table", () => {
    expect(new Set(versions.map((v) => v.split(".").slice(0, 2).join(".")))).toEqual(new Set(["3.4", "3.5", "3.6"]));
    expect(pinnedVersions().map((v) => v.text)).toContain("3.5.15");
});

const cases = versions.flatMap((v) => deliveries.flatMap((d) => [false, true].map((metrics) => [v, d, metrics] as const)));

describe.each(cases)("etcd %s, %s key delivery, metrics on the member address: %s", (version, delivery, metricsOnMemberAddress) => {
    const { member, expectations, flags, params } = render(version, delivery, metricsOnMemberAddress);

    test("every check passes (CIS 2.1-2.7, 1.1.11, 1.1.12 and the README's TLS claims)", () => {
        expect(failedChecks(member, expectations)).toEqual([]);
    });

    test("2.1/2.4: certificates reach the member (user-data, or its own SSM parameters checked by SHA-256); keys are fetched from its own SSM parameters, or written 0600 only when inline", () => {
        for (const flag of ["--cert-file", "--peer-cert-file"]) {
            expect(member.files.has(flags[flag])).toBe(true);
        }
        if (delivery === "ssm") {
            expect(member.fetched.get(flags["--key-file"])).toBe(`${params.ssmParameterPrefix}/server.key`);
            expect(member.fetched.get(flags["--peer-key-file"])).toBe(`${params.ssmParameterPrefix}/peer.key`);
            // Certificates come from parameters: user-data itself holds none.
            expect(parse(member.userData).write_files.filter((f: { path: string }) => f.path.endsWith(".crt"))).toEqual([]);
            expect([...member.files.keys()].filter((path) => path.endsWith(".key"))).toEqual([]);
        } else {
            expect(member.fetched.size).toBe(0);
            expect(member.files.get(flags["--key-file"])).toBe(fakeKeyPem("SERVER KEY"));
            expect(member.files.get(flags["--peer-key-file"])).toBe(fakeKeyPem("PEER KEY"));
            const modes = parse(member.userData).write_files.filter((f: { path: string }) => f.path.endsWith(".key"));
            // No owner: cloud-init writes them as root:root.
            expect(modes.map((f: { permissions: string; owner?: string }) => `${f.permissions} ${f.owner ?? "root:root"}`)).toEqual([
                "0600 root:root",
                "0600 root:root",
            ]);
        }
    });

    test("2.2-2.6 as kube-bench compares them; 2.7: one CA file for clients and peers", () => {
        expect(flags["--client-cert-auth"]).toBe("true");
        expect(flags["--peer-client-cert-auth"]).toBe("true");
        expect(flags["--auto-tls"]).not.toBe("true");
        expect(flags["--peer-auto-tls"]).not.toBe("true");
        expect(flags["--trusted-ca-file"]).toBe(memberPaths.caCert);
        expect(flags["--peer-trusted-ca-file"]).toBe(memberPaths.caCert);
    });

    test("listeners: HTTPS only, metrics plaintext on 127.0.0.1 and on the member's address only when asked", () => {
        expect(flags["--listen-client-urls"]).toBe(`https://${params.member.ip}:2379,https://127.0.0.1:2379`);
        expect(flags["--listen-peer-urls"]).toBe(`https://${params.member.ip}:2380`);
        expect(flags["--listen-metrics-urls"].split(",").sort()).toEqual(
            metricsOnMemberAddress ? ["http://127.0.0.1:2381", `http://${params.member.ip}:2381`].sort() : ["http://127.0.0.1:2381"],
        );
    });

    test(`TLS: --tls-min-version ${hasTlsVersionFlags(version) ? "TLS1.2" : "absent (the version lacks it)"}, ECDHE AEAD suites only; peers pinned to their CN`, () => {
        expect(flags["--tls-min-version"]).toBe(hasTlsVersionFlags(version) ? "TLS1.2" : undefined);
        expect(flags["--cipher-suites"].split(",").length).toBeGreaterThan(0);
        expect(flags["--peer-cert-allowed-cn"]).toBe("etcd-peer");
    });
});

describe("the TLS floor follows the version, and TLS 1.3 drops the (TLS 1.2 only) suites", () => {
    test.each([
        ["3.4.24", false],
        ["3.4.25", true],
        ["3.5.7", false],
        ["3.5.8", true],
        ["3.6.0", true],
    ])("%s: --tls-min-version %s", (version, expected) => {
        expect(hasTlsVersionFlags(version)).toBe(expected);
        const { member, expectations, flags } = render(version, "ssm", false);
        expect(flags["--tls-min-version"]).toBe(expected ? "TLS1.2" : undefined);
        expect(failedChecks(member, expectations)).toEqual([]);
    });

    test.each(["3.4.25", "3.5.8", "3.5.30", "3.6.14"])("%s with tls.minVersion TLS1.3", (version) => {
        const { member, expectations, flags } = render(version, "ssm", false, { tlsMinVersion: "TLS1.3" });
        expect(flags["--tls-min-version"]).toBe("TLS1.3");
        expect(flags["--cipher-suites"]).toBeUndefined();
        expect(failedChecks(member, expectations)).toEqual([]);
    });
});

// One change at a time to a passing configuration; the auditor must name exactly the broken check.
type Breakage = [CheckId[], string, (m: RenderedMember, e: CisExpectations) => RenderedMember | [RenderedMember, CisExpectations]];
const env = (m: RenderedMember, name: string, value: string | undefined): RenderedMember => ({ ...m, env: withVariable(m.env, name, value) });
const boot = (m: RenderedMember, from: string, to: string): RenderedMember => {
    expect(m.boot).toContain(from);
    return { ...m, boot: m.boot.replace(from, to) };
};
const breakages: Breakage[] = [
    [["2.1"], "ETCD_KEY_FILE removed", (m) => env(m, "ETCD_KEY_FILE", undefined)],
    [["2.1"], "ETCD_CERT_FILE empty", (m) => env(m, "ETCD_CERT_FILE", "")],
    [["2.1"], "ETCD_KEY_FILE names a file nothing delivers", (m) => env(m, "ETCD_KEY_FILE", "/etc/etcd/pki/other.key")],
    [["2.2"], "ETCD_CLIENT_CERT_AUTH=false", (m) => env(m, "ETCD_CLIENT_CERT_AUTH", "false")],
    [["2.2"], "ETCD_CLIENT_CERT_AUTH removed", (m) => env(m, "ETCD_CLIENT_CERT_AUTH", undefined)],
    [["2.3"], "ETCD_AUTO_TLS=true", (m) => env(m, "ETCD_AUTO_TLS", "true")],
    [["2.4"], "ETCD_PEER_CERT_FILE removed", (m) => env(m, "ETCD_PEER_CERT_FILE", undefined)],
    [["2.4"], "ETCD_PEER_KEY_FILE names a file nothing delivers", (m) => env(m, "ETCD_PEER_KEY_FILE", "/etc/etcd/pki/other.key")],
    [["2.5"], "ETCD_PEER_CLIENT_CERT_AUTH=false", (m) => env(m, "ETCD_PEER_CLIENT_CERT_AUTH", "false")],
    [["2.6"], "ETCD_PEER_AUTO_TLS=true", (m) => env(m, "ETCD_PEER_AUTO_TLS", "true")],
    [["2.7"], "ETCD_PEER_TRUSTED_CA_FILE is another CA's file", (m) => env(m, "ETCD_PEER_TRUSTED_CA_FILE", "/etc/kubernetes/pki/ca.crt")],
    [["2.7"], "ETCD_TRUSTED_CA_FILE removed", (m) => env(m, "ETCD_TRUSTED_CA_FILE", undefined)],
    [["2.7"], "the CA file holds another cluster's CA", (m) => ({ ...m, files: new Map([...m.files, [memberPaths.caCert, fakeCertPem("ANOTHER CA")]]) })],
    [
        ["2.7"],
        "the CA parameter holds another CA than user-data names (the boot script refuses it)",
        (m) => {
            const ca = Object.keys(m.parameters).find((n) => n.endsWith("/ca.crt"));
            // Inline: the CA is in user-data, so the same breakage is the file itself.
            return ca
                ? memberFromUserData(m.userData, { ...m.parameters, [ca]: fakeCertPem("ANOTHER CA") })
                : { ...m, files: new Map([...m.files, [memberPaths.caCert, fakeCertPem("ANOTHER CA")]]) };
        },
    ],
    [["1.1.11"], "data dir chmod 0755", (m) => boot(m, 'chmod 0700 "$DATA_DIR"', 'chmod 0755 "$DATA_DIR"')],
    [["1.1.12"], "data dir chown root:root", (m) => boot(m, 'chown etcd:etcd "$DATA_DIR"', 'chown root:root "$DATA_DIR"')],
    [["1.1.11", "1.1.12"], "owner and mode set before the volume is mounted over the data dir", (m) => reorderMount(m)],
    [["1.1.11", "1.1.12"], "ETCD_DATA_DIR is not the directory the boot script prepares", (m) => env(m, "ETCD_DATA_DIR", "/var/lib/etcd-data")],
    [["2.1", "2.4", "1.1.11", "1.1.12"], "cloud-init does not run the boot script (no key fetched, no data dir prepared)", (m) => noBoot(m)],
    [["env-only"], "ETCD_CONFIG_FILE set (etcd would ignore every variable)", (m) => env(m, "ETCD_CONFIG_FILE", "/etc/etcd/etcd.conf.yml")],
    [["env-only"], "a flag on ExecStart", (m) => ({ ...m, unit: m.unit.replace(/^ExecStart=.*$/m, `ExecStart=${memberPaths.binDir}/etcd --auto-tls`) })],
    [
        ["plaintext-listener"],
        "plaintext client listener on loopback",
        (m) => env(m, "ETCD_LISTEN_CLIENT_URLS", `${flagsOf(m.env)["--listen-client-urls"]},http://127.0.0.1:2379`),
    ],
    [["plaintext-listener"], "plaintext peer URL advertised", (m) => env(m, "ETCD_INITIAL_ADVERTISE_PEER_URLS", "http://10.0.1.10:2380")],
    [["plaintext-listener"], "metrics on every address", (m) => env(m, "ETCD_LISTEN_METRICS_URLS", "http://0.0.0.0:2381")],
    [["plaintext-listener"], "metrics on the member address though not asked for", (m, e) => [m, { ...e, metricsOnMemberAddress: false }]],
    [
        ["tls-min-version"],
        "--tls-min-version toggled (absent where supported, present where unknown)",
        (m, e) => env(m, "ETCD_TLS_MIN_VERSION", e.tlsVersionFlags ? undefined : "TLS1.2"),
    ],
    [
        ["tls-min-version"],
        "--tls-min-version TLS1.1",
        (m, e) => (e.tlsVersionFlags ? env(m, "ETCD_TLS_MIN_VERSION", "TLS1.1") : env(m, "ETCD_TLS_MIN_VERSION", "TLS1.2")),
    ],
    [
        ["cipher-suites"],
        "a CBC suite without forward secrecy added",
        (m) => env(m, "ETCD_CIPHER_SUITES", `${flagsOf(m.env)["--cipher-suites"]},TLS_RSA_WITH_AES_128_CBC_SHA`),
    ],
    [["cipher-suites"], "suites removed (Go's defaults)", (m) => env(m, "ETCD_CIPHER_SUITES", undefined)],
    [["peer-cn"], "ETCD_PEER_CERT_ALLOWED_CN removed", (m) => env(m, "ETCD_PEER_CERT_ALLOWED_CN", undefined)],
    [["peer-cn"], "ETCD_PEER_CERT_ALLOWED_CN names another CN", (m) => env(m, "ETCD_PEER_CERT_ALLOWED_CN", "root")],
];

/** The boot script with the mount moved after chown and chmod. */
function reorderMount(m: RenderedMember): RenderedMember {
    const moved = boot(m, '  mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"\n', "");
    return { ...moved, boot: moved.boot.replace('  chmod 0700 "$DATA_DIR"\n', '  chmod 0700 "$DATA_DIR"\n  mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"\n') };
}

/** The same user-data with a runcmd that does not run the boot script. */
function noBoot(m: RenderedMember): RenderedMember {
    const doc = parse(m.userData);
    expect(doc.runcmd).toEqual([[memberPaths.bootScript]]);
    const without = memberFromUserData(`#cloud-config\n${stringify({ ...doc, runcmd: [] })}`, m.parameters);
    expect(without.boot).toBe("");
    return without;
}

describe.each(cases.filter(([, , metrics]) => metrics))("etcd %s, %s key delivery: each check can fail", (version, delivery) => {
    const { member, expectations } = render(version, delivery, true);
    test.each(breakages)("%j: %s", (ids, _what, breakIt) => {
        const broken = breakIt(member, expectations);
        const [m, e] = Array.isArray(broken) ? broken : [broken, expectations];
        const withoutBoot = ids.includes("2.4") && ids.includes("1.1.11");
        // Inline keys and certificates are in user-data: without the boot script only the data dir checks fail.
        // With SSM delivery nothing fetches the CA either.
        const expected = !withoutBoot ? ids : delivery === "inline" ? ["1.1.11", "1.1.12"] : ["2.1", "2.4", "2.7", "1.1.11", "1.1.12"];
        expect(failedChecks(m, e)).toEqual(expected);
    });
    test("every check id has a breakage", () => {
        expect(new Set(breakages.flatMap(([ids]) => ids))).toEqual(new Set(checkIds));
    });
});

// CIS 2.7 wants a CA unique to etcd: the component creates one per cluster, and each member trusts its own only.
describe("2.7 on the component: one CA per cluster, trusted by that cluster's members alone", () => {
    const T = {
        selfSigned: "tls:index/selfSignedCert:SelfSignedCert",
        signed: "tls:index/locallySignedCert:LocallySignedCert",
        instance: "aws:ec2/instance:Instance",
        eni: "aws:ec2/networkInterface:NetworkInterface",
        parameter: "aws:ssm/parameter:Parameter",
    };
    const subnetIds = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
    const build: Record<string, EtcdClusterArgs> = {
        alpha: { vpcId: "vpc-0123abcd", subnetIds, version: "3.6.14" },
        beta: { vpcId: "vpc-0123abcd", subnetIds, version: "3.5.30", keyDelivery: "inline", metricsCidrs: ["10.9.0.0/24"], readiness: { mode: "none" } },
    };
    let mocks: StackMocks;
    const caPem: Record<string, string> = {};
    let dir: string;

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), "etcd-cis-"));
        mocks = await installStackMocks();
        const { EtcdCluster } = await import("../../components");
        const clusters: Record<string, EtcdClusterType> = {};
        // The inline cluster's warnings are expected (and tested elsewhere).
        const warn = pulumi.log.warn;
        pulumi.log.warn = async () => {};
        for (const [name, args] of Object.entries(build)) {
            clusters[name] = new EtcdCluster(name, args);
        }
        pulumi.log.warn = warn;
        for (const [name, cluster] of Object.entries(clusters)) {
            caPem[name] = await valueOf(cluster.caCertPem);
            await valueOf(cluster.members);
        }
        await settled(mocks);
    });
    afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

    const save = (file: string, pem: string) => {
        writeFileSync(join(dir, file), pem);
        return join(dir, file);
    };
    const verifies = (caFile: string, certFile: string) => {
        try {
            execFileSync("openssl", ["verify", "-CAfile", caFile, certFile], { stdio: "pipe" });
            return true;
        } catch {
            return false;
        }
    };

    test("each cluster has its own self-signed CA, different from the other's", () => {
        for (const name of Object.keys(build)) {
            const cas = mocks.ofType(T.selfSigned).filter((r) => r.name.startsWith(`${name}-`));
            expect(cas.map((r) => [r.name, r.inputs.isCaCertificate])).toEqual([[`${name}-ca`, true]]);
            expect(cas[0].outputs.certPem).toBe(caPem[name]);
        }
        expect(caPem.alpha).not.toBe(caPem.beta);
    });

    test.each(Object.keys(build))("%s: every member passes every check against its own CA and fails 2.7 against the other cluster's", (name) => {
        const other = name === "alpha" ? "beta" : "alpha";
        const otherCa = save(`${other}-ca.pem`, caPem[other]);
        const ownCa = save(`${name}-ca.pem`, caPem[name]);
        const instances = mocks.ofType(T.instance).filter((r) => r.name.startsWith(`${name}-member-`));
        expect(instances).toHaveLength(3);
        instances.forEach((instance, i) => {
            const parameters = Object.fromEntries(
                mocks
                    .ofType(T.parameter)
                    .filter((p) => p.name.startsWith(`${name}-member-${i}-`))
                    .map((p) => [p.inputs.name, p.inputs.value ?? p.inputs.insecureValue]),
            );
            const member = memberFromUserData(instance.inputs.userData, parameters);
            const ip = mocks.get(T.eni, `${name}-member-${i}`).outputs.privateIp;
            const flags = flagsOf(member.env);
            const e: CisExpectations = {
                clusterCaPem: caPem[name],
                memberIp: ip,
                metricsOnMemberAddress: (build[name].metricsCidrs ?? []).length > 0,
                tlsVersionFlags: hasTlsVersionFlags(build[name].version as string),
                peerCommonName: peerCertificateParams(ip).commonName,
            };
            expect(failedChecks(member, e)).toEqual([]);
            expect(failedChecks(member, { ...e, clusterCaPem: caPem[other] })).toEqual(["2.7"]);
            // The member's certificates are signed by its own cluster's CA, and not by the other's.
            for (const role of ["server", "peer"]) {
                const signed = mocks.get(T.signed, `${name}-member-${i}-${role}`);
                expect(signed.inputs.caCertPem).toBe(caPem[name]);
                const cert = save(`${name}-${i}-${role}.pem`, signed.outputs.certPem);
                expect(verifies(ownCa, cert)).toBe(true);
                expect(verifies(otherCa, cert)).toBe(false);
                expect(member.files.get(role === "server" ? flags["--cert-file"] : flags["--peer-cert-file"])).toBe(signed.outputs.certPem);
            }
            // The peer certificate carries the CN the other members pin.
            const subject = execFileSync("openssl", ["x509", "-noout", "-subject", "-in", join(dir, `${name}-${i}-peer.pem`)], { encoding: "utf8" });
            expect(subject).toMatch(new RegExp(`CN ?= ?${flags["--peer-cert-allowed-cn"]}(,|$)`, "m"));
            // SSM delivery: the keys come from this member's own parameters.
            if (build[name].keyDelivery !== "inline") {
                expect(member.fetched.get(flags["--key-file"])).toBe(mocks.get(T.parameter, `${name}-member-${i}-server-key`).inputs.name);
                expect(member.fetched.get(flags["--peer-key-file"])).toBe(mocks.get(T.parameter, `${name}-member-${i}-peer-key`).inputs.name);
            }
        });
    });
});
