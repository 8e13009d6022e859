// Unit tests run under Pulumi mocks; integration tests boot real etcd members.
// ts-jest transpiles only (isolatedModules): `npm run typecheck` type-checks the whole project once.
const tsJest = ["ts-jest", { isolatedModules: true, diagnostics: false }];
module.exports = {
    projects: [
        {
            displayName: "unit",
            testEnvironment: "node",
            roots: ["<rootDir>/test/unit"],
            transform: { "^.+\\.ts$": tsJest },
            moduleFileExtensions: ["ts", "js", "json"],
        },
        {
            displayName: "integration",
            testEnvironment: "node",
            roots: ["<rootDir>/test/integration"],
            transform: { "^.+\\.ts$": tsJest },
            moduleFileExtensions: ["ts", "js", "json"],
        },
    ],
};
