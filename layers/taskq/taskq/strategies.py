"""The four take strategies, as pure functions.

Each turns the candidates the ready index suggested (per listed queue, earliest first) into
an ordered list of claim attempts. The service walks that list, claiming until it has `size`
tasks; an attempt that loses its race is simply passed over, so the plan holds more attempts
than `size`. Sequential additionally allows at most one claim per queue (`per_queue_cap`).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

from .models import Candidate, Strategy


@dataclass(frozen=True)
class Attempt:
    queue_index: int
    candidate: Candidate


@dataclass(frozen=True)
class Plan:
    attempts: list[Attempt]
    per_queue_cap: int | None = None


def earliest_first(queue: Sequence[Candidate]) -> list[Candidate]:
    # The index orders by start_time only; ties are broken by task_id here (spec §3.3).
    return sorted(queue, key=lambda c: c.order_key)


def merge_shards(heads: Sequence[Sequence[Candidate]], limit: int) -> list[Candidate]:
    """A queue's candidates from the heads of its ready shards: the earliest `limit` of them all
    by (start_time, task_id). Each head holds its shard's earliest `limit`, so these are the
    queue's earliest `limit`: every strategy then sees one list per queue, as with one shard."""
    return list(heapq.merge(*map(earliest_first, heads), key=lambda c: c.order_key))[:limit]


def plan_fifo(candidates: Sequence[Sequence[Candidate]]) -> Plan:
    """All listed queues merged globally by (start_time, task_id)."""
    streams = [[(c.order_key, i, c) for c in earliest_first(queue)] for i, queue in enumerate(candidates)]
    merged = heapq.merge(*streams)
    return Plan([Attempt(i, c) for _, i, c in merged])


def plan_active_passive(candidates: Sequence[Sequence[Candidate]]) -> Plan:
    """Drain the first queue, then the second, and so on."""
    return Plan([Attempt(i, c) for i, queue in enumerate(candidates) for c in earliest_first(queue)])


def plan_round_robin(candidates: Sequence[Sequence[Candidate]], cursor: int) -> Plan:
    """One task per queue in turn, the turn starting at `cursor`; empty queues are skipped."""
    k = len(candidates)
    order = [(cursor + offset) % k for offset in range(k)]
    turns = zip_longest(*(earliest_first(candidates[i]) for i in order))
    return Plan([Attempt(order[pos], c) for turn in turns for pos, c in enumerate(turn) if c is not None])


def plan_sequential(candidates: Sequence[Sequence[Candidate]], locked: Sequence[bool]) -> Plan:
    """In listed order, the earliest task of every queue whose sequential lock is free; one per queue."""
    attempts = [Attempt(i, c) for i, queue in enumerate(candidates) if not locked[i] for c in earliest_first(queue)]
    return Plan(attempts, per_queue_cap=1)


def spread(plan: Plan, window: int, rng: random.Random) -> Plan:
    """The plan with, within each queue, the candidates of its first `window` attempts shuffled.

    Each attempt slot keeps its queue, so the strategy's choice of queue at every step stands;
    only which of a queue's earliest tasks fills a slot is left to chance. Concurrent takers
    then claim different tasks near the head instead of all the earliest one."""
    if window <= 1:
        return plan
    slots: dict[int, list[int]] = {}
    for position, attempt in enumerate(plan.attempts):
        slots.setdefault(attempt.queue_index, []).append(position)
    attempts = list(plan.attempts)
    for positions in slots.values():
        head = positions[:window]
        shuffled = [attempts[p] for p in head]
        rng.shuffle(shuffled)
        for position, attempt in zip(head, shuffled, strict=True):
            attempts[position] = attempt
    return Plan(attempts, plan.per_queue_cap)


def next_cursor(served: Sequence[int], cursor: int, queue_count: int) -> int:
    """Round robin's next starting queue: the one after the last queue served."""
    return (served[-1] + 1) % queue_count if served else cursor


def plan(
    strategy: Strategy,
    candidates: Sequence[Sequence[Candidate]],
    *,
    cursor: int = 0,
    locked: Sequence[bool] = (),
) -> Plan:
    match strategy:
        case Strategy.FIFO:
            return plan_fifo(candidates)
        case Strategy.ACTIVE_PASSIVE:
            return plan_active_passive(candidates)
        case Strategy.ROUND_ROBIN:
            return plan_round_robin(candidates, cursor)
        case Strategy.SEQUENTIAL:
            return plan_sequential(candidates, locked or [False] * len(candidates))
    raise ValueError(f"unknown strategy {strategy!r}")  # pragma: no cover - the enum is closed
