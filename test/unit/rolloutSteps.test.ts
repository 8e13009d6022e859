// What the rollout and membership modules decide, checked literally on the inputs and options of the commands and
// parameters they register: each member's step (its gate, create/update/delete scripts and whole environment),
// the backup before a change, the cluster's readiness check, the order the steps wait for each other, and the
// membership parameters. Small clusters in one mocked stack: two of them existed before (their interfaces are
// in the account), the others are new; they differ in readiness mode, key delivery and backups.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { healthGateScript } from "../../components/healthGate";
import { membershipLayout, membershipLibrarySha256, membershipParameterNames } from "../../components/membership";
import { renderDirectRemoveStep, renderSsmRemoveStep } from "../../components/render/memberRemoval";
import { renderMembershipLibrary } from "../../components/render/membership";
import { stackCredentialEnvironment } from "../../components/rollout";
import { earlierResource, installStackMocks, RecordedResource, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const T = {
    eni: "aws:ec2/networkInterface:NetworkInterface",
    instance: "aws:ec2/instance:Instance",
    attachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    parameter: "aws:ssm/parameter:Parameter",
    policy: "aws:iam/rolePolicy:RolePolicy",
    command: "command:local:Command",
};

const subnets = (n: number) => ({ vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222"].slice(0, n) });
const build: Record<string, EtcdClusterArgs> = {
    // Existing, SSM readiness checks and backups (the defaults besides the size).
    sb: { ...subnets(2), size: 2, backup: { enabled: true } },
    // New, direct readiness checks with backups, keys in user-data, the caller's AMI, a shorter timeout.
    db: {
        ...subnets(1),
        size: 1,
        keyDelivery: "inline",
        readiness: { mode: "direct", timeoutSeconds: 300 },
        backup: { enabled: true },
        ami: "ami-0123456789abcdef0",
    },
    // New, direct readiness checks, keys in user-data, no backups (members have no role), another instance type.
    dn: { ...subnets(2), size: 2, keyDelivery: "inline", readiness: { mode: "direct" }, backup: { enabled: false }, instanceType: "m6i.large" },
    // Existing, no readiness checks, keys in SSM, no backups.
    ks: { ...subnets(2), size: 2, readiness: { mode: "none" }, backup: { enabled: false } },
    // New, no readiness checks, backups; its own aws provider.
    nb: { ...subnets(1), size: 1, readiness: { mode: "none" }, backup: { enabled: true } },
};
// The cluster ids: <name>-<first 8 hex of sha256("etcd-cluster/test/<name>")> (project etcd-cluster, stack test).
const id = { sb: "sb-6216b544", db: "db-90f4de3a", dn: "dn-6274daca", ks: "ks-6a040ca0", nb: "nb-4d83cb4f" };

/** A network interface of a previous run, tagged with a cluster's id: the cluster exists. */
const previousInterface = (clusterId: string): RecordedResource =>
    earlierResource({
        type: T.eni,
        name: `previous-${clusterId}`,
        id: `eni-0${clusterId.slice(-8)}00000000`,
        inputs: { tags: { "etcd:cluster": clusterId } },
    });

const stackConfig = { "aws:profile": "etcd-admin", "aws:assumeRoles": JSON.stringify([{ roleArn: "arn:aws:iam::123456789012:role/deployer" }]) };

let mocks: StackMocks;
/** The provider each lookup of a cluster's interfaces went to ("" for the default provider). */
const lookupProviders: Record<string, string> = {};
beforeAll(async () => {
    mocks = await installStackMocks({ tls: "fake", existingResources: [id.sb, id.ks].map(previousInterface) }, { config: stackConfig });
    const warn = pulumi.log.warn;
    pulumi.log.warn = async () => undefined;
    const call = mocks.call.bind(mocks);
    mocks.call = (args) => {
        if (args.token === "aws:ec2/getNetworkInterfaces:getNetworkInterfaces") lookupProviders[args.inputs.filters[0].values[0]] = args.provider ?? "";
        return call(args);
    };
    const aws = await import("@pulumi/aws");
    const { EtcdCluster } = await import("../../components");
    const nbProvider = { aws: new aws.Provider("nb-aws", { region: "eu-west-1" }) };
    const clusters: EtcdClusterType[] = Object.entries(build).map(
        ([name, args]) => new EtcdCluster(name, args, name === "nb" ? { providers: nbProvider } : {}),
    );
    // A registration that fails (an error in an apply) leaves later members unresolved for good: once nothing is
    // registered any more, fail at once rather than at the hook's timeout.
    const members = Promise.all(clusters.map((c) => valueOf(c.members)));
    await settled(mocks);
    await Promise.race([
        members,
        settled(mocks).then(() => {
            throw new Error("the members never resolved: a registration failed");
        }),
    ]);
    pulumi.log.warn = warn;
});

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const gate = healthGateScript();
const command = (name: string) => mocks.get(T.command, name);
const urn = (type: string, name: string) => mocks.get(type, name).urn;
const dependsOn = (type: string, name: string) => mocks.get(type, name).dependsOn;
/** Names of a cluster's commands besides the AMI lookups. */
const steps = (cluster: string) =>
    mocks
        .ofType(T.command)
        .map((r) => r.name)
        .filter((n) => n.startsWith(`${cluster}-`) && !n.startsWith(`${cluster}-image-`))
        .sort();
/**
 * A member's revision as the gate must carry it: the digest of its user-data's digest, the instance type and the
 * caller's AMI ("" without one), as JSON in this key order. It must stay stable from one release of the component
 * to the next: any change to it reruns every member's gate and backs the cluster up on the next `pulumi up`.
 */
const revision = (cluster: string, i: number, instanceType: string, ami: string) =>
    sha256(JSON.stringify({ userData: sha256(mocks.get(T.instance, `${cluster}-member-${i}`).inputs.userData), instanceType, ami }));

const credentials = { AWS_PROFILE: "etcd-admin", ETCD_GATE_ROLE_ARN: "arn:aws:iam::123456789012:role/deployer" };
const pem = {
    dbCa: "-----BEGIN CERTIFICATE-----\nZGItY2E=\n-----END CERTIFICATE-----\n",
    dbCert: "-----BEGIN CERTIFICATE-----\nZGItY2xpZW50\n-----END CERTIFICATE-----\n",
    dbKey: "-----BEGIN EC PRIVATE KEY-----\nZGItY2xpZW50LWtleQ==\n-----END EC PRIVATE KEY-----\n",
    dnCa: "-----BEGIN CERTIFICATE-----\nZG4tY2E=\n-----END CERTIFICATE-----\n",
    dnCert: "-----BEGIN CERTIFICATE-----\nZG4tY2xpZW50\n-----END CERTIFICATE-----\n",
    dnKey: "-----BEGIN EC PRIVATE KEY-----\nZG4tY2xpZW50LWtleQ==\n-----END EC PRIVATE KEY-----\n",
};
const instanceIds = { sb0: "i-0e54b82679564429b", sb1: "i-0cb5daf93b5d43c11" };
const dbBackup = {
    ETCD_GATE_BACKUP_URL: "s3://etcd-backups-90f4de3a-45467559774946119668224151/etcd-backups/db-90f4de3a/snapshots/",
    ETCD_GATE_BACKUP_KMS_KEY_ARN: "arn:aws:kms:eu-west-1:123456789012:key/d456833a-b0b8-01e8-209f-10ef1698ea12",
    ETCD_GATE_CLUSTER_ID: "db-90f4de3a",
};

describe("rollout.ts: which steps a cluster gets", () => {
    test("with readiness checks: a step per member and the cluster's check; with backups also the backup before a change", () => {
        expect(steps("sb")).toEqual(["sb-backup-before-change", "sb-member-0-rolled", "sb-member-1-rolled", "sb-ready"]);
        expect(steps("db")).toEqual(["db-backup-before-change", "db-member-0-rolled", "db-ready"]);
        expect(steps("dn")).toEqual(["dn-member-0-rolled", "dn-member-1-rolled", "dn-ready"]);
    });

    test("without readiness checks: no step at all, backups or not", () => {
        expect(steps("ks")).toEqual([]);
        expect(steps("nb")).toEqual([]);
    });

    test("whether a cluster exists is asked of AWS: its interfaces tagged etcd:cluster=<cluster id>", () => {
        const lookups = mocks.invokes.filter((i) => i.token === "aws:ec2/getNetworkInterfaces:getNetworkInterfaces").map((i) => i.args);
        expect(lookups).toHaveLength(5);
        for (const clusterId of Object.values(id)) {
            expect(lookups).toContainEqual({ filters: [{ name: "tag:etcd:cluster", values: [clusterId] }] });
        }
    });

    test("the lookup goes to the component's aws provider when it is given one", () => {
        expect(lookupProviders).toStrictEqual({
            "sb-6216b544": "",
            "db-90f4de3a": "",
            "dn-6274daca": "",
            "ks-6a040ca0": "",
            "nb-4d83cb4f": "urn:pulumi:test::etcd-cluster::pulumi:providers:aws::nb-aws::nb-aws-id",
        });
    });

    test("every step and membership parameter belongs to its cluster's component", () => {
        for (const c of Object.keys(build)) {
            const own = mocks.resources.filter(
                (r) =>
                    (r.type === T.command && !r.name.startsWith(`${c}-image-`)) || (r.type === T.parameter && /-(members|membership-functions)$/.test(r.name)),
            );
            for (const r of own.filter((x) => x.name.startsWith(`${c}-`))) {
                expect({ name: r.name, parent: r.parent }).toEqual({
                    name: r.name,
                    parent: `urn:pulumi:test::etcd-cluster::etcd-cluster:index:EtcdCluster::${c}`,
                });
            }
        }
    });
});

describe("rollout.ts: a member's step", () => {
    const scripts = (name: string) => {
        const { environment: _, ...rest } = command(name).inputs;
        return rest;
    };

    test("creates with the gate without a backup, updates with the gate, deletes with the removal of its mode", () => {
        for (const name of ["sb-member-0-rolled", "sb-member-1-rolled"]) {
            expect(scripts(name)).toStrictEqual({
                create: `unset ETCD_GATE_BACKUP\n${gate}`,
                update: gate,
                delete: renderSsmRemoveStep(),
                interpreter: ["/bin/bash", "-c"],
            });
        }
        for (const name of ["db-member-0-rolled", "dn-member-0-rolled", "dn-member-1-rolled"]) {
            expect(scripts(name)).toStrictEqual({
                create: `unset ETCD_GATE_BACKUP\n${gate}`,
                update: gate,
                delete: renderDirectRemoveStep(),
                interpreter: ["/bin/bash", "-c"],
            });
        }
        // The two removals differ: one runs on the member through SSM, the other here with the client key.
        expect(renderSsmRemoveStep()).toContain("aws ssm send-command");
        expect(renderDirectRemoveStep()).toContain('"$ETCD_GATE_KEY_PEM"');
        expect(gate.startsWith("#!/bin/bash\n")).toBe(true);
    });

    test("ssm mode with backups: the member and those before it, the instance, the account, the stack's credentials, a backup after an update", () => {
        const common = {
            ...credentials,
            ETCD_GATE_MODE: "ssm",
            ETCD_GATE_TIMEOUT_SECONDS: "900",
            AWS_REGION: "eu-west-1",
            ETCD_GATE_ACCOUNT_ID: "123456789012",
            ETCD_GATE_BACKUP: "1",
            ETCD_GATE_MEMBERS_EXACT: "false",
        };
        expect(command("sb-member-0-rolled").inputs.environment).toStrictEqual({
            ...common,
            ETCD_GATE_INSTANCE_IDS: instanceIds.sb0,
            ETCD_GATE_MEMBERS: "sb-0=https://10.0.1.10:2380",
            ETCD_GATE_MEMBER: "sb-0",
            ETCD_GATE_MEMBER_REVISION: revision("sb", 0, "m7i.large", ""),
            ETCD_REMOVE_MEMBER: "sb-0",
            ETCD_REMOVE_PEER_URL: "https://10.0.1.10:2380",
            ETCD_REMOVE_AFTER: "sb-1 sb-2 sb-3 sb-4 sb-5 sb-6 sb-7 sb-8",
        });
        expect(command("sb-member-1-rolled").inputs.environment).toStrictEqual({
            ...common,
            ETCD_GATE_INSTANCE_IDS: instanceIds.sb1,
            ETCD_GATE_MEMBERS: "sb-0=https://10.0.1.10:2380,sb-1=https://10.0.2.10:2380",
            ETCD_GATE_MEMBER: "sb-1",
            ETCD_GATE_MEMBER_REVISION: revision("sb", 1, "m7i.large", ""),
            ETCD_REMOVE_MEMBER: "sb-1",
            ETCD_REMOVE_PEER_URL: "https://10.0.2.10:2380",
            ETCD_REMOVE_AFTER: "sb-2 sb-3 sb-4 sb-5 sb-6 sb-7 sb-8",
        });
        // Nothing in it is secret in ssm mode: a preview shows what changed.
        expect(command("sb-member-0-rolled").secretInputs).toEqual([]);
        expect(command("sb-member-1-rolled").secretInputs).toEqual([]);
    });

    test("direct mode with backups: the client endpoints up to this member and the client key (all secret), where the backup goes", () => {
        expect(command("db-member-0-rolled").inputs.environment).toStrictEqual({
            ...credentials,
            ...dbBackup,
            ETCD_GATE_MODE: "direct",
            ETCD_GATE_TIMEOUT_SECONDS: "300",
            AWS_REGION: "eu-west-1",
            ETCD_GATE_ACCOUNT_ID: "123456789012",
            ETCD_GATE_BACKUP: "1",
            ETCD_GATE_CA_PEM: pem.dbCa,
            ETCD_GATE_CERT_PEM: pem.dbCert,
            ETCD_GATE_KEY_PEM: pem.dbKey,
            ETCD_GATE_ENDPOINTS: "https://10.0.1.11:2379",
            ETCD_GATE_MEMBERS: "db-0=https://10.0.1.11:2380",
            ETCD_GATE_MEMBERS_EXACT: "false",
            ETCD_GATE_MEMBER: "db-0",
            ETCD_GATE_MEMBER_REVISION: revision("db", 0, "m7i.large", "ami-0123456789abcdef0"),
            ETCD_REMOVE_MEMBER: "db-0",
            ETCD_REMOVE_PEER_URL: "https://10.0.1.11:2380",
            ETCD_REMOVE_AFTER: "db-1 db-2 db-3 db-4 db-5 db-6 db-7 db-8",
        });
        expect(command("db-member-0-rolled").secretInputs).toEqual(["environment"]);
    });

    test("direct mode without backups: no AWS at all, no backup", () => {
        expect(command("dn-member-0-rolled").inputs.environment).toStrictEqual({
            ETCD_GATE_MODE: "direct",
            ETCD_GATE_TIMEOUT_SECONDS: "900",
            ETCD_GATE_ENDPOINTS: "https://10.0.1.12:2379",
            ETCD_GATE_CA_PEM: pem.dnCa,
            ETCD_GATE_CERT_PEM: pem.dnCert,
            ETCD_GATE_KEY_PEM: pem.dnKey,
            ETCD_GATE_MEMBERS: "dn-0=https://10.0.1.12:2380",
            ETCD_GATE_MEMBERS_EXACT: "false",
            ETCD_GATE_MEMBER: "dn-0",
            ETCD_GATE_MEMBER_REVISION: revision("dn", 0, "m6i.large", ""),
            ETCD_REMOVE_MEMBER: "dn-0",
            ETCD_REMOVE_PEER_URL: "https://10.0.1.12:2380",
            ETCD_REMOVE_AFTER: "dn-1 dn-2 dn-3 dn-4 dn-5 dn-6 dn-7 dn-8",
        });
        expect(command("dn-member-1-rolled").inputs.environment).toStrictEqual({
            ETCD_GATE_MODE: "direct",
            ETCD_GATE_TIMEOUT_SECONDS: "900",
            ETCD_GATE_ENDPOINTS: "https://10.0.1.12:2379,https://10.0.2.11:2379",
            ETCD_GATE_CA_PEM: pem.dnCa,
            ETCD_GATE_CERT_PEM: pem.dnCert,
            ETCD_GATE_KEY_PEM: pem.dnKey,
            ETCD_GATE_MEMBERS: "dn-0=https://10.0.1.12:2380,dn-1=https://10.0.2.11:2380",
            ETCD_GATE_MEMBERS_EXACT: "false",
            ETCD_GATE_MEMBER: "dn-1",
            ETCD_GATE_MEMBER_REVISION: revision("dn", 1, "m6i.large", ""),
            ETCD_REMOVE_MEMBER: "dn-1",
            ETCD_REMOVE_PEER_URL: "https://10.0.2.11:2380",
            ETCD_REMOVE_AFTER: "dn-2 dn-3 dn-4 dn-5 dn-6 dn-7 dn-8",
        });
        expect(command("dn-member-0-rolled").secretInputs).toEqual(["environment"]);
        expect(command("dn-member-1-rolled").secretInputs).toEqual(["environment"]);
    });

    test("the revision changes with the user-data, the instance type and the caller's AMI", () => {
        const env = (name: string) => command(name).inputs.environment.ETCD_GATE_MEMBER_REVISION;
        const revisions = ["sb-member-0-rolled", "sb-member-1-rolled", "db-member-0-rolled", "dn-member-0-rolled"].map(env);
        expect(new Set(revisions).size).toBe(4);
        expect(revision("db", 0, "m7i.large", "")).not.toBe(env("db-member-0-rolled"));
        expect(revision("dn", 0, "m7i.large", "")).not.toBe(env("dn-member-0-rolled"));
    });

    test("each step runs after its member's volume attachment", () => {
        for (const name of ["sb-member-0", "sb-member-1", "db-member-0", "dn-member-0", "dn-member-1"]) {
            expect(dependsOn(T.command, `${name}-rolled`)).toContain(urn(T.attachment, `${name}-data`));
        }
    });
});

describe("rollout.ts: the order of members", () => {
    test("an existing cluster with backups: the first member after the backup before a change, the next after the first member's step", () => {
        expect(dependsOn(T.instance, "sb-member-0")).toContain(urn(T.command, "sb-backup-before-change"));
        expect(dependsOn(T.instance, "sb-member-1")).toContain(urn(T.command, "sb-member-0-rolled"));
        expect(dependsOn(T.instance, "sb-member-1")).not.toContain(urn(T.command, "sb-backup-before-change"));
        expect(dependsOn(T.instance, "sb-member-0")).not.toContain(urn(T.command, "sb-member-1-rolled"));
    });

    test("an existing cluster without readiness checks: the next member after the first member's volume attachment", () => {
        expect(dependsOn(T.instance, "ks-member-1")).toContain(urn(T.attachment, "ks-member-0-data"));
        expect(dependsOn(T.instance, "ks-member-0")).not.toContain(urn(T.attachment, "ks-member-1-data"));
    });

    test("a new cluster: no member waits for the backup before a change or another member", () => {
        expect(dependsOn(T.instance, "db-member-0")).not.toContain(urn(T.command, "db-backup-before-change"));
        const commandUrns = mocks.ofType(T.command).map((r) => r.urn);
        for (const name of ["db-member-0", "dn-member-0", "dn-member-1", "nb-member-0"]) {
            expect(dependsOn(T.instance, name).filter((u) => commandUrns.includes(u) && !u.includes("-image-"))).toEqual([]);
        }
    });

    test("the cluster's check: after every member's attachment, and on an existing cluster after every member's step", () => {
        const ready = dependsOn(T.command, "sb-ready");
        for (const name of ["sb-member-0", "sb-member-1"]) {
            expect(ready).toContain(urn(T.attachment, `${name}-data`));
            expect(ready).toContain(urn(T.command, `${name}-rolled`));
        }
        for (const name of ["db-member-0", "dn-member-0", "dn-member-1"]) {
            const c = name.slice(0, 2);
            expect(dependsOn(T.command, `${c}-ready`)).toContain(urn(T.attachment, `${name}-data`));
            expect(dependsOn(T.command, `${c}-ready`)).not.toContain(urn(T.command, `${name}-rolled`));
        }
    });
});

describe("rollout.ts: the backup before a change", () => {
    test("ssm mode: its create records the members, its update backs up by the cluster's tag (no instance ids), with the digest of every revision", () => {
        const backup = command("sb-backup-before-change");
        expect(backup.inputs).toStrictEqual({
            create: 'echo "etcd cluster sb-6216b544: 2 members recorded"',
            update: gate,
            interpreter: ["/bin/bash", "-c"],
            environment: {
                ...credentials,
                ETCD_GATE_MODE: "ssm",
                ETCD_GATE_TIMEOUT_SECONDS: "900",
                AWS_REGION: "eu-west-1",
                ETCD_GATE_ACCOUNT_ID: "123456789012",
                ETCD_GATE_BEFORE_CHANGE: "1",
                ETCD_GATE_CLUSTER_ID: "sb-6216b544",
                ETCD_GATE_CHANGE_REVISION: sha256(`${revision("sb", 0, "m7i.large", "")} ${revision("sb", 1, "m7i.large", "")}`),
            },
        });
        expect(backup.secretInputs).toEqual([]);
    });

    test("direct mode: taken from this machine over the client endpoints, told the bucket, prefix and key; secret", () => {
        const backup = command("db-backup-before-change");
        expect(backup.inputs).toStrictEqual({
            create: 'echo "etcd cluster db-90f4de3a: 1 members recorded"',
            update: gate,
            interpreter: ["/bin/bash", "-c"],
            environment: {
                ...credentials,
                ...dbBackup,
                ETCD_GATE_MODE: "direct",
                ETCD_GATE_TIMEOUT_SECONDS: "300",
                AWS_REGION: "eu-west-1",
                ETCD_GATE_ACCOUNT_ID: "123456789012",
                ETCD_GATE_ENDPOINTS: "https://10.0.1.11:2379",
                ETCD_GATE_CA_PEM: pem.dbCa,
                ETCD_GATE_CERT_PEM: pem.dbCert,
                ETCD_GATE_KEY_PEM: pem.dbKey,
                ETCD_GATE_BEFORE_CHANGE: "1",
                ETCD_GATE_CHANGE_REVISION: sha256(revision("db", 0, "m7i.large", "ami-0123456789abcdef0")),
            },
        });
        expect(backup.secretInputs).toEqual(["environment"]);
    });
});

describe("rollout.ts: the cluster's readiness check", () => {
    test("ssm mode: every member's instance, exactly the program's members, the others tolerated as leaving", () => {
        const ready = command("sb-ready");
        expect(ready.inputs).toStrictEqual({
            create: gate,
            update: gate,
            interpreter: ["/bin/bash", "-c"],
            environment: {
                ...credentials,
                ETCD_GATE_MODE: "ssm",
                ETCD_GATE_TIMEOUT_SECONDS: "900",
                AWS_REGION: "eu-west-1",
                ETCD_GATE_ACCOUNT_ID: "123456789012",
                ETCD_GATE_INSTANCE_IDS: `${instanceIds.sb0} ${instanceIds.sb1}`,
                ETCD_GATE_MEMBERS: "sb-0=https://10.0.1.10:2380,sb-1=https://10.0.2.10:2380",
                ETCD_GATE_MEMBERS_EXACT: "true",
                ETCD_GATE_LEAVING: "sb-2 sb-3 sb-4 sb-5 sb-6 sb-7 sb-8",
            },
        });
        expect(ready.secretInputs).toEqual([]);
    });

    test("direct mode: every member's client endpoint and the client key, secret; no backup, no AWS", () => {
        const ready = command("db-ready");
        expect(ready.inputs).toStrictEqual({
            create: gate,
            update: gate,
            interpreter: ["/bin/bash", "-c"],
            environment: {
                ETCD_GATE_MODE: "direct",
                ETCD_GATE_TIMEOUT_SECONDS: "300",
                ETCD_GATE_ENDPOINTS: "https://10.0.1.11:2379",
                ETCD_GATE_CA_PEM: pem.dbCa,
                ETCD_GATE_CERT_PEM: pem.dbCert,
                ETCD_GATE_KEY_PEM: pem.dbKey,
                ETCD_GATE_MEMBERS: "db-0=https://10.0.1.11:2380",
                ETCD_GATE_MEMBERS_EXACT: "true",
                ETCD_GATE_LEAVING: "db-1 db-2 db-3 db-4 db-5 db-6 db-7 db-8",
            },
        });
        expect(ready.secretInputs).toEqual(["environment"]);
        expect(command("dn-ready").inputs.environment).toStrictEqual({
            ETCD_GATE_MODE: "direct",
            ETCD_GATE_TIMEOUT_SECONDS: "900",
            ETCD_GATE_ENDPOINTS: "https://10.0.1.12:2379,https://10.0.2.11:2379",
            ETCD_GATE_CA_PEM: pem.dnCa,
            ETCD_GATE_CERT_PEM: pem.dnCert,
            ETCD_GATE_KEY_PEM: pem.dnKey,
            ETCD_GATE_MEMBERS: "dn-0=https://10.0.1.12:2380,dn-1=https://10.0.2.11:2380",
            ETCD_GATE_MEMBERS_EXACT: "true",
            ETCD_GATE_LEAVING: "dn-2 dn-3 dn-4 dn-5 dn-6 dn-7 dn-8",
        });
    });
});

describe("rollout.ts: the stack's credentials for the AWS CLI", () => {
    const config = (values: Record<string, unknown>) => {
        const asked: string[] = [];
        const stub = {
            get: (key: string) => (asked.push(`get ${key}`), values[key] as string | undefined),
            getObject: (key: string) => (asked.push(`getObject ${key}`), values[key]),
        };
        return { config: stub as unknown as pulumi.Config, asked };
    };
    const role = (n: number) => `arn:aws:iam::123456789012:role/r${n}`;

    test("aws:profile and the first of aws:assumeRoles, else aws:assumeRole; nothing when none is set", () => {
        expect(stackCredentialEnvironment(config({}).config)).toStrictEqual({});
        expect(stackCredentialEnvironment(config({ profile: "" }).config)).toStrictEqual({});
        expect(stackCredentialEnvironment(config({ profile: "ops" }).config)).toStrictEqual({ AWS_PROFILE: "ops" });
        expect(
            stackCredentialEnvironment(config({ assumeRoles: [{ roleArn: role(1) }, { roleArn: role(2) }], assumeRole: { roleArn: role(3) } }).config),
        ).toStrictEqual({
            ETCD_GATE_ROLE_ARN: role(1),
        });
        expect(stackCredentialEnvironment(config({ assumeRoles: [], assumeRole: { roleArn: role(3) } }).config)).toStrictEqual({ ETCD_GATE_ROLE_ARN: role(3) });
        expect(stackCredentialEnvironment(config({ assumeRoles: [{}], assumeRole: { roleArn: role(3) } }).config)).toStrictEqual({
            ETCD_GATE_ROLE_ARN: role(3),
        });
        expect(stackCredentialEnvironment(config({ assumeRole: { roleArn: role(3) } }).config)).toStrictEqual({ ETCD_GATE_ROLE_ARN: role(3) });
        expect(stackCredentialEnvironment(config({ assumeRole: {} }).config)).toStrictEqual({});
        expect(stackCredentialEnvironment(config({ profile: "ops", assumeRole: { roleArn: "" } }).config)).toStrictEqual({ AWS_PROFILE: "ops" });
    });

    test("reads exactly the provider's keys", () => {
        const { config: c, asked } = config({});
        stackCredentialEnvironment(c);
        expect(asked).toEqual(["get profile", "getObject assumeRoles", "getObject assumeRole"]);
    });
});

describe("membership.ts", () => {
    test("the layout: a discovery list whenever members have a role; the functions from the tools, SSM or user-data", () => {
        const layouts: string[] = [];
        for (const keyDelivery of ["ssm", "inline"]) {
            for (const readinessMode of ["ssm", "direct", "none"]) {
                for (const backups of [true, false]) {
                    const l = membershipLayout({ keyDelivery, readinessMode }, backups);
                    layouts.push(`${keyDelivery} ${readinessMode} ${backups ? "backups" : "-"}: ${l.discovery ? "discovery" : "-"} ${l.library}`);
                }
            }
        }
        expect(layouts).toEqual([
            "ssm ssm backups: discovery tools",
            "ssm ssm -: discovery ssm",
            "ssm direct backups: discovery tools",
            "ssm direct -: discovery ssm",
            "ssm none backups: discovery tools",
            "ssm none -: discovery ssm",
            "inline ssm backups: discovery tools",
            "inline ssm -: discovery user-data",
            "inline direct backups: discovery tools",
            "inline direct -: - user-data",
            "inline none backups: discovery tools",
            "inline none -: - user-data",
        ]);
        expect(Object.keys(membershipLayout({ keyDelivery: "ssm", readinessMode: "ssm" }, false)).sort()).toEqual(["discovery", "library"]);
    });

    test("the parameter names: under /etcd/<cluster id>/", () => {
        expect(membershipParameterNames("prod-0123abcd")).toStrictEqual({
            library: "/etcd/prod-0123abcd/membership.sh",
            discovery: "/etcd/prod-0123abcd/members",
        });
    });

    test("which clusters get which parameters: the discovery list with a role, the functions only with SSM keys and no backups", () => {
        const membershipParameters = mocks
            .ofType(T.parameter)
            .map((r) => r.name)
            .filter((n) => /-(members|membership-functions)$/.test(n))
            .sort();
        expect(membershipParameters).toEqual(["db-members", "ks-members", "ks-membership-functions", "nb-members", "sb-members"]);
    });

    test("the discovery list: a String parameter of every member's client URL, Standard tier, not secret, tagged", () => {
        const expected: Record<string, string> = {
            sb: "https://10.0.1.10:2379,https://10.0.2.10:2379",
            db: "https://10.0.1.11:2379",
            ks: "https://10.0.1.13:2379,https://10.0.2.12:2379",
            nb: "https://10.0.1.14:2379",
        };
        for (const [c, urls] of Object.entries(expected)) {
            const clusterId = id[c as keyof typeof id];
            const discovery = mocks.get(T.parameter, `${c}-members`);
            expect(discovery.inputs).toStrictEqual({
                name: `/etcd/${clusterId}/members`,
                type: "String",
                insecureValue: urls,
                tier: "Standard",
                description: "client URLs of the etcd members, where a member with an empty data dir looks for the cluster",
                tags: { "etcd:cluster": clusterId },
            });
            expect(discovery.secretInputs).toEqual([]);
        }
    });

    test("the functions: a String parameter, Standard tier, not secret, tagged; members fetch it by name and check its SHA-256", () => {
        const library = mocks.get(T.parameter, "ks-membership-functions");
        expect(library.inputs).toStrictEqual({
            name: "/etcd/ks-6a040ca0/membership.sh",
            type: "String",
            insecureValue: renderMembershipLibrary(),
            tier: "Standard",
            description: "etcd membership functions, fetched at first start",
            tags: { "etcd:cluster": "ks-6a040ca0" },
        });
        expect(library.secretInputs).toEqual([]);
        // The boot script hashes the value as `printf '%s\n' "$(aws ssm get-parameter ...)"`: the text ends in one
        // newline, so that is the parameter's own text.
        expect(renderMembershipLibrary()).toMatch(/[^\n]\n$/);
        expect(membershipLibrarySha256()).toBe(sha256(renderMembershipLibrary()));
        for (const i of [0, 1]) {
            const userData: string = mocks.get(T.instance, `ks-member-${i}`).inputs.userData;
            expect(userData).toContain(`fetch_ssm membership.sh '${membershipLibrarySha256()}' '/etcd/ks-6a040ca0/membership.sh'`);
            expect(userData).toContain("/etcd/ks-6a040ca0/members");
            // A member's role may read both.
            const policy = JSON.stringify(mocks.get(T.policy, `ks-member-${i}-keys`).inputs.policy);
            expect(policy).toContain("parameter/etcd/ks-6a040ca0/membership.sh");
            expect(policy).toContain("parameter/etcd/ks-6a040ca0/members");
        }
    });
});
