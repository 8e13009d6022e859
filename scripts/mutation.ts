// Mutation testing of components/, one module group at a time against the unit test files that test it.
// A group's score is a lower bound of what the whole unit suite would give (fewer tests can only kill fewer
// mutants), and each group finishes in minutes where one run over everything takes hours on a small machine.
//
//   npm run mutation                      # every group, then the table
//   npm run mutation -- render placement  # these groups only; the table covers every group with a report
//   npm run mutation -- --report          # only the table, from the reports already there
//   npm run mutation -- --force render    # every mutant again, not only those of changed code or tests
//   npm run mutation -- --concurrency=1 sizing  # one test process (stryker.config.json's default is 2)
import { spawnSync } from "child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";

interface MutationGroup {
    /** Modules of components/ mutated together. */
    mutate: string[];
    /** Unit test files (test/unit/NAME.test.ts) run against each mutant. */
    tests: string[];
    /**
     * Every test file of the group runs against every mutant. For modules that run while a test file's
     * `beforeAll` builds clusters (Stryker records no coverage there and would call every mutant uncovered), or
     * that a test reaches through the example program, which jest cannot relate to the mutated file.
     * Such a group is always run whole (as with --force): Stryker's incremental mode would keep a survivor's
     * result after the tests changed.
     * @default false: per-test coverage and jest's related tests (stryker.config.json)
     */
    runAllTests?: boolean;
}

export const mutationGroups: Record<string, MutationGroup> = {
    placement: { mutate: ["components/placement.ts"], tests: ["placement"] },
    cidr: { mutate: ["components/cidr.ts"], tests: ["cidr", "validation"] },
    validation: { mutate: ["components/validation.ts", "components/releases.ts"], tests: ["validation", "validationEdges", "releases", "cidr"] },
    render: {
        mutate: ["authBootstrap", "bootScript", "cloudConfig", "etcdConfig", "memberUserData", "paths", "systemdUnit"].map((m) => `components/render/${m}.ts`),
        tests: ["render", "renderDetails", "cis"],
    },
    memberTools: { mutate: ["components/render/backup.ts", "components/render/maintenance.ts"], tests: ["backupRender", "maintenanceRender"] },
    // The membership scripts, run by bash: join settings and functions, and a member's removal against real etcd.
    membershipScripts: { mutate: ["components/render/membership.ts", "components/render/memberRemoval.ts"], tests: ["membershipScripts"] },
    sizing: { mutate: ["components/volumeSizing.ts", "components/userDataBound.ts"], tests: ["validation", "userDataBound"] },
    // Modules that create resources: the committed plan of the example stack shows every input and option they
    // set, and the wiring tests build a few clusters that differ in what these modules decide.
    wiring: {
        mutate: ["identity", "network", "pki", "healthGate"].map((m) => `components/${m}.ts`),
        tests: ["plan", "memberPolicy", "wiring"],
        runAllTests: true,
    },
    // The backup bucket, alarm, tools object and permissions: one-member clusters that differ in their backups.
    backupResources: { mutate: ["components/backup.ts"], tests: ["backupResources"], runAllTests: true },
    // The component and its members: small clusters that differ in the arguments these modules resolve and wire.
    cluster: { mutate: ["components/etcdCluster.ts", "components/member.ts"], tests: ["clusterResources"], runAllTests: true },
    // The member steps, the readiness checks and the membership parameters, on a few small clusters in one stack.
    rollout: { mutate: ["components/rollout.ts", "components/membership.ts"], tests: ["rolloutSteps"], runAllTests: true },
};

const repo = join(__dirname, "..");
const reports = join(repo, "reports", "mutation");

/** Modules of components/ that Stryker mutates (stryker.config.json's `mutate`) and no group measures. */
export function unmeasuredModules(): string[] {
    const config = JSON.parse(readFileSync(join(repo, "stryker.config.json"), "utf8")) as { mutate: string[] };
    const excluded = new Set(config.mutate.filter((p) => p.startsWith("!")).map((p) => p.slice(1)));
    const grouped = new Set(Object.values(mutationGroups).flatMap((g) => g.mutate));
    const modules = (dir: string): string[] =>
        readdirSync(join(repo, dir), { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? modules(`${dir}/${e.name}`) : e.name.endsWith(".ts") ? [`${dir}/${e.name}`] : [],
        );
    return modules("components")
        .filter((m) => !excluded.has(m) && !grouped.has(m))
        .sort();
}

interface MutantResult {
    status: string;
    mutatorName: string;
    replacement?: string;
    location: { start: { line: number; column: number } };
}

/** stryker.config.json without jest's related-test selection, for the groups that run all their tests. */
function allTestsConfig(): string {
    const config = JSON.parse(readFileSync(join(repo, "stryker.config.json"), "utf8"));
    const file = join(reports, "all-tests.stryker.json");
    mkdirSync(reports, { recursive: true });
    const schema = "./node_modules/@stryker-mutator/core/schema/stryker-schema.json";
    writeFileSync(file, JSON.stringify({ ...config, $schema: schema, jest: { ...config.jest, enableFindRelatedTests: false } }, null, 2));
    return file;
}

function runGroup(name: string, group: MutationGroup, force: boolean, concurrency: string | undefined): void {
    console.log(`\n== ${name}: ${group.mutate.join(", ")} against ${group.tests.map((t) => `${t}.test.ts`).join(", ")}`);
    const r = spawnSync(
        join(repo, "node_modules", ".bin", "stryker"),
        [
            "run",
            ...(group.runAllTests ? [allTestsConfig(), "--coverageAnalysis", "off"] : []),
            "--mutate",
            group.mutate.join(","),
            "--checkers",
            "",
            "--incrementalFile",
            join("reports", "mutation", `${name}.incremental.json`),
            // Without per-test coverage Stryker's incremental mode keeps a survivor's result after its tests change.
            ...(force || group.runAllTests ? ["--force"] : []),
            ...(concurrency !== undefined ? ["--concurrency", concurrency] : []),
        ],
        { cwd: repo, stdio: "inherit", env: { ...process.env, MUTATION_TESTS: group.tests.join(",") } },
    );
    if (r.error) throw new Error(`could not run stryker (npm ci installs it): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`stryker failed for group ${name} (exit ${r.status})`);
    copyFileSync(join(reports, "mutation.json"), join(reports, `${name}.json`));
}

/** Killed and timed-out mutants count as detected (Stryker's own score); survivors and uncovered ones do not. */
function table(): void {
    const rows: [string, number, number, number][] = [];
    const survivors: string[] = [];
    for (const name of Object.keys(mutationGroups)) {
        const file = join(reports, `${name}.json`);
        if (!existsSync(file)) continue;
        const report = JSON.parse(readFileSync(file, "utf8")) as { files: Record<string, { mutants: MutantResult[] }> };
        for (const [path, { mutants }] of Object.entries(report.files)) {
            const detected = mutants.filter((m) => m.status === "Killed" || m.status === "Timeout").length;
            const missed = mutants.filter((m) => m.status === "Survived" || m.status === "NoCoverage");
            rows.push([path, detected, missed.length, mutants.length]);
            for (const m of missed) {
                survivors.push(`${path}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} -> ${JSON.stringify(m.replacement ?? "")}`);
            }
        }
    }
    const pct = (d: number, m: number) => (d + m === 0 ? "-" : `${((100 * d) / (d + m)).toFixed(1)} %`);
    console.log("\nfile | detected | survived | mutants | score");
    let [d, s, t] = [0, 0, 0];
    for (const [path, detected, missed, total] of rows.sort((a, b) => a[0].localeCompare(b[0]))) {
        console.log(`${path} | ${detected} | ${missed} | ${total} | ${pct(detected, missed)}`);
        [d, s, t] = [d + detected, s + missed, t + total];
    }
    console.log(`all measured | ${d} | ${s} | ${t} | ${pct(d, s)}`);
    console.log(`not measured (no group): ${unmeasuredModules().join(", ")}`);
    if (survivors.length > 0) console.log(`\nsurvivors (equivalent ones are listed in test/mutation/equivalent-mutants.md):\n${survivors.join("\n")}`);
}

function main(): void {
    const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
    const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
    if (!flags.includes("--report")) {
        const unknown = args.filter((a) => !(a in mutationGroups));
        if (unknown.length > 0) throw new Error(`unknown group(s) ${unknown.join(", ")}; groups: ${Object.keys(mutationGroups).join(", ")}`);
        const concurrency = flags.find((f) => f.startsWith("--concurrency="))?.slice("--concurrency=".length);
        if (concurrency !== undefined && !/^[1-9][0-9]*$/.test(concurrency))
            throw new Error(`--concurrency= takes a positive whole number of test processes, not "${concurrency}"`);
        for (const name of args.length > 0 ? args : Object.keys(mutationGroups)) runGroup(name, mutationGroups[name], flags.includes("--force"), concurrency);
    }
    table();
}

if (require.main === module) main();
