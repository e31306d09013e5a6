"""Defect 14 of issue 10 and spec §5: the local server's own HTTP layer — bursts of simultaneous
connections, the errors it answers itself (before any function runs) in the spec's JSON body,
and HEAD. Through a real server process."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from urllib.parse import urlsplit

from local_server_process import ServerProcess


def address(server: ServerProcess) -> tuple[str, int]:
    parts = urlsplit(server.base_url)
    return parts.hostname or "", parts.port or 0


def raw_exchange(server: ServerProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (http.client would refuse to send a malformed request)."""
    with socket.create_connection(address(server), timeout=10) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection, method=request.split(b" ")[0].decode())
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert set(error) == {"code", "message", "timestamp"} and error["code"] == expected and error["message"]


def test_an_over_long_url_is_414_in_the_json_error_body(local_server) -> None:
    target = "/v1/queue/" + "x" * 70_000
    answer = raw_exchange(local_server, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert_json_error(*answer, 414)


def test_a_malformed_request_line_is_400_in_the_json_error_body(local_server) -> None:
    answer = raw_exchange(local_server, b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    assert_json_error(*answer, 400)


def test_an_unsupported_http_version_is_505_in_the_json_error_body(local_server) -> None:
    answer = raw_exchange(local_server, b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n")
    assert_json_error(*answer, 505)


def test_an_unsupported_method_is_405_in_the_json_error_body(local_server) -> None:
    answer = raw_exchange(local_server, b"BREW /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert_json_error(*answer, 405)


def test_head_health_is_200_without_a_body(local_server) -> None:
    status, headers, body = raw_exchange(local_server, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (status, body) == (200, b"")
    assert headers["content-type"] == "application/json"


def test_a_burst_of_100_simultaneous_connections_is_served(local_server) -> None:
    count = 100
    start = threading.Barrier(count)
    answers: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one_client() -> None:
        start.wait()
        try:
            connection = http.client.HTTPConnection(*address(local_server), timeout=30)
            connection.request("GET", "/health")
            status = connection.getresponse().status
            connection.close()
            with lock:
                answers.append(status)
        except OSError as e:  # ConnectionResetError, ConnectionRefusedError
            with lock:
                failures.append(e)

    threads = [threading.Thread(target=one_client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert answers == [200] * count
