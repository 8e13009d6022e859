// Clusters built under the stack mocks once per test file: every resource registered and settled, and the
// warnings the component logged while it built them.
import * as pulumi from "@pulumi/pulumi";
import type { EtcdCluster as EtcdClusterType, EtcdClusterArgs } from "../../components";
import { installStackMocks, settled, StackMockOptions, StackMocks, valueOf } from "../../scripts/lib/mocks/stackMocks";

export interface MockClusters<K extends string> {
    mocks: StackMocks;
    /** The component class, loaded after the mocks (for tests that build more). */
    EtcdCluster: typeof EtcdClusterType;
    /** One cluster per entry of the table, named by its key. */
    clusters: Record<K, EtcdClusterType>;
    /** `pulumi.log.warn` messages, in order. */
    warnings: string[];
}

/** Installs the mocks (placeholder certificates unless `options` says otherwise) and builds `table`'s clusters. */
export async function buildClusters<K extends string>(
    table: Record<K, EtcdClusterArgs>,
    options: StackMockOptions = { tls: "fake" },
): Promise<MockClusters<K>> {
    const mocks = await installStackMocks(options);
    const warnings: string[] = [];
    const warn = pulumi.log.warn;
    pulumi.log.warn = async (message: string) => {
        warnings.push(message);
    };
    try {
        const { EtcdCluster } = (await import("../../components")) as { EtcdCluster: typeof EtcdClusterType };
        const clusters = Object.fromEntries(Object.entries<EtcdClusterArgs>(table).map(([name, args]) => [name, new EtcdCluster(name, args)])) as Record<
            K,
            EtcdClusterType
        >;
        const outputs = Promise.all(
            Object.values<EtcdClusterType>(clusters).map((c) => Promise.all([valueOf(c.members), valueOf(c.clientKeyPem), valueOf(c.caCertPem)])),
        );
        await settled(mocks);
        // A registration that failed (an error in an apply) leaves outputs unresolved for good: once nothing is
        // registered any more, fail at once rather than at the hook's timeout.
        await Promise.race([
            outputs,
            settled(mocks).then(() => {
                throw new Error("the clusters' outputs never resolved: a registration failed");
            }),
        ]);
        return { mocks, EtcdCluster, clusters, warnings };
    } finally {
        pulumi.log.warn = warn;
    }
}
