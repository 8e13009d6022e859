import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { EtcdCaArgs, KeyAlgorithm } from "./args";
import { clientCommonName, peerCommonName } from "./render/paths";

/** Parameters of one certificate, as plain values (tested without any resource). */
export interface CertificateParams {
    commonName: string;
    organization: string;
    ipAddresses: string[];
    dnsNames: string[];
    allowedUses: string[];
}

const serverUses = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];

/** A member's serving certificate: its own IP, loopback and localhost; serverAuth for clients, clientAuth for etcdctl on the host. */
export function serverCertificateParams(memberName: string, ip: string): CertificateParams {
    return {
        commonName: memberName,
        organization: "etcd",
        ipAddresses: [ip, "127.0.0.1"],
        dnsNames: ["localhost"],
        allowedUses: serverUses,
    };
}

/** A member's peer certificate: used to listen and to dial, so serverAuth and clientAuth; etcd matches the IP SAN to the remote address. */
export function peerCertificateParams(ip: string): CertificateParams {
    return { commonName: peerCommonName, organization: "etcd", ipAddresses: [ip], dnsNames: [], allowedUses: serverUses };
}

/** The client certificate for operators and kube-apiserver; CN "root" is etcd's root user once auth is on. */
export function clientCertificateParams(): CertificateParams {
    return {
        commonName: clientCommonName,
        organization: "etcd-clients",
        ipAddresses: [],
        dnsNames: [],
        allowedUses: ["digital_signature", "key_encipherment", "client_auth"],
    };
}

export const caValidityHours = 87600;

/** The cluster's CA: its certificate and key, as the signer of every other certificate. */
export interface ClusterCa {
    certPem: pulumi.Output<string>;
    privateKeyPem: pulumi.Output<string>;
}

/** A signed certificate with its key. */
export interface IssuedCertificate {
    certPem: pulumi.Output<string>;
    privateKeyPem: pulumi.Output<string>;
}

function privateKey(name: string, algorithm: KeyAlgorithm, opts: pulumi.CustomResourceOptions): tls.PrivateKey {
    return new tls.PrivateKey(name, algorithm === "ECDSA" ? { algorithm: "ECDSA", ecdsaCurve: "P256" } : { algorithm: "RSA", rsaBits: 2048 }, opts);
}

/** The cluster's own CA (CIS 2.7: unique to etcd), or the caller's. */
export function clusterCa(name: string, algorithm: KeyAlgorithm, supplied: EtcdCaArgs | undefined, opts: pulumi.CustomResourceOptions): ClusterCa {
    if (supplied) {
        return { certPem: pulumi.output(supplied.certPem), privateKeyPem: pulumi.secret(supplied.privateKeyPem) };
    }
    const key = privateKey(`${name}-ca-key`, algorithm, opts);
    const cert = new tls.SelfSignedCert(
        `${name}-ca`,
        {
            privateKeyPem: key.privateKeyPem,
            subject: { commonName: `${name} etcd CA`, organization: "etcd" },
            isCaCertificate: true,
            validityPeriodHours: caValidityHours,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
        },
        opts,
    );
    return { certPem: cert.certPem, privateKeyPem: key.privateKeyPem };
}

/** Issues a certificate signed by the CA; `ipAddresses` may be outputs (a member's fixed private IP). */
export function issueCertificate(
    name: string,
    ca: ClusterCa,
    algorithm: KeyAlgorithm,
    params: pulumi.Input<CertificateParams>,
    validityHours: number,
    opts: pulumi.CustomResourceOptions,
): IssuedCertificate {
    const key = privateKey(`${name}-key`, algorithm, opts);
    const p = pulumi.output(params);
    const request = new tls.CertRequest(
        `${name}-csr`,
        {
            privateKeyPem: key.privateKeyPem,
            subject: p.apply((v) => ({ commonName: v.commonName, organization: v.organization })),
            ipAddresses: p.ipAddresses,
            dnsNames: p.dnsNames,
        },
        opts,
    );
    const cert = new tls.LocallySignedCert(
        name,
        {
            certRequestPem: request.certRequestPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.privateKeyPem,
            validityPeriodHours: validityHours,
            // Re-issued by the first `pulumi up` within 30 days of expiry; members then roll one at a time.
            earlyRenewalHours: 720,
            allowedUses: p.allowedUses,
        },
        opts,
    );
    return { certPem: cert.certPem, privateKeyPem: key.privateKeyPem };
}
