// What the resource-wiring modules decide, checked on the inputs and options each resource is registered with:
// the members' security group and its rules (network.ts), the KMS key, parameters, roles and policies
// (identity.ts), the keys and certificates (pki.ts) and the readiness check's text (healthGate.ts). A few
// one-member clusters that differ in exactly what these modules decide; literal expectations throughout.
import * as pulumi from "@pulumi/pulumi";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import type { EtcdClusterArgs } from "../../components";
import { buildClusters } from "../helpers/mockClusters";
import { healthGateScript } from "../../components/healthGate";
import { keyArnOf } from "../../components/identity";
import { opensslCa } from "../helpers/opensslCa";
import { RecordedResource, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const T = {
    group: "aws:ec2/securityGroup:SecurityGroup",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    kms: "aws:kms/key:Key",
    parameter: "aws:ssm/parameter:Parameter",
    role: "aws:iam/role:Role",
    policy: "aws:iam/rolePolicy:RolePolicy",
    attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    profile: "aws:iam/instanceProfile:InstanceProfile",
    volume: "aws:ebs/volume:Volume",
    instance: "aws:ec2/instance:Instance",
    key: "tls:index/privateKey:PrivateKey",
    ca: "tls:index/selfSignedCert:SelfSignedCert",
    csr: "tls:index/certRequest:CertRequest",
    cert: "tls:index/locallySignedCert:LocallySignedCert",
    command: "command:local:Command",
};

const one = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111"], size: 1, backup: { enabled: false } } satisfies EtcdClusterArgs;
const callerKms = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
// What the mocked DescribeKey answers for alias/etcd-data.
const aliasKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const mirrorSha = "ab".repeat(32);

// A CA made by openssl, outside the component, for the `ca` option.
const callerCa = opensslCa("/CN=caller etcd CA");

const build: Record<string, EtcdClusterArgs> = {
    // Defaults: its own KMS key and CA, keys in SSM, the SSM readiness check.
    own: one,
    // The caller's KMS key and CA, RSA keys, a shorter validity, volumes under an alias resolved to its key,
    // an https mirror on its default port.
    caller: {
        ...one,
        binaryUrl: "https://mirror.internal/etcd.tar.gz",
        binarySha256: mirrorSha,
        kmsKeyArn: callerKms,
        ca: callerCa,
        tls: { keyAlgorithm: "RSA", certificateValidityHours: 1000 },
        dataVolume: { kmsKeyId: "alias/etcd-data" },
        tags: { team: "platform" },
    },
    // Clients by IPv4 and IPv6 block and by group, metrics, an http mirror.
    open: {
        ...one,
        clientCidrs: ["10.0.0.0/16", "2001:db8::/32"],
        clientSecurityGroupIds: ["sg-0apiserver"],
        metricsCidrs: ["10.9.0.0/24"],
        binaryUrl: "http://mirror.internal/etcd.tar.gz",
        binarySha256: mirrorSha,
    },
    // Values known only at deployment: a mirror on its own port, a world-open block the caller allowed.
    late: {
        ...one,
        binaryUrl: pulumi.output("https://mirror.internal:8443/etcd.tar.gz"),
        binarySha256: mirrorSha,
        clientCidrs: [pulumi.output("::/0")],
        metricsCidrs: [pulumi.output("0.0.0.0/0")],
        allowPublicAccess: true,
    },
    // A world-open block given as a plain value is warned about once (by the argument checks); a file:// release
    // needs no rule.
    plain: { ...one, metricsCidrs: ["0.0.0.0/0"], allowPublicAccess: true, binaryUrl: "file:///opt/etcd/etcd.tar.gz", binarySha256: mirrorSha },
    // Keys in SSM and the readiness check from the deploying machine: a role to read the keys, no SSM agent policy.
    direct: { ...one, readiness: { mode: "direct" } },
    // Keys in user-data and the readiness check from the deploying machine: the member needs no role.
    norole: { ...one, keyDelivery: "inline", readiness: { mode: "direct" } },
    // The same with backups: a role for the backups only.
    backuponly: { ...one, keyDelivery: "inline", readiness: { mode: "direct" }, backup: { enabled: true } },
};

let mocks: StackMocks;
let warnings: string[];

beforeAll(async () => {
    ({ mocks, warnings } = await buildClusters(build));
});

const get = (type: string, name: string) => mocks.get(type, name);
const of = (cluster: string, type: string): RecordedResource[] => mocks.resources.filter((r) => r.type === type && r.name.startsWith(`${cluster}-`));
const names = (cluster: string, type: string) =>
    of(cluster, type)
        .map((r) => r.name.slice(cluster.length + 1))
        .sort();
/** The group's id as the mock gave it. */
const groupId = (cluster: string) => get(T.group, `${cluster}-members`).id;
/** The cluster id every name of the cluster carries, from its discovery parameter /etcd/<id>/members. */
const clusterIdOf = (cluster: string) => /^\/etcd\/([^/]+)\/members$/.exec(get(T.parameter, `${cluster}-members`).inputs.name)![1];

describe("network.ts: the members' security group", () => {
    test("the group is in the caller's VPC, described, tagged; the rules the defaults give: peers and clients from members, HTTPS out", () => {
        const group = get(T.group, "own-members");
        expect(group.inputs).toEqual({
            vpcId: "vpc-0123abcd",
            description: "etcd members: peer 2380 from members, client 2379 from allowed sources",
            tags: { "etcd:cluster": clusterIdOf("own") },
        });
        const sg = groupId("own");
        const rule = (name: string) => {
            const { tags, securityGroupId, ...rest } = get(name.startsWith("egress") ? T.egress : T.ingress, `own-${name}`).inputs;
            expect(securityGroupId).toBe(sg);
            expect(tags).toEqual(group.inputs.tags);
            return rest;
        };
        expect(names("own", T.ingress)).toEqual(["client-from-members", "peer-from-members"]);
        expect(rule("peer-from-members")).toEqual({
            ipProtocol: "tcp",
            fromPort: 2380,
            toPort: 2380,
            description: "etcd peers",
            referencedSecurityGroupId: sg,
        });
        expect(rule("client-from-members")).toEqual({
            ipProtocol: "tcp",
            fromPort: 2379,
            toPort: 2379,
            description: "etcd clients: members",
            referencedSecurityGroupId: sg,
        });
        expect(names("own", T.egress)).toEqual(["egress-https", "egress-members"]);
        expect(rule("egress-https")).toEqual({
            ipProtocol: "tcp",
            fromPort: 443,
            toPort: 443,
            description: "release download, SSM and KMS",
            cidrIpv4: "0.0.0.0/0",
        });
        expect(rule("egress-members")).toEqual({
            ipProtocol: "tcp",
            fromPort: 2379,
            toPort: 2380,
            description: "etcd peers and clients",
            referencedSecurityGroupId: sg,
        });
    });

    test("client blocks go to cidrIpv4 or cidrIpv6 by family, client groups by reference, metrics on 2381; an http mirror gets port 80 out", () => {
        const rule = (name: string) => {
            const { tags: _tags, securityGroupId: _sg, ...rest } = get(T.ingress, `open-${name}`).inputs;
            return rest;
        };
        expect(names("open", T.ingress)).toEqual([
            "client-cidr-0",
            "client-cidr-1",
            "client-from-members",
            "client-group-0",
            "metrics-cidr-0",
            "peer-from-members",
        ]);
        expect(rule("client-cidr-0")).toEqual({ ipProtocol: "tcp", fromPort: 2379, toPort: 2379, description: "etcd clients", cidrIpv4: "10.0.0.0/16" });
        expect(rule("client-cidr-1")).toEqual({ ipProtocol: "tcp", fromPort: 2379, toPort: 2379, description: "etcd clients", cidrIpv6: "2001:db8::/32" });
        expect(rule("client-group-0")).toEqual({
            ipProtocol: "tcp",
            fromPort: 2379,
            toPort: 2379,
            description: "etcd clients",
            referencedSecurityGroupId: "sg-0apiserver",
        });
        expect(rule("metrics-cidr-0")).toEqual({ ipProtocol: "tcp", fromPort: 2381, toPort: 2381, description: "etcd metrics", cidrIpv4: "10.9.0.0/24" });
        const mirror = get(T.egress, "open-egress-mirror").inputs;
        expect(mirror).toMatchObject({ ipProtocol: "tcp", fromPort: 80, toPort: 80, description: "release mirror", cidrIpv4: "0.0.0.0/0" });
        // An https mirror on 443, a file:// release and the default download need no rule of their own.
        for (const cluster of ["own", "caller", "plain"]) expect(names(cluster, T.egress)).toEqual(["egress-https", "egress-members"]);
    });

    test("values known only at deployment: the mirror's port rule once the URL resolves, an allowed world-open block warned about once", () => {
        expect(get(T.egress, "late-egress-mirror").inputs).toMatchObject({
            fromPort: 8443,
            toPort: 8443,
            cidrIpv4: "0.0.0.0/0",
            description: "release mirror",
        });
        expect(get(T.ingress, "late-client-cidr-0").inputs).toMatchObject({ fromPort: 2379, cidrIpv6: "::/0" });
        expect(get(T.ingress, "late-client-cidr-0").inputs.cidrIpv4).toBeUndefined();
        expect(warnings.filter((w) => w.includes("open to the whole internet")).sort()).toEqual([
            "clientCidrs[0] ::/0: the port is open to the whole internet",
            "metricsCidrs[0] 0.0.0.0/0: the port is open to the whole internet",
            "metricsCidrs[0] 0.0.0.0/0: the port is open to the whole internet",
        ]);
        expect(get(T.ingress, "plain-metrics-cidr-0").inputs).toMatchObject({ fromPort: 2381, cidrIpv4: "0.0.0.0/0" });
        expect(get(T.ingress, "late-metrics-cidr-0").inputs).toMatchObject({ fromPort: 2381, cidrIpv4: "0.0.0.0/0" });
    });
});

test("every resource of a cluster is a child of its component (a preview groups them; destroy takes them all)", () => {
    const component = mocks.resources.find((r) => r.type === "etcd-cluster:index:EtcdCluster" && r.name === "own")!;
    expect(component).toBeDefined();
    const children = mocks.resources.filter((r) => r.name.startsWith("own-") && r.custom);
    for (const type of [T.group, T.ingress, T.egress, T.kms, T.parameter, T.role, T.policy, T.attachment, T.profile, T.key, T.ca, T.csr, T.cert]) {
        expect(children.filter((r) => r.type === type).length).toBeGreaterThan(0);
    }
    expect(children.filter((r) => r.parent !== component.urn).map((r) => `${r.type} ${r.name}`)).toEqual([]);
});

describe("identity.ts: KMS key, parameters, roles", () => {
    test("without a caller's key: the cluster's own, rotated, 30 days' deletion window, kept when the component is destroyed", () => {
        const key = get(T.kms, "own-kms");
        expect(key.inputs).toEqual({
            description: `etcd cluster ${clusterIdOf("own")}: keys and volumes`,
            enableKeyRotation: true,
            deletionWindowInDays: 30,
            tags: { "etcd:cluster": clusterIdOf("own") },
        });
        expect(key.retainOnDelete).toBe(true);
        expect(get(T.volume, "own-member-0-data").inputs.kmsKeyId).toBe(key.outputs.arn);
        expect(get(T.parameter, "own-member-0-server-key").inputs.keyId).toBe(key.outputs.arn);
    });

    test("with a caller's key: no key is created; parameters use it, volumes the alias's key ARN (EBS reads kmsKeyId back as an ARN)", () => {
        expect(of("caller", T.kms)).toEqual([]);
        expect(get(T.parameter, "caller-member-0-server-key").inputs.keyId).toBe(callerKms);
        expect(get(T.volume, "caller-member-0-data").inputs.kmsKeyId).toBe(aliasKeyArn);
        expect(get(T.instance, "caller-member-0").inputs.rootBlockDevice.kmsKeyId).toBe(aliasKeyArn);
        expect(mocks.invokes.filter((i) => i.token === "aws:kms/getKey:getKey").map((i) => i.args.keyId)).toContain("alias/etcd-data");
    });

    test("a member's keys are SecureStrings under the cluster's key and its certificates Strings, per member, in the Standard tier", () => {
        const id = clusterIdOf("own");
        const key = get(T.parameter, "own-member-0-peer-key");
        expect(key.inputs).toMatchObject({ name: `/etcd/${id}/own-0/peer.key`, type: "SecureString", tier: "Standard" });
        expect(key.secretInputs).toContain("value");
        expect(key.inputs.value).toMatch(/PRIVATE KEY/);
        const cert = get(T.parameter, "own-member-0-server-cert");
        expect(cert.inputs).toMatchObject({ name: `/etcd/${id}/own-0/server.crt`, type: "String", tier: "Standard" });
        expect(cert.inputs.insecureValue).toMatch(/^-----BEGIN CERTIFICATE-----/);
        expect(cert.secretInputs).not.toContain("insecureValue");
    });

    test("the member's role: assumed by EC2 only; its own parameters, its own keys, the SSM agent's managed policy", () => {
        const id = clusterIdOf("own");
        const role = get(T.role, "own-member-0");
        expect(role.inputs.description).toBe("etcd member: reads its own keys");
        expect(JSON.parse(role.inputs.assumeRolePolicy)).toEqual({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        });
        const arn = (file: string) => `arn:aws:ssm:eu-west-1:123456789012:parameter/etcd/${id}/${file}`;
        const policy = get(T.policy, "own-member-0-keys");
        expect(policy.inputs.role).toBe(role.id);
        expect(names("own", T.policy)).toEqual(["member-0-keys"]);
        const own = ["own-0/server.key", "own-0/peer.key", "own-0/ca.crt", "own-0/server.crt", "own-0/peer.crt", "members", "membership.sh"].map(arn);
        const reads = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"];
        expect(JSON.parse(policy.inputs.policy)).toEqual({
            Version: "2012-10-17",
            Statement: [
                { Sid: "OwnParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: own },
                {
                    Sid: "OwnKeys",
                    Effect: "Allow",
                    Action: "kms:Decrypt",
                    Resource: get(T.kms, "own-kms").outputs.arn,
                    Condition: { StringEquals: { "kms:EncryptionContext:PARAMETER_ARN": own.slice(0, 2) } },
                },
                // AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every parameter: denied but its own.
                { Sid: "NoOtherParameters", Effect: "Deny", Action: reads, NotResource: own },
            ],
        });
        // The role's name (the mock's auto-name, as AWS's provider makes one) for the attachment and the profile.
        expect(role.outputs.name).toMatch(/^own-member-0-[0-9a-f]{7}$/);
        expect(get(T.attachment, "own-member-0-ssm").inputs).toEqual({
            role: role.outputs.name,
            policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        });
        const profile = get(T.profile, "own-member-0");
        expect(profile.inputs).toEqual({ role: role.outputs.name, tags: { "etcd:cluster": clusterIdOf("own") } });
        expect(get(T.instance, "own-member-0").inputs.iamInstanceProfile).toBe(profile.outputs.name);
    });

    test("inline keys and the direct readiness check: no role at all; with backups, a role with the backup policy and no SSM agent policy", () => {
        for (const type of [T.role, T.policy, T.attachment, T.profile]) expect(of("norole", type)).toEqual([]);
        expect(get(T.instance, "norole-member-0").inputs.iamInstanceProfile).toBeUndefined();
        expect(names("backuponly", T.policy)).toEqual(["member-0-backup", "member-0-keys"]);
        expect(of("backuponly", T.attachment)).toEqual([]);
        // Inline keys: the role reads the cluster's list of members and no other parameter; it decrypts nothing.
        const members = [`arn:aws:ssm:eu-west-1:123456789012:parameter/etcd/${clusterIdOf("backuponly")}/members`];
        const reads = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"];
        expect(JSON.parse(get(T.policy, "backuponly-member-0-keys").inputs.policy)).toEqual({
            Version: "2012-10-17",
            Statement: [
                { Sid: "OwnParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: members },
                { Sid: "NoOtherParameters", Effect: "Deny", Action: reads, NotResource: members },
            ],
        });
        // SSM keys with the direct readiness check: the role reads the keys, without the SSM agent's policy.
        expect(names("direct", T.policy)).toEqual(["member-0-keys"]);
        expect(of("direct", T.attachment)).toEqual([]);
        expect(get(T.instance, "direct-member-0").inputs.iamInstanceProfile).toBe(get(T.profile, "direct-member-0").outputs.name);
        expect(get(T.profile, "backuponly-member-0").inputs.role).toBe(get(T.role, "backuponly-member-0").outputs.name);
        expect(get(T.policy, "backuponly-member-0-backup").inputs.role).toBe(get(T.role, "backuponly-member-0").id);
    });
});

describe("pki.ts: keys and certificates", () => {
    test("the cluster's own CA: an ECDSA P-256 key, a self-signed CA certificate for 10 years that signs certificates only", () => {
        expect(get(T.key, "own-ca-key").inputs).toEqual({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        expect(get(T.ca, "own-ca").inputs).toMatchObject({
            subject: { commonName: "own etcd CA", organization: "etcd" },
            isCaCertificate: true,
            validityPeriodHours: 87600,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
        });
    });

    test("server, peer and client certificates: subjects, addresses, uses, validity and early renewal", () => {
        const ip = get(T.csr, "own-member-0-peer-csr").inputs.ipAddresses[0];
        expect(ip).toMatch(/^10\.0\.1\.\d+$/);
        expect(get(T.csr, "own-member-0-server-csr").inputs).toMatchObject({
            subject: { commonName: "own-0", organization: "etcd" },
            ipAddresses: [ip, "127.0.0.1"],
            dnsNames: ["localhost"],
        });
        expect(get(T.csr, "own-member-0-peer-csr").inputs).toMatchObject({ subject: { commonName: "etcd-peer", organization: "etcd" }, ipAddresses: [ip] });
        expect(get(T.csr, "own-member-0-peer-csr").inputs.dnsNames ?? []).toEqual([]);
        expect(get(T.csr, "own-client-csr").inputs).toMatchObject({ subject: { commonName: "root", organization: "etcd-clients" } });
        const serverUses = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];
        for (const [name, uses] of [
            ["own-member-0-server", serverUses],
            ["own-member-0-peer", serverUses],
            ["own-client", ["digital_signature", "key_encipherment", "client_auth"]],
        ] as const) {
            expect(get(T.cert, name).inputs).toMatchObject({ validityPeriodHours: 17520, earlyRenewalHours: 720, allowedUses: uses });
            expect(get(T.cert, name).inputs.caCertPem).toBe(get(T.ca, "own-ca").outputs.certPem);
        }
    });

    test("the caller's CA signs every certificate and no CA is created; RSA 2048 keys; the caller's validity", () => {
        expect(of("caller", T.ca)).toEqual([]);
        expect(names("caller", T.key)).toEqual(["client-key", "member-0-peer-key", "member-0-server-key"]);
        for (const key of of("caller", T.key)) expect(key.inputs).toEqual({ algorithm: "RSA", rsaBits: 2048 });
        for (const cert of of("caller", T.cert)) {
            expect(cert.inputs).toMatchObject({ caCertPem: callerCa.certPem, caPrivateKeyPem: callerCa.privateKeyPem, validityPeriodHours: 1000 });
            expect(cert.secretInputs).toContain("caPrivateKeyPem");
        }
    });
});

describe("keyArnOf: what EBS reads back (a key ARN) is kept without a lookup, anything else is resolved by DescribeKey", () => {
    const lookups = () => mocks.invokes.filter((i) => i.token === "aws:kms/getKey:getKey").map((i) => i.args.keyId);
    test.each([
        ["a key ARN", callerKms],
        ["a key ARN of another partition", "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
        ["a multi-Region key ARN", "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"],
    ])("%s is kept as given, plain or as an output", async (_, arn) => {
        const before = lookups().length;
        expect(await valueOf(keyArnOf(arn, {}))).toBe(arn);
        expect(await valueOf(keyArnOf(pulumi.output(arn), {}))).toBe(arn);
        expect(lookups().length).toBe(before);
    });
    test.each([
        ["an alias name", "alias/etcd-data"],
        ["an alias ARN", "arn:aws:kms:eu-west-1:123456789012:alias/etcd-data"],
        ["a key id", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"],
    ])("%s is looked up, plain or as an output", async (_, key) => {
        const before = lookups().filter((k) => k === key).length;
        expect(await valueOf(keyArnOf(key, {}))).toBe(aliasKeyArn);
        expect(await valueOf(keyArnOf(pulumi.output(key), {}))).toBe(aliasKeyArn);
        expect(lookups().filter((k) => k === key).length - before).toBe(2);
    });
    test("a value that only resembles a key ARN is looked up too (AWS refuses it there), never passed on to EBS", async () => {
        const uuid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
        // Each ends in a key id, which the mock's DescribeKey (more lenient than AWS) answers: it was asked.
        const near = [`x${callerKms}`, `${callerKms}/${uuid}`, `arn:aws:kms:eu-west-1:1:key/${uuid}`];
        for (const key of near) await valueOf(keyArnOf(key, {}));
        expect(near.filter((key) => !lookups().includes(key))).toEqual([]);
    });
});

describe("healthGate.ts: the readiness check", () => {
    const script = readFileSync(join(__dirname, "..", "..", "scripts", "etcd-health-gate.sh"), "utf8");

    test("is the repository's script, passed inline to the gate commands", () => {
        expect(healthGateScript()).toBe(script);
        expect(get(T.command, "own-ready").inputs.create).toContain(script);
    });

    test("is found beside bin/ in the published package (modules in bin/components/), and its absence names both places", () => {
        const root = mkdtempSync(join(tmpdir(), "etcd-package-"));
        try {
            const moduleDir = join(root, "bin", "components");
            mkdirSync(moduleDir, { recursive: true });
            const places = [join(root, "bin", "scripts", "etcd-health-gate.sh"), join(root, "scripts", "etcd-health-gate.sh")];
            expect(() => healthGateScript(moduleDir)).toThrow(`the readiness check etcd-health-gate.sh is missing (looked in ${places.join(", ")})`);
            mkdirSync(join(root, "scripts"));
            copyFileSync(join(__dirname, "..", "..", "scripts", "etcd-health-gate.sh"), places[1]);
            expect(healthGateScript(moduleDir)).toBe(script);
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});
