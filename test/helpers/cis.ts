// A CIS Kubernetes Benchmark auditor for a member's rendered configuration, reading it the way kube-bench reads a
// running etcd: every ETCD_* variable of the environment file is the flag of the same name (ETCD_CERT_FILE is
// --cert-file). It also checks what the benchmark takes for granted: that the files the flags name reach the
// member, that the data dir gets its owner and mode, and that the flags are etcd's whole configuration.
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { pemSha256 } from "../../components/render/memberUserData";
import { memberPaths, ports } from "../../components/render/paths";

/** What one member's user-data puts on the instance. */
export interface RenderedMember {
    /** The #cloud-config document itself. */
    userData: string;
    /** The environment file (/etc/etcd/etcd.env). */
    env: string;
    /** The systemd unit that starts etcd. */
    unit: string;
    /** The boot script, if cloud-init runs it (empty otherwise). */
    boot: string;
    /** Files written by cloud-init: path -> content. */
    files: Map<string, string>;
    /** Keys the boot script fetches from SSM: path -> parameter name. */
    fetched: Map<string, string>;
    /** The member's SSM parameters (name -> value) the reading was given. */
    parameters: Record<string, string>;
}

/**
 * Reads a #cloud-config document as cloud-init and the boot script would apply it: the files it writes, and
 * the certificates the boot script fetches from the member's SSM parameters (given as name -> value), which
 * it writes only when they match the SHA-256 that user-data names. Keys fetched from SSM are listed in
 * `fetched` only.
 */
export function memberFromUserData(userData: string, parameters: Record<string, string> = {}): RenderedMember {
    const doc = parse(userData);
    // cloud-init decodes gz+b64 entries (the compressed files of members without a role) before writing them.
    const files = new Map<string, string>(
        (doc.write_files ?? []).map((f: { path: string; content: string; encoding?: string }) => [
            f.path,
            f.encoding === "gz+b64" ? gunzipSync(Buffer.from(f.content, "base64")).toString("utf8") : f.content,
        ]),
    );
    const runs = (doc.runcmd ?? []).some((c: string | string[]) => (Array.isArray(c) ? c[0] : c) === memberPaths.bootScript);
    const boot = runs ? (files.get(memberPaths.bootScript) ?? "") : "";
    const prefix = /^readonly SSM_PREFIX='([^']*)'$/m.exec(boot)?.[1] ?? "";
    const fetches = [...boot.matchAll(/^\s*fetch_ssm ([a-z]+\.(?:crt|key))(?: '([0-9a-f]{64})')?$/gm)].map((m) => ({
        path: `${memberPaths.pkiDir}/${m[1]}`,
        name: `${prefix}/${m[1]}`,
        sha256: m[2],
    }));
    for (const f of fetches) {
        const value = parameters[f.name];
        if (f.sha256 && value !== undefined && pemSha256(value) === f.sha256) {
            files.set(f.path, value);
        }
    }
    const fetched = new Map(fetches.filter((f) => !f.sha256).map((f) => [f.path, f.name]));
    return { userData, env: files.get(memberPaths.environmentFile) ?? "", unit: files.get(memberPaths.unitFile) ?? "", boot, files, fetched, parameters };
}

/** The flags an environment file sets, as systemd's EnvironmentFile= reads it (comments skipped, the last assignment wins). */
export function flagsOf(envFile: string): Record<string, string> {
    const flags: Record<string, string> = {};
    for (const line of envFile.split("\n")) {
        const m = /^\s*ETCD_([A-Z0-9_]+)=(.*)$/.exec(line);
        if (m) {
            flags[`--${m[1].toLowerCase().replace(/_/g, "-")}`] = m[2].trim();
        }
    }
    return flags;
}

/** Sets (or with `undefined` removes) one ETCD_* variable of an environment file: how the tests break a rendered configuration. */
export function withVariable(envFile: string, name: string, value: string | undefined): string {
    const lines = envFile.split("\n").filter((l) => !l.startsWith(`${name}=`));
    if (value !== undefined) {
        lines.splice(lines[lines.length - 1] === "" ? lines.length - 1 : lines.length, 0, `${name}=${value}`);
    }
    return lines.join("\n");
}

/** What the auditor needs to know about the member besides its files. */
export interface CisExpectations {
    /** PEM of the CA that this etcd cluster alone uses (CIS 2.7). */
    clusterCaPem: string;
    /** The member's own address. */
    memberIp: string;
    /** Whether metrics may also be served (plaintext) on the member's address. */
    metricsOnMemberAddress: boolean;
    /** Whether this etcd version accepts --tls-min-version (3.4.25+, 3.5.8+, 3.6). */
    tlsVersionFlags: boolean;
    /** The common name of the members' peer certificates. */
    peerCommonName: string;
}

/** CIS ids, and the further properties the Security section of the README claims. */
export const checkIds = [
    "2.1",
    "2.2",
    "2.3",
    "2.4",
    "2.5",
    "2.6",
    "2.7",
    "1.1.11",
    "1.1.12",
    "env-only",
    "plaintext-listener",
    "tls-min-version",
    "cipher-suites",
    "peer-cn",
] as const;
export type CheckId = (typeof checkIds)[number];

/** TLS 1.2 suites with forward secrecy and an AEAD cipher. */
const strongTls12Suite = /^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_(128_GCM_SHA256|256_GCM_SHA384)|CHACHA20_POLY1305(_SHA256)?)$/;

const samePem = (a: string | undefined, b: string) => a !== undefined && a.trim() === b.trim();

/** The body of a bash function `name() { ... }` of the boot script. */
function functionBody(script: string, name: string): string {
    return new RegExp(`^${name}\\(\\) \\{\\n([\\s\\S]*?)\\n\\}$`, "m").exec(script)?.[1] ?? "";
}

/** Audits one member; returns the ids of the checks that fail, in `checkIds` order. */
export function failedChecks(m: RenderedMember, e: CisExpectations): CheckId[] {
    const flags = flagsOf(m.env);
    const failed = new Set<CheckId>();
    const written = (path: string | undefined) => path !== undefined && path !== "" && m.files.has(path);
    const delivered = (path: string | undefined) => written(path) || (path !== undefined && m.fetched.has(path));

    // The flags are etcd's configuration only if the unit reads this file and etcd no config file.
    const execStart = /^ExecStart=(.*)$/m.exec(m.unit)?.[1].trim();
    const envFiles = [...m.unit.matchAll(/^EnvironmentFile=-?(.*)$/gm)].map((x) => x[1].trim());
    if (flags["--config-file"] !== undefined || execStart !== `${memberPaths.binDir}/etcd` || !envFiles.includes(memberPaths.environmentFile)) {
        failed.add("env-only");
    }

    // 2.1 / 2.4: set, and naming files that reach the member (certificates in user-data, keys in user-data or from SSM).
    if (!written(flags["--cert-file"]) || !delivered(flags["--key-file"])) failed.add("2.1");
    if (flags["--client-cert-auth"] !== "true") failed.add("2.2");
    if (flags["--auto-tls"] === "true") failed.add("2.3");
    if (!written(flags["--peer-cert-file"]) || !delivered(flags["--peer-key-file"])) failed.add("2.4");
    if (flags["--peer-client-cert-auth"] !== "true") failed.add("2.5");
    if (flags["--peer-auto-tls"] === "true") failed.add("2.6");
    // 2.7: both trust files hold exactly the cluster's own CA.
    if (
        !samePem(m.files.get(flags["--trusted-ca-file"] ?? ""), e.clusterCaPem) ||
        !samePem(m.files.get(flags["--peer-trusted-ca-file"] ?? ""), e.clusterCaPem)
    ) {
        failed.add("2.7");
    }

    // 1.1.11 / 1.1.12: the boot script, run by cloud-init, sets owner and mode on the mounted data dir, before etcd starts.
    const dataDir = flags["--data-dir"];
    const prepare = functionBody(m.boot, "prepare_data_volume");
    const main = functionBody(m.boot, "main");
    const mounted = prepare.search(/^\s*mountpoint -q "\$DATA_DIR" \|\| systemctl start \S+\.mount$/m);
    const dataDirReady =
        dataDir !== undefined &&
        new RegExp(`^readonly DATA_DIR=${dataDir}$`, "m").test(m.boot) &&
        mounted >= 0 &&
        main.indexOf("prepare_data_volume") >= 0 &&
        main.indexOf("prepare_data_volume") < main.indexOf("start_etcd");
    const after = (pattern: RegExp) => {
        const at = prepare.search(pattern);
        return dataDirReady && at > mounted;
    };
    if (!after(/^\s*chmod 0?[0-7]00 "\$DATA_DIR"$/m)) failed.add("1.1.11");
    if (!after(/^\s*chown etcd:etcd "\$DATA_DIR"$/m)) failed.add("1.1.12");

    // No plaintext listener except metrics on loopback (and on the member's address when asked for).
    const metricsAllowed = new Set([`http://127.0.0.1:${ports.metrics}`, ...(e.metricsOnMemberAddress ? [`http://${e.memberIp}:${ports.metrics}`] : [])]);
    for (const [flag, value] of Object.entries(flags)) {
        if (!flag.endsWith("-urls")) continue;
        for (const url of value.split(",")) {
            if (url.startsWith("https://")) continue;
            if (flag === "--listen-metrics-urls" && metricsAllowed.has(url)) continue;
            failed.add("plaintext-listener");
        }
    }
    // The initial cluster is decided at first start (https peer URLs only); when a configuration names one, it is checked.
    const initial = flags["--initial-cluster"];
    if (initial !== undefined && !initial.split(",").every((member) => /=https:\/\//.test(member))) failed.add("plaintext-listener");

    // TLS floor where the version has the flag; TLS 1.2 suites restricted to ECDHE with AEAD ciphers.
    const minVersion = flags["--tls-min-version"];
    if (e.tlsVersionFlags ? minVersion !== "TLS1.2" && minVersion !== "TLS1.3" : minVersion !== undefined) failed.add("tls-min-version");
    const suites = flags["--cipher-suites"];
    if (minVersion === "TLS1.3" ? suites !== undefined : !suites || !suites.split(",").every((s) => strongTls12Suite.test(s))) failed.add("cipher-suites");

    if (flags["--peer-cert-allowed-cn"] !== e.peerCommonName) failed.add("peer-cn");

    return checkIds.filter((id) => failed.has(id));
}
