"""The dispatcher: results to producers (callbacks) and queue counters, from the Tasks stream."""

# First: no garbage collection while the handler module is imported (resumed at its end;
# taskq/import_collector.py).
from taskq import import_collector

import_collector.pause()

# Before any powertools import: its event_handler and data_classes packages then load only the
# submodules this function uses (taskq/lazy_packages.py, docs/performance.md "Cold start").
from taskq.lazy_packages import defer_powertools_reexports  # noqa: E402 - after the pause

defer_powertools_reexports()
