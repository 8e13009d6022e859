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
