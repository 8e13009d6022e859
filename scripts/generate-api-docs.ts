// `npm run docs`: rewrites the README's inputs and outputs tables from the doc comments; `--check` only
// reports whether they drifted (exit 1).
import { readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { withApiTables } from "./lib/docs/apiDocs";

const readmePath = join(__dirname, "..", "README.md");
const readme = readFileSync(readmePath, "utf8");
const updated = withApiTables(readme);
if (process.argv.includes("--check")) {
    if (updated !== readme) {
        console.error("README.md: the inputs and outputs tables differ from the doc comments; run `npm run docs`");
        process.exit(1);
    }
    console.log("README.md: inputs and outputs tables match the doc comments");
} else if (updated !== readme) {
    writeFileSync(readmePath, updated);
    console.log("README.md: inputs and outputs tables updated");
} else {
    console.log("README.md: inputs and outputs tables are up to date");
}
