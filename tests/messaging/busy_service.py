"""A service whose HTTP handler takes as long as it is asked to, run the production way
(services.messaging.runner.run_services) for tests/messaging/test_runner.py:

    python -m tests.messaging.busy_service GRACE_SECONDS [AMQP_URI]

(no AMQP_URI: the in-process bus). No startup checks: a broker that refuses is met while
starting, as it would be if it began refusing between the check and the start.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import logging  # noqa: E402
import sys  # noqa: E402

from nameko.rpc import rpc  # noqa: E402

from services.messaging.embedded import MEMORY_URI, install_memory_transport  # noqa: E402
from services.messaging.http_listener import Listener  # noqa: E402
from services.messaging.runner import run_services  # noqa: E402
from services.messaging.web import http  # noqa: E402


class Busy:
    name = "busy"

    @http("GET", "/sleep/<float:seconds>", auth=False)  # a test service: no access table
    def sleep(self, request, seconds: float):
        eventlet.sleep(seconds)
        return {"slept": seconds}

    @rpc
    def ping(self):  # a consumer: the service needs the broker to start
        return "pong"


def ready(runner) -> None:
    print(f"ready {Listener.bound()[0]}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    install_memory_transport()
    config = {
        "AMQP_URI": sys.argv[2] if len(sys.argv) > 2 else MEMORY_URI,
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        "SHUTDOWN_GRACE": float(sys.argv[1]),
    }
    logging.basicConfig(level=logging.INFO)
    run_services([Busy], config, ready)
    print("stopped", file=sys.stderr, flush=True)
