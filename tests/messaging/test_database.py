import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone

import eventlet
import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from services.messaging import database
from services.messaging.database import (
    SQLITE_BUSY_TIMEOUT,
    UtcDateTime,
    make_engine,
    make_session_factory,
    read_scope,
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


def test_sqlite_must_exist_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "x.sqlite"
    with pytest.raises(DatabaseConfigError, match="no such database"):
        make_engine(f"sqlite:///{missing}", must_exist=True)
    assert not missing.parent.exists()


def _one_table(tmp_path):
    path = tmp_path / "shared.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE rows (id TEXT PRIMARY KEY)")
    return path, engine


def test_sqlite_read_then_write_is_not_broken_by_another_writer(tmp_path):
    """In WAL a deferred transaction that read, then writes after another connection
    committed, fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT; no busy wait
    helps). Ours take the write lock when they begin: the other connection waits its turn
    (here it does not wait at all, timeout 0, so it is told at once)."""
    path, engine = _one_table(tmp_path)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with session_scope(make_session_factory(engine)) as session:
            assert session.execute(text("SELECT count(*) FROM rows")).scalar() == 0
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("INSERT INTO rows VALUES ('other')")
            session.execute(text("INSERT INTO rows VALUES ('ours')"))
        other.execute("INSERT INTO rows VALUES ('other')")  # its turn, once ours committed
        assert sorted(r for (r,) in other.execute("SELECT id FROM rows")) == ["other", "ours"]
    finally:
        other.close()
        engine.dispose()


def _hold_write_lock(path, seconds: float) -> subprocess.Popen:
    """Another process (the CLI beside `serve`) holding the write lock for `seconds`."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); c.execute(\"INSERT INTO rows VALUES ('held')\")\n"
            "print('locked', flush=True); time.sleep(float(sys.argv[2])); c.execute('COMMIT')",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "locked\n"
    return holder


def test_sqlite_waits_for_another_process_s_short_write(tmp_path):
    path, engine = _one_table(tmp_path)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT * 1000
    holder = _hold_write_lock(path, 0.5)
    with session_scope(make_session_factory(engine)) as session:
        session.execute(text("INSERT INTO rows VALUES ('ours')"))
    assert holder.wait(timeout=10) == 0
    with engine.connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT id FROM rows").scalars()) == ["held", "ours"]
    engine.dispose()


def test_sqlite_wait_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT", 0.3)
    path, engine = _one_table(tmp_path)
    holder = _hold_write_lock(path, 5)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            with session_scope(make_session_factory(engine)) as session:
                session.execute(text("INSERT INTO rows VALUES ('ours')"))
        assert 0.25 < time.monotonic() - started < 2
    finally:
        holder.kill()
        holder.wait()
        engine.dispose()


def test_sqlite_read_scope_neither_waits_for_a_writer_nor_holds_one_up(tmp_path, monkeypatch):
    """What an event handler reads before it asks another service by RPC: no lock is taken,
    so another process's write is not waited for (nor would ours be: the other connection
    writes while our read is open), and a write in it is refused at once, not waited for."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT", 5)
    path, engine = _one_table(tmp_path)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        session.execute(text("INSERT INTO rows VALUES ('before')"))
    holder = _hold_write_lock(path, 5)
    try:
        started = time.monotonic()
        with read_scope(factory) as reading:
            assert list(reading.scalars(text("SELECT id FROM rows"))) == ["before"]
            with pytest.raises(OperationalError, match="readonly database"):
                reading.execute(text("INSERT INTO rows VALUES ('in a read')"))
        assert time.monotonic() - started < 1  # the holder keeps the lock for 5 s
    finally:
        holder.kill()
        holder.wait()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with read_scope(factory) as reading:
            assert reading.execute(text("SELECT count(*) FROM rows")).scalar() == 1
            other.execute("INSERT INTO rows VALUES ('other')")  # not held up by our read
        # the one pooled connection writes again after the read (query_only switched back)
        with session_scope(factory) as session:
            session.execute(text("INSERT INTO rows VALUES ('after')"))
        assert sorted(r for (r,) in other.execute("SELECT id FROM rows")) == [
            "after",
            "before",
            "other",
        ]
    finally:
        other.close()
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
