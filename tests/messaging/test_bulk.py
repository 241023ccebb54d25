"""Bulk inserts and look-ups (services/messaging/bulk.py) on SQLite and PostgreSQL.

The fast paths (psycopg COPY, sqlite3 executemany with values converted here) must store
exactly what SQLAlchemy's own INSERT stores, and fail the same way on a duplicate key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    cast,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from services.messaging.bulk import IN_CHUNK, any_of, insert_rows
from services.messaging.database import UtcDateTime, session_scope

METADATA = MetaData()
LINES = Table(
    "bulk_lines",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("city", String(40), nullable=False),
    Column("number", String(18), nullable=False),
    Column("born", Date),
    Column("at", UtcDateTime),
    Column("phone", String(20)),
    Column("extra", JSON),
    UniqueConstraint("city", "number"),
)
COUNTED = Table(
    "bulk_counted",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the database numbers it
    Column("label", String(40), nullable=False),
    Column("kind", String(10), nullable=False, default="plain"),  # SQLAlchemy fills it in
)


@pytest.fixture
def tables(engine):
    METADATA.create_all(engine)
    yield
    METADATA.drop_all(engine)


def line(i: int, **changes) -> dict:
    row = {
        "id": f"id-{i}",
        "city": "quzhou",
        "number": f"{i:018d}",
        "born": date(1980, 1, 1 + i % 28),
        "at": datetime(2024, 11, 1, 8, 30, tzinfo=UTC),
        "phone": None if i % 2 else f"139{i:08d}",
        # None is JSON null to SQLAlchemy; text with what COPY must escape (tab, newline, \\)
        "extra": None if i % 3 else {"remark": f"在职\t第{i}行\n\\备注", "n": i},
    }
    return {**row, **changes}


def stored(session) -> list[tuple]:
    query = select(*[c for c in LINES.c if c.name != "extra"], cast(LINES.c.extra, String))
    return [tuple(r) for r in session.execute(query.order_by(LINES.c.number))]


def test_rows_are_stored_as_sqlalchemys_insert_stores_them(tables, session_factory):
    rows = [line(i) for i in range(12)]
    with session_scope(session_factory) as session:
        assert insert_rows(session, LINES, rows) == 12
        fast = stored(session)
        session.execute(LINES.delete())
        session.execute(insert(LINES), rows)
        assert stored(session) == fast
        assert {r[-1] for r in fast} >= {"null"}  # JSON null, not SQL NULL, as SQLAlchemy does
        back = session.execute(select(LINES.c.extra, LINES.c.at).order_by(LINES.c.number)).all()
        assert [r.extra for r in back] == [row["extra"] for row in rows]
        assert all(r.at == datetime(2024, 11, 1, 8, 30, tzinfo=UTC) for r in back)


def test_a_duplicate_key_is_an_integrity_error_and_the_transaction_goes_on(tables, session_factory):
    with session_scope(session_factory) as session:
        insert_rows(session, LINES, [line(1), line(2)])
        with pytest.raises(IntegrityError), session.begin_nested():
            insert_rows(session, LINES, [line(3), line(4, number=line(2)["number"])])
        assert [r[2] for r in stored(session)] == [line(1)["number"], line(2)["number"]]
        insert_rows(session, LINES, [line(6)])
    with session_scope(session_factory) as session:
        assert len(stored(session)) == 3


def test_defaults_are_filled_in_whoever_computes_them(tables, session_factory):
    with session_scope(session_factory) as session:
        assert insert_rows(session, COUNTED, [{"label": "a"}, {"label": "b"}]) == 2
        got = session.execute(select(COUNTED).order_by(COUNTED.c.id)).all()
    assert [(r.label, r.kind) for r in got] == [("a", "plain"), ("b", "plain")]
    assert got[0].id < got[1].id


def test_nothing_to_insert_is_nothing_done(tables, session_factory):
    with session_scope(session_factory) as session:
        assert insert_rows(session, LINES, []) == 0


def test_any_of_covers_every_value_a_chunk_at_a_time(tables, session_factory):
    count = 2 * IN_CHUNK + 7
    with session_scope(session_factory) as session:
        insert_rows(session, LINES, [line(i) for i in range(count)])
        wanted = [f"{i:018d}" for i in range(0, count + 10, 2)]  # the last five are not there
        conditions = list(any_of(session, LINES.c.number, wanted))
        assert len(conditions) == -(-len(wanted) // IN_CHUNK)
        found = set()
        for among in conditions:
            found.update(session.scalars(select(LINES.c.number).where(among)))
        assert list(any_of(session, LINES.c.number, [])) == []
    assert found == {n for n in wanted if int(n) < count}
