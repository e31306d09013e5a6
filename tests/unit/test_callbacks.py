"""The retry schedule, the callback URL guard (spec §4.4) and which stream records call for a
delivery (§4.1)."""

from __future__ import annotations

import pytest

from taskq.callbacks import CallbackGuard, is_public_address
from taskq.delivery import RetryPolicy, delivery_from_record
from taskq.errors import BadRequest
from taskq_local.template import load_template


def test_backoff_doubles_from_the_base() -> None:
    policy = RetryPolicy(backoff_seconds=1, max_attempts=5)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert policy.schedule() == [0, 1, 3, 7, 15]


def test_in_aws_at_least_five_attempts_over_at_least_five_minutes() -> None:
    for function in ("DispatcherFunction", "ScheduledJobsFunction"):
        variables = load_template()["Resources"][function]["Properties"]["Environment"]["Variables"]
        policy = RetryPolicy.from_env({k: str(v) for k, v in variables.items()})
        assert policy.max_attempts >= 5 and policy.schedule()[-1] >= 300, function


def test_the_policy_reads_the_environment_and_has_aws_defaults() -> None:
    assert RetryPolicy.from_env({"TASKQ_CALLBACK_BACKOFF": "0.5", "TASKQ_CALLBACK_ATTEMPTS": "3"}).schedule() == [
        0,
        0.5,
        1.5,
    ]
    assert RetryPolicy.from_env({}) == RetryPolicy(30, 6)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.215.14", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def resolver(addresses: list[str]):
    calls = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return addresses

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_a_host_with_any_private_address_is_refused_naming_the_field() -> None:
    guard = CallbackGuard(resolve=resolver(["93.184.215.14", "10.0.0.1"]))
    with pytest.raises(BadRequest, match=r"^callback_url: 'h.example' resolves to 10.0.0.1"):
        guard.check("https://h.example/x")


def test_the_target_keeps_port_path_and_query() -> None:
    guard = CallbackGuard(resolve=resolver(["93.184.215.14"]))
    target = guard.target("https://h.example:8443/cb/path?a=1")
    assert (target.host, target.port, target.path, target.addresses) == (
        "h.example",
        8443,
        "/cb/path?a=1",
        ["93.184.215.14"],
    )
    assert guard.target("http://h.example").port == 80 and guard.target("http://h.example").path == "/"


def test_allowing_private_addresses_skips_resolution_at_put() -> None:
    resolve = resolver(["127.0.0.1"])
    CallbackGuard(allow_private=True, resolve=resolve).check("http://localhost:9/x")
    assert resolve.calls == []  # type: ignore[attr-defined]
    assert CallbackGuard.from_env({"TASKQ_ALLOW_PRIVATE_CALLBACKS": "true"}).allow_private
    assert not CallbackGuard.from_env({}).allow_private


@pytest.mark.parametrize("url", ["ftp://h.example/x", "http://h.example:99999/", "http:///x"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(BadRequest, match=r"^callback_url: "):
        CallbackGuard(allow_private=True).check(url)


def stream_record(old: str | None, new: str, url: str = "https://h.example/cb") -> dict:
    def image(status: str) -> dict:
        return {
            "task_id": {"S": "TASK-1"},
            "queue": {"S": "q"},
            "level": {"N": "2"},
            "status": {"S": status},
            "callback_url": {"S": url},
            "result_lease": {"S": "LEASE-1"},
        }

    images = {"NewImage": image(new)} | ({"OldImage": image(old)} if old else {})
    return {"eventID": "e", "dynamodb": {"SequenceNumber": "1", **images}}


@pytest.mark.parametrize(("old", "new"), [("running", "succeeded"), ("running", "failed"), ("waiting", "timeout")])
def test_reaching_a_result_status_calls_for_a_delivery(old: str, new: str) -> None:
    delivery = delivery_from_record(stream_record(old, new))
    assert delivery is not None
    assert (delivery.task_id, delivery.queue, delivery.level, delivery.task_status) == ("TASK-1", "q", 2, new)
    assert (delivery.url, delivery.result_lease) == ("https://h.example/cb", "LEASE-1")


@pytest.mark.parametrize(
    ("old", "new", "url"),
    [
        ("running", "cancelled", "https://h.example/cb"),
        (None, "waiting", "https://h.example/cb"),
        ("waiting", "running", "https://h.example/cb"),
        ("succeeded", "succeeded", "https://h.example/cb"),  # a write on a finished task
        ("running", "succeeded", ""),
    ],
)
def test_other_changes_call_for_none(old, new, url) -> None:
    assert delivery_from_record(stream_record(old, new, url)) is None
