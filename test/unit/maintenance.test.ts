// Defragmentation under mocks: where its script and units travel (user-data, or the backup tools object when
// backups are on) and that every member's boot enables the timer. What the script says is in
// maintenanceRender.test.ts, its behaviour on real etcd in test/integration/maintenance.test.ts; the local
// volume sizing is checked here.
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import type { EtcdClusterArgs } from "../../components";
import { buildClusters } from "../helpers/mockClusters";
import { defragFiles, defragPaths, renderDefragScript } from "../../components/render/maintenance";
import { localVolumeMiB } from "../../scripts/lib/local/localCluster";
import { StackMocks } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(120_000);

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"] };
const T = { object: "aws:s3/bucketObjectv2:BucketObjectv2", instance: "aws:ec2/instance:Instance" };

let mocks: StackMocks;
let warnings: string[];

beforeAll(async () => {
    ({ mocks, warnings } = await buildClusters({
        withbackup: base,
        nobackup: { ...base, backup: { enabled: false } },
        inline: { ...base, backup: { enabled: false }, keyDelivery: "inline" },
    }));
});

const writeFiles = (cluster: string, i: number): { path: string; content: string; permissions?: string; encoding?: string }[] =>
    parse(mocks.get(T.instance, `${cluster}-member-${i}`).inputs.userData as string).write_files;
const bootScript = (cluster: string, i: number) => writeFiles(cluster, i).find((f) => f.path === "/usr/local/sbin/etcd-bootstrap")!.content;

test("backups off: every member's user-data carries the script and its units as rendered, and the boot enables the timer", () => {
    for (const i of [0, 1, 2]) {
        const files = writeFiles("nobackup", i);
        for (const f of defragFiles()) {
            expect(files.find((w) => w.path === f.path)).toEqual({
                path: f.path,
                content: f.content,
                ...(f.mode === "0644" ? {} : { permissions: f.mode }),
            });
        }
        expect(bootScript("nobackup", i)).toContain(
            `systemctl enable etcd-growfs.timer ${defragPaths.timerName}\n  systemctl start --no-block etcd-growfs.timer ${defragPaths.timerName}\n`,
        );
    }
});

test("backups on: the script and units come with the pinned tools object, whose installer starts the timer; user-data has none of them", () => {
    const tools = mocks.get(T.object, "withbackup-member-tools").inputs.content as string;
    for (const f of defragFiles()) {
        expect(tools).toContain(`install -D -m ${f.mode} /dev/stdin ${f.path} <<'ETCD_MEMBER_TOOLS_EOF'\n${f.content}ETCD_MEMBER_TOOLS_EOF\n`);
    }
    expect(tools).toContain(`systemctl daemon-reload\n`);
    expect(tools).toContain(`systemctl enable --now --no-block ${defragPaths.timerName}\n`);
    for (const i of [0, 1, 2]) {
        expect(writeFiles("withbackup", i).map((f) => f.path)).not.toContain(defragPaths.script);
        const boot = bootScript("withbackup", i);
        expect(boot.indexOf("install_tools\n")).toBeGreaterThan(-1);
        expect(boot).not.toContain(defragPaths.timerName);
    }
});

test("inline keys and backups off: the defragmentation script goes compressed with the boot script (that user-data is secret), so it fits with its timer", () => {
    for (const i of [0, 1, 2]) {
        const script = writeFiles("inline", i).find((f) => f.path === defragPaths.script)!;
        expect(script).toMatchObject({ permissions: "0755", encoding: "gz+b64" });
        expect(gunzipSync(Buffer.from(script.content, "base64")).toString()).toBe(`${renderDefragScript()}${renderDefragScript().endsWith("\n") ? "" : "\n"}`);
        expect(writeFiles("inline", i).map((f) => f.path)).toContain(`/etc/systemd/system/${defragPaths.timerName}`);
    }
    expect(warnings).toEqual([expect.stringMatching(/^keyDelivery "inline": /)]);
});

test("local members' volumes: sized for the quota the rendered user-data runs, by the component's rule", () => {
    expect(localVolumeMiB("ETCD_QUOTA_BACKEND_BYTES=2147483648\n")).toBe(7374);
    expect(localVolumeMiB("ETCD_QUOTA_BACKEND_BYTES=201326592\n")).toBe(1322);
    expect(() => localVolumeMiB("ETCD_NAME=etcd-0\n")).toThrow("names no ETCD_QUOTA_BACKEND_BYTES");
});
