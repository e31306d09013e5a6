"""A callback receiver for trying callbacks locally: prints each POST it gets as one JSON line
(task id, status, body) and answers 200.

    python -m taskq_local.receiver --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        line = {
            "path": self.path,
            "task_id": self.headers.get("X-Task-Id"),
            "status": self.headers.get("X-Task-Status"),
            "body": json.loads(body or b"null"),
        }
        print(json.dumps(line), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # stdout carries the callbacks only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskq_local.receiver", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = HTTPServer((args.host, args.port), _Receiver)
    print(f"receiving callbacks on http://{args.host}:{server.server_port}/", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
