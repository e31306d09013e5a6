"""Two worker-event appends for one task at the same moment, against a DynamoDB server process
(moto's, one request at a time: the appends use TransactWriteItems, which dynalite lacks). Both
read the same last batch before either writes, so they race for the same sequence number."""

from __future__ import annotations

import threading

import pytest

from taskq.models import Principal, Role
from taskq.requests import EventsRequest, PutRequest, RegisterRequest, TakeRequest
from tests.concurrency.harness import service_on
from tests.faults import FaultPlan
from tests.servers import tables_on

WORKER = Principal("ak-worker", Role.WORKER)
ADMIN = Principal("ak-admin", Role.ADMIN)


def both_read_before_either_writes(transactions: list[str]) -> FaultPlan:
    """Holds each thread's first TransactWriteItems until the other thread has reached its own;
    counts the transactions sent in `transactions`."""
    barrier = threading.Barrier(2, timeout=10)
    local = threading.local()

    def before(operation: str) -> None:
        if operation != "TransactWriteItems":
            return
        transactions.append(operation)
        if not getattr(local, "held", False):
            local.held = True
            barrier.wait()

    return FaultPlan(before_request=before)


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        (["a1", "a2", "a3"], ["b1", "b2"], set()),
        (["a1", "s", "a2"], ["b1", "s", "b2"], {"s"}),  # one id in both: stored once
        ([None, None], [None, None, None], set()),  # no ids: nothing to deduplicate, nothing lost
    ],
)
def test_concurrent_appends_keep_every_batch_whole_and_every_id_once(
    moto_server_endpoint: str, first: list, second: list, shared: set
) -> None:
    tables = tables_on(moto_server_endpoint)
    service = service_on(moto_server_endpoint, tables)
    service.register(ADMIN, RegisterRequest(queue="q", endpoint="/e"))
    task_id = service.put(ADMIN, PutRequest(queue="q", endpoint="/e", data={}, response_mode="streaming"))
    [task] = service.take(WORKER, TakeRequest(queues=["q:0"], size=1))["q:0"]
    transactions: list[str] = []
    plan = both_read_before_either_writes(transactions)
    plan.attach(service._store._db)
    batches = {"A": first, "B": second}
    accepted: dict[str, int] = {}

    def append(name: str) -> None:
        events = [{"id": event_id, "data": f"{name}{i}"} for i, event_id in enumerate(batches[name])]
        request = EventsRequest.model_validate({"events": events})
        accepted[name] = service.append_events(WORKER, task_id, task["lease_id"], request)["accepted"]

    threads = [threading.Thread(target=append, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    plan.detach(service._store._db)

    events = service._store.events_after(task_id, 0)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) == len(first) + len(second) - len(shared) == sum(accepted.values())
    ids = [e.id for e in events if e.id is not None]
    assert len(ids) == len(set(ids))
    # Each append's events stand together, in the order sent (the one that lost the race went second).
    order = "".join(dict.fromkeys(str(e.data)[0] for e in events))
    assert sorted(order) == ["A", "B"]
    for name in order:
        mine = [str(e.data) for e in events if str(e.data).startswith(name)]
        positions = [i for i, e in enumerate(events) if str(e.data).startswith(name)]
        assert positions == list(range(positions[0], positions[0] + len(positions)))
        assert mine == sorted(mine, key=lambda d: int(d[1:]))
    # The race happened: one of the first two transactions lost the sequence number and was sent again.
    assert len(transactions) >= 3
