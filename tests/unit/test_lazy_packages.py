"""A package whose `__init__` only re-exports resolves its names on first use (cold start)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskq.lazy_packages import POWERTOOLS_REEXPORTS, defer_reexports

INIT = '''"""A package that re-exports."""
from .light import Light
from .heavy import Heavy as Renamed
from pkgx import other

__all__ = ["Light", "Renamed", "other"]
'''


@pytest.fixture
def pkgx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pkgx: re-exports from two submodules; `loads` records which modules ran."""
    root = tmp_path / "pkgx"
    root.mkdir()
    (tmp_path / "loads.py").write_text("ran = []\n")
    (root / "__init__.py").write_text(INIT)
    for name, cls in (("light", "Light"), ("heavy", "Heavy"), ("other", "Other")):
        (root / f"{name}.py").write_text(f"import loads\nloads.ran.append({name!r})\nclass {cls}: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for module in [m for m in sys.modules if m == "loads" or m.split(".")[0] == "pkgx"]:
        del sys.modules[module]


def test_a_submodule_imports_without_the_others_and_each_name_loads_its_own(pkgx: Path) -> None:
    assert defer_reexports("pkgx")
    import loads
    from pkgx import light

    assert loads.ran == ["light"]
    from pkgx import Renamed

    assert loads.ran == ["light", "heavy"]
    assert Renamed is sys.modules["pkgx.heavy"].Heavy
    from pkgx import other  # the package re-exporting its own submodule

    assert other is sys.modules["pkgx.other"]
    assert sys.modules["pkgx"].Light is light.Light
    assert sys.modules["pkgx"].__all__ == ["Light", "Renamed", "other"]


def test_an_unknown_name_is_an_attribute_error(pkgx: Path) -> None:
    assert defer_reexports("pkgx")
    with pytest.raises(ImportError):
        from pkgx import Missing  # noqa: F401
    assert not hasattr(sys.modules["pkgx"], "__wrapped__")


def test_an_init_that_does_more_than_reexport_runs_as_usual(pkgx: Path) -> None:
    (pkgx / "__init__.py").write_text(INIT + "import loads\nloads.ran.append('init')\n")
    assert not defer_reexports("pkgx")
    import pkgx as package

    assert package.Renamed.__name__ == "Heavy"
    assert "init" in sys.modules["loads"].ran


def test_an_imported_package_is_left_alone(pkgx: Path) -> None:
    import pkgx as package

    assert not defer_reexports("pkgx")
    assert sys.modules["pkgx"] is package


EXPORTS = """
import importlib, json, sys
from taskq.lazy_packages import defer_reexports
package = sys.argv[1]
deferred = defer_reexports(package) if sys.argv[2] == "deferred" else None
module = importlib.import_module(package)
names = {n: f"{getattr(module, n).__module__}.{getattr(module, n).__qualname__}" for n in module.__all__}
print(json.dumps({"deferred": deferred, "names": names}))
"""


def exports(package: str, how: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(EXPORTS), package, how], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("package", POWERTOOLS_REEXPORTS)
def test_powertools_packages_deferred_give_every_exported_name_as_their_init_does(package: str) -> None:
    deferred, imported = exports(package, "deferred"), exports(package, "imported")
    assert deferred["deferred"] is True  # the pinned powertools' __init__ only re-exports
    assert len(imported["names"]) > 10
    assert deferred["names"] == imported["names"]
