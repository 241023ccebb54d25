"""The access log of personal data: every read that showed ID, phone or card numbers in full,
with who, what, when and why (issue 9). Each service keeps its own, beside its outbox:

    PERSONAL_DATA_READS = personal_data_reads_table(Base.metadata)   # models.py

The Guard writes a row in the worker's transaction when a rule shows data unmasked
(`Rule(..., unmasked={CITY_REVIEWER}, why="审核补助申请")`), so a read that failed leaves none.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, MetaData, String, Table, Text, insert, select
from sqlalchemy.orm import Session

from services.messaging.database import UtcDateTime

PERSONAL_DATA_READS = Table(
    "personal_data_reads",
    MetaData(),
    Column("id", String(36), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=False),  # "王芳 (sub)"
    Column("role", String(40), nullable=False),
    Column("entrypoint", String(80), nullable=False),  # what: the entrypoint and the record
    Column("record_id", String(80)),
    Column("why", Text, nullable=False),
    Index("ix_personal_data_reads_record_id", "record_id"),
)


def personal_data_reads_table(metadata: MetaData) -> Table:
    """The `personal_data_reads` table, added to a service's own metadata."""
    return PERSONAL_DATA_READS.to_metadata(metadata)


def record_read(
    session: Session,
    *,
    at: datetime,
    actor: str,
    role: str,
    entrypoint: str,
    record_id: str | None,
    why: str,
) -> None:
    session.execute(
        insert(PERSONAL_DATA_READS),
        {
            "id": str(uuid.uuid4()),
            "at": at,
            "actor": actor,
            "role": role,
            "entrypoint": entrypoint,
            "record_id": record_id,
            "why": why,
        },
    )


def reads_of(session: Session, record_id: str) -> list[dict]:
    """Who saw this record's personal data in full, oldest first."""
    rows = session.execute(
        select(PERSONAL_DATA_READS)
        .where(PERSONAL_DATA_READS.c.record_id == record_id)
        .order_by(PERSONAL_DATA_READS.c.at)
    )
    return [dict(row._mapping) for row in rows]
