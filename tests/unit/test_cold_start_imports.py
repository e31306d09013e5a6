"""Cold start: what each function's handler must not import (docs/performance.md, "Cold start").

Each handler is imported in a fresh interpreter, laid out as Lambda lays it out (the bench's
environment, LAMBDA_TASK_ROOT included), and the modules it loaded are read from sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.coldstart import HANDLERS, ROOT, function_env

LOADED = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"

# The functions build their DynamoDB client from botocore: boto3's session, resource layer and
# S3 transfer manager cost a third of a cold start and are never used.
NEVER = {"boto3", "s3transfer"}
# X-Ray patches only what the stream function calls out with (botocore, http.client).
NOT_PATCHED = {"requests", "sqlite3"}
# Request models are parsed only by the API function.
PYDANTIC_USERS = {"api"}
# Only the stream function traces its handler (powertools Tracer); the others load no X-Ray SDK.
TRACING = {"dispatcher_stream"}


def loaded_modules(name: str) -> set[str]:
    function_dir, module = HANDLERS[name]
    out = subprocess.run(
        [sys.executable, "-c", LOADED, module],
        env=function_env(ROOT, function_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.split(".")[0] for m in json.loads(out.stdout)}


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handler_imports_only_what_its_paths_use(name: str) -> None:
    loaded = loaded_modules(name)
    assert "botocore" in loaded  # the check reads the real import: the client's library is there
    assert not loaded & NEVER
    assert not loaded & NOT_PATCHED
    assert ("pydantic" in loaded) == (name in PYDANTIC_USERS)
    assert ("aws_xray_sdk" in loaded) == (name in TRACING)
