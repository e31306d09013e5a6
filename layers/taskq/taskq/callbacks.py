"""Callback URLs (spec §4.4) and the HTTP POST that delivers a result (§4.1).

A callback URL is http(s) without whitespace or control characters. In AWS it may not lead to
loopback, link-local, private or reserved addresses, nor to IPv6 forms that embed one (the
service would otherwise POST into its own network), unless TASKQ_ALLOW_PRIVATE_CALLBACKS=true;
a refusal never says what the host resolved to (docs/security.md). It is checked at put and
again at each delivery, because DNS can change in between; the delivery then connects to the
very address it checked, so a second lookup cannot swap it.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from . import http_deadline
from .errors import BadRequest

# host, port -> the addresses it resolves to. Injectable, so tests need no DNS.
Resolver = Callable[[str, int], list[str]]
DEFAULT_PORTS = {"http": 80, "https": 443}
POST_TIMEOUT_SECONDS = 10.0  # a delivery's overall deadline: connect, send and answer together
PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))
MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer body is read (so the connection ends cleanly) but not kept


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# IPv6 forms that stand for an IPv4 address (a translator or the host's own stack delivers
# them there), so that IPv4 address alone decides: IPv4-mapped `::ffff:a.b.c.d`, SIIT's
# IPv4-translated `::ffff:0:a.b.c.d`, the deprecated IPv4-compatible `::a.b.c.d` and NAT64's
# well-known prefix (RFC 6052).
IPV4_STANDINS = [ipaddress.ip_network(n) for n in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96")]
# Never public, whatever IPv4 address they embed: NAT64 for local use (RFC 8215: the operator
# picks where the IPv4 address sits, and the translator is the deployment's own), and the
# deprecated tunnels 6to4 (RFC 7526) and Teredo, which IANA lists as not globally reachable
# (Python 3.13's ipaddress agrees, 3.11's does not for 6to4: decided here, not by the runtime).
NEVER_PUBLIC = [ipaddress.ip_network(n) for n in ("64:ff9b:1::/48", "2002::/16", "2001::/32")]


def is_public_address(address: str) -> bool:
    """Global unicast, also for every IPv4 address the IPv6 form embeds (spec §4.4)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public(ip)
    if any(ip in network for network in NEVER_PUBLIC):
        return False
    if any(ip in network for network in IPV4_STANDINS):
        return _is_public(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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
        # The message never says what the host resolved to: a caller must not learn the
        # service's view of DNS (internal names, addresses) from a refusal.
        if not self.allow_private and not all(map(is_public_address, addresses)):
            raise BadRequest(
                f"callback_url: host {host!r} leads to a non-public address (loopback, link-local, private or "
                "reserved), which this service does not call"
            )
        return Target(scheme, host, port, path, addresses)

    @staticmethod
    def _parts(url: str) -> tuple[str, str, int, str]:
        # Checked on the text as given: urlsplit silently drops tabs and line breaks, and a
        # line break that reached the request line would split it (header injection).
        if any(c.isspace() or not c.isprintable() for c in url):
            raise BadRequest("callback_url: must not contain whitespace or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise BadRequest("callback_url: not a valid URL") from e
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise BadRequest("callback_url: must be an http or https URL")
        # The request line is ASCII: other characters go as UTF-8, percent-encoded (as browsers
        # send them); what is ASCII already, %-escapes included, is left as written.
        path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=PRINTABLE_ASCII)
        return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], path


@dataclass(frozen=True)
class Attempt:
    """How one POST went: `ok` for a 2xx answer."""

    ok: bool
    http_status: int | None = None
    error: str = ""


class HttpSender:
    """POSTs within an overall deadline, connecting to the checked address, never following a
    redirect (a redirect could lead anywhere, and the body is for this URL only)."""

    def __init__(self, guard: CallbackGuard, timeout: float = POST_TIMEOUT_SECONDS) -> None:
        self._guard = guard
        self._timeout = timeout

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        deadline = time.monotonic() + self._timeout  # DNS, when slow, uses up part of it
        try:
            target = self._guard.target(url)
        except BadRequest as e:
            return Attempt(False, None, e.message)
        connection = http_deadline.connection(target.scheme, target.host, target.port, target.addresses[0], deadline)
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
