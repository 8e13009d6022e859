// The user-data bound's parameters as the component derives them from plain arguments, for the bound's tests.
import type { EtcdClusterArgs } from "../../components";
import { backupLayout } from "../../components/backup";
import { officialReleaseUrl } from "../../components/releases";
import { userDataBound, UserDataBoundParams } from "../../components/userDataBound";
import { resolveSettings } from "../../components/validation";

export const subnetIds = ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"];
export const longName = "c".repeat(40);

export interface BoundOptions {
    name?: string;
    urlOutput?: boolean;
    typeOutput?: boolean;
    /** The caller's CA certificate, plain or an output. */
    caCertPem?: string | "output";
    /** Each member's parameter path (the component's form by default). */
    ssmParameterPrefix?: (member: string) => string;
}

export function boundParams(args: Partial<EtcdClusterArgs>, options: BoundOptions = {}): UserDataBoundParams {
    const settings = resolveSettings({ vpcId: "vpc-0123abcd", subnetIds, ...args });
    const base = options.name ?? longName;
    const clusterId = `${base}-0123abcd`;
    return {
        settings,
        memberNames: Array.from({ length: settings.size }, (_, i) => `${base}-${i}`),
        clusterId,
        ssmParameterPrefix: options.ssmParameterPrefix ?? ((m) => `/etcd/${clusterId}/${m}`),
        binaryUrl: options.urlOutput ? "output" : typeof args.binaryUrl === "string" ? args.binaryUrl : undefined,
        caCertPem: options.caCertPem,
        arches: options.typeOutput ? ["amd64", "arm64"] : ["amd64"],
        metricsOnMemberAddress: (args.metricsCidrs ?? []).length > 0,
        officialUrl: (a) => officialReleaseUrl(settings.version.text, a),
        // Backups are on by default; a restore adds its step.
        backupTools: { restore: true, toolsKey: backupLayout("etcd-backups/", clusterId).toolsKey },
    };
}

export const boundOf = (args: Partial<EtcdClusterArgs>, options: BoundOptions = {}) => userDataBound(boundParams(args, options)).bytes;
