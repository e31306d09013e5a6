"""`taskq serve` with a count of the DynamoDB and S3 requests it makes, for bench/online.py and
bench/batch.py:
`python -m bench.counted_server serve ...` (the `taskq` command line's own arguments).

The count is bench/meter.py's (botocore's `before-call` event), hooked into botocore's built-in
handlers before any client exists, so every client the server's functions, authorizer, sweeper
and dispatcher create in this process is counted, as cost.py counts its one client. The
benchmark reads it as JSON (`{"GetItem": n, ..., "s3:PutObject": n}`: S3 operations prefixed, the
Batch API's files) from 127.0.0.1:$BENCH_COUNT_PORT.

BENCH_TCP_NODELAY=1 is an experiment, not the server as shipped: it sets TCP_NODELAY on the
server's connections. The server writes an answer's headers and its body in two sends, so
Nagle's algorithm holds the body until the client acknowledges the headers, which a client
delays by up to 40 ms (delayed ACK): docs/performance.md "Online tasks" measures both.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.handlers import BUILTIN_HANDLERS

from .meter import Meter

METER = Meter()
S3_METER = Meter()


class _Counts(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        s3 = {f"s3:{name}": n for name, n in S3_METER.snapshot().items()}
        body = json.dumps(dict(METER.snapshot()) | s3).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def main() -> int:
    # Meter.attach registers on one client; a session copies these handlers into every client.
    BUILTIN_HANDLERS.append(("before-call.dynamodb", METER._before_call))
    BUILTIN_HANDLERS.append(("before-call.s3", S3_METER._before_call))
    counts = ThreadingHTTPServer(("127.0.0.1", int(os.environ["BENCH_COUNT_PORT"])), _Counts)
    threading.Thread(target=counts.serve_forever, name="bench-counts", daemon=True).start()
    from taskq_local.cli import main as taskq

    if os.environ.get("BENCH_TCP_NODELAY"):
        from taskq_local.server import _RequestHandler

        _RequestHandler.disable_nagle_algorithm = True  # socketserver.StreamRequestHandler's switch

    return taskq(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
