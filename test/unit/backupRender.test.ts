import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parse } from "yaml";
import {
    backupIntervalsMinutes,
    backupPaths,
    memberToolFiles,
    onCalendar,
    renderBackupScript,
    renderBackupUnits,
    renderRestoreScript,
    renderToolsInstaller,
} from "../../components/render/backup";
import { renderBootScript } from "../../components/render/bootScript";
import { renderMemberUserData } from "../../components/render/memberUserData";
import { memberPaths } from "../../components/render/paths";
import { memberParams } from "../helpers/memberParams";

const target = {
    clusterId: "etcd-1a2b3c4d",
    version: "3.6.14",
    snapshotTool: "etcdutl" as const,
    bucket: "etcd-backups-123456789012",
    prefix: "etcd-backups/etcd-1a2b3c4d/snapshots/",
    kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab",
    region: "eu-west-1",
};

describe("backup script", () => {
    const script = renderBackupScript(target);
    const at = (text: string) => {
        const i = script.indexOf(text);
        expect(i).toBeGreaterThan(0);
        return i;
    };

    test("exits unless the member leads, before any snapshot is taken", () => {
        expect(at('if [[ "$(field MemberID)" != "$(field Leader)" ]]; then')).toBeLessThan(at('snapshot save "$work/snapshot.db"'));
        expect(at("exit 0")).toBeLessThan(at("snapshot save"));
    });

    test("verifies (appended hash, then the snapshot tool) before compressing and uploading", () => {
        expect(at('check_snapshot "$work/snapshot.db" || exit 1')).toBeLessThan(at("gzip -c"));
        expect(at("gzip -c")).toBeLessThan(at("aws s3 cp"));
        expect(script).toContain("STATUS=$(etcdutl snapshot status");
        expect(renderBackupScript({ ...target, version: "3.4.23", snapshotTool: "etcdctl" })).toContain("STATUS=$(etcdctl snapshot status");
    });

    test("uploads with SSE-KMS under the cluster key and every metadata field, names sorted by time with the revision", () => {
        expect(script).toContain('--sse aws:kms --sse-kms-key-id "$KMS_KEY"');
        expect(script).toContain("readonly KMS_KEY='arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab'");
        const metadata = script.split("\n").find((l) => l.includes("--metadata"))!;
        for (const field of ["etcd-version", "revision", "etcd-cluster-id", "cluster", "member", "taken-at", "size", "sha256"]) {
            expect(metadata).toMatch(new RegExp(`[",]${field}=`));
        }
        expect(script).toContain("stamp=$(date -u +%Y%m%dT%H%M%SZ)");
        expect(script).toContain('key="$PREFIX$class/$stamp-rev$revision.db.gz"');
    });

    test("publishes the newest backup's age on every leader run, failed ones included", () => {
        expect(script).toContain(`trap 'rm -rf "$work"; publish_age' EXIT`);
        expect(script).toContain("--namespace EtcdCluster/Backup --metric-name NewestBackupAgeSeconds");
    });

    test("values that could escape their quotes are refused", () => {
        expect(() => renderBackupScript({ ...target, bucket: "a'b" })).toThrow("is not safe in a backup script");
        expect(() => renderBackupScript({ ...target, prefix: "x/$(reboot)/" })).toThrow("is not safe in a backup script");
        expect(() => renderRestoreScript({ bucket: "b-1", key: "k`id`", region: "eu-west-1", snapshotTool: "etcdutl", bumpRevision: true })).toThrow(
            "is not safe in a backup script",
        );
    });

    // Each value starts and ends with characters its pattern allows and holds a command in between: a pattern
    // that checks only one end of the value would let it through.
    test.each<[string, Partial<typeof target>, string]>([
        ["cluster id", { clusterId: "etcd-1;reboot;x" }, 'cluster id "etcd-1;reboot;x"'],
        ["version", { version: "3.6.14;reboot;3.6.14" }, 'version "3.6.14;reboot;3.6.14"'],
        ["region", { region: "eu-west-1'$(reboot)'x" }, `region "eu-west-1'$(reboot)'x"`],
        ["bucket", { bucket: "abc'$(reboot)'def" }, `bucket "abc'$(reboot)'def"`],
        ["prefix", { prefix: "a/$(reboot)/b/" }, 'prefix "a/$(reboot)/b/"'],
        ["prefix without its final slash", { prefix: "etcd-backups/x" }, 'prefix "etcd-backups/x"'],
        ["KMS key", { kmsKeyArn: `${target.kmsKeyArn}';reboot;'x` }, `KMS key "${target.kmsKeyArn}';reboot;'x"`],
        ["KMS key", { kmsKeyArn: `x';reboot;'${target.kmsKeyArn}` }, `KMS key "x';reboot;'${target.kmsKeyArn}"`],
    ])("backup script: a %s with a command inside is refused, named with its value", (_, change, named) => {
        expect(() => renderBackupScript({ ...target, ...change })).toThrow(`${named} is not safe in a backup script`);
    });

    test.each<[string, Partial<Parameters<typeof renderRestoreScript>[0]>, string]>([
        ["bucket", { bucket: "abc'$(reboot)'def" }, `bucket "abc'$(reboot)'def"`],
        ["key", { key: "$(reboot)/daily/x.db.gz" }, 'key "$(reboot)/daily/x.db.gz"'],
        ["region", { region: "eu-west-1'$(reboot)'x" }, `region "eu-west-1'$(reboot)'x"`],
    ])("restore script: a %s with a command inside is refused, named with its value", (_, change, named) => {
        const restore = { bucket: "b-1", key: "p/x.db.gz", region: "eu-west-1", snapshotTool: "etcdutl" as const, bumpRevision: true };
        expect(() => renderRestoreScript({ ...restore, ...change })).toThrow(`${named} is not safe in a backup script`);
    });

    test("every value AWS and etcd accept renders: bucket names of 3 to 63 characters, the aws-cn and aws-us-gov partitions, multi-digit versions", () => {
        // S3 bucket names: 3 to 63 characters, lowercase letters, digits, dots and hyphens, a letter or digit at each end.
        for (const bucket of ["b-1", "etcd-backups", "a".repeat(63), "my.bucket.example"]) {
            expect(renderBackupScript({ ...target, bucket })).toContain(`readonly BUCKET='${bucket}'`);
            expect(renderRestoreScript({ bucket, key: "p/x.db.gz", region: "eu-west-1", snapshotTool: "etcdutl", bumpRevision: true })).toContain(
                `readonly BUCKET='${bucket}'`,
            );
        }
        expect(() => renderBackupScript({ ...target, bucket: "a".repeat(64) })).toThrow('bucket "aaaa');
        // KMS key ARNs in the three partitions (arn:aws, arn:aws-cn, arn:aws-us-gov).
        for (const arn of [
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ]) {
            expect(renderBackupScript({ ...target, kmsKeyArn: arn })).toContain(`readonly KMS_KEY='${arn}'`);
        }
        // MAJOR.MINOR.PATCH with any number of digits in each (semantic versioning; etcd has 3.4.27 and 3.5.10).
        for (const version of ["3.5.10", "3.10.0", "10.0.0"]) {
            expect(renderBackupScript({ ...target, version })).toContain(`readonly VERSION='${version}'`);
        }
    });
});

describe("units", () => {
    test("oneshot as etcd at idle I/O priority; the timer fires on the same wall-clock times on every member", () => {
        const { service, timer } = renderBackupUnits(15);
        expect(service).toContain("Type=oneshot\nUser=etcd");
        expect(service).toContain("IOSchedulingClass=idle");
        expect(service).toContain(`ConditionPathExists=${memberPaths.dataDir}/member`);
        expect(service).toContain("Requisite=etcd.service\nAfter=etcd.service");
        expect(timer).toContain("OnCalendar=*-*-* *:00/15:00");
        expect(onCalendar(120)).toBe("*-*-* 00/2:00:00");
        expect(onCalendar(1440)).toBe("*-*-* 00:00:00");
        expect(() => onCalendar(7)).toThrow("expected one of 5, 10, 15");
    });

    test("systemd reads every interval's calendar as that interval, at the same times each day (systemd-analyze calendar)", () => {
        for (const minutes of backupIntervalsMinutes) {
            const out = execFileSync("systemd-analyze", ["calendar", "--iterations=3", onCalendar(minutes)], {
                encoding: "utf8",
                env: { ...process.env, TZ: "UTC" },
            });
            const elapses = [...out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map((m) =>
                Date.parse(`${m[1].replace(" ", "T")}Z`),
            );
            expect(elapses).toHaveLength(3);
            expect([elapses[1] - elapses[0], elapses[2] - elapses[1]]).toEqual([minutes * 60_000, minutes * 60_000]);
            // Aligned to midnight UTC: every member's timer fires at the same wall-clock times.
            expect((elapses[0] % 86_400_000) % (minutes * 60_000)).toBe(0);
        }
    });
});

describe("restore script", () => {
    const restore = (version: "3.4.23" | "3.5.30", bump: boolean) =>
        renderRestoreScript({
            bucket: "b-1",
            key: "p/daily/20260101T000000Z-rev5.db.gz",
            region: "eu-west-1",
            snapshotTool: version === "3.4.23" ? "etcdctl" : "etcdutl",
            bumpRevision: bump,
        });

    test("never restores over a member; checks the metadata SHA-256 and the snapshot before restoring", () => {
        const s = restore("3.5.30", true);
        const at = (t: string) => s.indexOf(t);
        expect(at('if [[ -e "$DATA_DIR/member" ]]; then')).toBeLessThan(at("aws s3api get-object"));
        expect(at('[[ "$got" == "$want" ]] || fail')).toBeLessThan(at("snapshot restore"));
        expect(at('check_snapshot "$work/snapshot.db" || fail')).toBeLessThan(at("snapshot restore"));
        expect(s).toContain("etcdutl snapshot restore");
        expect(s).toContain("--bump-revision 1000000000 --mark-compacted");
        expect(s).toContain('--initial-cluster-token "$ETCD_INITIAL_CLUSTER_TOKEN"');
    });

    test("3.4 uses etcdctl and no revision bump where the version lacks it", () => {
        const s = restore("3.4.23", false);
        expect(s).toContain("etcdctl snapshot restore");
        expect(s).not.toContain("--bump-revision");
        expect(s).toContain('--initial-advertise-peer-urls "$ETCD_INITIAL_ADVERTISE_PEER_URLS" || fail "restore failed"\n');
        expect(s).toContain('log "restored revision $(json_number revision "$STATUS") from s3://$BUCKET/$KEY as $ETCD_NAME"\n');
    });

    test("the log names the revision bump of 1000000000 when there is one", () => {
        expect(restore("3.5.30", true)).toContain(
            'log "restored revision $(json_number revision "$STATUS") (+1000000000) from s3://$BUCKET/$KEY as $ETCD_NAME"\n',
        );
    });
});

describe("tools installer and user-data", () => {
    const files = memberToolFiles({
        backup: { ...target, intervalMinutes: 15 },
        restore: { bucket: "b-1", key: "p/x.db.gz", region: "eu-west-1", snapshotTool: "etcdutl", bumpRevision: true },
    });

    test("writes every file with its mode, in a fixed order", () => {
        const installer = renderToolsInstaller(files);
        expect(files.map((f) => f.path).sort()).toEqual([backupPaths.restoreScript, backupPaths.backupScript, backupPaths.service, backupPaths.timer].sort());
        expect(installer).toContain(`install -D -m 0755 /dev/stdin ${backupPaths.backupScript} <<'ETCD_MEMBER_TOOLS_EOF'`);
        expect(installer).toContain(`install -D -m 0700 /dev/stdin ${backupPaths.restoreScript} <<'ETCD_MEMBER_TOOLS_EOF'`);
        expect(renderToolsInstaller([...files].reverse())).toBe(installer);
        expect(() => renderToolsInstaller([{ path: "/x", mode: "0644", content: "a\nETCD_MEMBER_TOOLS_EOF\nb" }])).toThrow("cannot be written safely");
        expect(installer).not.toContain("systemctl");
    });

    test("backup files without a restore step, and the restore step alone", () => {
        expect(memberToolFiles({ backup: { ...target, intervalMinutes: 15 } }).map((f) => [f.path, f.mode])).toEqual([
            ["/usr/local/sbin/etcd-backup", "0755"],
            ["/etc/systemd/system/etcd-backup.service", "0644"],
            ["/etc/systemd/system/etcd-backup.timer", "0644"],
        ]);
        const restoreOnly = memberToolFiles({ restore: { bucket: "b-1", key: "p/x.db.gz", region: "eu-west-1", snapshotTool: "etcdutl", bumpRevision: true } });
        expect(restoreOnly.map((f) => [f.path, f.mode])).toEqual([["/usr/local/sbin/etcd-restore", "0700"]]);
        expect(memberToolFiles({})).toEqual([]);
    });

    test("run by bash, the installer writes each file byte for byte with its mode, whether or not the content ends in a newline", () => {
        const dir = mkdtempSync(join(tmpdir(), "member-tools-"));
        try {
            const installer = renderToolsInstaller([
                { path: `${dir}/sbin/a-script`, content: "#!/bin/bash\necho one\n", mode: "0755" },
                { path: `${dir}/etc/b.conf`, content: "no final newline", mode: "0600" },
                { path: `${dir}/etc/c.conf`, content: "\nstarts with a newline\n", mode: "0644" },
            ]);
            writeFileSync(join(dir, "install.sh"), installer);
            execFileSync("bash", [join(dir, "install.sh")], { stdio: "pipe" });
            expect(readFileSync(`${dir}/sbin/a-script`, "utf8")).toBe("#!/bin/bash\necho one\n");
            // A heredoc always ends its last line: the file gains the newline it lacked, and nothing else.
            expect(readFileSync(`${dir}/etc/b.conf`, "utf8")).toBe("no final newline\n");
            expect(readFileSync(`${dir}/etc/c.conf`, "utf8")).toBe("\nstarts with a newline\n");
            expect(statSync(`${dir}/sbin/a-script`).mode & 0o777).toBe(0o755);
            expect(statSync(`${dir}/etc/b.conf`).mode & 0o777).toBe(0o600);
            expect(statSync(`${dir}/etc/c.conf`).mode & 0o777).toBe(0o644);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    test.each([
        ["a relative path", { path: "usr/local/sbin/x", mode: "0755" }],
        ["a path with a command after it", { path: "/usr/local/sbin/x;reboot;x", mode: "0755" }],
        ["a path with a command before it", { path: "$(reboot)/usr/local/sbin/x", mode: "0755" }],
        ["a mode of three digits", { path: "/usr/local/sbin/x", mode: "755" }],
        ["a mode with a digit after it", { path: "/usr/local/sbin/x", mode: "07555" }],
        ["a mode with a digit before it", { path: "/usr/local/sbin/x", mode: "10755" }],
        ["a mode that is not octal", { path: "/usr/local/sbin/x", mode: "0758" }],
    ])("the installer refuses %s", (_, file) => {
        expect(() => renderToolsInstaller([{ ...file, content: "x\n" }])).toThrow(
            `tool file ${JSON.stringify(file.path)} cannot be written safely by the installer`,
        );
    });

    test("the installer's exact text: files in path order, then a daemon-reload and each unit started", () => {
        const installer = renderToolsInstaller(
            [
                { path: "/usr/local/sbin/b", content: "b\n", mode: "0755" },
                { path: "/etc/a", content: "a", mode: "0644" },
            ],
            ["etcd-backup.timer", "etcd-defrag.timer"],
        );
        expect(installer).toBe(
            "#!/bin/bash\n# Installs an etcd member's backup and restore tools; rendered by the EtcdCluster component.\nset -euo pipefail\n" +
                "install -D -m 0644 /dev/stdin /etc/a <<'ETCD_MEMBER_TOOLS_EOF'\na\nETCD_MEMBER_TOOLS_EOF\n" +
                "install -D -m 0755 /dev/stdin /usr/local/sbin/b <<'ETCD_MEMBER_TOOLS_EOF'\nb\nETCD_MEMBER_TOOLS_EOF\n" +
                "systemctl daemon-reload\nsystemctl enable --now --no-block etcd-backup.timer\nsystemctl enable --now --no-block etcd-defrag.timer\n",
        );
        expect(renderToolsInstaller([{ path: "/etc/a", content: "a", mode: "0644" }])).toBe(
            "#!/bin/bash\n# Installs an etcd member's backup and restore tools; rendered by the EtcdCluster component.\nset -euo pipefail\n" +
                "install -D -m 0644 /dev/stdin /etc/a <<'ETCD_MEMBER_TOOLS_EOF'\na\nETCD_MEMBER_TOOLS_EOF\n",
        );
    });

    test("starts the timer it installs (after a daemon-reload, without waiting), and only units of safe names", () => {
        const installer = renderToolsInstaller(files, [backupPaths.timerName]);
        expect(installer.endsWith("systemctl daemon-reload\nsystemctl enable --now --no-block etcd-backup.timer\n")).toBe(true);
        expect(installer.indexOf(backupPaths.timer)).toBeLessThan(installer.indexOf("systemctl daemon-reload"));
        expect(() => renderToolsInstaller(files, ["x.timer; rm -rf /"])).toThrow("cannot be started safely");
        expect(() => renderToolsInstaller(files, ["$(reboot)x.timer"])).toThrow('unit "$(reboot)x.timer" cannot be started safely by the installer');
    });

    test("the boot script installs the pinned tools after the keys, restores before etcd starts, and runs nothing unchecked", () => {
        const boot = renderBootScript({
            ...{
                memberName: "etcd-0",
                version: "3.6.14",
                releaseUrl: "https://example.invalid/e.tgz",
                releaseSha256: "f".repeat(64),
                dataVolumeId: "vol-1",
                region: "eu-west-1",
                ssmFiles: [],
            },
            tools: { url: "s3://b-1/p/tools/member-tools.sh", sha256: "a".repeat(64) },
            commandsBeforeEtcd: [backupPaths.restoreScript],
        });
        const main = boot.slice(boot.indexOf("main() {"));
        expect(main.indexOf("install_tools")).toBeLessThan(main.indexOf("prepare_data_volume"));
        expect(main.indexOf("prepare_data_volume")).toBeLessThan(main.indexOf(backupPaths.restoreScript));
        expect(main.indexOf(backupPaths.restoreScript)).toBeLessThan(main.indexOf("start_etcd"));
        expect(boot).toContain(`readonly TOOLS_URL='s3://b-1/p/tools/member-tools.sh' TOOLS_SHA256='${"a".repeat(64)}'`);
        expect(main.indexOf("secure_pki")).toBeLessThan(main.indexOf("install_tools"));
        expect(boot).toContain(`readonly AWS_REGION='eu-west-1'`);
        expect(boot).toContain('sha256sum -c --status <<<"$TOOLS_SHA256  /run/etcd-tools" || fail');
        expect(boot.indexOf("sha256sum -c --status")).toBeLessThan(boot.indexOf("bash /run/etcd-tools"));
        expect(() =>
            renderBootScript({
                ...{ memberName: "e", version: "3.6.14", releaseUrl: "u", releaseSha256: "f", dataVolumeId: "v", region: "r", ssmFiles: [] },
                tools: { url: "s3://b/$(x)", sha256: "a".repeat(64) },
            }),
        ).toThrow("expected an s3:// URL");
    });

    test("without tools the boot script is unchanged by this feature", () => {
        const doc = parse(renderMemberUserData(memberParams("3.6.14")));
        const boot = doc.write_files.find((f: { path: string }) => f.path === memberPaths.bootScript).content;
        expect(boot).not.toContain("install_tools");
        expect(boot).not.toContain("etcd-backup");
    });

    test("with tools, user-data grows by less than 1 KB, whatever the tools' size", () => {
        const plain = Buffer.byteLength(renderMemberUserData(memberParams("3.6.14")));
        const withTools = Buffer.byteLength(
            renderMemberUserData(
                memberParams("3.6.14", {
                    memberTools: { url: "s3://b-1/etcd-backups/etcd-1a2b3c4d/tools/member-tools.sh", sha256: "a".repeat(64), restore: true },
                }),
            ),
        );
        expect(withTools - plain).toBeLessThan(1024);
    });
});
