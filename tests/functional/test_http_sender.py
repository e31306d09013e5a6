"""The callback POST against a real HTTP server on 127.0.0.1: the checked address is the one
called, redirects are not followed, and a silent receiver times out."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from receivers import local_sender as sender
from receivers import receiving, seen

from taskq.callbacks import CallbackGuard, HttpSender


@pytest.fixture
def port() -> Iterator[int]:
    with receiving() as port:
        yield port


def test_the_post_goes_to_the_checked_address_under_the_urls_host_name(port: int) -> None:
    attempt = sender().post(f"http://cb.example:{port}/hook?x=1", b'{"a":1}', {"X-Task-Id": "TASK-1"})
    assert (attempt.ok, attempt.http_status) == (True, 204)
    assert seen == [("/hook?x=1", f"cb.example:{port}", b'{"a":1}')]


def test_an_answer_with_a_body_is_read_after_the_connection_closes(port: int) -> None:
    # The receiver speaks HTTP/1.0: http.client closes the connection before reading the body.
    attempt = sender().post(f"http://cb.example:{port}/thanks", b"{}", {})
    assert (attempt.ok, attempt.http_status) == (True, 200)


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
    assert not attempt.ok and "non-public address" in attempt.error and seen == []
    assert "127.0.0.1" not in attempt.error  # nothing said about what the host resolves to


def test_a_non_ascii_path_and_query_go_percent_encoded(port: int) -> None:
    attempt = sender().post(f"http://cb.example:{port}/hooks/ñandú?who=José", b"{}", {})
    assert (attempt.ok, attempt.http_status) == (True, 204)
    assert [path for path, _, _ in seen] == ["/hooks/%C3%B1and%C3%BA?who=Jos%C3%A9"]


def test_a_dripping_receiver_is_cut_at_the_overall_deadline(port: int) -> None:
    # 40 bytes at 0.25 s each would take 10 s; every read gets a byte well within 0.6 s.
    started = time.monotonic()
    attempt = sender(timeout=0.6).post(f"http://cb.example:{port}/drip", b"{}", {})
    took = time.monotonic() - started

    assert not attempt.ok and attempt.http_status is None and "timed out" in attempt.error
    assert 0.5 < took < 1.5, took
