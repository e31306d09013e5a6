"""/v1/keys (spec §3.11): admins create, list and revoke API keys; the secret is shown once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from apigw import Caller, call

from taskq.clock import ManualClock
from taskq.keys import KeyService, hash_secret
from taskq.models import Role
from taskq.store import DynamoStore

ERROR_FIELDS = {"code", "message", "timestamp"}


@pytest.fixture
def keys(store: DynamoStore, clock: ManualClock) -> KeyService:
    return KeyService(store, clock)


def create(admin: Caller, body: dict[str, Any]) -> dict[str, Any]:
    answer = call("POST", "/v1/keys", body, admin)
    assert answer.status == 201, answer
    return answer.body


def assert_error(answer, status: int, *words: str) -> None:
    assert answer.status == status, answer
    assert set(answer.body) == ERROR_FIELDS and answer.body["code"] == status, answer.body
    for word in words:
        assert word in answer.body["message"], answer.body


def test_an_admin_creates_a_key_and_sees_its_secret_once(admin: Caller, keys: KeyService, clock: ManualClock):
    answer = call("POST", "/v1/keys", {"name": "chat producer", "role": "producer", "queues": ["deepseek-*"]}, admin)

    assert answer.status == 201
    assert answer.headers["Content-Type"].startswith("application/json")
    created = answer.body
    assert set(created) == {"ak", "apikey", "name", "role", "queues", "created_time"}
    assert re.fullmatch(r"ak-[0-9a-f]+", created["ak"])
    assert created["apikey"].startswith("tq_") and len(created["apikey"]) >= 40
    assert (created["name"], created["role"], created["queues"]) == ("chat producer", "producer", ["deepseek-*"])
    assert created["created_time"] == clock.now_ms()
    # The secret is a working key for exactly that principal.
    principal = keys.authenticate(created["apikey"])
    assert principal is not None
    assert (principal.ak, principal.role, principal.queues) == (created["ak"], Role.PRODUCER, ("deepseek-*",))


def test_queues_default_to_every_queue(admin: Caller):
    created = create(admin, {"name": "worker", "role": "worker"})

    assert created["queues"] == ["*"]


def test_each_key_gets_its_own_id_and_secret(admin: Caller):
    first, second = (create(admin, {"name": "same", "role": "worker"}) for _ in range(2))

    assert first["ak"] != second["ak"] and first["apikey"] != second["apikey"]


def test_listing_shows_every_key_without_secret_or_hash(admin: Caller, clock: ManualClock):
    producer = create(admin, {"name": "p", "role": "producer", "queues": ["alpha*"]})
    clock.advance(seconds=1)
    worker = create(admin, {"name": "w", "role": "worker", "queues": ["alpha*", "beta"]})

    answer = call("GET", "/v1/keys", None, admin)

    assert answer.status == 200
    by_ak = {key["ak"]: key for key in answer.body}
    assert by_ak == {
        created["ak"]: {k: v for k, v in created.items() if k != "apikey"} for created in (producer, worker)
    }
    values = [str(v) for key in answer.body for v in key.values()]
    for secret in (producer["apikey"], worker["apikey"]):
        assert secret not in values and hash_secret(secret) not in values
        assert secret not in str(answer.body) and hash_secret(secret) not in str(answer.body)


def test_revoking_a_key_stops_it(admin: Caller, keys: KeyService):
    created = create(admin, {"name": "w", "role": "worker"})
    other = create(admin, {"name": "other", "role": "worker"})

    answer = call("DELETE", f"/v1/keys/{created['ak']}", None, admin)

    assert (answer.status, answer.body) == (204, None)
    assert keys.authenticate(created["apikey"]) is None
    assert keys.authenticate(other["apikey"]) is not None
    assert [key["ak"] for key in call("GET", "/v1/keys", None, admin).body] == [other["ak"]]
    # Revoking it again: it is gone.
    assert_error(call("DELETE", f"/v1/keys/{created['ak']}", None, admin), 404, created["ak"])


def test_revoking_an_unknown_key_is_404(admin: Caller):
    assert_error(call("DELETE", "/v1/keys/ak-0000000000000000", None, admin), 404, "ak", "ak-0000000000000000")


@pytest.mark.parametrize("role", ["producer", "worker"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/keys", {"name": "sneaky", "role": "admin"}),
        ("GET", "/v1/keys", None),
        ("DELETE", "/v1/keys/{ak}", None),
        ("DELETE", "/v1/keys/ak-0000000000000000", None),
    ],
)
def test_only_admins_touch_keys(admin: Caller, keys: KeyService, role: str, method: str, path: str, body):
    existing = create(admin, {"name": "existing", "role": "worker"})
    caller = Caller(f"ak-{role}-0001", role)

    answer = call(method, path.format(ak=existing["ak"]), body, caller)

    assert_error(answer, 403, "admin")
    # Nothing changed: the existing key still works and no key was added.
    assert keys.authenticate(existing["apikey"]) is not None
    assert [key["ak"] for key in call("GET", "/v1/keys", None, admin).body] == [existing["ak"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "k"}, "role", id="missing role"),
        pytest.param({"name": "k", "role": "superuser"}, "role", id="unknown role"),
        pytest.param({"name": "k", "role": "Admin"}, "role", id="role in another case"),
        pytest.param({"role": "worker"}, "name", id="missing name"),
        pytest.param({"name": "", "role": "worker"}, "name", id="empty name"),
        pytest.param({"name": "k", "role": "worker", "queues": "alpha*"}, "queues", id="queues not a list"),
        pytest.param({"name": "k", "role": "worker", "queues": []}, "queues", id="empty queues"),
        pytest.param({"name": "k", "role": "worker", "queues": ["alpha/*"]}, "queues", id="bad pattern"),
        pytest.param({"name": "k", "role": "worker", "queues": [""]}, "queues", id="empty pattern"),
        pytest.param({"name": "k", "role": "worker", "queues": [7]}, "queues", id="pattern not text"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(admin: Caller, body: dict[str, Any], field: str):
    answer = call("POST", "/v1/keys", body, admin)

    assert_error(answer, 400)
    assert answer.body["message"].startswith((f"{field}:", f"{field}.")), answer.body
    assert call("GET", "/v1/keys", None, admin).body == []  # nothing was created
