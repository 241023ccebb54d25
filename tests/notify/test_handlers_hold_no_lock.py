"""Notify's event handlers on SQLite (the embedded mode: kombu's in-memory bus, nameko's
container_factory): they ask claims and enrollment whom to tell before their transaction takes
the file's write lock, and do not ask about an event they have handled already.

The stand-in for claims writes to notify's file from another connection while it answers
(tests/messaging/other_writer.py): had the handler taken the write lock before asking, that
write would wait for it in C, stopping the hub the answer needs, until the busy timeout
(STALL seconds) refused it with "database is locked".
"""

from __future__ import annotations

import uuid

import pytest
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from services.messaging.embedded import reset_memory_bus
from services.notify.models import Message
from tests.messaging.other_writer import STALL, OtherWriter, embedded_on_sqlite
from tests.notify.test_service import CLAIM, PHONE, approved


class Asked:
    """What the stand-ins were asked, and the writer the claims stand-in writes with."""

    writer: OtherWriter
    calls: list[tuple[str, str]] = []


class ClaimsStandIn:
    name = "claims"

    @rpc
    def notice_details(self, claim_id):
        Asked.calls.append(("notice_details", claim_id))
        Asked.writer.write()
        return {**CLAIM, "claim_id": claim_id}


class EnrollmentStandIn:
    name = "enrollment"

    @rpc
    def member_contact(self, member_id):
        Asked.calls.append(("member_contact", member_id))
        return {"member_id": member_id, "name": "王芳", "phone": PHONE}


@pytest.fixture
def notify(container_factory, tmp_path, notify_at_noon, monkeypatch):
    config = embedded_on_sqlite(
        monkeypatch,
        tmp_path,
        "notify",
        EVENT_RETRY_DELAYS=[0.2],
        SMS_SEND_INTERVAL=60,  # queued is what is looked at; sending is test_sending's
    )
    for cls in (ClaimsStandIn, EnrollmentStandIn):
        container_factory(cls, config).start()
    container = container_factory(notify_at_noon, config)
    container.start()
    Asked.writer, Asked.calls = OtherWriter(config["DATABASES"]["notify"]), []
    yield container, config
    Asked.writer.close()
    reset_memory_bus()


def deliver(notify, event_id: str) -> None:
    container, config = notify
    with entrypoint_waiter(container, "on_claim_approved", timeout=STALL * 5) as handled:
        event_dispatcher(config)("claims", "claim_approved", approved(event_id))
    handled.get()  # raises what the handler raised


def queued() -> list[tuple[str, str]]:
    with Asked.writer.factory() as session:
        return [(m.recipient, m.event_id) for m in session.scalars(select(Message))]


def test_an_approved_claim_is_asked_about_before_the_write_lock_is_taken(notify):
    event_id = str(uuid.uuid4())
    deliver(notify, event_id)
    assert Asked.writer.error is None, f"the other writer was refused: {Asked.writer.error}"
    assert Asked.writer.waited < STALL / 4, f"the other writer waited {Asked.writer.waited:.2f} s"
    assert queued() == [("member:m-1", event_id)]


def test_an_event_delivered_again_is_not_asked_about_and_queues_nothing(notify):
    event_id = str(uuid.uuid4())
    deliver(notify, event_id)
    deliver(notify, event_id)
    assert Asked.calls == [("notice_details", "c-1"), ("member_contact", "m-1")]
    assert queued() == [("member:m-1", event_id)]
