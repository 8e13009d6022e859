import { TlsMinVersion } from "../args";
import { EtcdVersionFeatures, ReleaseArch } from "../releases";
import { ResolvedTuning } from "../validation";
import { authScriptPath, authUnitName, authUnitPath, renderAuthScript, renderAuthUnit } from "./authBootstrap";
import { backupPaths } from "./backup";
import { createHash } from "crypto";
import { gzipSync } from "zlib";
import { fetchedMembershipLibrary, growTimerName, growUnitName, renderBootScript, SsmFile } from "./bootScript";
import { CloudConfigFile, renderCloudConfig } from "./cloudConfig";
import { MemberEndpoint, renderEtcdctlProfile, renderEtcdEnvironment } from "./etcdConfig";
import { defragFiles, defragPaths } from "./maintenance";
import { renderMembershipLibrary, renderMembershipSettings } from "./membership";
import { memberPaths } from "./paths";
import { renderDataMountUnit, renderGrowService, renderGrowTimer, renderSystemdUnit } from "./systemdUnit";

/** The files a member fetches from its own SSM parameters "<prefix>/<file>" with SSM delivery. */
export const ssmFileNames = { caCert: "ca.crt", serverCert: "server.crt", peerCert: "peer.crt", serverKey: "server.key", peerKey: "peer.key" } as const;

/** The SHA-256 of a PEM as the member writes it (trailing newlines folded into one). */
export function pemSha256(pem: string): string {
    return createHash("sha256")
        .update(`${pem.replace(/\n+$/, "")}\n`)
        .digest("hex");
}

/** Certificates (public) and, for inline delivery only, private keys of one member. */
export interface MemberTlsMaterial {
    caCertPem: string;
    serverCertPem: string;
    peerCertPem: string;
    /** Present only with inline key delivery. */
    serverKeyPem?: string;
    peerKeyPem?: string;
}

/** Everything, as plain values, that decides one member's user-data. */
export interface MemberUserDataParams {
    member: MemberEndpoint;
    /**
     * Members with a lower index, where this member looks for the running cluster when its data dir is
     * empty. Never the whole membership: a size change must leave existing members' user-data unchanged.
     * Member 0 has none and founds the cluster when no running cluster answers.
     */
    seeds: MemberEndpoint[];
    /**
     * SSM parameter with every member's client URL (when members have a role): where a member with an empty
     * data dir looks for the cluster. With it, the seeds are not written: the parameter names them too.
     */
    discoveryParameter?: string;
    /**
     * Where the membership functions (renderMembershipLibrary) come from: "tools" with backups (the pinned
     * tools object writes them), the cluster's SSM parameter and its SHA-256 with SSM key delivery, or
     * "user-data" (inline keys: user-data is secret and compressed).
     */
    membershipLibrary: "tools" | "user-data" | { name: string; sha256: string };
    clusterToken: string;
    version: string;
    features: EtcdVersionFeatures;
    arch: ReleaseArch;
    tuning: ResolvedTuning;
    tlsMinVersion: TlsMinVersion;
    metricsOnMemberAddress: boolean;
    releaseUrl: string;
    releaseSha256: string;
    dataVolumeId: string;
    region: string;
    /**
     * The member's SSM parameter path, when keys and certificates are delivered through SSM: user-data then
     * names the parameters "<prefix>/<file>" (ssmFileNames), with each certificate's SHA-256, instead of
     * holding them.
     */
    ssmParameterPrefix?: string;
    tls: MemberTlsMaterial;
    /** Enables etcd authentication from this member once the cluster is healthy (one member only). */
    enableAuth?: { memberNames: string[] };
    /** The backup and restore tools: an installer in S3 pinned by its SHA-256 (see render/backup.ts). */
    memberTools?: { url: string; sha256: string; restore: boolean };
    /**
     * Defragmentation's script and units (render/maintenance.ts) are written by user-data. Without it they come
     * with the tools above, or, with neither, are not installed (no room in user-data; the component warns).
     */
    defragInUserData?: boolean;
}

const file = (path: string, content: string, permissions = "0644", owner = "root:root"): CloudConfigFile => ({
    path,
    content: content.endsWith("\n") ? content : `${content}\n`,
    permissions,
    owner,
});

/** A file as cloud-init's gz+b64 encoding of it (gzip of a fixed header: the same text gives the same bytes). */
function compressed(f: CloudConfigFile): CloudConfigFile {
    return { ...f, content: gzipSync(f.content, { level: 9 }).toString("base64"), encoding: "gz+b64" };
}

/** Renders a member's complete #cloud-config: config, units, boot script, and certificates or their parameters. */
export function renderMemberUserData(p: MemberUserDataParams): string {
    const inline = p.ssmParameterPrefix === undefined;
    const fetched: SsmFile[] = inline
        ? []
        : [
              { file: ssmFileNames.caCert, sha256: pemSha256(p.tls.caCertPem) },
              { file: ssmFileNames.serverCert, sha256: pemSha256(p.tls.serverCertPem) },
              { file: ssmFileNames.peerCert, sha256: pemSha256(p.tls.peerCertPem) },
              { file: ssmFileNames.serverKey },
              { file: ssmFileNames.peerKey },
          ];
    if (inline && (!p.tls.serverKeyPem || !p.tls.peerKeyPem)) {
        throw new Error(`member ${p.member.name}: inline key delivery needs the server and peer keys`);
    }
    const files: CloudConfigFile[] = [
        file(memberPaths.environmentFile, renderEtcdEnvironment(p)),
        file(memberPaths.unitFile, renderSystemdUnit({ memberName: p.member.name })),
        file(memberPaths.dataMountUnit, renderDataMountUnit({ volumeId: p.dataVolumeId })),
        file(memberPaths.etcdctlProfile, renderEtcdctlProfile(p.member)),
        file(`/etc/systemd/system/${growUnitName}`, renderGrowService()),
        file(`/etc/systemd/system/${growTimerName}`, renderGrowTimer()),
        ...(p.defragInUserData ? defragFiles().map((f) => file(f.path, f.content, f.mode)) : []),
        file(
            memberPaths.bootScript,
            renderBootScript({
                memberName: p.member.name,
                version: p.version,
                releaseUrl: p.releaseUrl,
                releaseSha256: p.releaseSha256,
                dataVolumeId: p.dataVolumeId,
                region: p.region,
                ssmParameterPrefix: p.ssmParameterPrefix,
                ssmFiles: fetched,
                unitsAfterEtcd: [...(p.enableAuth ? [authUnitName] : [])],
                timers: p.defragInUserData ? [defragPaths.timerName] : [],
                tools: p.memberTools && { url: p.memberTools.url, sha256: p.memberTools.sha256 },
                commandsBeforeEtcd: p.memberTools?.restore ? [backupPaths.restoreScript] : [],
                membership: {
                    settings: renderMembershipSettings({
                        member: p.member,
                        seeds: p.discoveryParameter ? [] : p.seeds,
                        mayFound: p.seeds.length === 0,
                        discoveryParameter: p.discoveryParameter,
                    }),
                    libraryPath: typeof p.membershipLibrary === "object" ? `${memberPaths.pkiDir}/${fetchedMembershipLibrary}` : memberPaths.membershipLibrary,
                    libraryParameter: typeof p.membershipLibrary === "object" ? p.membershipLibrary : undefined,
                    discovery: p.discoveryParameter !== undefined,
                },
            }),
            "0755",
        ),
    ];
    if (p.membershipLibrary === "tools" && !p.memberTools) {
        throw new Error(`member ${p.member.name}: the membership functions come with the tools object only when there is one (backups)`);
    }
    if (typeof p.membershipLibrary === "object" && inline) {
        throw new Error(`member ${p.member.name}: the membership functions are fetched from SSM with the keys (SSM key delivery)`);
    }
    if (p.membershipLibrary === "user-data") {
        files.push(file(memberPaths.membershipLibrary, renderMembershipLibrary()));
    }
    if (inline) {
        // With inline keys user-data is secret, so its diff is never shown: the scripts go compressed, which
        // keeps the certificates, keys and scripts within EC2's 16 KB.
        for (const path of [memberPaths.bootScript, memberPaths.membershipLibrary, defragPaths.script]) {
            const i = files.findIndex((f) => f.path === path);
            if (i >= 0) files[i] = compressed(files[i]);
        }
    }
    if (p.enableAuth) {
        files.push(file(authScriptPath, renderAuthScript(p.enableAuth.memberNames), "0700"), file(authUnitPath, renderAuthUnit()));
    }
    if (inline) {
        files.push(file(memberPaths.caCert, p.tls.caCertPem), file(memberPaths.serverCert, p.tls.serverCertPem), file(memberPaths.peerCert, p.tls.peerCertPem));
        // Written root-only; the boot script hands them to the etcd user once it exists.
        files.push(file(memberPaths.serverKey, p.tls.serverKeyPem!, "0600"), file(memberPaths.peerKey, p.tls.peerKeyPem!, "0600"));
    }
    return renderCloudConfig({ files });
}
