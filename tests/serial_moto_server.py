"""moto's server, answering one request at a time.

`moto_server` is threaded, and moto does not make a conditional write atomic under concurrent
requests, so a race against it can fail for moto's sake rather than ours. Serving requests one
by one gives what DynamoDB guarantees per item — each conditional write is atomic — while the
clients still interleave their calls freely.

Usage: python tests/serial_moto_server.py PORT
"""

from __future__ import annotations

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
