// A readable plan of what a program would create, from the registrations recorded under mocks: one row per
// resource with the inputs that matter, and every secret shown as [secret].
import { createHash } from "crypto";
import { join } from "path";
import { parse } from "yaml";
import { installStackMocks, RecordedResource, settled, valueOf } from "../mocks/stackMocks";
import { availabilitySummary, diffRuns, orderChanges, ResourceChange } from "./planDiff";

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
            `root=${i.rootBlockDevice?.volumeType}${i.rootBlockDevice?.encrypted ? `/encrypted(${ref(i.rootBlockDevice?.kmsKeyId)})` : ""}`,
            `profile=${i.iamInstanceProfile === undefined ? "none" : ref(i.iamInstanceProfile)}`,
            `userData=${typeof i.userData === "string" ? `${Buffer.byteLength(i.userData)} bytes (below)` : i.userData}`,
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
    // The example stack's own network (no vpcId): `npm run plan -- --new-network`.
    "aws:ec2/vpc:Vpc": (i) => `${i.cidrBlock}`,
    "aws:ec2/subnet:Subnet": (i) => `${i.cidrBlock} az=${i.availabilityZone}`,
    "aws:ec2/routeTable:RouteTable": (i, ref) =>
        (i.routes ?? [])
            .map((r: any) => `${r.cidrBlock} -> ${r.natGatewayId ? `nat gateway ${ref(r.natGatewayId)}` : `internet gateway ${ref(r.gatewayId)}`}`)
            .join(", "),
    "aws:ec2/natGateway:NatGateway": (i, ref) => `in ${ref(i.subnetId)} address=${ref(i.allocationId)}`,
    "aws:ec2/eip:Eip": (i) => `public IPv4 (domain ${i.domain})`,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (i, ref) =>
        `in ${i.ipProtocol}/${i.fromPort === i.toPort ? i.fromPort : `${i.fromPort}-${i.toPort}`} from ${i.cidrIpv4 ?? i.cidrIpv6 ?? ref(i.referencedSecurityGroupId)}`,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (i, ref) =>
        `out ${i.ipProtocol}/${i.fromPort === i.toPort ? i.fromPort : `${i.fromPort}-${i.toPort}`} to ${i.cidrIpv4 ?? i.cidrIpv6 ?? ref(i.referencedSecurityGroupId)}`,
    "aws:ssm/parameter:Parameter": (i, ref) =>
        i.type === "SecureString"
            ? `${i.name} SecureString key=${ref(i.keyId)} value=${i.value}`
            : `${i.name} ${i.type} value=${typeof i.insecureValue === "string" ? `sha256:${createHash("sha256").update(i.insecureValue).digest("hex").slice(0, 12)}` : i.value}`,
    "aws:kms/key:Key": (i) => join2([i.enableKeyRotation && "rotation", `deletion-window=${i.deletionWindowInDays}d`]),
    "aws:iam/role:Role": (i) =>
        `assumed by ${JSON.parse(i.assumeRolePolicy)
            .Statement.map((s: any) => s.Principal.Service)
            .join(",")}`,
    "aws:iam/rolePolicy:RolePolicy": (i, ref) =>
        `role=${ref(i.role)} ` +
        JSON.parse(i.policy)
            .Statement.map(
                (s: any) =>
                    `${s.Effect} ${([] as unknown[]).concat(s.Action).join(",")} ${s.NotResource ? `except on ${([] as unknown[]).concat(s.NotResource).map(ref).join(",")}` : `on ${([] as unknown[]).concat(s.Resource).map(ref).join(",")}`}${s.Condition ? ` if ${JSON.stringify(s.Condition).replace(/"arn:[^"]+"/g, (arn) => ref(arn.slice(1, -1)))}` : ""}`,
            )
            .join("; "),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (i, ref) => `role=${ref(i.role)} ${i.policyArn}`,
    "aws:iam/instanceProfile:InstanceProfile": (i, ref) => `role=${ref(i.role)}`,
    // Backups: the bucket's settings, the members' tools object (by digest, like user-data) and the age alarm.
    "aws:s3/bucket:Bucket": (i) => `prefix=${i.bucketPrefix ?? i.bucket}`,
    "aws:s3/bucketVersioning:BucketVersioning": (i, ref) => `${ref(i.bucket)} ${i.versioningConfiguration?.status}`,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (i, ref) =>
        `${ref(i.bucket)} ${[i.blockPublicAcls, i.blockPublicPolicy, i.ignorePublicAcls, i.restrictPublicBuckets].every(Boolean) ? "all public access blocked" : "public access partly allowed"}`,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (i, ref) => `${ref(i.bucket)} ${i.rule?.objectOwnership}`,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (i, ref) =>
        (i.rules ?? [])
            .map(
                (r: any) =>
                    `${ref(i.bucket)} ${r.applyServerSideEncryptionByDefault?.sseAlgorithm}(${ref(r.applyServerSideEncryptionByDefault?.kmsMasterKeyId)})`,
            )
            .join(", "),
    "aws:s3/bucketPolicy:BucketPolicy": (i, ref) =>
        `${ref(i.bucket)} ${JSON.parse(i.policy)
            .Statement.map((s: any) => s.Sid)
            .join(",")}`,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (i, ref) =>
        `${ref(i.bucket)} ${(i.rules ?? []).map((r: any) => `${r.filter?.prefix?.split("/").slice(-2).join("/")}:${r.expiration?.days}d`).join(" ")} previous-versions:${i.rules?.[0]?.noncurrentVersionExpiration?.noncurrentDays}d`,
    "aws:s3/bucketObjectv2:BucketObjectv2": (i, ref) =>
        `${ref(i.bucket)}/${i.key} ${typeof i.content === "string" ? `content=${bytes(i.content)}` : ""} ${i.serverSideEncryption}(${ref(i.kmsKeyId)})`,
    "aws:cloudwatch/metricAlarm:MetricAlarm": (i) =>
        `${i.namespace}/${i.metricName} ${i.statistic} > ${i.threshold} over ${i.evaluationPeriods}x${i.period}s missing=${i.treatMissingData} actions=${(i.alarmActions ?? []).length}`,
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
            i.environment && typeof i.environment === "object" && `env=${Object.keys(i.environment).sort().join(",")}`,
            i.environment === redacted && `env=${redacted}`,
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
    // Ids, ARNs and generated names of other resources are shown as <their resource name>.
    const known = new Map<string, string>();
    for (const r of resources) {
        for (const value of [r.outputs.name, r.outputs.arn, r.id]) {
            if (typeof value === "string" && value !== "" && r.custom) known.set(value, r.name);
        }
    }
    const ref = (id: unknown) => (typeof id === "string" ? (known.has(id) ? `<${known.get(id)}>` : id) : String(id));
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    // dependsOn as the engine receives it holds every dependency; those that an input already references
    // (an id, ARN, name or key it carries) are implied, so only the ones the program added are shown.
    const explicitDependencies = (r: RecordedResource) => {
        // Compared without whitespace and escapes: a certificate inside user-data is indented and JSON-escaped.
        const squeeze = (text: string) => text.replace(/\\n|\s/g, "");
        const inputs = squeeze(JSON.stringify(r.inputs));
        return r.dependsOn
            .map((urn) => byUrn.get(urn))
            .filter((d): d is RecordedResource => d !== undefined)
            .filter((d) => ![d.id, ...Object.values(d.outputs)].some((v) => typeof v === "string" && v.length >= 6 && inputs.includes(squeeze(v))))
            .map((d) => `${shortType(d.type).split(".").pop()}:${d.name}`);
    };
    const options = (r: RecordedResource) => {
        const explicit = explicitDependencies(r);
        return join2([
            r.protect && "protect",
            r.retainOnDelete && "retainOnDelete",
            r.deleteBeforeReplace && "deleteBeforeReplace",
            explicit.length > 0 && `dependsOn=${explicit.join(",")}`,
            r.ignoreChanges.length > 0 && `ignoreChanges=${r.ignoreChanges.join(",")}`,
            r.replaceOnChanges.length > 0 && `replaceOnChanges=${r.replaceOnChanges.join(",")}`,
        ]);
    };
    const order = (r: RecordedResource) => (r.custom ? 1 : 0);
    const sorted = [...resources].sort((a, b) => order(a) - order(b) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name, "en", { numeric: true }));
    const rows = sorted.map((r) => {
        const inputs = redact(r);
        const describe = describers[r.type];
        const summary = r.custom ? (describe ? describe(inputs, ref) : Object.keys(inputs).sort().join(",")) : "component";
        return [shortType(r.type), r.name, summary, options(r)];
    });
    const width = (col: number) => Math.max(...rows.map((row) => row[col].length), 8);
    const lines = [`${"type".padEnd(width(0))}  ${"name".padEnd(width(1))}  inputs that matter`];
    for (const row of rows) {
        lines.push(`${row[0].padEnd(width(0))}  ${row[1].padEnd(width(1))}  ${row[2]}`.trimEnd());
        if (row[3]) lines.push(`${"".padEnd(width(0) + width(1) + 4)}options: ${row[3]}`);
    }
    const counts = new Map<string, number>();
    for (const r of resources) counts.set(shortType(r.type), (counts.get(shortType(r.type)) ?? 0) + 1);
    lines.push(
        "",
        `${resources.length} resources: ${[...counts]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([t, n]) => `${n} ${t}`)
            .join(", ")}`,
    );
    lines.push(...renderUserData(sorted));
    lines.push("", "outputs:");
    for (const [name, value] of Object.entries(outputs)) {
        lines.push(`  ${name}: ${value === redacted ? redacted : JSON.stringify(value)}`);
    }
    return `${lines.join("\n")}\n`;
}

const pem = /^-----BEGIN ([A-Z ]+)-----\n[\s\S]*-----END \1-----\n?$/;

/**
 * One file of a member's user-data as a reviewer reads it: the configuration (etcd.env) line by line, the
 * boot script's settings (its readonly lines, and the parameters it fetches with their pinned digests), other small text files whole; certificates and long files
 * as their size and digest. A file identical to the previous member's is named as such.
 */
function renderFile(path: string, content: string): { summary: string; body: string[] } {
    const head = `${Buffer.byteLength(content)} bytes, ${bytes(content).split(",")[0]}`;
    const match = pem.exec(content);
    if (privateKeyPem.test(content)) return { summary: redacted, body: [] };
    if (match) return { summary: `PEM ${match[1].toLowerCase()}, ${head}`, body: [] };
    const lines = content.trimEnd().split("\n");
    const indent = (l: string) => `      ${l}`;
    if (path.endsWith("/etcd-bootstrap")) {
        return {
            summary: `script, ${head}; its settings:`,
            body: lines.filter((l) => l.startsWith("readonly ") || l.trimStart().startsWith("fetch_ssm ")).map((l) => indent(l.trim())),
        };
    }
    if (lines.length <= 60) {
        return { summary: head, body: lines.filter((l) => l.trim() !== "").map(indent) };
    }
    return { summary: `${lines.length} lines, ${head}`, body: [] };
}

/** The user-data of every instance, file by file; files equal to the previous member's are not repeated. */
export function renderUserData(resources: RecordedResource[]): string[] {
    const lines: string[] = [];
    let previous: { name: string; files: Map<string, string> } | undefined;
    for (const r of resources.filter((x) => x.type === "aws:ec2/instance:Instance")) {
        const text = r.secretInputs.includes("userData") ? redacted : r.inputs.userData;
        lines.push("", `user-data of ${r.name}:`);
        if (typeof text !== "string" || text === redacted) {
            lines.push(`  ${redacted}`);
            continue;
        }
        const doc = parse(text);
        lines.push(`  ${text.split("\n")[0]}, ${Buffer.byteLength(text)} bytes, runcmd: ${JSON.stringify(doc.runcmd)}`);
        const files = new Map<string, string>();
        for (const f of doc.write_files ?? []) {
            files.set(f.path, f.content);
            // cloud-init's defaults where the file names none.
            const file = `  ${f.path} ${f.permissions ?? "0644"} ${f.owner ?? "root:root"}`;
            if (previous && previous.files.get(f.path) === f.content) {
                lines.push(`${file}: same as ${previous.name}`);
            } else {
                const { summary, body } = renderFile(f.path, f.content);
                lines.push(`${file}: ${summary}`, ...body);
            }
        }
        previous = { name: r.name, files };
    }
    return lines;
}

/**
 * The example stack's plan for a 3-member cluster in a (mocked) existing network, or with `newNetwork` as a
 * stack without `vpcId` creates it: its own VPC, subnets and NAT gateway.
 */
export async function planExampleStack(config: Record<string, string> = {}, o: { newNetwork?: boolean } = {}): Promise<string> {
    const { resources, outputs } = await runExampleStack(config, o);
    return renderPlan(resources, outputs);
}

/** One mocked run of the example stack; `existing` are the resources AWS already holds (a deployed stack). */
async function runExampleStack(
    config: Record<string, string>,
    o: { newNetwork?: boolean; existing?: RecordedResource[] } = {},
): Promise<{ resources: RecordedResource[]; outputs: Record<string, unknown> }> {
    const network: Record<string, string> = o.newNetwork
        ? {}
        : { vpcId: "vpc-0123abcd", subnetIds: JSON.stringify(["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"]) };
    const mocks = await installStackMocks({ tls: "fake", existingResources: o.existing ?? [] }, { stack: "dev", config: { ...network, ...config } });
    const pulumi = await import("@pulumi/pulumi");
    const warn = pulumi.log.warn;
    pulumi.log.warn = async () => undefined;
    try {
        // A fresh evaluation of the program for each run (the module registers resources when loaded).
        const program = require.resolve(join(__dirname, "..", "..", "..", "index"));
        delete require.cache[program];
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const stack = require(program);
        const outputs: Record<string, unknown> = {};
        for (const [name, value] of Object.entries(stack)) {
            outputs[name] = (await pulumi.isSecret(value as any)) ? redacted : await valueOf(value as any);
        }
        await settled(mocks);
        return { resources: mocks.resources, outputs };
    } finally {
        pulumi.log.warn = warn;
    }
}

/** Stack configuration as "key=value" words, e.g. ["size=5"]. */
export function parseEdit(words: string[]): Record<string, string> {
    return Object.fromEntries(
        words.map((w) => {
            const m = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(w);
            if (!m) throw new Error(`an edit is key=value (a stack config key of the example stack, e.g. size=5), got ${JSON.stringify(w)}`);
            return [m[1], m[2]];
        }),
    );
}

/**
 * What `pulumi up` does to the deployed example stack (configuration `from`) when its configuration becomes
 * `to`: each resource step, in the order the engine runs them (creates and updates, then deletes), what
 * the change does to the cluster's availability, and what Pulumi would refuse (deleting a protected volume).
 */
export async function planExampleEdit(from: Record<string, string>, to: Record<string, string>): Promise<string> {
    const before = (await runExampleStack(from)).resources;
    const after = (await runExampleStack(to, { existing: before })).resources;
    const changes = diffRuns(before, after);
    const recorded = (c: ResourceChange, runs: RecordedResource[]) => runs.find((r) => r.type === c.type && r.name === c.name)!;
    const { forward, deletes } = orderChanges(before, after, changes);
    const steps = [...forward, ...deletes];
    const describe = ({ c, at }: { c: ResourceChange; at: number }) => `${String(at).padStart(3)}  ${c.kind.padEnd(8)}${shortType(c.type).padEnd(34)}${c.name}`;
    const protectedDeletes = deletes.map((d) => d.c).filter((c) => recorded(c, before).protect);
    const summary = availabilitySummary(before, after, changes);
    const words = (config: Record<string, string>) =>
        Object.entries(config)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ") || "(defaults)";
    return [
        `edit of the example stack: ${words(from)} -> ${words(to)}`,
        `availability: ${summary.text}`,
        ...(protectedDeletes.length > 0
            ? [
                  `refused by Pulumi until unprotected (their data is never deleted silently): ${protectedDeletes.map((c) => c.name).join(", ")}; ` +
                      `run \`pulumi state unprotect <urn>\` for each (or keep the volumes: \`pulumi state delete <urn>\` with retained data) before \`pulumi up\``,
              ]
            : []),
        `${steps.length} step(s); stage (a step runs after the changed resources it depends on), change, type, name:`,
        ...steps.map(describe),
        "",
    ].join("\n");
}
