import * as fs from "fs";
import * as path from "path";
import { releaseChecksums } from "../../components/releaseChecksums";
import { defaultVersion, instanceArch, officialReleaseUrl, parseVersion, pinnedChecksum, versionFeatures } from "../../components/releases";

describe("release table", () => {
    // The upstream SHA256SUMS of every release line, as published (amd64, arm64, ppc64le), kept in the repository.
    const tsv = path.join(__dirname, "..", "data", "etcd-release-sha256.tsv");

    test("matches the upstream SHA256SUMS table for amd64 and arm64", () => {
        expect(fs.existsSync(tsv)).toBe(true);
        const rows = fs
            .readFileSync(tsv, "utf8")
            .trim()
            .split("\n")
            .slice(1)
            .map((line) => line.split("\t"))
            .filter(([, arch]) => arch === "amd64" || arch === "arm64");
        expect(rows.length).toBeGreaterThan(0);
        for (const [version, arch, sum] of rows) {
            expect(pinnedChecksum(version, arch as "amd64" | "arm64")).toBe(sum);
        }
        const pinnedCount = Object.values(releaseChecksums).reduce((n, byArch) => n + Object.keys(byArch).length, 0);
        expect(pinnedCount).toBe(rows.length);
    });

    test("default version is the newest pinned 3.6 release", () => {
        expect(defaultVersion()).toBe("3.6.14");
    });

    test("official URL pattern", () => {
        expect(officialReleaseUrl("3.5.30", "arm64")).toBe("https://github.com/etcd-io/etcd/releases/download/v3.5.30/etcd-v3.5.30-linux-arm64.tar.gz");
    });

    test.each([
        ["m7i.large", "amd64"],
        ["m6i.xlarge", "amd64"],
        ["m7g.large", "arm64"],
        ["c6gd.2xlarge", "arm64"],
        ["t4g.medium", "arm64"],
        ["r8g.large", "arm64"],
        ["g5.xlarge", "amd64"],
        ["m7a.large", "amd64"],
    ])("%s runs the %s release", (type, arch) => {
        expect(instanceArch(type)).toBe(arch);
    });

    test("version features", () => {
        expect(versionFeatures(parseVersion("3.4.24")!).tlsVersionFlags).toBe(false);
        expect(versionFeatures(parseVersion("3.4.25")!).tlsVersionFlags).toBe(true);
        expect(versionFeatures(parseVersion("3.5.7")!).tlsVersionFlags).toBe(false);
        expect(versionFeatures(parseVersion("3.5.8")!).tlsVersionFlags).toBe(true);
        expect(versionFeatures(parseVersion("3.6.0")!).defaultSnapshotCount).toBe(10000);
        expect(parseVersion("v3.6.1")!.text).toBe("3.6.1");
        expect(parseVersion("3.6")).toBeUndefined();
    });
});
