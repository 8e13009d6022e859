import { TlsMinVersion } from "../args";
import { EtcdVersionFeatures, ReleaseArch } from "../releases";
import { ResolvedTuning } from "../validation";
import { memberPaths, peerCommonName, ports } from "./paths";

/** One member as every other member sees it. */
export interface MemberEndpoint {
    name: string;
    ip: string;
}

export interface EtcdConfigParams {
    /** This member. */
    member: MemberEndpoint;
    clusterToken: string;
    features: EtcdVersionFeatures;
    arch: ReleaseArch;
    tuning: ResolvedTuning;
    tlsMinVersion: TlsMinVersion;
    /** Serve metrics on the member's address too (the security group limits who reaches it). */
    metricsOnMemberAddress: boolean;
}

/**
 * TLS 1.2 suites with forward secrecy and AEAD only, named as etcd 3.4 to 3.6 accept them (TLS 1.3 suites
 * are not configurable in Go).
 */
export const tls12CipherSuites = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
];

export const clientUrl = (ip: string) => `https://${ip}:${ports.client}`;
export const peerUrl = (ip: string) => `https://${ip}:${ports.peer}`;

/** Values land in a systemd EnvironmentFile unquoted: only characters with no meaning there are allowed. */
const safeValue = /^[A-Za-z0-9._:/,=+@%-]*$/;

/**
 * Renders /etc/etcd/etcd.env: etcd's whole configuration as ETCD_* variables (auditable by CIS scanners,
 * unlike a config file, which makes etcd ignore every flag and variable). Only variables that the chosen
 * version accepts are written; the order is fixed so that the output is deterministic.
 */
export function renderEtcdEnvironment(p: EtcdConfigParams): string {
    const self = p.member;
    const metricsUrls = [`http://127.0.0.1:${ports.metrics}`];
    if (p.metricsOnMemberAddress) {
        metricsUrls.unshift(`http://${self.ip}:${ports.metrics}`);
    }
    const vars: [string, string | number | boolean][] = [
        ["ETCD_NAME", self.name],
        ["ETCD_DATA_DIR", memberPaths.dataDir],
        // ETCD_INITIAL_CLUSTER and _STATE are decided at first start (bootstrap.env, see membership.ts),
        // not here: this file must not list the membership, so that a size change leaves it unchanged.
        // All bootstrap settings are ignored by etcd once the data dir holds a member.
        ["ETCD_INITIAL_CLUSTER_TOKEN", p.clusterToken],
        ["ETCD_INITIAL_ADVERTISE_PEER_URLS", peerUrl(self.ip)],
        ["ETCD_LISTEN_PEER_URLS", peerUrl(self.ip)],
        // TLS on every client listener, loopback included.
        ["ETCD_LISTEN_CLIENT_URLS", `${clientUrl(self.ip)},https://127.0.0.1:${ports.client}`],
        ["ETCD_ADVERTISE_CLIENT_URLS", clientUrl(self.ip)],
        ["ETCD_LISTEN_METRICS_URLS", metricsUrls.join(",")],
        ["ETCD_CLIENT_CERT_AUTH", true],
        ["ETCD_TRUSTED_CA_FILE", memberPaths.caCert],
        ["ETCD_CERT_FILE", memberPaths.serverCert],
        ["ETCD_KEY_FILE", memberPaths.serverKey],
        ["ETCD_AUTO_TLS", false],
        ["ETCD_PEER_CLIENT_CERT_AUTH", true],
        ["ETCD_PEER_TRUSTED_CA_FILE", memberPaths.caCert],
        ["ETCD_PEER_CERT_FILE", memberPaths.peerCert],
        ["ETCD_PEER_KEY_FILE", memberPaths.peerKey],
        ["ETCD_PEER_AUTO_TLS", false],
        ["ETCD_PEER_CERT_ALLOWED_CN", peerCommonName],
    ];
    if (p.tlsMinVersion === "TLS1.3") {
        vars.push(["ETCD_TLS_MIN_VERSION", "TLS1.3"]);
    } else {
        if (p.features.tlsVersionFlags) {
            vars.push(["ETCD_TLS_MIN_VERSION", "TLS1.2"]);
        }
        // Go refuses cipher suites when only TLS 1.3 is allowed, so they are set for 1.2 only.
        vars.push(["ETCD_CIPHER_SUITES", tls12CipherSuites.join(",")]);
    }
    vars.push(
        ["ETCD_HEARTBEAT_INTERVAL", p.tuning.heartbeatIntervalMs],
        ["ETCD_ELECTION_TIMEOUT", p.tuning.electionTimeoutMs],
        ["ETCD_QUOTA_BACKEND_BYTES", p.tuning.quotaBackendBytes],
        ["ETCD_AUTO_COMPACTION_MODE", p.tuning.autoCompactionMode],
        ["ETCD_AUTO_COMPACTION_RETENTION", p.tuning.autoCompactionRetention],
        ["ETCD_SNAPSHOT_COUNT", p.tuning.snapshotCount],
        ["ETCD_STRICT_RECONFIG_CHECK", true],
    );
    if (p.features.needsZapLogger) {
        vars.push(["ETCD_LOGGER", "zap"]);
    }
    vars.push(["ETCD_LOG_LEVEL", "info"]);
    if (p.arch === "arm64" && p.features.arm64NeedsUnsupportedArch) {
        vars.push(["ETCD_UNSUPPORTED_ARCH", "arm64"]);
    }

    const lines = vars.map(([key, value]) => {
        const text = String(value);
        if (!safeValue.test(text)) {
            throw new Error(`etcd setting ${key} has characters that are unsafe in an environment file: ${JSON.stringify(text)}`);
        }
        return `${key}=${text}`;
    });
    return `# etcd configuration of member ${self.name}; rendered by the EtcdCluster component.\n${lines.join("\n")}\n`;
}

/**
 * /etc/profile.d/etcdctl.sh: makes `etcdctl endpoint health --cluster` work as is on the member. etcdctl talks
 * to this member over TLS with the member's own certificate, which also has clientAuth. No comment in the file:
 * user-data has no bytes to spare.
 */
export function renderEtcdctlProfile(member: MemberEndpoint): string {
    return [
        "export ETCDCTL_API=3",
        `export ETCDCTL_ENDPOINTS=${clientUrl(member.ip)}`,
        `export ETCDCTL_CACERT=${memberPaths.caCert}`,
        `export ETCDCTL_CERT=${memberPaths.serverCert}`,
        `export ETCDCTL_KEY=${memberPaths.serverKey}`,
        "",
    ].join("\n");
}
