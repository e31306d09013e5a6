"""The Batch API's files bucket in template.yaml (issue 12): private, encrypted, TLS only, expiring,
and the API function may touch only its `files/` objects."""

from __future__ import annotations

import pytest

from taskq_local.template import load_template


@pytest.fixture(scope="module")
def resources() -> dict:
    return load_template()["Resources"]


def test_the_bucket_is_private_and_encrypted(resources):
    bucket = resources["FilesBucket"]["Properties"]

    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_the_bucket_policy_denies_every_request_without_tls(resources):
    policy = resources["FilesBucketPolicy"]["Properties"]
    [statement] = policy["PolicyDocument"]["Statement"]

    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(statement["Resource"]) == 2  # the bucket and its objects


def test_files_expire_and_unfinished_uploads_are_aborted(resources):
    rules = {r["Id"]: r for r in resources["FilesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}

    assert rules["ExpireFiles"]["Prefix"] == "files/"
    assert rules["ExpireFiles"]["ExpirationInDays"] == "FileRetentionDays"  # !Ref (the loader keeps the name)
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert (rules["ExpireHeldParts"]["Prefix"], rules["ExpireHeldParts"]["ExpirationInDays"]) == ("uploads/", 1)


def test_the_api_function_reaches_only_the_files_and_held_parts_prefixes(resources):
    function = resources["ApiFunction"]["Properties"]
    statements = [s for p in function["Policies"] for s in p["Statement"]]
    s3 = {s["Resource"]: sorted(s["Action"]) for s in statements if any(a.startswith("s3:") for a in s["Action"])}

    # !Sub (the loader keeps the text); S3 authorizes the multipart calls as s3:PutObject.
    assert s3 == {
        "${FilesBucket.Arn}/files/*": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        "${FilesBucket.Arn}/uploads/*": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
    }
    assert function["Environment"]["Variables"]["FILES_BUCKET"] == "FilesBucket"  # !Ref
