"""The same bank event delivered twice at the same moment, on PostgreSQL with two real
connections: the unique event key makes one of them the event and the other a duplicate, and
the event is applied once however many workers apply at once.

Each delivery is received by its own thread and session, released together by a barrier.
Neither commits until the other has either finished receiving too (then nothing serialised
them, and both would be accepted) or is seen waiting for a lock in pg_stat_activity (the
unique index holding it until the first commits).
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.outbox import record_event
from services.payments import callbacks, invoices, ledger, signatures
from services.payments.models import Receipt, metadata
from tests.payments.samples import application

pytestmark = pytest.mark.postgres
NOW = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
WAIT = 10  # seconds before a stuck test gives up
PROVIDERS = callbacks.Providers(bank_secrets={"icbc": ["secret"]})


@pytest.fixture
def factory(postgres_url):
    engine = make_engine(postgres_url, pool_size=6)
    metadata().create_all(engine)
    yield make_session_factory(engine)
    metadata().drop_all(engine)
    engine.dispose()


def lock_waiters(factory) -> int:
    with factory() as watcher:
        return watcher.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()


def test_one_event_delivered_twice_at_once_is_accepted_once_and_applied_once(factory):
    policy = load_registry().get("zhangjiakou")
    with session_scope(factory) as session:
        invoice = invoices.issue_for_application(
            session,
            policy,
            application=application(policy, 2024, "张家口市第一中学工会", 60),
            actor="t",
            record=functools.partial(record_event, session),
        )
    body = json.dumps(
        {
            "event_id": "ICBC-SERIAL-1",
            "type": "premium.received",
            "occurred_at": "2024-03-01T17:20:00+08:00",
            "account": invoice.account_number,
            "amount": "3000.00",
            "currency": "CNY",
            "reference": invoice.reference,
        }
    ).encode()
    barrier = threading.Barrier(2)
    received: list[str] = []
    may_commit = threading.Event()
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        headers = signatures.signed_headers("secret", int(NOW.timestamp()), uuid.uuid4().hex, body)
        try:
            with session_scope(factory) as session:
                session.execute(text("SELECT 1"))
                barrier.wait(WAIT)
                answer = callbacks.receive(session, "bank/icbc", headers, body, PROVIDERS, NOW)
                received.append(answer.outcome)
                assert may_commit.wait(WAIT), "never released"
                outcomes.append(answer.outcome)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not errors:
        if len(received) == 2 or (len(received) == 1 and lock_waiters(factory) >= 1):
            break
        time.sleep(0.02)
    may_commit.set()
    for thread in threads:
        thread.join(WAIT)
    assert not errors, errors
    assert sorted(outcomes) == ["accepted", "duplicate"]

    def worker() -> None:
        with session_scope(factory) as session:
            callbacks.apply_pending(session, record=functools.partial(record_event, session))

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(WAIT)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 1
        fund = ledger.fund("zhangjiakou", invoice.account_number).code
        assert str(ledger.balance(session, fund)) == "3000.00"
