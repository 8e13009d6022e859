import { stringify } from "yaml";
import { memberPaths } from "./paths";

/** One entry of cloud-init's write_files. */
export interface CloudConfigFile {
    path: string;
    content: string;
    /** Octal mode as cloud-init expects it, e.g. "0644". */
    permissions: string;
    owner: string;
}

export interface CloudConfigParams {
    files: CloudConfigFile[];
}

/**
 * Renders the #cloud-config user-data: the files, then one boot command. The YAML library quotes every
 * caller-supplied string, so no value can change the document's structure.
 */
export function renderCloudConfig(p: CloudConfigParams): string {
    const files = [...p.files].sort((a, b) => a.path.localeCompare(b.path));
    const document = {
        write_files: files.map((f) => ({ path: f.path, owner: f.owner, permissions: f.permissions, content: f.content })),
        runcmd: [[memberPaths.bootScript]],
    };
    return `#cloud-config\n${stringify(document, { lineWidth: 0, blockQuote: "literal" })}`;
}
