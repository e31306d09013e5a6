"""`make soak`: the workload on many seeds, with faults on, for SOAK_MINUTES (default 30), or one
seed (SOAK_SEED) to replay. Prints operations, faults injected, seeds run and the first failing
seed with its report; exits 1 when a seed failed."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    "POWERTOOLS_METRICS_DISABLED": "true",
}.items():
    os.environ.setdefault(name, value)

from tests.history.checker import replay_command, report  # noqa: E402 - after the environment it reads
from tests.history.workload import run_seed  # noqa: E402


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "30"))
    one = os.environ.get("SOAK_SEED")
    first_seed = int(os.environ.get("SOAK_FIRST_SEED", str(int(time.time()) % 1_000_000)))
    seeds = [int(one)] if one else None
    started, deadline = time.monotonic(), time.monotonic() + minutes * 60
    operations, faults, failed = Counter(), Counter(), []
    requests = 0
    runs = 0
    seed = first_seed
    while (seeds is None and time.monotonic() < deadline) or (seeds and runs < len(seeds)):
        current = seeds[runs] if seeds else seed
        outcome = run_seed(current)
        runs += 1
        seed += 1
        operations.update(outcome.history.operations)
        requests += outcome.plan.requests
        faults.update(outcome.plan.counts())
        status = "ok" if not outcome.violations else f"FAILED ({len(outcome.violations)} violations)"
        print(
            f"seed {current}: {sum(outcome.history.operations.values())} operations, {outcome.plan.requests} requests, "
            f"{sum(outcome.plan.counts().values())} faults, {status}",
            flush=True,
        )
        if outcome.violations:
            failed.append(current)
            if len(failed) == 1:
                print(report(outcome, replay_command(current)), flush=True)
    elapsed = (time.monotonic() - started) / 60
    print(f"\nsoak: {runs} seeds in {elapsed:.1f} min; operations {sum(operations.values())} {dict(operations)}")
    print(f"DynamoDB requests {requests} (SDK retries included)")
    print(f"faults injected {sum(faults.values())} {dict(faults)}")
    print(
        f"failing seeds: {len(failed)}"
        + (f"; first {failed[0]}: replay with {replay_command(failed[0])}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
