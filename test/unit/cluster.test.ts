// The component's resource graph under Pulumi mocks, with real TLS material: counts, zone spread, network
// rules, instance and volume settings, IAM scope, outputs, secrecy, and the certificates checked by openssl.
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parse } from "yaml";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { installStackMocks, RecordedResource, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";
import { findPrivateKeyLeaks } from "../helpers/secretScan";

jest.setTimeout(60_000);

const subnets = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: subnets };

let mocks: StackMocks;
let EtcdCluster: typeof EtcdClusterType;
const clusters: Record<string, EtcdClusterType> = {};
const warnings: string[] = [];

const T = {
    eni: "aws:ec2/networkInterface:NetworkInterface",
    volume: "aws:ebs/volume:Volume",
    instance: "aws:ec2/instance:Instance",
    attachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    group: "aws:ec2/securityGroup:SecurityGroup",
    parameter: "aws:ssm/parameter:Parameter",
    role: "aws:iam/role:Role",
    policy: "aws:iam/rolePolicy:RolePolicy",
    attachmentPolicy: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    profile: "aws:iam/instanceProfile:InstanceProfile",
    kms: "aws:kms/key:Key",
    key: "tls:index/privateKey:PrivateKey",
    selfSigned: "tls:index/selfSignedCert:SelfSignedCert",
    csr: "tls:index/certRequest:CertRequest",
    signed: "tls:index/locallySignedCert:LocallySignedCert",
    command: "command:local:Command",
};

/** The resources of one cluster: its component and every child named after it. */
const of = (cluster: string, type?: string): RecordedResource[] =>
    mocks.resources.filter((r) => (r.name === cluster || r.name.startsWith(`${cluster}-`)) && (type === undefined || r.type === type));

const build: Record<string, EtcdClusterArgs> = {
    prod: { ...base, clientCidrs: ["10.0.0.0/16"], clientSecurityGroupIds: ["sg-0apiserver"], tags: { team: "platform" } },
    five: { ...base, size: 5, metricsCidrs: ["10.9.0.0/24"] },
    pair: { ...base, subnetIds: subnets.slice(0, 2) },
    inline: {
        ...base,
        keyDelivery: "inline",
        readiness: { mode: "direct" },
        ami: "ami-0123456789abcdef0",
        dataVolume: { kmsKeyId: "alias/etcd-data" },
        backup: { enabled: false },
    },
    rsa: { ...base, tls: { keyAlgorithm: "RSA" }, readiness: { mode: "none" } },
    open: { ...base, clientCidrs: [pulumi.output("0.0.0.0/0")], allowPublicAccess: true, readiness: { mode: "none" } },
};

beforeAll(async () => {
    mocks = await installStackMocks();
    const warn = pulumi.log.warn;
    pulumi.log.warn = async (message: string) => {
        warnings.push(message);
    };
    ({ EtcdCluster } = await import("../../components"));
    for (const [name, args] of Object.entries(build)) {
        clusters[name] = new EtcdCluster(name, args);
    }
    await Promise.all(Object.values(clusters).map((c) => Promise.all([valueOf(c.members), valueOf(c.clientKeyPem), valueOf(c.caCertPem)])));
    await settled(mocks);
    pulumi.log.warn = warn;
});

describe("resource graph", () => {
    test.each([
        ["prod", 3],
        ["five", 5],
    ])("%s: one interface, data volume, instance, attachment, two certificates, two key and three certificate parameters per member", (name, size) => {
        const count = (type: string) => of(name, type).length;
        expect(count(T.eni)).toBe(size);
        expect(count(T.volume)).toBe(size);
        expect(count(T.instance)).toBe(size);
        expect(count(T.attachment)).toBe(size);
        // Five per member, and the cluster's discovery list (the membership functions ride in the tools object).
        expect(count(T.parameter)).toBe(5 * size + 1);
        expect(count(T.role)).toBe(size);
        // The key policy and the backup policy (backups are on by default).
        expect(count(T.policy)).toBe(2 * size);
        expect(of(name, T.policy).filter((p) => p.name.endsWith("-backup"))).toHaveLength(size);
        expect(count(T.profile)).toBe(size);
        expect(count(T.key)).toBe(2 + 2 * size); // CA, client, and server + peer per member
        expect(count(T.selfSigned)).toBe(1);
        expect(count(T.signed)).toBe(1 + 2 * size);
        expect(count(T.kms)).toBe(1);
        expect(count(T.group)).toBe(1);
        // One rolling gate per member, the final readiness gate, the image kept per architecture, and the backup
        // before a change (backups on, ssm readiness).
        expect(count(T.command)).toBe(size + 1 + 2 + 1);
        expect(of(name, T.command).filter((c) => c.name === `${name}-backup-before-change`)).toHaveLength(1);
    });

    test("members are spread round-robin over the subnets; each volume sits in its member's zone", () => {
        const zoneOf: Record<string, string> = { [subnets[0]]: "eu-west-1a", [subnets[1]]: "eu-west-1b", [subnets[2]]: "eu-west-1c" };
        const enis = of("five", T.eni);
        expect(enis.map((e) => e.inputs.subnetId)).toEqual([subnets[0], subnets[1], subnets[2], subnets[0], subnets[1]]);
        enis.forEach((eni, i) => {
            const volume = mocks.get(T.volume, `five-member-${i}-data`);
            expect(volume.inputs.availabilityZone).toBe(zoneOf[eni.inputs.subnetId]);
        });
    });

    test("security group: 2380 only from itself, 2379 from itself and the allowed clients, no metrics port unless asked, no SSH, nothing open to the world", () => {
        const group = mocks.get(T.group, "prod-members");
        const rules = of("prod", T.ingress).map((r) => ({
            port: r.inputs.fromPort,
            toPort: r.inputs.toPort,
            from: r.inputs.referencedSecurityGroupId === group.id ? "self" : (r.inputs.referencedSecurityGroupId ?? r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6),
        }));
        expect(rules.sort((a, b) => `${a.port}${a.from}`.localeCompare(`${b.port}${b.from}`))).toEqual([
            { port: 2379, toPort: 2379, from: "10.0.0.0/16" },
            { port: 2379, toPort: 2379, from: "self" },
            { port: 2379, toPort: 2379, from: "sg-0apiserver" },
            { port: 2380, toPort: 2380, from: "self" },
        ]);
        const fiveMetrics = of("five", T.ingress).filter((r) => r.inputs.fromPort === 2381);
        expect(fiveMetrics.map((r) => r.inputs.cidrIpv4)).toEqual(["10.9.0.0/24"]);
        for (const r of mocks.ofType(T.ingress).filter((rule) => !rule.name.startsWith("open-"))) {
            expect(r.inputs.fromPort).not.toBe(22);
            expect(r.inputs.cidrIpv4).not.toBe("0.0.0.0/0");
            expect(r.inputs.cidrIpv6).not.toBe("::/0");
        }
        const egress = of("prod", T.egress).map(
            (r) => `${r.inputs.fromPort}-${r.inputs.toPort} ${r.inputs.cidrIpv4 ?? (r.inputs.referencedSecurityGroupId === group.id ? "self" : "?")}`,
        );
        expect(egress.sort()).toEqual(["2379-2380 self", "443-443 0.0.0.0/0"]);
    });

    test("instances: IMDSv2 required with hop limit 1, encrypted gp3 root, replaced on user-data change, old one deleted first, default AMI from the image kept for the architecture", () => {
        for (const instance of mocks.ofType(T.instance)) {
            expect(instance.inputs.metadataOptions).toMatchObject({ httpTokens: "required", httpPutResponseHopLimit: 1 });
            expect(instance.inputs.rootBlockDevice).toMatchObject({ volumeType: "gp3", encrypted: true });
            expect(instance.inputs.userDataReplaceOnChange).toBe(true);
            expect(instance.deleteBeforeReplace).toBe(true);
            expect(instance.inputs.primaryNetworkInterface.networkInterfaceId).toMatch(/^eni-/);
        }
        // No ignoreChanges on the instance: a replacement must get the image of its own architecture.
        expect(mocks.ofType(T.instance).every((i) => i.ignoreChanges.length === 0)).toBe(true);
        expect(of("prod", T.instance).every((i) => i.inputs.ami === "ami-0a1b2c3d4e5f60718")).toBe(true);
        expect(of("inline", T.instance).every((i) => i.inputs.ami === "ami-0123456789abcdef0")).toBe(true);
        // The holders record the image once (create ignored afterwards); none with an explicit AMI.
        const holders = of("prod", T.command).filter((c) => c.name.startsWith("prod-image-"));
        expect(holders.map((c) => [c.name, c.inputs.create, c.ignoreChanges])).toEqual([
            ["prod-image-x86_64", "echo ami-0a1b2c3d4e5f60718", ["create"]],
            ["prod-image-arm64", "echo ami-0f9e8d7c6b5a40312", ["create"]],
        ]);
        expect(of("inline", T.command).filter((c) => c.name.startsWith("inline-image-"))).toEqual([]);
    });

    test("data volumes: encrypted SSD with the cluster's KMS key (or the caller's), protected, kept as a final snapshot if ever deleted", () => {
        const kmsArn = of("prod", T.kms)[0].outputs.arn;
        for (const v of of("prod", T.volume)) {
            expect(v.inputs).toMatchObject({ encrypted: true, kmsKeyId: kmsArn, type: "gp3", size: 32, iops: 3000, throughput: 125, finalSnapshot: true });
        }
        for (const v of mocks.ofType(T.volume)) {
            expect(v.protect).toBe(true);
        }
        // Nothing else is protected: the rest of the cluster can be rebuilt.
        expect(mocks.resources.filter((r) => r.protect && r.type !== T.volume)).toEqual([]);
    });

    test("a KMS alias for the volumes is resolved to the key ARN, the form EBS reads back (the property forces replacement)", () => {
        const keyArn = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
        for (const v of of("inline", T.volume)) {
            expect(v.inputs.kmsKeyId).toBe(keyArn);
        }
        for (const instance of of("inline", T.instance)) {
            expect(instance.inputs.rootBlockDevice.kmsKeyId).toBe(keyArn);
        }
        expect(mocks.invokes.filter((c) => c.token === "aws:kms/getKey:getKey").map((c) => c.args.keyId)).toContain("alias/etcd-data");
    });

    test("the cluster's KMS key is kept when the component is destroyed: final snapshots stay restorable", () => {
        for (const key of mocks.ofType(T.kms)) {
            expect(key.retainOnDelete).toBe(true);
            expect(key.inputs.deletionWindowInDays).toBe(30);
        }
    });

    test("each member's role reads its own five parameters and the cluster's discovery parameter, decrypts only its own two keys, and is denied every other parameter", () => {
        const kmsArn = of("prod", T.kms)[0].outputs.arn;
        const membership = of("prod", T.parameter)
            .filter((p) => p.name === "prod-members" || p.name === "prod-membership-functions")
            .map((p) => p.outputs.arn);
        expect(membership).toHaveLength(1);
        for (let i = 0; i < 3; i++) {
            const mine = of("prod", T.parameter).filter((p) => p.name.startsWith(`prod-member-${i}-`));
            const own = [...mine.map((p) => p.outputs.arn), ...membership].sort();
            const ownKeys = mine
                .filter((p) => p.inputs.type === "SecureString")
                .map((p) => p.outputs.arn)
                .sort();
            expect(own).toHaveLength(6);
            expect(ownKeys).toHaveLength(2);
            const policy = JSON.parse(mocks.get(T.policy, `prod-member-${i}-keys`).inputs.policy);
            expect(policy.Statement).toHaveLength(3);
            const [read, decrypt, deny] = policy.Statement;
            expect({ ...read, Resource: [...read.Resource].sort() }).toEqual({
                Sid: "OwnParameters",
                Effect: "Allow",
                Action: "ssm:GetParameter",
                Resource: own,
            });
            expect(decrypt.Action).toBe("kms:Decrypt");
            expect(decrypt.Resource).toBe(kmsArn);
            expect([...decrypt.Condition.StringEquals["kms:EncryptionContext:PARAMETER_ARN"]].sort()).toEqual(ownKeys);
            expect({ ...deny, NotResource: [...deny.NotResource].sort() }).toEqual({
                Sid: "NoOtherParameters",
                Effect: "Deny",
                Action: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"],
                NotResource: own,
            });
        }
    });

    test("inline key delivery creates no parameters and no role (direct readiness, backups off); readiness none creates no gates", () => {
        expect(of("inline", T.parameter)).toHaveLength(0);
        expect(of("inline", T.policy)).toHaveLength(0);
        expect(of("inline", T.role)).toHaveLength(0);
        expect(of("rsa", T.command).filter((c) => !c.name.startsWith("rsa-image-"))).toHaveLength(0);
    });

    test("the instance waits for its parameters and for its role's policies, not only for the instance profile", () => {
        for (let i = 0; i < 3; i++) {
            const dependsOn = mocks.get(T.instance, `prod-member-${i}`).dependsOn;
            for (const r of [
                mocks.get(T.policy, `prod-member-${i}-keys`),
                mocks.get(T.attachmentPolicy, `prod-member-${i}-ssm`),
                mocks.get(T.profile, `prod-member-${i}`),
                ...of("prod", T.parameter).filter((p) => p.name.startsWith(`prod-member-${i}-`)),
            ]) {
                expect(dependsOn).toContain(r.urn);
            }
        }
    });

    test("each member has a step whose create and update are the membership gate and whose delete removes the member (order: rollout.test.ts)", () => {
        for (let i = 0; i < 3; i++) {
            const gate = mocks.get(T.command, `prod-member-${i}-rolled`);
            expect(gate.urn).toMatch(/::etcd-cluster:index:EtcdCluster\$command:local:Command::prod-member-\d-rolled$/);
            expect(gate.inputs.update).toContain("etcd-health-gate");
            // At creation too: a member added to a running cluster must be a promoted voter before the next one;
            // only the backup before the next change is left out (a new cluster has nothing to back up).
            expect(gate.inputs.create).toBe(`unset ETCD_GATE_BACKUP\n${gate.inputs.update}`);
            expect(gate.inputs.environment.ETCD_GATE_MEMBERS.split(",")).toHaveLength(i + 1);
            expect(gate.inputs.delete).toContain("member remove");
        }
        const ready = mocks.get(T.command, "prod-ready");
        expect(ready.inputs.create).toContain("etcd-health-gate");
    });

    test("two clusters in one program do not collide: parameter paths and cluster tokens differ", () => {
        const token = (name: string) => /ETCD_INITIAL_CLUSTER_TOKEN=(\S+)/.exec(of(name, T.instance)[0].inputs.userData)?.[1];
        expect(token("prod")).toBeDefined();
        expect(token("prod")).not.toBe(token("five"));
        const paths = mocks.ofType(T.parameter).map((p) => p.inputs.name);
        expect(new Set(paths).size).toBe(paths.length);
    });

    test("warnings: a world-open CIDR known only as an output is warned about once it resolves", () => {
        expect(warnings).toContain("clientCidrs[0] 0.0.0.0/0: the port is open to the whole internet");
        expect(of("open", T.ingress).map((r) => r.inputs.cidrIpv4)).toContain("0.0.0.0/0");
    });

    test("warnings: 3 members over 2 zones lose quorum with a zone", () => {
        expect(warnings.some((w) => w.includes("3 members over 2 zone(s): losing one availability zone loses quorum"))).toBe(true);
    });
});

describe("outputs", () => {
    test("endpoints and members in member order, with their zones, fixed addresses and instances", async () => {
        const members = await valueOf(clusters.prod.members);
        const ips = of("prod", T.eni).map((e) => e.outputs.privateIp as string);
        ips.forEach((ip, i) => expect(ip).toMatch(new RegExp(`^10\\.0\\.${i + 1}\\.\\d+$`)));
        expect(await valueOf(clusters.prod.clientEndpoints)).toEqual(ips.map((ip) => `https://${ip}:2379`));
        expect(members.map((m) => [m.name, m.privateIp, m.availabilityZone, m.subnetId, m.clientUrl, m.peerUrl])).toEqual([
            ["prod-0", ips[0], "eu-west-1a", subnets[0], `https://${ips[0]}:2379`, `https://${ips[0]}:2380`],
            ["prod-1", ips[1], "eu-west-1b", subnets[1], `https://${ips[1]}:2379`, `https://${ips[1]}:2380`],
            ["prod-2", ips[2], "eu-west-1c", subnets[2], `https://${ips[2]}:2379`, `https://${ips[2]}:2380`],
        ]);
        expect(members.map((m) => m.instanceId)).toEqual(of("prod", T.instance).map((i) => i.id));
    });

    test("fault tolerance in members and whole zones", async () => {
        expect(await valueOf(clusters.prod.faultTolerance)).toEqual({ members: 1, zones: 1 });
        expect(await valueOf(clusters.pair.faultTolerance)).toEqual({ members: 1, zones: 0 });
        expect(await valueOf(clusters.five.faultTolerance)).toEqual({ members: 2, zones: 1 });
    });

    test("the client key is secret; certificates are not", async () => {
        expect(await pulumi.isSecret(clusters.prod.clientKeyPem)).toBe(true);
        expect(await pulumi.isSecret(clusters.prod.caCertPem)).toBe(false);
        expect(await pulumi.isSecret(clusters.prod.clientCertPem)).toBe(false);
    });
});

describe("secrecy", () => {
    test.each(Object.keys(build))("%s: no private key in any input that is not marked secret", (name) => {
        expect(findPrivateKeyLeaks(of(name))).toEqual([]);
    });

    test("the scan finds a key placed in a non-secret input (it is not a rubber stamp)", () => {
        const planted = {
            ...of("prod", T.instance)[0],
            inputs: { ...of("prod", T.instance)[0].inputs, tags: { note: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----" } },
        };
        expect(findPrivateKeyLeaks([planted])).toEqual([`${T.instance}::prod-member-0 input tags`]);
    });

    test("SSM delivery: key parameters are SecureString under the cluster key and secret, certificate parameters plain; user-data is not secret and holds only the member's parameter path", () => {
        const kmsArn = of("prod", T.kms)[0].outputs.arn;
        const keys = of("prod", T.parameter).filter((p) => p.name.endsWith("-key"));
        expect(keys).toHaveLength(6);
        for (const p of keys) {
            expect(p.inputs).toMatchObject({ type: "SecureString", keyId: kmsArn, tier: "Standard" });
            expect(p.secretInputs).toContain("value");
            expect(p.inputs.value).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
        }
        const certificates = of("prod", T.parameter).filter((p) => p.name.endsWith("-cert"));
        expect(certificates).toHaveLength(9);
        for (const p of certificates) {
            expect(p.inputs).toMatchObject({ type: "String", tier: "Standard" });
            expect(p.secretInputs).toEqual([]);
            expect(p.inputs.insecureValue).toMatch(/^-----BEGIN CERTIFICATE-----/);
        }
        of("prod", T.instance).forEach((instance, i) => {
            expect(instance.secretInputs).not.toContain("userData");
            expect(instance.inputs.userData).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
            expect(instance.inputs.userData).toMatch(new RegExp(`readonly SSM_PREFIX='/etcd/prod-[0-9a-f]{8}/prod-${i}'`));
        });
    });

    test("inline delivery: user-data carries the keys, so it is secret", () => {
        for (const instance of of("inline", T.instance)) {
            expect(instance.secretInputs).toContain("userData");
            expect(instance.inputs.userData).toMatch(/-----BEGIN EC PRIVATE KEY-----/);
        }
    });

    test("direct readiness: the gate's environment holds the client key, so it is secret", () => {
        const gate = mocks.get(T.command, "inline-ready");
        expect(gate.secretInputs).toContain("environment");
        expect(gate.inputs.environment.ETCD_GATE_KEY_PEM).toMatch(/PRIVATE KEY/);
    });
});

describe("certificates, checked with openssl", () => {
    let dir: string;
    beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "etcd-certs-"))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const save = (file: string, pem: string) => {
        writeFileSync(join(dir, file), pem);
        return join(dir, file);
    };
    const openssl = (...args: string[]) => execFileSync("openssl", args, { encoding: "utf8" });
    const text = (file: string) => openssl("x509", "-in", file, "-noout", "-text");
    const certOf = (name: string) => mocks.get(T.signed, name).outputs.certPem as string;
    const keyOf = (name: string) => mocks.get(T.key, `${name}-key`).outputs.privateKeyPem as string;

    test("the CA is a CA and every certificate verifies against it", () => {
        const ca = save("ca.pem", mocks.get(T.selfSigned, "prod-ca").outputs.certPem);
        expect(text(ca)).toMatch(/CA:TRUE/);
        expect(text(ca)).toMatch(/Certificate Sign/);
        for (const name of ["prod-client", "prod-member-0-server", "prod-member-0-peer", "prod-member-2-server"]) {
            expect(openssl("verify", "-CAfile", ca, save(`${name}.pem`, certOf(name))).trim()).toBe(`${join(dir, name)}.pem: OK`);
        }
    });

    test("server certificates: CN member name, SANs member IP, 127.0.0.1 and localhost, server and client auth", () => {
        for (let i = 0; i < 3; i++) {
            const t = text(save(`server-${i}.pem`, certOf(`prod-member-${i}-server`)));
            expect(t).toMatch(new RegExp(`Subject: CN = prod-${i}, O = etcd`));
            const ip = mocks.get(T.eni, `prod-member-${i}`).outputs.privateIp;
            expect(t).toContain(`DNS:localhost, IP Address:${ip}, IP Address:127.0.0.1\n`);
            expect(t).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
        }
    });

    test("peer certificates: CN etcd-peer and the member's IP only; the client certificate: CN root, client auth only", () => {
        const peer = text(save("peer-1.pem", certOf("prod-member-1-peer")));
        expect(peer).toMatch(/Subject: CN = etcd-peer/);
        const ip = mocks.get(T.eni, "prod-member-1").outputs.privateIp;
        expect(peer).toMatch(new RegExp(`X509v3 Subject Alternative Name: \\n\\s+IP Address:${ip.replace(/\./g, "\\.")}\\n`));
        expect(peer).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
        const client = text(save("client.pem", certOf("prod-client")));
        expect(client).toMatch(/Subject: CN = root, O = etcd-clients/);
        expect(client).toMatch(/Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
        expect(client).not.toMatch(/Subject Alternative Name/);
    });

    test("keys: ECDSA P-256 by default, RSA 2048 on request; each certificate matches its key, the one in SSM and the client key output", async () => {
        expect(text(save("ec.pem", certOf("prod-member-0-server")))).toMatch(/NIST CURVE: P-256/);
        expect(text(save("rsa.pem", certOf("rsa-member-0-server")))).toMatch(/Public-Key: \(2048 bit\)/);
        const parameter = mocks.get(T.parameter, "prod-member-0-server-key").inputs.value;
        const fromKey = openssl("pkey", "-in", save("k0.pem", parameter), "-pubout");
        expect(fromKey).toBe(openssl("x509", "-in", save("c0.pem", certOf("prod-member-0-server")), "-noout", "-pubkey"));
        expect(keyOf("prod-member-0-server")).toBe(parameter);
        const clientKey = await valueOf(clusters.prod.clientKeyPem);
        expect(openssl("pkey", "-in", save("ck.pem", clientKey), "-pubout")).toBe(
            openssl("x509", "-in", save("cc.pem", certOf("prod-client")), "-noout", "-pubkey"),
        );
    });
});

describe("bad arguments fail before anything is created", () => {
    test.each([
        ["size", { size: 11 }, "size: expected an integer from 1 to 9, got 11"],
        [
            "clientCidrs",
            { clientCidrs: ["0.0.0.0/0"] },
            'clientCidrs[0]: expected a CIDR block narrower than the whole internet (set allowPublicAccess to open it), got "0.0.0.0/0"',
        ],
        ["dataVolume", { dataVolume: { type: "io2" as const } }, "dataVolume.iops: expected an integer from 100 to 32000 (required for io2), got undefined"],
        // etcd's default 2 GiB quota on a 4 GiB volume: the volume would fill before NOSPACE is raised.
        ["quota", { dataVolume: { sizeGib: 4 } }, "dataVolume.sizeGib: expected at least 8 for tuning.quotaBackendBytes 2147483648 (2 GiB)"],
    ])("%s", async (_, extra, message) => {
        const name = `bad-${Object.keys(extra)[0].toLowerCase()}`;
        expect(() => new EtcdCluster(name, { ...base, ...extra })).toThrow(message);
        await settled(mocks, 5);
        expect(mocks.resources.filter((r) => r.name.startsWith(name))).toEqual([]);
    });
});

test("user-data is valid YAML whose files are written before the one boot command", () => {
    const userData = of("prod", T.instance)[0].inputs.userData as string;
    const doc = parse(userData);
    expect(doc.runcmd).toEqual([["/usr/local/sbin/etcd-bootstrap"]]);
    const paths = doc.write_files.map((f: { path: string }) => f.path);
    expect(paths).toEqual([...paths].sort());
});

test("a release mirror on another port gets its egress rule whether binaryUrl is a plain string or an output", async () => {
    const mirror = { binarySha256: "c".repeat(64), readiness: { mode: "none" as const } };
    new EtcdCluster("plainmirror", { ...base, ...mirror, binaryUrl: "http://mirror.internal:8080/etcd.tar.gz" });
    new EtcdCluster("outputmirror", { ...base, ...mirror, binaryUrl: pulumi.output("http://mirror.internal:8080/etcd.tar.gz") });
    new EtcdCluster("httpsmirror", { ...base, ...mirror, binaryUrl: pulumi.output("https://mirror.internal/etcd.tar.gz") });
    await settled(mocks);
    const egress = (name: string) =>
        of(name, T.egress)
            .map((r) => `${r.name.slice(name.length + 1)} ${r.inputs.fromPort}-${r.inputs.toPort} ${r.inputs.cidrIpv4 ?? "self"}`)
            .sort();
    expect(egress("plainmirror")).toEqual(["egress-https 443-443 0.0.0.0/0", "egress-members 2379-2380 self", "egress-mirror 8080-8080 0.0.0.0/0"]);
    expect(egress("outputmirror")).toEqual(egress("plainmirror"));
    expect(egress("httpsmirror")).toEqual(["egress-https 443-443 0.0.0.0/0", "egress-members 2379-2380 self"]);
});
