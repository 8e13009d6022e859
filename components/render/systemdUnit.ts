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

[Service]
Type=notify
User=etcd
Group=etcd
EnvironmentFile=${memberPaths.environmentFile}
# How to start with an empty data dir (found or joined), written by the boot script.
EnvironmentFile=-${memberPaths.bootstrapEnvironmentFile}
ExecStart=${memberPaths.binDir}/etcd
Restart=always
RestartSec=5s
# The first members wait for their peers before notifying: no start timeout.
TimeoutStartSec=0
LimitNOFILE=${p.limitNofile ?? 65536}
# etcd is latency sensitive: first claim on disk I/O among best-effort processes.
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
