// What a member's role may read, evaluated over the role's own policy and the AWS managed policy attached for
// the readiness check (whose ssm:GetParameter(s) on * would otherwise reach every parameter of the account).
import { memberPolicyDocument } from "../../components/identity";
import { allowed, PolicyStatement } from "../helpers/iamPolicy";

// AmazonSSMManagedInstanceCore's statements that touch parameters and the agent (policy version 3).
const ssmManagedInstanceCore: PolicyStatement[] = [
    {
        Effect: "Allow",
        Action: [
            "ssm:DescribeAssociation",
            "ssm:GetDeployablePatchSnapshotForInstance",
            "ssm:GetDocument",
            "ssm:DescribeDocument",
            "ssm:GetManifest",
            "ssm:GetParameter",
            "ssm:GetParameters",
            "ssm:ListAssociations",
            "ssm:ListInstanceAssociations",
            "ssm:PutInventory",
            "ssm:PutComplianceItems",
            "ssm:PutConfigurePackageResult",
            "ssm:UpdateAssociationStatus",
            "ssm:UpdateInstanceAssociationStatus",
            "ssm:UpdateInstanceInformation",
        ],
        Resource: "*",
    },
    { Effect: "Allow", Action: ["ssmmessages:CreateControlChannel", "ssmmessages:OpenControlChannel"], Resource: "*" },
    { Effect: "Allow", Action: ["ec2messages:GetMessages", "ec2messages:SendReply"], Resource: "*" },
];

const arn = (name: string) => `arn:aws:ssm:eu-west-1:123456789012:parameter${name}`;
const own = ["ca.crt", "server.crt", "peer.crt", "server.key", "peer.key"].map((f) => arn(`/etcd/prod-1a2b3c4d/prod-0/${f}`));
const ownKeys = own.filter((a) => a.endsWith(".key"));
const kmsKey = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const others = [arn("/etcd/prod-1a2b3c4d/prod-1/server.key"), arn("/etcd/other-99999999/other-0/peer.key"), arn("/app/database/password")];

const statementsOf = (document: object) => (document as { Statement: PolicyStatement[] }).Statement;

describe("SSM key delivery with the SSM readiness check", () => {
    const role = [...statementsOf(memberPolicyDocument(own, ownKeys, kmsKey)), ...ssmManagedInstanceCore];

    test("the member reads its own five parameters", () => {
        for (const a of own) {
            expect(allowed(role, "ssm:GetParameter", a)).toBe(true);
        }
    });

    test.each(others)("no other parameter of the account: %s", (other) => {
        for (const action of ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]) {
            expect(allowed(role, action, other)).toBe(false);
        }
    });

    test("the agent keeps what Run Command and Session Manager need", () => {
        expect(allowed(role, "ssm:UpdateInstanceInformation", "*")).toBe(true);
        expect(allowed(role, "ssmmessages:CreateControlChannel", "*")).toBe(true);
        expect(allowed(role, "ec2messages:GetMessages", "*")).toBe(true);
    });

    test("decrypt only under its own keys' encryption context", () => {
        const decrypt = statementsOf(memberPolicyDocument(own, ownKeys, kmsKey)).find((s) => s.Action === "kms:Decrypt")!;
        expect(decrypt.Condition).toEqual({ StringEquals: { "kms:EncryptionContext:PARAMETER_ARN": ownKeys } });
    });

    test("without the deny, the managed policy alone would let the member read any parameter (the evaluator can fail)", () => {
        const withoutDeny = role.filter((s) => s.Effect !== "Deny");
        expect(allowed(withoutDeny, "ssm:GetParameter", others[2])).toBe(true);
    });
});

test("inline keys with the SSM readiness check: the cluster's list of members is the one parameter read", () => {
    const members = arn("/etcd/prod-1a2b3c4d/members");
    const role = [...statementsOf(memberPolicyDocument([members], [], kmsKey)), ...ssmManagedInstanceCore];
    expect(allowed(role, "ssm:GetParameter", members)).toBe(true);
    expect(allowed(role, "ssm:GetParameter", others[2])).toBe(false);
    expect(allowed(role, "ssm:GetParameters", own[0])).toBe(false);
    expect(allowed(role, "kms:Decrypt", kmsKey)).toBe(false);
    expect(allowed(role, "ssm:UpdateInstanceInformation", "*")).toBe(true);
});

test("a role that would read no parameter is refused: a member without the discovery list has no role", () => {
    expect(() => memberPolicyDocument([], [], kmsKey)).toThrow("a member's role reads at least the cluster's discovery parameter");
});
