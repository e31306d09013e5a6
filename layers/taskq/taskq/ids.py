"""Identifiers. Task ids sort by creation time; lease ids are unguessable."""

from __future__ import annotations

import secrets


def new_task_id(now_ms: int) -> str:
    # 13 decimal digits cover epoch ms until the year 2286, so string order is time order.
    return f"TASK-{now_ms:013d}-{secrets.token_hex(8)}"


def new_task_ids(now_ms: int, count: int) -> list[str]:
    """Ids for tasks put together (put-batch, at most 256): they sort in the batch's order, so
    fifo hands out a batch put within one millisecond in the order it was given."""
    prefix = secrets.token_hex(7)
    return [f"TASK-{now_ms:013d}-{prefix}{i:02x}" for i in range(count)]


def new_lease_id() -> str:
    return f"LEASE-{secrets.token_hex(16)}"


def new_instance_id() -> str:
    return f"api-{secrets.token_hex(6)}"
