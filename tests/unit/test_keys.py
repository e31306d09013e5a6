"""API key secrets and ids (spec §3.11): random, unguessable, stored and shown only as allowed."""

from __future__ import annotations

import base64
import hashlib
import re

from taskq.keys import SECRET_PREFIX, ApiKey, hash_secret, new_key_id, new_secret
from taskq.models import Role

MANY = 2000


def token_bytes(secret: str) -> bytes:
    """The random bytes behind a secret: its part after the prefix, URL-safe base64."""
    token = secret.removeprefix(SECRET_PREFIX)
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_a_secret_is_the_prefix_and_url_safe_text():
    secret = new_secret()

    assert SECRET_PREFIX == "tq_"
    assert secret.startswith("tq_")
    assert re.fullmatch(r"tq_[A-Za-z0-9_-]+", secret), secret


def test_a_secret_carries_at_least_32_random_bytes():
    for _ in range(50):
        assert len(token_bytes(new_secret())) >= 32


def test_secrets_are_unique_and_do_not_share_their_random_part():
    secrets = [new_secret() for _ in range(MANY)]

    assert len(set(secrets)) == MANY
    # No fixed bytes hide behind the prefix: the first random bytes differ across secrets too.
    assert len({token_bytes(s)[:8] for s in secrets}) == MANY


def test_a_key_id_is_ak_and_hex_and_unique():
    ids = [new_key_id() for _ in range(MANY)]

    for ak in ids:
        assert re.fullmatch(r"ak-[0-9a-f]{16}", ak), ak
    assert len(set(ids)) == MANY


def test_hash_secret_is_the_sha256_hex_of_the_secret():
    # A known answer (FIPS 180-2's "abc" vector), then any secret against hashlib.
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    secret = new_secret()
    assert hash_secret(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert hash_secret(secret) != hash_secret(secret + "x")


def test_to_wire_shows_the_key_without_its_secret_or_hash():
    key = ApiKey("ak-0123456789abcdef", "billing producer", Role.PRODUCER, ("deepseek-*", "gpt-?"), 1_700_000_000_000)

    wire = key.to_wire()

    assert wire == {
        "ak": "ak-0123456789abcdef",
        "name": "billing producer",
        "role": "producer",
        "queues": ["deepseek-*", "gpt-?"],
        "created_time": 1_700_000_000_000,
    }  # exactly these fields: no `apikey`, no `key_hash`


def test_the_principal_of_a_key_is_its_id_role_and_patterns():
    key = ApiKey("ak-00000000000000aa", "w", Role.WORKER, ("alpha*",), 1)

    principal = key.principal

    assert (principal.ak, principal.role, principal.queues) == ("ak-00000000000000aa", Role.WORKER, ("alpha*",))
