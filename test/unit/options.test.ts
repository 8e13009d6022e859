// Every argument that reaches AWS or a member, set on its own and checked for its effect on the resource
// inputs or on the rendered member, against literal expectations. Each test would fail if its option were
// silently ignored: the baseline cluster (no options) is checked to differ in that respect.
import { parse } from "yaml";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { buildClusters } from "../helpers/mockClusters";
import { opensslCa } from "../helpers/opensslCa";
import { RecordedResource, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(120_000);

const subnets = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: subnets };
const callerKms = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const mirrorSha = "ab".repeat(32);
// What the mocked DescribeKey answers for alias/etcd-data in the test account and region.
const aliasKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

const T = {
    eni: "aws:ec2/networkInterface:NetworkInterface",
    volume: "aws:ebs/volume:Volume",
    instance: "aws:ec2/instance:Instance",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    group: "aws:ec2/securityGroup:SecurityGroup",
    parameter: "aws:ssm/parameter:Parameter",
    role: "aws:iam/role:Role",
    policy: "aws:iam/rolePolicy:RolePolicy",
    managed: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    profile: "aws:iam/instanceProfile:InstanceProfile",
    kms: "aws:kms/key:Key",
    key: "tls:index/privateKey:PrivateKey",
    selfSigned: "tls:index/selfSignedCert:SelfSignedCert",
    signed: "tls:index/locallySignedCert:LocallySignedCert",
    command: "command:local:Command",
};

// A CA made by openssl, outside the component, for the `ca` option.
const callerCa = opensslCa("/CN=caller etcd CA");

const build: Record<string, EtcdClusterArgs> = {
    plain: base,
    size5: { ...base, size: 5 },
    v34: { ...base, version: "3.4.23", binaryUrl: "https://mirror.internal/etcd-v3.4.23.tar.gz", binarySha256: mirrorSha },
    v35: { ...base, version: "3.5.30" },
    graviton: { ...base, instanceType: "m7g.large" },
    ami: { ...base, ami: "ami-0123456789abcdef0" },
    io2: { ...base, dataVolume: { type: "io2", sizeGib: 100, iops: 8000, kmsKeyId: "alias/etcd-data" } },
    gp3: { ...base, dataVolume: { sizeGib: 64, iops: 6000, throughput: 250 } },
    clients: { ...base, clientCidrs: ["10.0.0.0/16", "2001:db8::/32"], clientSecurityGroupIds: ["sg-0apiserver"] },
    metrics: { ...base, metricsCidrs: ["10.9.0.0/24"] },
    public: { ...base, clientCidrs: ["::/0"], allowPublicAccess: true },
    httpmirror: { ...base, binaryUrl: "http://mirror.internal/etcd.tar.gz", binarySha256: mirrorSha },
    portmirror: { ...base, binaryUrl: "https://mirror.internal:8443/etcd.tar.gz", binarySha256: mirrorSha },
    tuned: {
        ...base,
        tuning: {
            heartbeatIntervalMs: 250,
            electionTimeoutMs: 2500,
            quotaBackendBytes: 8 * 2 ** 30,
            autoCompactionMode: "revision",
            autoCompactionRetention: "1000",
            snapshotCount: 50000,
        },
    },
    tls13: { ...base, tls: { minVersion: "TLS1.3" } },
    rsa: { ...base, tls: { keyAlgorithm: "RSA" } },
    validity: { ...base, tls: { certificateValidityHours: 720 } },
    ownca: { ...base, ca: callerCa },
    inline: { ...base, keyDelivery: "inline" },
    inlinedirect: { ...base, keyDelivery: "inline", readiness: { mode: "direct" } },
    inlinedirectnobackup: { ...base, keyDelivery: "inline", readiness: { mode: "direct" }, backup: { enabled: false } },
    callerkms: { ...base, kmsKeyArn: callerKms },
    auth: { ...base, auth: true },
    direct: { ...base, readiness: { mode: "direct", timeoutSeconds: 300 } },
    nogate: { ...base, readiness: { mode: "none" } },
    tagged: { ...base, tags: { team: "platform", "cost-center": "42" } },
};

let mocks: StackMocks;
let clusters: Record<keyof typeof build, EtcdClusterType>;
let warnings: string[];

// Placeholder certificates: what is checked here is what reaches the provider (openssl checks of real
// certificates are in cluster.test.ts and cis.test.ts).
beforeAll(async () => {
    ({ mocks, clusters, warnings } = await buildClusters(build));
});

/** The resources of one cluster. */
const of = (cluster: string, type?: string): RecordedResource[] =>
    mocks.resources.filter((r) => (r.name === cluster || r.name.startsWith(`${cluster}-`)) && (type === undefined || r.type === type));
const one = (type: string, name: string) => mocks.get(type, name);

/** A member's user-data files by path. */
function memberFiles(cluster: string, i = 0): Record<string, string> {
    const doc = parse(one(T.instance, `${cluster}-member-${i}`).inputs.userData);
    return Object.fromEntries(doc.write_files.map((f: { path: string; content: string }) => [f.path, f.content]));
}
/** A member's etcd environment as a map. */
function etcdEnv(cluster: string, i = 0): Record<string, string> {
    const text = memberFiles(cluster, i)["/etc/etcd/etcd.env"];
    return Object.fromEntries(
        text
            .split("\n")
            .filter((l) => l && !l.startsWith("#"))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
}
const bootScript = (cluster: string, i = 0) => memberFiles(cluster, i)["/usr/local/sbin/etcd-bootstrap"];
const ingress = (cluster: string) =>
    of(cluster, T.ingress)
        .map((r) => {
            const group = one(T.group, `${cluster}-members`).id;
            const from = r.inputs.referencedSecurityGroupId === group ? "self" : (r.inputs.referencedSecurityGroupId ?? r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6);
            return `${r.inputs.ipProtocol}/${r.inputs.fromPort}-${r.inputs.toPort} from ${from}`;
        })
        .sort();
const egress = (cluster: string) =>
    of(cluster, T.egress)
        .map((r) => `${r.inputs.ipProtocol}/${r.inputs.fromPort}-${r.inputs.toPort} to ${r.inputs.cidrIpv4 ?? "self"}`)
        .sort();
const ip = (cluster: string, i: number) => one(T.eni, `${cluster}-member-${i}`).outputs.privateIp as string;

describe("network options", () => {
    test("vpcId: the security group is created in the given VPC", () => {
        expect(one(T.group, "plain-members").inputs.vpcId).toBe("vpc-0123abcd");
    });

    test("subnetIds: interfaces round-robin over them, volumes in the matching zone", () => {
        expect(of("size5", T.eni).map((e) => e.inputs.subnetId)).toEqual([subnets[0], subnets[1], subnets[2], subnets[0], subnets[1]]);
        expect([0, 1, 2, 3, 4].map((i) => one(T.volume, `size5-member-${i}-data`).inputs.availabilityZone)).toEqual([
            "eu-west-1a",
            "eu-west-1b",
            "eu-west-1c",
            "eu-west-1a",
            "eu-west-1b",
        ]);
    });

    test("baseline rules: peers and clients from the group itself only; egress 443 and the members' own ports", () => {
        expect(ingress("plain")).toEqual(["tcp/2379-2379 from self", "tcp/2380-2380 from self"]);
        expect(egress("plain")).toEqual(["tcp/2379-2380 to self", "tcp/443-443 to 0.0.0.0/0"]);
    });

    test("clientCidrs (IPv4 and IPv6) and clientSecurityGroupIds: TCP 2379 from each, nothing else added", () => {
        expect(ingress("clients")).toEqual([
            "tcp/2379-2379 from 10.0.0.0/16",
            "tcp/2379-2379 from 2001:db8::/32",
            "tcp/2379-2379 from self",
            "tcp/2379-2379 from sg-0apiserver",
            "tcp/2380-2380 from self",
        ]);
        const v6 = one(T.ingress, "clients-client-cidr-1").inputs;
        expect(v6.cidrIpv6).toBe("2001:db8::/32");
        expect(v6.cidrIpv4).toBeUndefined();
    });

    test("metricsCidrs: TCP 2381 from each block, and etcd serves metrics on the member's address (not only loopback)", () => {
        expect(ingress("metrics")).toEqual(["tcp/2379-2379 from self", "tcp/2380-2380 from self", "tcp/2381-2381 from 10.9.0.0/24"]);
        for (let i = 0; i < 3; i++) {
            expect(etcdEnv("metrics", i).ETCD_LISTEN_METRICS_URLS).toBe(`http://${ip("metrics", i)}:2381,http://127.0.0.1:2381`);
        }
        expect(etcdEnv("plain").ETCD_LISTEN_METRICS_URLS).toBe("http://127.0.0.1:2381");
    });

    test("allowPublicAccess: ::/0 becomes an IPv6 rule on 2379, with a warning", () => {
        expect(one(T.ingress, "public-client-cidr-0").inputs).toMatchObject({ cidrIpv6: "::/0", fromPort: 2379, toPort: 2379, ipProtocol: "tcp" });
        expect(warnings).toContain("clientCidrs[0] ::/0: the port is open to the whole internet");
    });

    test("binaryUrl over http: egress on port 80 for the mirror; a mirror on another port: egress on that port", () => {
        expect(egress("httpmirror")).toEqual(["tcp/2379-2380 to self", "tcp/443-443 to 0.0.0.0/0", "tcp/80-80 to 0.0.0.0/0"]);
        expect(egress("portmirror")).toEqual(["tcp/2379-2380 to self", "tcp/443-443 to 0.0.0.0/0", "tcp/8443-8443 to 0.0.0.0/0"]);
        expect(egress("v34")).toEqual(egress("plain"));
    });
});

describe("release options", () => {
    test("default: etcd 3.6.14 amd64 from the official URL with the pinned upstream checksum", () => {
        const script = bootScript("plain");
        expect(script).toContain("readonly RELEASE_URL='https://github.com/etcd-io/etcd/releases/download/v3.6.14/etcd-v3.6.14-linux-amd64.tar.gz'");
        // SHA256SUMS of the v3.6.14 release, etcd-v3.6.14-linux-amd64.tar.gz.
        expect(script).toContain("readonly RELEASE_SHA256='ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5'");
    });

    test("version: the boot script installs that version; 3.4 adds the zap logger and drops the TLS flag before 3.4.25", () => {
        expect(bootScript("v35")).toContain("/v3.5.30/etcd-v3.5.30-linux-amd64.tar.gz'");
        expect(etcdEnv("v34").ETCD_LOGGER).toBe("zap");
        expect(etcdEnv("v34").ETCD_TLS_MIN_VERSION).toBeUndefined();
        expect(etcdEnv("v35").ETCD_LOGGER).toBeUndefined();
        expect(etcdEnv("v35").ETCD_TLS_MIN_VERSION).toBe("TLS1.2");
    });

    test("binaryUrl and binarySha256: the mirror and its checksum replace the official ones", () => {
        const script = bootScript("httpmirror");
        expect(script).toContain("readonly RELEASE_URL='http://mirror.internal/etcd.tar.gz'");
        expect(script).toContain(`readonly RELEASE_SHA256='${mirrorSha}'`);
        expect(bootScript("plain")).not.toContain(mirrorSha);
    });

    test("instanceType: reaches the instances; a Graviton type selects the arm64 release and the arm64 image", () => {
        expect(of("graviton", T.instance).map((i) => i.inputs.instanceType)).toEqual(["m7g.large", "m7g.large", "m7g.large"]);
        expect(of("plain", T.instance).map((i) => i.inputs.instanceType)).toEqual(["m7i.large", "m7i.large", "m7i.large"]);
        expect(bootScript("graviton")).toContain("/v3.6.14/etcd-v3.6.14-linux-arm64.tar.gz'");
        const amiLookups = mocks.invokes.filter((c) => c.token === "aws:ssm/getParameter:getParameter").map((c) => c.args.name);
        expect(amiLookups).toContain("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64");
        expect(amiLookups).toContain("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64");
    });

    test("ami: used as given, and its changes are not ignored; without it the looked-up image's changes are", () => {
        for (const instance of of("ami", T.instance)) {
            expect(instance.inputs.ami).toBe("ami-0123456789abcdef0");
            expect(instance.ignoreChanges).toEqual([]);
        }
        // Without it, the image comes from the per-architecture holder, which records the image at its creation
        // and ignores newer ones; the instance itself ignores nothing, so an architecture switch gets its image.
        const holder = one(T.command, "plain-image-x86_64");
        expect(holder.ignoreChanges).toEqual(["create"]);
        expect(holder.outputs.stdout).toBe("ami-0a1b2c3d4e5f60718");
        for (const instance of of("plain", T.instance)) {
            expect(instance.inputs.ami).toBe("ami-0a1b2c3d4e5f60718");
            expect(instance.ignoreChanges).toEqual([]);
        }
    });
});

describe("storage and keys", () => {
    test("dataVolume defaults: gp3, 32 GiB, 3000 IOPS, 125 MiB/s, encrypted with the cluster's key, final snapshot", () => {
        const kms = one(T.kms, "plain-kms").outputs.arn;
        for (const v of of("plain", T.volume)) {
            expect(v.inputs).toMatchObject({ type: "gp3", size: 32, iops: 3000, throughput: 125, encrypted: true, kmsKeyId: kms, finalSnapshot: true });
        }
    });

    test("dataVolume gp3 figures reach every volume", () => {
        for (const v of of("gp3", T.volume)) {
            expect(v.inputs).toMatchObject({ type: "gp3", size: 64, iops: 6000, throughput: 250 });
        }
    });

    test("dataVolume io2 with its own key: type, size, IOPS, no throughput; the key encrypts data and root volumes", () => {
        for (const v of of("io2", T.volume)) {
            // The alias is resolved to the key ARN that EBS reads back (an alias would replace the volume on every run).
            expect(v.inputs).toMatchObject({ type: "io2", size: 100, iops: 8000, kmsKeyId: aliasKeyArn, encrypted: true });
            expect(v.inputs.throughput).toBeUndefined();
        }
        for (const instance of of("io2", T.instance)) {
            expect(instance.inputs.rootBlockDevice).toMatchObject({ encrypted: true, kmsKeyId: aliasKeyArn });
        }
        // The key parameters stay under the cluster's key.
        const kms = one(T.kms, "io2-kms").outputs.arn;
        const secure = of("io2", T.parameter).filter((p) => p.inputs.type === "SecureString");
        expect(secure).toHaveLength(6);
        expect(secure.every((p) => p.inputs.keyId === kms)).toBe(true);
    });

    test("kmsKeyArn: no key is created; the caller's key encrypts parameters, data and root volumes, and the decrypt grant names it", () => {
        expect(of("callerkms", T.kms)).toEqual([]);
        // Per member: server and peer keys, and the CA, server and peer certificates; the cluster's discovery parameter.
        expect(of("callerkms", T.parameter)).toHaveLength(16);
        for (const p of of("callerkms", T.parameter)) {
            // Keys are SecureStrings under the caller's key; certificates are public, plain Strings.
            if (p.name.endsWith("-key")) expect(p.inputs).toMatchObject({ type: "SecureString", keyId: callerKms });
            else {
                expect(p.inputs.type).toBe("String");
                expect(p.inputs.keyId).toBeUndefined();
            }
        }
        for (const v of of("callerkms", T.volume)) expect(v.inputs.kmsKeyId).toBe(callerKms);
        for (const i of of("callerkms", T.instance)) expect(i.inputs.rootBlockDevice.kmsKeyId).toBe(callerKms);
        for (const policy of of("callerkms", T.policy).filter((p) => p.name.endsWith("-keys"))) {
            expect(JSON.parse(policy.inputs.policy).Statement[1]).toMatchObject({ Action: "kms:Decrypt", Resource: callerKms });
        }
    });

    test("the cluster's own key: rotation on, 30-day deletion window", () => {
        expect(one(T.kms, "plain-kms").inputs).toMatchObject({ enableKeyRotation: true, deletionWindowInDays: 30 });
    });
});

describe("identity and access", () => {
    const managedSsm = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

    test("default (ssm keys, ssm readiness): each instance runs with its own profile, whose role EC2 assumes, with its key policy and the SSM agent policy", () => {
        for (let i = 0; i < 3; i++) {
            const profile = one(T.profile, `plain-member-${i}`);
            const role = one(T.role, `plain-member-${i}`);
            expect(one(T.instance, `plain-member-${i}`).inputs.iamInstanceProfile).toBe(profile.outputs.name);
            expect(profile.inputs.role).toBe(role.outputs.name);
            expect(JSON.parse(role.inputs.assumeRolePolicy)).toEqual({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            });
            const rolePolicies = of("plain", T.policy).filter((p) => p.inputs.role === role.id);
            // The key policy, and the backup policy (backups are on by default; see backup.test.ts).
            expect(rolePolicies.map((p) => p.name).sort()).toEqual([`plain-member-${i}-backup`, `plain-member-${i}-keys`]);
            const inlinePolicies = rolePolicies.filter((p) => p.name.endsWith("-keys"));
            const own = of("plain", T.parameter)
                .filter((p) => p.name.startsWith(`plain-member-${i}-`))
                .map((p) => p.outputs.arn)
                .sort();
            // Its own parameters, and the cluster's two membership parameters (what it reads at first start).
            const membership = of("plain", T.parameter)
                .filter((p) => p.name === "plain-members" || p.name === "plain-membership-functions")
                .map((p) => p.outputs.arn);
            expect([...JSON.parse(inlinePolicies[0].inputs.policy).Statement[0].Resource].sort()).toEqual([...own, ...membership].sort());
            const attached = of("plain", T.managed).filter((a) => a.inputs.role === role.outputs.name);
            expect(attached.map((a) => a.inputs.policyArn)).toEqual([managedSsm]);
            // The instance is created only after its profile and key parameters exist.
            expect(one(T.instance, `plain-member-${i}`).dependsOn).toEqual(expect.arrayContaining([profile.urn]));
        }
    });

    test("readiness direct: the role keeps the key policy and loses the SSM agent policy", () => {
        expect(of("direct", T.profile)).toHaveLength(3);
        expect(of("direct", T.policy).filter((p) => p.name.endsWith("-keys"))).toHaveLength(3);
        expect(of("direct", T.managed)).toEqual([]);
    });

    test("inline keys with ssm readiness: a role with the SSM agent policy only; inline keys with direct readiness: the backup policy and the parameter deny, or no role at all without backups", () => {
        // The SSM agent policy allows reading every parameter: an explicit deny takes that back, except for the
        // cluster's discovery parameter (String, nothing secret), which the member reads at first start (the
        // membership functions ride in the tools object with backups).
        const membership = of("inline", T.parameter).map((p) => p.outputs.arn);
        expect(membership).toHaveLength(1);
        for (const policy of of("inline", T.policy).filter((p) => p.name.endsWith("-keys"))) {
            expect(JSON.parse(policy.inputs.policy).Statement).toEqual([
                { Sid: "OwnParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: expect.arrayContaining(membership) },
                {
                    Sid: "NoOtherParameters",
                    Effect: "Deny",
                    Action: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"],
                    NotResource: expect.arrayContaining(membership),
                },
            ]);
        }
        expect(of("inline", T.policy).filter((p) => p.name.endsWith("-keys"))).toHaveLength(3);
        expect(of("inline", T.managed).map((a) => a.inputs.policyArn)).toEqual([managedSsm, managedSsm, managedSsm]);
        expect(of("inline", T.instance).every((i) => typeof i.inputs.iamInstanceProfile === "string")).toBe(true);
        expect(of("inlinedirect", T.role)).toHaveLength(3);
        expect(of("inlinedirect", T.managed)).toEqual([]);
        // The backup policy, and the explicit parameter deny every role gets.
        expect(of("inlinedirect", T.policy).filter((p) => p.name.endsWith("-backup"))).toHaveLength(3);
        for (const policy of of("inlinedirect", T.policy).filter((p) => p.name.endsWith("-keys"))) {
            expect(JSON.parse(policy.inputs.policy).Statement.map((st: { Sid: string }) => st.Sid)).toEqual(["OwnParameters", "NoOtherParameters"]);
        }
        expect(of("inlinedirectnobackup", T.role)).toEqual([]);
        expect(of("inlinedirectnobackup", T.profile)).toEqual([]);
        expect(of("inlinedirectnobackup", T.instance).every((i) => i.inputs.iamInstanceProfile === undefined)).toBe(true);
    });

    test("keyDelivery ssm: the boot script fetches the member's own parameters; inline: the keys are files in user-data, no parameters", () => {
        const script = bootScript("plain", 1);
        expect(script).toMatch(/readonly SSM_PREFIX='\/etcd\/plain-[0-9a-f]{8}\/plain-1'/);
        expect(script).toContain("server.key");
        expect(script).toContain("peer.key");
        expect(memberFiles("plain", 1)["/etc/etcd/pki/server.key"]).toBeUndefined();
        // No key or certificate parameter: only the cluster's membership parameters.
        expect(of("inline", T.parameter).map((p) => p.inputs.name.split("/").pop())).toEqual(["members"]);
        const files = memberFiles("inline", 1);
        expect(files["/etc/etcd/pki/server.key"]).toMatch(/^-----BEGIN (EC )?PRIVATE KEY-----/);
        expect(files["/etc/etcd/pki/peer.key"]).toMatch(/^-----BEGIN (EC )?PRIVATE KEY-----/);
        expect(one(T.instance, "inline-member-1").secretInputs).toContain("userData");
    });

    test("auth: the first member alone enables certificate-only users for root and every member once healthy", () => {
        const first = memberFiles("auth", 0);
        const script = first["/usr/local/sbin/etcd-enable-auth"];
        expect(script).toContain("readonly USERS=('root' 'auth-'{0..8})");
        expect(script).toContain("--no-password");
        expect(script).toContain("etcdctl auth enable");
        expect(first["/etc/systemd/system/etcd-enable-auth.service"]).toBeDefined();
        expect(bootScript("auth", 0)).toContain("systemctl enable 'etcd-enable-auth.service'");
        for (const i of [1, 2]) {
            expect(memberFiles("auth", i)["/usr/local/sbin/etcd-enable-auth"]).toBeUndefined();
            expect(bootScript("auth", i)).not.toContain("etcd-enable-auth");
        }
        expect(memberFiles("plain", 0)["/usr/local/sbin/etcd-enable-auth"]).toBeUndefined();
        expect(bootScript("plain", 0)).not.toContain("etcd-enable-auth");
    });
});

describe("TLS options", () => {
    test("tls.minVersion TLS1.3: every member sets ETCD_TLS_MIN_VERSION=TLS1.3 and no TLS 1.2 cipher suites", () => {
        for (let i = 0; i < 3; i++) {
            const env = etcdEnv("tls13", i);
            expect(env.ETCD_TLS_MIN_VERSION).toBe("TLS1.3");
            expect(env.ETCD_CIPHER_SUITES).toBeUndefined();
        }
        expect(etcdEnv("plain").ETCD_TLS_MIN_VERSION).toBe("TLS1.2");
    });

    test("default cipher suites: ECDHE with AES-GCM or ChaCha20-Poly1305 only, as named in etcd's and Go's documentation", () => {
        expect(etcdEnv("plain").ETCD_CIPHER_SUITES.split(",").sort()).toEqual([
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ]);
    });

    test("tls.keyAlgorithm RSA: every key of the cluster is RSA 2048", () => {
        const keys = of("rsa", T.key);
        expect(keys).toHaveLength(2 + 2 * 3);
        for (const k of keys) expect(k.inputs).toEqual({ algorithm: "RSA", rsaBits: 2048 });
        for (const k of of("plain", T.key)) expect(k.inputs).toEqual({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    });

    test("tls.certificateValidityHours: member and client certificates last that long (720 h); the CA keeps 10 years", () => {
        const issued = of("validity", T.signed);
        expect(issued).toHaveLength(7);
        for (const cert of issued) expect(cert.inputs.validityPeriodHours).toBe(720);
        expect(one(T.selfSigned, "validity-ca").inputs.validityPeriodHours).toBe(87600);
        for (const cert of of("plain", T.signed)) expect(cert.inputs.validityPeriodHours).toBe(17520);
    });

    test("ca: no CA is created; the caller's CA signs every certificate and is what members trust", async () => {
        expect(of("ownca", T.selfSigned)).toEqual([]);
        for (const cert of of("ownca", T.signed)) {
            expect(cert.inputs.caCertPem).toBe(callerCa.certPem);
            expect(cert.inputs.caPrivateKeyPem).toBe(callerCa.privateKeyPem);
        }
        expect(await valueOf(clusters.ownca.caCertPem)).toBe(callerCa.certPem);
        // The CA certificate reaches the member by its own parameter.
        const caParameter = one(T.parameter, "ownca-member-2-ca-cert");
        expect(caParameter.inputs.insecureValue).toBe(callerCa.certPem);
    });
});

describe("tuning", () => {
    test("every tuning value reaches every member's environment", () => {
        for (let i = 0; i < 3; i++) {
            expect(etcdEnv("tuned", i)).toMatchObject({
                ETCD_HEARTBEAT_INTERVAL: "250",
                ETCD_ELECTION_TIMEOUT: "2500",
                ETCD_QUOTA_BACKEND_BYTES: "8589934592",
                ETCD_AUTO_COMPACTION_MODE: "revision",
                ETCD_AUTO_COMPACTION_RETENTION: "1000",
                ETCD_SNAPSHOT_COUNT: "50000",
            });
        }
    });

    test("defaults: etcd's own figures, snapshot count 10000 on 3.6 and 100000 on 3.5", () => {
        expect(etcdEnv("plain")).toMatchObject({
            ETCD_HEARTBEAT_INTERVAL: "100",
            ETCD_ELECTION_TIMEOUT: "1000",
            ETCD_QUOTA_BACKEND_BYTES: "2147483648",
            ETCD_AUTO_COMPACTION_MODE: "periodic",
            ETCD_AUTO_COMPACTION_RETENTION: "0",
            ETCD_SNAPSHOT_COUNT: "10000",
        });
        expect(etcdEnv("v35").ETCD_SNAPSHOT_COUNT).toBe("100000");
    });
});

describe("size and members", () => {
    test("size 5: five members, each finding the cluster through the discovery parameter (no seeds needed), none listing the membership", () => {
        expect(of("size5", T.instance)).toHaveLength(5);
        for (let i = 0; i < 5; i++) {
            expect(etcdEnv("size5", i).ETCD_INITIAL_CLUSTER).toBeUndefined();
            expect(etcdEnv("size5", i).ETCD_NAME).toBe(`size5-${i}`);
            expect(bootScript("size5", i)).toMatch(new RegExp(`SEEDS=\\(\\) MAY_FOUND=${i === 0 ? 1 : 0} DISCOVERY='/etcd/size5-[0-9a-f]{8}/members'`));
        }
    });
});

describe("readiness", () => {
    test("ssm (default): gates check through SSM Run Command with the instance ids, region and the default 900 s", () => {
        const ready = one(T.command, "plain-ready").inputs.environment;
        expect(ready).toMatchObject({ ETCD_GATE_MODE: "ssm", ETCD_GATE_TIMEOUT_SECONDS: "900", AWS_REGION: "eu-west-1" });
        expect(ready.ETCD_GATE_INSTANCE_IDS).toBe(
            of("plain", T.instance)
                .map((i) => i.id)
                .join(" "),
        );
    });

    test("direct with timeoutSeconds: gates check every client endpoint with the client certificate, for 300 s", async () => {
        const ready = one(T.command, "direct-ready");
        expect(ready.inputs.environment).toMatchObject({ ETCD_GATE_MODE: "direct", ETCD_GATE_TIMEOUT_SECONDS: "300" });
        expect(ready.inputs.environment.ETCD_GATE_ENDPOINTS).toBe([0, 1, 2].map((i) => `https://${ip("direct", i)}:2379`).join(","));
        expect(ready.inputs.environment.ETCD_GATE_CERT_PEM).toBe(await valueOf(clusters.direct.clientCertPem));
        expect(ready.inputs.environment.ETCD_GATE_INSTANCE_IDS).toBeUndefined();
        expect(ready.secretInputs).toContain("environment");
    });

    test("none: no gates, and instances depend only on their own profile and keys (no rolling order)", () => {
        expect(of("nogate", T.command).map((c) => c.name)).toEqual(["nogate-image-x86_64", "nogate-image-arm64"]);
        const gateUrns = new Set(
            mocks
                .ofType(T.command)
                .filter((c) => !/-image-(x86_64|arm64)$/.test(c.name))
                .map((c) => c.urn),
        );
        for (const instance of of("nogate", T.instance)) {
            expect(instance.dependsOn.filter((d) => gateUrns.has(d))).toEqual([]);
        }
        expect(warnings.some((w) => w.startsWith('readiness.mode "none"'))).toBe(true);
    });

    test("the final gate of a new cluster waits for every member's attachment (the member gates only record the launch)", () => {
        const ready = one(T.command, "plain-ready");
        const attachments = of("plain", "aws:ec2/volumeAttachment:VolumeAttachment").map((a) => a.urn);
        expect(ready.dependsOn).toEqual(expect.arrayContaining(attachments));
        expect(ready.dependsOn).not.toContain(one(T.command, "plain-member-2-rolled").urn);
    });
});

describe("tags", () => {
    test("tags and the cluster tag reach every taggable resource; members and volumes are named", () => {
        // Every AWS resource but those AWS cannot tag (policy attachments, inline policies, volume attachments,
        // a bucket's settings).
        const untaggable = [
            T.managed,
            T.policy,
            "aws:ec2/volumeAttachment:VolumeAttachment",
            ...["Versioning", "PublicAccessBlock", "OwnershipControls", "ServerSideEncryptionConfiguration", "Policy", "LifecycleConfiguration"].map(
                (k) => `aws:s3/bucket${k}:Bucket${k}`,
            ),
        ];
        const taggable = of("tagged").filter((r) => r.type.startsWith("aws:") && !untaggable.includes(r.type));
        expect(taggable.length).toBeGreaterThan(20);
        for (const r of taggable) {
            expect(r.inputs.tags).toMatchObject({ team: "platform", "cost-center": "42" });
            expect(r.inputs.tags["etcd:cluster"]).toMatch(/^tagged-[0-9a-f]{8}$/);
        }
        expect(of("tagged", T.instance).map((i) => i.inputs.tags.Name)).toEqual(["tagged-0", "tagged-1", "tagged-2"]);
        expect(of("tagged", T.volume).map((v) => v.inputs.tags.Name)).toEqual(["tagged-0", "tagged-1", "tagged-2"]);
    });
});
