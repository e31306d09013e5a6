"""The per-minute series of a queue-level (the console's chart), kept beside its counters.

Pure: the store reads the series, this moves it on by one stream batch, the store writes it
back in the counters' transaction (docs/design.md "Console").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SERIES_MINUTES = 60  # how far back the chart looks; older minutes are dropped
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Minute:
    minute: int  # epoch minute (epoch ms // 60 000)
    put: int
    completed: int
    waiting: int  # the counts after the last batch counted in this minute
    running: int

    def as_row(self) -> list[int]:
        return [self.minute, self.put, self.completed, self.waiting, self.running]

    def as_answer(self) -> dict[str, int]:
        return {
            "time": self.minute * MINUTE_MS,
            "put": self.put,
            "completed": self.completed,
            "waiting": self.waiting,
            "running": self.running,
        }


def from_rows(rows: Sequence[Sequence[int]]) -> list[Minute]:
    return [Minute(*(int(v) for v in row)) for row in rows]


def advance(
    series: Sequence[Minute], now_ms: int, deltas: Mapping[str, int], counters: Mapping[str, int]
) -> list[Minute]:
    """The series once a batch with `deltas` was counted at `now_ms`; `counters` are the counts
    after it. Keeps only the last SERIES_MINUTES minutes, so the item stays small."""
    minute = now_ms // MINUTE_MS
    kept = [m for m in series if minute - SERIES_MINUTES < m.minute < minute]
    current = next((m for m in series if m.minute == minute), Minute(minute, 0, 0, 0, 0))
    kept.append(
        Minute(
            minute,
            current.put + deltas.get("total_put_cnt", 0),
            current.completed + deltas.get("total_completed_cnt", 0),
            counters.get("waiting", 0),
            counters.get("running", 0),
        )
    )
    return sorted(kept, key=lambda m: m.minute)


def window(series: Sequence[Minute], now_ms: int) -> list[Minute]:
    """What a reader shows: the minutes of the last hour (a queue idle for an hour shows none)."""
    minute = now_ms // MINUTE_MS
    return [m for m in series if minute - SERIES_MINUTES < m.minute <= minute]
