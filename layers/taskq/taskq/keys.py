"""API keys (spec §3.11): random secrets, stored only as SHA-256 hashes, identified by `ak`.

A secret is 32 random bytes from `secrets`, so a plain SHA-256 cannot be reversed or guessed;
a slow password hash would only add latency to every authorization.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import permissions
from .clock import Clock
from .errors import NotFound
from .models import Principal, Role

if TYPE_CHECKING:  # an annotation only: pydantic stays out of the functions that never parse requests
    from .requests import KeyCreateRequest

SECRET_PREFIX = "tq_"  # noqa: S105 - a prefix that marks taskq secrets, not a secret


BOOTSTRAP_ADMIN_AK = "ak-admin"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return f"ak-{secrets.token_hex(8)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    ak: str
    name: str
    role: Role
    queues: tuple[str, ...]
    created_time: int

    @property
    def principal(self) -> Principal:
        return Principal(self.ak, self.role, self.queues)

    def to_wire(self) -> dict[str, Any]:
        return {
            "ak": self.ak,
            "name": self.name,
            "role": self.role.value,
            "queues": list(self.queues),
            "created_time": self.created_time,
        }


class KeyService:
    def __init__(self, store: Any, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def create(self, principal: Principal, request: KeyCreateRequest) -> dict[str, Any]:
        """The new key; the answer is the only place its secret ever appears."""
        permissions.require_admin(principal, "creating keys")
        secret = new_secret()
        key = self.add(secret, request.name, Role(request.role), tuple(request.queues))
        return key.to_wire() | {"apikey": secret}

    def add(self, secret: str, name: str, role: Role, queues: tuple[str, ...], ak: str | None = None) -> ApiKey:
        """Stores a key for `secret` (its hash only). Also used to bootstrap the first admin key."""
        key = ApiKey(ak or new_key_id(), name, role, queues, self._clock.now_ms())
        self._store.put_api_key(key, hash_secret(secret))
        return key

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        permissions.require_admin(principal, "listing keys")
        return [key.to_wire() for key in self._store.list_api_keys()]

    def revoke(self, principal: Principal, ak: str) -> None:
        permissions.require_admin(principal, "revoking keys")
        if not self._store.delete_api_key(ak):
            raise NotFound(f"ak: no key {ak!r}")

    def bootstrap_admin(self, secret: str) -> ApiKey | None:
        """Makes `secret` the bootstrap admin key (`ak-admin`), replacing an earlier bootstrap
        key; None when it already is. How a fresh deployment gets its first admin key."""
        if self.authenticate(secret) is not None:
            return None
        self._store.delete_api_key(BOOTSTRAP_ADMIN_AK)
        return self.add(secret, "bootstrap admin", Role.ADMIN, ("*",), ak=BOOTSTRAP_ADMIN_AK)

    def authenticate(self, secret: str) -> Principal | None:
        key = self._store.get_api_key(hash_secret(secret)) if secret else None
        return None if key is None else key.principal
