"""The local server: a threaded HTTP server in front of the real Lambda handler (spec §5).

Each request runs in its own thread, so a long-waiting request never blocks the others; the
embedded store's lock (embedded.py) keeps each DynamoDB call atomic.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .events import FRAMING_HEADERS, HttpRequest, HttpResponse, error_response
from .functions import load_functions
from .gateway import LocalGateway, function_authorizer
from .routes import RouteTable
from .template import TEMPLATE

logger = logging.getLogger("taskq_local")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
SHUTDOWN_POLL_SECONDS = 0.05  # how often serve_forever looks for a shutdown request


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[], None]


# What the local server sets unless the environment says otherwise (spec §5).
LOCAL_DEFAULTS = {
    "TASKQ_ALLOW_PRIVATE_CALLBACKS": "true",  # receivers on 127.0.0.1 are the point of running locally
    "TASKQ_CALLBACK_BACKOFF": "1",  # seconds, doubling: retries can be watched
    "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF lines in the terminal
    "POWERTOOLS_LOG_LEVEL": "WARNING",  # no line per put, take and complete; INFO shows them
}


def periodic_jobs(environ: Mapping[str, str]) -> list[PeriodicJob]:
    """The background work the server runs besides requests, as AWS runs it beside the API:
    the sweeper, the dispatcher fed from the Tasks stream, the dispatcher's scheduled jobs and
    the batch function's runs."""
    from .background import (
        BATCH_RUNS_SECONDS,
        SCHEDULED_JOBS_SECONDS,
        STREAM_POLL_SECONDS,
        batch_runs,
        scheduled_jobs,
        stream_job,
        sweep,
    )

    return [
        PeriodicJob("sweeper", float(environ.get("TASKQ_SWEEP_INTERVAL") or 1), sweep),
        PeriodicJob("batches", BATCH_RUNS_SECONDS, batch_runs),
        PeriodicJob("dispatcher-stream", STREAM_POLL_SECONDS, stream_job(environ)),
        PeriodicJob("dispatcher-scheduled", SCHEDULED_JOBS_SECONDS, scheduled_jobs),
    ]


class PeriodicRunner:
    """Runs each job every `interval_seconds` until stopped, each on its own thread (in AWS they
    are separate functions: a slow callback receiver must not hold up the sweeper); a failing
    run is logged, not fatal."""

    def __init__(self, jobs: list[PeriodicJob]) -> None:
        self._jobs = jobs
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(job,), name=f"taskq-{job.name}", daemon=True) for job in jobs
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, job: PeriodicJob) -> None:
        while not self._stop.wait(job.interval_seconds):
            try:
                job.run()
            except Exception:
                logger.exception("periodic job %s failed", job.name)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: workers and load tests reuse connections
    server_version = "taskq-local"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    # TCP_NODELAY: an answer's headers and body (and a stream's chunks) are separate writes; with
    # Nagle's algorithm on, each write after the first waits for the client's ACK of the one
    # before, which clients delay by up to 40 ms (docs/performance.md, "Online tasks").
    disable_nagle_algorithm = True
    server: LocalHttpServer

    def _serve(self) -> None:
        body = self._read_body()
        if isinstance(body, HttpResponse):
            self.close_connection = True
            self._write(body)
            return
        request = HttpRequest(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        answer = self.server.gateway.handle(request)
        if isinstance(answer, HttpResponse):
            self._write(answer)
        else:
            answer.run(_StreamedAnswer(self))

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler looks up `do_<METHOD>`; every method goes to the gateway, which
        # answers the ones API Gateway would refuse.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes | HttpResponse:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return error_response(400, "Content-Length: must be an integer")
        if length < 0 or length > MAX_BODY_BYTES:
            return error_response(413, f"body: at most {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | HttpResponse:
        chunks, total = [], 0
        while True:
            try:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            except ValueError:
                return error_response(400, "body: malformed chunked encoding")
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                return error_response(413, f"body: at most {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The errors http.server answers itself (a URL over 64 KiB: 414, a malformed request
        line: 400, an HTTP version it does not speak: 505) in the spec's JSON error body, not
        its HTML page. The connection is closed: what follows on it cannot be trusted."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # set before the request line is understood
            self.request_version = "HTTP/1.0"  # so the status line and headers are sent
        self.log_error("code %d, message %s", code, message)
        short = self.responses.get(code, ("error",))[0]
        self._write(error_response(code, message or short, [("Connection", "close")]))

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            super().log_message(format, *args)


class _StreamedAnswer:
    """A ResponseChannel (asgi.py) on the handler's connection: each chunk is written to the
    socket as the app sends it (the writer is unbuffered), chunked when the app gives no
    Content-Length, or delimited by closing the connection for an HTTP/1.0 client."""

    def __init__(self, handler: _RequestHandler) -> None:
        self._handler = handler
        self.socket = handler.connection
        self._chunked = False
        self._body = handler.command != "HEAD"

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        handler = self._handler
        handler.send_response(status)
        for name, value in headers:
            if name.lower() not in FRAMING_HEADERS or name.lower() == "content-length":
                handler.send_header(name, value)
        if self._body and not any(name.lower() == "content-length" for name, _ in headers):
            if handler.request_version == "HTTP/1.1":
                handler.send_header("Transfer-Encoding", "chunked")
                self._chunked = True
            else:
                handler.send_header("Connection", "close")
        handler.end_headers()

    def write(self, data: bytes) -> None:
        if self._body:
            self._handler.wfile.write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)

    def finish(self) -> None:
        if self._chunked:
            self._handler.wfile.write(b"0\r\n\r\n")

    def abort(self) -> None:
        self._handler.close_connection = True


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a request still waiting never delays shutdown
    allow_reuse_address = True
    # The listen backlog (socketserver's default is 5): connections that arrive together wait
    # here until the accept loop takes them; beyond it the kernel drops or resets them.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], gateway: LocalGateway, access_log: bool = True) -> None:
        self.gateway = gateway
        self.access_log = access_log
        super().__init__(address, _RequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def raise_open_file_limit() -> None:
    """Each connection is a file descriptor and each request in an ASGI function three more
    (its event loop's selector and wake-up pair): 200 waiting producers need about 1000, more
    than some systems' default soft limit (256 on macOS). The hard limit allows more."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def bootstrap_admin_key(secret: str) -> None:
    """TASKQ_ADMIN_KEY (or the generated key) becomes a valid admin key in the key store, the
    way `taskq keys bootstrap-admin` makes the first admin key of an AWS deployment."""
    from taskq.clock import SystemClock
    from taskq.keys import KeyService
    from taskq.store import store_from_env

    KeyService(store_from_env(), SystemClock()).bootstrap_admin(secret)


def banner(base_url: str, admin_key: str, generated: bool, database: str) -> str:
    origin = "generated; set TASKQ_ADMIN_KEY to choose one" if generated else "from TASKQ_ADMIN_KEY"
    return "\n".join(
        [
            f"taskq local server listening on {base_url}  (DynamoDB: {database})",
            f"admin key: {admin_key}  ({origin})",
            "try:",
            f"  curl -s {base_url}/v1/queue/register -H 'Authorization: Bearer {admin_key}' \\",
            """    -H 'Content-Type: application/json' -d '{"queue": "demo", "endpoint": "/v1/chat/completions"}'""",
            f"or the CLI:  TASKQ_API_KEY={admin_key} taskq register demo /v1/chat/completions --url {base_url}",
            "Ctrl-C stops it.",
        ]
    )


def serve(host: str, port: int, environ: MutableMapping[str, str] = os.environ, access_log: bool = True) -> int:
    """Runs in the foreground until SIGINT or SIGTERM; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    admin_key = environ.get("TASKQ_ADMIN_KEY") or secrets.token_urlsafe(32)
    generated = not environ.get("TASKQ_ADMIN_KEY")
    for name, value in LOCAL_DEFAULTS.items():
        environ.setdefault(name, value)

    from .embedded import start_database
    from .journal import DataDirError

    try:
        database = start_database(environ)
    except DataDirError as e:
        print(f"taskq: {e}", file=sys.stderr)
        return 1
    # Imported only now: powertools reads its settings from the environment at import time.
    from taskq_authorizer.app import lambda_handler as authorizer_handler

    bootstrap_admin_key(admin_key)
    cache_seconds = float(environ.get("TASKQ_AUTH_CACHE_SECONDS", "0"))
    authorize = function_authorizer(authorizer_handler, cache_seconds)
    # TASKQ_LOCAL_TEMPLATE: another template's routes and functions (a variant to try, or a test
    # app); the tables stay those of template.yaml.
    template = Path(environ.get("TASKQ_LOCAL_TEMPLATE") or TEMPLATE)
    gateway = LocalGateway(RouteTable.from_template(template), load_functions(template), authorize)
    raise_open_file_limit()
    try:
        server = LocalHttpServer((host, port), gateway, access_log)
    except OSError as e:
        print(f"taskq: cannot listen on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    jobs = PeriodicRunner(periodic_jobs(environ))
    jobs.start()
    threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), daemon=True).start()
    print(banner(server.base_url, admin_key, generated, database.description), flush=True)
    while not stop.wait(0.05):
        pass
    print("taskq: stopping", file=sys.stderr, flush=True)
    server.shutdown()  # returns within SHUTDOWN_POLL_SECONDS; request threads are daemons
    server.server_close()
    jobs.stop()
    return 0
