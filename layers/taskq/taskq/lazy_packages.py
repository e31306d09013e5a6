"""Cold start: a package whose `__init__` only re-exports names of its submodules resolves each
name when it is first used, instead of importing every submodule up front.

powertools' `event_handler` and `utilities.data_classes` are such packages: their `__init__`
imports every resolver (AppSync's loads asyncio) and every event class, 15-40 ms of a function's
cold start for names it never uses. Naming the submodule does not help, since importing
`event_handler.api_gateway` runs `event_handler/__init__.py` first. `defer_reexports` puts the
package in place without running its `__init__`, with a module `__getattr__` (PEP 562) that
imports a re-exported name's submodule when the name is asked for: `from ...event_handler
import Response` works as before and loads what `Response` needs, nothing more.

Only an `__init__` made of a docstring, `from ... import` lines and `__all__` is deferred (read
from its source); anything else may have side effects, so such a package is imported as usual.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from typing import Any

# What the functions' entry packages defer before their first powertools import.
POWERTOOLS_REEXPORTS = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def defer_reexports(package: str) -> bool:
    """True when `package` now resolves its names on first use; False when it was imported
    already or its `__init__` does more than re-export (then nothing changed)."""
    if package in sys.modules:
        return False
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations or not (spec.origin or "").endswith(".py"):
        return False  # not a package, or shipped without its source (bytecode only): imported as usual
    with open(spec.origin, encoding="utf-8") as source:
        reexports = _reexports(ast.parse(source.read()))
    if reexports is None:
        return False
    names, exported = reexports
    module = importlib.util.module_from_spec(spec)

    def resolve(name: str) -> Any:
        if name.startswith("__"):  # probes such as `__wrapped__`: no submodule is named so
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        origin, original = names.get(name, (package, name))
        if importlib.util.resolve_name(origin, package) != package:
            value = getattr(importlib.import_module(origin, package), original)
        elif importlib.util.find_spec(f"{package}.{original}") is not None:
            value = importlib.import_module(f"{package}.{original}")  # `from package import submodule`
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)  # resolved once: later lookups find it without this hook
        return value

    module.__getattr__ = resolve  # type: ignore[method-assign]
    if exported is not None:
        module.__all__ = exported
    sys.modules[package] = module
    return True


def defer_powertools_reexports() -> None:
    for package in POWERTOOLS_REEXPORTS:
        defer_reexports(package)


def _reexports(tree: ast.Module) -> tuple[dict[str, tuple[str, str]], list[str] | None] | None:
    """{name: (module, its name there)} and `__all__`, or None when the `__init__` holds
    anything but a docstring, `from ... import` lines and `__all__`."""
    names: dict[str, tuple[str, str]] = {}
    exported = None
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module and not any(a.name == "*" for a in node.names):
            for alias in node.names:
                names[alias.asname or alias.name] = ("." * node.level + node.module, alias.name)
        elif isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            exported = list(ast.literal_eval(node.value))
        else:
            return None
    return names, exported
