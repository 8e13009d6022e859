// Real keys and X.509 certificates, made with the openssl CLI, for the inputs of @pulumi/tls resources.
// Tests and the local cluster use them where the tls provider plugin cannot run: what the component asks
// for (SANs, usages, CA flag, validity) is what the certificate holds.
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

export interface TlsSubject {
    commonName?: string;
    organization?: string;
    organizationalUnit?: string;
}

export interface PrivateKeyInputs {
    algorithm: "RSA" | "ECDSA" | "ED25519";
    ecdsaCurve?: "P224" | "P256" | "P384" | "P521";
    rsaBits?: number;
}

export interface GeneratedKey {
    privateKeyPem: string;
    privateKeyPemPkcs8: string;
    publicKeyPem: string;
}

export interface SelfSignedCertInputs {
    privateKeyPem: string;
    subject?: TlsSubject;
    isCaCertificate?: boolean;
    validityPeriodHours: number;
    allowedUses: string[];
    dnsNames?: string[];
    ipAddresses?: string[];
}

export interface CertRequestInputs {
    privateKeyPem: string;
    subject?: TlsSubject;
    dnsNames?: string[];
    ipAddresses?: string[];
}

export interface LocallySignedCertInputs {
    certRequestPem: string;
    caCertPem: string;
    caPrivateKeyPem: string;
    validityPeriodHours: number;
    allowedUses: string[];
    isCaCertificate?: boolean;
}

// The tls provider's allowed_uses, in openssl's extension vocabulary.
const keyUsages: Record<string, string> = {
    digital_signature: "digitalSignature",
    content_commitment: "nonRepudiation",
    key_encipherment: "keyEncipherment",
    data_encipherment: "dataEncipherment",
    key_agreement: "keyAgreement",
    cert_signing: "keyCertSign",
    crl_signing: "cRLSign",
    encipher_only: "encipherOnly",
    decipher_only: "decipherOnly",
};
const extendedKeyUsages: Record<string, string> = {
    any_extended: "anyExtendedKeyUsage",
    server_auth: "serverAuth",
    client_auth: "clientAuth",
    code_signing: "codeSigning",
    email_protection: "emailProtection",
    timestamping: "timeStamping",
    ocsp_signing: "OCSPSigning",
};

const curves: Record<string, string> = { P224: "P-224", P256: "P-256", P384: "P-384", P521: "P-521" };

// A config with no default extensions: the certificate gets exactly the extensions asked for.
const minimalConfig = "[req]\ndistinguished_name = dn\n[dn]\n";

function withWorkDir<T>(fn: (dir: string) => T): T {
    const dir = mkdtempSync(join(tmpdir(), "etcd-tls-"));
    try {
        return fn(dir);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

const openssl = (args: string[], cwd: string): string => execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** "/CN=.../O=..." with the characters -subj treats specially escaped. */
function subjectArg(subject: TlsSubject | undefined): string {
    const escape = (v: string) => v.replace(/[\\/+=]/g, (c) => `\\${c}`);
    const parts: string[] = [];
    if (subject?.commonName) parts.push(`CN=${escape(subject.commonName)}`);
    if (subject?.organization) parts.push(`O=${escape(subject.organization)}`);
    if (subject?.organizationalUnit) parts.push(`OU=${escape(subject.organizationalUnit)}`);
    return `/${parts.join("/")}`;
}

function usageExtensions(allowedUses: string[], isCa: boolean): string[] {
    const unknown = allowedUses.filter((u) => !(u in keyUsages) && !(u in extendedKeyUsages));
    if (unknown.length > 0) {
        throw new Error(`allowedUses: unknown value(s) ${unknown.join(", ")}`);
    }
    const ku = allowedUses.filter((u) => u in keyUsages).map((u) => keyUsages[u]);
    const eku = allowedUses.filter((u) => u in extendedKeyUsages).map((u) => extendedKeyUsages[u]);
    return [
        isCa ? "basicConstraints=critical,CA:TRUE" : "basicConstraints=critical,CA:FALSE",
        ...(ku.length ? [`keyUsage=critical,${ku.join(",")}`] : []),
        ...(eku.length ? [`extendedKeyUsage=${eku.join(",")}`] : []),
        "subjectKeyIdentifier=hash",
    ];
}

function sanExtension(dnsNames: string[] = [], ipAddresses: string[] = []): string[] {
    const names = [...dnsNames.map((d) => `DNS:${d}`), ...ipAddresses.map((ip) => `IP:${ip}`)];
    for (const n of names) {
        if (/[,\n]/.test(n)) {
            throw new Error(`subject alternative name ${JSON.stringify(n)} is not a single name`);
        }
    }
    return names.length ? [`subjectAltName=${names.join(",")}`] : [];
}

const validityDays = (hours: number) => String(Math.max(1, Math.ceil(hours / 24)));
const serial = () => `0x${randomBytes(16).toString("hex").replace(/^./, "1")}`;

/** A new private key: SEC1/PKCS#1 PEM (as the tls provider's privateKeyPem), PKCS#8 and the public key. */
export function generatePrivateKey(inputs: PrivateKeyInputs): GeneratedKey {
    return withWorkDir((dir) => {
        const algorithm = inputs.algorithm ?? "RSA";
        if (algorithm === "ECDSA") {
            const curve = curves[inputs.ecdsaCurve ?? "P224"];
            if (!curve) throw new Error(`ecdsaCurve: expected one of ${Object.keys(curves).join(", ")}, got ${inputs.ecdsaCurve}`);
            openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`, "-out", "pkcs8.pem"], dir);
            openssl(["ec", "-in", "pkcs8.pem", "-out", "key.pem"], dir);
        } else if (algorithm === "RSA") {
            openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${inputs.rsaBits ?? 2048}`, "-out", "pkcs8.pem"], dir);
            openssl(["rsa", "-in", "pkcs8.pem", "-traditional", "-out", "key.pem"], dir);
        } else if (algorithm === "ED25519") {
            openssl(["genpkey", "-algorithm", "ED25519", "-out", "pkcs8.pem"], dir);
            openssl(["pkey", "-in", "pkcs8.pem", "-out", "key.pem"], dir);
        } else {
            throw new Error(`algorithm: expected RSA, ECDSA or ED25519, got ${String(algorithm)}`);
        }
        openssl(["pkey", "-in", "pkcs8.pem", "-pubout", "-out", "pub.pem"], dir);
        const read = (f: string) => readFileSync(join(dir, f), "utf8");
        return { privateKeyPem: read("key.pem"), privateKeyPemPkcs8: read("pkcs8.pem"), publicKeyPem: read("pub.pem") };
    });
}

/** A self-signed certificate (the cluster's CA) with exactly the requested usages and names. */
export function selfSignedCert(inputs: SelfSignedCertInputs): string {
    return withWorkDir((dir) => {
        writeFileSync(join(dir, "key.pem"), inputs.privateKeyPem);
        writeFileSync(join(dir, "req.cnf"), minimalConfig);
        const exts = [...usageExtensions(inputs.allowedUses, inputs.isCaCertificate === true), ...sanExtension(inputs.dnsNames, inputs.ipAddresses)];
        openssl(
            [
                "req",
                "-x509",
                "-new",
                "-utf8",
                "-config",
                "req.cnf",
                "-key",
                "key.pem",
                "-subj",
                subjectArg(inputs.subject),
                "-days",
                validityDays(inputs.validityPeriodHours),
                "-set_serial",
                serial(),
                "-sha256",
                ...exts.flatMap((e) => ["-addext", e]),
                "-out",
                "cert.pem",
            ],
            dir,
        );
        return readFileSync(join(dir, "cert.pem"), "utf8");
    });
}

/** A certificate signing request carrying the subject and the subject alternative names. */
export function certRequest(inputs: CertRequestInputs): string {
    return withWorkDir((dir) => {
        writeFileSync(join(dir, "key.pem"), inputs.privateKeyPem);
        writeFileSync(join(dir, "req.cnf"), minimalConfig);
        const exts = sanExtension(inputs.dnsNames, inputs.ipAddresses);
        openssl(
            [
                "req",
                "-new",
                "-utf8",
                "-config",
                "req.cnf",
                "-key",
                "key.pem",
                "-subj",
                subjectArg(inputs.subject),
                "-sha256",
                ...exts.flatMap((e) => ["-addext", e]),
                "-out",
                "csr.pem",
            ],
            dir,
        );
        return readFileSync(join(dir, "csr.pem"), "utf8");
    });
}

/** Signs a request with the CA: the request's names are copied, the usages are the signer's choice. */
export function locallySignedCert(inputs: LocallySignedCertInputs): string {
    return withWorkDir((dir) => {
        writeFileSync(join(dir, "csr.pem"), inputs.certRequestPem);
        writeFileSync(join(dir, "ca.pem"), inputs.caCertPem);
        writeFileSync(join(dir, "ca.key"), inputs.caPrivateKeyPem);
        const exts = [...usageExtensions(inputs.allowedUses, inputs.isCaCertificate === true), "authorityKeyIdentifier=keyid"];
        writeFileSync(join(dir, "ext.cnf"), `[ext]\n${exts.join("\n")}\n`);
        openssl(
            [
                "x509",
                "-req",
                "-in",
                "csr.pem",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                serial(),
                "-sha256",
                "-days",
                validityDays(inputs.validityPeriodHours),
                "-extfile",
                "ext.cnf",
                "-extensions",
                "ext",
                "-copy_extensions",
                "copy",
                "-out",
                "cert.pem",
            ],
            dir,
        );
        return readFileSync(join(dir, "cert.pem"), "utf8");
    });
}
