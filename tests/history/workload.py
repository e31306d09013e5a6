"""One run of the randomized workload: the template's tables on moto in-process, a manual clock,
faults injected into every actor's client, the actors under the baton scheduler, then the
settling phase (clock past every expiry, sweeps, the stream drained, callback retries done) and
the history checker. `run_seed(seed)` is the whole of it; everything is derived from the seed."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws

import taskq.ids
import taskq.take
from taskq.callbacks import CallbackGuard
from taskq.clearing import QueueClearer
from taskq.clock import ManualClock
from taskq.config import TableNames
from taskq.console import ConsoleService
from taskq.delivery import CallbackDispatcher, RetryPolicy
from taskq.models import QueueLevel
from taskq.requests import RegisterRequest, ShardsRequest
from taskq.service import QueueService
from taskq.store import DynamoStore
from taskq.sweeper import Sweeper
from taskq_dispatcher import wiring
from taskq_dispatcher.scheduled import run_scheduled_jobs
from taskq_local.template import create_tables
from tests.faults import FaultPlan, Kind, without_backoff
from tests.history.actors import ADMIN, ENDPOINT, FREE_QUEUES, SEQUENTIAL_QUEUES, Actor, Producer, Worker
from tests.history.checker import Violation, check, locks_held_by_holders
from tests.history.dispatch import Receiver, SettleLog, StreamFeed, StreamTap
from tests.history.model import Clear, History
from tests.history.scheduler import Scheduler

TABLES = TableNames(tasks="taskq-tasks", control="taskq-control", results="taskq-results", events="taskq-events")
LOGICAL_IDS = TABLES.by_logical_id()
# Per request; a TransactionConflict only ever hits TransactWriteItems.
FAULTS = {Kind.THROTTLE: 0.02, Kind.INTERNAL: 0.01, Kind.CONFLICT: 0.05, Kind.LOST: 0.03, Kind.DELAY: 0.03}
POLICY = RetryPolicy(backoff_seconds=1, max_attempts=3)
SETTLE_ROUNDS = 12


@dataclass(frozen=True)
class Shape:
    producers: int = 2
    workers: int = 3
    producer_steps: int = 14
    worker_steps: int = 10
    clears: int = 4  # some cancel nothing within the call: the takes' cached markers must hold (issue 16)
    faults: Mapping[Kind, float] = field(default_factory=lambda: dict(FAULTS))
    process_timeouts: tuple[int | None, ...] = (None, 5, 5, 10, 30)  # a take's, drawn per take
    heartbeats: tuple[int, ...] = (0, 1, 2, 3)  # before completing, drawn per task
    shards: int = 1  # ready shards of every queue-level from the start (issue 14)
    raise_shards_to: int | None = None  # raised to this by the clearer during the run, faults on


# Seeds ending in 7 race at lease ends: few actors, so the sweeper and the takers get many of
# the steps; short leases, heartbeats on every task.
LEASE_RACE = Shape(
    producers=1, workers=2, producer_steps=12, worker_steps=12, process_timeouts=(5,), heartbeats=(2, 3, 4)
)


# Sharded queue heads: every queue-level starts at 4 shards and is raised to 8 while puts and
# takes run, each instance seeing the raise only when it reads the registration again.
SHARDED = Shape(shards=4, raise_shards_to=8)


def shape_for(seed: int) -> Shape:
    return LEASE_RACE if seed % 10 == 7 else Shape()


@dataclass
class Outcome:
    seed: int
    violations: list[Violation]
    history: History
    plan: FaultPlan
    steps: int

    @property
    def requests(self) -> int:
        return sum(self.history.operations.values())


class SeededSecrets:
    """Stands in for `secrets` in taskq.ids: task and lease ids from the seed, so a replay
    orders candidates exactly as the run did."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"ids-{seed}")

    def token_hex(self, nbytes: int) -> str:
        return f"{self._rng.getrandbits(8 * nbytes):0{2 * nbytes}x}"


@contextlib.contextmanager
def seeded_randomness(seed: int) -> Iterator[None]:
    saved = taskq.ids.secrets, taskq.take._rng
    taskq.ids.secrets, taskq.take._rng = SeededSecrets(seed), random.Random(f"take-{seed}")
    try:
        yield
    finally:
        taskq.ids.secrets, taskq.take._rng = saved


class Run:
    def __init__(self, seed: int, shape: Shape) -> None:
        self.seed = seed
        self.shape = shape
        self.tables = TABLES
        self.clock = ManualClock()
        self.scheduler = Scheduler(seed, self.clock)
        self.history = History()
        self.plan = FaultPlan(seed=seed, rates=shape.faults, delay=self._in_flight)
        self.plan.before_request = lambda _: self.scheduler.point()
        self.capturing: dict[str, set[str]] = {}  # worker -> lease ids its current take sent
        self.shared_leases: list[tuple[str, str]] = []
        self.guard = CallbackGuard(allow_private=False, resolve=lambda host, port: ["93.184.215.14"])
        self.admin_client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(self.admin_client, LOGICAL_IDS, streams=True)
        self.store = DynamoStore(self.admin_client, TABLES)  # no faults: setup and the checker
        self.tap = StreamTap(self.admin_client, TABLES.tasks)
        self.feed = StreamFeed(self.tap, self.history, random.Random(f"feed-{seed}"))

    def _in_flight(self, operation: str) -> None:
        """A delayed request: others take several steps (and the clock moves) before it is sent,
        as a slow network would let them: the gap between a read and its write widens."""
        for _ in range(self.scheduler.draw(1, 8)):
            self.scheduler.point(jump_s=1)

    def client(self, actor: str, attempts: int = 3) -> Any:
        config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
        client = boto3.client("dynamodb", region_name="us-east-1", config=config)
        without_backoff(client)

        def capture(params: dict[str, Any], **_: Any) -> None:
            if actor in self.capturing:
                self.capturing[actor].update(_lease_ids(params))

        client.meta.events.register("before-parameter-build.dynamodb", capture)
        return self.plan.attach(client)

    def service(self, actor: str) -> QueueService:
        return QueueService(DynamoStore(self.client(actor), TABLES), self.clock, actor, callback_guard=self.guard)

    def actor(self, cls: type[Actor], name: str) -> Actor:
        return cls(name, self.seed, self.service(name), self.history, self)

    def execute(self) -> Outcome:
        setup = QueueService(self.store, self.clock, "setup", callback_guard=self.guard)
        for name in {q.split(":")[0] for q in FREE_QUEUES + SEQUENTIAL_QUEUES}:
            setup.register(ADMIN, RegisterRequest(queue=name, endpoint=ENDPOINT))
        if self.shape.shards > 1:
            for queue in FREE_QUEUES + SEQUENTIAL_QUEUES:
                setup.raise_shards(ADMIN, queue, ShardsRequest(shards=self.shape.shards))
        # Odd seeds run the dispatcher without SDK retries: every fault reaches the handler, and
        # Lambda's retries of the batch (shorter or longer) take over.
        dispatch_store = DynamoStore(self.client("dispatcher", attempts=1 if self.seed % 2 else 3), TABLES)
        receiver = Receiver(self.seed, self.scheduler, self.clock, self.history)
        dispatcher = CallbackDispatcher(
            dispatch_store, self.clock, receiver, POLICY, SettleLog(self.history), workers=1
        )
        wiring.use(wiring.Wiring(dispatch_store, self.clock, dispatcher, QueueClearer(dispatch_store, self.clock)))
        try:
            self._spawn(dispatch_store)
            self.scheduler.run()
            for name, error in self.scheduler.errors:
                self.history.unexpected.append((name, "actor", repr(error)))
            self.plan.enabled = False
            running = check(self, phase="end of run")
            self._settle(dispatch_store)
            violations = running + check(self, phase="settled")
        finally:
            wiring.use(None)
        return Outcome(self.seed, violations, self.history, self.plan, self.scheduler.steps)

    def _spawn(self, dispatch_store: DynamoStore) -> None:
        shape, scheduler = self.shape, self.scheduler
        for i in range(shape.producers):
            producer = self.actor(Producer, f"producer{i}")
            scheduler.spawn(producer.name, lambda p=producer: p.run(shape.producer_steps))
        for i in range(shape.workers):
            worker = self.actor(Worker, f"worker{i}")
            scheduler.spawn(worker.name, lambda w=worker: w.run(shape.worker_steps))
        clearer = Actor("clearer", self.seed, None, self.history, self)  # type: ignore[arg-type]
        clear_store = DynamoStore(self.client("clearer"), TABLES)
        console = ConsoleService(clear_store, self.clock)
        partial = QueueClearer(clear_store, self.clock)
        raiser = self.service("clearer")
        scheduler.spawn("clearer", lambda: self._clear(clearer, console, partial, raiser))
        sweeper = Actor("sweeper", self.seed, None, self.history, self)  # type: ignore[arg-type]
        sweep = Sweeper(DynamoStore(self.client("sweeper"), TABLES), self.clock)
        scheduler.spawn("sweeper", lambda: self._loop(sweeper, "sweep", sweep.sweep), foreground=False)
        stream = Actor("stream", self.seed, None, self.history, self)  # type: ignore[arg-type]
        scheduler.spawn("stream", lambda: self._loop(stream, "stream batch", self.feed.step), foreground=False)
        scheduler.spawn("monitor", self._monitor, foreground=False)
        jobs = Actor("scheduled", self.seed, None, self.history, self)  # type: ignore[arg-type]
        scheduler.spawn("scheduled", lambda: self._loop(jobs, "scheduled jobs", run_scheduled_jobs), foreground=False)

    def _loop(self, actor: Actor, operation: str, step: Any) -> None:
        while self.scheduler.foreground_running():
            actor.call(operation, step)
            self.scheduler.point(jump_s=actor.rng.choice((0, 0, 0, 5)))

    def _monitor(self) -> None:
        """Checks the state invariants between steps (its reads are no scheduling points)."""
        seen = set()
        while self.scheduler.foreground_running():
            for violation in locks_held_by_holders(self):
                if (violation.invariant, violation.task_id) not in seen:
                    seen.add((violation.invariant, violation.task_id))
                    self.history.monitored.append(violation)
                    self.history.log(violation.task_id, self.clock.now_ms(), "monitor", str(violation))
            self.scheduler.point()

    def _clear(self, clearer: Actor, console: ConsoleService, partial: QueueClearer, raiser: QueueService) -> None:
        """Clears through the console (cancels every covered task within the call), or, as a
        clear too big for its call does, cancels none before answering and leaves them to the
        scheduled job: then only the takes' markers keep the covered tasks from being handed out."""
        for i in range(self.shape.clears):
            for _ in range(clearer.rng.randint(5, 40)):
                self.scheduler.point()
            if i == 1 and self.shape.raise_shards_to is not None:
                self._raise_shards(clearer, raiser, self.shape.raise_shards_to)
            queue = clearer.rng.choice(FREE_QUEUES + SEQUENTIAL_QUEUES)
            began = self.clock.now_ms()
            if clearer.rng.random() < 0.5:
                answer = clearer.call("clear", lambda q=queue: console.clear(ADMIN, q))
            else:
                answer = clearer.call("clear", lambda q=queue: partial.clear(QueueLevel.parse(q), sync_limit=0))
            if isinstance(answer, tuple | bool):  # answered (not a fault, not a domain error)
                self.history.clears.append(Clear(queue, began, self.clock.now_ms()))

    def _raise_shards(self, clearer: Actor, raiser: QueueService, shards: int) -> None:
        """Raises every queue-level's shards between two clears: the clears after it must cover
        the new shards too, and the tasks put into them must still be handed out."""
        for queue in FREE_QUEUES + SEQUENTIAL_QUEUES:
            request = ShardsRequest(shards=shards)
            clearer.call("raise shards", lambda q=queue, r=request: raiser.raise_shards(ADMIN, q, r))

    def _settle(self, dispatch_store: DynamoStore) -> None:
        """No more faults: past every expiry, sweep, drain the stream, run the retry job, until
        nothing is left to do (or SETTLE_ROUNDS passed: the checker then says what is stuck)."""
        settler = Actor("settle", self.seed, None, self.history, self)  # type: ignore[arg-type]
        self.feed.step()
        inserts = [r["dynamodb"]["NewImage"] for r in self.history.stream_records if r["eventName"] == "INSERT"]
        expiries = [int(image["expire_time"]["N"]) for image in inserts]
        self.clock.advance(ms=max(0, max(expiries, default=0) + 1 - self.clock.now_ms()))
        sweep = Sweeper(self.store, self.clock)
        for _ in range(SETTLE_ROUNDS):
            settler.call("sweep", sweep.sweep)
            self._drain()
            settler.call("scheduled jobs", run_scheduled_jobs)
            self._drain()
            self.clock.advance(seconds=61)

    def _drain(self) -> None:
        for _ in range(1000):
            if not self.feed.step():
                return


def _lease_ids(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith("LEASE-"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _lease_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _lease_ids(item)


def run_seed(seed: int, shape: Shape | None = None) -> Outcome:
    with mock_aws(), seeded_randomness(seed):
        return Run(seed, shape or shape_for(seed)).execute()
