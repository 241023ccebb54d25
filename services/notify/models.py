"""The notify service's tables (it owns them; others ask by RPC).

One `sms_messages` row per (event id, recipient, template), held by a unique constraint: a
redelivered event, or a handler retried after a crash, finds the row there and adds nothing.
Each try at a gateway is an `sms_attempts` row, each delivery receipt an `sms_receipts` row
(verbatim); the embedded gateway writes what it "sends" to `sms_outbox`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.messaging.database import NAMING_CONVENTION, UtcDateTime, utc_now
from services.messaging.dead_letters import dead_letters_table
from services.messaging.idempotency import processed_events_table

# queued: waiting for its due time (quiet hours, a retry's backoff, the daily limit);
# sending: taken by a sender; sent: the gateway accepted it; delivered / undelivered: its
# receipt; failed: refused by the gateway or out of retries; suppressed: opted out of a
# non-essential notice; no_phone: nobody to send it to. Recorded, never deleted.
STATUSES = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "suppressed",
    "no_phone",
)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Message(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "template"),
        Index("ix_sms_messages_status_due_at", "status", "due_at"),
        Index("ix_sms_messages_phone_template", "phone", "template"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(80))  # member:<id> | unit:<id>
    template: Mapped[str] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    claim_id: Mapped[str | None] = mapped_column(String(36), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    signature: Mapped[str] = mapped_column(String(40))
    template_code: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)  # masked by construction (templates.py)
    segments: Mapped[int] = mapped_column(Integer)
    essential: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    gateway: Mapped[str | None] = mapped_column(String(20))
    gateway_id: Mapped[str | None] = mapped_column(String(80))  # Aliyun BizId
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class Attempt(Base):
    """One try at the gateway: when, what it answered."""

    __tablename__ = "sms_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("sms_messages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    outcome: Mapped[str] = mapped_column(String(20))  # accepted | retry | failed
    code: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(String(200))


class Receipt(Base):
    """A delivery receipt as the gateway posted it (one element of its batch)."""

    __tablename__ = "sms_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(36), index=True)  # its out_id
    body: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class OptOut(Base):
    """A number that asked for essential notices only."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class OptOutChange(Base):
    """Every opt-out and opt-in: who, when, why."""

    __tablename__ = "sms_opt_out_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class OutboxSms(Base):
    """What the embedded gateway "sent": read it instead of a phone (no servers needed)."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    sign_name: Mapped[str] = mapped_column(String(40))
    template_code: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


PROCESSED_EVENTS = processed_events_table(Base.metadata)
DEAD_LETTERS = dead_letters_table(Base.metadata)


def metadata() -> MetaData:
    """Everything this service owns, for Alembic and for the embedded mode's create_all."""
    return Base.metadata
