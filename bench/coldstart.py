"""Cold start: import time of each function's handler module in a fresh interpreter (median of
5), the heaviest packages it pulls in, and the size of the built functions and layer.

Each import runs in its own `python` process with the function's environment and a
PYTHONPATH of the layer and the function directory, as Lambda lays them out (/opt/python and
/var/task). The interpreter's own start-up is not counted, only the handler's imports.

A deployed package holds compiled bytecode (sam build's pip compiles the dependencies; the
runtime's own modules are compiled too). Our source tree has none, and these machines set
PYTHONDONTWRITEBYTECODE=1, so importing it in place would compile every module of ours on every
run (and an environment value of "0" does not help: any non-empty value disables the writes).
So the layer and the functions are copied into a temporary directory and compiled there first,
and the timed imports run from that copy. The installed dependencies were compiled by pip.

Each run also times the handler's first invocation after the import (bench/coldstart_probe.py:
a request that reaches DynamoDB, answered in-process), so work moved from the import to the
first call shows up in "import + first call" instead of vanishing from the figures.
"""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskq_local.processes import ROOT

HANDLERS = {
    "api": ("functions/api", "taskq_api.app"),
    "sweeper": ("functions/sweeper", "taskq_sweeper.app"),
    "authorizer": ("functions/authorizer", "taskq_authorizer.app"),
    "dispatcher_stream": ("functions/dispatcher", "taskq_dispatcher.stream"),
    "dispatcher_scheduled": ("functions/dispatcher", "taskq_dispatcher.scheduled"),
}
LAYER = "layers/taskq"
RUNS = 5
# Run with `python -c`: the function's path holds its code and the layer, not the bench.
PROBE = (Path(__file__).parent / "coldstart_probe.py").read_text()
FUNCTION_ENV = {
    "TASKS_TABLE": "taskq-tasks",
    "CONTROL_TABLE": "taskq-control",
    "RESULTS_TABLE": "taskq-results",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "taskq",
    "POWERTOOLS_METRICS_NAMESPACE": "taskq",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    # Lambda puts the role's credentials in the environment; the first call signs with them.
    "AWS_ACCESS_KEY_ID": "coldstart",
    "AWS_SECRET_ACCESS_KEY": "coldstart",
    "AWS_SESSION_TOKEN": "coldstart",
}
SAM_BUILD = ROOT / ".aws-sam" / "build"
BUILT = {
    "api": "ApiFunction",
    "sweeper": "SweeperFunction",
    "authorizer": "AuthorizerFunction",
    "dispatcher_stream": "DispatcherFunction",
    "dispatcher_scheduled": "ScheduledJobsFunction",
    "layer": "TaskqLayer",
}


@contextmanager
def compiled_copy(source: Path = ROOT) -> Iterator[Path]:
    """The layer's and the functions' code copied and compiled, as a deployed package has it
    (`source`: the checkout to copy them from)."""
    with tempfile.TemporaryDirectory(prefix="taskq-coldstart-") as tmp:
        root = Path(tmp)
        for directory in {LAYER, *(d for d, _ in HANDLERS.values())}:
            shutil.copytree(source / directory, root / directory, ignore=shutil.ignore_patterns("__pycache__"))
        if not compileall.compile_dir(root, quiet=1):
            raise RuntimeError("compileall failed on the copied layer and functions")
        yield root


def function_env(root: Path, function_dir: str) -> dict[str, str]:
    path = os.pathsep.join([str(root / LAYER), str(root / function_dir)])
    # LAMBDA_TASK_ROOT as Lambda sets it: powertools' Tracer and the X-Ray SDK take their Lambda
    # paths only when it is set (without it the SDK builds X-Ray clients for central sampling).
    lambda_env = {"LAMBDA_TASK_ROOT": str(root / function_dir), "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"}
    # Nothing is written while timing: every import reads the bytecode compiled beforehand.
    return {**os.environ, **FUNCTION_ENV, **lambda_env, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def probe(root: Path, name: str) -> dict[str, float]:
    """Wall and CPU milliseconds of the handler's import, and of the import and its first
    invocation together. On a shared machine the wall time also holds the waits for a CPU that
    other jobs hold; the CPU time is the process's own work."""
    function_dir, module = HANDLERS[name]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module, name],
        env=function_env(root, function_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def _import_times(env: dict[str, str], code: str) -> dict[str, int]:
    """`python -X importtime`: each module's own import time (its body, not its imports), in µs."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    times = {}
    for line in out.stderr.splitlines():
        if match := re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)$", line):
            times[match.group(2)] = int(match.group(1))
    return times


def heaviest_packages(root: Path, function_dir: str, module: str, top: int = 5) -> list[dict[str, Any]]:
    """Top-level packages (botocore, pydantic, ...) by the summed import time of their modules, in
    ms, leaving out what the interpreter imports at start-up (site, encodings)."""
    env = function_env(root, function_dir)
    startup = _import_times(env, "pass")
    totals: dict[str, int] = {}
    for name, us in _import_times(env, f"import {module}").items():
        if name not in startup:
            package = name.split(".")[0]
            totals[package] = totals.get(package, 0) + us
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": name, "ms": round(us / 1000, 1)} for name, us in ranked]


def dir_size(path: Path) -> dict[str, int]:
    """Bytes on disk unzipped, and of a deflated zip as Lambda receives it."""
    unzipped = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        zipped = Path(shutil.make_archive(str(Path(tmp) / "artifact"), "zip", path)).stat().st_size
    return {"unzipped_bytes": unzipped, "zipped_bytes": zipped}


def sizes() -> dict[str, Any]:
    """From `make sam-build` output when present; otherwise the layer's dependencies installed
    with `pip install --target` for this host (the layer is built for arm64 by sam)."""
    if (SAM_BUILD / BUILT["layer"]).exists():
        return {"source": "sam build (.aws-sam/build)", **{name: dir_size(SAM_BUILD / d) for name, d in BUILT.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "python"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",  # as layers/taskq/Makefile builds it: every package is pinned there
                "--target",
                str(target),
                "-r",
                str(ROOT / "layers" / "taskq" / "requirements.txt"),
            ],
            check=True,
        )
        shutil.copytree(ROOT / "layers" / "taskq" / "taskq", target / "taskq")
        result = {"source": "pip install --target (this host; sam build output missing)", "layer": dir_size(target)}
    for name, (function_dir, _) in HANDLERS.items():
        result[name] = dir_size(ROOT / function_dir)
    return result


def run(runs: int = RUNS, with_sizes: bool = True) -> dict[str, Any]:
    """`with_sizes=False` skips the package sizes, which without a `sam build` output need a
    `pip install` of the layer's dependencies."""
    handlers = {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    with compiled_copy() as root:
        for name, (function_dir, module) in HANDLERS.items():
            probe(root, name)  # once to warm the page cache
            times = [probe(root, name) for _ in range(runs)]
            walls, cpus = [t["import_wall"] for t in times], [t["import_cpu"] for t in times]
            firsts = [t["first_cpu"] for t in times]
            handlers[name] = {
                "module": module,
                "import_ms_median": round(statistics.median(walls), 1),
                "import_ms_min": round(min(walls), 1),
                "import_cpu_ms_median": round(statistics.median(cpus), 1),
                "import_and_first_call_cpu_ms_median": round(statistics.median(firsts), 1),
                "import_ms_runs": [round(t, 1) for t in walls],
                "import_cpu_ms_runs": [round(t, 1) for t in cpus],
                "import_and_first_call_cpu_ms_runs": [round(t, 1) for t in firsts],
                "heaviest": heaviest_packages(root, function_dir, module),
            }
    return {
        "python": sys.version.split()[0],
        "runs": runs,
        "bytecode": "compiled beforehand (compileall of a copy; dependencies compiled by pip)",
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "handlers": handlers,
        "sizes": sizes() if with_sizes else None,
    }
