"""API keys end to end (spec §1, §3.11, §5): `taskq serve` runs the real authorizer before the API
function; keys made over HTTP work, are limited to their role and queues, and stop when revoked."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from local_server_process import ServerProcess, http, start_server

ADMIN_KEY = "local-keys-admin-secret"
CHAT = "/v1/chat/completions"
MADE_UP_KEY = "tq_made-up-secret-0000000000000000000000000000"
UNAUTHORIZED_MESSAGE = "Authorization: a valid API key is required (Bearer <apikey>)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("TASKQ_AUTH_CACHE_SECONDS", raising=False)  # the default: 0, no cache
        # INFO: the test reads the authorizer's log lines (the local server's default is WARNING)
        process = start_server(
            tmp_path_factory.mktemp("keys") / "server.log", admin_key=ADMIN_KEY, POWERTOOLS_LOG_LEVEL="INFO"
        )
    yield process
    process.stop()


def create_key(server: ServerProcess, body: dict[str, Any]) -> dict[str, Any]:
    status, created, _ = http("POST", f"{server.base_url}/v1/keys", body, ADMIN_KEY)
    assert status == 201, created
    return created


@pytest.fixture(scope="module")
def keys(server: ServerProcess) -> dict[str, dict[str, Any]]:
    """A producer and a worker key for `demo*`, and the demo queue."""
    registered = http("POST", f"{server.base_url}/v1/queue/register", {"queue": "demo", "endpoint": CHAT}, ADMIN_KEY)
    assert registered[:2] == (200, "demo")
    return {
        "producer": create_key(server, {"name": "demo producer", "role": "producer", "queues": ["demo*"]}),
        "worker": create_key(server, {"name": "demo worker", "role": "worker", "queues": ["demo*"]}),
    }


def assert_error(answer: tuple[int, Any, dict[str, str]], status: int, message: str | None = None) -> None:
    code, body, headers = answer
    assert code == status, body
    assert headers["Content-Type"].startswith("application/json")
    assert set(body) == {"code", "message", "timestamp"} and body["code"] == status, body
    assert isinstance(body["timestamp"], int)
    if message is not None:
        assert body["message"] == message


def test_producer_puts_worker_takes_and_completes_producer_reads(server: ServerProcess, keys):
    base, producer, worker = server.base_url, keys["producer"]["apikey"], keys["worker"]["apikey"]

    put = http("POST", f"{base}/v1/queue/put", {"queue": "demo", "endpoint": CHAT, "data": {"q": "hi"}}, producer)
    assert put[0] == 200 and put[1]["data"].startswith("TASK-")
    task_id = put[1]["data"]

    status, taken, _ = http("POST", f"{base}/v1/queue/take", {"queues": ["demo:0"], "size": 1}, worker)
    assert status == 200 and [t["task_id"] for t in taken["demo:0"]] == [task_id]
    task = taken["demo:0"][0]
    assert task["ak"] == keys["producer"]["ak"] and task["data"] == {"q": "hi"}  # the key id, not the secret
    result = {"status_code": 200, "body": {"answer": "hello"}}
    done = http("POST", f"{base}/v1/queue/{task_id}/complete", result, worker, {"X-Lease-Id": task["lease_id"]})
    assert done[:2] == (200, task_id)

    status, read, _ = http("GET", f"{base}/v1/queue/{task_id}", key=producer)
    assert status == 200
    assert (read["status"], read["result"], read["ak"]) == ("succeeded", result, keys["producer"]["ak"])


def test_each_key_is_held_to_its_role_and_queues(server: ServerProcess, keys):
    base, producer, worker = server.base_url, keys["producer"]["apikey"], keys["worker"]["apikey"]
    task = {"queue": "demo", "endpoint": CHAT, "data": {}}

    assert_error(http("POST", f"{base}/v1/queue/put", task, worker), 403)
    assert_error(http("POST", f"{base}/v1/queue/take", {"queues": ["demo:0"], "size": 1}, producer), 403)
    assert_error(http("POST", f"{base}/v1/queue/register", {"queue": "demo2", "endpoint": CHAT}, producer), 403)
    assert_error(http("GET", f"{base}/v1/keys", key=worker), 403)
    assert_error(http("POST", f"{base}/v1/keys", {"name": "x", "role": "admin"}, producer), 403)
    # Outside the key's patterns: 403 for a producer's put and a worker's take alike.
    assert_error(http("POST", f"{base}/v1/queue/put", task | {"queue": "other"}, producer), 403)
    assert_error(http("POST", f"{base}/v1/queue/take", {"queues": ["other:0"], "size": 1}, worker), 403)


@pytest.mark.parametrize(
    "key",
    [None, MADE_UP_KEY, ADMIN_KEY + "x"],
    ids=["no key", "made-up key", "admin key plus a character"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/queue/put", {"queue": "demo", "endpoint": CHAT, "data": {}}),
        ("POST", "/v1/queue/put", b"{not json"),  # 401 before the body is looked at
        ("POST", "/v1/queue/take", {"size": "many"}),
        ("GET", "/v1/queue/TASK-unknown", None),
    ],
)
def test_a_missing_or_unknown_key_is_401(server: ServerProcess, keys, key, method, path, body):
    assert_error(http(method, f"{server.base_url}{path}", body, key), 401, UNAUTHORIZED_MESSAGE)


def test_a_non_bearer_scheme_is_401(server: ServerProcess, keys):
    answer = http("GET", f"{server.base_url}/v1/keys", headers={"Authorization": f"Basic {ADMIN_KEY}"})

    assert_error(answer, 401, UNAUTHORIZED_MESSAGE)


def test_a_revoked_key_is_401_at_once(server: ServerProcess, keys):
    base = server.base_url
    doomed = create_key(server, {"name": "doomed worker", "role": "worker", "queues": ["demo*"]})
    assert http("POST", f"{base}/v1/queue/take", {"queues": ["demo:0"], "size": 1}, doomed["apikey"])[0] == 200

    status, body, _ = http("DELETE", f"{base}/v1/keys/{doomed['ak']}", key=ADMIN_KEY)

    assert (status, body) == (204, None)
    answer = http("POST", f"{base}/v1/queue/take", {"queues": ["demo:0"], "size": 1}, doomed["apikey"])
    assert_error(answer, 401, UNAUTHORIZED_MESSAGE)
    assert doomed["ak"] not in [k["ak"] for k in http("GET", f"{base}/v1/keys", key=ADMIN_KEY)[1]]
    assert_error(http("DELETE", f"{base}/v1/keys/{doomed['ak']}", key=ADMIN_KEY), 404)
    # The other keys still work.
    metadata = http("GET", f"{base}/v1/queue/demo/metadata", key=keys["worker"]["apikey"])
    assert metadata[:2] == (200, {"queue": "demo", "endpoint": CHAT})


def test_listing_the_keys_never_shows_a_secret(server: ServerProcess, keys):
    status, listing, _ = http("GET", f"{server.base_url}/v1/keys", key=ADMIN_KEY)

    assert status == 200
    by_ak = {k["ak"]: k for k in listing}
    assert by_ak["ak-admin"]["role"] == "admin"  # the bootstrap key from TASKQ_ADMIN_KEY
    for created in keys.values():
        assert by_ak[created["ak"]] == {k: v for k, v in created.items() if k != "apikey"}
    secrets = [ADMIN_KEY, *(created["apikey"] for created in keys.values())]
    for secret in secrets:
        assert secret not in str(listing) and hashlib.sha256(secret.encode()).hexdigest() not in str(listing)
    # Nor does the server's log (which shows the admin key only in its start-up banner).
    log = server.log()
    assert '"message":"authorized"' in log
    assert not any(secret in log for secret in [*secrets[1:], MADE_UP_KEY])
