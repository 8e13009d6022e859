// systemd's own exposure score for the rendered etcd unit, as a regression guard: hardening may improve,
// never silently degrade.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { memberPaths } from "../../components/render/paths";
import { renderSystemdUnit } from "../../components/render/systemdUnit";
import { requireRoot, requireTool, run } from "../helpers/tools";

/** The exposure figure recorded in the README's Security section. */
const recordedExposure = 1.7;

let work: string;
beforeAll(() => {
    requireRoot("binding a real etcd over /usr/local/bin in a private mount namespace");
    requireTool("systemd-analyze", "systemd");
    requireTool("etcd", "etcd-server");
    work = mkdtempSync(join(tmpdir(), "etcd-unit-security-"));
    mkdirSync(join(work, "bin"));
    symlinkSync(run("sh", ["-c", "command -v etcd"]).stdout.trim(), join(work, "bin", "etcd"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function exposure(unitText: string): number {
    writeFileSync(join(work, "etcd.service"), unitText);
    const r = run("unshare", [
        "--mount",
        "sh",
        "-c",
        `mount --bind "$1/bin" ${memberPaths.binDir} && systemd-analyze security --offline=true "$1/etcd.service"`,
        "sh",
        work,
    ]);
    const m = /Overall exposure level for etcd\.service: (\d+\.\d+)/.exec(r.stdout);
    if (!m) {
        throw new Error(`systemd-analyze security printed no exposure level (exit ${r.status}): ${r.stderr}`);
    }
    return Number(m[1]);
}

test(`the rendered unit's exposure stays at or below ${recordedExposure} ("OK")`, () => {
    expect(exposure(renderSystemdUnit({ memberName: "etcd-0" }))).toBeLessThanOrEqual(recordedExposure);
});

test("removing a hardening directive raises the score (the guard can fail)", () => {
    const weakened = renderSystemdUnit({ memberName: "etcd-0" })
        .split("\n")
        .filter((l) => !/^(NoNewPrivileges|ProtectSystem|CapabilityBoundingSet|SystemCallFilter)=/.test(l))
        .join("\n");
    expect(exposure(weakened)).toBeGreaterThan(recordedExposure);
});
