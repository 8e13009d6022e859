// Evaluates the example stack (index.ts) under Pulumi mocks with local subnets, and collects what AWS would
// receive for each member: its user-data, data volume id and SSM parameters, plus the client credentials
// and the readiness gate command. Certificates and keys are real (openssl), produced by the component's own
// @pulumi/tls resource graph.
import { join } from "path";
import { installStackMocks, MockSubnet, settled, StackMocks, valueOf } from "../mocks/stackMocks";

export interface LocalRenderOptions {
    size: number;
    zones: number;
    version: string;
    /** file:// URL of the release tarball as the members see it. */
    binaryUrl: string;
    binarySha256: string;
    /** The member network's /24, e.g. "10.213.0". */
    networkPrefix: string;
    /** Enable etcd auth (3.5+). */
    auth?: boolean;
    stack?: string;
}

export interface LocalMemberPlan {
    name: string;
    ip: string;
    zone: string;
    subnetId: string;
    volumeId: string;
    userData: string;
    /** SSM parameter name -> value (the member's own keys and certificates, the cluster's membership parameters). */
    parameters: Record<string, string>;
    /**
     * The member's membership step as `pulumi up` runs it (direct mode): its create script (the gate on this
     * member and those before it) and delete script (the member's removal, on scale-down), with their environment.
     */
    step: { create: string; delete: string; environment: Record<string, string> };
}

export interface LocalPlan {
    version: string;
    members: LocalMemberPlan[];
    clientEndpoints: string[];
    caCertPem: string;
    clientCertPem: string;
    clientKeyPem: string;
    etcdctlCommand: string;
    faultTolerance: { members: number; zones: number };
    /** The final readiness gate: the script and environment `pulumi up` would run (direct mode). */
    gate: { script: string; environment: Record<string, string> };
    warnings: string[];
}

/** Subnets per zone inside one /24: a /26 each, so members of different zones never share an address. */
export function localSubnets(networkPrefix: string, zones: number): Record<string, MockSubnet> {
    const names = ["a", "b", "c", "d"];
    if (zones < 1 || zones > names.length) {
        throw new Error(`zones: expected 1 to ${names.length} for a local cluster, got ${zones}`);
    }
    return Object.fromEntries(
        names
            .slice(0, zones)
            .map((z, i) => [`subnet-local-${z}`, { cidrBlock: `${networkPrefix}.${i * 64}/26`, availabilityZone: `local-${z}`, vpcId: "vpc-local" }]),
    );
}

export async function renderLocalPlan(o: LocalRenderOptions): Promise<LocalPlan> {
    const subnets = localSubnets(o.networkPrefix, o.zones);
    const warnings: string[] = [];
    const mocks: StackMocks = await installStackMocks(
        { region: "local-1", subnets, tls: "real" },
        {
            stack: o.stack ?? "local",
            config: {
                size: String(o.size),
                version: o.version,
                vpcId: "vpc-local",
                subnetIds: JSON.stringify(Object.keys(subnets)),
                binaryUrl: o.binaryUrl,
                binarySha256: o.binarySha256,
                readinessMode: "direct",
                // The local stand-in for AWS serves SSM parameters only: no S3 bucket to back up to.
                backup: "false",
                ...(o.auth ? { auth: "true" } : {}),
            },
        },
    );
    const pulumi = await import("@pulumi/pulumi");
    const warn = pulumi.log.warn;
    pulumi.log.warn = (message: string) => {
        warnings.push(message);
        return Promise.resolve();
    };
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const stack = require(join(__dirname, "..", "..", "..", "index"));
        const [clientEndpoints, members, caCertPem, clientCertPem, clientKeyPem, etcdctlCommand, faultTolerance] = await Promise.all([
            valueOf<string[]>(stack.clientEndpoints),
            valueOf<{ name: string; privateIp: string; availabilityZone: string; subnetId: string }[]>(stack.members),
            valueOf<string>(stack.caCertPem),
            valueOf<string>(stack.clientCertPem),
            valueOf<string>(stack.clientKeyPem),
            valueOf<string>(stack.etcdctlCommand),
            valueOf<{ members: number; zones: number }>(stack.faultTolerance),
        ]);
        await settled(mocks);
        const instances = mocks.ofType("aws:ec2/instance:Instance");
        const attachments = mocks.ofType("aws:ec2/volumeAttachment:VolumeAttachment");
        const parameters = mocks.ofType("aws:ssm/parameter:Parameter");
        const gate = mocks.ofType("command:local:Command").find((c) => c.name.endsWith("-ready"));
        if (!gate) {
            throw new Error("the example stack has no readiness gate command");
        }
        const plan: LocalPlan = {
            version: o.version,
            clientEndpoints,
            caCertPem,
            clientCertPem,
            clientKeyPem,
            etcdctlCommand,
            faultTolerance,
            gate: { script: gate.inputs.create, environment: gate.inputs.environment },
            warnings,
            members: members.map((m, i) => {
                const instance = instances.find((r) => r.name.endsWith(`-member-${i}`));
                const attachment = attachments.find((r) => r.name.endsWith(`-member-${i}-data`));
                const step = mocks.ofType("command:local:Command").find((r) => r.name.endsWith(`-member-${i}-rolled`));
                if (!instance || !attachment || !step) {
                    throw new Error(`member ${m.name}: no instance, volume attachment or membership step was registered`);
                }
                return {
                    name: m.name,
                    ip: m.privateIp,
                    zone: m.availabilityZone,
                    subnetId: m.subnetId,
                    volumeId: attachment.inputs.volumeId,
                    userData: instance.inputs.userData,
                    step: { create: step.inputs.create, delete: step.inputs.delete, environment: step.inputs.environment },
                    parameters: Object.fromEntries(
                        parameters
                            // Its own keys and certificates, and the cluster's membership parameters.
                            .filter((p) => String(p.inputs.name).includes(`/${m.name}/`) || /\/(members|membership\.sh)$/.test(String(p.inputs.name)))
                            .map((p) => [p.inputs.name, p.inputs.value ?? p.inputs.insecureValue]),
                    ),
                };
            }),
        };
        return plan;
    } finally {
        pulumi.log.warn = warn;
    }
}
