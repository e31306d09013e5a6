"""Cold start: what each function's handler must not import (docs/performance.md, "Cold start").

Each handler is imported in a fresh interpreter, laid out as Lambda lays it out (the bench's
environment, LAMBDA_TASK_ROOT included), and the modules it loaded are read from sys.modules.
The bench measures the time; these tests pin what the cuts rely on.
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
# powertools' event_handler and data_classes packages load only the submodules a function uses
# (taskq/lazy_packages.py): no AppSync resolver, no event classes of other services — except
# those powertools' batch processing imports itself (the stream function: SQS, Kinesis, Kafka).
OTHER_RESOLVERS = {"aws_lambda_powertools.event_handler.appsync", "aws_lambda_powertools.event_handler.bedrock_agent"}
OTHER_EVENTS = {
    "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event",
    "aws_lambda_powertools.utilities.data_classes.cognito_user_pool_event",
}
BATCH_PROCESSING = {"dispatcher_stream"}
# asyncio (10-40 ms) comes only with powertools' batch processing and the X-Ray SDK.
ASYNCIO_USERS = {"dispatcher_stream"}
# The API function's route-specific domain code loads with the first request of a route that
# uses it (taskq_api/dependencies.py): a take or a complete never needs any of it.
API_ROUTE_SPECIFIC = {
    "taskq.batches",
    "taskq.files",
    "taskq.console",
    "taskq.keys",
    "taskq.multipart",
    "taskq.callbacks",
    "taskq.online.watch",
    "taskq.online.frontdoor",
    "concurrent.futures.thread",  # a clear's fan-out (botocore loads the package itself)
}


def run_in_function(name: str, program: str) -> str:
    function_dir, module = HANDLERS[name]
    out = subprocess.run(
        [sys.executable, "-c", program, module],
        env=function_env(ROOT, function_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def loaded_modules(name: str, *, packages: bool = True) -> set[str]:
    """What importing the handler loaded: top-level packages, or every module's full name."""
    loaded = json.loads(run_in_function(name, LOADED))
    return {m.split(".")[0] for m in loaded} if packages else set(loaded)


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handler_imports_only_what_its_paths_use(name: str) -> None:
    loaded = loaded_modules(name)
    assert "botocore" in loaded  # the check reads the real import: the client's library is there
    assert not loaded & NEVER
    assert not loaded & NOT_PATCHED
    assert ("pydantic" in loaded) == (name in PYDANTIC_USERS)
    assert ("aws_xray_sdk" in loaded) == (name in TRACING)


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handler_loads_only_the_powertools_parts_it_uses(name: str) -> None:
    loaded = loaded_modules(name, packages=False)
    assert "aws_lambda_powertools.logging" in loaded  # the check reads the real import
    assert not loaded & OTHER_RESOLVERS
    assert not loaded & OTHER_EVENTS
    assert ("aws_lambda_powertools.utilities.data_classes.kafka_event" in loaded) == (name in BATCH_PROCESSING)
    assert ("asyncio" in loaded) == (name in ASYNCIO_USERS)


def test_api_loads_route_specific_domain_code_only_on_first_use() -> None:
    loaded = loaded_modules("api", packages=False)
    assert "taskq.service" in loaded  # the check reads the real import
    assert not loaded & API_ROUTE_SPECIFIC


API_FIRST_MODEL = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from pydantic.plugin import _loader
from taskq.requests import RequestBody, TakeRequest
built_at_import = sorted(m.__name__ for m in RequestBody.__subclasses__() if m.__pydantic_complete__)
TakeRequest.model_validate({"queues": ["q:0"], "size": 1})
built = sorted(m.__name__ for m in RequestBody.__subclasses__() if m.__pydantic_complete__)
print(json.dumps({"at_import": built_at_import, "after_one": built, "plugins_scanned": _loader._plugins is not None}))
"""


def test_api_builds_request_models_on_first_use_and_never_scans_for_pydantic_plugins() -> None:
    seen = json.loads(run_in_function("api", API_FIRST_MODEL))
    assert seen["at_import"] == []
    assert seen["after_one"] == ["TakeRequest"]
    assert seen["plugins_scanned"] is False


COLLECTOR = """
import gc, importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handler_imports_without_collecting_and_leaves_the_collector_on(name: str) -> None:
    """taskq/import_collector.py: paused for the import, then on again with what the import
    made frozen (so the requests that follow never walk it)."""
    seen = json.loads(run_in_function(name, COLLECTOR))
    assert seen["enabled"] is True
    assert seen["frozen"] > 10_000


def test_the_collector_is_paused_only_in_a_lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from taskq import import_collector

    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    import_collector.pause()
    assert gc.isenabled()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    import_collector.pause()
    try:
        assert not gc.isenabled()
    finally:
        import_collector.resume()
        gc.unfreeze()  # this test process keeps collecting everything
    assert gc.isenabled()
