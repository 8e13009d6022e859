// The package as npm publishes it: packed from a fresh clone of the committed tree with no prior build (the
// package's prepare script builds it, as npm does for pack, publish and installs from git), installed into a
// consumer program that type-checks under `strict` against the package's declarations, and loaded at run
// time. Nothing of the example stack inside.
import { execFileSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { run } from "../helpers/tools";

jest.setTimeout(180_000);

const repo = join(__dirname, "..", "..");
let work: string;
let tarball: string;
let files: string[];

beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "etcd-package-"));
    // A fresh clone at the commit under test: no bin/, nothing built. Its dependencies are this repository's
    // (linked: the test installs nothing from a registry).
    const clone = join(work, "clone");
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" }).trim();
    execFileSync("git", ["clone", "--quiet", "--no-checkout", repo, clone], { stdio: "pipe" });
    execFileSync("git", ["checkout", "--quiet", head], { cwd: clone, stdio: "pipe" });
    symlinkSync(join(repo, "node_modules"), join(clone, "node_modules"));
    expect(existsSync(join(clone, "bin"))).toBe(false);
    const packed = JSON.parse(
        execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: clone, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
    );
    tarball = join(work, packed[0].filename);
    files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("the tarball holds the compiled component, its declarations and the readiness check, and nothing of the example stack, other scripts or tests", () => {
    expect(files).toEqual(
        expect.arrayContaining([
            "package/package.json",
            "package/bin/components/index.js",
            "package/bin/components/index.d.ts",
            "package/bin/components/args.d.ts",
        ]),
    );
    // The readiness check travels with the component: the gates run it from the installed package.
    expect(files).toContain("package/scripts/etcd-health-gate.sh");
    const stray = files.filter(
        (f) => !/^package\/(package\.json|README\.md|LICENSE|scripts\/etcd-health-gate\.sh|bin\/components\/.+\.(js|d\.ts|js\.map))$/.test(f),
    );
    expect(stray).toEqual([]);
    expect(files).not.toContain("package/bin/index.js");
});

test("a strict consumer program type-checks against the installed package, and the entry exports EtcdCluster at run time", () => {
    // Installed the way npm lays it out, offline: the package unpacked under node_modules, its dependencies
    // (already installed for this repository) linked beside it.
    const consumer = join(work, "consumer");
    const installed = join(consumer, "node_modules", "@platform", "etcd-cluster");
    mkdirSync(installed, { recursive: true });
    execFileSync("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"]);
    for (const dependency of ["@pulumi", "@types", "yaml"]) {
        symlinkSync(join(repo, "node_modules", dependency), join(consumer, "node_modules", dependency));
    }
    cpSync(join(repo, "test", "consumer"), consumer, { recursive: true });

    const tsc = run(join(repo, "node_modules", ".bin", "tsc"), ["-p", join(consumer, "tsconfig.json")], { cwd: consumer });
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);

    const loaded = run(
        "node",
        ["-e", 'const p = require("@platform/etcd-cluster"); console.log(typeof p.EtcdCluster, p.etcdClusterType, typeof p.renderEtcdEnvironment)'],
        { cwd: consumer },
    );
    expect(loaded.stdout.trim()).toBe("function etcd-cluster:index:EtcdCluster function");
    const gate = run("node", ["-e", 'process.stdout.write(require("@platform/etcd-cluster/bin/components/healthGate").healthGateScript().split("\\n")[0])'], {
        cwd: consumer,
    });
    expect(gate.stderr).toBe("");
    expect(gate.stdout).toBe("#!/bin/bash");
});

test("the type check fails for a consumer that misuses the types (it is not a rubber stamp)", () => {
    const consumer = join(work, "consumer");
    const broken = join(consumer, "broken.ts");
    writeFileSync(
        broken,
        'import { EtcdClusterArgs } from "@platform/etcd-cluster";\nexport const a: EtcdClusterArgs = { vpcId: "vpc-1", subnetIds: ["subnet-1"], size: "3" };\n',
    );
    const tsc = run(join(repo, "node_modules", ".bin", "tsc"), ["--strict", "--noEmit", "--types", "node", broken], { cwd: consumer });
    expect(tsc.status).not.toBe(0);
    expect(tsc.stdout).toMatch(/Type 'string' is not assignable to type 'number'/);
});
