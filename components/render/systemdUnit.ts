import { memberPaths } from "./paths";

export interface SystemdUnitParams {
    memberName: string;
    /** Open file limit: etcd holds a descriptor per client connection and per WAL/snapshot file. */
    limitNofile?: number;
}

/**
 * Renders etcd.service. The whole configuration comes from the EnvironmentFile (one source of truth, no
 * flags here that could disagree with it). Type=notify: etcd reports ready only once it has joined a
 * quorum, so boot scripts start it with --no-block. The sandboxing leaves etcd its data dir and network.
 * The unit carries no comments (user-data is limited to 16 KB); the reasons for its settings:
 * - StartLimitIntervalSec/StartLimitBurst: a member that keeps failing (a broken etcd.env, a damaged data dir)
 *   ends up "failed" in systemctl status after five starts within ten minutes, not restarting unnoticed forever;
 * - TimeoutStartSec=0: the first members wait for their peers before notifying;
 * - IOSchedulingClass/Priority: etcd is latency sensitive, first claim on disk I/O among best-effort processes;
 * - the second EnvironmentFile: how to start with an empty data dir (found or joined), written by the boot
 *   script (membership.ts);
 * - PrivateMounts=yes: implied by the other settings at run time, stated so that offline reviews see it too.
 */
export function renderSystemdUnit(p: SystemdUnitParams): string {
    if (!/^[A-Za-z0-9._-]+$/.test(p.memberName)) {
        throw new Error(`member name ${JSON.stringify(p.memberName)} is not safe in a unit file`);
    }
    return `[Unit]
Description=etcd key-value store (member ${p.memberName})
Documentation=https://etcd.io/docs/
After=network-online.target local-fs.target
Wants=network-online.target
RequiresMountsFor=${memberPaths.dataDir}
StartLimitIntervalSec=10min
StartLimitBurst=5

[Service]
Type=notify
User=etcd
Group=etcd
EnvironmentFile=${memberPaths.environmentFile}
EnvironmentFile=-${memberPaths.bootstrapEnvironmentFile}
ExecStart=${memberPaths.binDir}/etcd
Restart=always
RestartSec=5s
TimeoutStartSec=0
LimitNOFILE=${p.limitNofile ?? 65536}
IOSchedulingClass=best-effort
IOSchedulingPriority=0
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ReadWritePaths=${memberPaths.dataDir}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`;
}

/** Grows the data filesystem to its volume: run by the timer, so a volume enlarged in place reaches etcd. */
export function renderGrowService(): string {
    return `[Unit]
Description=Grow the etcd data filesystem to its volume

[Service]
Type=oneshot
ExecStart=${memberPaths.bootScript} grow-data
`;
}

/** Checks every 5 minutes whether the data volume grew. */
export function renderGrowTimer(): string {
    return `[Unit]
Description=Grow the etcd data filesystem after the volume is enlarged

[Timer]
OnBootSec=2min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
`;
}

/** The stable device path of an EBS volume on a Nitro instance (udev names NVMe volumes after the volume id). */
export function ebsVolumeLink(volumeId: string): string {
    if (!/^vol-[0-9a-zA-Z]+$/.test(volumeId)) {
        throw new Error(`volume id ${JSON.stringify(volumeId)} is not an EBS volume id (vol-...)`);
    }
    return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}

/**
 * Renders the mount unit of the data volume. A unit rather than an /etc/fstab line: the same on every
 * boot (systemd waits for the device, and etcd's RequiresMountsFor waits for the mount), and honoured in a
 * container too, where systemd's fstab generator skips device entries. nofail, as for a volume that may
 * attach after boot: the mount is not ordered before local-fs.target, so boot never waits on it.
 * The boot script enables and starts it once the volume holds a filesystem.
 */
export function renderDataMountUnit(p: { volumeId: string }): string {
    return `[Unit]
Description=etcd data volume ${p.volumeId}
Before=etcd.service

[Mount]
What=${ebsVolumeLink(p.volumeId)}
Where=${memberPaths.dataDir}
Type=ext4
Options=defaults,noatime,nofail

[Install]
WantedBy=multi-user.target
`;
}
