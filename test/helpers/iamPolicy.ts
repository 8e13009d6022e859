// A small IAM policy evaluator for the statements the tests deal with: Allow and Deny with Action and
// Resource or NotResource, "*" and "?" wildcards, no conditions. An explicit deny wins over any allow;
// without an allow the request is denied.
export interface PolicyStatement {
    Effect: "Allow" | "Deny";
    Action: string | string[];
    Resource?: string | string[];
    NotResource?: string | string[];
    Condition?: unknown;
}

const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const matches = (pattern: string, value: string, caseInsensitive = false) =>
    new RegExp(
        `^${pattern
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, ".*")
            .replace(/\?/g, ".")}$`,
        caseInsensitive ? "i" : "",
    ).test(value);

function applies(s: PolicyStatement, action: string, resource: string): boolean {
    if (!list(s.Action).some((a) => matches(a, action, true))) return false;
    if (s.Resource !== undefined) return list(s.Resource).some((r) => matches(r, resource));
    return !list(s.NotResource).some((r) => matches(r, resource));
}

/** Whether the statements together allow the action on the resource (conditions treated as met). */
export function allowed(statements: PolicyStatement[], action: string, resource: string): boolean {
    if (statements.some((s) => s.Effect === "Deny" && applies(s, action, resource))) return false;
    return statements.some((s) => s.Effect === "Allow" && applies(s, action, resource));
}
