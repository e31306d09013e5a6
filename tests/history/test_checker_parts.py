"""The checker's own parts: lease liveness as its holder knew it, and a run replays from its seed."""

from __future__ import annotations

import threading

from taskq.clock import ManualClock
from tests.history.model import Lease
from tests.history.scheduler import Scheduler


def lease(*segments: tuple[int, int], let_go: int | None = None) -> Lease:
    held = Lease("TASK-1", f"LEASE-{len(segments)}-{let_go}", "seq:1", "w")
    for at, until in segments:
        held.believed(at, until)
    if let_go is not None:
        held.end(let_go)
    return held


def test_a_lease_is_live_until_its_end_or_until_its_holder_lets_go() -> None:
    assert lease((10, 50)).live() == [(10, 50)]
    assert lease((10, 50), let_go=30).live() == [(10, 30)]


def test_a_heartbeat_answer_replaces_the_end_from_when_it_arrives() -> None:
    # a heartbeat at 40 shortened the lease to 45: live 10..45, not 10..100
    assert lease((10, 100), (40, 45)).live() == [(10, 40), (40, 45)]
    # a lease that lapsed at 20, revived by a heartbeat answered at 30: a gap in between
    assert lease((10, 20), (30, 60)).live() == [(10, 20), (30, 60)]


def test_two_leases_overlap_only_where_both_are_live() -> None:
    first, second = lease((10, 20)), lease((20, 30))
    assert first.overlap(second) is None
    assert lease((10, 25)).overlap(second) == (20, 25)
    assert lease((10, 20), (18, 40)).overlap(second) == (20, 30)


def test_the_scheduler_runs_one_actor_at_a_time_in_a_seeded_order() -> None:
    def interleaving(seed: int) -> list[str]:
        order: list[str] = []
        running = threading.Semaphore(1)
        scheduler = Scheduler(seed, ManualClock())

        def actor(name: str) -> None:
            for _ in range(5):
                assert running.acquire(blocking=False), "two actors ran at once"
                order.append(name)
                running.release()
                scheduler.point()

        for name in ("a", "b", "c"):
            scheduler.spawn(name, lambda n=name: actor(n))
        scheduler.run(timeout_s=30)
        assert scheduler.errors == []
        return order

    first = interleaving(1)
    assert sorted(first) == sorted(["a", "b", "c"] * 5)
    assert interleaving(1) == first
    assert interleaving(2) != first
