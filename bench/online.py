"""Online tasks on the local server (issue 11, point 7): a real `taskq serve` process (state in
a scratch folder, fsync per write, as `make serve` runs), spoken to over HTTP as producers and
workers do.

- `blocking`: the round trip's overhead beyond the worker's own time. One producer puts, a
  worker thread takes with a short poll (5 ms after an empty take) and completes at once:
  overhead = the put's latency minus the worker's own work (take answered -> complete sent;
  the take and the complete are the queue's time). Rounds run one after another; its parts
  are reported too: `pickup` (put sent -> take answered), the complete call, and `notice`
  (complete answered -> the producer's answer). `blocking_random_work` repeats it with the
  worker busy 0-500 ms: its complete then lands anywhere within the wait's poll interval, as
  a real worker's does, rather than just before the wait's first poll.
- `events`: a worker sends events at random 20-300 ms gaps; latency = the producer's SSE frame
  arriving minus the worker's POST /events returning.
- `many`: N producers wait at once (half blocking, half streaming) while two worker threads
  take them, send two events to each stream, and complete them: every answer must arrive, right.
- `requests`: DynamoDB requests per waiting producer-second, counted where the server makes
  them (counted_server.py): a few producers wait (the tasks waiting, then running), the count
  over a window divided by producers x seconds, less the server's background (sweeper,
  dispatcher) counted over a window before.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskq.online.rules import MAX_TIMEOUT_SECONDS
from taskq_local.processes import ROOT, free_port, wait_for_port

ADMIN_KEY = "bench-online-admin"
ENDPOINT = "/v1/chat/completions"
ROUNDS = 200
RANDOM_WORK_ROUNDS = 100
EVENTS = 200
WAITERS = 200
RATE_PRODUCERS = 4  # few enough that the server keeps up with their polls (at most 10 a second each)
RATE_SECONDS = 5.0
SETTLE_SECONDS = 2.0
WORKER_POLL_SECONDS = 0.005  # the worker's pause after an empty take
RANDOM_WORK_SECONDS = 0.5
EVENT_GAPS_SECONDS = (0.02, 0.3)
HTTP_TIMEOUT = 330  # beyond the longest blocking wait (300 s)


@dataclass(frozen=True)
class Sizes:
    rounds: int = ROUNDS
    random_work_rounds: int = RANDOM_WORK_ROUNDS
    events: int = EVENTS
    waiters: int = WAITERS
    rate_seconds: float = RATE_SECONDS


QUICK = Sizes(rounds=10, random_work_rounds=5, events=15, waiters=20, rate_seconds=1.0)


@dataclass(frozen=True)
class Server:
    base_url: str
    count_url: str

    def requests(self) -> Counter[str]:
        """DynamoDB requests the server has made so far, by operation."""
        with urllib.request.urlopen(self.count_url, timeout=10) as answer:
            return Counter(json.load(answer))


@contextlib.contextmanager
def local_server(nodelay: bool = False) -> Iterator[Server]:
    """`taskq serve` in a subprocess on a free port, its DynamoDB requests counted; `nodelay`
    turns Nagle's algorithm off on its connections (counted_server.py says why)."""
    port, count_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="taskq-bench-online-") as folder:
        env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_ENDPOINT"} | {
            "TASKQ_ADMIN_KEY": ADMIN_KEY,
            "TASKQ_DATA_DIR": folder,
            "BENCH_COUNT_PORT": str(count_port),
            "BENCH_TCP_NODELAY": "1" if nodelay else "",
        }
        command = [sys.executable, "-m", "bench.counted_server", "serve", "--quiet", "--port", str(port)]
        log = Path(folder) / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process, timeout=60)
            yield Server(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{count_port}/")
        except BaseException:
            print(log.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


class Client:
    """One keep-alive connection, as a producer's or a worker's HTTP client holds one."""

    def __init__(self, base_url: str) -> None:
        self._host = base_url.removeprefix("http://")
        self._connection = http.client.HTTPConnection(self._host, timeout=HTTP_TIMEOUT)

    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        """Sends a request; the response, its body not read yet."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"} | (headers or {})
        try:
            self._connection.request(method, path, data, headers)
            return self._connection.getresponse()
        except (http.client.HTTPException, ConnectionError):  # the server closed an idle connection
            self._connection.close()
            self._connection = http.client.HTTPConnection(self._host, timeout=HTTP_TIMEOUT)
            self._connection.request(method, path, data, headers)
            return self._connection.getresponse()

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        """(status, decoded JSON body, headers)."""
        answer = self.send(method, path, body, headers)
        raw = answer.read()
        return answer.status, (json.loads(raw) if raw else None), answer.headers

    def close(self) -> None:
        self._connection.close()


def put_body(queue: str, mode: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "queue": queue,
        "endpoint": ENDPOINT,
        "response_mode": mode,
        "data": data,
        "timeout": MAX_TIMEOUT_SECONDS[mode],
    }


def register(server: Server, queue: str) -> None:
    status, body, _ = Client(server.base_url).call("POST", "/v1/queue/register", {"queue": queue, "endpoint": ENDPOINT})
    assert status == 200, body


def read_frames(answer: http.client.HTTPResponse, on_frame: Callable[[dict[str, str]], None]) -> None:
    """Reads an SSE answer to its end, calling `on_frame` with each frame's fields as it arrives."""
    fields: dict[str, str] = {}
    while line := answer.readline():
        text = line.decode().rstrip("\n")
        if text:
            if not text.startswith(":"):
                name, _, value = text.partition(": ")
                fields[name] = value
        elif fields:
            on_frame(fields)
            fields = {}


class Worker(threading.Thread):
    """Takes tasks of `queue` with a short poll and hands each to `work(client, task)`, which
    completes it; records when each take was answered and each complete returned."""

    def __init__(self, server: Server, queue: str, work: Callable[[Client, dict[str, Any]], None], size: int = 1):
        super().__init__(daemon=True)
        self.client = Client(server.base_url)
        self.queue, self.work, self.size = queue, work, size
        self.taken_at: dict[str, float] = {}
        self.done_at: dict[str, float] = {}
        self.done = threading.Condition()
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        # The lease lasts as long as the task may (it never outlives expire_time): the benchmark
        # measures waits, not redeliveries.
        take = {"queues": [f"{self.queue}:0"], "size": self.size, "process_timeout": max(MAX_TIMEOUT_SECONDS.values())}
        while not self.stop.is_set():
            status, taken, _ = self.client.call("POST", "/v1/queue/take", take)
            at = time.perf_counter()
            if status != 200:
                self.errors.append(f"take {status} {taken}")
            tasks = (taken or {}).get(f"{self.queue}:0", []) if status == 200 else []
            if not tasks:
                time.sleep(WORKER_POLL_SECONDS)
                continue
            for task in tasks:
                self.taken_at[task["task_id"]] = at
                try:
                    self.work(self.client, task)
                except AssertionError as e:
                    self.errors.append(str(e))
                with self.done:
                    self.done_at[task["task_id"]] = time.perf_counter()
                    self.done.notify_all()

    def wait_done(self, task_id: str, timeout: float = 30) -> float:
        with self.done:
            assert self.done.wait_for(lambda: task_id in self.done_at, timeout), f"{task_id} never completed"
            return self.done_at[task_id]


def complete(client: Client, task: dict[str, Any], body: Any) -> None:
    path = f"/v1/queue/{task['task_id']}/complete"
    status, answer, _ = client.call("POST", path, {"status_code": 200, "body": body}, {"X-Lease-Id": task["lease_id"]})
    assert status == 200, f"complete {status} {answer}"


def send_events(client: Client, task: dict[str, Any], events: list[dict[str, Any]]) -> None:
    path = f"/v1/queue/{task['task_id']}/events"
    status, answer, _ = client.call("POST", path, {"events": events}, {"X-Lease-Id": task["lease_id"]})
    assert status == 200 and answer["accepted"] == len(events), f"events {status} {answer}"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(at(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def blocking(server: Server, rounds: int, work_seconds: float = 0.0) -> dict[str, Any]:
    queue = f"bench-blocking-{int(work_seconds * 1000)}"
    register(server, queue)
    completing: dict[str, float] = {}

    def work(client: Client, task: dict[str, Any]) -> None:
        if work_seconds:
            time.sleep(random.uniform(0, work_seconds))
        completing[task["task_id"]] = time.perf_counter()
        complete(client, task, {"n": task["data"]["n"]})

    worker = Worker(server, queue, work)
    worker.start()
    producer = Client(server.base_url)
    overhead, pickup, completes, notice = [], [], [], []
    for n in range(rounds):
        sent = time.perf_counter()
        answer = producer.send("POST", "/v1/queue/put", put_body(queue, "blocking", {"n": n}))
        body = json.loads(answer.read())
        answered = time.perf_counter()
        assert answer.status == 200 and body == {"n": n}, (answer.status, body)
        task_id = answer.headers["X-Task-Id"]
        done = worker.wait_done(task_id)
        taken = worker.taken_at[task_id]
        # The worker's own time is its work alone: its take and its complete are the queue's.
        overhead.append((answered - sent) - (completing[task_id] - taken))
        pickup.append(taken - sent)
        completes.append(done - completing[task_id])
        notice.append(answered - done)
    worker.stop.set()
    worker.join(10)
    assert not worker.errors, worker.errors
    return {
        "rounds": rounds,
        "worker_work_ms": f"0-{int(work_seconds * 1000)}" if work_seconds else "0",
        "overhead": percentiles(overhead),
        "pickup_p50_ms": percentiles(pickup)["p50_ms"],
        "complete_p50_ms": percentiles(completes)["p50_ms"],
        "notice_p50_ms": percentiles(notice)["p50_ms"],
    }


def events(server: Server, count: int) -> dict[str, Any]:
    queue = "bench-events"
    register(server, queue)
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    ended: list[dict[str, str]] = []

    def work(client: Client, task: dict[str, Any]) -> None:
        for i in range(count):
            time.sleep(random.uniform(*EVENT_GAPS_SECONDS))
            send_events(client, task, [{"id": f"e{i}", "event": "token", "data": str(i)}])
            sent[str(i)] = time.perf_counter()
        complete(client, task, {})

    def on_frame(fields: dict[str, str]) -> None:
        if fields.get("event") == "token":
            arrived[fields["data"]] = time.perf_counter()
        else:
            ended.append(fields)

    worker = Worker(server, queue, work)
    worker.start()
    answer = Client(server.base_url).send("POST", "/v1/queue/put", put_body(queue, "streaming", {}))
    assert answer.status == 200, answer.read()
    read_frames(answer, on_frame)
    worker.stop.set()
    worker.join(10)
    assert not worker.errors and not ended, (worker.errors, ended)
    assert sorted(arrived, key=int) == [str(i) for i in range(count)], "events lost or repeated"
    return {"events": count, "gap_ms": [int(g * 1000) for g in EVENT_GAPS_SECONDS]} | percentiles(
        [arrived[i] - sent[i] for i in sent]
    )


class Producer(threading.Thread):
    """One waiting producer of `many`: puts, waits for its answer, checks it."""

    def __init__(self, server: Server, queue: str, n: int) -> None:
        super().__init__(daemon=True)
        self.server, self.queue, self.n = server, queue, n
        self.mode = "streaming" if n % 2 else "blocking"
        self.error: str | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        client = Client(self.server.base_url)
        try:
            answer = client.send("POST", "/v1/queue/put", put_body(self.queue, self.mode, {"n": self.n}))
            if self.mode == "blocking":
                body = json.loads(answer.read())
                if (answer.status, body) != (200, {"n": self.n}):
                    self.error = f"blocking {answer.status} {body}"
            else:
                frames: list[dict[str, str]] = []
                read_frames(answer, frames.append)
                expected = [{"id": str(i), "event": "token", "data": f"{self.n}.{i}"} for i in (1, 2)]
                if answer.status != 200 or frames != expected:
                    self.error = f"streaming {answer.status} {frames}"
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            client.close()
        self.seconds = time.perf_counter() - started


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def waiting_tasks(server: Server, queue: str) -> int:
    _, stats, _ = Client(server.base_url).call("GET", f"/v1/queue/{queue}:0/stats")
    return stats["waiting"] if stats else 0


def many(server: Server, count: int, window: float) -> dict[str, Any]:
    """`count` producers waiting at once, then answered while workers take and complete."""
    queue = "bench-many"
    register(server, queue)

    def work(client: Client, task: dict[str, Any]) -> None:
        n = task["data"]["n"]
        if task["response_mode"] == "streaming":
            send_events(client, task, [{"id": f"{i}", "event": "token", "data": f"{n}.{i}"} for i in (1, 2)])
            complete(client, task, {})
        else:
            complete(client, task, {"n": n})

    producers = [Producer(server, queue, n) for n in range(count)]
    started = time.perf_counter()
    for producer in producers:
        producer.start()
    wait_until(lambda: waiting_tasks(server, queue) == count, 120, f"{count} tasks waiting")
    all_waiting = time.perf_counter() - started
    before = server.requests()
    time.sleep(window)
    rate = sum((server.requests() - before).values()) / (count * window)
    workers = [Worker(server, queue, work, size=10) for _ in range(2)]
    answering = time.perf_counter()
    for worker in workers:
        worker.start()
    for producer in producers:
        producer.join(HTTP_TIMEOUT)
    answered = time.perf_counter() - answering
    for worker in workers:
        worker.stop.set()
        worker.join(10)
    errors = [p.error or "no answer" for p in producers if p.error or p.is_alive()]
    errors += [e for worker in workers for e in worker.errors]
    return {
        "producers": count,
        "blocking": sum(p.mode == "blocking" for p in producers),
        "answered": sum(not p.is_alive() and p.error is None for p in producers),
        "errors": len(errors),
        "first_errors": errors[:5],
        "all_waiting_s": round(all_waiting, 1),
        "all_answered_s": round(answered, 1),
        "requests_per_producer_second_while_waiting": round(rate, 2),
    }


def requests(server: Server, producers: int, window: float) -> dict[str, Any]:
    """DynamoDB requests per waiting producer-second: the tasks waiting for a worker, then
    running (taken, not completed), each over `window` seconds right after the change (the
    polls' fastest phase), less the background counted over `window` with nobody waiting."""
    queue = "bench-requests"
    register(server, queue)
    client = Client(server.base_url)
    time.sleep(SETTLE_SECONDS)  # the dispatcher's counter writes for the earlier parts' tasks
    before = server.requests()
    time.sleep(window)
    background = server.requests() - before

    def counted() -> dict[str, Any]:
        before = server.requests()
        time.sleep(window)
        calls = server.requests() - before
        net = {op: round((calls[op] - background[op]) / window / producers, 2) for op in calls | background}
        return {
            "per_producer_second": round(sum(net.values()), 2),
            "gross_per_producer_second": round(sum(calls.values()) / window / producers, 2),
            "by_operation": net,
        }

    waiters = [Producer(server, queue, n) for n in range(producers)]
    for producer in waiters:
        producer.start()
    wait_until(lambda: waiting_tasks(server, queue) == producers, 60, f"{producers} tasks waiting")
    waiting = counted()
    take = {"queues": [f"{queue}:0"], "size": producers, "process_timeout": 300}
    _, taken, _ = client.call("POST", "/v1/queue/take", take)
    tasks = taken[f"{queue}:0"]
    assert len(tasks) == producers, len(tasks)
    running = counted()
    for task in tasks:
        n = task["data"]["n"]
        if task["response_mode"] == "streaming":
            send_events(client, task, [{"id": f"{i}", "event": "token", "data": f"{n}.{i}"} for i in (1, 2)])
            complete(client, task, {})
        else:
            complete(client, task, {"n": n})
    for producer in waiters:
        producer.join(HTTP_TIMEOUT)
    errors = [p.error or "no answer" for p in waiters if p.error or p.is_alive()]
    assert not errors, errors
    return {
        "producers": producers,
        "window_s": window,
        "background_per_s": round(sum(background.values()) / window, 2),
        "waiting": waiting,
        "running": running,
    }


def run(sizes: Sizes = Sizes()) -> dict[str, Any]:
    """BENCH_TCP_NODELAY=1 in the environment runs it on the experiment counted_server.py describes."""
    nodelay = bool(os.environ.get("BENCH_TCP_NODELAY"))
    started = time.perf_counter()
    with local_server(nodelay) as server:
        state = "embedded moto, state on disk, fsync per write"
        result: dict[str, Any] = {"server": f"taskq serve ({state}{', TCP_NODELAY' if nodelay else ''})"}
        result["tcp_nodelay"] = nodelay
        seconds = result["seconds"] = {"start": round(time.perf_counter() - started, 1)}
        parts: dict[str, Callable[[], dict[str, Any]]] = {
            "blocking": lambda: blocking(server, sizes.rounds),
            "blocking_random_work": lambda: blocking(server, sizes.random_work_rounds, RANDOM_WORK_SECONDS),
            "events": lambda: events(server, sizes.events),
            "requests": lambda: requests(server, RATE_PRODUCERS, sizes.rate_seconds),
            "many": lambda: many(server, sizes.waiters, sizes.rate_seconds),
        }
        for name, measure in parts.items():
            began = time.perf_counter()
            result[name] = measure()
            seconds[name] = round(time.perf_counter() - began, 1)
            print(f"    online {name}: {seconds[name]} s (load average {os.getloadavg()[0]:.2f})", flush=True)
    return result


def render(o: dict[str, Any], table: Callable[[list[str], list[list[Any]]], str]) -> str:
    rows = [
        [
            f"blocking overhead (worker busy {b['worker_work_ms']} ms)",
            b["overhead"]["p50_ms"],
            b["overhead"]["p99_ms"],
            f"p50s: pickup {b['pickup_p50_ms']}, complete {b['complete_p50_ms']}, notice {b['notice_p50_ms']} ms; "
            f"{b['rounds']} rounds",
        ]
        for b in (o["blocking"], o["blocking_random_work"])
    ]
    e = o["events"]
    rows.append(["event latency", e["p50_ms"], e["p99_ms"], f"{e['events']} events, max {e['max_ms']} ms"])
    r, m = o["requests"], o["many"]
    rows.append(
        [
            f"DynamoDB requests / producer-second ({r['producers']} producers)",
            "",
            "",
            f"waiting {r['waiting']['per_producer_second']}, running {r['running']['per_producer_second']} "
            f"(background {r['background_per_s']}/s subtracted; gross {r['waiting']['gross_per_producer_second']}, "
            f"{r['running']['gross_per_producer_second']})",
        ]
    )
    rows.append(
        [
            f"{m['producers']} waiting producers",
            "",
            "",
            f"{m['answered']} answered, {m['errors']} errors, all waiting after {m['all_waiting_s']} s, "
            f"answered in {m['all_answered_s']} s, {m['requests_per_producer_second_while_waiting']} req/producer-s",
        ]
    )
    return f"Online tasks on the local server ({o['server']})\n" + table(["measure", "p50 ms", "p99 ms", ""], rows)
