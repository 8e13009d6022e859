// What an edit does to existing resources, judged like the engine would from two recorded runs: which
// inputs changed, and whether the provider replaces the resource for them (its "force new" properties).
import { RecordedResource } from "./stackMocks";

// Properties whose change replaces the resource, per type (from the AWS and TLS providers' schemas:
// "forces replacement"). A path "a.b" means input a's field b; "*" means every input.
const replacingProperties: Record<string, string[]> = {
    // instanceType, metadataOptions, iamInstanceProfile, tags and rootBlockDevice size are updated in place
    // (instanceType by a stop and start); userData replaces only with userDataReplaceOnChange.
    "aws:ec2/instance:Instance": [
        "ami",
        "availabilityZone",
        "subnetId",
        "primaryNetworkInterface",
        "rootBlockDevice.encrypted",
        "rootBlockDevice.kmsKeyId",
        "keyName",
        "tenancy",
    ],
    // size, type, iops and throughput are modified in place (elastic volumes).
    "aws:ebs/volume:Volume": ["availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn"],
    "aws:ec2/networkInterface:NetworkInterface": ["subnetId", "privateIp"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName", "instanceId", "volumeId"],
    "aws:ec2/securityGroup:SecurityGroup": ["name", "namePrefix", "vpcId", "description"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["securityGroupId"],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["securityGroupId"],
    "aws:ssm/parameter:Parameter": ["name"],
    "aws:kms/key:Key": ["customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion"],
    "aws:iam/role:Role": ["name", "namePrefix"],
    "aws:iam/rolePolicy:RolePolicy": ["name", "role"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["role", "policyArn"],
    "aws:iam/instanceProfile:InstanceProfile": ["name", "namePrefix"],
    // The tls resources are immutable: any input change makes a new key or certificate.
    "tls:index/privateKey:PrivateKey": ["*"],
    "tls:index/selfSignedCert:SelfSignedCert": ["*"],
    "tls:index/certRequest:CertRequest": ["*"],
    "tls:index/locallySignedCert:LocallySignedCert": ["*"],
    "command:local:Command": ["triggers"],
};

export type ChangeKind = "create" | "delete" | "replace" | "update";

export interface ResourceChange {
    type: string;
    name: string;
    kind: ChangeKind;
    /** Changed top-level inputs (dotted for one level of nesting). */
    changed: string[];
}

const key = (r: { type: string; name: string }) => `${r.type}::${r.name}`;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function changedPaths(before: Record<string, any>, after: Record<string, any>): string[] {
    const paths: string[] = [];
    for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
        if (same(before[k], after[k])) continue;
        const a = before[k];
        const b = after[k];
        if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a)) {
            for (const sub of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
                if (!same(a[sub], b[sub])) paths.push(`${k}.${sub}`);
            }
        } else {
            paths.push(k);
        }
    }
    return paths;
}

function replaces(r: RecordedResource, changed: string[]): boolean {
    const rules = replacingProperties[r.type] ?? [];
    if (rules.includes("*")) return changed.length > 0;
    if (r.type === "aws:ec2/instance:Instance" && r.inputs.userDataReplaceOnChange && changed.includes("userData")) return true;
    return changed.some((path) => rules.some((rule) => path === rule || path.startsWith(`${rule}.`) || rule.startsWith(`${path}.`)));
}

/**
 * The changes between two runs of the same program, ignoring inputs listed in ignoreChanges. A replaced
 * resource gets a new id: inputs that hold that id change too, which may replace their resources in turn.
 */
export function diffRuns(before: RecordedResource[], after: RecordedResource[]): ResourceChange[] {
    const old = new Map(before.map((r) => [key(r), r]));
    const now = new Map(after.map((r) => [key(r), r]));
    const result = new Map<string, ResourceChange>();
    const replacedIds = new Set<string>();
    let grew = true;
    while (grew) {
        grew = false;
        for (const r of after) {
            const previous = old.get(key(r));
            if (!previous) {
                if (!result.has(key(r))) result.set(key(r), { type: r.type, name: r.name, kind: "create", changed: [] });
                continue;
            }
            const ignored = (p: string) => r.ignoreChanges.some((i) => p === i || p.startsWith(`${i}.`));
            const changed = new Set(changedPaths(previous.inputs, r.inputs).filter((p) => !ignored(p)));
            for (const [input, value] of Object.entries(r.inputs)) {
                const text = JSON.stringify(value) ?? "";
                if ([...replacedIds].some((id) => text.includes(id)) && !ignored(input)) changed.add(input);
            }
            if (changed.size === 0) continue;
            const list = [...changed].sort();
            const kind: ChangeKind = replaces(r, list) ? "replace" : "update";
            const existing = result.get(key(r));
            if (!existing || existing.kind !== kind || existing.changed.length !== list.length) {
                result.set(key(r), { type: r.type, name: r.name, kind, changed: list });
                if (kind === "replace" && r.id && !replacedIds.has(r.id)) {
                    replacedIds.add(r.id);
                    if (typeof r.outputs.arn === "string") replacedIds.add(r.outputs.arn);
                }
                grew = true;
            }
        }
    }
    for (const r of before) {
        if (!now.has(key(r))) result.set(key(r), { type: r.type, name: r.name, kind: "delete", changed: [] });
    }
    return [...result.values()];
}

export interface AvailabilitySummary {
    added: string[];
    removed: string[];
    replaced: string[];
    restarted: string[];
    /** Members that can fail at the worst moment of the change (learners never count as voters). */
    worstFaultTolerance: number;
    text: string;
}

const quorumOf = (voters: number) => Math.floor(voters / 2) + 1;

/**
 * What a change does to the cluster's availability, from the instances of two runs: members added (one at a
 * time, as learners), removed (highest first), replaced or restarted (one at a time, each out while it
 * changes), and the fewest failures the cluster survives at any moment of it.
 */
export function availabilitySummary(before: RecordedResource[], after: RecordedResource[], changes: ResourceChange[]): AvailabilitySummary {
    const memberOf = (name: string) => /-member-(\d+)$/.exec(name);
    const instances = (rs: RecordedResource[]) => rs.filter((r) => r.type === "aws:ec2/instance:Instance" && memberOf(r.name));
    const label = (name: string) => `member ${memberOf(name)![1]}`;
    const byIndex = (a: string, b: string) => Number(memberOf(a)![1]) - Number(memberOf(b)![1]);
    const of = (kind: ChangeKind) =>
        changes
            .filter((c) => c.type === "aws:ec2/instance:Instance" && c.kind === kind && memberOf(c.name))
            .map((c) => c.name)
            .sort(byIndex);
    const added = of("create");
    const removed = of("delete").reverse();
    const replaced = of("replace");
    const restarted = of("update");
    const start = instances(before).length;
    const end = instances(after).length;
    let worst = start - quorumOf(start);
    // Replacing or restarting: one voter out at a time, at the size the cluster has then (before any removal).
    if (replaced.length + restarted.length > 0) worst = Math.min(worst, start - 1 - quorumOf(start));
    // Adding: a learner is no voter, and the promotion raises the quorum only with the new voter up.
    let voters = start;
    for (let k = 0; k < added.length; k++) {
        voters++;
        worst = Math.min(worst, voters - quorumOf(voters));
    }
    // Removing: one voter less, and the remaining ones must all be healthy before each removal.
    for (let k = 0; k < removed.length; k++) {
        voters--;
        worst = Math.min(worst, voters - quorumOf(voters));
    }
    const parts: string[] = [];
    if (start !== end) parts.push(`size ${start} to ${end}`);
    if (added.length) parts.push(`adds ${added.map(label).join(" then ")} as learners, each promoted before the next`);
    if (removed.length) parts.push(`removes ${removed.map(label).join(" then ")} from the membership before deleting each`);
    if (replaced.length) parts.push(`replaces ${replaced.map(label).join(" then ")}, one at a time, each healthy before the next`);
    if (restarted.length) parts.push(`restarts ${restarted.map(label).join(" then ")}, one at a time`);
    if (!parts.length) parts.push("no member is touched");
    const fewest = Math.min(start, end);
    parts.push(`never fewer than ${quorumOf(fewest)} of ${fewest} voters needed; worst fault tolerance during the change: ${Math.max(worst, 0)} member(s)`);
    return { added, removed, replaced, restarted, worstFaultTolerance: Math.max(worst, 0), text: parts.join("; ") };
}
