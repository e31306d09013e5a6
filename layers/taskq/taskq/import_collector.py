"""Cold start: no cyclic garbage collection while a function's handler module is imported.

Importing a handler creates a few hundred thousand objects (modules, classes, functions, their
dicts and code), nearly all of which live as long as the execution environment. CPython's
collector runs every 700 net allocations and walks the young objects each time (generation 1
every tenth time), so during the import it walks, again and again, objects that can never be
garbage. `pause()` before the imports and `resume()` after them; `resume` freezes what the
import left (`gc.freeze`: a permanent generation the collector never walks, as CPython's docs
suggest for a process's start-up) and enables collection again, so the requests that follow do
not walk those objects either. Reference counting frees everything else as usual; only cycles
that became garbage during the import itself are kept, once.

Paused only in a Lambda execution environment (LAMBDA_TASK_ROOT set), where the runtime imports
the handler module whole and `resume` runs at its end. Tests and the local server may import a
function's submodules alone, and the collector must not stay off there.
"""

from __future__ import annotations

import gc
import os

_paused = False


def pause() -> None:
    global _paused
    if "LAMBDA_TASK_ROOT" in os.environ and gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """At the end of the handler module; nothing to do unless `pause` stopped the collector."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
