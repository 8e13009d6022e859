// The repository is both a Pulumi program (the example stack) and a package (the component): each manifest
// must point at the right entry.
import { readFileSync } from "fs";
import { join } from "path";
import { parse } from "yaml";

const repo = join(__dirname, "..", "..");
const read = (file: string) => readFileSync(join(repo, file), "utf8");

test("pulumi up runs the example stack, not the package's compiled entry", () => {
    const project = parse(read("Pulumi.yaml"));
    expect(project.runtime.name).toBe("nodejs");
    // Without `main`, the Node.js runtime would load package.json's main (the library), which creates nothing.
    expect(project.main).toBe("index.ts");
    expect(read("index.ts")).toMatch(/new EtcdCluster\(/);
});

test("the package entry and the plugin entry are the component, never the example stack", () => {
    const pkg = JSON.parse(read("package.json"));
    expect(pkg.main).toBe("bin/components/index.js");
    expect(pkg.types).toBe("bin/components/index.d.ts");
    expect(parse(read("PulumiPlugin.yaml")).main).toBe("components/index.ts");
    expect(read("components/index.ts")).not.toMatch(/new EtcdCluster\(/);
});

test("the GitHub workflow's test job runs .ci/run as root, and .ci/run installs what the tests need before running them", () => {
    const job = parse(read(".github/workflows/ci.yml")).jobs.test;
    const runs: string[] = job.steps.filter((s: { run?: string }) => s.run).map((s: { run: string }) => s.run.trim());
    expect(runs).toEqual(["sudo --preserve-env=PATH bash .ci/run"]);
    const node = job.steps.find((s: { uses?: string }) => s.uses?.startsWith("actions/setup-node@"));
    expect(node.with["node-version"]).toBe(20);
    // npm runs as root: a cache of the runner's own npm directory would stay empty, and its post step fail the job.
    expect(node.with.cache).toBeUndefined();
    expect(job["timeout-minutes"]).toBeGreaterThanOrEqual(90);
    const ci = read(".ci/run")
        .split("\n")
        .filter((l) => /^(npm|bash|sudo)\b/.test(l));
    expect(ci).toEqual(["npm ci --no-audit --no-fund", "npm run --silent setup", "npm test"]);
    expect(JSON.parse(read("package.json")).scripts.setup).toBe("bash scripts/install-test-deps.sh");
    expect(read("scripts/install-test-deps.sh")).toMatch(/^fill_mirror$/m);
});
