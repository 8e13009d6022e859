// A certificate authority made by openssl, outside the component, as a caller brings one in the `ca` option.
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

/** A CA certificate with the given subject (ECDSA P-256, 30 days), and a comment extension when given. */
export function opensslCa(subject: string, comment?: string): { certPem: string; privateKeyPem: string } {
    const dir = mkdtempSync(join(tmpdir(), "etcd-caller-ca-"));
    try {
        execFileSync("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", subject,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt"), ...(comment ? ["-addext", `nsComment=${comment}`] : []),
        ], { stdio: "pipe" }); // prettier-ignore
        return { certPem: readFileSync(join(dir, "ca.crt"), "utf8"), privateKeyPem: readFileSync(join(dir, "ca.key"), "utf8") };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
