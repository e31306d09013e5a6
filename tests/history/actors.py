"""The actors of a run: producers, workers, a clearer (foreground: the run ends when they are
done), and the sweeper, the stream dispatcher and the scheduled job (background: they loop while
the foreground runs). Each drives the domain through the service layer with its own client, as
separate Lambda instances would, and records what it was answered."""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from taskq import batched
from taskq.errors import LeaseConflict, TaskqError
from taskq.models import Principal, Role, Strategy
from taskq.requests import HeartbeatRequest, PutRequest, RetryRequest, TakeRequest
from taskq.service import QueueService
from taskq.store.transitions import INLINE_RESULT_BYTES
from tests.history.checker import Violation
from tests.history.model import HandOut, History, Lease, Put

ENDPOINT = "/v1/chat/completions"
CALLBACK_URL = "https://receiver.example/callback"
FREE_QUEUES = ("jobs:1", "jobs:2", "mail:1")  # taken with fifo, round_robin, active_passive
SEQUENTIAL_QUEUES = ("seq:1", "seq:2")  # taken with sequential only: one running task at a time
WORKER = Principal("ak-worker", Role.WORKER)
ADMIN = Principal("ak-admin", Role.ADMIN)
PUT_BATCH_SHARE = 0.3  # puts sent as a put-batch of 1-4 items
STATUS_CODES = (200, 200, 201, "200", None, 500, 404, "503")
# Some results too large to be stored on the task: written to the Results table, then the status.
LARGE_RESULT_SHARE = 0.15
LARGE_PADDING = "x" * INLINE_RESULT_BYTES

T = TypeVar("T")
NO_ANSWER = object()


class Actor:
    """What every actor shares: its name, RNG, service, the clock and the history."""

    def __init__(self, name: str, seed: int, service: QueueService, history: History, context: Any) -> None:
        self.name = name
        self.rng = random.Random(f"{name}-{seed}")
        self.service = service
        self.history = history
        self.ctx = context  # the run: clock, scheduler, shared leases

    def now(self) -> int:
        return self.ctx.clock.now_ms()

    def call(self, operation: str, fn: Callable[[], T]) -> T | TaskqError | object:
        """The answer, the domain error (a 4xx), or NO_ANSWER when a fault reached the caller (a
        500 or a timeout: the outcome is unknown). Anything else is a bug, recorded."""
        self.history.operations[operation] += 1
        try:
            return fn()
        except TaskqError as error:
            return error
        except (ClientError, BotoCoreError) as error:
            self.history.surfaced[f"{operation}: {type(error).__name__}"] += 1
            return NO_ANSWER
        except Exception:
            self.history.unexpected.append((self.name, operation, traceback.format_exc()))
            return NO_ANSWER


class Producer(Actor):
    def run(self, steps: int) -> None:
        principal = Principal(f"ak-{self.name}", Role.PRODUCER)
        mine: list[str] = []
        for i in range(steps):
            if mine and self.rng.random() < 0.12:
                self.cancel(principal, self.rng.choice(mine))
            else:
                mine += self.put(principal, i)
            self.ctx.scheduler.point()

    def put(self, principal: Principal, i: int) -> list[str]:
        if self.rng.random() < PUT_BATCH_SHARE:
            return self.put_batch(principal, i)
        request = self.request(i)
        key = f"{self.name}-{i}" if self.rng.random() < 0.4 else None
        sends = 1 if key is None else self.rng.choice((1, 2, 3))  # a client repeats a keyed put
        acknowledged = []
        for _ in range(sends):
            answer = self.call("put", lambda: self.service.put(principal, request, key))
            if isinstance(answer, str):
                self.acknowledge(principal, answer, key, f"put {request.queue}:{request.level}")
                acknowledged.append(answer)
        return acknowledged[:1]

    def request(self, i: int, part: int = 0) -> PutRequest:
        name, level = self.rng.choice(FREE_QUEUES + SEQUENTIAL_QUEUES).split(":")
        return PutRequest(
            queue=name,
            endpoint=ENDPOINT,
            level=int(level),
            data={"n": i, "part": part, "by": self.name},
            callback_url=CALLBACK_URL if self.rng.random() < 0.5 else "",
            timeout=self.rng.choice((30, 60, 120, 300)),
        )

    def put_batch(self, principal: Principal, i: int) -> list[str]:
        """put-batch (spec §3.13): a few items, some keyed; a client repeats a batch with keys."""
        items = []
        for part in range(self.rng.randint(1, 4)):
            key = f"{self.name}-{i}-{part}" if self.rng.random() < 0.6 else None
            items.append(self.request(i, part).model_dump(mode="json") | ({"idempotency_key": key} if key else {}))
        keyed = any("idempotency_key" in item for item in items)
        first: dict[int, str] = {}
        for _ in range(self.rng.choice((1, 2, 3)) if keyed else 1):
            answer = self.call("put-batch", lambda: batched.put_batch(self.service, principal, items))
            if not isinstance(answer, list):
                continue
            for n, (item, entry) in enumerate(zip(items, answer, strict=True)):
                if "task_id" in entry:
                    where = f"put-batch item {n} {item['queue']}:{item['level']}"
                    self.acknowledge(principal, entry["task_id"], item.get("idempotency_key"), where)
                    first.setdefault(n, entry["task_id"])
        return list(first.values())

    def acknowledge(self, principal: Principal, task_id: str, key: str | None, what: str) -> None:
        self.history.puts.append(Put(self.name, principal.ak, task_id, key, self.now()))
        self.history.log(task_id, self.now(), self.name, f"{what} key={key} acknowledged")

    def cancel(self, principal: Principal, task_id: str) -> None:
        self.history.cancel_sent.setdefault(task_id, self.now())
        answer = self.call("cancel", lambda: self.service.cancel(principal, task_id))
        self.history.log(task_id, self.now(), self.name, f"cancel -> {_show(answer)}")
        if answer == task_id:
            self.history.cancelled.add(task_id)


class Worker(Actor):
    def run(self, steps: int) -> None:
        for _ in range(steps):
            shared = self.ctx.shared_leases
            if shared and self.rng.random() < 0.3:
                task_id, lease_id = shared.pop(self.rng.randrange(len(shared)))
                self.complete(task_id, lease_id, None)  # a second complete under someone's lease
            for task in self.take():
                self.work_on(task)
            self.ctx.scheduler.point()

    def take(self) -> list[dict[str, Any]]:
        if self.rng.random() < 0.35:
            queues, strategy = self.rng.sample(SEQUENTIAL_QUEUES, self.rng.randint(1, 2)), Strategy.SEQUENTIAL
        else:
            queues = self.rng.sample(FREE_QUEUES, self.rng.randint(1, 3))
            strategy = self.rng.choice((Strategy.FIFO, Strategy.ROUND_ROBIN, Strategy.ACTIVE_PASSIVE))
        request = TakeRequest(
            queues=queues,
            strategy=strategy,
            size=self.rng.randint(1, 5),
            process_timeout=self.rng.choice(self.ctx.shape.process_timeouts),
            process_max_retries=self.rng.choice((-1, 0, 1, 2, 3)),
        )
        self.ctx.capturing[self.name] = captured = set()
        began = self.now()
        try:
            answer = self.call("take", lambda: self.service.take(WORKER, request))
        finally:
            del self.ctx.capturing[self.name]
        if not isinstance(answer, dict):
            self.history.unanswered_leases |= captured
            return []
        now = self.now()
        tasks = []
        for task in (task for by_queue in answer.values() for task in by_queue):
            if "lease_id" not in task:  # the answer must say under which lease the task now runs
                detail = f"answered {task['status']}, without a lease"
                self.history.monitored.append(
                    Violation("a take answers tasks running under its lease", task["task_id"], detail)
                )
                self.history.log(task["task_id"], now, self.name, f"take {detail}")
                continue
            tasks.append(task)
        for task in tasks:
            queue = f"{task['queue']}:{task['level']}"
            self.history.hand_outs.append(HandOut(task["task_id"], queue, task["start_time"], task["attempts"], began))
            lease = Lease(task["task_id"], task["lease_id"], f"{task['queue']}:{task['level']}", self.name)
            lease.believed(now, task["lease_expire_time"])
            self.history.leases[lease.lease_id] = lease
            self.ctx.scheduler.note_deadline(task["lease_expire_time"])
            self.history.log(
                task["task_id"], now, self.name, f"took {lease.lease_id} until {task['lease_expire_time']}"
            )
        return tasks

    def work_on(self, task: dict[str, Any]) -> None:
        task_id, lease = task["task_id"], self.history.leases[task["lease_id"]]
        if self.rng.random() < 0.15:
            self.history.log(task_id, self.now(), self.name, "abandons the task (crash)")
            return
        for _ in range(self.rng.choice(self.ctx.shape.heartbeats)):
            self.ctx.scheduler.point(jump_s=self.rng.choice((0, 2, 4, 8)))
            if not self.heartbeat(task_id, lease):
                return
        if self.rng.random() < 0.05:
            self.ctx.shared_leases.append((task_id, lease.lease_id))
        if self.rng.random() < 0.2:  # a twin completes under the same lease, side by side
            twin = Worker(f"{self.name}-twin-{lease.lease_id}", self.ctx.seed, self.service, self.history, self.ctx)
            self.ctx.scheduler.spawn(twin.name, lambda: twin.complete(task_id, lease.lease_id, None))
        self.ctx.scheduler.point()
        if self.rng.random() < 0.25:
            self.retry(task_id, lease)
        else:
            self.complete(task_id, lease.lease_id, lease)

    def heartbeat(self, task_id: str, lease: Lease) -> bool:
        request = HeartbeatRequest(process_timeout=self.rng.choice((None, 5, 30)))
        answer = self.call("heartbeat", lambda: self.service.heartbeat(WORKER, task_id, lease.lease_id, request))
        now = self.now()
        self.history.log(task_id, now, self.name, f"heartbeat {lease.lease_id} -> {_show(answer)}")
        if isinstance(answer, dict):
            lease.believed(now, answer["lease_expire_time"])
            self.ctx.scheduler.note_deadline(answer["lease_expire_time"])
        return not isinstance(answer, LeaseConflict)

    def complete(self, task_id: str, lease_id: str, lease: Lease | None) -> None:
        result: dict[str, Any] = {"status_code": self.rng.choice(STATUS_CODES), "by": self.name}
        if result["status_code"] is None:
            del result["status_code"]
        if self.rng.random() < LARGE_RESULT_SHARE:
            result["padding"] = LARGE_PADDING
        for _ in range(self.rng.choice((1, 1, 2))):  # a client may repeat a complete it got no answer to
            if lease is not None:
                lease.end(self.now())
            answer = self.call("complete", lambda r=result: self.service.complete(WORKER, task_id, r, lease_id))
            self.history.log(task_id, self.now(), self.name, f"complete {lease_id} {_brief(result)} -> {_show(answer)}")
            if answer == task_id:
                self.history.completed.append((task_id, lease_id, result))
                return
            if answer is not NO_ANSWER:
                return
            result = {"status_code": self.rng.choice(STATUS_CODES), "by": self.name, "repeat": True}

    def retry(self, task_id: str, lease: Lease) -> None:
        lease.end(self.now())
        request = RetryRequest(delay_seconds=self.rng.choice((0, 0, 2, 10)), reason="checker")
        answer = self.call("retry", lambda: self.service.retry(WORKER, task_id, lease.lease_id, request))
        self.history.log(task_id, self.now(), self.name, f"retry {lease.lease_id} -> {_show(answer)}")


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return result | {"padding": f"<{len(result['padding'])} x>"} if "padding" in result else result


def _show(answer: object) -> str:
    if answer is NO_ANSWER:
        return "no answer (fault)"
    if isinstance(answer, TaskqError):
        return f"{type(answer).__name__} {answer.status}"
    return "ok"
