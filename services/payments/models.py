"""The payments service's tables (it owns them; other services ask by RPC).

Money moves only by journals of the double-entry ledger (ledger.py): a journal is a set of
entries on accounts whose signed amounts (debit +, credit −) sum to zero; nothing written is
edited, a mistake is undone by a reversing journal. The other tables say why money moved:
invoices (what a unit or member owes, with the reference for the transfer remark), the callback
inbox (every provider request, stored verbatim before anything else), receipts (money that
arrived, applied to an invoice or held for finance), payouts of approved claims with every
state change, finance-desk resolutions, and imported bank statements.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.messaging.database import NAMING_CONVENTION, UtcDateTime, utc_now
from services.messaging.dead_letters import dead_letters_table
from services.messaging.idempotency import processed_events_table
from services.messaging.outbox import outbox_table


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


MONEY = Numeric(14, 2)
ZERO = Decimal("0.00")


# ---- ledger ----------------------------------------------------------------------------------


class LedgerAccount(Base):
    """One account of the chart (ledger.py names the kinds): found by its code, e.g.
    ``fund:quzhou:338000600018170324480070`` or ``receivable:<unit_id>:2025``."""

    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int | None] = mapped_column(Integer)
    unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    member_id: Mapped[str | None] = mapped_column(String(36))
    claim_id: Mapped[str | None] = mapped_column(String(36))
    bank_account: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Journal(Base):
    """One movement: balanced entries, posted once (``key`` is unique), never edited."""

    __tablename__ = "journals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(160), unique=True)  # what posted it, once
    kind: Mapped[str] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(40), index=True)
    memo: Mapped[str] = mapped_column(Text)
    # the journal this one undoes (a reversal); a journal is reversed at most once
    reverses_id: Mapped[str | None] = mapped_column(ForeignKey("journals.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    entries: Mapped[list[JournalEntry]] = relationship(back_populates="journal")


class JournalEntry(Base):
    """One line of a journal: a signed amount on one account (debit +, credit −)."""

    __tablename__ = "journal_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    journal_id: Mapped[str] = mapped_column(ForeignKey("journals.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)

    journal: Mapped[Journal] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()


# ---- invoices --------------------------------------------------------------------------------


class Invoice(Base):
    """What a unit (an application's quote) or a member (Wujin's own 20 yuan) owes, where to,
    and what the transfer remark must carry. A resubmitted application supersedes its open
    invoice; at most one open invoice per application (the partial unique index)."""

    __tablename__ = "invoices"
    __table_args__ = (
        Index(
            "ix_invoices_open_application",
            "application_id",
            unique=True,
            postgresql_where=text("status = 'open' AND application_id IS NOT NULL"),
            sqlite_where=text("status = 'open' AND application_id IS NOT NULL"),
        ),
        Index(
            "ix_invoices_open_member",
            "city",
            "year",
            "member_id",
            unique=True,
            postgresql_where=text("status = 'open' AND member_id IS NOT NULL"),
            sqlite_where=text("status = 'open' AND member_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # short code with a check char
    kind: Mapped[str] = mapped_column(String(10))  # unit | member
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|paid|superseded
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    application_id: Mapped[str | None] = mapped_column(String(36), index=True)
    unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    member_id: Mapped[str | None] = mapped_column(String(36))
    payer_name: Mapped[str | None] = mapped_column(String(200))  # unit's full name / member
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    payee: Mapped[str] = mapped_column(String(200))
    bank: Mapped[str] = mapped_column(String(200))
    account_number: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(300))  # the transfer remark, plugin's form
    pay_by: Mapped[date | None] = mapped_column(Date)  # the city-year's payment window's end
    superseded_by_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# ---- callbacks and receipts ------------------------------------------------------------------


class Callback(Base):
    """A provider's request, verbatim (headers and raw body), stored with its verification.
    Only verified callbacks carry ``event_key`` (provider + event id), unique: a forged
    request cannot take a genuine event's place, and a genuine event is applied once."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_status", "status"),
        # a nonce seen before with a good signature is a replay: the insert decides, once
        Index(
            "ix_callbacks_provider_nonce",
            "provider",
            "nonce",
            unique=True,
            postgresql_where=text("nonce IS NOT NULL"),
            sqlite_where=text("nonce IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(60))  # bank/<code> | wechatpay
    headers: Mapped[dict] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    event_id: Mapped[str | None] = mapped_column(String(100))  # as the body says, if readable
    event_key: Mapped[str | None] = mapped_column(String(170), unique=True)
    # a good signature's nonce; cleared once older than the timestamp tolerance
    nonce: Mapped[str | None] = mapped_column(String(100))
    # received → refused | duplicate | verified → applied | held | ignored | failed
    status: Mapped[str] = mapped_column(String(20), default="received")
    reason: Mapped[str | None] = mapped_column(String(40))  # bad_signature, stale, replay …
    detail: Mapped[str | None] = mapped_column(Text)
    event: Mapped[dict | None] = mapped_column(JSON)  # the normalised event, once verified
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Receipt(Base):
    """Money that arrived in a fund account: applied to an invoice, or held for finance with
    the reason (short, over, unknown reference, not CNY, after the window)."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("provider", "provider_event_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    callback_id: Mapped[str | None] = mapped_column(ForeignKey("callbacks.id"))
    provider: Mapped[str] = mapped_column(String(60))
    provider_event_id: Mapped[str] = mapped_column(String(100))  # the bank's serial
    city: Mapped[str | None] = mapped_column(String(40))
    account_number: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    payer_name: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(300))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    # applied | held | resolved (by the desk: applied, matched or refunded)
    status: Mapped[str] = mapped_column(String(20))
    hold_reason: Mapped[str | None] = mapped_column(String(30))
    hold_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Resolution(Base):
    """A finance-desk decision on a held receipt: apply, match to another invoice, or refund
    (proposed by one person, approved by another), with who and why."""

    __tablename__ = "resolutions"
    __table_args__ = (
        # one live decision per receipt: a second proposal waits for the first to be decided
        Index(
            "ix_resolutions_pending_receipt",
            "receipt_id",
            unique=True,
            postgresql_where=text("status = 'proposed'"),
            sqlite_where=text("status = 'proposed'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))  # apply | match | refund
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    status: Mapped[str] = mapped_column(String(20))  # proposed | done | declined
    proposed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# ---- payouts ---------------------------------------------------------------------------------


class Payout(Base):
    """One attempt to pay an approved claim to the member's union card (工会会员服务卡)."""

    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("claim_id", "attempt"),
        Index("ix_payouts_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(String(36), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(60))  # the card holder must be this member
    card_number: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    from_account: Mapped[str] = mapped_column(String(40))  # the fund account paying
    status: Mapped[str] = mapped_column(String(20), default="created")
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    bank_reference: Mapped[str | None] = mapped_column(String(100))  # the bank's serial
    failure_reason: Mapped[str | None] = mapped_column(String(30))  # normalised
    failure_code: Mapped[str | None] = mapped_column(String(60))  # the bank's, raw
    failure_message: Mapped[str | None] = mapped_column(Text)  # the bank's, raw
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_queried_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class PayoutTransition(Base):
    """Every state change of a payout: who, when, why."""

    __tablename__ = "payout_transitions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    payout_id: Mapped[str] = mapped_column(ForeignKey("payouts.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


# ---- bank statements -------------------------------------------------------------------------


class StatementImport(Base):
    """One imported bank statement file for an account and day."""

    __tablename__ = "statement_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_number: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    ignored: Mapped[int] = mapped_column(Integer)  # lines imported before
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class StatementLine(Base):
    """A line of a bank statement, once: ``line_key`` is the bank's serial, or a hash of date,
    amount, counterparty and serial when the bank gives none that is unique."""

    __tablename__ = "statement_lines"
    __table_args__ = (UniqueConstraint("account_number", "line_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    import_id: Mapped[str] = mapped_column(ForeignKey("statement_imports.id"), index=True)
    account_number: Mapped[str] = mapped_column(String(40))
    line_key: Mapped[str] = mapped_column(String(100))
    source_row: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)  # signed: money in +, out −
    counterparty: Mapped[str | None] = mapped_column(String(200))
    serial: Mapped[str | None] = mapped_column(String(100))
    remark: Mapped[str | None] = mapped_column(String(300))


# The service's outbox, processed-event and dead-letter tables live beside its own
# (services/messaging).
OUTBOX = outbox_table(Base.metadata)
PROCESSED_EVENTS = processed_events_table(Base.metadata)
DEAD_LETTERS = dead_letters_table(Base.metadata)


def metadata():
    """Everything this service owns, for Alembic and for the embedded mode's create_all."""
    return Base.metadata
