"""The claims service's tables (it owns them; other services ask by RPC).

A claim is one member's application for one benefit of a city-year, with its facts (the
vocabulary of the plugin's ``assess``), its documents and the plugin's answer. Every state
change is a row in ``claim_transitions`` (who, when, why) and every reviewer decision a row
in ``reviews``. Money moves only by ledger entries: the approved payable, a paid marker,
a negative clawback; nothing already written is edited.

The member-year accumulator (one row per city, year and resident ID) holds what the member
was already granted, per benefit: the running payable and counted totals and the number of
claims. It is the history ``assess`` reads (caps, once-per-period rules, Wujin's cumulative
bands) and the row an approval locks, so two approvals for the same member are decided one
after the other even when they arrive at the same moment.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.access.reads import personal_data_reads_table
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


class Claim(Base):
    """One claim: draft → submitted → approved / returned / rejected → paid … (rules.py)."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_city_year_status", "city", "year", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), default="member")  # member | direct_settlement
    benefit: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    id_number: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str | None] = mapped_column(String(60))
    # from enrollment.cover when submitted: the enrolment that covers the date that counts
    # indexed: a member's claims, for the help desk (queues.member_claims)
    member_id: Mapped[str | None] = mapped_column(String(36), index=True)
    unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    unit_name: Mapped[str | None] = mapped_column(String(200))
    # the unit's district (cover names it): a district clerk's scope (access.py)
    district: Mapped[str | None] = mapped_column(String(60))
    # who last submitted it, as recorded ("王芳 (sub)"): nobody approves their own (rules.py)
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    application_id: Mapped[str | None] = mapped_column(String(36))
    facts: Mapped[dict] = mapped_column(JSON)  # as services.kernel.facts.load_claim reads them
    disease: Mapped[str | None] = mapped_column(String(60))  # for the statistics by disease
    counts_on: Mapped[date | None] = mapped_column(Date)  # admission, diagnosis or event date
    payee_card: Mapped[str | None] = mapped_column(String(40))  # union card (工会卡) for payout
    not_applicable: Mapped[dict | None] = mapped_column(JSON)  # document → why it is not needed
    received_on: Mapped[date | None] = mapped_column(Date)  # first submitted (deadline, due dates)
    review_due: Mapped[date | None] = mapped_column(Date)
    review_batch: Mapped[str | None] = mapped_column(String(20))  # 2024-06 / 2024-Q2
    assessment: Mapped[dict | None] = mapped_column(JSON)  # Assessment.to_dict(), latest
    payable: Mapped[Decimal | None] = mapped_column(MONEY)
    counted: Mapped[Decimal | None] = mapped_column(MONEY)
    returned_reason: Mapped[str | None] = mapped_column(Text)
    approved_on: Mapped[date | None] = mapped_column(Date)
    pay_due: Mapped[date | None] = mapped_column(Date)
    pay_limit: Mapped[date | None] = mapped_column(Date)
    payout_attempt: Mapped[int] = mapped_column(Integer, default=0)
    payout_id: Mapped[str | None] = mapped_column(String(60))
    paid_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="claim", order_by="Attachment.uploaded_at"
    )


class ClaimTransition(Base):
    """Every state change of a claim: who, when, why."""

    __tablename__ = "claim_transitions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Attachment(Base):
    """A file of a claim: a JPEG, PNG or PDF held in the row, or in an external store under
    ``storage_key``; its SHA-256 either way. One file may serve several of the documents the
    benefit asks for (one PDF holding 出院小结 and 费用清单): ``documents``."""

    __tablename__ = "attachments"
    __table_args__ = (
        UniqueConstraint("claim_id", "sha256"),
        CheckConstraint("content IS NOT NULL OR storage_key IS NOT NULL", name="stored"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # rules.stored_name: safe to serve
    content_type: Mapped[str] = mapped_column(String(60))  # from the content, parsed whole
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    storage_key: Mapped[str | None] = mapped_column(String(300))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    claim: Mapped[Claim] = relationship(back_populates="attachments")
    documents: Mapped[list[AttachmentDocument]] = relationship(
        cascade="all, delete-orphan", order_by="AttachmentDocument.document"
    )

    @property
    def document_names(self) -> list[str]:
        return [d.document for d in self.documents]


class AttachmentDocument(Base):
    """One document an attachment serves (a name from the benefit's list, or 其他材料)."""

    __tablename__ = "attachment_documents"

    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id"), primary_key=True)
    document: Mapped[str] = mapped_column(String(120), primary_key=True)


class Review(Base):
    """A reviewer's decision on a submitted claim, with the assessment it was taken on."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))  # approved | returned | rejected
    reviewer: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[str | None] = mapped_column(String(20))  # the month's batch / quarter's meeting
    payable: Mapped[Decimal | None] = mapped_column(MONEY)
    assessment: Mapped[dict | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class LedgerEntry(Base):
    """Money of a claim, append-only: ``payable`` (+, on approval), ``paid`` (the payout or
    the hospital's settlement), ``clawback`` (−, a paid benefit found excluded)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_city_year", "city", "year"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    id_number: Mapped[str] = mapped_column(String(18))
    unit_id: Mapped[str | None] = mapped_column(String(36))
    benefit: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))  # payable | paid | clawback
    amount: Mapped[Decimal] = mapped_column(MONEY)  # signed
    counted: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)  # signed
    reference: Mapped[str | None] = mapped_column(String(100))  # payout id, exclusion code
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Accumulator(Base):
    """One member's city-year: the row an approval locks (SELECT … FOR UPDATE)."""

    __tablename__ = "accumulators"
    __table_args__ = (UniqueConstraint("city", "year", "id_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    id_number: Mapped[str] = mapped_column(String(18))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class AccumulatorTotal(Base):
    """Per benefit of a member-year: what was granted (payable), the running base (counted,
    POLICIES.md: Wujin's converted self-borne amount, Zhangjiakou's cost) and how many claims."""

    __tablename__ = "accumulator_totals"

    accumulator_id: Mapped[str] = mapped_column(ForeignKey("accumulators.id"), primary_key=True)
    benefit: Mapped[str] = mapped_column(String(60), primary_key=True)
    payable: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)
    counted: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)
    claims: Mapped[int] = mapped_column(Integer, default=0)


class SettlementBatch(Base):
    """One imported file (or list) of hospital settlement records (Quzhou direct settlement)."""

    __tablename__ = "settlement_batches"
    __table_args__ = (UniqueConstraint("city", "sha256"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(MONEY)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class SettlementRecord(Base):
    """A hospital's settlement of one stay, recorded as a paid claim of the member's unit."""

    __tablename__ = "settlement_records"
    __table_args__ = (UniqueConstraint("city", "settlement_no"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), unique=True)
    city: Mapped[str] = mapped_column(String(40))
    source_row: Mapped[int] = mapped_column(Integer)  # as the file numbers it
    settlement_no: Mapped[str] = mapped_column(String(60))
    hospital: Mapped[str | None] = mapped_column(String(200))
    settled_on: Mapped[date | None] = mapped_column(Date)


# The service's outbox, processed-event and dead-letter tables live beside its own
# (services/messaging).
OUTBOX = outbox_table(Base.metadata)
PROCESSED_EVENTS = processed_events_table(Base.metadata)
DEAD_LETTERS = dead_letters_table(Base.metadata)
PERSONAL_DATA_READS = personal_data_reads_table(Base.metadata)  # services/access/reads.py


def metadata():
    """Everything this service owns, for Alembic and for the embedded mode's create_all."""
    return Base.metadata
