// `npm run plan`: what the example stack would create, without cloud credentials (a mocked run).
// `--update` rewrites the committed snapshot that CI compares.
import { writeFileSync } from "fs";
import { join } from "path";
import { parseEdit, planExampleEdit, planExampleStack } from "./lib/plan/plan";

export const planSnapshot = join(__dirname, "..", "test", "plan", "example-stack.plan.txt");
export const editsSnapshot = join(__dirname, "..", "test", "plan", "example-edits.plan.txt");

/** The edits whose plans are committed (test/plan/example-edits.plan.txt): what a reviewer reads for each. */
export const exampleEdits: [Record<string, string>, Record<string, string>][] = [
    [{}, { size: "5" }],
    [{ size: "5" }, { size: "3" }],
    [{ version: "3.6.13" }, { version: "3.6.14" }],
];

// `--edit key=value ...` (`--from key=value ...`): what `pulumi up` does to the deployed example stack when
// its configuration changes: the steps in order, the availability during the change, what Pulumi refuses.
const editAt = process.argv.indexOf("--edit");
// `--edits` prints the example edits' plans, `--update-edits` also rewrites their committed snapshot.
if (editAt >= 0 || process.argv.includes("--update-edits") || process.argv.includes("--edits")) {
    const words = (flag: string) => {
        const at = process.argv.indexOf(flag);
        if (at < 0) return [];
        const rest = process.argv.slice(at + 1);
        const end = rest.findIndex((w) => w.startsWith("--"));
        return end < 0 ? rest : rest.slice(0, end);
    };
    const edits: [Record<string, string>, Record<string, string>][] = editAt >= 0 ? [[parseEdit(words("--from")), parseEdit(words("--edit"))]] : exampleEdits;
    (async () => {
        const texts: string[] = [];
        for (const [from, to] of edits) texts.push(await planExampleEdit(from, { ...from, ...to }));
        const text = texts.join("\n");
        process.stdout.write(text);
        if (process.argv.includes("--update-edits")) {
            writeFileSync(editsSnapshot, text);
            console.error(`updated ${editsSnapshot}`);
        }
    })().catch((e: Error) => {
        console.error(`npm run plan: ${e.message}`);
        process.exit(1);
    });
} else {
    // `--new-network`: the stack as a plain `pulumi up` creates it (no vpcId), with its VPC, subnets and NAT gateway.
    const newNetwork = process.argv.includes("--new-network");
    if (newNetwork && process.argv.includes("--update")) {
        console.error("npm run plan: the snapshot is the plan in an existing network; --update and --new-network do not go together");
        process.exit(1);
    }

    planExampleStack({}, { newNetwork })
        .then((plan) => {
            process.stdout.write(plan);
            if (process.argv.includes("--update")) {
                writeFileSync(planSnapshot, plan);
                console.error(`updated ${planSnapshot}`);
            }
        })
        .catch((e: Error) => {
            console.error(`npm run plan: ${e.message}`);
            process.exit(1);
        });
}
