import { parse } from "yaml";
import {
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
        expect(onCalendar(1440)).toBe("*-*-* 00/24:00:00");
        expect(() => onCalendar(7)).toThrow("expected one of 5, 10, 15");
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

    test("starts the timer it installs (after a daemon-reload, without waiting), and only units of safe names", () => {
        const installer = renderToolsInstaller(files, [backupPaths.timerName]);
        expect(installer.endsWith("systemctl daemon-reload\nsystemctl enable --now --no-block etcd-backup.timer\n")).toBe(true);
        expect(installer.indexOf(backupPaths.timer)).toBeLessThan(installer.indexOf("systemctl daemon-reload"));
        expect(() => renderToolsInstaller(files, ["x.timer; rm -rf /"])).toThrow("cannot be started safely");
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
