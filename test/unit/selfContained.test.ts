// The repository is self-contained: its code, tests, scripts and configuration read nothing outside it, so a
// fresh clone anywhere passes the tests. Data the tests compare against (the upstream release sums) lives in
// test/data/.
import { readFileSync } from "fs";
import { dirname, join } from "path";
import { outsideReferences, repositoryFiles } from "../helpers/outsideReads";

const root = join(__dirname, "..", "..");

test("the scan covers the code, tests, scripts and configuration of the repository", () => {
    const files = repositoryFiles(root);
    expect(files).toEqual(
        expect.arrayContaining([
            "index.ts",
            "components/etcdCluster.ts",
            "scripts/local.ts",
            "scripts/run-tests.sh",
            "test/unit/releases.test.ts",
            "test/integration/cluster.test.ts",
            "jest.config.js",
            "package.json",
            ".ci/run",
            ".github/workflows/ci.yml",
        ]),
    );
    expect(files).not.toContain("package-lock.json");
});

test("nothing in the repository reads a path outside it", () => {
    const found = repositoryFiles(root).flatMap((file) => outsideReferences(root, file, readFileSync(join(root, file), "utf8")));
    expect(found.map((r) => `${r.file}:${r.line}: ${r.reason}`)).toEqual([]);
});

test("the release sums the tests compare against are in the repository", () => {
    const tsv = readFileSync(join(root, "test", "data", "etcd-release-sha256.tsv"), "utf8")
        .trim()
        .split("\n");
    expect(tsv[0].split("\t")).toEqual(["version", "arch", "sha256", "file"]);
    expect(tsv.length).toBeGreaterThan(100);
});

describe("the scan finds each way of reaching outside (it is not a rubber stamp)", () => {
    const up = (n: number) => "../".repeat(n);
    const parent = dirname(root);
    // A host whose only non-system top-level directory is /work-area.
    const scan = (file: string, line: string) => outsideReferences(root, file, line, (d) => d === "/work-area").map((r) => r.reason);

    test.each([
        ["a data file beside the repository", "test/unit/releases.test.ts", `const tsv = path.resolve(__dirname, "${up(3)}elsewhere/data/sums.tsv");`],
        ["an import from a sibling checkout", "scripts/local.ts", `import { x } from "${up(2)}other/lib";`],
        ["__dirname joined with parent steps", "scripts/lib/plan.ts", `const f = join(__dirname, ${'"..", '.repeat(3)}"elsewhere", "x.json");`],
        ["a shell script leaving through its own directory", "scripts/run-tests.sh", 'cd "$(dirname "$0")/../.." || exit 1'],
        ["an absolute path beside the repository", "test/unit/x.test.ts", `readFileSync("${parent}/elsewhere/data.tsv")`],
        ["an absolute path into another directory of the host", "scripts/lib/x.ts", 'const sums = "/work-area/data/sums.tsv";'],
    ])("%s", (_, file, line) => {
        expect(scan(file, line).length).toBeGreaterThanOrEqual(1);
    });

    test.each([
        ["an import inside the repository", "test/unit/releases.test.ts", 'import { x } from "../../components/releases";'],
        ["a cache directory inside the repository", "scripts/lib/localCluster.ts", 'const state = join(__dirname, "..", "..", ".cache", "local");'],
        ["the compiled component reaching its scripts from bin/components", "components/healthGate.ts", 'path.resolve(__dirname, "..", "..", "scripts", name)'],
        ["a path on the member", "components/render/paths.ts", 'caCert: "/etc/etcd/pki/ca.crt",'],
        ["an etcd key or SSM parameter name", "test/unit/render.test.ts", 'serverKey: "/etcd/c/etcd-0/server.key",'],
        ["a shell script at the repository root", "scripts/run-tests.sh", 'cd "$(dirname "$0")/.." || exit 1'],
    ])("but not %s", (_, file, line) => {
        expect(scan(file, line)).toEqual([]);
    });
});
