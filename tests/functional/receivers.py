"""Real callback receivers on 127.0.0.1 (a threading HTTP server) and a sender that reaches
them under any host name, for the tests of the POST and of slow receivers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from taskq.callbacks import CallbackGuard, HttpSender

seen: list[tuple[str, str, bytes]] = []  # path, Host and body of every POST
arrivals: list[tuple[str, float]] = []  # path and time.monotonic() of every POST
DRIP_SECONDS = 0.25


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen.append((self.path, self.headers["Host"], body))
        arrivals.append((self.path, time.monotonic()))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
        elif self.path == "/slow":
            threading.Event().wait(1)
            self.send_response(200)
        elif self.path == "/thanks":
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"thanks")
            return
        elif self.path == "/drip":
            self.drip()
            return
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def drip(self) -> None:
        """A 200 whose status line comes one byte at a time, each well within a per-read
        time-out, so only an overall deadline ends it."""
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                threading.Event().wait(DRIP_SECONDS)
        except OSError:
            pass  # the sender hung up, as it should

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many deliveries connect at once


@contextmanager
def receiving() -> Iterator[int]:
    """A receiver on a free port of 127.0.0.1 (the port is yielded) until the block ends."""
    seen.clear()
    arrivals.clear()
    server = _Server(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def local_sender(timeout: float = 5) -> HttpSender:
    """The real sender; every host name leads to 127.0.0.1."""
    return HttpSender(CallbackGuard(allow_private=True, resolve=lambda host, port: ["127.0.0.1"]), timeout)
