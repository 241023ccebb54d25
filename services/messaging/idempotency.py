"""Idempotent consumers: an event changes things once, however often it is delivered.

The relay delivers at least once, and RabbitMQ redelivers what a crashed consumer had not
acknowledged. A handler therefore calls `first_time(session, consumer, event_id)` in the
transaction that makes its change: the first call records the event id and returns True;
any later call (even one racing the first from another process) returns False, and the
handler returns without changing anything. The record and the change commit together.

A handler that asks another service (RPC) does so before its transaction begins (on SQLite
the first statement takes the file's write lock: services/messaging/database.py). So that a
redelivered event is not asked about again, it first reads `handled_before(...)` in the
unit of work's `read_scope()`, which takes no lock; that read is only a hint (a delivery
racing it is not seen yet), and `first_time` in the transaction still decides:

    with self.db.read_scope() as reading:
        if handled_before(reading, consumer, event_id):
            return
    answer = self.other.ask(...)              # no transaction open while it waits
    if not first_time(self.db.session, consumer, event_id):
        return                                # handled meanwhile

A service puts the `processed_events` table into its own metadata with
`processed_events_table(Base.metadata)`.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.messaging.database import UtcDateTime, utc_now
from services.messaging.errors import MessagingError

_metadata = MetaData()
PROCESSED_EVENTS = Table(
    "processed_events",
    _metadata,
    Column("consumer", String(120), primary_key=True),  # "payments.on_claim_approved"
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False),
)

_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def processed_events_table(metadata: MetaData) -> Table:
    """The `processed_events` table, added to a service's own metadata."""
    return PROCESSED_EVENTS.to_metadata(metadata)


def first_time(session: Session, consumer: str, event_id: str) -> bool:
    """Record that `consumer` handles `event_id`; False if it already has.

    INSERT … ON CONFLICT DO NOTHING: on PostgreSQL a concurrent duplicate waits for the first
    transaction and then inserts nothing, so exactly one of them sees True.
    """
    if not consumer or not event_id:
        raise MessagingError(
            f"first_time needs a consumer and an event id, got {consumer!r}, {event_id!r}"
        )
    dialect = session.get_bind().dialect.name
    try:
        insert = _INSERT[dialect]
    except KeyError:
        raise MessagingError(f"idempotency: no INSERT … ON CONFLICT for {dialect}") from None
    inserted = session.execute(
        insert(PROCESSED_EVENTS)
        .values(consumer=consumer, event_id=str(event_id), processed_at=utc_now())
        .on_conflict_do_nothing()
        .returning(PROCESSED_EVENTS.c.event_id)
    ).scalar()
    return inserted is not None


def handled_before(session: Session, consumer: str, event_id: str) -> bool:
    """Whether `consumer` has recorded `event_id` already (a read: see the module's notes)."""
    found = session.scalar(
        select(PROCESSED_EVENTS.c.event_id).where(
            PROCESSED_EVENTS.c.consumer == consumer,
            PROCESSED_EVENTS.c.event_id == str(event_id),
        )
    )
    return found is not None
