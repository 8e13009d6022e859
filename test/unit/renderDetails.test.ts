// The renderers' details that a member depends on but the broader render tests do not pin: every tuning value
// in its variable, the etcdctl profile, the growfs units, the boot script's tool list, settings and refusals,
// the comment stripping, and the user-data files' modes. Expected values are literals written from etcd's,
// systemd's and Amazon Linux's documentation, not computed by the code under test.
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { renderAuthScript } from "../../components/render/authBootstrap";
import { renderBootScript, withoutComments } from "../../components/render/bootScript";
import { renderCloudConfig } from "../../components/render/cloudConfig";
import { renderEtcdctlProfile, renderEtcdEnvironment } from "../../components/render/etcdConfig";
import { pemSha256, renderMemberUserData } from "../../components/render/memberUserData";
import { ebsVolumeLink, renderGrowService, renderGrowTimer } from "../../components/render/systemdUnit";
import { envOf, fakeKeyPem, memberParams } from "../helpers/memberParams";

/** The boot script's plain inputs, without key delivery. */
const bootBase = {
    memberName: "etcd-0",
    version: "3.5.30",
    releaseUrl: "https://example.invalid/etcd.tar.gz",
    releaseSha256: "f".repeat(64),
    dataVolumeId: "vol-0abc123",
    region: "eu-west-1",
};

describe("etcd environment: every setting reaches its variable", () => {
    const tuned = memberParams("3.5.30", {
        tuning: {
            heartbeatIntervalMs: 150,
            electionTimeoutMs: 1500,
            quotaBackendBytes: 4294967296,
            autoCompactionMode: "revision",
            autoCompactionRetention: "1000",
            snapshotCount: 5000,
        },
    });
    const env = envOf(renderEtcdEnvironment(tuned));

    test("tuning, as etcd's flags name them", () => {
        expect(env.ETCD_HEARTBEAT_INTERVAL).toBe("150");
        expect(env.ETCD_ELECTION_TIMEOUT).toBe("1500");
        expect(env.ETCD_QUOTA_BACKEND_BYTES).toBe("4294967296");
        expect(env.ETCD_AUTO_COMPACTION_MODE).toBe("revision");
        expect(env.ETCD_AUTO_COMPACTION_RETENTION).toBe("1000");
        expect(env.ETCD_SNAPSHOT_COUNT).toBe("5000");
    });

    test("identity, data dir, bootstrap token, CA files, reconfiguration check and log level", () => {
        expect(env.ETCD_DATA_DIR).toBe("/var/lib/etcd");
        expect(env.ETCD_INITIAL_CLUSTER_TOKEN).toBe("etcd-1a2b3c4d");
        expect(env.ETCD_INITIAL_ADVERTISE_PEER_URLS).toBe("https://10.0.1.10:2380");
        expect(env.ETCD_TRUSTED_CA_FILE).toBe("/etc/etcd/pki/ca.crt");
        expect(env.ETCD_PEER_TRUSTED_CA_FILE).toBe("/etc/etcd/pki/ca.crt");
        expect(env.ETCD_STRICT_RECONFIG_CHECK).toBe("true");
        expect(env.ETCD_LOG_LEVEL).toBe("info");
        expect(env.ETCD_TLS_MIN_VERSION).toBe("TLS1.2");
    });

    test("the file names its member on the first line and ends with a newline", () => {
        const text = renderEtcdEnvironment(tuned);
        expect(text.split("\n")[0]).toBe("# etcd configuration of member etcd-0; rendered by the EtcdCluster component.");
        expect(text.endsWith("\n")).toBe(true);
    });
});

test("etcdctl profile: the member's own TLS endpoint and certificate, API v3", () => {
    expect(renderEtcdctlProfile({ name: "etcd-1", ip: "10.0.2.10" })).toBe(
        "export ETCDCTL_API=3\n" +
            "export ETCDCTL_ENDPOINTS=https://10.0.2.10:2379\n" +
            "export ETCDCTL_CACERT=/etc/etcd/pki/ca.crt\n" +
            "export ETCDCTL_CERT=/etc/etcd/pki/server.crt\n" +
            "export ETCDCTL_KEY=/etc/etcd/pki/server.key\n",
    );
});

describe("growfs units", () => {
    test("the service runs the boot script's grow-data step once", () => {
        const unit = renderGrowService();
        expect(unit).toContain("\nType=oneshot\n");
        expect(unit).toContain("\nExecStart=/usr/local/sbin/etcd-bootstrap grow-data\n");
        expect(unit.startsWith("[Unit]\nDescription=")).toBe(true);
    });
    test("the timer checks 2 minutes after boot, then every 5 minutes, and is wanted by timers.target", () => {
        const timer = renderGrowTimer();
        expect(timer).toContain("\n[Timer]\nOnBootSec=2min\nOnUnitActiveSec=5min\n");
        expect(timer).toContain("\n[Install]\nWantedBy=timers.target\n");
        expect(timer.startsWith("[Unit]\nDescription=")).toBe(true);
    });
});

test("an EBS volume's NVMe link is named after the whole volume id, and nothing else is accepted", () => {
    expect(ebsVolumeLink("vol-0abc123")).toBe("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123");
    for (const bad of ["vol-", "xvol-0abc", "vol-0abc/../x", "vol-0abc\nWhat=/dev/sda", "snap-0abc"]) {
        expect(() => ebsVolumeLink(bad)).toThrow(/is not an EBS volume id/);
    }
});

describe("boot script", () => {
    const withSsm = renderBootScript({
        ...bootBase,
        ssmParameterPrefix: "/etcd/c/etcd-0",
        ssmFiles: [{ file: "ca.crt", sha256: "a".repeat(64) }, { file: "server.key" }],
        unitsAfterEtcd: ["etcd-auth.service"],
    });
    const inline = renderBootScript({ ...bootBase, ssmFiles: [] });

    test("missing commands map to the Amazon Linux 2023 packages that provide them; the AWS CLI only with SSM", () => {
        const tools =
            "tar:tar sha256sum:coreutils mkfs.ext4:e2fsprogs e2fsck:e2fsprogs resize2fs:e2fsprogs dumpe2fs:e2fsprogs blkid:util-linux blockdev:util-linux findmnt:util-linux mountpoint:util-linux";
        expect(withSsm).toContain(`  for entry in ${tools} aws:awscli-2; do\n`);
        expect(inline).toContain(`  for entry in ${tools}; do\n`);
    });

    test("SSM settings and the fetch function only with SSM delivery; each file fetched in main, digests quoted", () => {
        expect(withSsm).toContain("\nreadonly AWS_REGION='eu-west-1'\nreadonly SSM_PREFIX='/etcd/c/etcd-0'\n");
        expect(withSsm).toContain("\nfetch_ssm() {");
        expect(withSsm).toContain(`\n  fetch_ssm ca.crt '${"a".repeat(64)}'\n  fetch_ssm server.key\n`);
        expect(inline).not.toMatch(/AWS_REGION|SSM_PREFIX|fetch_ssm/);
    });

    test("the volume wait is 10 minutes unless given", () => {
        expect(inline).toContain("\nreadonly VOLUME_WAIT_SECONDS=600\n");
        expect(renderBootScript({ ...bootBase, ssmFiles: [], volumeWaitSeconds: 30 })).toContain("\nreadonly VOLUME_WAIT_SECONDS=30\n");
    });

    test("units to start after etcd are enabled and started without blocking boot", () => {
        expect(withSsm).toContain("\n  systemctl enable 'etcd-auth.service'\n  systemctl start --no-block 'etcd-auth.service'\n");
        expect(inline).not.toContain("etcd-auth.service");
    });

    test.each(["../ca.crt", "ca.crt.sh", "ca.pem", "CA.crt", "ca.crt\nrm -rf /"])("an SSM file named %j is refused", (file) => {
        expect(() => renderBootScript({ ...bootBase, ssmParameterPrefix: "/p", ssmFiles: [{ file }] })).toThrow(/is not a plain certificate or key name/);
    });
});

test("comment stripping keeps the shebang line, shellcheck directives and code, and drops whole-line comments", () => {
    const script = [
        "#!/bin/bash",
        "# a comment",
        "  # indented comment",
        "# shellcheck disable=SC2034",
        "  #  shellcheck source=/dev/null",
        'echo "#not a comment" # trailing',
        "x=1",
    ].join("\n");
    expect(withoutComments(script)).toBe(
        ["#!/bin/bash", "# shellcheck disable=SC2034", "  #  shellcheck source=/dev/null", 'echo "#not a comment" # trailing', "x=1"].join("\n"),
    );
    expect(withoutComments("#!/bin/sh\n#shellcheck-like comment\n#x shellcheck \ntrue")).toBe("#!/bin/sh\ntrue");
});

test("the auth script refuses a member name that is not a plain DNS label", () => {
    for (const bad of ["etcd 0", "etcd-0;reboot", "Etcd-0", "etcd-0\n", "$(id)"]) {
        expect(() => renderAuthScript(["etcd-0", bad])).toThrow(/is not safe in the auth script/);
    }
    expect(() => renderAuthScript(["etcd-0", "etcd-1"])).not.toThrow();
});

describe("member user-data files", () => {
    const files = (doc: string) =>
        Object.fromEntries(
            (parse(doc.replace(/^#cloud-config\n/, "")).write_files as { path: string; permissions?: string; owner?: string; content: string }[]).map((f) => [
                f.path,
                f,
            ]),
        );

    test("the boot script is executable; configuration and units keep cloud-init's root-owned 0644 default", () => {
        const f = files(renderMemberUserData(memberParams("3.5.30")));
        expect(f["/usr/local/sbin/etcd-bootstrap"].permissions).toBe("0755");
        for (const path of ["/etc/etcd/etcd.env", "/etc/systemd/system/etcd.service", "/etc/profile.d/etcdctl.sh", "/etc/systemd/system/etcd-growfs.timer"]) {
            expect(f[path].permissions).toBeUndefined();
            expect(f[path].owner).toBeUndefined();
            expect(f[path].content.endsWith("\n")).toBe(true);
        }
    });

    test("inline delivery without both keys is refused, naming the member", () => {
        const tls = { caCertPem: "CA", serverCertPem: "S", peerCertPem: "P" };
        expect(() => renderMemberUserData(memberParams("3.5.30", { ssmParameterPrefix: undefined, tls: { ...tls, serverKeyPem: fakeKeyPem("S") } }))).toThrow(
            "member etcd-0: inline key delivery needs the server and peer keys",
        );
        expect(() => renderMemberUserData(memberParams("3.5.30", { ssmParameterPrefix: undefined, tls: { ...tls, peerKeyPem: fakeKeyPem("P") } }))).toThrow(
            "member etcd-0: inline key delivery needs the server and peer keys",
        );
    });

    test("the membership functions' source must be one the member has: the tools object needs backups, the SSM parameter needs SSM keys", () => {
        const tls = { caCertPem: "CA", serverCertPem: "S", peerCertPem: "P", serverKeyPem: "SK", peerKeyPem: "PK" };
        expect(() => renderMemberUserData(memberParams("3.5.30", { membershipLibrary: "tools" }))).toThrow(
            "member etcd-0: the membership functions come with the tools object only when there is one (backups)",
        );
        expect(() =>
            renderMemberUserData(
                memberParams("3.5.30", { ssmParameterPrefix: undefined, tls, membershipLibrary: { name: "/etcd/c/membership.sh", sha256: "e".repeat(64) } }),
            ),
        ).toThrow("the membership functions are fetched from SSM with the keys");
        // With the tools object: no fetch and no file of their own in user-data, the tools installer writes them.
        const withTools = renderMemberUserData(
            memberParams("3.5.30", {
                membershipLibrary: "tools",
                memberTools: { url: "s3://b/tools/member-tools.sh", sha256: "a".repeat(64), restore: false },
            }),
        );
        expect(withTools).toContain("readonly MEMBERSHIP_LIB=/usr/local/lib/etcd/membership.sh");
        expect(withTools).not.toContain("path: /usr/local/lib/etcd/membership.sh");
        expect(withTools).not.toContain("fetch_ssm membership.sh");
    });

    test("a PEM's digest ignores how many newlines end it, and only those", () => {
        // sha256 of "A\n", as `printf 'A\n' | sha256sum` prints it.
        const digestOfALine = "06f961b802bc46ee168555f066d28f4f0e9afdf3f88174c1ee6f9de004fc30a0";
        expect(pemSha256("A")).toBe(digestOfALine);
        expect(pemSha256("A\n")).toBe(digestOfALine);
        expect(pemSha256("A\n\n\n")).toBe(digestOfALine);
        expect(pemSha256("\nA")).not.toBe(digestOfALine);
    });
});

describe("boot script structure", () => {
    const inline = renderBootScript({ ...bootBase, ssmFiles: [] });

    test("inline delivery: nothing between the tool installer and secure_pki, no unit started after etcd, no blank step in main", () => {
        expect(inline).toContain("\n}\n\nsecure_pki() {\n");
        expect(inline).not.toMatch(/systemctl enable '/);
        expect(inline.split("\n").filter((l) => l !== "" && l.trim() === "")).toEqual([]);
    });

    test("every unit after etcd gets its own enable and start lines", () => {
        const script = renderBootScript({ ...bootBase, ssmFiles: [], unitsAfterEtcd: ["a.timer", "b.service"] });
        expect(script).toContain(
            "\n  systemctl enable 'a.timer'\n  systemctl start --no-block 'a.timer'\n  systemctl enable 'b.service'\n  systemctl start --no-block 'b.service'\n  log ",
        );
    });

    test("SSM files without a parameter prefix are refused", () => {
        expect(() => renderBootScript({ ...bootBase, ssmFiles: [{ file: "ca.crt" }] })).toThrow("SSM delivery needs the member's parameter prefix");
    });
});

describe("cloud-config and member user-data details", () => {
    const writeFiles = (doc: string) =>
        (
            parse(doc.replace(/^#cloud-config\n/, "")).write_files as {
                path: string;
                permissions?: string;
                owner?: string;
                encoding?: string;
                content: string;
            }[]
        ).reduce<Record<string, { permissions?: string; owner?: string; encoding?: string; content: string }>>((all, f) => ({ ...all, [f.path]: f }), {});

    test("an owner or mode other than cloud-init's default is written; multi-line content is a literal block", () => {
        const doc = renderCloudConfig({
            files: [
                { path: "/b", content: "x\ny\n", permissions: "0600", owner: "root:etcd" },
                { path: "/a", content: "z\n", permissions: "0644", owner: "root:root" },
            ],
        });
        expect(writeFiles(doc)["/b"]).toEqual({ path: "/b", owner: "root:etcd", permissions: "0600", content: "x\ny\n" });
        expect(writeFiles(doc)["/a"]).toEqual({ path: "/a", content: "z\n" });
        expect(doc).toContain("  content: |\n    x\n    y\n");
        expect(doc.indexOf("path: /a")).toBeLessThan(doc.indexOf("path: /b"));
    });

    test("inline certificates get a final newline; the unit names its member; growfs units and the auth unit are installed and started", () => {
        const tls = { caCertPem: "CA", serverCertPem: "S", peerCertPem: "P", serverKeyPem: "SK", peerKeyPem: "PK" };
        const f = writeFiles(renderMemberUserData(memberParams("3.5.30", { ssmParameterPrefix: undefined, tls, enableAuth: { memberNames: ["etcd-0"] } })));
        expect(f["/etc/etcd/pki/ca.crt"].content).toBe("CA\n");
        expect(f["/etc/etcd/pki/server.key"]).toMatchObject({ content: "SK\n", permissions: "0600" });
        expect(f["/etc/systemd/system/etcd.service"].content).toContain("\nDescription=etcd key-value store (member etcd-0)\n");
        expect(f["/etc/systemd/system/etcd-growfs.service"].content).toContain("ExecStart=/usr/local/sbin/etcd-bootstrap grow-data");
        expect(f["/etc/systemd/system/etcd-growfs.timer"].content).toContain("OnUnitActiveSec=5min");
        expect(f["/usr/local/sbin/etcd-enable-auth"].permissions).toBe("0700");
        // Inline-key user-data is secret (never shown in a preview): its scripts are compressed, as cloud-init's gz+b64.
        expect(f["/usr/local/sbin/etcd-bootstrap"]).toMatchObject({ encoding: "gz+b64", permissions: "0755" });
        expect(gunzipSync(Buffer.from(f["/usr/local/sbin/etcd-bootstrap"].content, "base64")).toString()).toContain(
            "\n  systemctl start --no-block 'etcd-enable-auth.service'\n",
        );
    });
});

test("without auth, the member's boot script starts no unit of its own after etcd", () => {
    const doc = renderMemberUserData(memberParams("3.5.30"));
    const boot = (parse(doc.replace(/^#cloud-config\n/, "")).write_files as { path: string; content: string }[]).find(
        (f) => f.path === "/usr/local/sbin/etcd-bootstrap",
    )!;
    expect(boot.content).not.toMatch(/systemctl (enable|start --no-block) '/);
});

test("ETCD_UNSUPPORTED_ARCH only for arm64 on the versions that need it", () => {
    expect(envOf(renderEtcdEnvironment(memberParams("3.4.23", { arch: "amd64" }))).ETCD_UNSUPPORTED_ARCH).toBeUndefined();
    expect(envOf(renderEtcdEnvironment(memberParams("3.4.23", { arch: "arm64" }))).ETCD_UNSUPPORTED_ARCH).toBe("arm64");
});
