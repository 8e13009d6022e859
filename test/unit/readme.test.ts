// The README gets a user from nothing to a running cluster and back: its commands exist, the program it shows
// is the one the package test type-checks, the stack settings it lists are those the example stack reads, and
// the local runner's options are all described.
import { readFileSync } from "fs";
import { join } from "path";

const root = join(__dirname, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** The README's section under a `## ` heading that starts with `title`. */
function section(title: string): string {
    const start = readme.indexOf(`\n## ${title}`);
    expect(start).toBeGreaterThan(-1);
    const end = readme.indexOf("\n## ", start + 1);
    return readme.slice(start, end === -1 ? undefined : end);
}

test("the first two commands run scripts that exist, and are exactly the documented pair", () => {
    const first = /```bash\n([\s\S]*?)```/.exec(readme)![1].trim().split("\n");
    expect(first.map((l) => l.split("#")[0].trim())).toEqual(["npm ci && npm run setup && npm run local", "npm ci && npm run setup && npm test"]);
    expect(pkg.scripts).toEqual(expect.objectContaining({ setup: expect.any(String), local: expect.any(String), test: expect.any(String) }));
});

test("every `npm run X` the README mentions is a script of package.json", () => {
    const mentioned = new Set([...readme.matchAll(/npm run (?:-s )?([a-z][\w:-]*)/g)].map((m) => m[1]));
    expect([...mentioned].filter((name) => !(name in pkg.scripts))).toEqual([]);
    expect([...mentioned]).toEqual(expect.arrayContaining(["setup", "local", "plan", "docs", "bench"]));
});

test("the program under 'Use the component in your own program' is test/consumer/readme.ts, which the package test type-checks", () => {
    const snippet = /```typescript\n([\s\S]*?)```/.exec(section("Use the component in your own program"))![1];
    expect(snippet).toBe(readFileSync(join(root, "test", "consumer", "readme.ts"), "utf8"));
    expect(JSON.parse(readFileSync(join(root, "test", "consumer", "tsconfig.json"), "utf8")).files).toContain("readme.ts");
    // Complete: everything it uses is defined in it.
    for (const name of ["vpc", "privateSubnetIds", "apiServerSg"]) expect(snippet).toMatch(new RegExp(`const ${name} = `));
});

test("the AWS section lists every setting the example stack reads, and the steps from login to teardown", () => {
    const stack = readFileSync(join(root, "index.ts"), "utf8");
    const keys = [...stack.matchAll(/config\.(?:get|require)\w*(?:<[^>]*>)?\("(\w+)"\)/g)].map((m) => m[1]);
    expect(keys).toEqual(expect.arrayContaining(["size", "vpcId", "auth", "binaryUrl", "binarySha256"]));
    const aws = section("Deploy it on AWS");
    for (const key of keys) expect([key, aws.includes(`| \`${key}\``) || aws.includes(`\`${key}\` |`) || aws.includes(`, \`${key}\``)]).toEqual([key, true]);
    // In this order, each after the one before.
    let at = 0;
    for (const step of [
        "pulumi login",
        "pulumi stack init",
        "pulumi up",
        "aws ssm start-session",
        "pulumi state unprotect",
        "pulumi destroy",
        "pulumi stack rm",
    ]) {
        at = aws.indexOf(step, at);
        expect([step, at > -1]).toEqual([step, true]);
    }
    expect(aws).toMatch(/npm run plan -- --new-network/);
});

test("every option of npm run local is described in its section", () => {
    const usage = /const usage = `([^`]*)`/.exec(readFileSync(join(root, "scripts", "local.ts"), "utf8"))![1];
    const options = [...new Set([...usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]))];
    expect(options).toEqual(expect.arrayContaining(["--size", "--network-index", "--json", "--plan-only", "--down"]));
    const local = section("Try it on one machine");
    expect(options.filter((o) => !local.includes(`\`${o}`))).toEqual([]);
    expect(local).toContain("npm run -s local -- --json");
});
