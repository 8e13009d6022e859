// What the local apply does for each resource type of the program (scripts/lib/local/localApply.ts): an
// instance boots, reboots or stops a member's container; a volume is the member's loop-device data volume; an
// SSM parameter and the S3 tools object are written to (or deleted from) the local backup store, moto, which
// the members' AWS CLI reads; a command.local.Command runs its create, update or delete script from the host
// with its environment (direct readiness mode). Also the running cluster's state file, which the apply starts
// from and saves after every step.
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "fs";
import { join } from "path";
import { RecordedResource } from "../mocks/stackMocks";
import { BackupStore, registerInstance, runningBackupStore, storeEnvironment, StoreChange, terminateInstance, writeToStore } from "./backupStore";
import { ApplyState, HandlerOf, planApply, ResourceHandler, runApply } from "./localApply";
import {
    awaitBoot,
    containerInit,
    killContainer,
    launch,
    LocalCluster,
    LocalMember,
    loadCluster,
    prepareRootDisk,
    rebootMember,
    saveCluster,
    sh,
    shortId,
    tryRun,
} from "./localCluster";
import { localObject, localParameter, LocalPlan } from "./localRender";

/** The options the running cluster's program was rendered with: an apply changes only those given anew. */
export interface LocalProgramOptions {
    size: number;
    zones: number;
    version: string;
    auth: boolean;
    etcdDir?: string;
    /** tuning.quotaBackendBytes (etcd's default when not given). */
    quotaBytes?: number;
    /** backup.enabled: false. */
    noBackup?: boolean;
}

export interface LocalState extends ApplyState {
    options: LocalProgramOptions;
}

const stateFile = (c: LocalCluster) => join(c.dir, "state.json");

export function loadState(c: LocalCluster): LocalState | undefined {
    return existsSync(stateFile(c)) ? JSON.parse(readFileSync(stateFile(c), "utf8")) : undefined;
}

/** Written whole and then renamed: a kill never leaves half a state. */
export function saveState(c: LocalCluster, state: LocalState): void {
    const file = stateFile(c);
    writeFileSync(`${file}.new`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${file}.new`, file);
}

/**
 * After `up`: the state of the booted program. Its parameters and tools object are in the backup store
 * already (`up` wrote what the plan registered), so nothing is written there twice.
 */
export function recordBootedProgram(c: LocalCluster, resources: RecordedResource[], options: LocalProgramOptions): void {
    saveState(c, { resources, pendingDeletes: [], options });
}

const parameterType = "aws:ssm/parameter:Parameter";
const objectType = "aws:s3/bucketObjectv2:BucketObjectv2";

/**
 * The store the cluster's members read (moto, which keeps its state in memory): the one it booted with. A store
 * started since has lost the cluster's parameters, which a step-by-step change cannot restore in order.
 */
function clusterStore(c: LocalCluster): BackupStore {
    const s = runningBackupStore();
    if (!s || s.endpoint !== c.awsEndpoint) {
        throw new Error(
            `the local backup store that holds cluster ${c.name}'s parameters is gone (moto keeps them in memory); ` +
                `a change cannot be applied to it: remove it with \`npm run local -- --down --name ${c.name}\` and boot it again`,
        );
    }
    return s;
}

const memberIndex = (resourceName: string): number => {
    const match = /-member-(\d+)(-data)?$/.exec(resourceName);
    if (!match) throw new Error(`${resourceName}: not a member's resource (expected a name ending in -member-N or -member-N-data)`);
    return Number(match[1]);
};

/** The member's entry in the running cluster, added (with its directory) when the program adds the member. */
function ensureMember(c: LocalCluster, plan: LocalPlan, i: number): LocalMember {
    if (c.members[i]) return c.members[i];
    if (i !== c.members.length) throw new Error(`member ${i} cannot be added before member ${c.members.length}`);
    const p = plan.members[i];
    if (!p) throw new Error(`the program has no member ${i}`);
    const id = shortId(c.name);
    const m: LocalMember = {
        name: p.name,
        ip: p.ip,
        zone: p.zone,
        machine: `etc-${id}-${i}`,
        hostVeth: `vb-etc-${id}-${i}`,
        dir: join(c.dir, "members", p.name),
        dataImage: join(c.dir, "members", p.name, "data.img"),
        loopDevice: "",
        volumeId: p.volumeId,
    };
    mkdirSync(m.dir, { recursive: true });
    c.members.push(m);
    saveCluster(c);
    return m;
}

/** The member's data volume: its image and loop device, made once (an existing one is found again after a kill). */
function ensureVolume(c: LocalCluster, m: LocalMember, volumeMiB: number): void {
    if (!existsSync(m.dataImage)) sh("truncate", ["-s", `${volumeMiB}M`, m.dataImage]);
    const attached = sh("losetup", ["--associated", m.dataImage]).trim().split(":")[0];
    m.loopDevice = attached || sh("losetup", ["--find", "--show", m.dataImage]).trim();
    saveCluster(c);
}

/** Entries of members whose instance and volume are both gone leave the cluster, from the highest index down. */
function dropGoneMembers(c: LocalCluster): void {
    while (c.members.length > 0) {
        const last = c.members[c.members.length - 1];
        if (last.loopDevice || existsSync(last.dataImage) || containerInit(last) !== undefined) break;
        rmSync(last.dir, { recursive: true, force: true });
        c.members.pop();
    }
    saveCluster(c);
}

/** The next instance id of a member: a new instance each time its instance is created. */
function nextInstanceId(c: LocalCluster, m: LocalMember, i: number): string {
    const metaData = join(m.dir, "upper", "var", "lib", "cloud", "seed", "nocloud", "meta-data");
    const generation = existsSync(metaData) ? Number(/i-local-[0-9a-f]+-\d+-(\d+)/.exec(readFileSync(metaData, "utf8"))?.[1] ?? 0) : 0;
    return `i-local-${shortId(c.name)}-${i}-${generation + 1}`;
}

/**
 * Runs a command resource's script as the command provider does: its interpreter, its environment, from the
 * host, whose AWS CLI talks to the local backup store (the gate's backups list instances and upload there).
 */
function runScript(
    c: LocalCluster,
    aws: Record<string, string>,
    script: string,
    environment: Record<string, string> | undefined,
    interpreter: string[] | undefined,
): void {
    const [program, ...args] = interpreter ?? ["/bin/sh", "-c"];
    const host: NodeJS.ProcessEnv = { ...process.env };
    delete host.AWS_PROFILE;
    delete host.AWS_SESSION_TOKEN;
    const r = spawnSync(program, [...args, script], {
        env: { ...host, ...aws, ...(environment ?? {}), PATH: `${join(c.dir, "bin")}:${process.env.PATH}` },
        stdio: ["ignore", "inherit", "inherit"],
    });
    if (r.status !== 0) throw new Error(`the script exited with ${r.status ?? r.signal} (its output is above)`);
}

export interface LocalHandlerOptions {
    cluster: LocalCluster;
    /** The new program's members (their names, addresses and volume ids). */
    plan: LocalPlan;
    volumeMiB?: number;
    progress?: (message: string) => void;
    /** The one write to the AWS store for a step (default: the cluster's local backup store, through aws-provision.py). */
    writeStore?: (change: StoreChange) => void;
    /** The AWS CLI environment of the scripts run on the host (default: the cluster's local backup store). */
    awsEnvironment?: () => Record<string, string>;
}

/** The local handlers of the resource types that exist on this machine. */
export function localHandlers(o: LocalHandlerOptions): HandlerOf {
    const c = o.cluster;
    const progress = o.progress ?? (() => undefined);
    const volumeMiB = o.volumeMiB ?? 256;
    const writeStep = o.writeStore ?? ((change: StoreChange) => progress(`backup store: ${writeToStore(clusterStore(c), c.region, change)}`));
    // A replacement that keeps the name (or bucket and key) deletes the old resource after creating the new one,
    // which wrote the same address: the delete must not remove what the new program holds there.
    const held = (type: string, same: (inputs: Record<string, any>) => boolean) => o.plan.resources?.some((r) => r.type === type && same(r.inputs)) ?? false;
    const instance: ResourceHandler = {
        create(r) {
            const i = memberIndex(r.name);
            const m = ensureMember(c, o.plan, i);
            // On EC2 the attachment follows the boot; a container's device link is set up at its first boot.
            ensureVolume(c, m, volumeMiB);
            // A container left by an interrupted create is a half-created instance: gone, and booted anew.
            killContainer(m);
            prepareRootDisk(c, m, r.inputs.userData, nextInstanceId(c, m, i));
            progress(`${m.name} (${m.ip}, ${m.zone}): container started; cloud-init runs its user-data`);
            launch(c, m);
            terminateInstance(c.region, m.storeInstanceId);
            m.storeInstanceId = registerInstance(clusterStore(c), c.region, r.inputs.tags);
            saveCluster(c);
            const boot = awaitBoot(c, i);
            if (boot.status !== 0) throw new Error(`member ${m.name}: cloud-init reports an error (exit ${boot.status}):\n${boot.cloudInit}\n${boot.output}`);
            progress(`${m.name}: cloud-init done`);
        },
        update(_old, r, changed) {
            // Instance type, profile or metadata options: EC2 stops and starts the instance; cloud-init does not
            // run the user-data of the same instance again.
            const i = memberIndex(r.name);
            progress(`${c.members[i].name}: restarted for ${changed.join(", ")}`);
            rebootMember(c, i);
        },
        delete(old) {
            const m = c.members[memberIndex(old.name)];
            if (!m) return;
            killContainer(m);
            tryRun("ip", ["link", "del", m.hostVeth]);
            terminateInstance(c.region, m.storeInstanceId);
            m.storeInstanceId = undefined;
            saveCluster(c);
            progress(`${m.name}: instance terminated`);
        },
    };
    const volume: ResourceHandler = {
        create(r) {
            ensureVolume(c, ensureMember(c, o.plan, memberIndex(r.name)), volumeMiB);
        },
        update() {
            // Size, type, IOPS and throughput change in place on EBS; a loop image has none of them to change.
        },
        delete(old) {
            const m = c.members[memberIndex(old.name)];
            if (!m) return;
            if (containerInit(m) !== undefined) throw new Error(`volume of ${m.name}: its instance still runs`);
            if (m.loopDevice) tryRun("losetup", ["-d", m.loopDevice]);
            rmSync(m.dataImage, { force: true });
            m.loopDevice = "";
            dropGoneMembers(c);
        },
    };
    // SSM overwrites a parameter in place (PutParameter --overwrite); a renamed one is a replacement, whose
    // delete the engine runs after the create, so it removes only the old name.
    const parameter: ResourceHandler = {
        create: (r) => writeStep({ parameters: [localParameter(r.inputs)] }),
        update: (_old, r) => writeStep({ parameters: [localParameter(r.inputs)] }),
        delete: (old) => {
            if (!held(parameterType, (i) => i.name === old.inputs.name)) writeStep({ deletedParameters: [old.inputs.name] });
        },
    };
    // The tools object (a version bump changes its content): uploaded anew, as the provider's PutObject.
    const object: ResourceHandler = {
        create: (r) => writeStep({ objects: [localObject(r.inputs)] }),
        update: (_old, r) => writeStep({ objects: [localObject(r.inputs)] }),
        delete: (old) => {
            const { bucket, key } = old.inputs;
            if (!held(objectType, (i) => i.bucket === bucket && i.key === key)) writeStep({ deletedObjects: [{ bucket, key }] });
        },
    };
    const aws = o.awsEnvironment ?? (() => storeEnvironment(clusterStore(c)));
    const commandResource: ResourceHandler = {
        create: (r) => runScript(c, aws(), r.inputs.create, r.inputs.environment, r.inputs.interpreter),
        // The command provider runs update, or create when the resource has no update script.
        update: (_old, r) => runScript(c, aws(), r.inputs.update ?? r.inputs.create, r.inputs.environment, r.inputs.interpreter),
        // The delete script and its environment come from the state: what the last apply gave the resource.
        delete: (old) => {
            if (old.inputs.delete) runScript(c, aws(), old.inputs.delete, old.inputs.environment, old.inputs.interpreter);
        },
    };
    const byType: Record<string, ResourceHandler> = {
        "aws:ec2/instance:Instance": instance,
        "aws:ebs/volume:Volume": volume,
        [parameterType]: parameter,
        [objectType]: object,
        "command:local:Command": commandResource,
    };
    return (type) => byType[type];
}

export interface LocalApplyOptions {
    /** Protected resources (volumes) the apply may delete, as after `pulumi state unprotect`. */
    unprotect?: string[];
    progress?: (message: string) => void;
}

/**
 * Applies the new program to the running cluster: the steps from its state, run and saved one by one; then
 * the cluster's endpoints, version and program options are the new program's. Returns the steps' count.
 */
export function applyToRunningCluster(name: string, plan: LocalPlan, options: LocalProgramOptions, o: LocalApplyOptions = {}): number {
    const progress = o.progress ?? (() => undefined);
    const c = loadCluster(name);
    const state = c && loadState(c);
    if (!c || !state) throw new Error(`no running local cluster ${name} with a recorded program to apply a change to`);
    const steps = planApply(state, plan.resources, { unprotect: o.unprotect });
    progress(`${steps.length} step(s) from the running program to the new one${steps.length === 0 ? ": nothing to do" : ""}`);
    let current: LocalState = state;
    runApply(state, steps, localHandlers({ cluster: c, plan, progress }), (s) => saveState(c, (current = { ...s, options: state.options })), progress);
    // Unchanged resources take the program's options and dependencies, as the engine records them.
    const applied = new Map(current.resources.map((r) => [`${r.type}::${r.name}`, r]));
    const resources = plan.resources.map((r) => ({ ...r, inputs: applied.get(`${r.type}::${r.name}`)?.inputs ?? r.inputs }));
    saveState(c, { resources, pendingDeletes: current.pendingDeletes, options });
    c.clientEndpoints = plan.clientEndpoints;
    c.version = plan.version;
    saveCluster(c);
    return steps.length;
}
