// The local apply's engine on plain data: which steps a change makes, in which order, what is refused, and
// that an apply interrupted at any step finishes when run again without repeating a step it had done.
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { RecordedResource, StackMocks } from "../../scripts/lib/mocks/stackMocks";
import { ApplyState, ApplyStep, describeStep, planApply, RefusedChange, ResourceHandler, runApply } from "../../scripts/lib/local/localApply";
import { LocalCluster } from "../../scripts/lib/local/localCluster";
import { localHandlers } from "../../scripts/lib/local/localResources";
import { StoreChange } from "../../scripts/lib/local/backupStore";
import { LocalPlan } from "../../scripts/lib/local/localRender";

const urnOf = (type: string, name: string) => `urn:pulumi:dev::etcd::${type}::${name}`;
const parameter = "aws:ssm/parameter:Parameter";
const instance = "aws:ec2/instance:Instance";
const volume = "aws:ebs/volume:Volume";
const commandType = "command:local:Command";

function res(type: string, name: string, inputs: Record<string, any>, o: Partial<RecordedResource> & { deps?: string[] } = {}): RecordedResource {
    const { deps, ...rest } = o;
    return {
        type,
        name,
        urn: urnOf(type, name),
        id: `${name}-id`,
        inputs,
        secretInputs: [],
        outputs: { ...inputs },
        parent: "",
        dependsOn: (deps ?? []).map((d) => {
            const [t, n] = d.split("|");
            return urnOf(t, n);
        }),
        deleteBeforeReplace: false,
        protect: false,
        retainOnDelete: false,
        ignoreChanges: [],
        replaceOnChanges: [],
        custom: true,
        ...rest,
    };
}

const labels = (steps: ApplyStep[]) => steps.map(describeStep);

// A cluster's shape: a members parameter, per member a volume, an instance after the parameter and volume, and
// a step command after the instance; the next member's instance waits for the previous member's step.
function program(size: number, o: { version?: string; ami?: string } = {}): RecordedResource[] {
    const rs = [res(parameter, "etcd-members", { name: "/etcd/members", type: "String", insecureValue: `n=${size}` })];
    for (let i = 0; i < size; i++) {
        rs.push(res(volume, `etcd-member-${i}-data`, { size: 20 }, { protect: true }));
        rs.push(
            res(
                instance,
                `etcd-member-${i}`,
                { ami: o.ami ?? "ami-1", userData: `member ${i} ${o.version ?? "3.5"}`, primaryNetworkInterface: { id: `eni-${i}` } },
                {
                    deleteBeforeReplace: true,
                    deps: [`${parameter}|etcd-members`, `${volume}|etcd-member-${i}-data`, ...(i > 0 ? [`${commandType}|etcd-member-${i - 1}-rolled`] : [])],
                },
            ),
        );
        rs.push(
            res(
                commandType,
                `etcd-member-${i}-rolled`,
                { create: "gate", delete: "remove", environment: { M: String(i) } },
                { deps: [`${instance}|etcd-member-${i}`] },
            ),
        );
    }
    return rs;
}

const empty = (resources: RecordedResource[]): ApplyState => ({ resources, pendingDeletes: [] });

test("scale up: the parameter update first, then each new member's volume, instance and step, one member after the other", () => {
    expect(labels(planApply(empty(program(3)), program(5)))).toEqual([
        "create Volume etcd-member-3-data",
        "create Volume etcd-member-4-data",
        "update Parameter etcd-members (insecureValue)",
        "create Instance etcd-member-3",
        "create Command etcd-member-3-rolled",
        "create Instance etcd-member-4",
        "create Command etcd-member-4-rolled",
    ]);
});

test("scale down: updates first, then deletes with dependents first, the highest member first; protected volumes refused unless unprotected", () => {
    expect(() => planApply(empty(program(5)), program(3))).toThrow(RefusedChange);
    expect(() => planApply(empty(program(5)), program(3))).toThrow(/--unprotect etcd-member-3-data,etcd-member-4-data/);
    expect(() => planApply(empty(program(5)), program(3), { unprotect: ["etcd-member-4-data"] })).toThrow(/delete of protected etcd-member-3-data/);
    const steps = planApply(empty(program(5)), program(3), { unprotect: ["etcd-member-3-data", "etcd-member-4-data"] });
    expect(labels(steps)).toEqual([
        "update Parameter etcd-members (insecureValue)",
        "delete Command etcd-member-4-rolled",
        "delete Instance etcd-member-4",
        "delete Command etcd-member-3-rolled",
        "delete Instance etcd-member-3",
        "delete Volume etcd-member-4-data",
        "delete Volume etcd-member-3-data",
    ]);
    // A delete carries the state's resource: its script and environment are the last apply's.
    expect(steps[1].old?.inputs).toEqual({ create: "gate", delete: "remove", environment: { M: "4" } });
});

test("a replacement: deleteBeforeReplace deletes and creates at its stage; otherwise the new version first and the old one deleted after everything", () => {
    const before = [...program(2), res(parameter, "etcd-extra", { name: "/etcd/a", type: "String", insecureValue: "x" })];
    const after = [...program(2, { version: "3.6" }), res(parameter, "etcd-extra", { name: "/etcd/b", type: "String", insecureValue: "x" })];
    for (const r of after.filter((x) => x.type === instance)) r.inputs.ami = "ami-2";
    const steps = planApply(empty(before), after);
    expect(labels(steps)).toEqual([
        "create-replacement Parameter etcd-extra (name)",
        "replace Instance etcd-member-0 (ami, userData)",
        "replace Instance etcd-member-1 (ami, userData)",
        "delete-replaced Parameter etcd-extra",
    ]);
    expect(steps[3].old?.inputs.name).toBe("/etcd/a");
});

/** Handlers that record each operation, and fail once at a chosen operation (a kill or a failed script). */
function recorder(failAt?: string) {
    const done: string[] = [];
    let failed = false;
    const handler: ResourceHandler = {
        create: (r) => record(`create ${r.name}`),
        update: (_o, r) => record(`update ${r.name}`),
        delete: (o) => record(`delete ${o.name}`),
    };
    function record(op: string) {
        if (op === failAt && !failed) {
            failed = true;
            throw new Error("killed");
        }
        done.push(op);
    }
    return { done, handlerOf: (type: string) => (type === "aws:iam/role:Role" ? undefined : handler) };
}

test.each([
    ["scale up 3 to 5", program(3), program(5), "create etcd-member-4"],
    ["scale down 5 to 3", program(5), program(3), "delete etcd-member-3-rolled"],
    ["a rolling replacement", program(3), program(3, { ami: "ami-2" }), "create etcd-member-1"],
])("%s, interrupted, finishes when run again: no step done twice, the interrupted one retried", (_, before, after, failAt) => {
    const unprotect = ["etcd-member-3-data", "etcd-member-4-data"];
    const all = recorder();
    runApply(empty(before), planApply(empty(before), after, { unprotect }), all.handlerOf, () => undefined);

    const first = recorder(failAt);
    let saved = empty(before);
    expect(() => runApply(saved, planApply(saved, after, { unprotect }), first.handlerOf, (s) => (saved = s))).toThrow(/killed/);
    const second = recorder();
    runApply(saved, planApply(saved, after, { unprotect }), second.handlerOf, (s) => (saved = s));
    // Everything ran exactly once, the interrupted operation once more, and the state is the program's.
    expect([...first.done, ...second.done]).toEqual(all.done);
    expect(second.done[0]).toBe(failAt);
    expect(all.done).toContain(failAt);
    expect(planApply(saved, after, { unprotect })).toEqual([]);
});

test("an apply killed between a replacement's create and the old version's delete deletes the old version when run again", () => {
    const before = [res(parameter, "p", { name: "/a", type: "String", insecureValue: "x" })];
    const after = [res(parameter, "p", { name: "/b", type: "String", insecureValue: "x" })];
    const rec = recorder("delete p");
    let saved = empty(before);
    expect(() => runApply(saved, planApply(saved, after), rec.handlerOf, (s) => (saved = s))).toThrow(/killed/);
    expect(saved.pendingDeletes.map((r) => r.inputs.name)).toEqual(["/a"]);
    const steps = planApply(saved, after);
    expect(labels(steps)).toEqual(["delete-replaced Parameter p"]);
    expect(steps[0].old?.inputs.name).toBe("/a");
    runApply(saved, steps, rec.handlerOf, (s) => (saved = s));
    expect(saved).toEqual({ resources: after, pendingDeletes: [] });
});

describe("local handlers", () => {
    let dir: string;
    let c: LocalCluster;
    beforeEach(() => {
        dir = mkdtempSync(join(tmpdir(), "local-apply-"));
        const member = (name: string) => ({ name, dir: join(dir, "members", name) }) as LocalCluster["members"][number];
        c = { name: "t", dir, members: [member("etcd-0"), member("etcd-1")] } as LocalCluster;
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    test("a command's delete runs the state's script with the state's environment; update runs update, or create without one; the host's AWS CLI is the store's", () => {
        const handler = localHandlers({ cluster: c, plan: {} as LocalPlan, awsEnvironment: () => ({ AWS_ENDPOINT_URL: "https://store.local" }) })(commandType)!;
        const out = join(dir, "out");
        const old = res(commandType, "s", {
            create: `echo create >>${out}`,
            delete: `echo "delete $WHO $AWS_ENDPOINT_URL" >>${out}`,
            environment: { WHO: "old" },
        });
        handler.update(old, res(commandType, "s", { create: `echo "create $WHO" >>${out}`, environment: { WHO: "new" } }), ["environment"]);
        handler.delete(old);
        expect(readFileSync(out, "utf8")).toBe("create new\ndelete old https://store.local\n");
        expect(() => handler.create(res(commandType, "f", { create: "exit 3" }))).toThrow(/exited with 3/);
    });

    test("a parameter is written as the program declares it (String, or SecureString under its key), and a delete removes it", () => {
        const changes: StoreChange[] = [];
        const plan = { resources: [res(parameter, "etcd-members", { name: "/etcd/members", type: "String", insecureValue: "etcd-0,etcd-1" })] };
        const handler = localHandlers({ cluster: c, plan: plan as LocalPlan, writeStore: (ch) => changes.push(ch) })(parameter)!;
        const key = res(parameter, "etcd-1-key", {
            name: "/etcd/etcd-1/server-key",
            type: "SecureString",
            value: "k1",
            keyId: "arn:aws:kms:eu-west-1:1:key/k",
        });
        handler.create(key);
        const members = res(parameter, "etcd-members", { name: "/etcd/members", type: "String", insecureValue: "etcd-0" });
        handler.update(members, plan.resources[0], ["insecureValue"]);
        handler.delete(key);
        // A replacement under the same name: the old one's delete comes after the new one's create, and keeps it.
        handler.delete(members);
        expect(changes).toEqual([
            { parameters: [{ name: "/etcd/etcd-1/server-key", type: "SecureString", value: "k1", keyId: "arn:aws:kms:eu-west-1:1:key/k" }] },
            { parameters: [{ name: "/etcd/members", type: "String", value: "etcd-0,etcd-1", keyId: undefined }] },
            { deletedParameters: ["/etcd/etcd-1/server-key"] },
        ]);
    });

    test("the tools object is uploaded anew when it changes (with its encryption), and a delete removes its key", () => {
        const changes: StoreChange[] = [];
        const objectType = "aws:s3/bucketObjectv2:BucketObjectv2";
        const tools = (content: string, key = "tools/etcd.sh") =>
            res(objectType, "etcd-tools", { bucket: "b", key, content, serverSideEncryption: "aws:kms", kmsKeyId: "arn:k", contentType: "text/x-shellscript" });
        const handler = localHandlers({ cluster: c, plan: { resources: [tools("v2")] } as LocalPlan, writeStore: (ch) => changes.push(ch) })(objectType)!;
        handler.update(tools("v1"), tools("v2"), ["content"]);
        handler.delete(tools("v1"));
        handler.delete(tools("v0", "tools/old.sh"));
        expect(changes).toEqual([
            { objects: [{ bucket: "b", key: "tools/etcd.sh", content: "v2", contentType: "text/x-shellscript", kmsKeyId: "arn:k" }] },
            { deletedObjects: [{ bucket: "b", key: "tools/old.sh" }] },
        ]);
    });
});

describe("mocks that replay the running state", () => {
    const eni = "aws:ec2/networkInterface:NetworkInterface";
    /** An ECDSA key named "k" on the curve given, as the mocks create it. */
    const ecdsaKey = (mocks: StackMocks, curve: string) =>
        mocks.newResource({ type: "tls:index/privateKey:PrivateKey", name: "k", inputs: { algorithm: "ECDSA", ecdsaCurve: curve }, custom: true }) as {
            state: Record<string, any>;
        };
    const subnets = { "subnet-a": { cidrBlock: "10.213.5.0/26", availabilityZone: "local-a" } };
    const first = new StackMocks({ subnets, tls: "real" });
    const key = ecdsaKey(first, "P256");
    first.newResource({ type: eni, name: "m0", inputs: { subnetId: "subnet-a" }, custom: true });
    const existing = first.resources;

    test("a resource whose inputs did not change keeps the state's id and outputs (a new key otherwise)", () => {
        const again = new StackMocks({ subnets, tls: "real", existingResources: existing, replayExisting: true });
        const same = ecdsaKey(again, "P256");
        expect(same.state.privateKeyPem).toBe(key.state.privateKeyPem);
        const changed = ecdsaKey(again, "P384");
        expect(changed.state.privateKeyPem).toMatch(/PRIVATE KEY/);
        expect(changed.state.privateKeyPem).not.toBe(key.state.privateKeyPem);
        // Without replay (npm run plan), every run's resources are its own.
        const plain = new StackMocks({ subnets, tls: "real", existingResources: existing });
        const fresh = ecdsaKey(plain, "P256");
        expect(fresh.state.privateKeyPem).not.toBe(key.state.privateKeyPem);
    });

    test("a new interface never gets the address of an existing one, whatever order they register in", () => {
        const again = new StackMocks({ subnets, tls: "real", existingResources: existing, replayExisting: true });
        const added = again.newResource({ type: eni, name: "m1", inputs: { subnetId: "subnet-a" }, custom: true }) as { state: Record<string, any> };
        const kept = again.newResource({ type: eni, name: "m0", inputs: { subnetId: "subnet-a" }, custom: true }) as { state: Record<string, any> };
        expect(kept.state.privateIp).toBe(existing.find((r) => r.name === "m0")!.outputs.privateIp);
        expect(added.state.privateIp).not.toBe(kept.state.privateIp);
    });
});
