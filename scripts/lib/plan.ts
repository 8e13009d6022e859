// A readable plan of what a program would create, from the registrations recorded under mocks: one row per
// resource with the inputs that matter, and every secret shown as [secret].
import { createHash } from "crypto";
import { join } from "path";
import { installStackMocks, RecordedResource, settled, valueOf } from "./stackMocks";

const privateKeyPem = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
export const redacted = "[secret]";

/** "aws:ec2/instance:Instance" -> "aws.ec2.Instance"; component and command tokens likewise. */
export function shortType(type: string): string {
    const [pkg, module, name] = type.split(":");
    return `${pkg}.${(module ?? "").split("/")[0]}.${name}`.replace(".index.", ".");
}

type Describe = (inputs: Record<string, any>, ref: (id: unknown) => string) => string;

const join2 = (parts: (string | false | undefined)[]) => parts.filter(Boolean).join(" ");
const bytes = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex").slice(0, 12)}, ${Buffer.byteLength(text)} bytes`;

// The inputs a reviewer needs per type; anything else falls back to the list of input names.
const describers: Record<string, Describe> = {
    "aws:ec2/instance:Instance": (i, ref) =>
        join2([
            `type=${i.instanceType}`,
            `ami=${i.ami}`,
            `eni=${ref(i.primaryNetworkInterface?.networkInterfaceId)}`,
            `imds=${i.metadataOptions?.httpTokens === "required" ? "v2" : "v1-allowed"}/hop${i.metadataOptions?.httpPutResponseHopLimit}`,
            `root=${i.rootBlockDevice?.volumeType}${i.rootBlockDevice?.encrypted ? "/encrypted" : ""}`,
            `userData=${typeof i.userData === "string" ? bytes(i.userData) : i.userData}`,
            i.userDataReplaceOnChange && "replace-on-user-data",
        ]),
    "aws:ebs/volume:Volume": (i, ref) =>
        join2([
            `${i.type} ${i.size}GiB`,
            i.iops && `${i.iops}iops`,
            i.throughput && `${i.throughput}MiB/s`,
            `az=${i.availabilityZone}`,
            i.encrypted && `encrypted(${ref(i.kmsKeyId)})`,
            i.finalSnapshot && "final-snapshot",
        ]),
    "aws:ec2/networkInterface:NetworkInterface": (i, ref) => `subnet=${i.subnetId} groups=${(i.securityGroups ?? []).map(ref).join(",")}`,
    "aws:ec2/volumeAttachment:VolumeAttachment": (i, ref) => `${ref(i.volumeId)} -> ${ref(i.instanceId)} as ${i.deviceName}`,
    "aws:ec2/securityGroup:SecurityGroup": (i) => `vpc=${i.vpcId}`,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (i, ref) =>
        `in ${i.ipProtocol}/${i.fromPort === i.toPort ? i.fromPort : `${i.fromPort}-${i.toPort}`} from ${i.cidrIpv4 ?? i.cidrIpv6 ?? ref(i.referencedSecurityGroupId)}`,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (i, ref) =>
        `out ${i.ipProtocol}/${i.fromPort === i.toPort ? i.fromPort : `${i.fromPort}-${i.toPort}`} to ${i.cidrIpv4 ?? i.cidrIpv6 ?? ref(i.referencedSecurityGroupId)}`,
    "aws:ssm/parameter:Parameter": (i, ref) =>
        join2([
            i.name,
            i.type,
            i.keyId !== undefined && `key=${ref(i.keyId)}`,
            `value=${i.value ?? (typeof i.insecureValue === "string" ? bytes(i.insecureValue) : i.insecureValue)}`,
        ]),
    "aws:kms/key:Key": (i) => join2([i.enableKeyRotation && "rotation", `deletion-window=${i.deletionWindowInDays}d`]),
    "aws:iam/role:Role": (i) =>
        `assumed by ${JSON.parse(i.assumeRolePolicy)
            .Statement.map((s: any) => s.Principal.Service)
            .join(",")}`,
    "aws:iam/rolePolicy:RolePolicy": (i) =>
        JSON.parse(i.policy)
            .Statement.map((s: any) => `${s.Action} on ${[].concat(s.Resource).length} resource(s)${s.Condition ? " with condition" : ""}`)
            .join("; "),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (i) => `${String(i.policyArn).split("/").pop()}`,
    "aws:iam/instanceProfile:InstanceProfile": (i) => `role=${i.role}`,
    "tls:index/privateKey:PrivateKey": (i) => join2([i.algorithm, i.ecdsaCurve, i.rsaBits && String(i.rsaBits)]),
    "tls:index/selfSignedCert:SelfSignedCert": (i) =>
        join2([
            `CN=${JSON.stringify(i.subject?.commonName)}`,
            i.isCaCertificate && "is-CA",
            `${i.validityPeriodHours}h`,
            `uses=${(i.allowedUses ?? []).join(",")}`,
        ]),
    "tls:index/certRequest:CertRequest": (i) =>
        join2([`CN=${JSON.stringify(i.subject?.commonName)}`, `SANs=${[...(i.ipAddresses ?? []), ...(i.dnsNames ?? [])].join(",") || "-"}`]),
    "tls:index/locallySignedCert:LocallySignedCert": (i) =>
        join2([`${i.validityPeriodHours}h`, `renew ${i.earlyRenewalHours}h early`, `uses=${(i.allowedUses ?? []).join(",")}`]),
    "command:local:Command": (i) =>
        join2([
            `create=${String(i.create).includes("etcd-health-gate") ? "health gate" : JSON.stringify(String(i.create))}`,
            i.update !== undefined && `update=${String(i.update).includes("etcd-health-gate") ? "health gate" : "command"}`,
        ]),
};

/** Inputs with every secret replaced, and anything that looks like a private key replaced too. */
export function redact(r: RecordedResource): Record<string, any> {
    const scrub = (v: any): any => {
        if (typeof v === "string") return privateKeyPem.test(v) ? redacted : v;
        if (Array.isArray(v)) return v.map(scrub);
        if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x)]));
        return v;
    };
    return Object.fromEntries(Object.entries(r.inputs).map(([k, v]) => [k, r.secretInputs.includes(k) ? redacted : scrub(v)]));
}

export function renderPlan(resources: RecordedResource[], outputs: Record<string, unknown>): string {
    const byId = new Map(resources.filter((r) => r.id).map((r) => [r.id, r.name]));
    const byArn = new Map(resources.filter((r) => typeof r.outputs.arn === "string").map((r) => [r.outputs.arn as string, r.name]));
    const ref = (id: unknown) => (typeof id === "string" ? (byId.has(id) ? `<${byId.get(id)}>` : byArn.has(id) ? `<${byArn.get(id)}>` : id) : String(id));
    const order = (r: RecordedResource) => (r.custom ? 1 : 0);
    const sorted = [...resources].sort((a, b) => order(a) - order(b) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name, "en", { numeric: true }));
    const rows = sorted.map((r) => {
        const inputs = redact(r);
        const describe = describers[r.type];
        const summary = r.custom ? (describe ? describe(inputs, ref) : Object.keys(inputs).sort().join(",")) : "component";
        return [shortType(r.type), r.name, summary];
    });
    const width = (col: number) => Math.max(...rows.map((row) => row[col].length), 8);
    const lines = [`${"type".padEnd(width(0))}  ${"name".padEnd(width(1))}  inputs that matter`];
    for (const row of rows) lines.push(`${row[0].padEnd(width(0))}  ${row[1].padEnd(width(1))}  ${row[2]}`.trimEnd());
    const counts = new Map<string, number>();
    for (const r of resources) counts.set(shortType(r.type), (counts.get(shortType(r.type)) ?? 0) + 1);
    lines.push(
        "",
        `${resources.length} resources: ${[...counts]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([t, n]) => `${n} ${t}`)
            .join(", ")}`,
        "",
        "outputs:",
    );
    for (const [name, value] of Object.entries(outputs)) {
        lines.push(`  ${name}: ${value === redacted ? redacted : JSON.stringify(value)}`);
    }
    return `${lines.join("\n")}\n`;
}

/** The example stack's plan for a 3-member cluster in the given (mocked) network. */
export async function planExampleStack(config: Record<string, string> = {}): Promise<string> {
    const mocks = await installStackMocks(
        { tls: "fake" },
        { stack: "dev", config: { vpcId: "vpc-0123abcd", subnetIds: JSON.stringify(["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"]), ...config } },
    );
    const pulumi = await import("@pulumi/pulumi");
    const warn = pulumi.log.warn;
    pulumi.log.warn = async () => undefined;
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const stack = require(join(__dirname, "..", "..", "index"));
        const outputs: Record<string, unknown> = {};
        for (const [name, value] of Object.entries(stack)) {
            outputs[name] = (await pulumi.isSecret(value as any)) ? redacted : await valueOf(value as any);
        }
        await settled(mocks);
        return renderPlan(mocks.resources, outputs);
    } finally {
        pulumi.log.warn = warn;
    }
}
