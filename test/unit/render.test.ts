import { parse } from "yaml";
import { renderBootScript, shellQuote } from "../../components/render/bootScript";
import { renderCloudConfig } from "../../components/render/cloudConfig";
import { renderEtcdEnvironment } from "../../components/render/etcdConfig";
import { pemSha256, renderMemberUserData } from "../../components/render/memberUserData";
import { memberPaths } from "../../components/render/paths";
import { renderDataMountUnit, renderSystemdUnit } from "../../components/render/systemdUnit";
import { fakeCertPem as cert, envOf, fakeKeyPem as key, memberParams as params } from "../helpers/memberParams";

describe("etcd environment file", () => {
    test("no membership list (decided at first start, so a size change leaves it unchanged), TLS everywhere, CIS 2.1-2.6 settings", () => {
        const env = envOf(renderEtcdEnvironment(params("3.6.14")));
        expect(env.ETCD_NAME).toBe("etcd-0");
        expect(env.ETCD_INITIAL_CLUSTER).toBeUndefined();
        expect(env.ETCD_INITIAL_CLUSTER_STATE).toBeUndefined();
        expect(env.ETCD_INITIAL_ADVERTISE_PEER_URLS).toBe("https://10.0.1.10:2380");
        expect(env.ETCD_LISTEN_CLIENT_URLS).toBe("https://10.0.1.10:2379,https://127.0.0.1:2379");
        expect(env.ETCD_LISTEN_PEER_URLS).toBe("https://10.0.1.10:2380");
        expect(env.ETCD_ADVERTISE_CLIENT_URLS).toBe("https://10.0.1.10:2379");
        expect(env.ETCD_LISTEN_METRICS_URLS).toBe("http://127.0.0.1:2381");
        // CIS 2.1 to 2.6
        expect(env.ETCD_CERT_FILE).toBe(memberPaths.serverCert);
        expect(env.ETCD_KEY_FILE).toBe(memberPaths.serverKey);
        expect(env.ETCD_CLIENT_CERT_AUTH).toBe("true");
        expect(env.ETCD_AUTO_TLS).toBe("false");
        expect(env.ETCD_PEER_CERT_FILE).toBe(memberPaths.peerCert);
        expect(env.ETCD_PEER_KEY_FILE).toBe(memberPaths.peerKey);
        expect(env.ETCD_PEER_CLIENT_CERT_AUTH).toBe("true");
        expect(env.ETCD_PEER_AUTO_TLS).toBe("false");
        expect(env.ETCD_PEER_CERT_ALLOWED_CN).toBe("etcd-peer");
        // No plaintext client listener anywhere.
        expect(Object.entries(env).filter(([k, v]) => k.includes("CLIENT_URLS") && String(v).includes("http://"))).toEqual([]);
    });

    test.each([
        ["3.4.23", { tlsMin: false, logger: true, snapshot: "100000" }],
        ["3.5.6", { tlsMin: false, logger: false, snapshot: "100000" }],
        ["3.5.30", { tlsMin: true, logger: false, snapshot: "100000" }],
        ["3.6.14", { tlsMin: true, logger: false, snapshot: "10000" }],
    ])("etcd %s gets only the flags it accepts", (version, expected) => {
        const env = envOf(renderEtcdEnvironment(params(version)));
        expect("ETCD_TLS_MIN_VERSION" in env).toBe(expected.tlsMin);
        expect(env.ETCD_LOGGER).toBe(expected.logger ? "zap" : undefined);
        expect(env.ETCD_SNAPSHOT_COUNT).toBe(expected.snapshot);
        // Names as etcd's --cipher-suites documentation and Go's crypto/tls constants spell them.
        expect(env.ETCD_CIPHER_SUITES).toBe(
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305," +
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        );
        expect(Object.keys(env).filter((k) => /ENABLE_V2|EXPERIMENTAL|PROXY/.test(k))).toEqual([]);
    });

    test("TLS 1.3 only: no cipher suites (Go refuses them then)", () => {
        const env = envOf(renderEtcdEnvironment(params("3.6.14", { tlsMinVersion: "TLS1.3" })));
        expect(env.ETCD_TLS_MIN_VERSION).toBe("TLS1.3");
        expect(env.ETCD_CIPHER_SUITES).toBeUndefined();
    });

    test("metrics on the member address only when monitoring sources are configured", () => {
        const env = envOf(renderEtcdEnvironment(params("3.6.14", { metricsOnMemberAddress: true })));
        expect(env.ETCD_LISTEN_METRICS_URLS).toBe("http://10.0.1.10:2381,http://127.0.0.1:2381");
    });

    test("arm64 on 3.4 needs ETCD_UNSUPPORTED_ARCH, later lines do not", () => {
        expect(envOf(renderEtcdEnvironment(params("3.4.23", { arch: "arm64" }))).ETCD_UNSUPPORTED_ARCH).toBe("arm64");
        expect(envOf(renderEtcdEnvironment(params("3.5.30", { arch: "arm64" }))).ETCD_UNSUPPORTED_ARCH).toBeUndefined();
    });

    test("a value that could break the environment file is refused", () => {
        expect(() => renderEtcdEnvironment(params("3.6.14", { clusterToken: "x\nETCD_AUTO_TLS=true" }))).toThrow(
            'etcd setting ETCD_INITIAL_CLUSTER_TOKEN has characters that are unsafe in an environment file: "x\\nETCD_AUTO_TLS=true"',
        );
    });
});

describe("systemd unit", () => {
    const unit = renderSystemdUnit({ memberName: "etcd-0" });
    const directives = unit.split("\n").filter((l) => /^[A-Za-z]+=/.test(l));
    const value = (key: string) => directives.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

    test("notify service run as etcd from the environment file, restarted always, no flags of its own", () => {
        expect(value("Type")).toEqual(["notify"]);
        expect(value("User")).toEqual(["etcd"]);
        // The second, optional file holds the bootstrap settings the boot script decides (membership.ts).
        expect(value("EnvironmentFile")).toEqual([memberPaths.environmentFile, `-${memberPaths.bootstrapEnvironmentFile}`]);
        expect(value("ExecStart")).toEqual(["/usr/local/bin/etcd"]);
        expect(value("Restart")).toEqual(["always"]);
        // A start limit that RestartSec can reach: a crash loop ends in "failed" rather than looping unseen.
        const restartSec = Number(value("RestartSec")[0].replace(/s$/, ""));
        const burst = Number(value("StartLimitBurst")[0]);
        expect(value("StartLimitIntervalSec")).toEqual(["10min"]);
        expect(burst * restartSec).toBeLessThan(600);
        expect(burst).toBeGreaterThanOrEqual(3);
        expect(value("LimitNOFILE")).toEqual(["65536"]);
        expect(value("TimeoutStartSec")).toEqual(["0"]);
        expect(unit).not.toMatch(/\\\n/); // no line continuations to break
    });

    test("hardened: no privileges, read-only system but the data dir", () => {
        expect(value("NoNewPrivileges")).toEqual(["yes"]);
        expect(value("CapabilityBoundingSet")).toEqual([""]);
        expect(value("ProtectSystem")).toEqual(["strict"]);
        expect(value("ReadWritePaths")).toEqual([memberPaths.dataDir]);
        expect(value("ProtectHome")).toEqual(["yes"]);
        expect(value("PrivateTmp")).toEqual(["yes"]);
    });

    test("the data volume's mount unit: its NVMe path on EC2, the data dir, not ordered before local-fs.target (nofail)", () => {
        const mount = renderDataMountUnit({ volumeId: "vol-0abc123" });
        expect(mount).toMatch(/^What=\/dev\/disk\/by-id\/nvme-Amazon_Elastic_Block_Store_vol0abc123$/m);
        expect(mount).toMatch(/^Where=\/var\/lib\/etcd$/m);
        expect(mount).toMatch(/^Options=defaults,noatime,nofail$/m);
        expect(memberPaths.dataMountUnit).toBe("/etc/systemd/system/var-lib-etcd.mount");
        expect(() => renderDataMountUnit({ volumeId: "vol-1\nWhat=/dev/sda" })).toThrow("is not an EBS volume id");
    });

    test("a member name that could inject directives is refused", () => {
        expect(() => renderSystemdUnit({ memberName: "x\nExecStartPre=/bin/sh" })).toThrow("is not safe in a unit file");
    });
});

describe("boot script", () => {
    const script = renderBootScript({
        memberName: "etcd-0",
        version: "3.6.14",
        releaseUrl: "https://example.invalid/etcd.tar.gz",
        releaseSha256: "f".repeat(64),
        dataVolumeId: "vol-0abc123",
        ssmParameterPrefix: "/etcd/c/etcd-0",
        ssmFiles: [{ file: "ca.crt", sha256: "a".repeat(64) }, { file: "server.key" }],
        region: "eu-west-1",
    });

    test("verifies the checksum before installing and stops on a mismatch", () => {
        const check = script.indexOf('if [[ "$actual" != "$RELEASE_SHA256" ]]');
        const install = script.indexOf('install -m 0755 -o root -g root "$work/$binary"');
        expect(check).toBeGreaterThan(0);
        expect(install).toBeGreaterThan(check);
        expect(script).toContain("refusing to install etcd");
        expect(script).toContain(`readonly RELEASE_SHA256='${"f".repeat(64)}'`);
    });

    test("formats the data volume only when blkid finds no filesystem", () => {
        expect(script).toContain('if (( rc == 2 )) && [[ -z "$fs_type" ]]; then');
        expect(script).toContain("nvme-Amazon_Elastic_Block_Store_${DATA_VOLUME_ID//-/}");
    });

    test("fetches keys and certificates (checked by SHA-256) from SSM with retries and starts etcd without blocking boot", () => {
        expect(script).toContain("readonly SSM_PREFIX='/etcd/c/etcd-0'");
        expect(script).toContain(`fetch_ssm ca.crt '${"a".repeat(64)}'`);
        expect(script).toMatch(/^  fetch_ssm server.key$/m);
        expect(script).toContain("local name=${3:-$SSM_PREFIX/$1} path=$PKI_DIR/$1");
        expect(script).toContain("retry 8 aws ssm get-parameter");
        expect(script).toContain("systemctl start --no-block etcd.service");
    });

    test("shellQuote keeps hostile text inert", () => {
        expect(shellQuote("a'b")).toBe("'a'\\''b'");
        expect(shellQuote("$(reboot) `id`")).toBe("'$(reboot) `id`'");
    });
});

describe("cloud-config", () => {
    test("ssm delivery: parameter names and certificate digests only, no certificate or private key", () => {
        const text = renderMemberUserData(params("3.6.14"));
        expect(text.startsWith("#cloud-config\n")).toBe(true);
        expect(text).not.toContain("PRIVATE KEY");
        const doc = parse(text);
        expect(Object.keys(doc).sort()).toEqual(["runcmd", "write_files"]);
        expect(doc.runcmd).toEqual([[memberPaths.bootScript]]);
        const paths = doc.write_files.map((f: { path: string }) => f.path);
        expect(paths).toEqual([...paths].sort());
        expect(paths).toEqual(expect.arrayContaining([memberPaths.environmentFile, memberPaths.unitFile, memberPaths.bootScript, memberPaths.etcdctlProfile]));
        expect(paths.filter((p: string) => p.startsWith(memberPaths.pkiDir))).toEqual([]);
        expect(text).not.toContain("BEGIN CERTIFICATE");
        const boot = doc.write_files.find((f: { path: string }) => f.path === memberPaths.bootScript);
        expect(boot.permissions).toBe("0755");
        expect(boot.content).toMatch(/^  fetch_ssm peer.key$/m);
        expect(boot.content).toContain(`fetch_ssm ca.crt '${pemSha256(cert("CA"))}'`);
        expect(boot.content).toContain(`fetch_ssm server.crt '${pemSha256(cert("SERVER"))}'`);
    });

    test("inline delivery: keys written root-only", () => {
        const text = renderMemberUserData(
            params("3.6.14", {
                ssmParameterPrefix: undefined,
                tls: { caCertPem: cert("CA"), serverCertPem: cert("S"), peerCertPem: cert("P"), serverKeyPem: key("SK"), peerKeyPem: key("PK") },
            }),
        );
        const doc = parse(text);
        const serverKey = doc.write_files.find((f: { path: string }) => f.path === memberPaths.serverKey);
        // cloud-init's default owner is root:root.
        expect(serverKey).toEqual({ path: memberPaths.serverKey, permissions: "0600", content: key("SK") });
        expect(doc.write_files.find((f: { path: string }) => f.path === memberPaths.caCert).content).toBe(cert("CA"));
        expect(doc.write_files.find((f: { path: string }) => f.path === memberPaths.bootScript).content).not.toContain("fetch_ssm");
    });

    test("YAML-significant and shell-significant content stays inert", () => {
        const hostile = "a: b\n- c\n'\"$(reboot)`id`\n#x\n  ---\n";
        const doc = parse(renderCloudConfig({ files: [{ path: "/tmp/x", content: hostile, permissions: "0644", owner: "root:root" }] }));
        expect(doc.write_files).toEqual([{ path: "/tmp/x", content: hostile }]);
    });

    test("auth: the first member enables it once healthy, through a oneshot unit started without blocking", () => {
        const doc = parse(renderMemberUserData(params("3.5.30", { enableAuth: { memberNames: ["etcd-0", "etcd-1", "etcd-2"] } })));
        const byPath = (p: string) => doc.write_files.find((f: { path: string }) => f.path === p);
        const script = byPath("/usr/local/sbin/etcd-enable-auth");
        expect(script.permissions).toBe("0700");
        expect(script.content).toContain("readonly USERS=('root' 'etcd-'{0..2})");
        expect(script.content).toContain('etcdctl user add "$user" --no-password');
        expect(script.content.indexOf("endpoint health --cluster")).toBeLessThan(script.content.indexOf("etcdctl auth enable"));
        expect(byPath("/etc/systemd/system/etcd-enable-auth.service").content).toContain("Type=oneshot");
        expect(byPath(memberPaths.bootScript).content).toContain("systemctl start --no-block 'etcd-enable-auth.service'");
        expect(parse(renderMemberUserData(params("3.5.30"))).write_files.map((f: { path: string }) => f.path)).not.toContain(
            "/usr/local/sbin/etcd-enable-auth",
        );
    });

    test("deterministic: the same inputs render the same bytes", () => {
        expect(renderMemberUserData(params("3.5.30"))).toBe(renderMemberUserData(params("3.5.30")));
    });

    test("well under EC2's 16 KB with real-sized certificates", () => {
        const realCert = cert("A".repeat(700));
        const text = renderMemberUserData(params("3.6.14", { tls: { caCertPem: realCert, serverCertPem: realCert, peerCertPem: realCert } }));
        expect(Buffer.byteLength(text)).toBeLessThan(16384);
    });
});
