"""The randomized workload and its history checker on fixed seeds, faults on (tests/history,
docs/reliability.md). A failing seed prints the invariant, the task's history and the command
that replays it; `make soak` runs many more seeds."""

from __future__ import annotations

import pytest

from tests.history.checker import replay_command, report
from tests.history.workload import run_seed

pytestmark = pytest.mark.history

SEEDS = [
    2,
    3,
    4,
    # Seeds that find defects still open when this was written: strict, so the day they pass the
    # marker must go (and the seed keeps guarding the fix). A change that adds or removes a
    # DynamoDB request changes every seed's run: then pick seeds again (docs/reliability.md).
    pytest.param(
        1,
        marks=pytest.mark.xfail(
            strict=True,
            reason="found by the checker: a take answers a task that was cancelled between its claim and the "
            "answer, without a lease",
        ),
    ),
    pytest.param(
        12,
        marks=pytest.mark.xfail(
            strict=True,
            reason="found by the checker: complete answers 200 under a lease whose retry already ended the task "
            "failed (retries exhausted); the result is dropped",
        ),
    ),
    pytest.param(
        13,
        marks=pytest.mark.xfail(
            strict=True,
            reason="defect 7 of issue 10, the part the replay marker does not cover: after a function error the "
            "batch is retried shorter than the batch counted, and the next batch starts at a record inside the "
            "counted range that carries no marker, so its records are counted again",
        ),
    ),
]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_run_keeps_every_invariant(seed: int) -> None:
    outcome = run_seed(seed)
    # the run did what it is for: tasks granted, faults injected
    assert outcome.history.leases, "no take was granted a task"
    assert outcome.plan.injected, "no fault was injected"
    assert outcome.violations == [], report(outcome, replay_command(seed))
