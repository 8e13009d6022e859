// The defragmentation script and units as rendered, from plain values (no cluster under mocks): what the script
// may and may not do. Where the files travel is in maintenance.test.ts; the script's behaviour on real etcd in
// test/integration/maintenance.test.ts.
import { defragFiles, defragThresholds, renderDefragScript, renderDefragService, renderDefragTimer } from "../../components/render/maintenance";

test("the script: its own member only, thresholds of 100 MiB and half in use, no alarm ever disarmed, one at a time under the lock", () => {
    const script = renderDefragScript();
    expect(defragThresholds).toEqual({ minDbBytes: 104857600, maxInUseShare: 0.5 });
    expect(script).toContain("sparse() { (($1 > 104857600 && $2 * 2 < $1)); }");
    expect(script).not.toMatch(/disarm/);
    expect(script).toContain('exec etcdctl lock --ttl=60 etcd-defrag "$0" locked');
    // defrag is given no --endpoints or --cluster: etcdctl's profile names this member's endpoint only.
    expect(script).toMatch(/^etcdctl --command-timeout=30m defrag >\/dev\/null$/m);
    expect(script).toContain("if systemctl -q is-active etcd-backup.service; then");
    // Comments stay in the renderer's source, not in user-data.
    expect(script.split("\n").filter((l) => /^\s*#(?!!| shellcheck)/.test(l))).toEqual([]);
    expect(renderDefragTimer()).toContain("OnCalendar=hourly\nRandomizedDelaySec=10min");
});

test("the files: the script executable by root, the units readable, where systemd reads units of the system's own", () => {
    expect(defragFiles().map((f) => [f.path, f.mode])).toEqual([
        ["/usr/local/sbin/etcd-defrag", "0755"],
        ["/etc/systemd/system/etcd-defrag.service", "0644"],
        ["/etc/systemd/system/etcd-defrag.timer", "0644"],
    ]);
    expect(defragFiles().map((f) => f.content)).toEqual([renderDefragScript(), renderDefragService(), renderDefragTimer()]);
});

test("the service: one run of the script to its end per tick (a oneshot), started by the timer of the same name", () => {
    expect(renderDefragService()).toBe("[Service]\nType=oneshot\nExecStart=/usr/local/sbin/etcd-defrag\n");
});
