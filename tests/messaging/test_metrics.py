"""`GET /metrics`: the process's Prometheus metrics move with what it does.

A small service on the in-process bus (a route, an outbox, an event handler that fails when
told to, a payouts table) is scraped before and after each action; each figure must change by
exactly what was done. The listener serves /metrics itself (services/messaging/health.py).
"""

from __future__ import annotations

import time
import types

import pytest
import requests
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from services.messaging import health, metrics
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.dead_letters import dead_letters_table
from services.messaging.dependencies import Database, Outbox
from services.messaging.embedded import install_memory_transport, reset_memory_bus
from services.messaging.handlers import event_handler
from services.messaging.outbox import outbox_table, record_event
from services.messaging.web import HttpError, http

metadata = MetaData()
outbox_table(metadata)
dead_letters_table(metadata)
PAYOUTS = Table(
    "payouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(20), nullable=False),
)
metrics.count_rows(
    "ledger", "test_payouts", "payouts by state (test)", table="payouts", by="status"
)


class LedgerService:
    name = "ledger"
    db = Database(metadata)
    outbox = Outbox()

    @http("GET", "/ledger/<int:number>", auth=False)  # a test service: no access table
    def show(self, request, number):
        if number == 0:
            raise HttpError(404, "没有")
        return {"number": number}

    @rpc
    def balance(self):
        return "0.00"

    @event_handler("claims", "claim_approved")
    def on_claim_approved(self, event):
        if event.get("fail"):
            raise ConnectionError("the database went away")


@pytest.fixture
def ledger(container_factory, web_config, tmp_path):
    install_memory_transport()
    reset_memory_bus()
    config = {
        **web_config,
        "AMQP_URI": "memory://",
        "DATABASES": {"ledger": f"sqlite:///{tmp_path}/ledger.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "OUTBOX_RELAY_INTERVAL": 3600,  # the backlog stays until the test relays it
        "EVENT_RETRY_DELAYS": [0.05],
    }
    container = container_factory(LedgerService, config)
    metrics.time_workers(container)  # as the runner does
    container.start()
    watched = health.watch(types.SimpleNamespace(containers=[container]), config)
    watched.ready()
    yield container, config
    watched.close()
    reset_memory_bus()


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    answer = requests.get(f"{base}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_and_status(ledger, web_config_port):
    base = f"http://127.0.0.1:{web_config_port}"
    route = {"service": "ledger", "method": "GET", "route": "/ledger/<int:number>"}
    before = scrape(base)

    for number in (1, 2, 3):
        assert requests.get(f"{base}/ledger/{number}").status_code == 200
    assert requests.get(f"{base}/ledger/0").status_code == 404
    after = scrape(base)

    ok = value(after, "mutual_aid_http_requests_total", **route, status="200")
    assert ok - value(before, "mutual_aid_http_requests_total", **route, status="200") == 3
    missing = value(after, "mutual_aid_http_requests_total", **route, status="404")
    assert missing - value(before, "mutual_aid_http_requests_total", **route, status="404") == 1
    timed = value(after, "mutual_aid_http_request_seconds_count", **route)
    assert timed - value(before, "mutual_aid_http_request_seconds_count", **route) == 4
    handler = {"service": "ledger", "entrypoint": "show", "kind": "http"}
    ran = value(after, "mutual_aid_worker_seconds_count", **handler, outcome="ok")
    assert ran - value(before, "mutual_aid_worker_seconds_count", **handler, outcome="ok") == 3
    refused = value(after, "mutual_aid_worker_seconds_count", **handler, outcome="error")
    assert (
        refused - value(before, "mutual_aid_worker_seconds_count", **handler, outcome="error") == 1
    )


def test_rpc_workers_are_timed(ledger, web_config_port):
    container, _ = ledger
    base = f"http://127.0.0.1:{web_config_port}"
    labels = {"service": "ledger", "entrypoint": "balance", "kind": "rpc", "outcome": "ok"}
    before = value(scrape(base), "mutual_aid_worker_seconds_count", **labels)

    with entrypoint_hook(container, "balance") as balance:
        assert balance() == "0.00"
        assert balance() == "0.00"

    assert value(scrape(base), "mutual_aid_worker_seconds_count", **labels) - before == 2


def test_events_handled_failed_and_dead_lettered(ledger, web_config_port):
    container, config = ledger
    base = f"http://127.0.0.1:{web_config_port}"
    labels = {"consumer": "ledger.on_claim_approved", "event": "claim_approved"}
    before = scrape(base)
    dispatch = event_dispatcher(config)

    with entrypoint_waiter(container, "on_claim_approved"):
        dispatch("claims", "claim_approved", {"v": 1, "claim_id": "c1"})
    # fails, is retried once (EVENT_RETRY_DELAYS: one delay), fails again and is parked
    dispatch("claims", "claim_approved", {"v": 1, "claim_id": "c2", "fail": True})
    name = "mutual_aid_events_total"
    deadline = time.monotonic() + 10
    while True:  # waiting for the parking, whatever the other figures say
        after = scrape(base)
        parked = value(after, name, **labels, outcome="dead_lettered")
        if parked > value(before, name, **labels, outcome="dead_lettered"):
            break
        assert time.monotonic() < deadline, "the failing event was never parked"
        time.sleep(0.05)

    def moved(outcome: str) -> float:
        return value(after, name, **labels, outcome=outcome) - value(
            before, name, **labels, outcome=outcome
        )

    assert (moved("handled"), moved("failed"), moved("dead_lettered")) == (1, 2, 1)
    tries = {"service": "ledger", "entrypoint": "on_claim_approved", "kind": "event"}
    workers = "mutual_aid_worker_seconds_count"
    assert (
        value(after, workers, **tries, outcome="ok") - value(before, workers, **tries, outcome="ok")
        == 1
    )
    assert (
        value(after, workers, **tries, outcome="error")
        - value(before, workers, **tries, outcome="error")
        == 2
    )


def test_outbox_backlog_and_rows_by_state_are_read_from_the_database(ledger, web_config_port):
    container, config = ledger
    base = f"http://127.0.0.1:{web_config_port}"
    (outbox,) = [d for d in container.dependencies if isinstance(d, Outbox)]

    assert value(scrape(base), "mutual_aid_outbox_backlog", service="ledger") == 0
    # written from outside the service (its own sessions would relay them after commit)
    engine = make_engine(config["DATABASES"]["ledger"], pool_size=1)
    with session_scope(make_session_factory(engine)) as session:
        for number in range(3):
            record_event(session, "claim_approved", {"v": 1, "claim_id": f"c{number}"})
        for status in ("paid", "paid", "failed"):
            session.execute(insert(PAYOUTS).values(status=status))
    engine.dispose()
    samples = scrape(base)

    assert value(samples, "mutual_aid_outbox_backlog", service="ledger") == 3
    assert value(samples, "mutual_aid_outbox_oldest_seconds", service="ledger") >= 0
    assert value(samples, "mutual_aid_test_payouts", service="ledger", status="paid") == 2
    assert value(samples, "mutual_aid_test_payouts", service="ledger", status="failed") == 1

    assert outbox.relay() == 3
    assert value(scrape(base), "mutual_aid_outbox_backlog", service="ledger") == 0
