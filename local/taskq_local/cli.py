"""`taskq`: run the local server, or talk to any taskq API (local or AWS) over HTTP.

Output is JSON, or a readable table when stdout is a terminal (--json forces JSON). A non-2xx
answer prints the error body to stderr and exits 1; an unreachable server exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEFAULT_URL = "http://127.0.0.1:3000"
TABLE_COLUMNS = ("queue", "task_id", "status", "level", "endpoint", "attempts", "lease_id", "code", "message")
# The batched routes (spec §3.13): the command, its path and the body's list field.
BATCH_ROUTES = {
    "put-batch": ("/v1/queue/put-batch", "tasks"),
    "complete-batch": ("/v1/queue/complete-batch", "results"),
}
BATCH_ITEMS = 100


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def call(url: str, key: str | None, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
    """One request; the decoded JSON answer, or ApiError for a non-2xx answer."""
    with send(url, key, method, path, body, headers) as response:
        raw = response.read().decode()
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw


def send(
    url: str,
    key: str | None,
    method: str,
    path: str,
    body: Any = None,
    headers: dict | None = None,
    timeout: float = 60,
) -> Any:
    """Sends one request; the response with its body unread, or ApiError for a non-2xx answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)  # noqa: S310 - the user's URL
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as e:
        raise ApiError(e.code, e.read().decode(errors="replace")) from e


def json_argument(text: str) -> Any:
    """A JSON value given inline, or `@path` to read it from a file."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _rows_table(rows: list[dict[str, Any]]) -> str:
    columns = [c for c in TABLE_COLUMNS if any(c in row for row in rows)] or sorted({k for r in rows for k in r})
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def render_table(answer: Any) -> str:
    """A terminal rendering: take's {queue: [task]} and lists as rows, an object as key/value."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict) and answer and all(isinstance(v, list) for v in answer.values()):
        rows = [{**task, "queue": q} for q, tasks in answer.items() for task in tasks]  # q: "name:level"
        return _rows_table(rows) if rows else "(no tasks)"
    if isinstance(answer, dict) and not answer:
        return "(no tasks)"
    if isinstance(answer, list) and all(isinstance(v, dict) for v in answer):
        return _rows_table(answer) if answer else "(none)"
    if isinstance(answer, dict):
        width = max(len(k) for k in answer)
        return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in answer.items())
    return json.dumps(answer)


def jsonl_items(path: str) -> list[Any]:
    """The JSON values of a file, one a line (`-`: standard input); blank lines skipped."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"taskq: {path}, line {number}: not valid JSON: {e}") from e
    if not items:
        raise SystemExit(f"taskq: {path}: no items")
    return items


def batch_entries(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Sends a JSON-lines file to a batched route, 100 items a request; the answer's entries in
    the file's order, as `{"task_id", "code", "message"?}` rows for both routes."""
    path, field = BATCH_ROUTES[args.command]
    items = jsonl_items(args.file)
    rows = []
    for start in range(0, len(items), BATCH_ITEMS):
        for entry in call(args.url, args.key, "POST", path, {field: items[start : start + BATCH_ITEMS]})["data"]:
            error = entry.get("error")  # put-batch nests an item's error; complete-batch does not
            rows.append({"task_id": entry.get("task_id")} | (error or {"code": 200} | entry))
    return rows


def request_for(args: argparse.Namespace) -> tuple[str, str, Any, dict[str, str]]:
    """The HTTP method, path, body and extra headers of a client command."""
    if args.command == "register":
        return "POST", "/v1/queue/register", {"queue": args.queue, "endpoint": args.endpoint}, {}
    if args.command == "put":
        body = {"queue": args.queue, "endpoint": args.endpoint, "level": args.level, "data": args.data}
        optional = {"timeout": args.timeout, "callback_url": args.callback_url, "trace_id": args.trace_id}
        optional["response_mode"] = args.mode
        body.update({k: v for k, v in optional.items() if v is not None})
        idempotency = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
        return "POST", "/v1/queue/put", body, idempotency
    if args.command == "take":
        body = {"queues": args.queues, "size": args.size, "strategy": args.strategy}
        optional = {"endpoint": args.endpoint, "process_timeout": args.process_timeout}
        optional |= {"process_max_retries": args.max_retries, "min_age_seconds": args.min_age}
        body.update({k: v for k, v in optional.items() if v is not None})
        return "POST", "/v1/queue/take", body, {}
    task = f"/v1/queue/{quote(getattr(args, 'task_id', ''), safe='')}"
    if args.command == "complete":
        return "POST", f"{task}/complete", args.result, {"X-Lease-Id": args.lease_id} if args.lease_id else {}
    if args.command == "cancel":
        return "POST", f"{task}/cancel", None, {}
    if args.command == "get":
        return "GET", task, None, {}
    if args.command == "stats":
        return "GET", f"/v1/queue/{quote(args.queue, safe=':')}/stats", None, {}
    if args.command == "shards":
        return "POST", f"/v1/console/{quote(args.queue, safe=':')}/shards", {"shards": args.shards}, {}
    if args.command == "keys":
        return key_request(args)
    raise AssertionError(args.command)


def key_request(args: argparse.Namespace) -> tuple[str, str, Any, dict[str, str]]:
    if args.keys_command == "create":
        return "POST", "/v1/keys", {"name": args.name, "role": args.role, "queues": args.queues}, {}
    if args.keys_command == "list":
        return "GET", "/v1/keys", None, {}
    if args.keys_command == "revoke":
        return "DELETE", f"/v1/keys/{quote(args.ak, safe='')}", None, {}
    raise AssertionError(args.keys_command)


ONLINE_MODES = ("blocking", "streaming")
ONLINE_TIMEOUT_SECONDS = 660  # beyond the longest wait (600 s streaming); a stream speaks every 15 s


def online_put(args: argparse.Namespace, body: dict[str, Any], headers: dict[str, str], tty: bool) -> int:
    """A blocking put prints the worker's answer (its body; non-2xx to stderr, exit 1); a streaming
    put prints each event as it arrives, one JSON object a line ({"id", "event", "data"}; on a
    terminal `id event data`), and exits 1 when the stream ends with `event: error`."""
    streaming = args.mode == "streaming"
    headers = headers | ({"Accept": "text/event-stream"} if streaming else {})
    with send(args.url, args.key, "POST", "/v1/queue/put", body, headers, ONLINE_TIMEOUT_SECONDS) as response:
        print(f"X-Task-Id: {response.headers.get('X-Task-Id', '')}", file=sys.stderr, flush=True)
        if not streaming:
            raw = response.read().decode()
            print(raw if not tty else render_table(json.loads(raw) if raw else None), flush=True)
            return 0
        failed = False
        for event in sse_events(response):
            failed = failed or event["event"] == "error"
            print(" ".join(event.values()) if tty else json.dumps(event), flush=True)
        return 1 if failed else 0


def sse_events(lines: Any) -> Any:
    """The events of a text/event-stream, as {"id", "event", "data"} (id only when sent), read
    line by line as they arrive; comments (keep-alives) are skipped."""
    event: dict[str, str] = {}
    data: list[str] = []
    for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield {**event, "event": event.get("event", "message"), "data": "\n".join(data)}
            event, data = {}, []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("id", "event"):
                event[name] = value


def bootstrap_admin(args: argparse.Namespace) -> int:
    """Writes the first admin key of an AWS deployment straight into its Control table, with
    the caller's AWS credentials (no API key exists yet to ask the API with)."""
    import boto3

    from taskq.clock import SystemClock
    from taskq.config import TableNames
    from taskq.keys import KeyService, new_secret
    from taskq.store import DynamoStore

    client = boto3.client("dynamodb", region_name=args.region)
    tables = TableNames(tasks="", control=args.control_table, results="")
    secret = new_secret()
    KeyService(DynamoStore(client, tables), SystemClock()).bootstrap_admin(secret)
    print(json.dumps({"ak": "ak-admin", "apikey": secret}))
    print("Store this key now: it is shown only once. Revoke it with `taskq keys revoke ak-admin`.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskq", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the local server in the foreground")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="default: $HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")), help="default: $PORT or 3000")
    serve.add_argument("--quiet", action="store_true", help="no access log")
    serve.add_argument(
        "--ephemeral", action="store_true", help="keep everything in memory (default: $TASKQ_DATA_DIR or .taskq/)"
    )

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--url", default=os.environ.get("TASKQ_URL", DEFAULT_URL), help=f"default: {DEFAULT_URL}")
    client.add_argument("--key", default=os.environ.get("TASKQ_API_KEY"), help="API key; default: $TASKQ_API_KEY")
    client.add_argument("--json", action="store_true", help="JSON output even on a terminal")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[client])

    register = command("register", "register a queue (admin)")
    register.add_argument("queue")
    register.add_argument("endpoint", help="e.g. /v1/chat/completions")
    put = command("put", "put a task")
    put.add_argument("queue")
    put.add_argument("--endpoint", required=True)
    put.add_argument("--data", type=json_argument, required=True, help="JSON object, or @file")
    put.add_argument("--level", type=int, default=0)
    put.add_argument("--timeout", type=int, help="seconds until the task expires")
    put.add_argument("--callback-url")
    put.add_argument("--trace-id")
    put.add_argument("--idempotency-key")
    put.add_argument(
        "--mode",
        choices=["callback", "blocking", "streaming"],
        help="response_mode (default callback): blocking prints the worker's answer, streaming its events",
    )
    take = command("take", "take tasks")
    take.add_argument("queues", nargs="+", metavar="QUEUE:LEVEL")
    take.add_argument("--size", type=int, default=1)
    take.add_argument("--strategy", default="fifo", choices=["fifo", "round_robin", "active_passive", "sequential"])
    take.add_argument("--endpoint")
    take.add_argument("--process-timeout", type=int, help="lease in seconds")
    take.add_argument("--max-retries", type=int, help="process_max_retries")
    take.add_argument("--min-age", type=int, help="min_age_seconds")
    put_batch = command("put-batch", "put many tasks: a JSON-lines file of put bodies (+ idempotency_key)")
    put_batch.add_argument("file", help="one put body a line; - for standard input")
    complete_batch = command("complete-batch", "complete many tasks: a JSON-lines file")
    complete_batch.add_argument("file", help='one {"task_id", "lease_id", "result"} a line; - for standard input')
    complete = command("complete", "complete a running task with its result")
    complete.add_argument("task_id")
    complete.add_argument("--result", type=json_argument, default={"status_code": 200}, help="JSON object, or @file")
    complete.add_argument("--lease-id")
    for name, help in (("cancel", "cancel a task"), ("get", "show a task")):
        command(name, help).add_argument("task_id")
    command("stats", "a queue-level's counters").add_argument("queue", metavar="QUEUE:LEVEL")
    shards = command("shards", "raise a queue-level's ready shard count (admin; it is never lowered)")
    shards.add_argument("queue", metavar="QUEUE:LEVEL")
    shards.add_argument("shards", type=int, metavar="K", help="1..64")
    add_key_commands(commands, client)
    # `taskq worker pkg.module:handler --queue demo:1 ...`: the client library's worker command.
    # Parsed by taskq_client (see main); listed here for `taskq --help`.
    commands.add_parser("worker", help="run a handler as a worker: taskq worker pkg.module:handler --queue q:1")
    return parser


def add_key_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    keys = commands.add_parser("keys", help="API keys (admin)").add_subparsers(
        dest="keys_command", required=True, metavar="KEYS_COMMAND"
    )
    create = keys.add_parser("create", help="create a key; its secret is printed once", parents=[client])
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=["producer", "worker", "admin"])
    create.add_argument("--queues", nargs="+", default=["*"], metavar="PATTERN", help="queue-name globs; default *")
    keys.add_parser("list", help="list the keys (never their secrets)", parents=[client])
    keys.add_parser("revoke", help="revoke a key", parents=[client]).add_argument("ak")
    bootstrap = keys.add_parser("bootstrap-admin", help="create the first admin key of an AWS deployment")
    bootstrap.add_argument("--control-table", required=True, help="the stack's ControlTableName output")
    bootstrap.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:  # the client library's worker command, with its own options
        from taskq_client.cli import main as run_worker

        return run_worker(argv[1:], prog="taskq worker")
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .server import serve

        if args.ephemeral:
            os.environ["TASKQ_DATA_DIR"] = ""
        status = serve(args.host, args.port, access_log=not args.quiet)
        # Everything was shut down cleanly and every write is on disk or in memory only: skip the
        # interpreter's module teardown (half a second with moto loaded, more on a busy machine)
        # so Ctrl-C and SIGTERM stop the server well within 2 s.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    if getattr(args, "keys_command", None) == "bootstrap-admin":
        return bootstrap_admin(args)
    tty = sys.stdout.isatty() and not args.json
    try:
        if args.command in BATCH_ROUTES:  # exit 1 when any item was refused; every row is printed
            rows = batch_entries(args)
            print(render_table(rows) if tty else json.dumps(rows))
            return 0 if all(row["code"] == 200 for row in rows) else 1
        method, path, body, headers = request_for(args)
        if args.command == "put" and args.mode in ONLINE_MODES:
            return online_put(args, body, headers, tty)
        answer = call(args.url, args.key, method, path, body, headers)
    except ApiError as e:
        print(e.body or f"HTTP {e.status}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as e:
        print(f"taskq: cannot reach {args.url}: {getattr(e, 'reason', e)}", file=sys.stderr)
        return 2
    print(render_table(answer) if tty else json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
