// Setup reads the archive from the machine's own apt sources (deb822 and one-line, Debian and Ubuntu layouts)
// and changes only the suite. Host names here are placeholders.
import { distributionArchive, parseDeb822Sources, parseOneLineSources, parseOsRelease, sourceLineForSuite } from "../../scripts/lib/mirror/aptSources";

const debian = { id: "debian", codename: "bookworm" };
const ubuntuNoble = { id: "ubuntu", codename: "noble" };
const ubuntuJammy = { id: "ubuntu", codename: "jammy" };

// Debian 12 and 13 images: /etc/apt/sources.list.d/debian.sources.
const debianSources = `Types: deb
# a comment between fields
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

// Ubuntu 24.04: /etc/apt/sources.list.d/ubuntu.sources, plus a vendor repository that reuses the codename as its suite.
const ubuntuSources = `Types: deb
URIs: http://security.example/ubuntu/
Suites: noble-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb deb-src
URIs: http://archive.example/ubuntu/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
`;
const vendorSources = `Types: deb
URIs: https://vendor.example/ubuntu/24.04/prod
Suites: noble
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg
`;
// With an inline key instead of a keyring file, and a disabled entry.
const inlineKeySources = `Types: deb
URIs: http://archive.example/debian
Suites: trixie
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD3K87ZM18gzyQZJD+w
 -----END PGP PUBLIC KEY BLOCK-----

Enabled: no
Types: deb
URIs: http://old.example/debian
Suites: trixie
Components: main
`;

// Ubuntu 22.04: the one-line /etc/apt/sources.list.
const jammyList = `# See http://help.example/community/UpgradeNotes
deb http://archive.example/ubuntu/ jammy main restricted
deb-src http://archive.example/ubuntu/ jammy main restricted
deb http://archive.example/ubuntu/ jammy-updates main restricted universe
deb http://archive.example/ubuntu/ jammy universe
deb [arch=amd64 signed-by=/usr/share/keyrings/vendor.gpg] https://vendor.example/ubuntu jammy main
deb http://security.example/ubuntu/ jammy-security main restricted
`;

describe("parsing", () => {
    test("deb822 stanzas: fields, several suites, comments; a deb-src-only or disabled stanza is left out", () => {
        expect(parseDeb822Sources(debianSources)).toEqual([
            {
                uris: ["http://archive.example/debian"],
                suites: ["bookworm", "bookworm-updates"],
                components: ["main"],
                signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg",
            },
            {
                uris: ["http://archive.example/debian-security"],
                suites: ["bookworm-security"],
                components: ["main"],
                signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg",
            },
        ]);
        expect(parseDeb822Sources("Types: deb-src\nURIs: http://a.example/debian\nSuites: sid\nComponents: main\n")).toEqual([]);
        const inline = parseDeb822Sources(inlineKeySources);
        expect(inline).toEqual([{ uris: ["http://archive.example/debian"], suites: ["trixie"], components: ["main", "contrib"] }]);
    });

    test("one-line sources: options, deb-src and comments", () => {
        const entries = parseOneLineSources(jammyList);
        expect(entries).toHaveLength(5);
        expect(entries[0]).toEqual({ uris: ["http://archive.example/ubuntu/"], suites: ["jammy"], components: ["main", "restricted"] });
        expect(entries[3]).toEqual({
            uris: ["https://vendor.example/ubuntu"],
            suites: ["jammy"],
            components: ["main"],
            signedBy: "/usr/share/keyrings/vendor.gpg",
        });
    });

    test("os-release of Debian and Ubuntu", () => {
        expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_CODENAME=trixie\n')).toEqual({
            id: "debian",
            codename: "trixie",
        });
        expect(parseOsRelease('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=jammy\nUBUNTU_CODENAME=jammy\n')).toEqual(ubuntuJammy);
    });
});

describe("the distribution's archive", () => {
    test("Debian deb822: the main archive, not the security one", () => {
        const archive = distributionArchive(parseDeb822Sources(debianSources), debian)!;
        expect(archive.uris).toEqual(["http://archive.example/debian"]);
        expect(sourceLineForSuite(archive, "unstable", debian)).toBe(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://archive.example/debian unstable main",
        );
    });

    test("Debian one-line sources.list without signed-by: the distribution's keyring is named", () => {
        const archive = distributionArchive(parseOneLineSources("deb http://archive.example/debian bookworm main\n"), debian)!;
        expect(sourceLineForSuite(archive, "unstable", debian)).toBe(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://archive.example/debian unstable main",
        );
    });

    test("Ubuntu 24.04 deb822 with a vendor repository on the same suite name: the Ubuntu archive, its components kept", () => {
        for (const sources of [
            [...parseDeb822Sources(vendorSources), ...parseDeb822Sources(ubuntuSources)],
            [...parseDeb822Sources(ubuntuSources), ...parseDeb822Sources(vendorSources)],
        ]) {
            const archive = distributionArchive(sources, ubuntuNoble)!;
            expect(sourceLineForSuite(archive, "devel", ubuntuNoble)).toBe(
                "deb [signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg] http://archive.example/ubuntu/ devel main restricted universe multiverse",
            );
        }
    });

    test("Ubuntu 22.04 one-line: the entry next to jammy-updates, not the vendor's", () => {
        const archive = distributionArchive(parseOneLineSources(jammyList), ubuntuJammy)!;
        expect(archive.uris).toEqual(["http://archive.example/ubuntu/"]);
        expect(sourceLineForSuite(archive, "noble", ubuntuJammy)).toMatch(
            /^deb \[signed-by=\/usr\/share\/keyrings\/ubuntu-archive-keyring\.gpg\] http:\/\/archive\.example\/ubuntu\/ noble /,
        );
    });

    test("no entry for the release, or two indistinguishable ones: none is guessed", () => {
        expect(distributionArchive(parseDeb822Sources(debianSources), { id: "debian", codename: "trixie" })).toBeUndefined();
        const twoPlain = parseOneLineSources("deb http://a.example/debian bookworm main\ndeb http://b.example/other bookworm main\n");
        expect(distributionArchive(twoPlain, debian)).toBeUndefined();
        expect(distributionArchive(parseDeb822Sources(vendorSources), ubuntuNoble)).toBeUndefined();
    });
});
