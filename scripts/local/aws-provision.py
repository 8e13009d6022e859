#!/usr/bin/env python3
"""Creates in the local backup store (moto's AWS APIs) what `pulumi up` would create in AWS for one local
cluster: its backup bucket with the component's settings (versioning, public access block, ownership,
default SSE-KMS, lifecycle rules; not its policy, see below), the members' tools object, and the members' SSM parameters
(keys as SecureString under the cluster's KMS key; certificates and the cluster's membership parameters, the
discovery list and with SSM key delivery the membership functions, as String).

A change to a running cluster (the local apply) sends the same request with only what a step changes: an
object or a parameter to write, or in "deletedObjects" and "deletedParameters" what a step deletes.

Reads one JSON request on stdin (written by scripts/lib/local/backupStore.ts); safe to run again."""
import json
import sys

import boto3
from botocore.config import Config


def main() -> None:
    req = json.load(sys.stdin)
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=req["region"])
    kwargs = {"endpoint_url": req["endpoint"], "verify": req["caBundle"], "config": Config(retries={"max_attempts": 2})}
    s3 = session.client("s3", **kwargs)
    ssm = session.client("ssm", **kwargs)

    for b in req.get("buckets", []):
        name = b["name"]
        try:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": req["region"]})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        if b.get("ownership"):
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": b["ownership"]}]})
        if b.get("publicAccessBlock"):
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=b["publicAccessBlock"])
        if b.get("versioning"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": b["versioning"]})
        if b.get("kmsKeyArn"):
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": b["kmsKeyArn"]},
                            "BucketKeyEnabled": False,
                        }
                    ]
                },
            )
        if b.get("lifecycleRules"):
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": b["lifecycleRules"]})
        # The bucket policy is left out: moto evaluates a bucket policy's statements without their conditions
        # (aws:SecureTransport, the encryption headers), so its Deny statements would refuse every upload.

    for o in req.get("objects", []):
        extra = {"ContentType": o["contentType"]} if o.get("contentType") else {}
        if o.get("kmsKeyId"):
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=o["kmsKeyId"])
        s3.put_object(Bucket=o["bucket"], Key=o["key"], Body=o["content"].encode(), **extra)

    for p in req.get("parameters", []):
        extra = {"KeyId": p["keyId"]} if p["type"] == "SecureString" and p.get("keyId") else {}
        ssm.put_parameter(Name=p["name"], Value=p["value"], Type=p["type"], Overwrite=True, **extra)

    # As the provider deletes a BucketObjectv2: every version of its key, not a delete marker over them.
    for o in req.get("deletedObjects", []):
        listed = s3.list_object_versions(Bucket=o["bucket"], Prefix=o["key"])
        for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            if v["Key"] == o["key"]:
                s3.delete_object(Bucket=o["bucket"], Key=o["key"], VersionId=v["VersionId"])

    for name in req.get("deletedParameters", []):
        try:
            ssm.delete_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            pass

    counts = [(len(req.get(k, [])), what) for k, what in [("buckets", "bucket(s)"), ("objects", "object(s)"), ("parameters", "parameter(s)")]]
    counts += [(len(req.get(k, [])), what) for k, what in [("deletedObjects", "object(s) deleted"), ("deletedParameters", "parameter(s) deleted")]]
    print(", ".join(f"{n} {what}" for n, what in counts if n or what in ("bucket(s)", "object(s)", "parameter(s)")))


if __name__ == "__main__":
    main()
