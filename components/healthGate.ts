import * as fs from "fs";
import * as path from "path";

/** File name of the readiness check under scripts/. */
export const healthGateScriptName = "etcd-health-gate.sh";

/**
 * The readiness check's text. It is passed to the command inline rather than by path, so that the
 * preview does not differ between machines that keep the package in different places. The script sits in
 * scripts/ beside components/ in the repository and beside bin/ in the published package (whose modules are
 * in bin/components/). `moduleDir` is this module's directory.
 */
export function healthGateScript(moduleDir: string = __dirname): string {
    const candidates = [path.resolve(moduleDir, "..", "scripts", healthGateScriptName), path.resolve(moduleDir, "..", "..", "scripts", healthGateScriptName)];
    for (const candidate of candidates) {
        if (fs.existsSync(candidate)) {
            return fs.readFileSync(candidate, "utf8");
        }
    }
    throw new Error(`the readiness check ${healthGateScriptName} is missing (looked in ${candidates.join(", ")})`);
}
