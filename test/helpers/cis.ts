import { memberPaths } from "../../components/render/paths";

/** The etcd flags kube-bench audits, as the ETCD_* variables of the environment file set them. */
export function flagsOf(envFile: string): Record<string, string> {
    const flags: Record<string, string> = {};
    for (const line of envFile.split("\n")) {
        const m = /^ETCD_([A-Z0-9_]+)=(.*)$/.exec(line);
        if (m) {
            flags[`--${m[1].toLowerCase().replace(/_/g, "-")}`] = m[2];
        }
    }
    return flags;
}

/**
 * The CIS Kubernetes Benchmark etcd checks 2.1-2.7 over an env file's flags; returns the ids that fail.
 * `clusterCaFile` is the CA that only this etcd cluster uses (2.7).
 */
export function failedCisChecks(flags: Record<string, string>, clusterCaFile = memberPaths.caCert): string[] {
    const failed: string[] = [];
    if (!flags["--cert-file"] || !flags["--key-file"]) failed.push("2.1");
    if (flags["--client-cert-auth"] !== "true") failed.push("2.2");
    if (flags["--auto-tls"] === "true") failed.push("2.3");
    if (!flags["--peer-cert-file"] || !flags["--peer-key-file"]) failed.push("2.4");
    if (flags["--peer-client-cert-auth"] !== "true") failed.push("2.5");
    if (flags["--peer-auto-tls"] === "true") failed.push("2.6");
    if (flags["--trusted-ca-file"] !== clusterCaFile || flags["--peer-trusted-ca-file"] !== clusterCaFile) failed.push("2.7");
    return failed;
}
