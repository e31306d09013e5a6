"""A deterministic baton scheduler for threads that share one in-process moto.

Each actor is a thread, but only the actor holding the baton runs. An actor hands the baton on at
every scheduling point — every DynamoDB request it sends (the fault plan's `before_request`
hook), and wherever the workload calls `point()` — and a seeded RNG picks who runs next. Between
two steps the scheduler may move the manual clock: a few ms, a long jump, or right around a
deadline the workload noted (a lease end: the instants where races live). So one seed is one
interleaving, replayable, and moto is never entered by two threads at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from taskq.clock import ManualClock


@dataclass(frozen=True)
class ClockMoves:
    """How the clock moves between steps (probabilities per step)."""

    small: float = 0.3  # 1..500 ms
    deadline: float = 0.1  # to a noted deadline -1, +0 or +1 ms
    jump: float = 0.02  # 5..40 s


class Scheduler:
    def __init__(self, seed: int, clock: ManualClock, moves: ClockMoves = ClockMoves()) -> None:
        self._rng = random.Random(f"scheduler-{seed}")
        self._clock = clock
        self._moves = moves
        self._cv = threading.Condition()
        self._turn: str | None = None
        self._alive: set[str] = set()
        self._foreground: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._deadlines: set[int] = set()
        self._local = threading.local()
        self.errors: list[tuple[str, BaseException]] = []
        self.steps = 0
        # Speeds per actor, drawn afresh every few dozen steps: phases where some actors crawl
        # while others race are where a read and its write end up far apart.
        self._weights: dict[str, float] = {}
        self._reweigh_at = 0
        self._running = False

    # --- for the workload ----------------------------------------------------------------------

    def spawn(self, name: str, body: Callable[[], None], *, foreground: bool = True) -> None:
        """An actor; the run ends when every foreground actor has returned (background actors
        loop while `foreground_running()`)."""
        thread = threading.Thread(target=self._actor, args=(name, body), name=name, daemon=True)
        with self._cv:
            # Names are how the baton is passed: two live actors of one name would leave one of
            # them waiting for ever once the other ends.
            if name in self._alive:
                raise ValueError(f"an actor named {name!r} is already running")
            self._alive.add(name)
            if foreground:
                self._foreground.add(name)
            self._threads.append(thread)
        if self._running:  # spawned by an actor: it joins the run at once
            thread.start()

    def foreground_running(self) -> bool:
        with self._cv:
            return bool(self._foreground & self._alive)

    def note_deadline(self, at_ms: int) -> None:
        """An instant worth landing next to (a lease end)."""
        self._deadlines.add(at_ms)

    def draw(self, low: int, high: int) -> int:
        """A number from the scheduler's RNG (for an actor holding the baton)."""
        return self._rng.randint(low, high)

    def point(self, jump_s: float = 0) -> None:
        """A scheduling point: someone (maybe the caller again) runs next. `jump_s` moves the
        clock up to that many seconds first (a slow receiver). A no-op outside an actor."""
        me = getattr(self._local, "name", None)
        if me is None:
            return
        with self._cv:
            if jump_s:
                self._clock.advance(ms=self._rng.randint(1, int(jump_s * 1000)))
            self._hand_on()
            while self._turn != me:
                self._cv.wait()

    def run(self, timeout_s: float = 600) -> None:
        self._running = True
        for thread in list(self._threads):
            thread.start()
        with self._cv:
            self._hand_on()
            if not self._cv.wait_for(lambda: not self._alive, timeout=timeout_s):
                raise TimeoutError(f"actors still running after {timeout_s} s: {sorted(self._alive)}")
        for thread in list(self._threads):
            thread.join()

    # --- inside ----------------------------------------------------------------------------------

    def _actor(self, name: str, body: Callable[[], None]) -> None:
        self._local.name = name
        with self._cv:
            while self._turn != name:
                self._cv.wait()
        try:
            body()
        except BaseException as error:  # reported by the run; the others carry on
            self.errors.append((name, error))
        finally:
            with self._cv:
                self._alive.discard(name)
                self._hand_on()
                self._local.name = None

    def _hand_on(self) -> None:
        """Called under the lock: moves the clock perhaps, and gives the baton to a live actor."""
        self.steps += 1
        self._move_clock()
        self._turn = self._pick() if self._alive else None
        self._cv.notify_all()

    def _pick(self) -> str:
        if self.steps >= self._reweigh_at:
            self._reweigh_at = self.steps + self._rng.randint(20, 80)
            self._weights = {}
        alive = sorted(self._alive)
        for name in alive:
            if name not in self._weights:
                self._weights[name] = self._rng.choice((0.05, 0.3, 1.0, 1.0, 3.0))
        return self._rng.choices(alive, weights=[self._weights[n] for n in alive])[0]

    def _move_clock(self) -> None:
        draw, now, moves = self._rng.random(), self._clock.now_ms(), self._moves
        if draw < moves.small:
            self._clock.advance(ms=self._rng.randint(1, 500))
        elif draw < moves.small + moves.deadline:
            ahead = sorted(d for d in self._deadlines if d >= now - 1)
            if ahead:
                target = ahead[0] if self._rng.random() < 0.7 else self._rng.choice(ahead)
                self._clock.advance(ms=max(0, target + self._rng.choice((-1, 0, 1)) - now))
        elif draw < moves.small + moves.deadline + moves.jump:
            self._clock.advance(ms=self._rng.randint(5_000, 40_000))
