"""The hot-queue bench's harness (bench/hot_queue.py) on a small scale: its fifo check and one
short sustained run through the partition simulator."""

from __future__ import annotations

import pytest

from bench import hot_queue


def test_one_taker_drains_a_queue_in_the_order_it_was_put(dynalite_endpoint: str):
    found = hot_queue.fifo_order(dynalite_endpoint, 1, 25)
    assert found == {"shards": 1, "supported": True, "tasks": 25, "taken": 25, "exact": True}


@pytest.mark.slow
def test_a_sustained_run_through_the_simulator_completes_tasks_and_counts_the_refusals(dynalite_endpoint: str):
    # 2 units/s per partition: the queue's ready key throttles within the run's first second.
    with hot_queue.simulator(dynalite_endpoint, 2) as (endpoint, watch, stats):
        figures = hot_queue.sustained(endpoint, 1, seconds=8.0, watch=watch)  # generous: a loaded machine
        refused = stats()["throttled"]
    assert figures["supported"] and figures["completed"] > 0
    assert figures["take_calls"] > 0 and figures["requests_per_take"] >= 1
    assert refused > 0
