// Which releases setup mirrors and from where, decided from package lists as Debian and Ubuntu serve them, the
// pinned checksum table and what the mirror holds: no network, no version named in the code under test.
import { pinnedVersions } from "../../components/releases";
import { describeSource, MirrorPlanInput, packagedReleases, parsePackageIndex, planMirror, upstreamVersion } from "../../scripts/lib/mirror/releaseSources";

/** A Packages stanza as the archives serve it (fields trimmed to a realistic few). */
const stanza = (name: string, version: string, extra = "") =>
    `Package: ${name}\nSource: etcd\nVersion: ${version}\nInstalled-Size: 21524\n${extra}Architecture: amd64\nDepends: libc6 (>= 2.34)\nDescription: highly-available key value store\nFilename: pool/main/e/etcd/${name}_${version}_amd64.deb\nSize: 5898812\nSHA256: ${"0".repeat(64)}\n`;
const index = (...stanzas: string[]) => stanzas.join("\n");
const etcdPair = (version: string, extra = "") => [stanza("etcd-server", version, extra), stanza("etcd-client", version, extra)];

// Debian: bookworm 3.4.23, trixie 3.5.16, sid 3.5.30 (and other packages around them).
const debianSid = index(stanza("etcd-fixtures", "0.0~git20240101-1"), ...etcdPair("3.5.30-2"), stanza("etckeeper", "1.18.21-1"));
const debianSidNewer = index(...etcdPair("3.5.31-1"));
const debianBookworm = index(...etcdPair("3.4.23-4+b4"));
const debianExperimentalWith36 = index(...etcdPair("3.6.5-1~exp1"));
const ubuntuExtra = "Original-Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>\n";
// Ubuntu: jammy 3.3.25 (not a line the tests run), noble 3.4.30, a development series with 3.5.
const ubuntuJammy = index(...etcdPair("3.3.25+dfsg-7ubuntu0.22.04.2", ubuntuExtra));
const ubuntuNoble = index(...etcdPair("3.4.30-1build1", ubuntuExtra));
const ubuntuDevel = index(...etcdPair("1:3.5.21-2ubuntu1", ubuntuExtra));

const pinned = pinnedVersions().map((v) => v.text);
const newestPinned = (line: string) => pinned.filter((v) => v.startsWith(`${line}.`)).pop()!;
const offline = (over: Partial<MirrorPlanInput>): MirrorPlanInput => ({ online: false, pinnedVersions: pinned, packaged: [], mirrored: [], ...over });
const summary = (input: MirrorPlanInput) => {
    const plan = planMirror(input);
    return {
        releases: plan.releases.map((r) => `${r.version} ${r.source.kind}${"suite" in r.source ? ` ${r.source.suite}` : ""}`),
        missing: plan.missing.map((m) => m.line),
        absent: plan.absent,
    };
};

describe("package versions", () => {
    test.each([
        ["3.4.23-4+b4", "3.4.23"],
        ["3.5.30-2", "3.5.30"],
        ["3.3.25+dfsg-7ubuntu0.22.04.2", "3.3.25"],
        ["3.4.30-1build1", "3.4.30"],
        ["1:3.5.21-2ubuntu1", "3.5.21"],
        ["3.6.5-1~exp1", "3.6.5"],
        ["3.5.30", "3.5.30"],
    ])("%s is etcd %s", (packageVersion, version) => {
        expect(upstreamVersion(packageVersion)).toBe(version);
    });

    test.each(["0.0~git20240101-1", "3.5-1", "latest"])("%s is no release version", (packageVersion) => {
        expect(upstreamVersion(packageVersion)).toBeUndefined();
    });

    test("a Packages index gives every stanza's name and version", () => {
        expect(parsePackageIndex(debianSid)).toEqual([
            { name: "etcd-fixtures", version: "0.0~git20240101-1" },
            { name: "etcd-server", version: "3.5.30-2" },
            { name: "etcd-client", version: "3.5.30-2" },
            { name: "etckeeper", version: "1.18.21-1" },
        ]);
    });
});

describe("releases the suites package", () => {
    test("Debian: each suite's etcd-server with its etcd-client; a missing suite and a suite without etcd are named", () => {
        const found = packagedReleases([
            { suite: "unstable", packages: debianSid },
            { suite: "experimental", packages: index(stanza("hello", "2.10-3")) },
            { suite: "bookworm" },
        ]);
        expect(found.releases).toEqual([{ version: "3.5.30", packageVersion: "3.5.30-2", suite: "unstable" }]);
        expect(found.notes).toEqual(["suite experimental: no etcd-server package", "suite bookworm: not on this mirror"]);
    });

    test("Ubuntu: 3.3 is no line the tests run; an epoch is ignored", () => {
        const found = packagedReleases([
            { suite: "jammy", packages: ubuntuJammy },
            { suite: "devel", packages: ubuntuDevel },
        ]);
        expect(found.releases).toEqual([{ version: "3.5.21", packageVersion: "1:3.5.21-2ubuntu1", suite: "devel" }]);
        expect(found.notes).toEqual(["suite jammy: etcd 3.3.25 is not a line the tests run (3.4, 3.5, 3.6)"]);
    });

    test("an etcd-server without the etcd-client of its version is not used", () => {
        const found = packagedReleases([{ suite: "unstable", packages: index(stanza("etcd-server", "3.5.31-1"), stanza("etcd-client", "3.5.30-2")) }]);
        expect(found.releases).toEqual([]);
        expect(found.notes).toEqual(["suite unstable: etcd-server 3.5.31-1 has no etcd-client of the same version"]);
    });
});

describe("the mirror plan", () => {
    test("Debian 12 offline: its own 3.4 and sid's 3.5; no 3.6 anywhere", () => {
        const packaged = packagedReleases([
            { suite: "unstable", packages: debianSid },
            { suite: "experimental", packages: "" },
        ]).releases;
        expect(summary(offline({ installed: { version: "3.4.23", packageVersion: "3.4.23-4+b4" }, packaged }))).toEqual({
            releases: ["3.4.23 installed", "3.5.30 package unstable"],
            missing: [],
            absent: ["3.6"],
        });
    });

    test("a newer sid upload is taken as it is: no patch version is expected", () => {
        const packaged = packagedReleases([{ suite: "unstable", packages: debianSidNewer }]).releases;
        expect(summary(offline({ installed: { version: "3.4.23", packageVersion: "3.4.23-4+b4" }, packaged })).releases).toEqual([
            "3.4.23 installed",
            "3.5.31 package unstable",
        ]);
    });

    test("Debian 13 offline: its own 3.5.16 loses to sid's newer 3.5; the 3.4 comes from bookworm; a 3.6 from experimental", () => {
        const packaged = packagedReleases([
            { suite: "unstable", packages: debianSid },
            { suite: "experimental", packages: debianExperimentalWith36 },
            { suite: "bookworm", packages: debianBookworm },
        ]).releases;
        expect(summary(offline({ installed: { version: "3.5.16", packageVersion: "3.5.16-4" }, packaged }))).toEqual({
            releases: ["3.4.23 package bookworm", "3.5.30 package unstable", "3.6.5 package experimental"],
            missing: [],
            absent: [],
        });
    });

    test("the machine's own package wins over another suite's same version", () => {
        const packaged = packagedReleases([{ suite: "unstable", packages: index(...etcdPair("3.4.23-5")) }]).releases;
        expect(summary(offline({ installed: { version: "3.4.23", packageVersion: "3.4.23-4+b4" }, packaged })).releases).toEqual(["3.4.23 installed"]);
    });

    test("Ubuntu 22.04 offline with no development suite on the mirror: 3.4 from noble, and 3.5 missing with the reason", () => {
        const found = packagedReleases([{ suite: "devel" }, { suite: "noble", packages: ubuntuNoble }]);
        const plan = planMirror(offline({ installed: { version: "3.3.25", packageVersion: "3.3.25+dfsg-7ubuntu0.22.04.2" }, packaged: found.releases }));
        expect(plan.releases.map((r) => r.version)).toEqual(["3.4.30"]);
        expect(plan.missing).toEqual([
            { line: "3.5", reason: "the official download is not reachable; no etcd-server 3.5 package in the machine's release or the suites searched" },
        ]);
        expect(found.notes).toContain("suite devel: not on this mirror");
    });

    test("online: the newest pinned 3.5 and 3.6 as official releases, the 3.4 (no pinned sums) from the packages", () => {
        const input = { ...offline({ installed: { version: "3.4.30", packageVersion: "3.4.30-1build1" } }), online: true };
        expect(summary(input)).toEqual({
            releases: ["3.4.30 installed", `${newestPinned("3.5")} official`, `${newestPinned("3.6")} official`],
            missing: [],
            absent: [],
        });
        // Follows the table: with a newer pinned 3.5, that one.
        expect(summary({ ...input, pinnedVersions: [...pinned, "3.5.99"] }).releases).toContain("3.5.99 official");
        const noThreeFour = planMirror({ ...input, installed: undefined });
        expect(noThreeFour.missing).toEqual([
            {
                line: "3.4",
                reason: "no pinned checksum for a 3.4 release, so no official download; no etcd-server 3.4 package in the machine's release or the suites searched",
            },
        ]);
    });

    test("a release the mirror already holds at the same or a newer version is kept; an older one is replaced", () => {
        const packaged = packagedReleases([{ suite: "unstable", packages: debianSid }]).releases;
        const base = offline({ installed: { version: "3.4.23", packageVersion: "3.4.23-4+b4" }, packaged });
        expect(summary({ ...base, mirrored: ["3.5.30", "3.4.23"] }).releases).toEqual(["3.4.23 mirror", "3.5.30 mirror"]);
        expect(summary({ ...base, mirrored: ["3.5.29"] }).releases).toEqual(["3.4.23 installed", "3.5.30 package unstable"]);
        expect(summary({ ...base, mirrored: [newestPinned("3.5")] }).releases).toEqual(["3.4.23 installed", `${newestPinned("3.5")} mirror`]);
    });

    test("setup says which source it used", () => {
        const plan = planMirror({ ...offline({ installed: { version: "3.4.23", packageVersion: "3.4.23-4+b4" } }), online: true });
        const url = "https://example.invalid/v3.5.x/etcd.tar.gz";
        expect(plan.releases.map((r) => describeSource(r, url))).toEqual([
            "etcd 3.4.23: this machine's own etcd-server package 3.4.23-4+b4",
            `etcd ${newestPinned("3.5")}: official release tarball ${url}, SHA-256 checked against the pinned table`,
            `etcd ${newestPinned("3.6")}: official release tarball ${url}, SHA-256 checked against the pinned table`,
        ]);
    });
});
