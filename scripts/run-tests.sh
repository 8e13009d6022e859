#!/usr/bin/env bash
# The project's test command (npm test): type-check, lint, unit tests under Pulumi mocks, then the integration
# tests on real etcd. Ends with one "N passed, N failed" line over every suite.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
results=.cache/test-results
rm -rf "$results" && mkdir -p "$results"
status=0

echo "== type-check"
npx tsc --noEmit -p tsconfig.json || status=1

echo "== lint (eslint, prettier)"
npx eslint . || status=1
npx prettier --check . || status=1
npx ts-node --transpile-only scripts/generate-api-docs.ts --check || status=1

echo "== unit tests"
npx jest --selectProjects unit --json --outputFile="$results/unit.json" "$@" || status=1

echo "== integration tests (real etcd)"
# The tests start the local backup store when none runs; it is stopped afterwards unless it ran before (a store
# started with npm run local keeps its backups).
store_ran_before=$(node -p 'try { process.kill(require("./.cache/local-backup-store/store.json").pid, 0); "yes" } catch { "no" }')
npx jest --selectProjects integration --runInBand --json --outputFile="$results/integration.json" "$@" || status=1
if [[ $store_ran_before == no ]]; then
  npx ts-node --transpile-only -e 'require("./scripts/lib/local/backupStore").removeBackupStore()' || status=1
fi

# shellcheck disable=SC2016 # JavaScript source, not shell
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  for (const name of ["unit", "integration"]) {
    const file = `${process.argv[1]}/${name}.json`;
    if (!fs.existsSync(file)) { failed++; console.error(`no results from the ${name} tests`); continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$results" || status=1
exit "$status"
