"""The rules of online puts and worker events that need no store (spec §3.2, §4.2-4.3)."""

from __future__ import annotations

from ..errors import BadRequest
from ..models import Task
from ..requests import PutRequest

ONLINE_MODES = frozenset({"blocking", "streaming"})
# The longest wait per mode, in seconds (spec §3.2): a blocking answer cannot send a byte before
# it knows its status, and API Gateway's idle timeout is 5 minutes; a stream keeps itself alive.
MAX_TIMEOUT_SECONDS = {"blocking": 300, "streaming": 600}
MAX_EVENT_BYTES = 64 * 1024
# Events are kept 24 h after the task ends. An online task ends by its expire_time (a lease never
# outlives it, and the producer's wait or the sweeper ends it then), so the clean-up time is set
# when the events are written, an hour of margin added for the sweeper and clock skew.
EVENTS_KEPT_SECONDS = 25 * 3600


def check_put(request: PutRequest) -> None:
    """Online modes are level 0 only, with their own timeout range; 400 naming the field."""
    mode = request.response_mode
    if mode not in ONLINE_MODES:
        return
    if request.level != 0:
        raise BadRequest(f"level: must be 0 for response_mode {mode!r} (online tasks are level 0), not {request.level}")
    limit = MAX_TIMEOUT_SECONDS[mode]
    if request.timeout is not None and request.timeout > limit:
        raise BadRequest(f"timeout: at most {limit} seconds for response_mode {mode!r}, not {request.timeout}")


def resumed_after(last_event_id: str) -> int:
    """The sequence number a client's `Last-Event-ID` names ("" or absent: from the start)."""
    text = last_event_id.strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise BadRequest(f"Last-Event-ID: must be the id of an event this stream sent (a number), not {text[:40]!r}")
    return int(text)


def events_ttl(task: Task) -> int:
    """When DynamoDB TTL may remove the task's events (epoch seconds)."""
    return task.expire_time // 1000 + EVENTS_KEPT_SECONDS
