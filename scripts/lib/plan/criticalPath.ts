// How long a deployment takes when every resource step takes the same time: the longest chain of
// dependencies the engine must run one after the other. Measured two ways from mocked runs of the
// component: counted on the recorded dependency graph, and timed with a fixed latency per resource in the
// mocks (which also checks that the SDK schedules registrations as the graph says).
import type { EtcdClusterArgs } from "../../../components";
import { diffRuns, ResourceChange } from "./planDiff";
import { installStackMocks, RecordedResource, settled, StackMockOptions, valueOf } from "../mocks/stackMocks";

/** Steps a resource costs on the path: 1 for a resource to create, 0 for a component or an unchanged resource. */
export type StepCost = (r: RecordedResource) => number;

export interface CriticalPath {
    /** Sum of the costs along the longest chain. */
    steps: number;
    /** The resources on that chain, first to last, as "name (Type)" (those with a cost only). */
    path: string[];
}

/** The longest chain through the recorded dependencies (explicit and through inputs) of a run. */
export function criticalPath(resources: RecordedResource[], cost: StepCost = (r) => (r.custom ? 1 : 0)): CriticalPath {
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const memo = new Map<string, CriticalPath>();
    const visit = (r: RecordedResource, stack: Set<string>): CriticalPath => {
        const known = memo.get(r.urn);
        if (known) return known;
        if (stack.has(r.urn)) throw new Error(`dependency cycle through ${r.name}`);
        stack.add(r.urn);
        let longest: CriticalPath = { steps: 0, path: [] };
        for (const dep of r.dependsOn) {
            const d = byUrn.get(dep);
            if (!d) continue;
            const p = visit(d, stack);
            if (p.steps > longest.steps) longest = p;
        }
        stack.delete(r.urn);
        const own = cost(r);
        const label = `${r.name} (${r.type.split(":").pop()})`;
        const result = { steps: longest.steps + own, path: own > 0 ? [...longest.path, label] : longest.path };
        memo.set(r.urn, result);
        return result;
    };
    return resources.map((r) => visit(r, new Set())).reduce((a, b) => (b.steps > a.steps ? b : a), { steps: 0, path: [] });
}

export const benchSubnets = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
const baseArgs: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: benchSubnets, version: "3.6.13" };

interface Run {
    resources: RecordedResource[];
    /** From the first resource's creation to the last one's end, in ms (the program's own run time excluded). */
    elapsedMs: number;
}

/** One mocked run of a cluster named "etcd" with these arguments. */
async function runCluster(args: EtcdClusterArgs, options: StackMockOptions): Promise<Run> {
    const mocks = await installStackMocks({ tls: "fake", ...options });
    const { EtcdCluster } = await import("../../../components");
    const cluster = new EtcdCluster("etcd", args);
    await valueOf(cluster.members);
    await settled(mocks);
    const { timings } = mocks;
    const elapsedMs = timings.length > 0 ? Math.max(...timings.map((t) => t.endMs)) - Math.min(...timings.map((t) => t.startMs)) : 0;
    return { resources: mocks.resources, elapsedMs };
}

export interface PathFigure {
    /** What was measured, e.g. "new cluster, 7 members". */
    label: string;
    size: number;
    /** Steps on the longest dependency chain of the recorded graph. */
    steps: number;
    /** Wall time under mocks with `latencyMs` per step, and that time in steps. */
    elapsedMs: number;
    latencyMs: number;
    path: string[];
}

/** Critical path of creating a new cluster of `size` members: every resource costs one step. */
export async function newClusterPath(size: number, latencyMs: number): Promise<PathFigure> {
    const args = { ...baseArgs, size };
    const graph = await runCluster(args, {});
    const timed = await runCluster(args, { latencyMs });
    const { steps, path } = criticalPath(graph.resources);
    return { label: `new cluster, ${size} members`, size, steps, elapsedMs: timed.elapsedMs, latencyMs, path };
}

/**
 * Steps of one change: a replaced resource costs two (its delete and its create both sit on the path, as
 * the member's fixed interface forces the old instance out first), an updated or created resource one,
 * an unchanged resource none.
 */
export function changeCost(changes: ResourceChange[]): (r: { type: string; name: string }) => number {
    const kinds = new Map(changes.map((c) => [`${c.type}::${c.name}`, c.kind]));
    return (r) => {
        const kind = kinds.get(`${r.type}::${r.name}`);
        return kind === "replace" ? 2 : kind === "update" || kind === "create" ? 1 : 0;
    };
}

/** Critical path of a change that touches every member of an existing cluster (an etcd patch release). */
export async function rollingChangePath(size: number, latencyMs: number): Promise<PathFigure> {
    const before = await runCluster({ ...baseArgs, size }, {});
    const afterArgs = { ...baseArgs, size, version: "3.6.14" };
    const after = await runCluster(afterArgs, { existingResources: before.resources });
    const cost = changeCost(diffRuns(before.resources, after.resources));
    const timed = await runCluster(afterArgs, { existingResources: before.resources, latencyMs: (r) => cost(r) * latencyMs });
    const { steps, path } = criticalPath(after.resources, (r) => (r.custom ? cost(r) : 0));
    return { label: `rolling change (etcd 3.6.13 -> 3.6.14), ${size} members`, size, steps, elapsedMs: timed.elapsedMs, latencyMs, path };
}

/** The figures as a table, with the ratio of each row's time to the first row of its kind. */
export function renderPathTable(figures: PathFigure[]): string {
    const rows = figures.map((f) => {
        const first = figures.find((g) => g.label.split(",")[0] === f.label.split(",")[0])!;
        return [
            f.label,
            String(f.steps),
            `${f.elapsedMs} ms (${(f.elapsedMs / f.latencyMs).toFixed(1)} steps)`,
            `${(f.elapsedMs / first.elapsedMs).toFixed(2)}x`,
        ];
    });
    const header = ["deployment", "steps", `time at ${figures[0]?.latencyMs ?? 0} ms per step`, "vs first"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => c.padEnd(widths[i]))
            .join("  ")
            .trimEnd();
    return [line(header), ...rows.map(line)].join("\n");
}
