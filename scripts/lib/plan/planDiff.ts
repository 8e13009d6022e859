// What an edit does to existing resources, judged like the engine would from two recorded runs: which
// inputs changed against what AWS reads back, whether the provider replaces the resource for them (its
// "force new" properties), and whether the engine refuses it (protected resources).
import { RecordedResource } from "../mocks/stackMocks";

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
    // Backups (terraform-provider-aws: bucket and bucket_prefix force new on the bucket; each bucket setting
    // is tied to its bucket; an object to its bucket and key).
    "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix", "objectLockEnabled"],
    "aws:s3/bucketVersioning:BucketVersioning": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["bucket"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ["bucket"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketPolicy:BucketPolicy": ["bucket"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["bucket", "expectedBucketOwner"],
    "aws:s3/bucketObjectv2:BucketObjectv2": ["bucket", "key"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["name"],
    // The tls resources are immutable: any input change makes a new key or certificate.
    "tls:index/privateKey:PrivateKey": ["*"],
    "tls:index/selfSignedCert:SelfSignedCert": ["*"],
    "tls:index/certRequest:CertRequest": ["*"],
    "tls:index/locallySignedCert:LocallySignedCert": ["*"],
    "command:local:Command": ["triggers"],
};

const keyArn = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-zA-Z-]+$/;
/** EBS stores and returns the key ARN whatever form of key was given (key id, alias name, alias ARN). */
const asKeyArn = (value: unknown) => (typeof value === "string" && !keyArn.test(value) ? `<key ARN of ${value}>` : value);

// Inputs that the provider reads back from AWS in another form than they were given: the state holds the read
// value, so an input in another form differs from the state on every run (and replaces, if force-new).
const readBackForms: Record<string, Record<string, (value: unknown) => unknown>> = {
    "aws:ebs/volume:Volume": { kmsKeyId: asKeyArn },
    "aws:ec2/instance:Instance": { "rootBlockDevice.kmsKeyId": asKeyArn },
};

/** A resource's inputs as its state holds them after a run: what AWS reads back. */
export function stateOf(r: RecordedResource): Record<string, any> {
    const forms = readBackForms[r.type] ?? {};
    const state = JSON.parse(JSON.stringify(r.inputs));
    for (const [path, form] of Object.entries(forms)) {
        const [top, sub] = path.split(".");
        if (sub === undefined) {
            if (top in state) state[top] = form(state[top]);
        } else if (state[top] && typeof state[top] === "object" && sub in state[top]) {
            state[top][sub] = form(state[top][sub]);
        }
    }
    return state;
}

export type ChangeKind = "create" | "delete" | "replace" | "update";

export interface ResourceChange {
    type: string;
    name: string;
    kind: ChangeKind;
    /** Changed top-level inputs (dotted for one level of nesting). */
    changed: string[];
    /** Present on a replace or delete of a protected resource: the engine refuses it, and `pulumi up` stops. */
    refused?: true;
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

/** Replaces every occurrence of the map's keys in string values (ids, ARNs, outputs) by their values. */
function substitute(value: any, map: Map<string, string>): any {
    if (map.size === 0) return value;
    if (typeof value === "string") return map.get(value) ?? [...map].reduce((text, [from, to]) => text.split(from).join(to), value);
    if (Array.isArray(value)) return value.map((v) => substitute(v, map));
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, map)]));
    return value;
}

export interface Analysis {
    changes: ResourceChange[];
    /** What the engine sends the provider for a resource of the second run. */
    planned: (r: RecordedResource) => Record<string, any>;
}

function analyze(before: RecordedResource[], after: RecordedResource[]): Analysis {
    const old = new Map(before.map((r) => [key(r), r]));
    const now = new Map(after.map((r) => [key(r), r]));
    const result = new Map<string, ResourceChange>();
    const replacedIds = new Set<string>();
    // Outputs of resources that do not change: the engine keeps their state, so downstream inputs see the
    // first run's values (e.g. a value recorded once and then ignored), not what the second run's mocks returned.
    const kept = new Map<string, string>();
    const ignoredOf = (r: RecordedResource) => (p: string) => r.ignoreChanges.some((i) => p === i || p.startsWith(`${i}.`));
    const inputsOf = (r: RecordedResource) => substitute(r.inputs, kept);
    let grew = true;
    while (grew) {
        grew = false;
        for (const r of after) {
            const previous = old.get(key(r));
            if (!previous) {
                if (!result.has(key(r))) result.set(key(r), { type: r.type, name: r.name, kind: "create", changed: [] });
                continue;
            }
            const ignored = ignoredOf(r);
            const inputs = inputsOf(r);
            const changed = new Set(changedPaths(stateOf(previous), inputs).filter((p) => !ignored(p)));
            for (const [input, value] of Object.entries(inputs)) {
                const text = JSON.stringify(value) ?? "";
                if ([...replacedIds].some((id) => text.includes(id)) && !ignored(input)) changed.add(input);
            }
            if (changed.size === 0) {
                for (const [output, value] of Object.entries(r.outputs)) {
                    const was = previous.outputs[output];
                    if (!(output in r.inputs) && typeof value === "string" && typeof was === "string" && value !== was && value !== "" && !kept.has(value)) {
                        kept.set(value, was);
                        grew = true;
                    }
                }
                continue;
            }
            const list = [...changed].sort();
            const kind: ChangeKind = replaces(r, list) ? "replace" : "update";
            const existing = result.get(key(r));
            if (!existing || existing.kind !== kind || existing.changed.length !== list.length) {
                result.set(key(r), {
                    type: r.type,
                    name: r.name,
                    kind,
                    changed: list,
                    ...(kind === "replace" && previous.protect ? { refused: true as const } : {}),
                });
                if (kind === "replace" && r.id && !replacedIds.has(r.id)) {
                    replacedIds.add(r.id);
                    if (typeof r.outputs.arn === "string") replacedIds.add(r.outputs.arn);
                }
                grew = true;
            }
        }
    }
    for (const r of before) {
        if (!now.has(key(r))) result.set(key(r), { type: r.type, name: r.name, kind: "delete", changed: [], ...(r.protect ? { refused: true as const } : {}) });
    }
    const planned = (r: RecordedResource) => {
        const inputs = inputsOf(r);
        const previous = old.get(key(r));
        if (previous) {
            // Ignored inputs keep the state's value, also when the resource is replaced for another reason.
            for (const i of r.ignoreChanges) {
                const [top, sub] = i.split(".");
                if (sub === undefined) inputs[top] = stateOf(previous)[top];
                else if (inputs[top]) inputs[top][sub] = stateOf(previous)[top]?.[sub];
            }
        }
        return inputs;
    };
    return { changes: [...result.values()], planned };
}

/**
 * The changes between two runs of the same program, ignoring inputs listed in ignoreChanges and comparing
 * against what AWS reads back. A replaced resource gets a new id: inputs that hold that id change too, which
 * may replace their resources in turn.
 */
export function diffRuns(before: RecordedResource[], after: RecordedResource[]): ResourceChange[] {
    return analyze(before, after).changes;
}

/** The changes between two runs and, for any resource of the second run, the inputs the engine sends its provider. */
export function planRuns(before: RecordedResource[], after: RecordedResource[]): Analysis {
    return analyze(before, after);
}

/** A change at its stage: its longest chain of changed resources it depends on (through unchanged ones too). */
export interface StagedChange {
    c: ResourceChange;
    at: number;
}

/**
 * The order the engine can run changes in: creates, updates and replacements each after the changed resources
 * it depends on (stage, then name), then deletes, dependents first (the old run's dependencies).
 */
export function orderChanges(
    before: RecordedResource[],
    after: RecordedResource[],
    changes: ResourceChange[],
): { forward: StagedChange[]; deletes: StagedChange[] } {
    const changed = new Set(changes.map((c) => key(c)));
    const stages = (runs: RecordedResource[]) => {
        const byUrn = new Map(runs.map((r) => [r.urn, r]));
        const stage = new Map<string, number>();
        const stageOf = (r: RecordedResource): number => {
            if (!stage.has(key(r))) {
                stage.set(key(r), 0);
                const deps = r.dependsOn.map((u) => byUrn.get(u)).filter((d): d is RecordedResource => d !== undefined);
                stage.set(key(r), Math.max(0, ...deps.map((d) => stageOf(d) + (changed.has(key(d)) ? 1 : 0))));
            }
            return stage.get(key(r))!;
        };
        return (c: ResourceChange) => stageOf(runs.find((r) => key(r) === key(c))!);
    };
    const forwardStage = stages(after);
    const deleteStage = stages(before);
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name, "en", { numeric: true });
    return {
        forward: changes
            .filter((c) => c.kind !== "delete")
            .map((c) => ({ c, at: forwardStage(c) }))
            .sort((a, b) => a.at - b.at || byName(a.c, b.c)),
        deletes: changes
            .filter((c) => c.kind === "delete")
            .map((c) => ({ c, at: deleteStage(c) }))
            .sort((a, b) => b.at - a.at || byName(b.c, a.c)),
    };
}

/** The inputs the engine sends the provider for one resource of the second run (ignored inputs from the state). */
export function plannedInputs(before: RecordedResource[], after: RecordedResource[], type: string, name: string): Record<string, any> {
    const r = after.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`no ${type} named ${name} in the second run`);
    return analyze(before, after).planned(r);
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
