"""The sweeper function: ends leases and expires waiting tasks, every minute."""

# First: no garbage collection while the handler module is imported (resumed at its end;
# taskq/import_collector.py).
from taskq import import_collector

import_collector.pause()
