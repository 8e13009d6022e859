// `npm run bench:deployment` (also the first part of `npm run bench`): the critical path of deploying the
// component, from mocked runs without cloud credentials: a new cluster of 3, 5 and 7 members, and a change
// that rolls every member of an existing one. Each figure is the longest dependency chain counted in
// resource steps, and the wall time with a fixed latency per resource step in the mocks.
import { newClusterPath, PathFigure, renderPathTable, rollingChangePath } from "./lib/plan/criticalPath";

function parseArgs(argv: string[]): { latencyMs: number; sizes: number[] } {
    let latencyMs = 500;
    let sizes = [3, 5, 7];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--latency-ms") latencyMs = Number(argv[++i]);
        else if (argv[i] === "--sizes") sizes = String(argv[++i]).split(",").map(Number);
        else throw new Error(`unknown option ${argv[i]}; usage: npm run bench:deployment -- [--latency-ms N] [--sizes 3,5,7]`);
    }
    if (!Number.isInteger(latencyMs) || latencyMs < 10) throw new Error("--latency-ms: expected an integer of at least 10");
    if (sizes.some((n) => ![1, 3, 5, 7].includes(n))) throw new Error("--sizes: expected member counts among 1, 3, 5 and 7");
    return { latencyMs, sizes };
}

async function main(): Promise<void> {
    const { latencyMs, sizes } = parseArgs(process.argv.slice(2));
    const figures: PathFigure[] = [];
    for (const size of sizes) {
        console.error(`[bench] new cluster of ${size} under mocks`);
        figures.push(await newClusterPath(size, latencyMs));
    }
    for (const size of sizes) {
        console.error(`[bench] rolling change of ${size} members under mocks`);
        figures.push(await rollingChangePath(size, latencyMs));
    }
    const created = figures.filter((f) => f.label.startsWith("new cluster"));
    const smallest = created[0];
    const largest = created[created.length - 1];
    const ratio = largest.elapsedMs / smallest.elapsedMs;
    const met = ratio <= 1.1 && largest.steps <= 8;
    console.log(
        [
            `deployment critical path under mocks (${latencyMs} ms per resource step; lookups free)`,
            renderPathTable(figures),
            "",
            `new cluster, ${largest.size} vs ${smallest.size} members: ${ratio.toFixed(2)}x the time, ${largest.steps} steps deep ` +
                `(target: within 1.1x and at most 8 steps: ${met ? "met" : "MISSED"})`,
            `longest chain of a new ${largest.size}-member cluster:`,
            `  ${largest.path.join(" > ")}`,
            `a rolling change is one member at a time by design: the backup before the change, then each member's instance`,
            `(delete and create), volume attachment (likewise) and health gate, then the cluster's gate.`,
            "",
        ].join("\n"),
    );
}

main().catch((e: Error) => {
    console.error(`npm run bench:deployment: ${e.message}`);
    process.exit(1);
});
