"""The invariants a run must keep, checked over what the actors were answered (the history), the
Tasks stream (the ground truth of every item change) and the tables.

At the end of the run (before settling): no task is running under a lease no worker was given,
and every live sequential lock is held by its running task. Once settled: every acknowledged put
exists and is final; never two live leases on one task at one instant; at most one running task
per sequential queue at any instant; a final status never changes; the stored result agrees with
the status; acknowledged completes and cancels hold; counters equal the truth; each callback
succeeded at most once, and every finished task with a callback_url was delivered or
dead-lettered; no task of a clear that answered is handed out; no actor met an error that is
not a domain answer or an injected fault.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

from taskq.leases import TIMEOUT_RESULT_KEY
from taskq.models import QueueLevel, Status, Task
from taskq.service import final_status_of
from taskq.store.codec import from_item
from taskq.store.keys import lock_key

if TYPE_CHECKING:
    from tests.history.workload import Run

SEQUENTIAL = ("seq:1", "seq:2")


@dataclass(frozen=True)
class Violation:
    invariant: str
    task_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: task {self.task_id or '-'}: {self.detail}"


def check(run: Run, phase: str) -> list[Violation]:
    tasks = _tasks(run)
    if phase == "end of run":
        return _stranded(run, tasks) + locks_held_by_holders(run, tasks) + run.history.monitored
    return (
        _puts(run, tasks)
        + _settled(tasks)
        + _leases(run)
        + _final_never_changes(run)
        + _results(run, tasks)
        + _acknowledged(run, tasks)
        + _counters(run, tasks)
        + _callbacks(run, tasks)
        + _clears(run)
        + [
            Violation("no unexpected error", "", f"{actor} {op}: {trace}")
            for actor, op, trace in run.history.unexpected
        ]
    )


def _tasks(run: Run) -> dict[str, Task]:
    run.feed.step()  # the records up to now are the list of every task put
    ids = {r["dynamodb"]["Keys"]["task_id"]["S"] for r in run.history.stream_records}
    ids |= {p.task_id for p in run.history.puts}
    found = {task_id: run.store.get_task(task_id) for task_id in sorted(ids)}
    return {task_id: task for task_id, task in found.items() if task is not None}


def _stranded(run: Run, tasks: dict[str, Task]) -> list[Violation]:
    known = run.history.leases.keys() | run.history.unanswered_leases
    return [
        Violation("no task stranded", t.task_id, f"running under {t.lease_id}, which no take answered")
        for t in tasks.values()
        if t.status is Status.RUNNING and t.lease_id not in known
    ]


def locks_held_by_holders(run: Run, tasks: dict[str, Task] | None = None) -> list[Violation]:
    """A state invariant, true at every instant (the lock and its task change in one
    transaction): a live lock names a running task whose lease ends when the lock does."""
    found = []
    now = run.clock.now_ms()
    for queue in SEQUENTIAL:
        item = run.admin_client.get_item(
            TableName=run.tables.control, Key=lock_key(QueueLevel.parse(queue)), ConsistentRead=True
        ).get("Item")
        if item is None or int(from_item(item)["expires_at"]) <= now:
            continue
        lock = from_item(item)
        holder = tasks.get(lock["task_id"]) if tasks is not None else run.store.get_task(lock["task_id"])
        if holder is None or holder.status is not Status.RUNNING or holder.lease_expire_time != int(lock["expires_at"]):
            state = "missing" if holder is None else f"{holder.status.value}, lease end {holder.lease_expire_time}"
            found.append(
                Violation(
                    "sequential lock held by its running task",
                    lock["task_id"],
                    f"{queue} lock until {lock['expires_at']}; holder {state}",
                )
            )
    return found


def _puts(run: Run, tasks: dict[str, Task]) -> list[Violation]:
    found = [
        Violation("acknowledged put exists", p.task_id, f"put by {p.actor} acknowledged, no such task")
        for p in run.history.puts
        if p.task_id not in tasks
    ]
    by_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in run.history.puts:
        if p.idempotency_key is not None:
            by_key[(p.ak, p.idempotency_key)].add(p.task_id)
    for (ak, key), ids in by_key.items():
        if len(ids) > 1:
            found.append(Violation("one task per Idempotency-Key", min(ids), f"{ak} key {key}: answered {sorted(ids)}"))
    return found


def _settled(tasks: dict[str, Task]) -> list[Violation]:
    return [
        Violation("every task final once settled", t.task_id, f"{t.status.value} after settling")
        for t in tasks.values()
        if not t.status.is_final
    ]


def _leases(run: Run) -> list[Violation]:
    history, found = run.history, []
    for lease in history.leases.values():
        if lease.task_id in history.cancel_sent and lease.task_id in history.cancelled:
            lease.end(history.cancel_sent[lease.task_id])  # a cancel ends the lease its holder knows
    by_task, by_queue = defaultdict(list), defaultdict(list)
    for lease in history.leases.values():
        by_task[lease.task_id].append(lease)
        if lease.queue in SEQUENTIAL:
            by_queue[lease.queue].append(lease)
    for task_id, leases in by_task.items():
        for a, b in combinations(leases, 2):
            if (both := a.overlap(b)) is not None:
                detail = f"{a.lease_id} ({a.actor}) and {b.lease_id} ({b.actor}) both live over {both}"
                found.append(Violation("one live lease per task", task_id, detail))
    for queue, leases in by_queue.items():
        for a, b in combinations(leases, 2):
            if a.task_id != b.task_id and (both := a.overlap(b)) is not None:
                detail = f"{queue}: {a.task_id} ({a.actor}) and {b.task_id} ({b.actor}) both running over {both}"
                found.append(Violation("one running task per sequential queue", a.task_id, detail))
    return found


def _final_never_changes(run: Run) -> list[Violation]:
    found = []
    for record in run.history.stream_records:
        images = record["dynamodb"]
        old, new = images.get("OldImage"), images.get("NewImage")
        if old and new and Status(old["status"]["S"]).is_final and old["status"] != new["status"]:
            detail = f"{old['status']['S']} -> {new['status']['S']} (record {images['SequenceNumber']})"
            found.append(Violation("a final status never changes", new["task_id"]["S"], detail))
    return found


def _results(run: Run, tasks: dict[str, Task]) -> list[Violation]:
    found = []
    for t in tasks.values():
        if t.status not in (Status.SUCCEEDED, Status.FAILED, Status.TIMEOUT):
            continue
        result = run.store.task_result(t.task_id, t.result_lease, t) if t.result_lease else None
        if result is None:
            found.append(Violation("stored result agrees with status", t.task_id, f"{t.status.value}, no result"))
            continue
        expected = Status.TIMEOUT if t.result_lease == TIMEOUT_RESULT_KEY else final_status_of(result)
        if expected is not t.status:
            detail = f"status {t.status.value}, result {result} (under {t.result_lease})"
            found.append(Violation("stored result agrees with status", t.task_id, detail))
    return found


def _acknowledged(run: Run, tasks: dict[str, Task]) -> list[Violation]:
    found = []
    for task_id, lease_id, result in run.history.completed:
        t = tasks[task_id]
        if t.status not in (Status.SUCCEEDED, Status.FAILED) or t.result_lease != lease_id:
            detail = f"complete {result} under {lease_id} answered 200; task {t.status.value} under {t.result_lease}"
            found.append(Violation("an acknowledged complete holds", task_id, detail))
    for task_id in run.history.cancelled:
        if tasks[task_id].status is not Status.CANCELLED:
            detail = f"cancel answered 202; task {tasks[task_id].status.value}"
            found.append(Violation("an acknowledged cancel holds", task_id, detail))
    return found


def _counters(run: Run, tasks: dict[str, Task]) -> list[Violation]:
    truth: dict[str, Counter[str]] = defaultdict(Counter)
    for t in tasks.values():
        counts = truth[str(t.queue_level)]
        counts[t.status.value] += 1
        counts["total_put_cnt"] += 1
        counts["total_taken_cnt"] += t.attempts
        counts["total_completed_cnt"] += t.status in (Status.SUCCEEDED, Status.FAILED, Status.TIMEOUT)
    stored = {str(queue): counters for queue, counters in run.store.all_queue_stats()}
    found = []
    for queue in sorted(truth.keys() | stored.keys()):
        have = {k: v for k, v in stored.get(queue, {}).items() if v}
        want = {k: v for k, v in truth[queue].items() if v}
        if have != want:
            diff = {
                k: (have.get(k, 0), want.get(k, 0))
                for k in sorted(have.keys() | want.keys())
                if have.get(k) != want.get(k)
            }
            found.append(Violation("counters equal the truth", "", f"{queue} (stored, true): {diff}"))
    return found


def _callbacks(run: Run, tasks: dict[str, Task]) -> list[Violation]:
    found = []
    successes = Counter(p.task_id for p in run.history.posts if p.ok)
    for task_id, count in successes.items():
        if count > 1 and task_id not in run.history.unsettled:
            found.append(Violation("a callback succeeds at most once", task_id, f"{count} successful POSTs"))
    for post in run.history.posts:
        task = tasks.get(post.task_id)
        if task is not None and post.task_status != task.status.value:
            detail = f"POST said {post.task_status}, task is {task.status.value}"
            found.append(Violation("a callback tells the final status", post.task_id, detail))
    for t in tasks.values():
        if not t.callback_url or t.status not in (Status.SUCCEEDED, Status.FAILED, Status.TIMEOUT):
            continue
        state = (run.store.delivery_state(t.task_id) or {}).get("state")
        if state not in ("delivered", "dead"):
            found.append(Violation("a callback is delivered or dead-lettered", t.task_id, f"delivery {state}"))
        elif state == "delivered" and not successes[t.task_id]:
            found.append(
                Violation("a callback is delivered or dead-lettered", t.task_id, "delivered, never POSTed 2xx")
            )
    return found


def _clears(run: Run) -> list[Violation]:
    """Spec §3.10: from the moment a clear answers, none of its tasks is handed out. Judged on
    what is sure from the history: a take that began after the answer handing out, for the
    first time, a task of the cleared queue-level whose put was acknowledged before the clear
    began (so it was waiting when the marker was stored; a put still in flight when the clear
    began may land after it, and is then not the clear's). Takes cache markers
    (taskq/marker_cache.py): this is their bound."""
    acknowledged: dict[str, int] = {}
    for put in run.history.puts:
        acknowledged[put.task_id] = min(put.acknowledged_at, acknowledged.get(put.task_id, put.acknowledged_at))
    return [
        Violation(
            "no task of a clear that answered is handed out",
            h.task_id,
            f"{h.queue} cleared at {c.began} (answered {c.answered}); put at {h.start_time}, acknowledged at "
            f"{acknowledged[h.task_id]}, handed out by a take begun at {h.take_began}",
        )
        for c in run.history.clears
        for h in run.history.hand_outs
        if h.queue == c.queue
        and acknowledged.get(h.task_id, c.began) < c.began
        and h.attempts == 1
        and h.take_began > c.answered
    ]


def replay_command(seed: int) -> str:
    return f"SOAK_SEED={seed} make soak"


def report(outcome: Any, command: str) -> str:
    """What a failing seed prints: each violation, the task's history and stream, the faults."""
    lines = [f"seed {outcome.seed}: {len(outcome.violations)} violation(s)"]
    for v in outcome.violations[:10]:
        lines.append(f"\n* {v}")
        if v.task_id:
            lines += [f"    {e}" for e in outcome.history.events.get(v.task_id, [])]
            lines += [
                f"    stream: {_transition(r)}" for r in outcome.history.stream_records if _task_of(r) == v.task_id
            ]
    if any(v.invariant.startswith("counters") for v in outcome.violations):
        lines.append("\nstream batches (sequence numbers' last digits):")
        lines += [f"    {b}" for b in outcome.history.batches]
    lines.append(f"\nfaults injected ({sum(outcome.plan.counts().values())}): {dict(outcome.plan.counts())}")
    lines += [f"    {fault}" for fault in outcome.plan.injected[:200]]
    lines.append(f"replay: {command}")
    return "\n".join(lines)


def _task_of(record: dict[str, Any]) -> str:
    return record["dynamodb"]["Keys"]["task_id"]["S"]


def _transition(record: dict[str, Any]) -> str:
    images = record["dynamodb"]

    def show(image: dict[str, Any] | None) -> str:
        if not image:
            return "-"
        lease = image.get("lease_id", {}).get("S", "")
        return f"{image['status']['S']}({lease[:14]}, until {image.get('lease_expire_time', {}).get('N', '-')})"

    change = f"{show(images.get('OldImage'))} -> {show(images.get('NewImage'))}"
    return f"{images['SequenceNumber']} {record['eventName']} {change}"
