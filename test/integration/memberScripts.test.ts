// The boot script's device and tool handling and the readiness gate's AWS behaviour, run for real in bash
// against stand-ins for what cannot exist here: a Xen block device node in a private /dev, an image without
// tar or e2fsprogs, and an AWS CLI that answers like SSM and STS do.
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { healthGateScript } from "../../components/healthGate";
import { renderBootScript } from "../../components/render/bootScript";
import { requireRoot, run } from "../helpers/tools";

jest.setTimeout(120_000);

let work: string;
beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "etcd-member-scripts-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The boot script's functions without its final `main "$@"`, to call one of them alone. */
function bootFunctions(volumeWaitSeconds = 600): string {
    const script = renderBootScript({
        memberName: "etcd-0",
        version: "3.6.14",
        releaseUrl: "https://example.invalid/etcd.tar.gz",
        releaseSha256: "f".repeat(64),
        dataVolumeId: "vol-0abc123",
        ssmFiles: [],
        region: "eu-west-1",
        volumeWaitSeconds,
    });
    const file = join(work, `boot-functions-${volumeWaitSeconds}.sh`);
    writeFileSync(file, script.replace(/\nmain "\$@"\n$/, "\n"));
    return file;
}

describe("boot script: the data volume's device", () => {
    beforeAll(() => requireRoot("a private /dev needs a mount namespace"));

    // A private /dev (tmpfs) in a mount namespace of its own, holding /dev/null and the given block devices.
    const inPrivateDev = (setup: string, command: string) =>
        run("unshare", [
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            `set -e; mount -t tmpfs tmpfs /dev; mknod -m 666 /dev/null c 1 3; mkdir -p /dev/disk/by-id; ${setup}; ${command}`,
        ]);

    test("Xen instance types: the volume attached as /dev/sdf appears as /dev/xvdf and is found at once", () => {
        const r = inPrivateDev("mknod /dev/xvdf b 7 200", `source ${bootFunctions(4)}; data_device`);
        expect(r.stderr).toBe("");
        expect(r.stdout.trim()).toBe("/dev/xvdf");
    });

    test("Nitro: the NVMe path named after the volume id wins, as the stable link the mount unit names", () => {
        const r = inPrivateDev(
            "mknod /dev/nvme1n1 b 7 201; ln -s ../../nvme1n1 /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123",
            `source ${bootFunctions(4)}; data_device`,
        );
        // The link, not the device it points to: NVMe device numbers may change between boots.
        expect(r.stdout.trim()).toBe("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123");
    });

    test("no device at all: the boot stops after the wait and names both places it looked", () => {
        const r = inPrivateDev("true", `source ${bootFunctions(2)}; data_device`);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("did not appear at /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123 or /dev/xvdf within 2s");
    });
});

describe("boot script: tools it needs are installed when the image lacks them", () => {
    // A PATH holding bash's companions but not tar, mkfs.ext4, resize2fs or dumpe2fs.
    function thinPath(withDnf: boolean): string {
        const bin = mkdtempSync(join(work, "bin-"));
        for (const tool of ["sha256sum", "blkid", "blockdev", "findmnt", "mountpoint", "cut", "sleep"]) {
            const found = run("sh", ["-c", `command -v ${tool}`]).stdout.trim();
            symlinkSync(found, join(bin, tool));
        }
        if (withDnf) {
            writeFileSync(join(bin, "dnf"), `#!/bin/bash\necho "$*" >>${bin}/dnf.log\n`);
            chmodSync(join(bin, "dnf"), 0o755);
        }
        return bin;
    }

    test("missing tar and e2fsprogs are installed with dnf, each package once", () => {
        const bin = thinPath(true);
        const r = run("/bin/bash", ["-c", `source ${bootFunctions()}; PATH=${bin}; ensure_tools`]);
        expect(r.status).toBe(0);
        expect(readFileSync(join(bin, "dnf.log"), "utf8").trim()).toBe("install -y -q tar e2fsprogs");
    });

    test("without dnf the boot stops and names the packages", () => {
        const bin = thinPath(false);
        const r = run("/bin/bash", ["-c", `source ${bootFunctions()}; PATH=${bin}; ensure_tools`]);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("missing packages tar e2fsprogs and no dnf to install them");
    });
});

describe("readiness gate in ssm mode, with an AWS CLI that answers like SSM and STS", () => {
    // Records every call with the credentials it ran with; the commands never finish on the instances.
    function fakeAws(account: string): { bin: string; log: string } {
        const bin = mkdtempSync(join(work, "aws-"));
        const log = join(bin, "calls.log");
        writeFileSync(
            join(bin, "aws"),
            `#!/bin/bash
args=" $* "
echo "key=\${AWS_ACCESS_KEY_ID:-none} profile=\${AWS_PROFILE:-none} $*" >>${log}
case "$args" in
  *" sts get-caller-identity "*) echo ${account} ;;
  *" sts assume-role "*) printf 'ASIAROLE\\tsecret\\ttoken\\n' ;;
  *" ssm send-command "*) echo cmd-1 ;;
  *" --query Status "*) echo InProgress ;;
  *) echo "" ;;
esac
`,
        );
        chmodSync(join(bin, "aws"), 0o755);
        return { bin, log };
    }
    const gate = () => {
        const file = join(work, "gate.sh");
        writeFileSync(file, healthGateScript());
        return file;
    };
    const nine = Array.from({ length: 9 }, (_, i) => `i-0${i}`).join(" ");
    const env = (bin: string, extra: Record<string, string>) => ({
        PATH: `${bin}:/usr/bin:/bin`,
        ETCD_GATE_MODE: "ssm",
        ETCD_GATE_INSTANCE_IDS: nine,
        AWS_REGION: "eu-west-1",
        ETCD_GATE_INTERVAL_SECONDS: "1",
        ...extra,
    });

    test("nine instances that never answer: the gate gives up at its timeout, not minutes later", () => {
        const { bin } = fakeAws("123456789012");
        const started = Date.now();
        const r = run("/bin/bash", [gate()], { env: env(bin, { ETCD_GATE_TIMEOUT_SECONDS: "8", ETCD_GATE_ACCOUNT_ID: "123456789012" }) });
        const seconds = (Date.now() - started) / 1000;
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("not healthy after 8s");
        expect(seconds).toBeLessThan(20);
    });

    test("credentials of another account: stops at once with both accounts named, sends no command", () => {
        const { bin, log } = fakeAws("999999999999");
        const r = run("/bin/bash", [gate()], { env: env(bin, { ETCD_GATE_TIMEOUT_SECONDS: "60", ETCD_GATE_ACCOUNT_ID: "123456789012" }) });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("acts in account 999999999999, but the stack deploys to 123456789012");
        expect(readFileSync(log, "utf8")).not.toContain("send-command");
    });

    test("the provider's role is assumed first and every later call runs with its credentials", () => {
        const { bin, log } = fakeAws("123456789012");
        run("/bin/bash", [gate()], {
            env: env(bin, {
                ETCD_GATE_TIMEOUT_SECONDS: "3",
                ETCD_GATE_ACCOUNT_ID: "123456789012",
                ETCD_GATE_ROLE_ARN: "arn:aws:iam::123456789012:role/deploy",
                AWS_PROFILE: "ops",
            }),
        });
        const calls = readFileSync(log, "utf8").trim().split("\n");
        expect(calls[0]).toMatch(/^key=none profile=ops .*sts assume-role --region eu-west-1 --role-arn arn:aws:iam::123456789012:role\/deploy/);
        expect(calls.slice(1).length).toBeGreaterThan(1);
        expect(calls.slice(1).every((c) => c.startsWith("key=ASIAROLE profile=none "))).toBe(true);
    });

    test("the profile of the stack reaches the CLI", () => {
        const { bin, log } = fakeAws("123456789012");
        run("/bin/bash", [gate()], { env: env(bin, { ETCD_GATE_TIMEOUT_SECONDS: "2", AWS_PROFILE: "prod-admin" }) });
        expect(
            readFileSync(log, "utf8")
                .trim()
                .split("\n")
                .every((c) => c.includes("profile=prod-admin")),
        ).toBe(true);
    });
});
