"""Applying callbacks in a process of its own (apply_worker.py): on PostgreSQL the payments
service answers the banks and a child process, at a lower CPU priority, applies what they sent.

- the worker alone: applies what is verified, says so, and stops between batches on SIGTERM
  and when its parent goes (stdin closed); holds back while told callbacks are arriving;
- through the running service: a callback answered over HTTP is applied by the child, the
  premium_paid event it recorded is relayed at once; a killed worker is started again; the
  worker ends with the service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import eventlet
import pytest
import requests
from eventlet.event import Event
from nameko.events import event_handler
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.payments import apply_worker, callbacks, invoices, signatures
from services.payments.background import BankLink
from services.payments.models import Callback, Invoice, metadata
from services.payments.service import PaymentsService
from tests.payments.samples import application
from tests.payments.test_callbacks import UNIT, bank_event

pytestmark = pytest.mark.postgres
SECRET = "apply-worker-secret-0123456789"


def issue_invoices(url: str, zhangjiakou, count: int) -> list[Invoice]:
    engine = make_engine(url, pool_size=1)
    metadata().create_all(engine)
    answer = []
    with session_scope(make_session_factory(engine)) as session:
        for n in range(count):
            app = application(zhangjiakou, 2024, f"{UNIT}{n}", 20 + n)
            answer.append(
                invoices.issue_for_application(
                    session, zhangjiakou, application=app, actor="t", record=lambda *a: "x"
                )
            )
        session.flush()
        session.expunge_all()
    engine.dispose()
    return answer


def signed_request(invoice: Invoice) -> tuple[bytes, dict]:
    body = json.dumps(bank_event(invoice), ensure_ascii=False).encode()
    return body, signatures.signed_headers(SECRET, int(time.time()), uuid.uuid4().hex, body)


def statuses(url: str) -> dict[str, str]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(select(Callback.id, Callback.status)).all())
    finally:
        engine.dispose()


def test_pace_holds_back_during_a_burst_but_for_one_batch_every_max_defer():
    now = [0]  # tenths of a second, whole numbers: no rounding in the test
    pace = apply_worker.Pace(quiet=3, max_defer=100, clock=lambda: now[0])
    assert pace.may_apply()  # nothing arriving
    allowed = []
    for _ in range(250):  # a 25-second burst: the word every 0.1 s, asked every 0.1 s
        pace.busy()
        now[0] += 1
        if pace.may_apply():
            allowed.append(now[0])
    assert allowed == [101, 201]  # one batch 10 s into the burst, one at 20 s
    now[0] += 3  # quiet again: at full speed
    assert pace.may_apply() and pace.may_apply()


def start_worker(url: str, **settings) -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.payments.apply_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    worker.stdin.write(json.dumps({"database": url, "interval": 0.1, "nice": 5, **settings}) + "\n")
    worker.stdin.flush()
    assert worker.stdout.readline() == "ready\n"
    return worker


def verified_callback(url: str, invoice: Invoice) -> str:
    body, headers = signed_request(invoice)
    engine = make_engine(url, pool_size=1)
    providers = callbacks.Providers(bank_secrets={"icbc": [SECRET]})
    try:
        with session_scope(make_session_factory(engine)) as session:
            answer = callbacks.receive(
                session, "bank/icbc", headers, body, providers, datetime.now(UTC)
            )
    finally:
        engine.dispose()
    assert answer.outcome == "accepted"
    return answer.callback_id


def test_the_worker_holds_back_while_callbacks_arrive(fresh_postgres, zhangjiakou):
    (invoice,) = issue_invoices(fresh_postgres, zhangjiakou, 1)
    worker = start_worker(fresh_postgres, max_defer=60)
    try:
        callback_id = None
        for n in range(15):  # 1.5 s of a burst: the parent's word every 0.1 s
            worker.stdin.write("busy\n")
            worker.stdin.flush()
            if n == 2:
                callback_id = verified_callback(fresh_postgres, invoice)
            time.sleep(0.1)
        assert statuses(fresh_postgres) == {callback_id: callbacks.VERIFIED}  # held back
        assert worker.stdout.readline() == "applied 1\n"  # the burst over: applied
        assert statuses(fresh_postgres) == {callback_id: callbacks.APPLIED}
    finally:
        worker.kill()
        worker.wait()


@pytest.mark.parametrize("ending", ["sigterm", "parent gone"])
def test_the_worker_applies_what_is_verified_and_stops_between_batches(
    fresh_postgres, zhangjiakou, ending
):
    (invoice,) = issue_invoices(fresh_postgres, zhangjiakou, 1)
    callback_id = verified_callback(fresh_postgres, invoice)

    worker = start_worker(fresh_postgres)
    try:
        assert worker.stdout.readline() == "applied 1\n"
        assert statuses(fresh_postgres) == {callback_id: callbacks.APPLIED}
        started = time.monotonic()
        if ending == "sigterm":
            worker.send_signal(signal.SIGTERM)
        else:
            worker.stdin.close()
        assert worker.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if worker.poll() is None:
            worker.kill()


class PremiumListener:
    name = "premium_listener"
    paid: Event | None = None

    @event_handler("payments", "premium_paid")
    def on_paid(self, payload):
        if self.paid is not None and not self.paid.ready():
            self.paid.send(payload)


@pytest.mark.rabbit
def test_the_service_answers_and_its_own_process_applies(
    container_factory, rabbit_config, web_config, web_config_port, fresh_postgres, zhangjiakou
):
    first, second = issue_invoices(fresh_postgres, zhangjiakou, 2)
    config = {
        **rabbit_config,
        **web_config,
        "DATABASES": {"payments": fresh_postgres},
        "BANKS": {"icbc": {"secrets": [SECRET]}},
        "PAYMENTS_APPLY_INTERVAL": 0.2,
        "OUTBOX_RELAY_INTERVAL": 60,  # so only the worker's word relays at once
    }
    payments = container_factory(PaymentsService, config)
    listener = container_factory(PremiumListener, rabbit_config)
    listener.start()
    payments.start()
    link = next(d for d in payments.dependencies if isinstance(d, BankLink))
    for _ in range(100):  # the child is spawned by a managed thread of the container
        if link.worker is not None:
            break
        eventlet.sleep(0.05)
    worker = link.worker
    assert worker is not None and worker.pid != os.getpid()

    def pay(invoice: Invoice) -> dict:
        PremiumListener.paid = Event()
        body, headers = signed_request(invoice)
        with entrypoint_waiter(listener, "on_paid", timeout=15):
            response = requests.post(
                f"http://127.0.0.1:{web_config_port}/payments/callbacks/bank/icbc",
                data=body,
                headers=headers,
                timeout=5,
            )
            assert response.status_code == 200
        return PremiumListener.paid.wait()

    assert pay(first)["invoice_id"] == first.id
    worker.kill()  # a crash: started again by the service
    for _ in range(100):
        if link.worker is not worker and link.worker.poll() is None:
            break
        eventlet.sleep(0.1)
    assert link.worker is not worker
    assert pay(second)["invoice_id"] == second.id
    assert sorted(statuses(fresh_postgres).values()) == [callbacks.APPLIED] * 2

    replacement = link.worker
    payments.stop()
    assert replacement.poll() is not None  # ended with the service
