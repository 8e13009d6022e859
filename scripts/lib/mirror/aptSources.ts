// The machine's own apt sources, read to find its distribution's archive: setup fetches other suites of that
// same archive (never a host of its own choosing), with the same components and keyring.

/** One `deb` entry: a deb822 stanza or a one-line `sources.list` line. */
export interface AptSource {
    uris: string[];
    suites: string[];
    components: string[];
    /** A keyring file, when the entry names one (an inline key block is not kept). */
    signedBy?: string;
}

/** The distribution, from /etc/os-release. */
export interface OsRelease {
    /** "debian" or "ubuntu" */
    id: string;
    /** "bookworm", "noble", ... */
    codename: string;
}

/** Parses /etc/os-release. */
export function parseOsRelease(text: string): OsRelease {
    const fields = new Map<string, string>();
    for (const line of text.split("\n")) {
        const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
        if (m) fields.set(m[1], m[2].replace(/^["']|["']$/g, ""));
    }
    const id = fields.get("ID") ?? "";
    const codename = fields.get("VERSION_CODENAME") ?? fields.get("UBUNTU_CODENAME") ?? "";
    return { id, codename };
}

/** Parses a deb822 `.sources` file; entries that are disabled or not of type `deb` are left out. */
export function parseDeb822Sources(text: string): AptSource[] {
    const sources: AptSource[] = [];
    // Stanzas are separated by blank lines; comment lines are ignored; continuation lines start with a space.
    const stanzas = text
        .split("\n")
        .filter((line) => !line.startsWith("#"))
        .join("\n")
        .split(/\n[ \t]*\n/);
    for (const stanza of stanzas) {
        const fields = new Map<string, string>();
        let last: string | undefined;
        for (const line of stanza.split("\n")) {
            if (/^[ \t]/.test(line) && last) {
                fields.set(last, `${fields.get(last)}\n${line.trim()}`);
                continue;
            }
            const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
            if (m) {
                last = m[1].toLowerCase();
                fields.set(last, m[2].trim());
            }
        }
        const words = (name: string) => (fields.get(name) ?? "").split(/\s+/).filter(Boolean);
        if (!words("types").includes("deb") || fields.get("enabled")?.toLowerCase() === "no") continue;
        const signedBy = fields.get("signed-by");
        sources.push({
            uris: words("uris"),
            suites: words("suites"),
            components: words("components"),
            ...(signedBy && !signedBy.includes("\n") && signedBy.startsWith("/") ? { signedBy } : {}),
        });
    }
    return sources.filter((s) => s.uris.length && s.suites.length);
}

/** Parses a one-line `sources.list`: `deb [options] URI SUITE COMPONENT...`; `deb-src` and comments are left out. */
export function parseOneLineSources(text: string): AptSource[] {
    const sources: AptSource[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.replace(/#.*$/, "").trim();
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
        if (!m) continue;
        const options = new Map(
            (m[1] ?? "")
                .split(/\s+/)
                .filter(Boolean)
                .map((o) => o.split("=") as [string, string]),
        );
        const signedBy = options.get("signed-by");
        sources.push({
            uris: [m[2]],
            suites: [m[3]],
            components: m[4].split(/\s+/).filter(Boolean),
            ...(signedBy ? { signedBy } : {}),
        });
    }
    return sources;
}

/** The distribution's archive keyring, as installed by debian-archive-keyring / ubuntu-keyring. */
export const archiveKeyring = (os: OsRelease) => `/usr/share/keyrings/${os.id}-archive-keyring.gpg`;

/**
 * The entry of the distribution's own archive: it carries the release's own suite, and is signed by the
 * distribution's keyring or sits next to the release's `-updates` suite. A third-party repository that reuses
 * the codename as its suite (and is signed by its own key) is not taken; the security archive carries only
 * `<codename>-security`.
 */
export function distributionArchive(sources: AptSource[], os: OsRelease): AptSource | undefined {
    const withUpdates = new Set(sources.filter((s) => s.suites.includes(`${os.codename}-updates`)).flatMap((s) => s.uris));
    const score = (s: AptSource) => {
        if (!s.suites.includes(os.codename)) return -1;
        if (s.signedBy && s.signedBy !== archiveKeyring(os)) return -1;
        return (s.signedBy ? 2 : 0) + (s.uris.some((u) => withUpdates.has(u)) ? 1 : 0);
    };
    const ranked = sources
        .map((s) => ({ s, score: score(s) }))
        .filter((r) => r.score >= 0)
        .sort((a, b) => b.score - a.score);
    // With no keyring and no -updates suite to tell them apart, only a single candidate is taken.
    if (!ranked.length || (ranked[0].score === 0 && ranked.length > 1)) return undefined;
    const best = ranked[0].s;
    return { ...best, uris: [best.uris[0]] };
}

/** A one-line source for another suite of the same archive: only the suite changes. */
export function sourceLineForSuite(archive: AptSource, suite: string, os: OsRelease): string {
    return `deb [signed-by=${archive.signedBy ?? archiveKeyring(os)}] ${archive.uris[0]} ${suite} ${archive.components.join(" ")}`;
}
