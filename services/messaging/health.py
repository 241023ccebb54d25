"""Is the process alive, is it ready: `/healthz`, `/readyz` and `/metrics` on its HTTP listener.

    GET /healthz   200 {"status": "alive"}: the process answers (the liveness probe; it checks
                   nothing else, so a database outage never gets a pod restarted)
    GET /readyz    200 when every service in the process has started and can reach its
                   database and the broker; 503 otherwise, and from SIGTERM on ("draining"),
                   so a load balancer stops sending work while the running work finishes:
                   {"status": "ready" | "starting" | "draining" | "unavailable",
                    "services": {"claims": {"database": "ok", "broker": "ok"}, …}}
    GET /metrics   Prometheus' text format (services/messaging/metrics.py)

Every process answers them on its one listener: `mutual-aid run claims` for claims alone,
`mutual-aid serve` (the embedded mode) for all four services at once, `/readyz` naming each.
They are public routes (`ProcessRoute.public`): probes and scrapers carry no token.

`mutual-aid run` and `serve` (services.messaging.runner.run_services) call `watch(runner,
config)` before the services start, `.ready()` once they have, `.draining()` on SIGTERM and
`.close()` at the end; a listener with no watched runner (nameko's test runners) reports the
containers serving on it as started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import eventlet
from kombu import Connection
from sqlalchemy import text
from werkzeug.wrappers import Response

from services.messaging import metrics
from services.messaging.dependencies import Database
from services.messaging.http_listener import json_response, process_route

_log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0  # seconds for each check of one probe: a probe must answer in time
STARTING, READY, DRAINING = "starting", "ready", "draining"


@dataclass
class Watched:
    """The services of one runner, as the probes see them."""

    containers: list[Any]
    config: dict[str, Any]
    phase: str = STARTING
    unwatch_metrics: Any = field(default=None, repr=False)

    def ready(self) -> None:
        self.phase = READY

    def draining(self) -> None:
        self.phase = DRAINING

    def close(self) -> None:
        if self in _watched:
            _watched.remove(self)
        if self.unwatch_metrics is not None:
            self.unwatch_metrics()

    def databases(self):
        for container in self.containers:
            for dependency in container.dependencies:
                if isinstance(dependency, Database) and hasattr(dependency, "engine"):
                    yield container.service_name, dependency


_watched: list[Watched] = []


def watch(runner: Any, config: dict[str, Any]) -> Watched:
    """The probes (and the metrics' row counts) follow `runner`'s services from now on."""
    watched = Watched(list(runner.containers), config)
    watched.unwatch_metrics = metrics.watch_databases(watched.databases)
    _watched.append(watched)
    return watched


def readiness(listener: Any) -> tuple[int, dict]:
    """The /readyz answer: status code and body."""
    watched = list(_watched) or [
        Watched(listener.services(), _config_of(listener.services()), READY)
    ]
    phases = {w.phase for w in watched}
    services: dict[str, dict[str, str]] = {}
    for each in watched:
        broker = check_broker(each.config.get("AMQP_URI") or "")
        for container in each.containers:
            services[container.service_name] = {"broker": broker}
        for service, database in each.databases():
            services[service]["database"] = check_database(database)
    if DRAINING in phases:
        status = DRAINING
    elif STARTING in phases:
        status = STARTING
    elif all(v == "ok" for checks in services.values() for v in checks.values()):
        status = READY
    else:
        status = "unavailable"
    return (200 if status == READY else 503), {"status": status, "services": services}


def _config_of(containers: list[Any]) -> dict[str, Any]:
    return containers[0].config if containers else {}


def check_database(database: Database) -> str:
    """ "ok", or why the database did not answer `SELECT 1` (one line, no parameters)."""
    try:
        with eventlet.Timeout(CHECK_TIMEOUT), database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except eventlet.Timeout:
        return f"no answer in {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        return _one_line(getattr(exc, "orig", None) or exc)
    return "ok"


def check_broker(uri: str) -> str:
    """ "ok" (the in-process bus always is), or why the broker did not take a connection."""
    if uri.startswith("memory://"):
        return "ok"
    connection = Connection(uri, connect_timeout=CHECK_TIMEOUT)
    try:
        with eventlet.Timeout(CHECK_TIMEOUT + 1):
            connection.connect()
    except eventlet.Timeout:
        return f"no answer in {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        return _one_line(exc)
    finally:
        connection.release()
    return "ok"


def _one_line(exc: BaseException) -> str:
    line = " ".join(str(exc).split()) or type(exc).__name__
    return line[:200]


# ---- the routes: public (no token), GET only, on every listener --------------------------------


@process_route("/healthz")
def healthz(listener, request, values) -> Response:
    return json_response(200, {"status": "alive"})


@process_route("/readyz")
def readyz(listener, request, values) -> Response:
    status, body = readiness(listener)
    if status != 200:
        _log.info("readyz: %s", body)
    return json_response(status, body)


@process_route("/metrics")
def metrics_page(listener, request, values) -> Response:
    body, content_type = metrics.exposition()
    return Response(body, status=200, content_type=content_type)
