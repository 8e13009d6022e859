import { TlsMinVersion } from "../args";
import { EtcdVersionFeatures, ReleaseArch } from "../releases";
import { ResolvedTuning } from "../validation";
import { authScriptPath, authUnitName, authUnitPath, renderAuthScript, renderAuthUnit } from "./authBootstrap";
import { renderBootScript } from "./bootScript";
import { CloudConfigFile, renderCloudConfig } from "./cloudConfig";
import { MemberEndpoint, renderEtcdctlProfile, renderEtcdEnvironment } from "./etcdConfig";
import { membershipLibraryPath, renderMembershipLibrary, renderMembershipSettings } from "./membership";
import { memberPaths } from "./paths";
import { renderSystemdUnit } from "./systemdUnit";

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
    /** SSM parameter with every member's client URL: where else to look (SSM key delivery only). */
    discoveryParameter?: string;
    /** SSM parameter holding renderMembershipLibrary() and its SHA-256; without it the functions travel in user-data. */
    membershipLibraryParameter?: { name: string; sha256: string };
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
    /** SSM parameter names of the member's keys, when keys are delivered through SSM. */
    ssmKeyParameters?: { serverKey: string; peerKey: string };
    tls: MemberTlsMaterial;
    /** Enables etcd authentication from this member once the cluster is healthy (one member only). */
    enableAuth?: { memberNames: string[] };
}

const file = (path: string, content: string, permissions = "0644", owner = "root:root"): CloudConfigFile => ({
    path,
    content: content.endsWith("\n") ? content : `${content}\n`,
    permissions,
    owner,
});

/** Renders a member's complete #cloud-config: config, unit, certificates, boot script. */
export function renderMemberUserData(p: MemberUserDataParams): string {
    const inline = p.ssmKeyParameters === undefined;
    if (inline && (!p.tls.serverKeyPem || !p.tls.peerKeyPem)) {
        throw new Error(`member ${p.member.name}: inline key delivery needs the server and peer keys`);
    }
    const files: CloudConfigFile[] = [
        file(memberPaths.environmentFile, renderEtcdEnvironment(p)),
        file(memberPaths.unitFile, renderSystemdUnit({ memberName: p.member.name })),
        file(memberPaths.etcdctlProfile, renderEtcdctlProfile(p.member)),
        file(memberPaths.caCert, p.tls.caCertPem),
        file(memberPaths.serverCert, p.tls.serverCertPem),
        file(memberPaths.peerCert, p.tls.peerCertPem),
        file(
            memberPaths.bootScript,
            renderBootScript({
                memberName: p.member.name,
                version: p.version,
                releaseUrl: p.releaseUrl,
                releaseSha256: p.releaseSha256,
                dataVolumeId: p.dataVolumeId,
                region: p.region,
                ssmKeys: inline
                    ? []
                    : [
                          { name: p.ssmKeyParameters!.serverKey, path: memberPaths.serverKey },
                          { name: p.ssmKeyParameters!.peerKey, path: memberPaths.peerKey },
                      ],
                unitsAfterEtcd: p.enableAuth ? [authUnitName] : [],
                membership: {
                    settings: renderMembershipSettings({
                        member: p.member,
                        seeds: p.seeds,
                        mayFound: p.seeds.length === 0,
                        discoveryParameter: p.discoveryParameter,
                    }),
                    libraryParameter: p.membershipLibraryParameter,
                },
            }),
            "0755",
        ),
    ];
    if (!p.membershipLibraryParameter) {
        // Whole-line comments and indentation only spend EC2's 16 KB here; the templates keep them.
        files.push(file(membershipLibraryPath, compactBash(renderMembershipLibrary())));
        const boot = files.find((f) => f.path === memberPaths.bootScript)!;
        boot.content = compactBash(boot.content);
    }
    if (p.enableAuth) {
        files.push(file(authScriptPath, renderAuthScript(p.enableAuth.memberNames), "0700"), file(authUnitPath, renderAuthUnit()));
    }
    if (inline) {
        // Written root-only; the boot script hands them to the etcd user once it exists.
        files.push(file(memberPaths.serverKey, p.tls.serverKeyPem!, "0600"), file(memberPaths.peerKey, p.tls.peerKeyPem!, "0600"));
    }
    return renderCloudConfig({ files });
}

/**
 * A bash text without whole-line comments (the shebang and shellcheck directives kept) and without
 * indentation. Safe for the rendered scripts: none holds a here-document or a multi-line string.
 */
export function compactBash(text: string): string {
    return text
        .split("\n")
        .filter((line, i) => (i === 0 && line.startsWith("#!")) || !/^\s*#/.test(line) || /^\s*# shellcheck /.test(line))
        .map((line) => line.replace(/^\s+/, ""))
        .join("\n");
}
