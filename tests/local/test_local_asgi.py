"""Functions served as the Lambda Web Adapter serves them: the ASGI app sees the request LWA
forwards, its answer streams to the client as it is sent, a client that leaves ends its wait,
and failures are a 502 before the answer starts, a closed connection after. Through a real HTTP
server in-process, with a real socket client."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from tests.local.asgi_apps import AUTH, Served, eventually
from tests.local.fakes import KEY


def test_the_app_sees_the_request_as_the_web_adapter_forwards_it(served: Served):
    connection = served.connect()
    forged = json.dumps({"authorizer": {"role": "admin", "ak": "forged"}})
    headers = {"Authorization": f"Bearer {KEY}", "X-Amzn-Request-Context": forged, "X-Custom": "yes"}
    connection.request("POST", "/echo?b=2&a=x%20y&b=3", body=b'{"q": 1}', headers=headers)
    answer = connection.getresponse()
    seen = json.loads(answer.read())

    assert answer.status == 200
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/echo", '{"q": 1}')
    assert seen["query_string"] == "b=2&b=3&a=x+y"  # decoded by API Gateway, re-encoded by LWA
    assert seen["headers"]["x-custom"] == "yes" and seen["headers"]["authorization"] == f"Bearer {KEY}"
    assert seen["headers"]["content-length"] == "8"
    context = json.loads(seen["headers"]["x-amzn-request-context"])  # the gateway's, not the client's
    assert context["authorizer"]["ak"] == "ak-admin" and context["authorizer"]["principalId"] == "ak-admin"
    assert context["authorizer"]["integrationLatency"] == 0
    assert (context["resourcePath"], context["httpMethod"], context["path"]) == ("/{proxy+}", "POST", "/local/echo")
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["requestId"]
    lambda_context = json.loads(seen["headers"]["x-amzn-lambda-context"])
    assert lambda_context["env_config"]["function_name"].endswith("OnlineFunction")
    assert lambda_context["deadline"] > time.time() * 1000


def test_the_path_reaches_the_app_decoded_and_raw(served: Served):
    connection = served.connect()
    connection.request("GET", "/echo/a%20b%2Fc", headers=dict([AUTH]))
    seen = json.loads(connection.getresponse().read())
    assert (seen["path"], seen["raw_path"], seen["query_string"]) == ("/echo/a b/c", "/echo/a%20b%2Fc", "")


def test_a_route_with_an_authorizer_needs_a_key_before_the_app_runs(served: Served):
    connection = served.connect()
    connection.request("GET", "/wait")
    assert connection.getresponse().status == 401
    assert served.board.waiting == 0


def test_each_event_reaches_the_client_as_it_is_sent(served: Served):
    connection = served.connect(timeout=5)  # an event held back would time this read out
    connection.request("GET", "/stream", headers=dict([AUTH]))
    answer = connection.getresponse()
    assert answer.status == 200 and answer.getheader("Content-Type") == "text/event-stream"
    assert answer.getheader("Transfer-Encoding") == "chunked" and answer.getheader("X-Task-Id") == "T-1"

    assert [answer.readline() for _ in range(3)] == [b"id: 1\n", b"data: first\n", b"\n"]
    assert eventually(lambda: served.board.waiting == 1)  # the event came while the app still waits

    served.board.release()
    assert answer.read() == b"id: 2\ndata: last\n\n"  # then the terminating chunk: a clean end
    # the connection is kept alive and serves the next request
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200


def test_an_http_1_0_client_gets_the_stream_delimited_by_the_connection_closing(served: Served):
    with socket.create_connection(served.address, timeout=5) as client:
        client.sendall(f"GET /stream HTTP/1.0\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        assert eventually(lambda: served.board.waiting == 1)
        served.board.release()
        received = b""
        while chunk := client.recv(4096):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body == b"id: 1\ndata: first\n\nid: 2\ndata: last\n\n"


@pytest.mark.parametrize("path", ["/wait", "/stream"])
def test_a_client_that_goes_away_ends_the_apps_wait(served: Served, path: str):
    client = socket.create_connection(served.address, timeout=5)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
    assert eventually(lambda: served.board.waiting == 1)
    client.close()

    assert eventually(lambda: served.board.outcomes == ["disconnected"], timeout=3), served.board.outcomes
    assert served.board.waiting == 0


def test_what_an_app_sends_after_the_client_left_is_dropped_as_uvicorn_drops_it(served: Served):
    client = socket.create_connection(served.address, timeout=5)
    client.sendall(f"GET /ticker HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
    received = b""
    while b"keep-alive" not in received:
        received += client.recv(4096)
    client.close()

    assert eventually(lambda: served.board.outcomes == ["ticked to the end"], timeout=5), served.board.outcomes


@pytest.mark.parametrize("path", ["/fail-before", "/no-answer"])
def test_an_app_that_gives_no_answer_is_a_502_with_the_error_body(served: Served, path: str):
    connection = served.connect()
    connection.request("GET", path, headers=dict([AUTH]))
    answer = connection.getresponse()
    body = json.loads(answer.read())
    assert answer.status == 502 and answer.getheader("Content-Type") == "application/json"
    assert body["code"] == 502 and body["message"]


def test_an_app_that_fails_mid_answer_closes_the_connection_without_ending_the_answer(served: Served):
    connection = served.connect()
    connection.request("GET", "/fail-after", headers=dict([AUTH]))
    answer = connection.getresponse()
    assert answer.status == 200
    with pytest.raises(http.client.IncompleteRead) as failure:
        answer.read()
    assert failure.value.partial == b"data: partial\n\n"


def test_head_sends_the_apps_headers_alone_and_the_connection_serves_on(served: Served):
    connection = served.connect()
    connection.request("HEAD", "/echo", headers=dict([AUTH]))
    answer = connection.getresponse()
    assert answer.status == 200 and answer.read() == b""
    assert int(answer.getheader("Content-Length") or 0) > 0
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
