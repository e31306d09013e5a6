"""Cold start in instructions: what each handler's import (and import + first call) executes,
counted by valgrind's callgrind, which the machine's load cannot change.

The CPU milliseconds of bench/coldstart.py move by 20-30 % with the load of this shared 2-core
machine; an instruction count does not, so before/after comparisons are made with it. Same
harness as coldstart.py (a compiled copy, the function's environment, bench/coldstart_probe.py
for the first call); the interpreter's own start-up (`python -c pass`) is subtracted. User-space
instructions only: the kernel's work (file checks, directory listings) is not in them.

    python -m bench.coldstart_instructions [--source DIR] [HANDLER ...]

`--source` names another checkout's root (e.g. `git archive <commit> layers functions | tar -x`),
to count a commit's code with this harness: the "before" of a change.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from taskq_local.processes import ROOT

from .coldstart import HANDLERS, PROBE, compiled_copy, function_env


def instructions(env: dict[str, str], args: list[str]) -> int:
    """User-space instructions of `python args...` under callgrind."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def count(root: Path, name: str) -> dict[str, float]:
    """Millions of instructions: the handler's import, and its import and first invocation."""
    function_dir, module = HANDLERS[name]
    env = function_env(root, function_dir)
    startup = instructions(env, ["-c", "pass"])
    imported = instructions(env, ["-c", f"import {module}"])
    first = instructions(env, ["-c", PROBE, module, name])
    return {
        "import_minstr": round((imported - startup) / 1e6, 1),
        "first_call_minstr": round((first - startup) / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart_instructions", description=__doc__)
    parser.add_argument("handlers", nargs="*", default=list(HANDLERS), help=", ".join(HANDLERS))
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose layer and functions to count")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    with compiled_copy(args.source) as root:
        for name in args.handlers:
            print(json.dumps({"handler": name, **count(root, name)}), flush=True)


if __name__ == "__main__":
    main()
