"""The API function: every /v1 route, served by one powertools REST resolver."""

import os

# First: no garbage collection while the handler module is imported (resumed at the end of app.py).
from taskq import import_collector

import_collector.pause()

# Before any powertools import: its event_handler and data_classes packages then load only the
# submodules this function uses (taskq/lazy_packages.py, docs/performance.md "Cold start").
from taskq.lazy_packages import defer_powertools_reexports  # noqa: E402 - after the pause

defer_powertools_reexports()

# The function uses no pydantic plugins: without this, building the first model scans every
# installed distribution's entry points for them (about 13 ms of a cold start here).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
