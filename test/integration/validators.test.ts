// The rendered user-data, unit and scripts checked by the real validators a member would meet:
// cloud-init's schema, systemd's unit verifier and shellcheck.
import { gunzipSync } from "zlib";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { basename, join } from "path";
import { parse } from "yaml";
import { defaultVersion } from "../../components/releases";
import { renderMemberUserData } from "../../components/render/memberUserData";
import { defragFiles, defragPaths, renderDefragTimer } from "../../components/render/maintenance";
import { memberPaths } from "../../components/render/paths";
import { renderSystemdUnit } from "../../components/render/systemdUnit";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";
import { fakeKeyPem, memberParams } from "../helpers/memberParams";
import { requireRoot, requireTool, run } from "../helpers/tools";

const repo = join(__dirname, "..", "..");
let work: string;

beforeAll(() => {
    requireTool("cloud-init", "cloud-init");
    requireTool("shellcheck", "shellcheck");
    requireTool("systemd-analyze", "systemd");
    requireTool("etcd", "etcd-server");
    work = mkdtempSync(join(tmpdir(), "etcd-validators-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface WrittenFile {
    path: string;
    content: string;
    permissions: string;
}
// The files as cloud-init writes them: gz+b64 entries (inline keys compress the boot script) decoded.
const filesOf = (userData: string): WrittenFile[] =>
    parse(userData)["write_files"].map((f: WrittenFile & { encoding?: string }) =>
        f.encoding === "gz+b64" ? { ...f, content: gunzipSync(Buffer.from(f.content, "base64")).toString("utf8") } : f,
    );

// The default (newest pinned 3.6), and the 3.5 and 3.4 that the local clusters boot: the newest of each line in the mirror.
const [v36, v35, v34] = [defaultVersion(), newestMirrored("3.5"), newestMirrored("3.4")];
const variants: [string, string][] = [
    [`${v36} with SSM keys and defragmentation`, renderMemberUserData(memberParams(v36, { defragInUserData: true }))],
    [
        `${v36} with SSM keys, backups and restore`,
        renderMemberUserData(
            memberParams(v36, {
                memberTools: {
                    url: "s3://etcd-backups-1a2b3c4d-0/etcd-backups/etcd-1a2b3c4d/tools/member-tools.sh",
                    sha256: "a".repeat(64),
                    restore: true,
                },
            }),
        ),
    ],
    [`${v35} with SSM keys and auth`, renderMemberUserData(memberParams(v35, { enableAuth: { memberNames: ["etcd-0", "etcd-1", "etcd-2"] } }))],
    [
        `${v34} with inline keys`,
        renderMemberUserData(
            memberParams(v34, {
                ssmParameterPrefix: undefined,
                tls: {
                    caCertPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
                    serverCertPem: "-----BEGIN CERTIFICATE-----\nS\n-----END CERTIFICATE-----\n",
                    peerCertPem: "-----BEGIN CERTIFICATE-----\nP\n-----END CERTIFICATE-----\n",
                    serverKeyPem: fakeKeyPem("SERVER"),
                    peerKeyPem: fakeKeyPem("PEER"),
                },
            }),
        ),
    ],
];

describe("cloud-init schema", () => {
    const schema = (text: string, name: string) => {
        const file = join(work, name);
        writeFileSync(file, text);
        return run("cloud-init", ["schema", "--config-file", file]);
    };

    test.each(variants)("user-data for %s is valid #cloud-config", (label, userData) => {
        expect(userData.startsWith("#cloud-config\n")).toBe(true);
        const r = schema(userData, `${label.replace(/\W+/g, "-")}.yaml`);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("Valid cloud-config");
    });

    test("the validator rejects a malformed config (it is not a rubber stamp)", () => {
        const broken = variants[0][1].replace("write_files:", "write_files: 42\nwrite_files_broken:");
        const r = schema(broken, "broken.yaml");
        expect(r.status).not.toBe(0);
    });
});

describe("shellcheck", () => {
    const shellcheck = (file: string) => run("shellcheck", ["--severity=style", "--shell=bash", file]);

    test.each(variants)("every script written by the user-data for %s passes", (label, userData) => {
        const scripts = filesOf(userData).filter((f) => f.content.startsWith("#!/bin/bash"));
        expect(scripts.map((f) => f.path)).toContain(memberPaths.bootScript);
        for (const script of scripts) {
            const file = join(work, `${label.replace(/\W+/g, "-")}-${script.path.replace(/\W+/g, "-")}.sh`);
            writeFileSync(file, script.content);
            const r = shellcheck(file);
            expect({ script: script.path, output: r.stdout }).toEqual({ script: script.path, output: "" });
            expect(r.status).toBe(0);
        }
    });

    test.each([
        "scripts/etcd-health-gate.sh",
        "scripts/install-test-deps.sh",
        "test/helpers/overlay-root.sh",
        "scripts/run-tests.sh",
        "scripts/generate-release-table.sh",
        "scripts/local/build-member-image.sh",
        "scripts/local/member-container.sh",
        "test/helpers/ssm-run-command.sh",
        ".ci/run",
    ])("%s passes", (path) => {
        const r = shellcheck(join(repo, path));
        expect(r.stdout).toBe("");
        expect(r.status).toBe(0);
    });

    test("shellcheck flags a real mistake (it is not a rubber stamp)", () => {
        const file = join(work, "unquoted.sh");
        writeFileSync(file, "#!/bin/bash\nrm -rf $1/data\n");
        expect(shellcheck(file).status).not.toBe(0);
    });
});

describe("systemd-analyze verify", () => {
    // The unit runs /usr/local/bin/etcd: verify it in a mount namespace where that path holds a real etcd.
    const verify = (unitText: string, name: string) => {
        const dir = join(work, `unit-${name}`);
        mkdirSync(join(dir, "bin"), { recursive: true });
        symlinkSync(run("sh", ["-c", "command -v etcd"]).stdout.trim(), join(dir, "bin", "etcd"));
        writeFileSync(join(dir, "etcd.service"), unitText);
        return run("unshare", ["--mount", "sh", "-c", `mount --bind "$1/bin" ${memberPaths.binDir} && systemd-analyze verify "$1/etcd.service"`, "sh", dir]);
    };

    beforeAll(() => requireRoot("binding a real etcd over /usr/local/bin in a private mount namespace"));

    test.each(variants)("the unit written by the user-data for %s verifies with no warning", (label, userData) => {
        const unit = filesOf(userData).find((f) => f.path === memberPaths.unitFile)!;
        const r = verify(unit.content, label.replace(/\W+/g, "-"));
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    test.each(variants)("the data volume's mount unit written by the user-data for %s verifies with no warning", (label, userData) => {
        const unit = filesOf(userData).find((f) => f.path === memberPaths.dataMountUnit)!;
        const dir = join(work, `mount-${label.replace(/\W+/g, "-")}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "var-lib-etcd.mount"), unit.content);
        const r = run("systemd-analyze", ["verify", join(dir, "var-lib-etcd.mount")]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    test("the defragmentation service and its timer verify with no warning, and the script they run passes shellcheck", () => {
        const dir = join(work, "defrag");
        mkdirSync(join(dir, "sbin"), { recursive: true });
        for (const f of defragFiles()) {
            const target = f.path.startsWith("/usr/local/sbin/") ? join(dir, "sbin", basename(f.path)) : join(dir, basename(f.path));
            writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
        }
        expect(run("shellcheck", ["--severity=style", "--shell=bash", join(dir, "sbin", "etcd-defrag")])).toMatchObject({ status: 0, stdout: "" });
        // ExecStart must name an executable: the script is bound over /usr/local/sbin in a private mount namespace.
        const r = run("unshare", [
            "--mount",
            "sh",
            "-c",
            `mount --bind "$1/sbin" /usr/local/sbin && systemd-analyze verify "$1/${defragPaths.serviceName}" "$1/${defragPaths.timerName}"`,
            "sh",
            dir,
        ]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        // Checked by the real verifier: a timer with a calendar spec it cannot parse is reported.
        writeFileSync(join(dir, "broken.timer"), renderDefragTimer().replace("OnCalendar=hourly", "OnCalendar=hourlyy"));
        writeFileSync(join(dir, "broken.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\n");
        expect(run("systemd-analyze", ["verify", join(dir, "broken.timer")]).stderr).toContain("hourlyy");
    });

    test("a misspelt setting is reported (it is not a rubber stamp)", () => {
        const r = verify(renderSystemdUnit({ memberName: "etcd-0" }).replace("Type=notify", "Type=notifyy"), "misspelt");
        expect(r.stderr).toContain("notifyy");
    });
});
