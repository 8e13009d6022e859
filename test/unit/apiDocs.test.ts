// The README's inputs and outputs tables are generated from the doc comments: drift fails here.
import { readFileSync } from "fs";
import { join } from "path";
import { apiTablesEnd, apiTablesStart, renderApiTables, withApiTables } from "../../scripts/lib/docs/apiDocs";

const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");

test("the README's tables are the ones the doc comments generate (run `npm run docs` after changing an argument)", () => {
    expect(withApiTables(readme)).toBe(readme);
});

test("every argument and output is documented", () => {
    const tables = renderApiTables();
    const rows = tables.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows.length).toBeGreaterThan(40);
    for (const row of rows) {
        const description = row.split(" | ").pop()!.replace(/ \|$/, "");
        expect({ row: row.slice(0, 40), documented: description.trim().length > 0 }).toEqual({ row: row.slice(0, 40), documented: true });
    }
    for (const output of ["clientEndpoints", "members", "caCertPem", "clientCertPem", "clientKeyPem", "securityGroupId", "faultTolerance"]) {
        expect(tables).toContain(`| \`${output}\` |`);
    }
});

test("a stale README is detected (the check can fail)", () => {
    const stale = readme.replace("| `size` | `number` |", "| `members` | `number` |");
    expect(stale).not.toBe(readme);
    expect(withApiTables(stale)).not.toBe(stale);
    expect(readme.indexOf(apiTablesStart)).toBeLessThan(readme.indexOf(apiTablesEnd));
});
