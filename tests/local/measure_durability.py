"""What durability costs the local server per put (docs/performance.md): the latency of
sequential puts over one keep-alive connection, in memory (--ephemeral) and with the journal,
and the journal's bytes per put. Not a test; run it on a quiet machine:

    .venv/bin/python tests/local/measure_durability.py [puts]
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from local_server_process import ServerProcess, start_server

ENDPOINT = "/v1/chat/completions"


def put_latencies(server: ServerProcess, count: int) -> list[float]:
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {server.admin_key}", "Content-Type": "application/json"}

    def call(path: str, body: dict) -> None:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status

    call("/v1/queue/register", {"queue": "bench", "endpoint": ENDPOINT})
    latencies = []
    for n in range(count + 20):
        started = time.perf_counter()
        call("/v1/queue/put", {"queue": "bench", "endpoint": ENDPOINT, "data": {"n": n, "text": "x" * 200}})
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies[20:]  # the first ones warm up imports and caches


def summary(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"mean {statistics.mean(ms):.2f} ms, median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms"


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for label, args, env in (
            ("in memory (--ephemeral)", ("--ephemeral",), {}),
            ("journal (fsync per write)", (), {"TASKQ_DATA_DIR": str(root / "data")}),
        ):
            server = start_server(root / f"{label[:7]}.log", args=args, **env)
            try:
                latencies = put_latencies(server, count)
            finally:
                server.stop()
            print(f"{label}: {count} puts, {summary(latencies)}")
        files = list((root / "data").glob("*.jsonl"))
        size, lines = sum(p.stat().st_size for p in files), sum(len(p.read_bytes().splitlines()) for p in files)
        puts = count + 20
        print(f"journal and snapshot: {size / puts:.0f} bytes and {lines / puts:.1f} lines (fsyncs) per put")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
