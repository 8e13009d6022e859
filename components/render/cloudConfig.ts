import { stringify } from "yaml";
import { memberPaths } from "./paths";

/** One entry of cloud-init's write_files. */
export interface CloudConfigFile {
    path: string;
    content: string;
    /** Octal mode as cloud-init expects it, e.g. "0644". */
    permissions: string;
    owner: string;
    /** "gz+b64": content is the gzip of the file, base64-encoded (cloud-init decodes it). */
    encoding?: "gz+b64";
}

/** What cloud-init's write_files uses when a file names no owner or permissions. */
export const defaultOwner = "root:root";
export const defaultPermissions = "0644";

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
        // cloud-init's defaults (root:root, 0644) are left out: user-data is limited to 16 KB.
        write_files: files.map((f) => ({
            path: f.path,
            ...(f.owner === defaultOwner ? {} : { owner: f.owner }),
            ...(f.permissions === defaultPermissions ? {} : { permissions: f.permissions }),
            ...(f.encoding ? { encoding: f.encoding } : {}),
            content: f.content,
        })),
        runcmd: [[memberPaths.bootScript]],
    };
    // Sequences unindented: two bytes less on every line of every file.
    return `#cloud-config\n${stringify(document, { lineWidth: 0, blockQuote: "literal", indentSeq: false })}`;
}
