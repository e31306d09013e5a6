"""The take strategies as pure functions (spec §3.3): candidates per queue in, ordered claim attempts out."""

import random

import pytest

from taskq.models import Candidate, Strategy
from taskq.strategies import (
    Plan,
    next_cursor,
    plan,
    plan_active_passive,
    plan_fifo,
    plan_round_robin,
    plan_sequential,
)


def cand(task_id: str, start_time: int) -> Candidate:
    return Candidate(task_id, start_time, start_time + 60_000)


def order(p: Plan) -> list[tuple[int, str]]:
    """The plan as (queue index, task id) pairs, in attempt order."""
    return [(a.queue_index, a.candidate.task_id) for a in p.attempts]


def claim(p: Plan, size: int) -> list[tuple[int, str]]:
    """Walks a plan as a take does when no claim is lost: up to `size`, at most `per_queue_cap` per queue."""
    taken: list[tuple[int, str]] = []
    for queue_index, task_id in order(p):
        if len(taken) == size:
            break
        if p.per_queue_cap is not None and sum(q == queue_index for q, _ in taken) >= p.per_queue_cap:
            continue
        taken.append((queue_index, task_id))
    return taken


# --- fifo ------------------------------------------------------------------------------------


def test_fifo_merges_all_queues_by_start_time():
    queues = [[cand("a1", 10), cand("a2", 30)], [cand("b1", 20), cand("b2", 40)], [cand("c1", 5)]]
    assert order(plan_fifo(queues)) == [(2, "c1"), (0, "a1"), (1, "b1"), (0, "a2"), (1, "b2")]


def test_fifo_breaks_start_time_ties_across_queues_by_task_id():
    # Given three queues whose heads were all put in the same millisecond
    queues = [[cand("TASK-c", 10)], [cand("TASK-a", 10)], [cand("TASK-b", 10)]]
    # Then the smallest task id goes first, whichever queue it is in
    assert order(plan_fifo(queues)) == [(1, "TASK-a"), (2, "TASK-b"), (0, "TASK-c")]


def test_fifo_breaks_ties_inside_one_queue_by_task_id_whatever_the_index_order():
    queues = [[cand("TASK-b", 10), cand("TASK-a", 10)], [cand("TASK-c", 10)]]
    assert order(plan_fifo(queues)) == [(0, "TASK-a"), (0, "TASK-b"), (1, "TASK-c")]


def test_fifo_matches_a_global_sort_on_random_queues():
    # Given five queues of random start times (each listed earliest first, as the index gives them)
    rng = random.Random(7)
    queues = [[cand(f"TASK-{q}-{n}", rng.randrange(50)) for n in range(rng.randrange(6))] for q in range(5)]
    queues = [sorted(queue, key=lambda c: (c.start_time, c.task_id)) for queue in queues]
    # Then the plan is the global sort by (start_time, task_id)
    everything = sorted((c.start_time, c.task_id, q) for q, queue in enumerate(queues) for c in queue)
    assert order(plan_fifo(queues)) == [(q, task_id) for _, task_id, q in everything]


def test_fifo_of_empty_queues_plans_nothing():
    assert plan_fifo([[], [], []]).attempts == []


# --- active_passive ----------------------------------------------------------------------------


def test_active_passive_drains_the_first_queue_before_the_second():
    # Given the second queue holds older tasks than the first
    queues = [[cand("a1", 50), cand("a2", 60)], [], [cand("c1", 1), cand("c2", 2)]]
    # Then every task of queue 1 is still tried first, then queue 3 (queue 2 is empty)
    assert order(plan_active_passive(queues)) == [(0, "a1"), (0, "a2"), (2, "c1"), (2, "c2")]


# --- round_robin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        (0, ["a1", "b1", "c1", "a2", "c2", "a3"]),
        (1, ["b1", "c1", "a1", "c2", "a2", "a3"]),
        (2, ["c1", "a1", "b1", "c2", "a2", "a3"]),
    ],
)
def test_round_robin_takes_one_per_queue_in_turn_from_the_cursor(cursor, expected):
    queues = [[cand("a1", 1), cand("a2", 2), cand("a3", 3)], [cand("b1", 1)], [cand("c1", 1), cand("c2", 2)]]
    assert [task_id for _, task_id in order(plan_round_robin(queues, cursor))] == expected


def test_round_robin_skips_empty_queues():
    queues = [[], [cand("b1", 1), cand("b2", 2)], [], [cand("d1", 1)]]
    assert order(plan_round_robin(queues, 0)) == [(1, "b1"), (3, "d1"), (1, "b2")]


@pytest.mark.parametrize(
    ("served", "cursor", "expected"),
    [
        ([0], 0, 1),
        ([0, 1], 0, 2),
        ([1, 2], 1, 0),  # wraps around after the last queue
        ([2, 0], 2, 1),
        ([], 2, 2),  # nothing served: the cursor stays
    ],
)
def test_next_cursor_is_the_queue_after_the_last_one_served(served, cursor, expected):
    assert next_cursor(served, cursor, 3) == expected


def simulate_round_robin(queues: list[list[Candidate]], size: int, calls: int) -> list[list[int]]:
    """Successive takes with one shared cursor; taken candidates leave their queue."""
    queues = [list(q) for q in queues]
    cursor, served_per_call = 0, []
    for _ in range(calls):
        served = [q for q, _ in claim(plan_round_robin(queues, cursor), size)]
        for q in served:
            queues[q].pop(0)
        cursor = next_cursor(served, cursor, len(queues))
        served_per_call.append(served)
    return served_per_call


def full_queues(k: int, depth: int = 10) -> list[list[Candidate]]:
    return [[cand(f"q{q}-{n}", n) for n in range(depth)] for q in range(k)]


def test_round_robin_with_size_1_serves_queue_1_2_to_k_then_1_again():
    served = simulate_round_robin(full_queues(4), size=1, calls=9)
    assert served == [[0], [1], [2], [3], [0], [1], [2], [3], [0]]


def test_round_robin_with_size_2_continues_after_the_last_queue_served():
    served = simulate_round_robin(full_queues(3), size=2, calls=3)
    assert served == [[0, 1], [2, 0], [1, 2]]


def test_round_robin_rotation_passes_over_an_empty_queue():
    queues = full_queues(3)
    queues[1] = []
    assert simulate_round_robin(queues, size=1, calls=4) == [[0], [2], [0], [2]]


# --- sequential --------------------------------------------------------------------------------


def test_sequential_skips_locked_queues_and_allows_one_claim_per_queue():
    queues = [[cand("a1", 1), cand("a2", 2)], [cand("b1", 1)], [cand("c1", 5), cand("c2", 6)]]
    p = plan_sequential(queues, locked=[False, True, False])
    assert p.per_queue_cap == 1
    assert {q for q, _ in order(p)} == {0, 2}
    # The earliest task of each free queue, in the listed order
    assert claim(p, size=10) == [(0, "a1"), (2, "c1")]


def test_sequential_respects_size_across_queues():
    assert claim(plan_sequential(full_queues(3), [False] * 3), size=2) == [(0, "q0-0"), (1, "q1-0")]


def test_sequential_with_every_queue_locked_plans_nothing():
    assert plan_sequential(full_queues(2), [True, True]).attempts == []


# --- plan() dispatch ---------------------------------------------------------------------------

QUEUES = [[cand("a", 30), cand("b", 40)], [cand("c", 10), cand("d", 20)]]


@pytest.mark.parametrize(
    ("strategy", "kwargs", "expected", "cap"),
    [
        (Strategy.FIFO, {}, ["c", "d", "a", "b"], None),
        (Strategy.ACTIVE_PASSIVE, {}, ["a", "b", "c", "d"], None),
        (Strategy.ROUND_ROBIN, {}, ["a", "c", "b", "d"], None),
        (Strategy.ROUND_ROBIN, {"cursor": 1}, ["c", "a", "d", "b"], None),
        (Strategy.SEQUENTIAL, {}, ["a", "b", "c", "d"], 1),
        (Strategy.SEQUENTIAL, {"locked": [True, False]}, ["c", "d"], 1),
    ],
)
def test_plan_dispatches_on_the_strategy(strategy, kwargs, expected, cap):
    p = plan(strategy, QUEUES, **kwargs)
    assert [task_id for _, task_id in order(p)] == expected
    assert p.per_queue_cap == cap
