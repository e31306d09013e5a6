"""Cost per million tasks (bench/pricing.py): which figures a column is built from."""

from __future__ import annotations

from bench import pricing


def op(requests: float, **by_operation: float) -> dict:
    return {"requests_per_task": requests, "by_operation": by_operation, "tasks_per_call": 10}


COST = {
    "ours": {
        "fifo": {
            "put": op(1.0, PutItem=1.0),
            "take_1": op(2.0, Query=1.0, UpdateItem=1.0) | {"tasks_per_call": 1},
            "take_10": op(1.1, Query=0.1, UpdateItem=1.0),
            "complete": op(1.0, UpdateItem=1.0),
        }
    }
}
UNITS = {"put": 1, "claim": 1, "complete": 1, "put_table": 1, "complete_table": 1}


def test_the_batched_column_is_estimated_without_the_batched_sections_figures():
    column = pricing.batched(COST, UNITS, cpu_ms=1.0, log=1000, found=None)
    assert column.source.startswith("estimated")
    assert round(column.api_requests, 3) == round(1 / 100 + 1 / 10 + 1 / 10, 3)


def phase(api: float, requests: float, **by_operation: float) -> dict:
    return {"api_requests_per_task": api, "dynamodb_requests_per_task": requests, "by_operation": by_operation}


def test_the_batched_column_uses_the_batched_sections_counts_when_there_are_some():
    # bench/batched.py's "batched" mix: a put-batch writes its items in one transaction
    found = {
        "api_requests_per_task": 0.21,
        "by_phase": {
            "put": phase(0.01, 0.04, TransactWriteItems=0.04),
            "take": phase(0.1, 1.1, Query=0.1, UpdateItem=1.0),
            "complete": phase(0.1, 1.0, UpdateItem=1.0),
        },
    }
    units = UNITS | {"put_table": 2, "complete_table": 3}
    column = pricing.batched(COST, units, cpu_ms=1.0, log=1000, found=found)
    assert column.source.startswith("measured")
    assert column.api_requests == 0.21
    assert round(column.dynamodb_requests, 2) == 2.14
    assert column.writes_wru == 3 + 2  # the put's table write, transactional, is paid twice


def test_single_routes_pay_one_api_request_per_put_and_complete_and_a_share_of_a_take():
    take_10 = pricing.single(COST, "ours", UNITS, cpu_ms=1.0, log=1000)
    take_1 = pricing.single(COST, "ours", UNITS, cpu_ms=1.0, log=1000, take="take_1")
    assert round(take_10.api_requests, 2) == 2.1
    assert take_1.api_requests == 3.0


def test_write_units_grow_with_the_item_size():
    small = pricing.write_units()
    saved = pricing.DATA_BYTES
    try:
        pricing.DATA_BYTES = 5_000
        large = pricing.write_units()
    finally:
        pricing.DATA_BYTES = saved
    assert large["put"] > small["put"] and large["claim"] > small["claim"]
