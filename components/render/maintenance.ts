// Defragmentation on every member, by a timer: etcd never returns the space of deleted and compacted keys to
// the disk by itself; `etcdctl defrag` rewrites the database, blocking that member's reads and writes while it
// runs. The script below defragments its own member only:
// - when the file is over 100 MiB and less than half of it is in use (below that, the blocking is not worth it);
// - while every member is healthy and no alarm is raised: the NOSPACE alarm needs a person (README: "When the
//   database is full"), who compacts, defragments and disarms; the script never disarms anything;
// - never while this member's backup runs (the volume holds one database-sized copy at a time besides the db:
//   components/volumeSizing.ts);
// - one member at a time across the cluster, under the etcd lock "etcd-defrag" (`etcdctl lock`, held by a lease
//   of 60 s that ends with the process: a member that dies while holding it frees it);
// - the leader last: it defers while another member is over the threshold, and runs at a later tick, so the
//   leader's pause comes once and after the followers'.
import { backupPaths } from "./backup";
import { withoutComments } from "./bootScript";
import { memberPaths } from "./paths";

export const defragPaths = {
    script: "/usr/local/sbin/etcd-defrag",
    serviceName: "etcd-defrag.service",
    timerName: "etcd-defrag.timer",
} as const;

/** When a member's database is worth defragmenting. */
export const defragThresholds = {
    /** File size over which a member is considered (100 MiB). */
    minDbBytes: 100 * 2 ** 20,
    /** Defragment when the bytes in use are below this share of the file. */
    maxInUseShare: 0.5,
} as const;

/**
 * The defragmentation files: in user-data, or, with backups on, in the pinned tools object (user-data has no
 * room for both within EC2's 16 KB; the boot script enables the timer either way).
 */
export function defragFiles(): { path: string; content: string; mode: string }[] {
    return [
        { path: defragPaths.script, content: renderDefragScript(), mode: "0755" },
        { path: `/etc/systemd/system/${defragPaths.serviceName}`, content: renderDefragService(), mode: "0644" },
        { path: `/etc/systemd/system/${defragPaths.timerName}`, content: renderDefragTimer(), mode: "0644" },
    ];
}

/** The member's defragmentation script (run by {@link renderDefragService}); comments are dropped from user-data. */
export function renderDefragScript(): string {
    return withoutComments(`#!/bin/bash
# Defragments this etcd member when its db is mostly free space: healthy cluster, one member at a time, leader last.
set -euo pipefail
# shellcheck source=/dev/null
. ${memberPaths.etcdctlProfile}
# "id leader size in-use" of this member, or of every member with --cluster.
sizes() {
  etcdctl endpoint status "$@" -w json | sed 's/{"Endpoint"/\\n/g' |
    sed -n 's/.*"member_id":\\([0-9]*\\).*"dbSize":\\([0-9]*\\),"leader":\\([0-9]*\\).*"dbSizeInUse":\\([0-9]*\\).*/\\1 \\3 \\2 \\4/p'
}
sparse() { (($1 > ${defragThresholds.minDbBytes} && $2 * 2 < $1)); }
# Exits, successfully (nothing is wrong), unless defragmenting this member is safe and useful now.
check() {
  if systemctl -q is-active ${backupPaths.serviceName}; then echo "a backup is running"; exit; fi
  a=$(etcdctl alarm list)
  if [[ -n $a ]]; then echo "alarm raised, left to a person: $a"; exit; fi
  if ! etcdctl endpoint health --cluster &>/dev/null; then echo "a member is unhealthy"; exit; fi
  read -r id leader size used < <(sizes)
  if ! sparse "$size" "$used"; then echo "db $size bytes, $used in use: nothing to do"; exit; fi
  # The leader goes last: it defers while another member needs defragmenting.
  [[ $id == "$leader" ]] || return 0
  while read -r _ _ s u; do
    if sparse "$s" "$u"; then echo "leader: another member first"; exit; fi
  done < <(sizes --cluster | grep -v "^$id ")
}
if [[ \${1:-} != locked ]]; then
  check
  # Waits while another member holds the lock, then checks again under it.
  exec etcdctl lock --ttl=60 etcd-defrag "$0" locked
fi
check
echo "defragmenting: db $size bytes, $used in use"
etcdctl --command-timeout=30m defrag >/dev/null
read -r _ _ size used < <(sizes)
echo "defragmented: db $size bytes, $used in use"
`);
}

export function renderDefragService(): string {
    return `[Service]
Type=oneshot
ExecStart=${defragPaths.script}
`;
}

/** Every hour, spread over 10 minutes so that members do not all ask at once. */
export function renderDefragTimer(): string {
    return `[Timer]
OnCalendar=hourly
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target
`;
}
