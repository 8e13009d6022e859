// systemd's own exposure review of the rendered etcd unit, as a regression guard: hardening may improve, never
// silently degrade. The unit is reviewed offline with a real etcd bound at its ExecStart path in a private mount
// namespace (systemd looks at the executable the unit names). Two guards: the overall exposure score, and the list
// of items systemd still flags; the second catches removals too small to move the rounded score.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { memberPaths } from "../../components/render/paths";
import { renderSystemdUnit } from "../../components/render/systemdUnit";
import { requireRoot, requireTool, run } from "../helpers/tools";

/** The exposure figure recorded in the README's Security section (systemd 252). */
const recordedExposure = 1.5;

/** What systemd still flags on the rendered unit (README, Security), and why it stays. */
const recordedExposed = [
    "SystemCallFilter=~@resources", // part of @system-service
    "SystemCallFilter=~@privileged", // part of @system-service
    "RootDirectory=/RootImage=", // the host's root directory
    "RestrictAddressFamilies=~AF_NETLINK", // allowed by the unit
    "RestrictAddressFamilies=~AF_UNIX", // allowed by the unit: Type=notify reports readiness over a local socket
    "RestrictAddressFamilies=~AF_(INET|INET6)", // a network service
    "ProcSubset=",
    "PrivateNetwork=", // a network service
    "PrivateUsers=",
    "DeviceAllow=", // PrivateDevices leaves the pseudo devices (systemd names char-rtc read)
    "IPAddressDeny=", // who may connect is the security group's job
];

interface Review {
    exposure: number;
    level: string;
    /** Names of the items systemd rates as exposed. */
    exposed: string[];
}

let work: string;
beforeAll(() => {
    requireRoot("binding a real etcd over /usr/local/bin in a private mount namespace");
    requireTool("systemd-analyze", "systemd");
    requireTool("unshare", "util-linux");
    requireTool("etcd", "etcd-server");
    work = mkdtempSync(join(tmpdir(), "etcd-unit-security-"));
    mkdirSync(join(work, "bin"));
    symlinkSync(run("sh", ["-c", "command -v etcd"]).stdout.trim(), join(work, "bin", "etcd"));
});
afterAll(() => work && rmSync(work, { recursive: true, force: true }));

/** `systemd-analyze security --offline=true` on a unit's text, as text (the overall figure) and as JSON (the items). */
function review(unitText: string): Review {
    writeFileSync(join(work, "etcd.service"), unitText);
    const analyze = (...flags: string[]) => {
        const r = run("unshare", [
            "--mount",
            "sh",
            "-c",
            `mount --bind "$1/bin" ${memberPaths.binDir} && shift && systemd-analyze security --offline=true "$@"`,
            "sh",
            work,
            ...flags,
            join(work, "etcd.service"),
        ]);
        if (r.status !== 0) {
            throw new Error(`systemd-analyze security failed (exit ${r.status}): ${r.stderr}`);
        }
        return r.stdout;
    };
    const text = analyze();
    const m = /Overall exposure level for etcd\.service: (\d+\.\d+) (\S+)/.exec(text);
    if (!m) {
        throw new Error(`systemd-analyze security printed no exposure level: ${text}`);
    }
    const items: { name: string; set: boolean; exposure: string | null }[] = JSON.parse(analyze("--json=short"));
    const exposed = items.filter((i) => !i.set && i.exposure !== null && Number(i.exposure) > 0).map((i) => i.name);
    return { exposure: Number(m[1]), level: m[2], exposed };
}

/** What got worse than recorded; empty when the unit is at least as hardened. */
function regressions(r: Review): string[] {
    return [
        ...(r.exposure > recordedExposure ? [`exposure ${r.exposure} above the recorded ${recordedExposure}`] : []),
        ...r.exposed.filter((name) => !recordedExposed.includes(name)).map((name) => `newly exposed: ${name}`),
    ];
}

const unit = renderSystemdUnit({ memberName: "etcd-0" });
const without = (directive: string) => {
    expect(unit).toMatch(new RegExp(`^${directive}=`, "m"));
    return unit
        .split("\n")
        .filter((l) => !l.startsWith(`${directive}=`))
        .join("\n");
};

test(`the rendered unit: exposure at or below ${recordedExposure} ("OK"), and nothing exposed beyond the recorded items`, () => {
    const r = review(unit);
    expect(r.level).toBe("OK");
    expect(r.exposure).toBeLessThanOrEqual(recordedExposure);
    expect(regressions(r)).toEqual([]);
});

test.each([
    "NoNewPrivileges",
    "ProtectSystem",
    "CapabilityBoundingSet",
    "SystemCallFilter",
    "RestrictNamespaces",
    "RestrictAddressFamilies",
    "PrivateDevices",
    "PrivateTmp",
    "ProtectHome",
    "ProtectKernelTunables",
    "User",
])("without %s the score rises above the recorded figure: the guard fails", (directive) => {
    const r = review(without(directive));
    expect(r.exposure).toBeGreaterThan(recordedExposure);
    expect(regressions(r)).toContain(`exposure ${r.exposure} above the recorded ${recordedExposure}`);
});

test.each([
    ["MemoryDenyWriteExecute", "MemoryDenyWriteExecute="],
    ["UMask", "UMask="],
])("without %s the rounded score stays, but the item guard fails", (directive, item) => {
    const r = review(without(directive));
    expect(r.exposure).toBeLessThanOrEqual(recordedExposure);
    expect(regressions(r)).toEqual([`newly exposed: ${item}`]);
});
