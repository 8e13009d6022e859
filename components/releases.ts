import { releaseChecksums } from "./releaseChecksums";

/** CPU architectures of etcd's Linux release tarballs that EC2 offers. */
export type ReleaseArch = "amd64" | "arm64";

/** The etcd minor lines this component can render a configuration for. */
export const supportedMinorLines = ["3.4", "3.5", "3.6"] as const;

/** A parsed etcd version. */
export interface EtcdVersion {
    major: number;
    minor: number;
    patch: number;
    /** "3.6.14" */
    text: string;
}

/** What a given etcd release accepts, so that only flags it knows are rendered. */
export interface EtcdVersionFeatures {
    /** `--tls-min-version` / `--tls-max-version`: 3.4.25+, 3.5.8+, 3.6. */
    tlsVersionFlags: boolean;
    /** 3.4 logs through capnslog unless `--logger=zap` is given; 3.5 removed capnslog. */
    needsZapLogger: boolean;
    /** 3.4 refuses to start on arm64 without ETCD_UNSUPPORTED_ARCH. */
    arm64NeedsUnsupportedArch: boolean;
    /** etcd's default `--snapshot-count` (100000 until 3.5, 10000 from 3.6). */
    defaultSnapshotCount: number;
    /** `etcdctl user add NAME --no-password` (certificate-only users): 3.5+. */
    certificateOnlyUsers: boolean;
    /** etcdutl ships in the tarball from 3.5 on. */
    shipsEtcdutl: boolean;
}

const versionPattern = /^(\d+)\.(\d+)\.(\d+)$/;

/** Parses "3.5.30" (a leading "v" is accepted); returns undefined for anything else. */
export function parseVersion(text: string): EtcdVersion | undefined {
    const match = versionPattern.exec(text.replace(/^v/, ""));
    if (!match) {
        return undefined;
    }
    const [major, minor, patch] = match.slice(1).map(Number);
    return { major, minor, patch, text: `${major}.${minor}.${patch}` };
}

export function compareVersions(a: EtcdVersion, b: EtcdVersion): number {
    return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** Versions with a pinned upstream checksum, oldest first. */
export function pinnedVersions(): EtcdVersion[] {
    return Object.keys(releaseChecksums)
        .map((v) => parseVersion(v)!)
        .sort(compareVersions);
}

/** The newest pinned release of the 3.6 line: the default version. */
export function defaultVersion(): string {
    const newest = pinnedVersions()
        .filter((v) => v.major === 3 && v.minor === 6)
        .pop();
    if (!newest) {
        throw new Error("the release checksum table has no 3.6 release");
    }
    return newest.text;
}

export function isSupportedLine(v: EtcdVersion): boolean {
    return (supportedMinorLines as readonly string[]).includes(`${v.major}.${v.minor}`);
}

/** The pinned upstream SHA-256 of a release tarball, if the table has it. */
export function pinnedChecksum(version: string, arch: ReleaseArch): string | undefined {
    return releaseChecksums[version]?.[arch];
}

/** The official download URL of a release tarball. */
export function officialReleaseUrl(version: string, arch: ReleaseArch): string {
    return `https://github.com/etcd-io/etcd/releases/download/v${version}/etcd-v${version}-linux-${arch}.tar.gz`;
}

export function versionFeatures(v: EtcdVersion): EtcdVersionFeatures {
    const atLeast = (minor: number, patch: number) => v.minor > minor || (v.minor === minor && v.patch >= patch);
    return {
        tlsVersionFlags: v.minor === 4 ? v.patch >= 25 : atLeast(5, 8),
        needsZapLogger: v.minor === 4,
        arm64NeedsUnsupportedArch: v.minor === 4,
        defaultSnapshotCount: v.minor >= 6 ? 10000 : 100000,
        certificateOnlyUsers: v.minor >= 5,
        shipsEtcdutl: v.minor >= 5,
    };
}

/**
 * Architecture of an EC2 instance type: Graviton families carry a "g" after the generation digit
 * (m7g, c6gd, t4g, r8g), and a1 is the first Graviton.
 */
export function instanceArch(instanceType: string): ReleaseArch {
    const family = instanceType.split(".")[0] ?? "";
    return /^[a-z]+\d+g[a-z]*$/.test(family) || family === "a1" ? "arm64" : "amd64";
}
