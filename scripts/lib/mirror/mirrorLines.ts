// The releases the tests and the bench run are whatever the local release mirror holds per minor line ("the
// newest 3.5", "a 3.4"), never a fixed patch version: `npm run setup` fills it from the sources it can reach.
import { join } from "path";
import { mirroredVersions } from "../local/localRelease";

export const defaultMirrorDir = join(__dirname, "..", "..", "..", ".cache", "etcd-mirror");

/** The newest mirrored release of `line` ("3.5"); fails naming the line, what the mirror holds and what to run. */
export function newestMirrored(line: string, mirrorDir = defaultMirrorDir): string {
    const held = mirroredVersions(mirrorDir);
    const found = held.find((v) => v.startsWith(`${line}.`));
    if (!found) {
        throw new Error(
            `prerequisite missing: no etcd ${line} release in ${mirrorDir} (it holds: ${held.join(", ") || "nothing"}); ` +
                "run `npm run setup`, which fills it from the official releases or the distribution's packages and names any line no source offers",
        );
    }
    return found;
}
