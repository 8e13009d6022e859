import { RecordedResource } from "../../scripts/lib/mocks/stackMocks";

const privateKeyPem = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/**
 * Every place where a PEM private key would reach the engine unprotected: a resource input that is not
 * marked secret and holds a private key anywhere inside it. Returns "type::name input <name>" entries.
 */
export function findPrivateKeyLeaks(resources: RecordedResource[]): string[] {
    const leaks: string[] = [];
    for (const r of resources) {
        for (const [input, value] of Object.entries(r.inputs)) {
            if (!r.secretInputs.includes(input) && privateKeyPem.test(JSON.stringify(value) ?? "")) {
                leaks.push(`${r.type}::${r.name} input ${input}`);
            }
        }
    }
    return leaks;
}
