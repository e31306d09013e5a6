"""Spreading claims under contention (taskq/contention.py, strategies.spread): a taker that
loses nothing keeps the strategy's exact order; one that loses claims spreads over the head."""

import random

from taskq.contention import DECAY_MS, MAX_WIDTH, ClaimSpread
from taskq.models import Candidate
from taskq.strategies import Attempt, Plan, plan_active_passive, plan_fifo, spread


def cand(task_id: str, start_time: int) -> Candidate:
    return Candidate(task_id, start_time, start_time + 60_000)


def order(p: Plan) -> list[tuple[int, str]]:
    return [(a.queue_index, a.candidate.task_id) for a in p.attempts]


def test_a_width_of_one_leaves_the_plan_as_it_is():
    plan = plan_fifo([[cand(f"t{i}", i) for i in range(10)]])
    assert spread(plan, 1, random.Random(1)) is plan


def test_spread_shuffles_only_the_window_and_keeps_every_attempt():
    plan = plan_fifo([[cand(f"t{i:02}", i) for i in range(20)]])
    spread_plan = spread(plan, 8, random.Random(3))
    # The first 8 attempts are the 8 earliest tasks in some order; the rest keep their order
    assert sorted(order(spread_plan)[:8]) == order(plan)[:8]
    assert order(spread_plan)[8:] == order(plan)[8:]
    assert order(spread_plan) != order(plan)


def test_spread_keeps_each_slot_in_its_queue():
    # Active-passive tries queue 0 before queue 1: spreading must not move queue 1's tasks ahead
    queues = [[cand(f"a{i}", 100 + i) for i in range(5)], [cand(f"b{i}", i) for i in range(5)]]
    plan = plan_active_passive(queues)
    spread_plan = spread(plan, 4, random.Random(5))
    assert [q for q, _ in order(spread_plan)] == [q for q, _ in order(plan)]
    assert sorted(order(spread_plan)[:4]) == order(plan)[:4]


def test_spread_keeps_the_per_queue_cap():
    plan = Plan([Attempt(0, cand("a", 1)), Attempt(0, cand("b", 2))], per_queue_cap=1)
    assert spread(plan, 2, random.Random(0)).per_queue_cap == 1


def test_an_uncontended_taker_keeps_width_one():
    gauge = ClaimSpread()
    for now in range(0, 10_000, 100):
        assert gauge.width(now) == 1
        gauge.record(now, lost=0)


def test_the_width_doubles_on_losses_and_shrinks_by_one_without():
    gauge = ClaimSpread()
    for _ in range(3):
        gauge.record(0, lost=2)
    assert gauge.width(0) == 8
    gauge.record(1, lost=0)
    assert gauge.width(1) == 7
    for _ in range(20):
        gauge.record(2, lost=1)
    assert gauge.width(2) == MAX_WIDTH


def test_the_width_halves_for_every_quiet_spell_without_losses():
    gauge = ClaimSpread()
    for _ in range(4):
        gauge.record(1_000, lost=1)
    assert gauge.width(1_000 + DECAY_MS - 1) == 16
    assert gauge.width(1_000 + DECAY_MS) == 8
    assert gauge.width(1_000 + 3 * DECAY_MS) == 2
    assert gauge.width(1_000 + 10 * DECAY_MS) == 1
