"""How widely one function instance spreads its claims over the head of a queue.

Concurrent takers that all claim the earliest candidate waste their writes: one wins, the
others get ConditionalCheckFailed, move on to the next candidate and meet there again. An
instance that lost claims recently therefore tries the first `width * size` candidates of each
queue in random order; one that loses nothing keeps width 1, which is the strategy's exact
order, so an uncontended taker gets the earliest tasks (spec §3.3).

The width doubles after a take that lost a claim (or becomes the width the take itself widened
to, doubling per lost claim) and shrinks by one after a take that lost none, so it settles
where losses are rare. It also halves for every `DECAY_MS` without a lost claim, so an instance
whose contention is over is back to exact order within seconds.
"""

from __future__ import annotations

MAX_WIDTH = 128
DECAY_MS = 2_000


class ClaimSpread:
    def __init__(self) -> None:
        self._width = 1
        self._since = 0  # the last loss, or the last halving since

    def width(self, now: int) -> int:
        halvings = (now - self._since) // DECAY_MS
        if halvings > 0 and self._width > 1:
            self._width = max(1, self._width >> halvings)
            self._since += halvings * DECAY_MS
        return self._width

    def record(self, now: int, lost: int, reached: int = 1) -> None:
        """After a take: `lost` claims went to concurrent takers, and the take itself widened
        its spread to `reached` while it ran (it doubles per lost claim)."""
        if lost:
            self._width = min(max(self._width * 2, reached), MAX_WIDTH)
            self._since = now
        elif self._width > 1:
            self._width -= 1
