// Tests and the bench pick releases from the mirror by line; a missing line fails with what to do.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { newestMirrored } from "../../scripts/lib/mirror/mirrorLines";

let mirror: string;
beforeEach(() => {
    mirror = mkdtempSync(join(tmpdir(), "etcd-mirror-lines-"));
    for (const version of ["3.4.23", "3.5.9", "3.5.30", "3.5.31"]) {
        mkdirSync(join(mirror, `v${version}`));
        // 3.5.31 has a directory but no tarball (an interrupted fill): not a mirrored release.
        if (version !== "3.5.31") writeFileSync(join(mirror, `v${version}`, `etcd-v${version}-linux-amd64.tar.gz`), "");
    }
});
afterEach(() => rmSync(mirror, { recursive: true, force: true }));

test("the newest release of a line, by version order rather than text order", () => {
    expect(newestMirrored("3.5", mirror)).toBe("3.5.30");
    expect(newestMirrored("3.4", mirror)).toBe("3.4.23");
});

test("a line the mirror lacks fails naming the line, what the mirror holds and what to run", () => {
    expect(() => newestMirrored("3.6", mirror)).toThrow(
        `prerequisite missing: no etcd 3.6 release in ${mirror} (it holds: 3.5.30, 3.5.9, 3.4.23); run \`npm run setup\``,
    );
    expect(() => newestMirrored("3.5", join(mirror, "absent"))).toThrow("(it holds: nothing)");
});
