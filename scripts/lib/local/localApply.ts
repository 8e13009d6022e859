// Applies a program change to a running local cluster the way `pulumi up` would: the resource diff between the
// state (what the running cluster's program registered) and the new program, judged by the edit judge
// (planDiff), the steps in the engine's order, each executed by a handler of its resource type. The state is
// saved after every step, so an apply that is killed half way finishes when run again.
import { RecordedResource } from "../mocks/stackMocks";
import { orderChanges, planRuns, ResourceChange } from "../plan/planDiff";

/** What the engine holds for a running cluster: its resources, and replaced ones still to delete. */
export interface ApplyState {
    resources: RecordedResource[];
    /** Old versions of resources replaced create-before-delete, deleted after every other change. */
    pendingDeletes: RecordedResource[];
}

/**
 * - create, update, delete: as the words say;
 * - replace: deleteBeforeReplace: the old resource is deleted, then the new one created, at its stage;
 * - create-replacement: the new version, at its stage; its old version is deleted with the deletes (delete-replaced).
 */
export type StepOp = "create" | "update" | "replace" | "create-replacement" | "delete" | "delete-replaced";

export interface ApplyStep {
    op: StepOp;
    type: string;
    name: string;
    /** The changed inputs (update and replace). */
    changed: string[];
    /** The state's resource (update, replace, deletes). */
    old?: RecordedResource;
    /** The program's resource with the inputs the engine sends (create, update, replace). */
    new?: RecordedResource;
}

/** What the apply does to one resource type; every operation must be safe to run again after an interruption. */
export interface ResourceHandler {
    create(r: RecordedResource): void;
    update(old: RecordedResource, r: RecordedResource, changed: string[]): void;
    delete(old: RecordedResource): void;
}

/** The handler of a resource type, or undefined: the step is then only recorded (nothing local stands for it). */
export type HandlerOf = (type: string) => ResourceHandler | undefined;

const key = (r: { type: string; name: string }) => `${r.type}::${r.name}`;

export class RefusedChange extends Error {}

/**
 * The steps from the state to the program. Deleting or replacing a protected resource is refused before any
 * step, as Pulumi does, unless `unprotect` names it (`pulumi state unprotect` beforehand).
 */
export function planApply(state: ApplyState, program: RecordedResource[], o: { unprotect?: string[] } = {}): ApplyStep[] {
    const { changes, planned } = planRuns(state.resources, program);
    const refused = changes.filter((c) => c.refused && !(o.unprotect ?? []).includes(c.name));
    if (refused.length > 0) {
        throw new RefusedChange(
            `refused: ${refused.map((c) => `${c.kind} of protected ${c.name}`).join(", ")}; their data would be lost. ` +
                `Unprotect them for this apply (--unprotect ${refused.map((c) => c.name).join(",")}) or keep the change out.`,
        );
    }
    const oldOf = (c: ResourceChange) => state.resources.find((r) => key(r) === key(c));
    const newOf = (c: ResourceChange) => {
        const r = program.find((x) => key(x) === key(c))!;
        return { ...r, inputs: planned(r) };
    };
    const { forward, deletes } = orderChanges(state.resources, program, changes);
    const steps: ApplyStep[] = [];
    const replacedLater: ApplyStep[] = [];
    for (const { c } of forward) {
        const step = { type: c.type, name: c.name, changed: c.changed, old: oldOf(c), new: newOf(c) };
        if (c.kind === "create" || c.kind === "update") steps.push({ op: c.kind, ...step });
        else if (step.new.deleteBeforeReplace) steps.push({ op: "replace", ...step });
        else {
            steps.push({ op: "create-replacement", ...step });
            replacedLater.push({ op: "delete-replaced", type: c.type, name: c.name, changed: [], old: step.old });
        }
    }
    for (const { c } of deletes) steps.push({ op: "delete", type: c.type, name: c.name, changed: [], old: oldOf(c) });
    // Old versions left by an interrupted apply, then this apply's, in reverse order of their replacement.
    for (const old of state.pendingDeletes) steps.push({ op: "delete-replaced", type: old.type, name: old.name, changed: [], old });
    steps.push(...replacedLater.reverse());
    return steps;
}

/** The state after one step: what the engine checkpoints once the provider reports the operation done. */
export function afterStep(state: ApplyState, step: ApplyStep): ApplyState {
    const without = (rs: RecordedResource[]) => rs.filter((r) => key(r) !== key(step));
    switch (step.op) {
        case "create":
        case "update":
        case "replace":
            return { ...state, resources: [...without(state.resources), step.new!] };
        case "create-replacement":
            return { resources: [...without(state.resources), step.new!], pendingDeletes: [...state.pendingDeletes, step.old!] };
        case "delete":
            return { ...state, resources: without(state.resources) };
        case "delete-replaced":
            return { ...state, pendingDeletes: state.pendingDeletes.filter((r) => r !== step.old && JSON.stringify(r) !== JSON.stringify(step.old)) };
    }
}

export function describeStep(step: ApplyStep): string {
    const changed = step.changed.length > 0 ? ` (${step.changed.join(", ")})` : "";
    return `${step.op} ${step.type.split(":").pop()} ${step.name}${changed}`;
}

/**
 * Runs the steps in order through their handlers, saving the state after each. A failing step stops the
 * apply with the state of the steps done; running the apply again retries it.
 */
export function runApply(
    state: ApplyState,
    steps: ApplyStep[],
    handlerOf: HandlerOf,
    save: (state: ApplyState) => void,
    progress: (message: string) => void = () => undefined,
): ApplyState {
    let current = state;
    for (const [n, step] of steps.entries()) {
        const handler = handlerOf(step.type);
        const label = `[${n + 1}/${steps.length}] ${describeStep(step)}`;
        const started = Date.now();
        if (handler) progress(`${label} ...`);
        try {
            switch (step.op) {
                case "create":
                case "create-replacement":
                    handler?.create(step.new!);
                    break;
                case "update":
                    handler?.update(step.old!, step.new!, step.changed);
                    break;
                case "replace":
                    // Two checkpoints, as the engine records the delete: run again, the step is a create.
                    handler?.delete(step.old!);
                    current = afterStep(current, { ...step, op: "delete" });
                    save(current);
                    handler?.create(step.new!);
                    break;
                case "delete":
                case "delete-replaced":
                    handler?.delete(step.old!);
                    break;
            }
        } catch (e) {
            throw new Error(`${label} failed: ${(e as Error).message}`);
        }
        current = afterStep(current, step);
        save(current);
        progress(handler ? `${label} done in ${((Date.now() - started) / 1000).toFixed(1)} s` : `${label} (recorded; nothing local stands for it)`);
    }
    return current;
}
