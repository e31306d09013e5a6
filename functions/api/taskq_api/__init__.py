"""The API function: every /v1 route, served by one powertools REST resolver."""

import os

# Before any powertools import: its event_handler and data_classes packages then load only the
# submodules this function uses (taskq/lazy_packages.py, docs/performance.md "Cold start").
from taskq.lazy_packages import defer_powertools_reexports

defer_powertools_reexports()

# The function uses no pydantic plugins: without this, building the first model scans every
# installed distribution's entry points for them (about 13 ms of a cold start here).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
