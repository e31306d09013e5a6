"""HTTP connections with one deadline for the whole exchange (spec §4.4).

A socket time-out bounds each read or write alone: a receiver that drips a byte every few
seconds never trips it and holds the POST for as long as it likes. Here every socket operation
waits at most the time left before the deadline, so connect, TLS handshake, request and answer
together end by it, in the caller's own thread (nothing is left behind to post late).
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from typing import Any


def time_left(deadline: float) -> float:
    """Seconds until `deadline` (a `time.monotonic()` value); TimeoutError once it passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out: the delivery's deadline passed")
    return left


class DeadlineSocket:
    """The few socket calls http.client makes on a connected (TLS) socket, each bounded by
    the time left. (An SSL socket's own `sendall` restarts its time-out on every chunk.)"""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        # Like a socket's makefile: http.client closes the connection before the answer's body
        # is read (HTTP/1.0, `Connection: close`), so the socket ends when its readers have too.
        self._readers = 0
        self._closing = False

    def sendall(self, data: bytes) -> None:
        with memoryview(data) as view, view.cast("B") as chunk:
            sent = 0
            while sent < len(chunk):
                self._sock.settimeout(time_left(self._deadline))
                sent += self._sock.send(chunk[sent:])

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self._sock.settimeout(time_left(self._deadline))
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        self._closing = True
        if not self._readers:
            self._sock.close()

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closing and not self._readers:
            self._sock.close()


class _Reader(io.RawIOBase):
    def __init__(self, sock: DeadlineSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.reader_closed()
        super().close()


class _Deadline:
    """Connects with the time left and then bounds every operation of the connection."""

    deadline: float
    address: str
    sock: Any
    timeout: float | None

    def connect(self) -> None:
        self.timeout = time_left(self.deadline)  # connect and the TLS handshake, each as one call
        super().connect()  # type: ignore[misc]
        self.sock = DeadlineSocket(self.sock, self.deadline)

    def to_checked_address(self, _address: Any, timeout: float, source: Any = None) -> socket.socket:
        # The address that was checked, not a second lookup; Host and TLS still name the URL's host.
        return socket.create_connection((self.address, self.port), timeout, source)  # type: ignore[attr-defined]


class _HTTPConnection(_Deadline, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Deadline, http.client.HTTPSConnection):
    pass


def connection(scheme: str, host: str, port: int, address: str, deadline: float) -> http.client.HTTPConnection:
    """A connection to `address` for the URL's `host`, ending by `deadline` (monotonic)."""
    opened = (_HTTPSConnection if scheme == "https" else _HTTPConnection)(host, port)
    opened.deadline, opened.address = deadline, address
    opened._create_connection = opened.to_checked_address  # type: ignore[attr-defined]
    return opened
