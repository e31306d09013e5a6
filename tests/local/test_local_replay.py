"""The durable embedded store's replay, in-process on moto (durable.py): a restart rebuilds the
items and the Tasks stream the dispatcher had not consumed — the same records, with the same
sequence numbers and eventIDs (the counters' replay markers), and none it had consumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskq.models import Principal, Role
from taskq.requests import PutRequest, RegisterRequest
from taskq.service import QueueService
from taskq_local import embedded, moto_state
from taskq_local.durable import DurableStore
from taskq_local.template import create_tables
from tests.conftest import LOGICAL_IDS, TABLES

ADMIN = Principal("ak-admin", Role.ADMIN)


def stream_records() -> list[dict[str, Any]]:
    shard = moto_state._tables()[TABLES.tasks].stream_shard
    return [{k: r.record[k] for k in ("eventID", "eventName")} | {"dynamodb": _images(r)} for r in shard.items]


def _images(record: Any) -> dict[str, Any]:
    # moto stamps the time of the write (of the replay, here) and counts it in the size.
    return {k: v for k, v in record.record["dynamodb"].items() if k not in ("ApproximateCreationDateTime", "SizeBytes")}


def scan_all(client: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: client.scan(TableName=name)["Items"] for name in LOGICAL_IDS.values()}


def test_replay_rebuilds_items_and_the_unconsumed_stream(local_moto, service: QueueService, tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    embedded.install_recorder(store)
    service.register(ADMIN, RegisterRequest(queue="q", endpoint="/v1/chat/completions"))
    for n in range(3):
        service.put(ADMIN, PutRequest(queue="q", endpoint="/v1/chat/completions", data={"n": n}))
    first = stream_records()[0]["dynamodb"]["SequenceNumber"]
    embedded.stream_consumed(TABLES.tasks, first)  # the dispatcher handled the first put
    unconsumed, items = stream_records(), scan_all(local_moto)
    assert len(unconsumed) == 2
    store.close()
    embedded.install_recorder(None)

    # A new process: the template's tables, empty, then the data folder replayed.
    for name in LOGICAL_IDS.values():
        local_moto.delete_table(TableName=name)
    create_tables(local_moto, LOGICAL_IDS)
    assert (stream_records(), scan_all(local_moto)[TABLES.tasks]) == ([], [])
    DurableStore(tmp_path).open()

    assert stream_records() == unconsumed
    assert scan_all(local_moto) == items
