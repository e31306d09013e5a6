"""Checks a `sam build` output: each layer holds its package, and each function's handler imports
with nothing on the path but the built function, the built layers and boto3 (which the Lambda
runtime provides) — under the runtime's Python, isolated from this machine's site-packages.

usage: check_sam_build.py BUILD_DIR PYTHON BOTO3_DIR
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from taskq_local.template import load_template

# Each layer and the package it must carry.
LAYER_PACKAGES = {"TaskqLayer": "taskq"}


def entry_point(rid: str, properties: dict, code: Path) -> tuple[str, str, str]:
    """(module, ".", attribute) the function runs: its Lambda handler, or for a function the Lambda
    Web Adapter runs (`run.sh` starting uvicorn), the ASGI app its environment names — and the
    script must be there and executable, and uvicorn must come with the function."""
    app = properties.get("Environment", {}).get("Variables", {}).get("TASKQ_ASGI_APP")
    if app is None:
        return properties["Handler"].rpartition(".")
    script = code / properties["Handler"]
    assert script.is_file() and os.access(script, os.X_OK), f"{rid}: {script} is not an executable file"
    assert (code / "uvicorn" / "__init__.py").is_file(), f"{rid}: uvicorn is not in the built function"
    module, _, attribute = app.partition(":")
    return module, ".", attribute


IMPORT_CHECK = """
import importlib, sys
sys.path[:0] = {paths!r}
module = importlib.import_module({module!r})
assert callable(getattr(module, {function!r})), "no handler function or ASGI app"
# pydantic (and its compiled core) is imported only by the handlers that validate requests
for name in ("taskq", "aws_lambda_powertools", "pydantic_core", {top!r}):
    if name in sys.modules:
        print(name, sys.modules[name].__file__)
"""


def main(build_dir: Path, python: str, boto3_dir: Path) -> None:
    resources = load_template(build_dir / "template.yaml")["Resources"]
    layers = {rid: r for rid, r in resources.items() if r["Type"] == "AWS::Serverless::LayerVersion"}
    functions = {rid: r for rid, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    layer_paths = [build_dir / layer["Properties"]["ContentUri"] / "python" for layer in layers.values()]
    for rid, package in LAYER_PACKAGES.items():
        init = build_dir / layers[rid]["Properties"]["ContentUri"] / "python" / package / "__init__.py"
        assert init.is_file(), f"layer {rid} does not hold the {package} package ({init} missing)"
        print(f"ok: layer {rid} holds {package}")
    for rid, function in functions.items():
        code = build_dir / function["Properties"]["CodeUri"]
        module, _, name = entry_point(rid, function["Properties"], code)
        paths = [str(p) for p in (code, *layer_paths, boto3_dir)]
        program = IMPORT_CHECK.format(paths=paths, module=module, function=name, top=module.split(".")[0])
        # -I: no environment variables, no user site, no script dir; -S: no site-packages at all.
        command = [python, "-I", "-S", "-c", program]
        done = subprocess.run(command, capture_output=True, text=True, cwd="/")  # noqa: S603 - our own program
        if done.returncode != 0:
            sys.exit(f"FAIL: {rid} handler {module}.{name} does not import:\n{done.stderr}")
        origins = dict(line.split(" ", 1) for line in done.stdout.splitlines())
        for imported, origin in origins.items():
            assert any(origin.startswith(p + "/") for p in paths), f"{imported} came from {origin}, outside the build"
        assert origins[module.split(".")[0]].startswith(str(code) + "/"), "the handler did not come from its CodeUri"
        assert any(origins["taskq"].startswith(str(p) + "/") for p in layer_paths), "taskq did not come from a layer"
        print(f"ok: {rid} handler {module}.{name} imports from the built artifacts alone")
        print("\n".join(f"    {k}: {v}" for k, v in origins.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3]).resolve())
