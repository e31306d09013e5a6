"""Spec §5 and issue 11 point 5: 200 producers wait in blocking and streaming requests to an
ASGI function while ordinary requests through the one-at-a-time Lambda function, and a burst of
100 simultaneous connections, are served promptly; threads and file descriptors stay bounded
and come back when the waits end. Not a speed test: a test that nothing queues behind a wait."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.local.asgi_apps import AUTH, Served, eventually
from tests.local.fakes import KEY

WAITERS = 200
ORDINARY = 60
BURST = 100
PROMPT_SECONDS = 2.0  # loose: an ordinary request stuck behind a wait would take until release

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors in /proc")


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def send_wait(served: Served, path: str) -> socket.socket:
    client = socket.create_connection(served.address, timeout=30)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
    return client


def ordinary_request(served: Served, n: int) -> tuple[int, float]:
    """Half through the Lambda function with a key (as takes and completes go), half /health."""
    started = time.monotonic()
    connection = served.connect(timeout=30)
    if n % 2:
        connection.request("POST", f"/v1/queue/take?n={n}", body=b"{}", headers=dict([AUTH]))
    else:
        connection.request("GET", "/health")
    status = connection.getresponse().status
    connection.close()
    return status, time.monotonic() - started


def burst(served: Served) -> tuple[list[int], list[BaseException]]:
    start = threading.Barrier(BURST)
    statuses: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one_client() -> None:
        start.wait()
        try:
            connection = served.connect(timeout=30)
            connection.request("GET", "/health")
            status = connection.getresponse().status
            connection.close()
            with lock:
                statuses.append(status)
        except OSError as e:  # ConnectionResetError, ConnectionRefusedError
            with lock:
                failures.append(e)

    threads = [threading.Thread(target=one_client) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses, failures


def read_answer(client: socket.socket, path: str) -> bytes:
    answer = http.client.HTTPResponse(client, method="GET")
    answer.begin()
    assert answer.status == 200, path
    return answer.read()


def test_200_waiting_producers_block_neither_ordinary_requests_nor_a_burst(served: Served):
    threads_before, descriptors_before = threading.active_count(), open_descriptors()

    # Given 200 producers waiting, half in blocking requests, half in streams
    paths = ["/wait" if n % 2 else "/stream" for n in range(WAITERS)]
    clients = [send_wait(served, path) for path in paths]
    assert eventually(lambda: served.board.waiting == WAITERS, timeout=60), served.board.waiting
    # one server thread per open connection, each asleep in its event loop's selector
    threads_waiting = threading.active_count() - threads_before
    descriptors_waiting = open_descriptors() - descriptors_before

    # When ordinary requests run meanwhile, then a burst of simultaneous connections
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: ordinary_request(served, n), range(ORDINARY)))
    statuses, failures = burst(served)

    # Then each is answered promptly, none refused or reset, and the producers are still waiting
    assert [status for status, _ in answers] == [200] * ORDINARY
    assert max(seconds for _, seconds in answers) < PROMPT_SECONDS
    assert failures == [] and statuses == [200] * BURST
    assert served.board.waiting == WAITERS
    assert threads_waiting <= WAITERS + 10  # (threads of earlier tests may end meanwhile: no lower bound)
    assert descriptors_waiting <= WAITERS * 5 + 20  # client + server socket, selector, wake-up pair

    # And when the answers come, every producer gets its own, complete
    served.board.release()
    bodies = [read_answer(client, path) for client, path in zip(clients, paths, strict=True)]
    for client in clients:
        client.close()
    expected = {"/wait": json.dumps({"answer": 42}).encode(), "/stream": b"id: 1\ndata: first\n\nid: 2\ndata: last\n\n"}
    assert bodies == [expected[path] for path in paths]
    assert served.board.outcomes.count("released") == WAITERS

    # And the threads and descriptors they held are given back
    assert eventually(lambda: threading.active_count() <= threads_before + 2, timeout=10), threading.active_count()
    assert eventually(lambda: open_descriptors() <= descriptors_before + 5, timeout=10), open_descriptors()
