// The unit project alone, for mutation testing (npm run mutation): Stryker runs it in its sandbox against
// each mutant of components/. Integration tests boot real clusters and are too slow to run per mutant.
// MUTATION_TESTS=validation,cidr limits the run to those unit test files (a quick run on one module).
const base = require("../jest.config.js").projects.find((p) => p.displayName === "unit");
const only = (process.env.MUTATION_TESTS ?? "").split(",").filter(Boolean);
module.exports = {
    ...base,
    rootDir: "..",
    displayName: undefined,
    ...(only.length > 0 ? { testMatch: only.map((name) => `<rootDir>/test/unit/${name}.test.ts`) } : {}),
};
