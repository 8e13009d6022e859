/** Where a member keeps its files: one place, so the config, unit, boot script and etcdctl agree. */
export const memberPaths = {
    configDir: "/etc/etcd",
    environmentFile: "/etc/etcd/etcd.env",
    bootstrapEnvironmentFile: "/etc/etcd/bootstrap.env",
    pkiDir: "/etc/etcd/pki",
    caCert: "/etc/etcd/pki/ca.crt",
    serverCert: "/etc/etcd/pki/server.crt",
    serverKey: "/etc/etcd/pki/server.key",
    peerCert: "/etc/etcd/pki/peer.crt",
    peerKey: "/etc/etcd/pki/peer.key",
    dataDir: "/var/lib/etcd",
    binDir: "/usr/local/bin",
    bootScript: "/usr/local/sbin/etcd-bootstrap",
    membershipLibrary: "/usr/local/lib/etcd/membership.sh",
    unitFile: "/etc/systemd/system/etcd.service",
    /** Mounts the data volume at dataDir; the name is dataDir escaped as systemd requires. */
    dataMountUnit: "/etc/systemd/system/var-lib-etcd.mount",
    etcdctlProfile: "/etc/profile.d/etcdctl.sh",
} as const;

export const ports = { client: 2379, peer: 2380, metrics: 2381 } as const;

/** The common name every peer certificate carries; members accept peers presenting it only. */
export const peerCommonName = "etcd-peer";

/** The common name of the client certificate: it maps to etcd's root user when auth is enabled. */
export const clientCommonName = "root";
