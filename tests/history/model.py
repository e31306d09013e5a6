"""What a run records: every acknowledged answer the actors got, the leases as their holders
knew them, every POST the receiver saw, every stream record, and a per-task event log for
reports."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lease:
    """A lease as its holder knew it: live over `segments` ([from, until) in clock ms). A take
    answer opens the first; each heartbeat answer opens another from when it arrived; the holder
    lets go (complete, retry) or the task is cancelled at `let_go`."""

    task_id: str
    lease_id: str
    queue: str
    actor: str
    segments: list[tuple[int, int]] = field(default_factory=list)
    let_go: int | None = None

    def believed(self, at: int, until: int) -> None:
        self.segments.append((at, until))

    def end(self, at: int) -> None:
        self.let_go = at if self.let_go is None else min(self.let_go, at)

    def live(self) -> list[tuple[int, int]]:
        """The instants the holder could rightly believe it held the task: each answer holds
        until the next answer replaces it, or until its end, or until the holder let go."""
        spans = []
        for i, (start, until) in enumerate(self.segments):
            stop = until
            if i + 1 < len(self.segments):
                stop = min(stop, max(self.segments[i + 1][0], start))
            if self.let_go is not None:
                stop = min(stop, self.let_go)
            if start < stop:
                spans.append((start, stop))
        return spans

    def overlap(self, other: Lease) -> tuple[int, int] | None:
        for a_start, a_stop in self.live():
            for b_start, b_stop in other.live():
                start, stop = max(a_start, b_start), min(a_stop, b_stop)
                if start < stop:
                    return start, stop
        return None


@dataclass(frozen=True)
class Put:
    actor: str
    ak: str
    task_id: str
    idempotency_key: str | None
    acknowledged_at: int  # the clock when the answer came back


@dataclass(frozen=True)
class Post:
    task_id: str
    task_status: str
    ok: bool
    at: int


@dataclass(frozen=True)
class Clear:
    """An acknowledged clear: it covers the tasks of `queue` put before `began` at least."""

    queue: str
    began: int
    answered: int


@dataclass(frozen=True)
class HandOut:
    """A task a take answered: when the take call began, and the task as the answer showed it."""

    task_id: str
    queue: str
    start_time: int
    attempts: int
    take_began: int


@dataclass
class History:
    puts: list[Put] = field(default_factory=list)
    leases: dict[str, Lease] = field(default_factory=dict)
    # leases a claim request carried during a take that failed: its caller never learnt them
    unanswered_leases: set[str] = field(default_factory=set)
    completed: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # task, lease, result: 200
    cancelled: set[str] = field(default_factory=set)  # acknowledged cancels
    cancel_sent: dict[str, int] = field(default_factory=dict)  # task -> first cancel call's clock
    posts: list[Post] = field(default_factory=list)
    unsettled: set[str] = field(default_factory=set)  # tasks with a callback attempt that did not settle
    batches: list[str] = field(default_factory=list)  # each stream batch handed over, and how it ended
    stream_records: list[dict[str, Any]] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    surfaced: Counter[str] = field(default_factory=Counter)  # an injected fault reached the caller
    unexpected: list[tuple[str, str, str]] = field(default_factory=list)  # actor, operation, traceback
    monitored: list[Any] = field(default_factory=list)  # violations of state invariants seen during the run
    events: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    clears: list[Clear] = field(default_factory=list)
    hand_outs: list[HandOut] = field(default_factory=list)

    def log(self, task_id: str, at: int, actor: str, text: str) -> None:
        self.events[task_id].append(f"t={at} {actor}: {text}")
