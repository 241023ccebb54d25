"""Prometheus metrics of the process, on prometheus-client, scraped at `GET /metrics`.

One process, one `/metrics` (served by its HTTP listener; in the embedded mode that is every
service at once, each series labelled with its service):

    mutual_aid_http_requests_total{service, method, route, status}   answers, by route rule
    mutual_aid_http_request_seconds{service, method, route}          time to answer
    mutual_aid_worker_seconds{service, entrypoint, kind, outcome}    a worker's run (kind:
                                                                     rpc, http, event)
    mutual_aid_events_total{consumer, event, outcome}                events taken by a handler:
                                                                     handled, failed (a try
                                                                     that raised), dead_lettered
    mutual_aid_outbox_backlog{service}                               events recorded, not yet
                                                                     published
    mutual_aid_outbox_oldest_seconds{service}                        age of the oldest of them
    mutual_aid_<metric>{service, <column>}                           rows by state, for each
                                                                     `count_rows` registration

Rows are counted at scrape time in the services' own databases (`watch_databases`, called by
the runner for the services it runs), so the figures are the database's, whichever process
of a service wrote them.

The hook for another service's states (payments' payouts, say), called once at import of its
service module:

    from services.messaging import metrics
    metrics.count_rows("payments", "payouts", "payouts by state", table="payouts", by="status")

gives `mutual_aid_payouts{service="payments", status="paid"} 12` and so on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import eventlet
from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Table, func, select

_log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "mutual_aid_http_requests",
    "HTTP answers by service, method, route rule and status",
    ["service", "method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "mutual_aid_http_request_seconds",
    "Seconds from a request's arrival to its answer",
    ["service", "method", "route"],
)
WORKER_SECONDS = Histogram(
    "mutual_aid_worker_seconds",
    "Seconds a service's worker ran (rpc, http, event: one try of the handler)",
    ["service", "entrypoint", "kind", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EVENTS = Counter(
    "mutual_aid_events",
    "Events taken by a handler, by outcome: handled (acknowledged after success), failed "
    "(a try that raised; it is retried), dead_lettered (parked for an operator)",
    ["consumer", "event", "outcome"],
)

HANDLED, FAILED, DEAD_LETTERED = "handled", "failed", "dead_lettered"
SCRAPE_TIMEOUT = 5.0  # seconds for the database queries of one scrape


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_SECONDS.labels(service, method, route).observe(seconds)


class WorkerTimer(DependencyProvider):
    """Times every worker of its container (RPC, HTTP, each try of an event handler) into
    `mutual_aid_worker_seconds`. Not declared on the service classes: `time_workers` binds one
    to each container the runner starts."""

    def setup(self) -> None:
        self._started: WeakKeyDictionary = WeakKeyDictionary()

    def worker_setup(self, worker_ctx) -> None:
        self._started[worker_ctx] = time.monotonic()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        entrypoint = worker_ctx.entrypoint
        kind = _KINDS.get(type(entrypoint).__name__, type(entrypoint).__name__.lower())
        WORKER_SECONDS.labels(
            self.container.service_name,
            entrypoint.method_name,
            kind,
            "ok" if exc_info is None else "error",
        ).observe(time.monotonic() - started)


_KINDS = {"Rpc": "rpc", "HttpEntrypoint": "http", "EventHandler": "event", "Timer": "timer"}


def time_workers(container) -> None:
    """Add a WorkerTimer to a container before it starts."""
    container.dependencies.add(WorkerTimer().bind(container, "_mutual_aid_worker_timer"))


def count_event(consumer: str, event_type: str, outcome: str) -> None:
    EVENTS.labels(consumer, event_type, outcome).inc()


# ---- rows counted at scrape time --------------------------------------------------------------


@dataclass(frozen=True)
class RowCount:
    """`mutual_aid_<metric>{service, <by>}`: rows of `table` in `service`'s database by `by`."""

    service: str
    metric: str
    documentation: str
    table: str
    by: str


_row_counts: dict[str, RowCount] = {}


def count_rows(service: str, metric: str, documentation: str, *, table: str, by: str) -> None:
    """Register a count of `service`'s `table` by its column `by`, published at each scrape
    (the hook for payouts by state; see the module docstring). Registering again replaces."""
    _row_counts[f"{service}.{metric}"] = RowCount(service, metric, documentation, table, by)


Databases = Callable[[], Iterable[tuple[str, Any]]]  # (service name, Database provider)


class DatabaseCollector:
    """Outbox backlog and registered row counts, read from the watched services' databases
    at each scrape (a database that does not answer leaves its series out and is logged:
    /readyz says which)."""

    def __init__(self) -> None:
        self.sources: list[Databases] = []

    def describe(self):
        return []  # collected lazily: nothing to check at registration

    def collect(self):
        backlog = GaugeMetricFamily(
            "mutual_aid_outbox_backlog",
            "Events recorded in a service's outbox and not yet published",
            labels=["service"],
        )
        oldest = GaugeMetricFamily(
            "mutual_aid_outbox_oldest_seconds",
            "Age of the oldest unpublished outbox event (0 when none)",
            labels=["service"],
        )
        families: dict[str, GaugeMetricFamily] = {}
        now = time.time()
        for source in list(self.sources):
            for service, database in source():
                try:
                    self._collect_one(service, database, backlog, oldest, families, now)
                except Exception as exc:
                    _log.warning("metrics: the database of %s did not answer: %s", service, exc)
        yield backlog
        yield oldest
        yield from families.values()

    def _collect_one(self, service, database, backlog, oldest, families, now) -> None:
        tables = database.metadata.tables
        # a scrape must not wait for ever on a database that hangs
        with eventlet.Timeout(SCRAPE_TIMEOUT), database.engine.connect() as connection:
            if "outbox" in tables:
                outbox = tables["outbox"]
                count, first = connection.execute(
                    select(func.count(), func.min(outbox.c.created_at)).where(
                        outbox.c.published_at.is_(None)
                    )
                ).one()
                backlog.add_metric([service], count)
                oldest.add_metric([service], max(0.0, now - first.timestamp()) if first else 0.0)
            for row_count in _row_counts.values():
                if row_count.service != service or row_count.table not in tables:
                    continue
                table: Table = tables[row_count.table]
                family = families.get(row_count.metric)
                if family is None:
                    family = families[row_count.metric] = GaugeMetricFamily(
                        f"mutual_aid_{row_count.metric}",
                        row_count.documentation,
                        labels=["service", row_count.by],
                    )
                column = table.c[row_count.by]
                for value, count in connection.execute(
                    select(column, func.count()).group_by(column)
                ):
                    family.add_metric([service, str(value)], count)


_collector = DatabaseCollector()
REGISTRY.register(_collector)


def watch_databases(databases: Databases) -> Callable[[], None]:
    """Count outbox backlog and registered rows in `databases()` at each scrape; returns
    the undo (the runner calls it when its services stop)."""
    _collector.sources.append(databases)

    def unwatch() -> None:
        if databases in _collector.sources:
            _collector.sources.remove(databases)

    return unwatch


def exposition() -> tuple[bytes, str]:
    """The process's metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
