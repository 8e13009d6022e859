// The committed plans of the example edits (test/plan/example-edits.plan.txt): what `pulumi up` does to the
// deployed example stack for a size change each way and a version bump, in the order the engine runs it,
// with the availability during the change. A reviewer reads this; a change to it shows in the diff.
import { spawnSync } from "child_process";
import { readFileSync } from "fs";
import { join } from "path";
import { parseEdit } from "../../scripts/lib/plan/plan";

jest.setTimeout(180_000);

const root = join(__dirname, "..", "..");
const snapshot = join(root, "test", "plan", "example-edits.plan.txt");
let printed: string;
let up: string;
let down: string;
let bump: string;

beforeAll(() => {
    // In its own process, as `npm run plan` runs: each run evaluates the example program anew.
    const r = spawnSync(join(root, "node_modules", ".bin", "ts-node"), ["--transpile-only", join(root, "scripts", "plan.ts"), "--edits"], {
        cwd: root,
        encoding: "utf8",
        maxBuffer: 16 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`npm run plan -- --edits failed: ${r.stderr}`);
    printed = r.stdout;
    [up, down, bump] = printed.split(/(?=^edit of the example stack: )/m);
});

test("the edits' plans match the committed snapshot (run `npm run plan -- --update-edits` and commit the diff when intended)", () => {
    expect(printed).toBe(readFileSync(snapshot, "utf8"));
});

const stepsOf = (text: string) =>
    text
        .split("\n")
        .filter((l) => /^ +\d+ {2}(create|update|replace|delete) /.test(l))
        .map((l) => l.trim().split(/\s+/));

test("size 3 to 5: only members 3 and 4 are created; the discovery list and the final gate change in place; member 4 comes after member 3's step", () => {
    expect(up).toContain("availability: size 3 to 5; adds member 3 then member 4 as learners, each promoted before the next");
    const steps = stepsOf(up);
    expect(
        steps
            .filter(([, kind]) => kind !== "create")
            .map(([, kind, , name]) => `${kind} ${name}`)
            .sort(),
    ).toEqual(["update etcd-backup-before-change", "update etcd-members", "update etcd-ready"]);
    expect(steps.filter(([, kind]) => kind === "create").every(([, , , name]) => /^etcd-member-[34](-|$)/.test(name))).toBe(true);
    const stageOf = (name: string) =>
        Number(steps.find(([, , type, n]) => n === name && (type === "aws.ec2.Instance" || type === "command.local.Command"))![0]);
    // The cluster is backed up before the first new member starts.
    expect(stageOf("etcd-member-3")).toBeGreaterThan(stageOf("etcd-backup-before-change"));
    expect(stageOf("etcd-member-4")).toBeGreaterThan(stageOf("etcd-member-3-rolled"));
    expect(stageOf("etcd-ready")).toBeGreaterThan(stageOf("etcd-member-4-rolled"));
});

test("size 5 to 3: members 4 and 3 are deleted, their steps (the removal) before their instances; Pulumi's refusal of the protected volumes is stated up front", () => {
    expect(down).toContain("removes member 4 then member 3 from the membership before deleting each");
    expect(down).toMatch(/refused by Pulumi until unprotected .*: etcd-member-4-data, etcd-member-3-data/);
    const names = stepsOf(down).map(([, kind, type, name]) => `${kind} ${type} ${name}`);
    const at = (line: string) => names.indexOf(line);
    for (const i of [3, 4]) {
        expect(at(`delete command.local.Command etcd-member-${i}-rolled`)).toBeGreaterThanOrEqual(0);
        expect(at(`delete command.local.Command etcd-member-${i}-rolled`)).toBeLessThan(at(`delete aws.ec2.Instance etcd-member-${i}`));
    }
    expect(names.filter((n) => /etcd-member-[012](-|$)/.test(n))).toEqual([]);
    // Pulumi runs updates before deletions: the backup before the change comes before any member leaves.
    expect(at("update command.local.Command etcd-backup-before-change")).toBeGreaterThanOrEqual(0);
    expect(at("update command.local.Command etcd-backup-before-change")).toBeLessThan(at("delete command.local.Command etcd-member-4-rolled"));
});

test("a version bump replaces members 0 to 2 one at a time, with tolerance 0 while one is out", () => {
    expect(bump).toContain("replaces member 0 then member 1 then member 2, one at a time, each healthy before the next");
    expect(bump).toContain("worst fault tolerance during the change: 0 member(s)");
});

test("an edit is key=value; anything else is refused with the form expected", () => {
    expect(parseEdit(["size=5", "version=3.6.14"])).toEqual({ size: "5", version: "3.6.14" });
    expect(() => parseEdit(["size"])).toThrow('an edit is key=value (a stack config key of the example stack, e.g. size=5), got "size"');
});
