// CIS Kubernetes Benchmark etcd checks (2.1-2.7, and the data dir checks 1.1.11-1.1.12) over the rendered
// configuration of every supported etcd line, for both key delivery modes. The live data dir of running
// members is checked by the cluster integration tests, and the CA per cluster (2.7) by the graph tests.
import { parse } from "yaml";
import { renderMemberUserData } from "../../components/render/memberUserData";
import { memberPaths } from "../../components/render/paths";
import { failedCisChecks, flagsOf } from "../helpers/cis";
import { fakeKeyPem, memberParams } from "../helpers/memberParams";

const versions = ["3.4.23", "3.5.15", "3.5.30", "3.6.14"];
const deliveries = ["ssm", "inline"] as const;

function rendered(version: string, delivery: (typeof deliveries)[number]) {
    const params = memberParams(
        version,
        delivery === "inline"
            ? { ssmKeyParameters: undefined, tls: { ...memberParams(version).tls, serverKeyPem: fakeKeyPem("S"), peerKeyPem: fakeKeyPem("P") } }
            : {},
    );
    const doc = parse(renderMemberUserData(params));
    const files: { path: string; content: string }[] = doc.write_files;
    const file = (path: string) => files.find((f) => f.path === path)?.content ?? "";
    return { files, flags: flagsOf(file(memberPaths.environmentFile)), boot: file(memberPaths.bootScript) };
}

const cases = versions.flatMap((v) => deliveries.map((d) => [v, d] as const));

describe.each(cases)("etcd %s, %s key delivery", (version, delivery) => {
    const { files, flags, boot } = rendered(version, delivery);
    const written = new Set(files.map((f) => f.path));
    const fetched = new Set([...boot.matchAll(/fetch_ssm_key '[^']+' '([^']+)'/g)].map((m) => m[1]));

    test("2.1-2.7 hold", () => {
        expect(failedCisChecks(flags)).toEqual([]);
    });

    test("2.1/2.4: the certificate and key files exist on the member (written by user-data or fetched at boot)", () => {
        for (const flag of ["--cert-file", "--peer-cert-file", "--trusted-ca-file"]) {
            expect(written.has(flags[flag])).toBe(true);
        }
        for (const flag of ["--key-file", "--peer-key-file"]) {
            expect(delivery === "ssm" ? fetched.has(flags[flag]) && !written.has(flags[flag]) : written.has(flags[flag])).toBe(true);
        }
    });

    test("1.1.11/1.1.12: the boot script gives the data dir to etcd:etcd with mode 0700", () => {
        expect(boot).toContain('chown etcd:etcd "$DATA_DIR"');
        expect(boot).toContain('chmod 0700 "$DATA_DIR"');
        expect(boot).toMatch(/^readonly DATA_DIR=\/var\/lib\/etcd$/m);
        expect(flags["--data-dir"]).toBe("/var/lib/etcd");
    });

    test("no plaintext listener but metrics on loopback; peers pinned to the peer CN; TLS floor where supported", () => {
        expect(flags["--listen-client-urls"].split(",").every((u) => u.startsWith("https://"))).toBe(true);
        expect(flags["--listen-peer-urls"].split(",").every((u) => u.startsWith("https://"))).toBe(true);
        expect(flags["--listen-metrics-urls"]).toBe("http://127.0.0.1:2381");
        expect(flags["--peer-cert-allowed-cn"]).toBe("etcd-peer");
        const [, minor, patch] = version.split(".").map(Number);
        const tlsFlags = minor >= 6 || (minor === 5 && patch >= 8) || (minor === 4 && patch >= 25);
        expect(flags["--tls-min-version"]).toBe(tlsFlags ? "TLS1.2" : undefined);
        expect(flags["--cipher-suites"].split(",").every((c) => /^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305)$/.test(c))).toBe(true);
    });
});

describe("the checker reports the exact failing check (it is not a rubber stamp)", () => {
    const { flags } = rendered("3.6.14", "ssm");
    test.each([
        ["2.1", { "--key-file": "" }],
        ["2.2", { "--client-cert-auth": "false" }],
        ["2.3", { "--auto-tls": "true" }],
        ["2.4", { "--peer-cert-file": "" }],
        ["2.5", { "--peer-client-cert-auth": "false" }],
        ["2.6", { "--peer-auto-tls": "true" }],
        ["2.7", { "--peer-trusted-ca-file": "/etc/kubernetes/pki/ca.crt" }],
    ])("%s", (id, change) => {
        expect(failedCisChecks({ ...flags, ...change })).toEqual([id]);
    });
});
