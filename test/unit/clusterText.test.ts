// What the component renders is deterministic, and caller strings cannot change the structure of the
// YAML, shell or unit text they reach: they are refused with a clear error, sanitized, or quoted inert.
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parse } from "yaml";
import type { EtcdClusterArgs } from "../../components";
import { installStackMocks, RecordedResource, settled, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

jest.setTimeout(60_000);

const base: EtcdClusterArgs = { vpcId: "vpc-0123abcd", subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"] };

/** Builds clusters under fresh mocks (deterministic placeholder TLS) and returns every registration. */
async function render(clusters: [string, EtcdClusterArgs][]): Promise<{ mocks: StackMocks; resources: RecordedResource[] }> {
    const mocks = await installStackMocks({ tls: "fake" });
    const { EtcdCluster } = await import("../../components");
    const built = clusters.map(([name, args]) => new EtcdCluster(name, args));
    await Promise.all(built.map((c) => Promise.all([valueOf(c.members), valueOf(c.clientKeyPem)])));
    await settled(mocks);
    return { mocks, resources: mocks.resources };
}

const bootScriptOf = (userData: string): string =>
    parse(userData).write_files.find((f: { path: string }) => f.path === "/usr/local/sbin/etcd-bootstrap").content;

describe("determinism", () => {
    test("two runs of the same program register identical inputs for every resource", async () => {
        const args: EtcdClusterArgs = { ...base, size: 5, clientCidrs: ["10.0.0.0/16"], tags: { team: "platform" } };
        const first = (await render([["det", args]])).resources;
        const second = (await render([["det", args]])).resources;
        const view = (rs: RecordedResource[]) =>
            rs
                .map((r) => ({ type: r.type, name: r.name, inputs: r.inputs, secret: r.secretInputs }))
                .sort((a, b) => `${a.type}${a.name}`.localeCompare(`${b.type}${b.name}`));
        expect(view(second)).toEqual(view(first));
        const userData = first.filter((r) => r.type === "aws:ec2/instance:Instance").map((r) => r.inputs.userData as string);
        expect(userData).toHaveLength(5);
        for (const text of userData) {
            expect(text).not.toMatch(/\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d/); // no timestamp
            const paths = parse(text).write_files.map((f: { path: string }) => f.path);
            expect(paths).toEqual([...paths].sort());
        }
    });
});

describe("hostile strings", () => {
    const hostile = [`'`, `"`, "\n", "$(touch /tmp/pwned)", "`id`", "; rm -rf /", ": # - { } [ ] & * ! | > % @"];

    test.each(hostile)("a component name with %j yields safe member names, units and paths, and valid YAML", async (bad) => {
        const name = `a${bad}b`;
        const { resources } = await render([[name, base]]);
        const instances = resources.filter((r) => r.type === "aws:ec2/instance:Instance");
        expect(instances).toHaveLength(3);
        for (const instance of instances) {
            const doc = parse(instance.inputs.userData);
            expect(doc.runcmd).toEqual([["/usr/local/sbin/etcd-bootstrap"]]);
            const env = doc.write_files.find((f: { path: string }) => f.path === "/etc/etcd/etcd.env").content as string;
            expect(env).toMatch(/^ETCD_NAME=[a-z0-9-]+$/m);
            expect(env).not.toContain(bad.trim() || "\n\n");
            const script = bootScriptOf(instance.inputs.userData);
            expect(spawnSync("bash", ["-n"], { input: script }).status).toBe(0);
            expect(script).toMatch(/^readonly MEMBER_NAME='[a-z0-9-]+'$/m);
        }
        for (const p of resources.filter((r) => r.type === "aws:ssm/parameter:Parameter")) {
            expect(p.inputs.name).toMatch(/^\/etcd\/[a-z0-9-]+\/([a-z0-9-]+\/(server\.key|peer\.key|ca\.crt|server\.crt|peer\.crt)|members|membership\.sh)$/);
        }
    });

    test("a mirror URL with shell-significant characters stays one quoted word in the boot script", async () => {
        const url = "https://mirror.example/etcd.tgz?a=1&b=(2);c=*";
        const { resources } = await render([["url", { ...base, binaryUrl: url, binarySha256: "a".repeat(64) }]]);
        const script = bootScriptOf(resources.find((r) => r.type === "aws:ec2/instance:Instance")!.inputs.userData);
        expect(script).toContain(`readonly RELEASE_URL='${url}'`);
        const dir = mkdtempSync(join(tmpdir(), "etcd-quote-"));
        try {
            // Evaluate only the assignments: the value must come back byte for byte, with nothing executed.
            const assignments = script
                .split("\n")
                .filter((l) => l.startsWith("readonly "))
                .join("\n");
            writeFileSync(join(dir, "vars.sh"), `${assignments}\nprintf '%s' "$RELEASE_URL"\n`);
            const r = spawnSync("bash", [join(dir, "vars.sh")], { cwd: dir, encoding: "utf8" });
            expect(r.stdout).toBe(url);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    test("tags reach the tags input only, never user-data", async () => {
        const { resources } = await render([["tagged", { ...base, tags: { owner: "team@example.com", purpose: "k8s=control/plane" } }]]);
        const instance = resources.find((r) => r.type === "aws:ec2/instance:Instance")!;
        expect(instance.inputs.tags).toMatchObject({ owner: "team@example.com", purpose: "k8s=control/plane" });
        expect(instance.inputs.userData).not.toContain("team@example.com");
    });

    test.each<[string, EtcdClusterArgs, string]>([
        [
            "tag value with a command substitution",
            { ...base, tags: { team: "$(reboot)" } },
            'tags.team: expected a value of up to 256 letters, digits, spaces and _ . : / = + - @, got "$(reboot)"',
        ],
        [
            "tag value with a newline",
            { ...base, tags: { team: "a\nb" } },
            'tags.team: expected a value of up to 256 letters, digits, spaces and _ . : / = + - @, got "a\\nb"',
        ],
        [
            "mirror URL with a quote",
            { ...base, binaryUrl: "https://m.example/x'y", binarySha256: "a".repeat(64) },
            `binaryUrl: expected an http(s):// or file:// URL without spaces or quotes, got "https://m.example/x'y"`,
        ],
        [
            "mirror URL with a backtick",
            { ...base, binaryUrl: "https://m.example/`id`", binarySha256: "a".repeat(64) },
            'binaryUrl: expected an http(s):// or file:// URL without spaces or quotes, got "https://m.example/`id`"',
        ],
        [
            "version with a newline",
            { ...base, version: "3.6.14\nETCD_AUTO_TLS=true" },
            'version: expected a release of etcd 3.4, 3.5, 3.6 such as "3.6.14" (pinned checksums: 3.5.6 to 3.6.14), got "3.6.14\\nETCD_AUTO_TLS=true"',
        ],
        [
            "retention with an injected variable",
            { ...base, tuning: { autoCompactionRetention: "1h\nETCD_AUTO_TLS=true" } },
            'tuning.autoCompactionRetention: expected a duration such as "1h", "30m" or a number of hours such as "1", got "1h\\nETCD_AUTO_TLS=true"',
        ],
        [
            "instance type with a space",
            { ...base, instanceType: "m7i.large && id" },
            'instanceType: expected an EC2 instance type such as "m7i.large", got "m7i.large && id"',
        ],
    ])("%s is refused before anything is created", async (_, args, message) => {
        const mocks = await installStackMocks({ tls: "fake" });
        const { EtcdCluster } = await import("../../components");
        expect(() => new EtcdCluster("hostile", args)).toThrow(message);
        await settled(mocks, 5);
        expect(mocks.resources.filter((r) => r.name.startsWith("hostile"))).toEqual([]);
    });
});
