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


# IPv6 forms that carry an IPv4 address (spec §4.4): the IPv4 address decides where it is
# what the form stands for; NAT64 local-use, 6to4 and Teredo are refused whatever they carry.
@pytest.mark.parametrize(
    ("form", "address", "public"),
    [
        ("IPv4-compatible, loopback", "::127.0.0.1", False),
        ("IPv4-compatible, metadata", "::169.254.169.254", False),
        ("IPv4-compatible, private", "::10.0.0.1", False),
        ("IPv4-compatible, public", "::93.184.215.14", True),
        ("IPv4-translated (SIIT), loopback", "::ffff:0:7f00:1", False),
        ("IPv4-translated (SIIT), public", "::ffff:0:5db8:d70e", True),
        ("NAT64 well-known, metadata", "64:ff9b::a9fe:a9fe", False),
        ("NAT64 well-known, loopback", "64:ff9b::127.0.0.1", False),
        ("NAT64 well-known, private", "64:ff9b::c0a8:101", False),
        ("NAT64 well-known, public", "64:ff9b::5db8:d70e", True),
        ("NAT64 local-use, metadata", "64:ff9b:1::a9fe:a9fe", False),
        ("NAT64 local-use, public at /96", "64:ff9b:1::5db8:d70e", False),  # the operator's own translator
        ("6to4, loopback", "2002:7f00:1::1", False),
        ("6to4, private", "2002:a00:1::1", False),
        ("6to4, metadata", "2002:a9fe:a9fe::1", False),
        ("6to4, public", "2002:5db8:d70e::1", False),  # a deprecated tunnel: refused whatever it embeds
        ("Teredo, loopback client", "2001:0:5db8:d70e:0:f227:80ff:fffe", False),
        ("Teredo, private server", "2001:0:a00:1:0:f227:a2ff:28f1", False),
        ("Teredo, public both", "2001:0:5db8:d70e:0:f227:a247:28f1", False),  # likewise
    ],
)
def test_ipv6_forms_embedding_ipv4_are_judged_by_that_address(form: str, address: str, public: bool) -> None:
    assert is_public_address(address) is public, form


def resolver(addresses: list[str]):
    calls = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return addresses

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("private", ["10.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"])
def test_a_host_with_any_private_address_is_refused_without_saying_what_it_resolved_to(private: str) -> None:
    guard = CallbackGuard(resolve=resolver(["93.184.215.14", private]))
    with pytest.raises(BadRequest, match=r"^callback_url: ") as refused:
        guard.check("https://h.example/x")
    message = refused.value.message
    assert "non-public address" in message
    assert private not in message and "93.184.215.14" not in message


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


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h.example/x",
        "http://h.example:99999/",
        "http:///x",
        "http://h.example/x\r\nX-Injected: 1",
        "http://h.example/a\nb",
        "http://h.example/a\tb",
        "http://h.example/a b",
        "http://h.example/x?q=a b",
        " http://h.example/x",
        "http://h.example/x\x00",
        "http://h.example/x\x7f",
        "http://h.example/x\u2028",
        "http://h.example/x\u00a0",
        "http://h.example/\u200bx",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(BadRequest, match=r"^callback_url: "):
        CallbackGuard(allow_private=True).check(url)


def test_a_non_ascii_path_and_query_are_percent_encoded_for_the_request_line() -> None:
    guard = CallbackGuard(resolve=resolver(["93.184.215.14"]))
    target = guard.target("https://h.example/ca/ñandú/%41?q=café&x=日本")
    assert target.path == "/ca/%C3%B1and%C3%BA/%41?q=caf%C3%A9&x=%E6%97%A5%E6%9C%AC"
    assert target.path.isascii()


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
    assert delivery.result_text is None  # a record without the result: the attempt reads it


def test_a_result_written_with_the_status_travels_with_the_delivery() -> None:
    record = stream_record("running", "succeeded")
    record["dynamodb"]["NewImage"]["result"] = {"S": '{"status_code":200}'}

    delivery = delivery_from_record(record)

    assert delivery is not None and delivery.result_text == '{"status_code":200}'


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
