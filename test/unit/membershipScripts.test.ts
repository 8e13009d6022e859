// The membership scripts, run for real: a member's join settings and membership functions as bash reads
// them, and the removal of a member on scale-down against a real etcd cluster on loopback (the deploying
// machine's step, with certificates from its environment) or through SSM Run Command (whose `aws` is the
// one stand-in here: AWS cannot run on this machine).
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createServer, AddressInfo } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { renderDirectRemoveStep, renderMemberRemovalScript, renderSsmRemoveStep } from "../../components/render/memberRemoval";
import { allMemberNames, memberName, renderMembershipLibrary, renderMembershipSettings } from "../../components/render/membership";
import { LoopbackCluster, LoopbackMember } from "../helpers/backupRig";
import { opensslCa } from "../helpers/opensslCa";
import { requireTool, run, RunResult } from "../helpers/tools";

jest.setTimeout(120_000);

let dir: string;
beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "member-scripts-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("join settings", () => {
    it("a later member: its address, the lower members' addresses, the discovery parameter and the wait", () => {
        const text = renderMembershipSettings({
            member: { name: "prod-2", ip: "10.0.2.12" },
            seeds: [
                { name: "prod-0", ip: "10.0.0.10" },
                { name: "prod-1", ip: "10.0.1.11" },
            ],
            mayFound: false,
            discoveryParameter: "/etcd/prod-1a2b3c4d/members",
            joinWaitSeconds: 600,
        });
        expect(text).toBe(
            "# shellcheck disable=SC2034\n" +
                "readonly SELF_IP='10.0.2.12' SEEDS=('10.0.0.10' '10.0.1.11') MAY_FOUND=0 DISCOVERY='/etcd/prod-1a2b3c4d/members' JOIN_WAIT=600\n",
        );
    });

    it("member 0 may found the cluster; no discovery parameter and the library's default wait", () => {
        const text = renderMembershipSettings({ member: { name: "prod-0", ip: "fd00::a" }, seeds: [], mayFound: true });
        expect(text).toBe("# shellcheck disable=SC2034\nreadonly SELF_IP='fd00::a' SEEDS=() MAY_FOUND=1 DISCOVERY=''\n");
        // bash reads them as written.
        const r = run("bash", ["--norc", "-c", `${text}\necho "$SELF_IP|\${#SEEDS[@]}|$MAY_FOUND|$DISCOVERY|\${JOIN_WAIT-unset}"`]);
        expect(r.stdout).toBe("fd00::a|0|1||unset\n");
    });

    it.each([
        ["10.0.0.1;reboot", 'member URL "https://10.0.0.1;reboot:2380" is not an https://address:port URL'],
        ["$(id)", 'member URL "https://$(id):2380" is not an https://address:port URL'],
        ["", 'member URL "https://:2380" is not an https://address:port URL'],
        // Only the whole URL may be address and port: a port followed by more is refused too.
        ["10.0.0.1:2380 x", 'member URL "https://10.0.0.1:2380 x:2380" is not an https://address:port URL'],
    ])("refuses the address %j, whether the member's or a seed's", (ip, message) => {
        const good = { name: "prod-0", ip: "10.0.0.10" };
        expect(() => renderMembershipSettings({ member: { name: "prod-1", ip }, seeds: [good], mayFound: false })).toThrow(message);
        expect(() => renderMembershipSettings({ member: good, seeds: [{ name: "prod-1", ip }], mayFound: false })).toThrow(message);
    });

    it("member names: the cluster's name and the index; auth users exist for all nine possible members", () => {
        expect(memberName("prod", 4)).toBe("prod-4");
        expect(allMemberNames("prod")).toEqual(["prod-0", "prod-1", "prod-2", "prod-3", "prod-4", "prod-5", "prod-6", "prod-7", "prod-8"]);
    });
});

describe("membership functions", () => {
    const library = renderMembershipLibrary();

    it("fit an SSM Standard parameter (4096 characters) and keep only shellcheck's directive as a comment", () => {
        expect(library.length).toBeLessThanOrEqual(4096);
        expect(library.length).toBeGreaterThan(2000);
        expect(library.split("\n").filter((l) => /^\s*#/.test(l))).toEqual([
            "# shellcheck shell=bash disable=SC2154 # sourced by the boot script, which defines the settings",
        ]);
    });

    it("pass shellcheck", () => {
        requireTool("shellcheck", "shellcheck");
        const file = join(dir, "membership.sh");
        writeFileSync(file, library);
        const r = run("shellcheck", ["-s", "bash", file]);
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    it("define the functions the boot script calls, with the files and ports they use", () => {
        const settings = renderMembershipSettings({
            member: { name: "prod-1", ip: "10.0.1.11" },
            seeds: [{ name: "prod-0", ip: "10.0.0.10" }],
            mayFound: false,
        });
        const r = run("bash", [
            "--norc",
            "-c",
            `${settings}${library}\ndeclare -F | cut -d' ' -f3 | tr '\\n' ' '; echo "$BOOT_ENV $PROMOTE_ENV $SELF_PEER $SELF_CLIENT $WAIT"`,
        ]);
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe(
            "boot_env cluster_list ctl join_cluster keep_or_set_aside open_port promote promote_later urls " +
                "/etc/etcd/bootstrap.env /etc/etcd/promote.env https://10.0.1.11:2380 https://10.0.1.11:2379 1800\n",
        );
    });

    it("open_port tells a listening port from a closed one without waiting for etcdctl's timeouts", async () => {
        // The kernel completes the connection while this process waits for bash.
        const server = createServer();
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as AddressInfo).port;
        try {
            const r = run("bash", [
                "--norc",
                "-c",
                `SELF_IP=127.0.0.1\n${library}\nopen_port https://127.0.0.1:${port} && echo open; open_port https://127.0.0.1:1 || echo closed`,
            ]);
            expect(r.stdout).toBe("open\nclosed\n");
        } finally {
            server.close();
        }
    });
});

describe("removing a member on scale-down, against a real cluster", () => {
    requireTool("etcd", "etcd-server");
    requireTool("etcdctl", "etcd-client");
    const bin = run("sh", ["-c", 'dirname "$(command -v etcd)"']).stdout.trim();
    const ca = opensslCa("/CN=removal test CA");
    let cluster: LoopbackCluster;
    const byName = (name: string): LoopbackMember => cluster.members.find((m) => m.name === name)!;

    beforeAll(async () => {
        cluster = await LoopbackCluster.create(
            bin,
            ["m0", "m1", "m2", "m3"],
            ["m0", "m1", "m2", "m3"].map((n) => join(dir, n)),
            "removal-test",
        );
        await cluster.startAll();
    });
    afterAll(() => cluster?.stopAll());

    /** The leader, once there is one (an election may be under way on a busy machine). */
    const leaderNow = async (): Promise<LoopbackMember> => {
        for (let i = 0; ; i++) {
            try {
                return cluster.leader();
            } catch (e) {
                if (i === 50) throw e;
                await new Promise((r) => setTimeout(r, 200));
            }
        }
    };

    /** Member names in the cluster's list now. */
    const names = () =>
        cluster
            .etcdctl(["member", "list", "-w", "simple"])
            .stdout.split("\n")
            .filter(Boolean)
            .map((l) => l.split(", ")[2])
            .sort();

    /** The deploying machine's step: certificates in its environment, etcdctl on its PATH. */
    const direct = (member: string, env: Record<string, string> = {}): RunResult =>
        run("/bin/bash", ["--norc", "-c", renderDirectRemoveStep()], {
            env: {
                PATH: process.env.PATH,
                ETCD_GATE_ENDPOINTS: cluster.members
                    .filter((m) => m.process)
                    .map((m) => m.clientUrl)
                    .join(","),
                ETCD_GATE_CA_PEM: ca.certPem,
                ETCD_GATE_CERT_PEM: ca.certPem,
                ETCD_GATE_KEY_PEM: ca.privateKeyPem,
                ETCD_REMOVE_MEMBER: member,
                ETCD_REMOVE_PEER_URL: byName(member)?.peerUrl ?? "http://127.0.0.1:1",
                ...env,
            },
        });

    it("refuses while a higher member has not left, and says what to do", () => {
        const r = direct("m2", { ETCD_REMOVE_AFTER: "m3", ETCD_REMOVE_TIMEOUT_SECONDS: "0" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("etcd-member-remove[m2]: refusing to remove member m2: member m3 leaves first (highest index first) (after 0s).");
        expect(r.stderr).toMatch(
            /Bring the other members back to health, then run the update again; or remove it by hand: etcdctl member remove [0-9a-f]{16}\n/,
        );
        expect(names()).toEqual(["m0", "m1", "m2", "m3"]);
    });

    it("refuses while another voter is not healthy", async () => {
        await cluster.stop(byName("m1"));
        try {
            const r = direct("m3", { ETCD_REMOVE_TIMEOUT_SECONDS: "0", ETCD_GATE_ENDPOINTS: byName("m0").clientUrl });
            expect(r.status).toBe(1);
            expect(r.stderr).toContain(`refusing to remove member m3: the remaining voter at ${byName("m1").clientUrl} is not healthy (after 0s).`);
        } finally {
            cluster.start(byName("m1"));
            await cluster.waitHealthy();
        }
        expect(names()).toEqual(["m0", "m1", "m2", "m3"]);
    });

    it("removes the highest member (a comma-separated list of those that left first), and again finds nothing to do", () => {
        const r = direct("m3", { ETCD_REMOVE_AFTER: "m4,m5" });
        expect(r.stderr).toMatch(/etcd-member-remove\[m3\]: removed member m3 \([0-9a-f]{16}\); 3 voter\(s\) remain\n/);
        expect(r.stderr).toContain("etcd-member-remove[m3]: the remaining members are healthy\n");
        expect(r.status).toBe(0);
        expect(names()).toEqual(["m0", "m1", "m2"]);
        const again = direct("m3");
        expect(again.stderr).toBe("etcd-member-remove[m3]: not a member of the cluster: nothing to remove\n");
        expect(again.status).toBe(0);
    });

    it("moves leadership away before removing the leader", async () => {
        await cluster.stop(byName("m3"));
        const leader = await leaderNow();
        const r = direct(leader.name);
        expect(r.stderr).toContain(`etcd-member-remove[${leader.name}]: ${leader.name} leads the cluster: moving leadership to `);
        expect(r.stderr).toContain("2 voter(s) remain");
        expect(r.status).toBe(0);
        await cluster.stop(leader);
        expect((await leaderNow()).name).not.toBe(leader.name);
    });

    it("leaves the last member alone: the whole cluster is being deleted", async () => {
        const left = cluster.members.filter((m) => m.process);
        expect(direct(left[0].name).status).toBe(0);
        await cluster.stop(left[0]);
        const last = cluster.members.find((m) => m.process)!;
        const r = direct(last.name);
        expect(r.stderr).toBe(`etcd-member-remove[${last.name}]: the last member of the cluster: nothing to remove it from\n`);
        expect(r.status).toBe(0);
    });

    it("needs etcdctl on the deploying machine, and says so", () => {
        // Only what the step needs besides etcdctl.
        const path = join(dir, "no-etcdctl");
        mkdirSync(path);
        for (const tool of ["mktemp", "rm"]) symlinkSync(run("sh", ["-c", `command -v ${tool}`]).stdout.trim(), join(path, tool));
        const r = direct("m0", { PATH: path });
        expect(r.stderr).toBe("removing an etcd member needs etcdctl on this machine\n");
        expect(r.status).toBe(1);
    });
});

describe("removing a member through SSM Run Command", () => {
    /** An `aws` that records its arguments and answers as SSM would, with `status` as the invocation's end. */
    const ssm = (status: string): RunResult => {
        const fake = join(dir, `aws-${status}`);
        const log = join(dir, `aws-${status}.log`);
        writeFileSync(
            fake,
            `#!/bin/bash
printf '%s\\0' "$@" >>${log}; printf '\\n' >>${log}
case "$*" in
  *send-command*) echo cmd-0123 ;;
  *"--query Status"*) echo ${status} ;;
  *StandardErrorContent*) echo "member's stderr" ;;
esac
`,
        );
        chmodSync(fake, 0o755);
        rmSync(log, { force: true });
        const r = run("bash", ["--norc", "-c", `aws() { ${fake} "$@"; }\n${renderSsmRemoveStep()}`], {
            env: {
                PATH: process.env.PATH,
                AWS_REGION: "eu-west-1",
                ETCD_GATE_INSTANCE_IDS: "i-0aaa1111 i-0bbb2222",
                ETCD_REMOVE_MEMBER: "prod-4",
                ETCD_REMOVE_PEER_URL: "https://10.0.1.14:2380",
                ETCD_REMOVE_AFTER: "prod-5 prod-6",
            },
        });
        return { ...r, stdout: readFileSync(log, "utf8") };
    };
    const calls = (log: string) =>
        log
            .split("\n")
            .filter(Boolean)
            .map((l) => l.split("\0").slice(0, -1));

    it("runs the removal script on the leaving member, with its name, peer URL and the members that leave first", () => {
        const r = ssm("Success");
        expect(r.status).toBe(0);
        const [send, status, stderr] = calls(r.stdout);
        const params = send[send.indexOf("--parameters") + 1];
        expect(send.filter((a) => a !== params)).toEqual([
            "ssm",
            "send-command",
            "--region",
            "eu-west-1",
            "--document-name",
            "AWS-RunShellScript",
            "--instance-ids",
            "i-0aaa1111",
            "--comment",
            "etcd member removal: prod-4",
            "--parameters",
            "--query",
            "Command.CommandId",
            "--output",
            "text",
        ]);
        const { commands, executionTimeout } = JSON.parse(params);
        expect(executionTimeout).toEqual(["3600"]);
        const m =
            /^export ETCD_REMOVE_MEMBER=prod-4 ETCD_REMOVE_PEER_URL=https:\/\/10\.0\.1\.14:2380 ETCD_REMOVE_AFTER=prod-5,prod-6 ETCD_REMOVE_TIMEOUT_SECONDS=900; \. \/etc\/profile\.d\/etcdctl\.sh; echo ([A-Za-z0-9+/=]+) \| base64 -d \| bash$/.exec(
                commands[0],
            );
        expect(m).not.toBeNull();
        expect(Buffer.from(m![1], "base64").toString()).toBe(renderMemberRemovalScript());
        expect(status).toEqual([
            "ssm",
            "get-command-invocation",
            "--region",
            "eu-west-1",
            "--command-id",
            "cmd-0123",
            "--instance-id",
            "i-0aaa1111",
            "--query",
            "Status",
            "--output",
            "text",
        ]);
        expect(stderr).toContain("StandardErrorContent");
        expect(r.stderr).toBe("member's stderr\n");
    });

    it("fails with what to do when the removal did not succeed", () => {
        const r = ssm("Failed");
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(
            "member's stderr\nremoving etcd member prod-4 on i-0aaa1111: Failed. If the instance is gone, remove the member by hand from another member: etcdctl member remove <id>\n",
        );
    });
});
