"""Callback URLs (spec §4.4) and the HTTP POST that delivers a result (§4.1).

In AWS a callback URL may not lead to loopback, link-local, private or reserved addresses (the
service would otherwise POST into its own network), unless TASKQ_ALLOW_PRIVATE_CALLBACKS=true.
It is checked at put and again at each delivery, because DNS can change in between; the
delivery then connects to the very address it checked, so a second lookup cannot swap it.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import BadRequest

# host, port -> the addresses it resolves to. Injectable, so tests need no DNS.
Resolver = Callable[[str, int], list[str]]
DEFAULT_PORTS = {"http": 80, "https": 443}
POST_TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer body is read (so the connection ends cleanly) but not kept


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return ip.is_global and not ip.is_multicast


def allow_private_from_env(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("TASKQ_ALLOW_PRIVATE_CALLBACKS", "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Target:
    """Where a POST goes: the URL's parts and the addresses that were checked."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: list[str]


@dataclass(frozen=True)
class CallbackGuard:
    allow_private: bool = False
    resolve: Resolver = system_resolver

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CallbackGuard:
        return cls(allow_private=allow_private_from_env(environ))

    def check(self, url: str) -> None:
        """At put: 400 naming callback_url when the URL may not be used. With private
        addresses allowed, nothing needs resolving."""
        if self.allow_private:
            self._parts(url)
        else:
            self.target(url)

    def target(self, url: str) -> Target:
        scheme, host, port, path = self._parts(url)
        try:
            addresses = self.resolve(host, port)
        except (OSError, UnicodeError) as e:
            raise BadRequest(f"callback_url: host {host!r} does not resolve") from e
        if not addresses:
            raise BadRequest(f"callback_url: host {host!r} does not resolve")
        if not self.allow_private:
            for address in addresses:
                if not is_public_address(address):
                    raise BadRequest(
                        f"callback_url: {host!r} resolves to {address}, a loopback, link-local, private or reserved "
                        "address, which this service does not call"
                    )
        return Target(scheme, host, port, path, addresses)

    @staticmethod
    def _parts(url: str) -> tuple[str, str, int, str]:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise BadRequest("callback_url: not a valid URL") from e
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise BadRequest("callback_url: must be an http or https URL")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], path


@dataclass(frozen=True)
class Attempt:
    """How one POST went: `ok` for a 2xx answer."""

    ok: bool
    http_status: int | None = None
    error: str = ""


class HttpSender:
    """POSTs with a time-out, connecting to the checked address, never following a redirect
    (a redirect could lead anywhere, and the body is for this URL only)."""

    def __init__(self, guard: CallbackGuard, timeout: float = POST_TIMEOUT_SECONDS) -> None:
        self._guard = guard
        self._timeout = timeout

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        try:
            target = self._guard.target(url)
        except BadRequest as e:
            return Attempt(False, None, e.message)
        connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(target.host, target.port, timeout=self._timeout)
        address = target.addresses[0]
        # Connect to the address that was checked; Host and TLS still name the URL's host.
        connection._create_connection = lambda _address, timeout, source=None: socket.create_connection(  # type: ignore[attr-defined]
            (address, target.port), timeout, source
        )
        try:
            connection.request("POST", target.path, body=body, headers=dict(headers))
            answer = connection.getresponse()
            answer.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException) as e:
            return Attempt(False, None, f"{type(e).__name__}: {e}"[:500])
        finally:
            connection.close()
        if 200 <= answer.status <= 299:
            return Attempt(True, answer.status)
        return Attempt(False, answer.status, f"HTTP {answer.status}")
