"""The randomized workload and its history checker on fixed seeds, faults on (tests/history,
docs/reliability.md). A failing seed prints the invariant, the task's history and the command
that replays it; `make soak` runs many more seeds."""

from __future__ import annotations

import pytest

from tests.history.checker import replay_command, report
from tests.history.workload import run_seed

pytestmark = pytest.mark.history

# Seeds 1, 12 and 13 first found a take answering a cancelled task, a complete acknowledged after
# its lease spent its retries, and (with a stream model retrying shorter than Lambda does) the
# counters' assumption in design.md; they stay as ordinary seeds. A change that adds or removes
# a DynamoDB request changes every seed's run (docs/reliability.md).
SEEDS = [1, 2, 3, 4, 12, 13]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_run_keeps_every_invariant(seed: int) -> None:
    outcome = run_seed(seed)
    # the run did what it is for: tasks granted, faults injected
    assert outcome.history.leases, "no take was granted a task"
    assert outcome.plan.injected, "no fault was injected"
    assert outcome.violations == [], report(outcome, replay_command(seed))
