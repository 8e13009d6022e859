// Pulumi mocks for running the component (or the example stack) without the Pulumi CLI or provider
// plugins: AWS resources get AWS-shaped ids and addresses, @pulumi/tls resources get real keys and
// certificates (openssl), and any call nobody mocked fails loudly. Every registration is recorded with the
// secretness of its inputs, so tests and `npm run plan` can inspect exactly what would be sent to providers.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { certRequest, generatePrivateKey, locallySignedCert, selfSignedCert } from "./realTls";

/** A subnet the mocked `aws.ec2.getSubnet` knows: members' addresses are allocated from its CIDR. */
export interface MockSubnet {
    cidrBlock: string;
    availabilityZone: string;
    vpcId?: string;
}

export interface StackMockOptions {
    region?: string;
    accountId?: string;
    /** Subnets by id, for `getSubnet` and address allocation. @default three subnets a, b, c in eu-west-1 */
    subnets?: Record<string, MockSubnet>;
    /** First host number allocated in each subnet. @default 10 */
    firstHost?: number;
    /** "real": openssl keys and certificates; "fake": deterministic placeholder PEM (for determinism tests). @default "real" */
    tls?: "real" | "fake";
    /** Value returned for the x86_64 AMI SSM parameter. @default "ami-0a1b2c3d4e5f60718" */
    ami?: string;
    /**
     * Resources that already exist in the account, e.g. a previous run's `resources`: lookups such as
     * `getNetworkInterfaces` find them, as AWS would on a stack that was deployed before. @default [] (a new stack)
     */
    existingResources?: RecordedResource[];
    /**
     * Time each custom resource takes to create, in ms (a fixed figure, or per resource): registrations then
     * complete in the order the engine could run them, and `timings` shows the critical path. @default 0
     */
    latencyMs?: number | ((resource: { type: string; name: string }) => number);
    /**
     * Resources with the same type, name and inputs as one of `existingResources` get that resource's id
     * and outputs, as the engine keeps the state of a resource that does not change: a second run of the
     * program then sees the first run's keys, certificates and ids downstream (the local apply). @default false
     */
    replayExisting?: boolean;
    /** Value returned for the arm64 AMI SSM parameter. @default "ami-0f9e8d7c6b5a40312" */
    armAmi?: string;
    /** KMS aliases (name without "alias/") and the key ids they point to, for `aws.kms.getKey`. @default etcd-data */
    kmsAliases?: Record<string, string>;
}

/** When one registration started and completed, in ms since the mocks were installed. */
export interface ResourceTiming {
    type: string;
    name: string;
    startMs: number;
    endMs: number;
}

/** The architecture of the images the mocked AMI parameters return. */
export function mockImageArch(options: Required<StackMockOptions>, ami: string): "x86_64" | "arm64" | undefined {
    return ami === options.ami ? "x86_64" : ami === options.armAmi ? "arm64" : undefined;
}

/** One resource registration as the engine would receive it. */
export interface RecordedResource {
    type: string;
    name: string;
    urn: string;
    id: string;
    /** Inputs with secrets unwrapped. */
    inputs: Record<string, any>;
    /** Top-level input names that were marked secret when sent. */
    secretInputs: string[];
    /** Outputs the mock returned. */
    outputs: Record<string, any>;
    parent: string;
    dependsOn: string[];
    deleteBeforeReplace: boolean;
    protect: boolean;
    retainOnDelete: boolean;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    custom: boolean;
}

/** A resource of an earlier deployment (`existingResources`): what the engine holds for it, with default options. */
export function earlierResource(r: Pick<RecordedResource, "type" | "name" | "id" | "inputs">): RecordedResource {
    return {
        urn: "",
        secretInputs: [],
        outputs: {},
        parent: "",
        dependsOn: [],
        deleteBeforeReplace: false,
        protect: false,
        retainOnDelete: false,
        ignoreChanges: [],
        replaceOnChanges: [],
        custom: true,
        ...r,
    };
}

export interface RecordedInvoke {
    token: string;
    args: Record<string, any>;
}

export const defaultMockSubnets: Record<string, MockSubnet> = {
    "subnet-0aaa1111": { cidrBlock: "10.0.1.0/24", availabilityZone: "eu-west-1a", vpcId: "vpc-0123abcd" },
    "subnet-0bbb2222": { cidrBlock: "10.0.2.0/24", availabilityZone: "eu-west-1b", vpcId: "vpc-0123abcd" },
    "subnet-0ccc3333": { cidrBlock: "10.0.3.0/24", availabilityZone: "eu-west-1c", vpcId: "vpc-0123abcd" },
};

const secretSig = "1b47061264138c4ac30d75fd1eb44270";
const sigKey = "4dabf18193072939515e22adb298388d";

/** Inputs as plain values: secret markers (which the mock monitor passes through) removed. */
export function unwrapSecrets(value: any): any {
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    if (value !== null && typeof value === "object") {
        if (value[sigKey] === secretSig) {
            return unwrapSecrets(value.value);
        }
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

const hex = (text: string, length: number) => createHash("sha256").update(text).digest("hex").slice(0, length);

// AWS id shapes per resource type, so ids look like what the component will see on AWS.
const idPrefixes: Record<string, string> = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/networkInterface:NetworkInterface": "eni-",
    "aws:ebs/volume:Volume": "vol-",
    "aws:ec2/instance:Instance": "i-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
};

function ipv4ToInt(ip: string): number {
    return ip.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}
function intToIpv4(n: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

const fakePem = (kind: string, label: string) => `-----BEGIN ${kind}-----\n${Buffer.from(label).toString("base64")}\n-----END ${kind}-----\n`;

export class StackMocks implements pulumi.runtime.Mocks {
    readonly resources: RecordedResource[] = [];
    readonly invokes: RecordedInvoke[] = [];
    readonly timings: ResourceTiming[] = [];
    /** Registrations whose (delayed) creation has not completed yet. */
    inFlight = 0;
    /** Date.now() when the mocks were installed: `timings` count from it. */
    readonly epoch = Date.now();
    readonly options: Required<StackMockOptions>;
    private readonly subnets: Map<string, MockSubnet>;
    private readonly nextHost = new Map<string, number>();
    private readonly pending = new Map<string, Omit<RecordedResource, "id" | "inputs" | "outputs" | "urn">[]>();

    constructor(options: StackMockOptions = {}) {
        this.options = {
            region: options.region ?? "eu-west-1",
            accountId: options.accountId ?? "123456789012",
            subnets: options.subnets ?? defaultMockSubnets,
            firstHost: options.firstHost ?? 10,
            tls: options.tls ?? "real",
            ami: options.ami ?? "ami-0a1b2c3d4e5f60718",
            existingResources: options.existingResources ?? [],
            replayExisting: options.replayExisting ?? false,
            latencyMs: options.latencyMs ?? 0,
            armAmi: options.armAmi ?? "ami-0f9e8d7c6b5a40312",
            kmsAliases: options.kmsAliases ?? { "etcd-data": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" },
        };
        this.subnets = new Map(Object.entries(this.options.subnets));
    }

    /** Resources of one type, in registration order. */
    ofType(type: string): RecordedResource[] {
        return this.resources.filter((r) => r.type === type);
    }

    /** The one resource with this type and name; throws when there is none. */
    get(type: string, name: string): RecordedResource {
        const found = this.resources.find((r) => r.type === type && r.name === name);
        if (!found) {
            throw new Error(`no ${type} named ${name}; registered: ${this.resources.map((r) => `${r.type}::${r.name}`).join(", ")}`);
        }
        return found;
    }

    /** Called by the monitor wrapper with the raw request: remembers secretness and resource options. */
    noteRequest(
        type: string,
        name: string,
        raw: Record<string, any>,
        meta: Omit<RecordedResource, "id" | "inputs" | "outputs" | "urn" | "type" | "name" | "secretInputs">,
    ): void {
        const secretInputs = Object.entries(raw)
            .filter(([, v]) => v !== null && typeof v === "object" && v[sigKey] === secretSig)
            .map(([k]) => k)
            .sort();
        const key = `${type}::${name}`;
        this.pending.set(key, [...(this.pending.get(key) ?? []), { type, name, secretInputs, ...meta }]);
    }

    newResource(raw: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult | Promise<pulumi.runtime.MockResourceResult> {
        const { latencyMs } = this.options;
        const latency = raw.custom === false ? 0 : typeof latencyMs === "function" ? latencyMs({ type: raw.type, name: raw.name }) : latencyMs;
        if (latency <= 0) {
            return this.register(raw);
        }
        const startMs = Date.now() - this.epoch;
        this.inFlight++;
        return new Promise((resolve) =>
            setTimeout(() => {
                this.inFlight--;
                this.timings.push({ type: raw.type, name: raw.name, startMs, endMs: Date.now() - this.epoch });
                resolve(this.register(raw));
            }, latency),
        );
    }

    private register(raw: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        const args = { ...raw, inputs: unwrapSecrets(raw.inputs) };
        const key = `${args.type}::${args.name}`;
        const kept = this.options.replayExisting
            ? this.options.existingResources.find((r) => `${r.type}::${r.name}` === key && JSON.stringify(r.inputs) === JSON.stringify(args.inputs))
            : undefined;
        const { id, state } = kept ? { id: kept.id || undefined, state: kept.outputs } : this.outputsFor(args);
        const queued = this.pending.get(key) ?? [];
        const meta = queued.shift() ?? {
            type: args.type,
            name: args.name,
            secretInputs: [],
            parent: "",
            dependsOn: [],
            deleteBeforeReplace: false,
            protect: false,
            retainOnDelete: false,
            ignoreChanges: [],
            replaceOnChanges: [],
            custom: args.custom ?? true,
        };
        // The URN the engine gives it (as other resources' dependsOn name it): parent type chain, type, name.
        const parentType = meta.parent ? meta.parent.split("::")[2] : undefined;
        const urn = `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${parentType ? `${parentType}$` : ""}${args.type}::${args.name}`;
        this.resources.push({ ...meta, urn, id: id ?? "", inputs: args.inputs, outputs: state });
        return { id, state };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        args = { ...args, inputs: unwrapSecrets(args.inputs) };
        this.invokes.push({ token: args.token, args: args.inputs });
        const region = this.options.region;
        switch (args.token) {
            case "aws:index/getRegion:getRegion":
                return { id: region, name: region, region, endpoint: `ec2.${region}.amazonaws.com`, description: region };
            case "aws:index/getPartition:getPartition":
                return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return {
                    id: this.options.accountId,
                    accountId: this.options.accountId,
                    arn: `arn:aws:iam::${this.options.accountId}:user/mock`,
                    userId: "AIDAMOCK",
                };
            case "aws:index/getAvailabilityZones:getAvailabilityZones": {
                const names = ["a", "b", "c", "d"].map((z) => `${region}${z}`);
                return { id: region, names, zoneIds: names.map((_, i) => `euw1-az${i + 1}`), state: "available" };
            }
            case "aws:ssm/getParameter:getParameter": {
                const name = String(args.inputs.name);
                if (!name.startsWith("/aws/service/ami-amazon-linux-latest/")) {
                    throw new Error(`mock: no SSM parameter ${name}`);
                }
                const ami = name.endsWith("-arm64") ? this.options.armAmi : this.options.ami;
                return { id: name, name, arn: `arn:aws:ssm:${region}::parameter${name}`, type: "String", value: ami, insecureValue: ami, version: 1 };
            }
            case "aws:kms/getKey:getKey": {
                // DescribeKey: a key id, key ARN, alias name or alias ARN; the answer names the key, never the alias.
                const keyId = String(args.inputs.keyId);
                const alias = /^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:)?alias\/(.+)$/.exec(keyId)?.[1];
                const id = alias !== undefined ? this.options.kmsAliases[alias] : /([0-9a-f-]{36}|mrk-[0-9a-f]{32})$/.exec(keyId)?.[1];
                if (!id) {
                    throw new Error(
                        `mock: NotFoundException: ${alias !== undefined ? `Alias arn:aws:kms:${region}:${this.options.accountId}:alias/${alias}` : `Key '${keyId}'`} is not found.`,
                    );
                }
                const arn = `arn:aws:kms:${region}:${this.options.accountId}:key/${id}`;
                return { id, keyId: keyId, arn, keyManager: "CUSTOMER", keyState: "Enabled", keyUsage: "ENCRYPT_DECRYPT", enabled: true };
            }
            case "aws:ec2/getNetworkInterfaces:getNetworkInterfaces":
                return {
                    id: region,
                    ids: this.existingNetworkInterfaces(args.inputs),
                    filters: args.inputs.filters,
                    tags: args.inputs.tags ?? {},
                    region,
                };
            case "aws:ec2/getSubnet:getSubnet": {
                const subnet = this.subnets.get(String(args.inputs.id));
                if (!subnet) {
                    throw new Error(`mock: unknown subnet ${String(args.inputs.id)} (known: ${[...this.subnets.keys()].join(", ")})`);
                }
                return {
                    id: args.inputs.id,
                    ...subnet,
                    vpcId: subnet.vpcId ?? "vpc-0123abcd",
                    arn: `arn:aws:ec2:${region}:${this.options.accountId}:subnet/${args.inputs.id}`,
                };
            }
            default:
                throw new Error(`mock: unmocked call ${args.token}(${JSON.stringify(args.inputs)})`);
        }
    }

    /** Ids of the existing network interfaces that match every filter (tag filters only: others are not mocked). */
    private existingNetworkInterfaces(inputs: Record<string, any>): string[] {
        const filters: { name: string; values: string[] }[] = [
            ...Object.entries((inputs.tags ?? {}) as Record<string, string>).map(([key, value]) => ({ name: `tag:${key}`, values: [value] })),
            ...((inputs.filters ?? []) as { name: string; values: string[] }[]),
        ];
        for (const filter of filters) {
            if (!filter.name.startsWith("tag:") || filter.values.some((v) => /[*?]/.test(v))) {
                throw new Error(`mock: getNetworkInterfaces filter ${filter.name}=${filter.values.join(",")} is not mocked (exact tag filters only)`);
            }
        }
        return this.options.existingResources
            .filter((r) => r.type === "aws:ec2/networkInterface:NetworkInterface")
            .filter((r) => filters.every((f) => f.values.includes(r.inputs.tags?.[f.name.slice("tag:".length)])))
            .map((r) => r.id);
    }

    private outputsFor(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        const { type, name, inputs } = args;
        const { region, accountId } = this.options;
        const id = `${idPrefixes[type] ?? ""}${idPrefixes[type] ? `0${hex(`${type}/${name}`, 16)}` : `${name}-id`}`;
        const arn = (service: string, resource: string, withRegion = true) => `arn:aws:${service}:${withRegion ? region : ""}:${accountId}:${resource}`;
        switch (type) {
            case "tls:index/privateKey:PrivateKey": {
                const key =
                    this.options.tls === "real"
                        ? generatePrivateKey(inputs as any)
                        : {
                              privateKeyPem: fakePem("EC PRIVATE KEY", name),
                              privateKeyPemPkcs8: fakePem("PRIVATE KEY", name),
                              publicKeyPem: fakePem("PUBLIC KEY", name),
                          };
                return { id, state: { ...inputs, ...key } };
            }
            case "tls:index/selfSignedCert:SelfSignedCert":
                return { id, state: { ...inputs, certPem: this.options.tls === "real" ? selfSignedCert(inputs as any) : fakePem("CERTIFICATE", name) } };
            case "tls:index/certRequest:CertRequest":
                return {
                    id,
                    state: { ...inputs, certRequestPem: this.options.tls === "real" ? certRequest(inputs as any) : fakePem("CERTIFICATE REQUEST", name) },
                };
            case "tls:index/locallySignedCert:LocallySignedCert":
                return { id, state: { ...inputs, certPem: this.options.tls === "real" ? locallySignedCert(inputs as any) : fakePem("CERTIFICATE", name) } };
            case "aws:ec2/subnet:Subnet":
                this.subnets.set(id, { cidrBlock: inputs.cidrBlock, availabilityZone: inputs.availabilityZone ?? `${region}a`, vpcId: inputs.vpcId });
                return { id, state: { ...inputs, arn: arn("ec2", `subnet/${id}`) } };
            case "aws:ec2/networkInterface:NetworkInterface": {
                const privateIp = inputs.privateIp ?? this.allocateAddress(String(inputs.subnetId));
                return { id, state: { ...inputs, privateIp, privateIps: [privateIp], arn: arn("ec2", `network-interface/${id}`) } };
            }
            case "aws:ec2/instance:Instance":
                return { id, state: { ...inputs, arn: arn("ec2", `instance/${id}`), instanceState: "running" } };
            case "aws:ebs/volume:Volume":
                return { id, state: { ...inputs, arn: arn("ec2", `volume/${id}`) } };
            case "aws:kms/key:Key": {
                const keyId = `${hex(name, 8)}-${hex(name + 1, 4)}-${hex(name + 2, 4)}-${hex(name + 3, 4)}-${hex(name + 4, 12)}`;
                return { id: keyId, state: { ...inputs, keyId, arn: arn("kms", `key/${keyId}`) } };
            }
            case "aws:s3/bucket:Bucket": {
                // S3 appends 26 digits to a bucket prefix.
                const digits = hex(name, 26).replace(/[a-f]/g, (c) => String(c.charCodeAt(0) - 97));
                const bucket = inputs.bucket ?? `${inputs.bucketPrefix ?? "terraform-"}${digits}`;
                return { id: bucket, state: { ...inputs, bucket, arn: `arn:aws:s3:::${bucket}`, bucketDomainName: `${bucket}.s3.amazonaws.com` } };
            }
            case "aws:ssm/parameter:Parameter":
                return { id: inputs.name, state: { ...inputs, arn: arn("ssm", `parameter${inputs.name}`), version: 1 } };
            case "aws:iam/role:Role":
            case "aws:iam/instanceProfile:InstanceProfile": {
                const roleName = `${name}-${hex(name, 7)}`;
                const kind = type === "aws:iam/role:Role" ? "role" : "instance-profile";
                return {
                    id: roleName,
                    state: { ...inputs, name: roleName, arn: arn("iam", `${kind}/${roleName}`, false), uniqueId: `AROA${hex(name, 16).toUpperCase()}` },
                };
            }
            case "aws:ec2/securityGroup:SecurityGroup":
                return { id, state: { ...inputs, arn: arn("ec2", `security-group/${id}`), name: `${name}-${hex(name, 7)}` } };
            case "command:local:Command": {
                // `echo WORD` prints WORD (the image holders); nothing else is run under mocks.
                const echoed = /^echo ([A-Za-z0-9._-]+)$/.exec(String(inputs.create ?? ""))?.[1];
                return { id, state: { ...inputs, stdout: echoed ?? "", stderr: "" } };
            }
            default:
                return { id, state: { ...inputs } };
        }
    }

    private allocateAddress(subnetId: string): string {
        const subnet = this.subnets.get(subnetId);
        if (!subnet) {
            throw new Error(`mock: network interface in unknown subnet ${subnetId}`);
        }
        const [base, bits] = subnet.cidrBlock.split("/");
        // Addresses of replayed interfaces stay theirs: a new interface never gets one of them.
        const taken = new Set(
            this.options.replayExisting
                ? this.options.existingResources.filter((r) => r.type === "aws:ec2/networkInterface:NetworkInterface").map((r) => r.outputs.privateIp)
                : [],
        );
        let host = this.nextHost.get(subnetId) ?? this.options.firstHost;
        while (taken.has(intToIpv4(ipv4ToInt(base) + host))) host++;
        if (host >= 2 ** (32 - Number(bits)) - 1) {
            throw new Error(`mock: subnet ${subnetId} (${subnet.cidrBlock}) has no free address`);
        }
        this.nextHost.set(subnetId, host + 1);
        return intToIpv4(ipv4ToInt(base) + host);
    }
}

/**
 * Installs the mocks for this process and wraps the mock monitor so that each registration's raw request
 * (secret markers, dependsOn, deleteBeforeReplace, ignoreChanges) is recorded too.
 */
export async function installStackMocks(
    options: StackMockOptions = {},
    run: { project?: string; stack?: string; config?: Record<string, string>; preview?: boolean } = {},
): Promise<StackMocks> {
    const mocks = new StackMocks(options);
    const project = run.project ?? "etcd-cluster";
    await pulumi.runtime.setMocks(mocks, project, run.stack ?? "test", run.preview ?? false);
    if (run.config) {
        pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(run.config).map(([k, v]) => [k.includes(":") ? k : `${project}:${k}`, v])));
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings");
    const monitor = settings.getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
        mocks.noteRequest(req.getType(), req.getName(), req.getObject()?.toJavaScript() ?? {}, {
            parent: req.getParent(),
            dependsOn: req.getDependenciesList(),
            deleteBeforeReplace: req.getDeletebeforereplace(),
            protect: req.getProtect() ?? false,
            retainOnDelete: req.getRetainondelete?.() ?? false,
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            custom: req.getCustom(),
        });
        return register(req, callback);
    };
    return mocks;
}

/** The value of an output (or plain input) once it resolves. */
export function valueOf<T>(value: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v as T)));
}

/** Waits until no registration has happened for a few event-loop turns: the graph is complete. */
export async function settled(mocks: StackMocks, quietTurns = 20): Promise<void> {
    let last = -1;
    let quiet = 0;
    while (quiet < quietTurns) {
        await new Promise((r) => setTimeout(r, 5));
        if (mocks.resources.length === last && mocks.inFlight === 0) {
            quiet++;
        } else {
            last = mocks.resources.length;
            quiet = 0;
        }
    }
}
