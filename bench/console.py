"""The console's load time on the local server (issue 15: under 300 ms with 100 queues and
10,000 tasks). `python -m bench.console` (`--quick`: 10 queues, 1,000 tasks, to try it).

A real `taskq serve --ephemeral` (state in memory: what is measured here is reading, and the
fill is quicker without an fsync per write) is filled over HTTP by a few producer threads, and
a tenth of the tasks taken; once the stream consumer has counted them, it measures:
- `http`: what a page load fetches, one request after another on a new connection: the page,
  its script and style, then the page's JSON (the queues page: `GET /v1/console/queues`; the
  queue page: `GET /v1/console/queues/{q}` of a queue with 100 tasks; the dead letters); and
  apart, the queue page's running tasks (`.../running`, filled in after the page has drawn);
- `browser` (when /usr/bin/chromium exists): Chromium's own time from navigation start until
  the page has drawn its data (`data-ready`), per page.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from taskq_local.processes import free_port, running

from .online import ADMIN_KEY, Client

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"
CHROMIUM = Path("/usr/bin/chromium")
QUEUES, TASKS, PRODUCERS, SAMPLES = 100, 10_000, 8, 20
TARGET_MS = 300
ENDPOINT = "/v1/chat/completions"


@contextlib.contextmanager
def ephemeral_server() -> Iterator[str]:
    os.environ["TASKQ_ADMIN_KEY"] = ADMIN_KEY  # the server inherits this process's environment
    port = free_port()
    command = [sys.executable, "-m", "taskq_local.cli", "serve", "--quiet", "--ephemeral", "--port", str(port)]
    with running(command, port) as base_url:
        yield base_url


def register(base_url: str, queue: str) -> None:
    status, body, _ = Client(base_url).call("POST", "/v1/queue/register", {"queue": queue, "endpoint": ENDPOINT})
    assert status == 200, body


def fill(base_url: str, queues: list[str], tasks: int) -> None:
    def produce(part: list[int]) -> None:
        client = Client(base_url)
        for start in range(0, len(part), 100):  # put-batch: 100 tasks a request
            items = [
                {"queue": queues[i % len(queues)], "endpoint": ENDPOINT, "data": {"i": i}}
                for i in part[start : start + 100]
            ]
            status, body, _ = client.call("POST", "/v1/queue/put-batch", {"tasks": items})
            assert status == 200 and all("task_id" in item for item in body["data"]), body
        client.close()

    threads = [threading.Thread(target=produce, args=(list(range(p, tasks, PRODUCERS)),)) for p in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = Client(base_url)
    for queue in queues:  # a tenth running, so the queue page lists running tasks too
        client.call("POST", "/v1/queue/take", {"queues": [f"{queue}:0"], "size": tasks // len(queues) // 10})
    client.close()


def counted(base_url: str, tasks: int, timeout: float = 300) -> None:
    client = Client(base_url)
    deadline = time.monotonic() + timeout
    while sum(q["total_put_cnt"] for q in client.call("GET", "/v1/console/queues")[1]) < tasks:
        if time.monotonic() > deadline:
            raise RuntimeError("the stream consumer did not count every put in time")
        time.sleep(0.5)
    client.close()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


def http_loads(base_url: str, queue: str, samples: int) -> dict[str, Any]:
    pages = {
        "queues": "/v1/console/queues",
        "queue": f"/v1/console/queues/{queue}:0",
        "dead_letters": "/v1/console/dead-letters",
    }
    found: dict[str, Any] = {}
    # the queue page's running tasks, fetched once the page has drawn (not part of its load)
    times = []
    client = Client(base_url)
    for _ in range(samples):
        start = time.perf_counter()
        answer = client.send("GET", f"/v1/console/queues/{queue}:0/running")
        answer.read()
        times.append((time.perf_counter() - start) * 1000)
    client.close()
    found["queue_running_json"] = summary(times)
    for name, data in pages.items():
        times = []
        for _ in range(samples):
            client = Client(base_url)  # a fresh connection, as a new page load may open
            start = time.perf_counter()
            for path in ("/console", "/console/console.js", "/console/console.css", data):
                answer = client.send("GET", path)
                answer.read()
                assert answer.status == 200, (path, answer.status)
            times.append((time.perf_counter() - start) * 1000)
            client.close()
        found[name] = summary(times)
    return found


def browser_loads(base_url: str, queue: str, samples: int) -> dict[str, Any] | None:
    if not CHROMIUM.exists():
        return None
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_FLAGS

    found: dict[str, Any] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        context = browser.new_context(base_url=base_url)
        context.add_init_script(f"sessionStorage.setItem('taskq-admin-key', {json.dumps(ADMIN_KEY)})")
        page = context.new_page()
        for name, hash_ in (("queues", "#queues"), ("queue", f"#queue/{queue}:0"), ("dead_letters", "#dead-letters")):
            times = []
            for _ in range(samples):
                page.goto("about:blank")
                page.goto(f"/console{hash_}")
                page.wait_for_selector("#page[data-ready=true]", timeout=30_000)
                times.append(page.evaluate("() => performance.now()"))  # ms since navigation start
            found[name] = summary(times)
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 queues, 1,000 tasks, 5 samples")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    queues_n, tasks, samples = (10, 1_000, 5) if args.quick else (QUEUES, TASKS, SAMPLES)
    with ephemeral_server() as base_url:
        queues = [f"bench-console-{i:03d}" for i in range(queues_n)]
        for queue in queues:
            register(base_url, queue)
        start = time.perf_counter()
        fill(base_url, queues, tasks)
        counted(base_url, tasks)
        print(f"filled {queues_n} queues with {tasks} tasks in {time.perf_counter() - start:.0f} s", flush=True)
        result = {
            "queues": queues_n,
            "tasks": tasks,
            "samples": samples,
            "target_ms": TARGET_MS,
            "load_average": os.getloadavg()[0],
            "http": http_loads(base_url, queues[0], samples),
            "browser": browser_loads(base_url, queues[0], samples),
        }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
