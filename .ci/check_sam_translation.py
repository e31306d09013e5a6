"""Translates template.yaml with SAM's own translator (the SAM CLI's, pinned) and checks what API
Gateway will be given: every route of the online function streams its answer (responseTransferMode
STREAM through Lambda's response-streaming invocation), every other route is a buffered proxy
integration, and each Api event became one method.

usage: <sam-cli python> check_sam_translation.py TEMPLATE
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

STREAMING_FUNCTIONS = {"OnlineFunction"}


class NoManagedPolicies:
    def load(self) -> dict:
        return {}


def main(template_path: Path) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    source = template_path.read_text()
    # The translator wants code in S3, as `sam deploy` leaves it; the paths do not matter here.
    source = re.sub(r"(CodeUri|ContentUri): \S+", r"\1: s3://bucket/key.zip", source)
    template = yaml_parse(source)
    events = sum(
        event.get("Type") == "Api"
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
    )
    translated = transform(template, {"AWS::Region": "us-east-1"}, NoManagedPolicies())
    paths = translated["Resources"]["Api"]["Properties"]["Body"]["paths"]
    methods = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            methods += 1
            integration = operation["x-amazon-apigateway-integration"]
            uri = json.dumps(integration["uri"])
            function = re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)
            streams = integration.get("responseTransferMode") == "STREAM"
            assert integration["type"] == "aws_proxy", (path, method)
            assert streams == (function in STREAMING_FUNCTIONS), f"{method} {path}: {function} streams={streams}"
            assert streams == ("/response-streaming-invocations" in uri), f"{method} {path}: {uri}"
            print(f"ok: {method.upper():8} {path} -> {function}{' (streamed)' if streams else ''}")
    assert methods == events, f"{events} Api events became {methods} methods"


if __name__ == "__main__":
    main(Path(sys.argv[1]))
