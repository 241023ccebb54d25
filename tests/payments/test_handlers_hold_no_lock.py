"""Payments' event handlers on SQLite (the embedded mode: kombu's in-memory bus, nameko's
container_factory): they ask enrollment and claims before their transaction takes the file's
write lock, and do not ask about an event they have handled already.

The stand-ins for enrollment and claims write to payments' file from another connection while
they answer (tests/messaging/other_writer.py): had the handler taken the write lock before
asking, that write would wait for it in C, stopping the hub the answer needs, until the busy
timeout (STALL seconds) refused it with "database is locked".
"""

from __future__ import annotations

import uuid

import pytest
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from services.kernel.registry import load_registry
from services.messaging.embedded import reset_memory_bus
from services.payments.models import Invoice, Payout
from services.payments.service import PaymentsService
from tests.messaging.other_writer import STALL, OtherWriter, embedded_on_sqlite
from tests.payments.samples import application

APPLICATION_ID = str(uuid.uuid4())
CLAIM_ID = str(uuid.uuid4())


class Asked:
    """What the stand-ins were asked, and the writer they write with while answering."""

    writer: OtherWriter
    calls: list[tuple[str, str]] = []


class EnrollmentStandIn:
    name = "enrollment"

    @rpc
    def application(self, application_id):
        Asked.calls.append(("application", application_id))
        Asked.writer.write()
        policy = load_registry().get("zhangjiakou")
        return application(policy, 2024, "张家口市第一中学工会", 60, application_id=application_id)


class ClaimsStandIn:
    name = "claims"

    @rpc
    def payout_details(self, claim_id):
        Asked.calls.append(("payout_details", claim_id))
        Asked.writer.write()
        return {
            "claim_id": claim_id,
            "city": "zhangjiakou",
            "year": 2024,
            "member_id": "m1",
            "name": "李四",
            "payee_card": "6222020200112233445",
            "amount": "1200.00",
            "attempt": 1,
        }


@pytest.fixture
def payments(container_factory, tmp_path, monkeypatch):
    config = embedded_on_sqlite(
        monkeypatch, tmp_path, "payments", FIXED_TODAY="2024-03-01", EVENT_RETRY_DELAYS=[0.2]
    )
    for cls in (EnrollmentStandIn, ClaimsStandIn):
        container_factory(cls, config).start()
    container = container_factory(PaymentsService, config)
    container.start()
    Asked.writer, Asked.calls = OtherWriter(config["DATABASES"]["payments"]), []
    yield container, config
    Asked.writer.close()
    reset_memory_bus()


def deliver(payments, source: str, event_type: str, payload: dict) -> None:
    container, config = payments
    with entrypoint_waiter(container, f"on_{event_type}", timeout=STALL * 5) as handled:
        event_dispatcher(config)(source, event_type, payload)
    handled.get()  # raises what the handler raised


def submitted(event_id: str) -> dict:
    return {
        "v": 1,
        "event_id": event_id,
        "application_id": APPLICATION_ID,
        "city": "zhangjiakou",
        "year": 2024,
    }


def approved(event_id: str) -> dict:
    return {
        "v": 1,
        "event_id": event_id,
        "claim_id": CLAIM_ID,
        "city": "zhangjiakou",
        "year": 2024,
        "payable": "1200.00",
        "attempt": 1,
    }


def column(column) -> list[str]:
    with Asked.writer.factory() as session:
        return list(session.scalars(select(column)))


def assert_never_held_up() -> None:
    assert Asked.writer.error is None, f"the other writer was refused: {Asked.writer.error}"
    assert Asked.writer.waited < STALL / 4, f"the other writer waited {Asked.writer.waited:.2f} s"


def test_a_submitted_application_is_asked_about_before_the_write_lock_is_taken(payments):
    deliver(payments, "enrollment", "application_submitted", submitted(str(uuid.uuid4())))
    assert_never_held_up()
    assert column(Invoice.application_id) == [APPLICATION_ID]


def test_an_approved_claim_is_asked_about_before_the_write_lock_is_taken(payments):
    deliver(payments, "claims", "claim_approved", approved(str(uuid.uuid4())))
    assert_never_held_up()
    assert column(Payout.claim_id) == [CLAIM_ID]


def test_an_event_delivered_again_is_not_asked_about_and_changes_nothing(payments):
    submitted_id, approved_id = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(2):  # delivered, and delivered again (at least once, or replayed)
        deliver(payments, "enrollment", "application_submitted", submitted(submitted_id))
        deliver(payments, "claims", "claim_approved", approved(approved_id))
    assert Asked.calls == [("application", APPLICATION_ID), ("payout_details", CLAIM_ID)]
    assert Asked.writer.writes == 2
    assert column(Invoice.application_id) == [APPLICATION_ID]
    assert column(Payout.claim_id) == [CLAIM_ID]
