"""The callback POST against a real HTTP server on 127.0.0.1: the checked address is the one
called, redirects are not followed, and a silent receiver times out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from taskq.callbacks import CallbackGuard, HttpSender

seen: list[tuple[str, str, bytes]] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen.append((self.path, self.headers["Host"], body))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
        elif self.path == "/slow":
            threading.Event().wait(1)
            self.send_response(200)
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    seen.clear()
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def sender(timeout: float = 5) -> HttpSender:
    return HttpSender(CallbackGuard(allow_private=True, resolve=lambda host, port: ["127.0.0.1"]), timeout)


def test_the_post_goes_to_the_checked_address_under_the_urls_host_name(port: int) -> None:
    attempt = sender().post(f"http://cb.example:{port}/hook?x=1", b'{"a":1}', {"X-Task-Id": "TASK-1"})
    assert (attempt.ok, attempt.http_status) == (True, 204)
    assert seen == [("/hook?x=1", f"cb.example:{port}", b'{"a":1}')]


def test_a_redirect_is_a_failed_attempt_not_followed(port: int) -> None:
    attempt = sender().post(f"http://cb.example:{port}/moved", b"{}", {})
    assert (attempt.ok, attempt.http_status, attempt.error) == (False, 302, "HTTP 302")
    assert [path for path, _, _ in seen] == ["/moved"]


def test_a_receiver_slower_than_the_time_out_fails_the_attempt(port: int) -> None:
    attempt = sender(timeout=0.2).post(f"http://cb.example:{port}/slow", b"{}", {})
    assert not attempt.ok and attempt.http_status is None and "timed out" in attempt.error


def test_a_private_address_is_not_called_in_aws(port: int) -> None:
    guarded = HttpSender(CallbackGuard(allow_private=False, resolve=lambda host, port: ["127.0.0.1"]))
    attempt = guarded.post(f"http://cb.example:{port}/hook", b"{}", {})
    assert not attempt.ok and "127.0.0.1" in attempt.error and seen == []
