"""`taskq-worker pkg.module:handler --queue demo:1 [--concurrency 4] [--strategy fifo] ...`
(also `taskq worker ...`): runs a handler function, or a Worker object, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .client import Client
from .worker import Worker


def load(target: str) -> object:
    """`pkg.module:name` -> the object; the working directory is importable, as for `python -m`."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"taskq-worker: expected pkg.module:handler, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    value: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def build_parser(prog: str = "taskq-worker") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("target", metavar="pkg.module:handler", help="a function (task, ctx), or a Worker")
    parser.add_argument("--queue", dest="queues", action="append", required=True, metavar="NAME:LEVEL")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--strategy", default="fifo", choices=["fifo", "round_robin", "active_passive", "sequential"])
    parser.add_argument("--endpoint", help="only tasks with this endpoint")
    parser.add_argument("--process-timeout", type=int, default=60, help="lease in seconds (default 60)")
    parser.add_argument("--max-retries", type=int, default=3, help="redeliveries allowed (default 3, -1 unlimited)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to finish running tasks on SIGTERM")
    parser.add_argument("--url", default=None, help="default: $TASKQ_URL or http://127.0.0.1:3000")
    parser.add_argument("--key", default=None, help="default: $TASKQ_API_KEY")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None, prog: str = "taskq-worker") -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    target = load(args.target)
    if isinstance(target, Worker):  # configured in code; the command line only runs it
        return target.run()
    if not callable(target):
        raise SystemExit(f"taskq-worker: {args.target} is neither a function nor a Worker")
    worker = Worker(
        Client(args.url, args.key),
        args.queues,
        strategy=args.strategy,
        concurrency=args.concurrency,
        process_timeout=args.process_timeout,
        max_retries=args.max_retries,
        endpoint=args.endpoint,
        grace=args.grace,
    )
    worker.handler(target)
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
