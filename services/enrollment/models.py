"""The enrollment service's tables (it owns them; other services ask by RPC).

Organisations form the union tree (city union → district / system union); units enrol under
one of them with the city's unit key (医保编码 / 社保编码 / 单位编码). A group application is
one unit's request for one city-year; its roster lines are the people it names. A member is
one resident ID; an enrolment is that member covered for a city-year through an application.
One person at most once per city-year is held by unique constraints, not only by checks, so
two clerks importing at the same moment cannot both win.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
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


class Organisation(Base):
    """A union above the units: the city union, a district/county union or a system union."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("city", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    city: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))  # city_union | district_union | system_union
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(60))  # the plugin's district code
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("city", "unit_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    city: Mapped[str] = mapped_column(String(40))
    unit_key: Mapped[str] = mapped_column(String(60))  # 医保编码 / 社保编码 / 单位编码
    name: Mapped[str] = mapped_column(String(200))
    # the union it enrols under (organisations.py): a district clerk's scope, Keqiao's targets
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    district: Mapped[str | None] = mapped_column(String(60))
    nature: Mapped[str] = mapped_column(String(20), default="public")
    address: Mapped[str | None] = mapped_column(String(300))
    chair: Mapped[str | None] = mapped_column(String(60))
    chair_phone: Mapped[str | None] = mapped_column(String(30))
    contact: Mapped[str | None] = mapped_column(String(60))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    staff_total: Mapped[int | None] = mapped_column(Integer)
    staff_insured: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Application(Base):
    """A group application (团体申请表): draft → submitted → approved, or returned."""

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("unit_id", "year"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    participants: Mapped[int] = mapped_column(Integer, default=0)  # as declared on Sheet1
    staff_total: Mapped[int | None] = mapped_column(Integer)
    staff_insured: Mapped[int | None] = mapped_column(Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(MONEY)
    total_due: Mapped[Decimal | None] = mapped_column(MONEY)
    account_number: Mapped[str | None] = mapped_column(String(40))
    quote: Mapped[dict | None] = mapped_column(JSON)
    returned_reason: Mapped[str | None] = mapped_column(Text)
    carried_from_id: Mapped[str | None] = mapped_column(ForeignKey("applications.id"))
    # premiums received (payments' premium_paid); paid_at once paid in full
    paid_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)

    unit: Mapped[Unit] = relationship()
    lines: Mapped[list[RosterLine]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="RosterLine.excel_row"
    )


class ApplicationTransition(Base):
    """Every state change of an application: who, when, why."""

    __tablename__ = "application_transitions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class RosterLine(Base):
    """One person named by an application's roster (参保职工名册)."""

    __tablename__ = "roster_lines"
    # once per city-year, whichever unit names them (POLICIES.md, shared rules)
    __table_args__ = (UniqueConstraint("city", "year", "id_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    excel_row: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    sex: Mapped[str] = mapped_column(String(10))
    id_number: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20))
    extra: Mapped[dict | None] = mapped_column(JSON)  # town, workplace, card number, remark…

    application: Mapped[Application] = relationship(back_populates="lines")


class RosterUpload(Base):
    """An uploaded roster file that failed its checks, kept so its error report can be fetched."""

    __tablename__ = "roster_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(100))
    result: Mapped[dict] = mapped_column(JSON)  # the JSON answer: rows, errors, warnings
    report: Mapped[bytes | None] = mapped_column(LargeBinary)  # the error report workbook
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    sex: Mapped[str] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    # indexed: the help desk finds a member by the number they call from (members.py)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)


class Enrolment(Base):
    """A member covered for a city-year through an approved application."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("member_id", "city", "year"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    city: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    cover_start: Mapped[date] = mapped_column(Date)
    cover_end: Mapped[date] = mapped_column(Date)


# The service's outbox and processed-event tables live beside its own (services/messaging).
OUTBOX = outbox_table(Base.metadata)
PROCESSED_EVENTS = processed_events_table(Base.metadata)
DEAD_LETTERS = dead_letters_table(Base.metadata)
PERSONAL_DATA_READS = personal_data_reads_table(Base.metadata)  # services/access/reads.py


def metadata():
    """Everything this service owns, for Alembic and for the embedded mode's create_all."""
    return Base.metadata
