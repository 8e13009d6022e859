// The schema other Pulumi languages get (`pulumi package add`): the SDK's own component analyzer run over
// this package, as the plugin host does, with the entry point PulumiPlugin.yaml names.
import { readFileSync } from "fs";
import { join } from "path";
import ts from "typescript";
import { parse } from "yaml";
import { Analyzer, AnalyzeResult, PropertyDefinition } from "@pulumi/pulumi/provider/experimental/analyzer";

jest.setTimeout(120_000);

const repo = join(__dirname, "..", "..");
let schema: AnalyzeResult;

/** Property names of an exported interface, read from the source with the TypeScript compiler. */
function interfaceProperties(file: string, name: string): { name: string; optional: boolean }[] {
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const found = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
    if (!found) throw new Error(`interface ${name} not found in ${file}`);
    return found.members.filter(ts.isPropertySignature).map((m) => ({ name: m.name.getText(source), optional: m.questionToken !== undefined }));
}

const typed = (p: PropertyDefinition) => "$ref" in p || ["string", "integer", "number", "boolean", "array", "object"].includes((p as { type: string }).type);

beforeAll(() => {
    const plugin = parse(readFileSync(join(repo, "PulumiPlugin.yaml"), "utf8"));
    expect(plugin.runtime).toBe("nodejs");
    const packageJson = { ...JSON.parse(readFileSync(join(repo, "package.json"), "utf8")), main: plugin.main };
    schema = new Analyzer(repo, "etcd-cluster", packageJson, new Set(["EtcdCluster"])).analyze();
});

test("EtcdCluster is a component with every argument as a typed, documented input", () => {
    const component = schema.components.EtcdCluster;
    expect(component).toBeDefined();
    const args = interfaceProperties(join(repo, "components", "args.ts"), "EtcdClusterArgs");
    expect(Object.keys(component.inputs).sort()).toEqual(args.map((a) => a.name).sort());
    for (const [name, input] of Object.entries(component.inputs)) {
        expect({ name, typed: typed(input) }).toEqual({ name, typed: true });
        expect(input.description?.length ?? 0).toBeGreaterThan(0);
    }
    const required = Object.entries(component.inputs)
        .filter(([, p]) => !p.optional)
        .map(([n]) => n)
        .sort();
    expect(required).toEqual(["subnetIds", "vpcId"]);
});

test("outputs are typed; members and faultTolerance are named object types", () => {
    const outputs = schema.components.EtcdCluster.outputs;
    expect(Object.keys(outputs).sort()).toEqual([
        "caCertPem",
        "clientCertPem",
        "clientEndpoints",
        "clientKeyPem",
        "faultTolerance",
        "members",
        "securityGroupId",
    ]);
    for (const output of Object.values(outputs)) expect(typed(output)).toBe(true);
    const member = schema.typeDefinitions.EtcdMember;
    expect(Object.keys(member.properties ?? {}).sort()).toEqual(["availabilityZone", "clientUrl", "instanceId", "name", "peerUrl", "privateIp", "subnetId"]);
    expect(Object.keys(schema.typeDefinitions.EtcdFaultTolerance.properties ?? {}).sort()).toEqual(["members", "zones"]);
});

test("nested arguments are named types with their own properties; enumerations are enums", () => {
    for (const name of ["EtcdDataVolumeArgs", "EtcdTuningArgs", "EtcdTlsArgs", "EtcdCaArgs", "EtcdReadinessArgs"]) {
        const declared = interfaceProperties(join(repo, "components", "args.ts"), name)
            .map((p) => p.name)
            .sort();
        expect({ name, properties: Object.keys(schema.typeDefinitions[name]?.properties ?? {}).sort() }).toEqual({ name, properties: declared });
    }
    expect(schema.typeDefinitions.DataVolumeType.enum?.map((e) => e.value)).toEqual(["gp3", "io2"]);
    expect(schema.typeDefinitions.ReadinessMode.enum?.map((e) => e.value)).toEqual(["ssm", "direct", "none"]);
    expect(schema.typeDefinitions.KeyDelivery.enum?.map((e) => e.value)).toEqual(["ssm", "inline"]);
});
