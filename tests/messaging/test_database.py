import time
from datetime import UTC, datetime, timedelta, timezone

import eventlet
import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import IntegrityError

from services.messaging.database import (
    UtcDateTime,
    make_engine,
    make_session_factory,
    session_scope,
)
from services.messaging.errors import DatabaseConfigError


def test_sqlite_file_is_created_under_var_with_wal_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/var/claims.sqlite")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "var" / "claims.sqlite").is_file()
    engine.dispose()


def test_sqlite_refuses_a_row_pointing_nowhere(engine, session_factory):
    with pytest.raises(IntegrityError), session_scope(session_factory) as session:
        session.execute(text("INSERT INTO payouts (claim_id, member_id) VALUES ('c1', 'nobody')"))


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("mysql://root@localhost/claims", "unsupported database"),
        ("postgresql+psycopg2://postgres@localhost/claims", "psycopg driver"),
    ],
)
def test_unsupported_urls_are_refused_by_name(url, fragment):
    with pytest.raises(DatabaseConfigError, match=fragment):
        make_engine(url)


def test_session_scope_commits_or_rolls_back(engine, session_factory):
    with session_scope(session_factory) as session:
        session.execute(text("INSERT INTO members (id) VALUES ('kept')"))
    with pytest.raises(RuntimeError), session_scope(session_factory) as session:
        session.execute(text("INSERT INTO members (id) VALUES ('dropped')"))
        raise RuntimeError("the caller failed")
    with session_scope(session_factory) as session:
        assert list(session.scalars(text("SELECT id FROM members"))) == ["kept"]


def test_utc_datetime_comes_back_aware_and_refuses_naive(engine):
    metadata = MetaData()
    stamps = Table(
        "stamps", metadata, Column("id", String(8), primary_key=True), Column("at", UtcDateTime)
    )
    metadata.create_all(engine)
    shanghai = timezone(timedelta(hours=8))
    written = datetime(2024, 7, 1, 9, 30, tzinfo=shanghai)
    try:
        with engine.begin() as conn:
            conn.execute(insert(stamps).values(id="a", at=written))
            read = conn.execute(select(stamps.c.at)).scalar()
            assert read == written and read.tzinfo is not None
            assert read.astimezone(UTC).hour == 1
            with pytest.raises(Exception, match="naive datetime"):
                conn.execute(insert(stamps).values(id="b", at=datetime(2024, 7, 1)))
    finally:
        metadata.drop_all(engine)


@pytest.mark.postgres
def test_postgres_queries_let_other_green_threads_run(postgres_url):
    import psycopg.waiting

    engine = make_engine(postgres_url, pool_size=3)
    assert psycopg.waiting.wait is psycopg.waiting.wait_select
    assert engine.pool.size() == 3
    session_factory = make_session_factory(engine)

    def sleep_in_postgres():
        with session_scope(session_factory) as session:
            session.execute(text("SELECT pg_sleep(0.4)"))

    sleep_in_postgres()  # connect first, so only the queries are timed
    started = time.monotonic()
    pool = eventlet.GreenPool()
    for _ in range(3):
        pool.spawn(sleep_in_postgres)
    pool.waitall()
    # Three 0.4 s queries on a blocking driver take 1.2 s; cooperative ones overlap.
    assert time.monotonic() - started < 0.8
    engine.dispose()
