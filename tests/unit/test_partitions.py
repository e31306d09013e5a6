"""The partition-limit simulator's accounting (bench/partitions.py, bench/partition_proxy.Buckets):
which partitions a write charges, by how many units, and the token buckets that limit them."""

from __future__ import annotations

from bench.partition_proxy import Buckets
from bench.partitions import UNKNOWN, Charge, apply_update, charges, schemas

TABLE = "tasks-x"
KEY = {"task_id": {"S": "t1"}}


def waiting(**extra):
    return (
        KEY
        | {
            "status": {"S": "waiting"},
            "ready_queue": {"S": "q:0"},
            "start_time": {"N": "100"},
            "sweep_shard": {"S": "3"},
            "sweep_at": {"N": "900"},
            "endpoint": {"S": "/v1/chat"},
        }
        | extra
    )


def by_partition(found):
    return {(c.partition[1], c.partition[2]): c.units for c in found}


def test_the_schemas_come_from_the_template():
    tasks = schemas()["TasksTable"]
    assert tasks.hash_key == "task_id"
    assert {(i.name, i.hash_key, i.range_key) for i in tasks.indexes} == {
        ("ReadyByQueue", "ready_queue", "start_time"),
        ("SweepDue", "sweep_shard", "sweep_at"),
    }


def test_a_put_charges_the_table_and_every_index_key_the_item_carries():
    found = charges(TABLE, schemas()["TasksTable"], KEY, {}, waiting())
    assert by_partition(found) == {
        ("", '{"S": "t1"}'): 1,
        ("ReadyByQueue", '{"S": "q:0"}'): 1,
        ("SweepDue", '{"S": "3"}'): 1,
    }


def test_a_claim_deletes_from_the_ready_index_and_moves_in_the_sweep_index():
    # The store's claim: SET status, sweep_at = lease end ... REMOVE ready_queue.
    update = {
        "Key": KEY,
        "UpdateExpression": "SET #status = :running, sweep_at = :lease, attempts = attempts + :one REMOVE ready_queue",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":running": {"S": "running"}, ":lease": {"N": "5000"}, ":one": {"N": "1"}},
    }
    after = apply_update(waiting(), update)
    assert "ready_queue" not in after and after["sweep_at"] == {"N": "5000"} and after["attempts"] is UNKNOWN
    found = charges(TABLE, schemas()["TasksTable"], KEY, waiting(), after)
    sweep = [c for c in found if c.partition[1] == "SweepDue"]
    assert [c.partition[1] for c in found].count("ReadyByQueue") == 1  # the delete
    assert len(sweep) == 2 and {c.partition[2] for c in sweep} == {'{"S": "3"}'}  # delete + insert, one shard


def test_an_update_of_a_projected_attribute_only_writes_the_index_once():
    update = {"Key": KEY, "UpdateExpression": "SET endpoint = :e", "ExpressionAttributeValues": {":e": {"S": "/v2"}}}
    found = charges(TABLE, schemas()["TasksTable"], KEY, waiting(), apply_update(waiting(), update))
    assert sorted(c.partition[1] for c in found) == ["", "ReadyByQueue"]  # SweepDue is KEYS_ONLY


def test_an_index_key_an_update_computes_is_charged_twice_on_its_old_partition():
    update = {"Key": KEY, "UpdateExpression": "ADD sweep_shard :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}
    found = charges(TABLE, schemas()["TasksTable"], KEY, waiting(), apply_update(waiting(), update))
    assert [c.partition[2] for c in found if c.partition[1] == "SweepDue"] == ['{"S": "3"}', '{"S": "3"}']


def test_write_units_follow_the_item_size_per_kilobyte():
    big = waiting(data={"S": "x" * 2000})  # with its other attributes, ~2.1 KB
    found = by_partition(charges(TABLE, schemas()["TasksTable"], KEY, {}, big))
    assert found[("", '{"S": "t1"}')] == 3
    assert found[("ReadyByQueue", '{"S": "q:0"}')] == 1  # the index carries only its projection


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def charge(key: str, n: int = 1, index: str = "") -> Charge:
    return Charge((TABLE, index, key), n, bool(index))


def test_a_burst_over_the_rate_on_one_key_is_throttled_then_refills():
    clock = Clock()
    buckets = Buckets(1000, clock)
    admitted = sum(buckets.take([charge("a")]) for _ in range(1500))
    assert admitted == 1000
    clock.now = 0.25
    assert sum(buckets.take([charge("a")]) for _ in range(1000)) == 250


def test_two_keys_have_their_own_rates():
    buckets = Buckets(1000, Clock())
    assert sum(buckets.take([charge("a")]) for _ in range(1000)) == 1000
    assert buckets.take([charge("b")])
    assert not buckets.take([charge("a")])


def test_a_write_passes_only_if_every_partition_it_writes_has_room():
    buckets = Buckets(1000, Clock())
    assert sum(buckets.take([charge("hot", index="ReadyByQueue")]) for _ in range(1000)) == 1000
    # a fresh table key, but the index partition is spent: refused, and nothing is taken
    assert not buckets.take([charge("t2"), charge("hot", index="ReadyByQueue")])
    assert sum(buckets.take([charge("t2")]) for _ in range(1000)) == 1000
