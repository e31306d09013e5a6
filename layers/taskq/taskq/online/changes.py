"""An optional change signal for waits (docs/design.md "Online tasks"): whoever sees every write
to a task's item and its events can tell a waiting producer at once, so the wait polls only when
something changed, and its schedule's intervals become a safety net (schedule.SIGNALLED_MS).

Nothing is installed in AWS: a wait there cannot learn of writes and polls on its schedule. The
local server installs one for its embedded store (taskq_local/changes.py), which sees each write.
"""

from __future__ import annotations

from typing import Protocol


class TaskChanges(Protocol):
    def version(self, task_id: str) -> int:
        """A number that moves whenever the task's item or its events are written."""
        ...

    async def wait(self, task_id: str, since_version: int, timeout_s: float) -> None:
        """Returns once the task's version differs from `since_version` (at once if it already
        does), or after `timeout_s`, whichever comes first."""
        ...


_installed: TaskChanges | None = None


def install(changes: TaskChanges | None) -> None:
    global _installed
    _installed = changes


def installed() -> TaskChanges | None:
    return _installed
