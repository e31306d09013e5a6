"""The authorizer function: API Gateway's REQUEST authorizer for every /v1 route."""

# Before any powertools import: its event_handler and data_classes packages then load only the
# submodules this function uses (taskq/lazy_packages.py, docs/performance.md "Cold start").
from taskq.lazy_packages import defer_powertools_reexports

defer_powertools_reexports()
