"""The partition-limit simulator: an HTTP proxy in front of dynalite that enforces DynamoDB's
per-partition write rate (issue 14 point 3), so the ceilings of docs/performance.md can be
measured here. dynalite itself has no capacity model: it serves any rate its CPU allows.

Each write (PutItem, UpdateItem, DeleteItem, BatchWriteItem) to a watched table is charged to
every partition it writes (bench/partitions.py): the table's key and every index key the item
carries before or after. A token bucket per partition refills at `limit` units/s and holds one
second of them; a write that would overdraw any bucket is answered as DynamoDB answers it
(HTTP 400, `ProvisionedThroughputExceededException`) without reaching dynalite; a batch has its
overdrawing items returned in `UnprocessedItems`. Reads pass through, uncharged.

What the item was before the write comes from the proxy's own copy of every item written
through it (filled from the writes' own values and `ALL_NEW` answers); an item it has not seen
is read from dynalite first (a consistent `GetItem`), except for a put conditioned on its key
not existing (the store's put), which can only create. Only an index key that an update computes
(arithmetic, `if_not_exists` of another attribute) is unknown: it is charged by the conservative
rule in `partitions.charges`, and counted in `stats.unknown_keys`.

botocore retries a throttled request on its own (standard mode: 3 attempts), so a client sees
fewer errors than `stats.throttled` counts: measure throughput as work done per second, net of
retries.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .partitions import UNKNOWN, Charge, Partition, Schema, apply_update, charges, schemas

PARTITION_WRITE_UNITS = 1_000  # per second, per partition key (tables and indexes alike)
THROTTLED = "ProvisionedThroughputExceededException"
# DynamoDB's own answer on an on-demand table beyond a partition's rate.
THROTTLED_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
    "scaling your table or index so please try again shortly. If exceptions persist, check if you "
    "have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


class Buckets:
    """A token bucket per partition: `rate` units a second, at most one second's worth held."""

    def __init__(self, rate: float, now: Any = time.monotonic) -> None:
        self.rate = rate
        self._now = now
        self._levels: dict[Partition, tuple[float, float]] = {}  # partition -> (tokens, at)

    def _level(self, partition: Partition, now: float) -> float:
        tokens, at = self._levels.get(partition, (self.rate, now))
        return min(self.rate, tokens + (now - at) * self.rate)

    def take(self, wanted: list[Charge]) -> bool:
        """All of `wanted` or nothing. A charge above a whole second's worth passes on a full
        bucket (and empties it), or a large item could never be written."""
        now = self._now()
        by_partition: dict[Partition, int] = {}
        for charge in wanted:
            by_partition[charge.partition] = by_partition.get(charge.partition, 0) + charge.units
        levels = {p: self._level(p, now) for p in by_partition}
        if any(levels[p] < min(n, self.rate) for p, n in by_partition.items()):
            return False
        for p, n in by_partition.items():
            self._levels[p] = (levels[p] - n, now)
        return True

    def give_back(self, refunds: list[Charge]) -> None:
        now = self._now()
        for charge in refunds:
            tokens = self._level(charge.partition, now)
            self._levels[charge.partition] = (min(self.rate, tokens + charge.units), now)


@dataclass
class Stats:
    requests: int = 0
    writes: int = 0
    throttled: int = 0  # requests answered with the throttling error
    throttled_items: int = 0  # batch items returned unprocessed
    unknown_keys: int = 0  # writes charged by the conservative rule
    read_before: int = 0  # GetItems of items the proxy had not seen
    units: dict[str, int] = field(default_factory=dict)  # "table/index" -> write units admitted

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Simulator:
    """The proxy's state: watched tables, the items written, the buckets, the counts."""

    def __init__(self, upstream: str, limit: float = PARTITION_WRITE_UNITS, now: Any = time.monotonic) -> None:
        self.upstream = urlsplit(upstream)
        self.buckets = Buckets(limit, now)
        self.stats = Stats()
        self.lock = threading.Lock()
        self._schemas = schemas()
        self._tables: dict[str, Schema] = {}
        self._items: dict[tuple[str, str], dict[str, Any]] = {}
        self._local = threading.local()

    def watch(self, names: dict[str, str]) -> None:
        """Limits the tables named `names` (logical id in template.yaml -> table name)."""
        with self.lock:
            self._tables |= {name: self._schemas[logical_id] for logical_id, name in names.items() if name}

    # --- upstream ---------------------------------------------------------------------------

    def send(self, body: bytes, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(self.upstream.netloc, timeout=60)
        try:
            connection.request("POST", "/", body, headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            connection.close()  # a kept-alive connection dynalite closed: once more on a new one
            connection.request("POST", "/", body, headers)
            response = connection.getresponse()
        return response.status, response.getheaders(), response.read()

    def _read_item(self, table: str, key: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        body = json.dumps({"TableName": table, "Key": key, "ConsistentRead": True}).encode()
        status, _, answer = self.send(body, headers | {"X-Amz-Target": "DynamoDB_20120810.GetItem"})
        with self.lock:
            self.stats.read_before += 1
        return json.loads(answer).get("Item", {}) if status == 200 else {}

    # --- one write ------------------------------------------------------------------------

    def _item_id(self, table: str, key: dict[str, Any]) -> tuple[str, str]:
        return table, json.dumps(key, sort_keys=True)

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in self._tables[table].keys}

    def _before(self, table: str, key: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            seen = self._items.get(self._item_id(table, key))
        return seen if seen is not None else self._read_item(table, key, headers)

    def plan(self, operation: str, request: dict[str, Any], headers: dict[str, str]):
        """(key, item after or None, charges) of one PutItem / UpdateItem / DeleteItem."""
        table = request["TableName"]
        key = request["Key"] if "Key" in request else self._key_of(table, request["Item"])
        if operation == "PutItem" and _creates_only(request, self._tables[table]):
            old = {}  # written only if there was no item: nothing to read first
        else:
            old = self._before(table, key, headers)
        if operation == "PutItem":
            new = request["Item"]
        elif operation == "UpdateItem":
            new = apply_update(old, request)
        else:
            new = None
        found = charges(table, self._tables[table], key, old, new)
        return key, new, found

    def remember(self, table: str, key: dict[str, Any], item: dict[str, Any] | None) -> None:
        with self.lock:
            if item is None:
                self._items.pop(self._item_id(table, key), None)
            elif any(v is UNKNOWN for v in item.values()):
                self._items.pop(self._item_id(table, key), None)  # read it again next time
            else:
                self._items[self._item_id(table, key)] = item

    def admit(self, found: list[Charge], unknown: bool = False) -> bool:
        with self.lock:
            admitted = self.buckets.take(found)
            if admitted:
                self.stats.unknown_keys += unknown
                for charge in found:
                    name = f"{charge.partition[0]}/{charge.partition[1] or '-'}"
                    self.stats.units[name] = self.stats.units.get(name, 0) + charge.units
            return admitted

    def refund(self, found: list[Charge]) -> None:
        with self.lock:
            self.buckets.give_back([c for c in found if c.index])
            for charge in found:
                if charge.index:
                    name = f"{charge.partition[0]}/{charge.partition[1]}"
                    self.stats.units[name] -= charge.units

    def stats_now(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.stats.as_dict()))

    def watched(self, table: str) -> bool:
        return table in self._tables


def throttled_answer() -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{THROTTLED}", "message": THROTTLED_MESSAGE})
    return 400, _headers(body.encode()), body.encode()


def _headers(body: bytes) -> list[tuple[str, str]]:
    # botocore checks x-amz-crc32 on DynamoDB answers when it is there: an answer made or
    # changed here carries its own.
    return [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
        ("x-amz-crc32", str(zlib.crc32(body))),
    ]


def _creates_only(request: dict[str, Any], schema: Schema) -> bool:
    """A put conditioned on its key not existing (the store's put): if it writes, it creates."""
    condition = request.get("ConditionExpression", "")
    names = request.get("ExpressionAttributeNames", {})
    for path in re.findall(r"attribute_not_exists\s*\(\s*([^)\s]+)\s*\)", condition):
        if names.get(path, path) == schema.hash_key and " OR " not in condition.upper():
            return True
    return False


def _unknown(found_item: dict[str, Any] | None, schema: Schema) -> bool:
    return found_item is not None and any(found_item.get(k) is UNKNOWN for index in schema.indexes for k in index.keys)


def handle(sim: Simulator, operation: str, body: bytes, headers: dict[str, str]):
    """The answer to one request: forwarded, throttled, or (a batch) partly forwarded."""
    with sim.lock:
        sim.stats.requests += 1
    if operation not in WRITES:
        return sim.send(body, headers)
    request = json.loads(body)
    if operation == "BatchWriteItem":
        return _batch(sim, request, headers)
    table = request["TableName"]
    if not sim.watched(table):
        return sim.send(body, headers)
    key, new, found = sim.plan(operation, request, headers)
    if not sim.admit(found, _unknown(new, sim._tables[table])):
        with sim.lock:
            sim.stats.throttled += 1
        return throttled_answer()
    with sim.lock:
        sim.stats.writes += 1
    status, answer_headers, answer = sim.send(body, headers)
    if status != 200:
        sim.refund(found)  # a failed condition: billed on the table, no index written
        failed = json.loads(answer)
        if "Item" in failed:  # ReturnValuesOnConditionCheckFailure: the item as it is
            sim.remember(table, key, failed["Item"])
        return status, answer_headers, answer
    attributes = json.loads(answer).get("Attributes") if request.get("ReturnValues") == "ALL_NEW" else None
    sim.remember(table, key, attributes if attributes is not None else new)
    return status, answer_headers, answer


def _batch(sim: Simulator, request: dict[str, Any], headers: dict[str, str]):
    """BatchWriteItem as DynamoDB throttles it: items beyond a partition's rate come back in
    `UnprocessedItems`; only a batch of which nothing could be written fails as a whole."""
    admitted: dict[str, list[dict[str, Any]]] = {}
    unprocessed: dict[str, list[dict[str, Any]]] = {}
    done: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    for table, writes in request["RequestItems"].items():
        for write in writes:
            if not sim.watched(table):
                admitted.setdefault(table, []).append(write)
                continue
            operation, item = (
                ("PutItem", write["PutRequest"]) if "PutRequest" in write else ("DeleteItem", write["DeleteRequest"])
            )
            key, new, found = sim.plan(operation, {"TableName": table, **item}, headers)
            if sim.admit(found):
                admitted.setdefault(table, []).append(write)
                done.append((table, key, new))
            else:
                unprocessed.setdefault(table, []).append(write)
    with sim.lock:
        sim.stats.throttled_items += sum(map(len, unprocessed.values()))
        if not admitted:
            sim.stats.throttled += 1
    if not admitted:
        return throttled_answer()
    with sim.lock:
        sim.stats.writes += 1
    status, answer_headers, answer = sim.send(json.dumps({**request, "RequestItems": admitted}).encode(), headers)
    if status != 200:
        return status, answer_headers, answer
    for table, key, new in done:
        sim.remember(table, key, new)
    if not unprocessed:
        return status, answer_headers, answer
    parsed = json.loads(answer)
    for table, writes in (parsed.get("UnprocessedItems") or {}).items():
        unprocessed.setdefault(table, []).extend(writes)
    body = json.dumps(parsed | {"UnprocessedItems": unprocessed}).encode()
    return status, _headers(body), body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects
    sim: Simulator

    def do_GET(self) -> None:
        """`/_stats`: the counts, for a bench that runs the proxy in a process of its own."""
        self._answer(200, [("Content-Type", "application/json")], json.dumps(self.sim.stats_now()).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/_watch":  # {"TasksTable": "tasks-1234", ...}
            self.sim.watch(json.loads(body))
            self._answer(200, [("Content-Type", "application/json")], b"{}")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        self._answer(*handle(self.sim, operation, body, headers))

    def _answer(self, status: int, answer_headers: list[tuple[str, str]], answer: bytes) -> None:
        self.send_response(status)
        for name, value in answer_headers:
            if name.lower() not in ("content-length", "connection", "date", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        pass  # one line per request would drown the bench's output


def serve(upstream: str, limit: float, port: int) -> None:
    """The proxy in the foreground: `python -m bench.partition_proxy UPSTREAM LIMIT PORT`. A bench
    runs it in its own process, so that its CPU is not taken from the bench's threads' GIL."""
    handler = type("Handler", (_Handler,), {"sim": Simulator(upstream, limit)})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.serve_forever()


@contextlib.contextmanager
def partition_proxy(
    upstream: str, limit: float = PARTITION_WRITE_UNITS, now: Any = time.monotonic
) -> Iterator[tuple[str, Simulator]]:
    """A proxy to the DynamoDB server at `upstream` with `limit` write units/s per partition
    (`now`: the buckets' clock, in seconds); yields its endpoint and its simulator (call `watch`
    with the tables to limit)."""
    sim = Simulator(upstream, limit, now)
    handler = type("Handler", (_Handler,), {"sim": sim})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="partition-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sim
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
