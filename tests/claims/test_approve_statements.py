"""How many statements an approval costs (issue 14): counted by a SQLAlchemy event listener on
the engine, from the service's first statement to its commit (the outbox row included)."""

from __future__ import annotations

from datetime import date

import psycopg
from sqlalchemy import event

from services.claims import claims as ops
from tests.claims.flow import new_claim, record
from tests.enrollment.samples import person

ZJK_DAY = date(2024, 6, 10)
FACTS = {"benefit": "general_illness", "total_cost": "9000", "admission_date": "2024-03-01"}


class Statements:
    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self.seen

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split())[:90])


def test_an_approval_is_nine_statements(session, registry, cover):
    """Lock the claim, lock the member-year (SQLite: BEGIN IMMEDIATE first, the write lock,
    which PostgreSQL's FOR UPDATE gives), read its totals, then write: the totals, the claim, the transition, the ledger, the review, the
    outbox event. Nothing read twice, no pre-ping, no bookkeeping UPDATE (it was 12)."""
    zhangjiakou = registry.get("zhangjiakou")
    who = person(7)
    cover.enrol("zhangjiakou", 2024, who)
    claim = new_claim(session, zhangjiakou, cover, who, FACTS, year=2024, today=ZJK_DAY)
    session.commit()
    session.expunge_all()  # as a fresh service worker: nothing cached

    with Statements(session.get_bind()) as seen:
        approved = ops.approve(
            session,
            registry.get,  # as the service passes it: the city is learnt from the locked claim
            claim_id=claim.id,
            actor="reviewer:li",
            today=ZJK_DAY,
            record=record(session),
        )
        session.commit()
    assert approved.status == "approved"
    sqlite = session.get_bind().dialect.name == "sqlite"
    expected = 10 if sqlite else 9  # SQLite's BEGIN IMMEDIATE is sent as a statement
    assert len(seen) == expected, "\n".join(seen)
    assert not any(s.startswith("UPDATE accumulators ") for s in seen)
    assert sum(s.startswith("SELECT claims.") for s in seen) == 1


def test_a_busy_connection_is_not_pinged_a_rested_one_is(postgres_url, monkeypatch):
    """No round trip before a transaction on a connection handed straight back out; one
    that rested in the pool is pinged, and a dead one replaced before anyone uses it."""
    from services.messaging import database

    engine = database.make_engine(postgres_url, pool_size=1)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    try:
        for _ in range(3):
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        assert pings == []
        monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)
        with engine.connect() as connection:
            first = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        # the server drops the connection while it rests in the pool
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        with engine.connect() as connection:
            again = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert again != first  # replaced, not handed out dead
        assert len(pings) == 3  # each checkout after a rest
    finally:
        engine.dispose()
