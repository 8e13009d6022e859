// `npm run plan`: what the example stack would create, without cloud credentials (a mocked run).
// `--update` rewrites the committed snapshot that CI compares.
import { writeFileSync } from "fs";
import { join } from "path";
import { planExampleStack } from "./lib/plan/plan";

export const planSnapshot = join(__dirname, "..", "test", "plan", "example-stack.plan.txt");

planExampleStack()
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
