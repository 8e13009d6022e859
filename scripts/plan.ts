// `npm run plan`: what the example stack would create, without cloud credentials (a mocked run).
// `--update` rewrites the committed snapshot that CI compares.
import { writeFileSync } from "fs";
import { join } from "path";
import { planExampleStack } from "./lib/plan/plan";

export const planSnapshot = join(__dirname, "..", "test", "plan", "example-stack.plan.txt");

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
