"""Engines and transactions for a service's own database.

Each service owns one database URL. Embedded default: a SQLite file under `var/`
(`sqlite:///var/claims.sqlite`). Production: PostgreSQL through psycopg 3
(`postgresql+psycopg://user@host/claims`; a bare `postgresql://` means the same).

Database calls must not block eventlet's hub:
- PostgreSQL: psycopg's default wait function is C code blocking in poll(), invisible to
  eventlet (psycopg only detects gevent's patching). Under eventlet we make psycopg use
  `wait_select`, which calls the `select.select` eventlet has patched, and size the pool for
  the service's concurrent workers.
- SQLite: sqlite3 is C code that eventlet cannot switch out of; a second green thread
  waiting on SQLite's file lock would spin in C while the holder never runs. So one
  connection per engine: green threads queue on the pool (cooperatively) instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.types import TypeDecorator

from services.messaging.errors import DatabaseConfigError

SessionFactory = Callable[[], Session]

DEFAULT_POOL_SIZE = 12  # nameko's default 10 workers, the outbox relay and one spare


def make_engine(url: str | URL, *, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine for `url` (SQLite or PostgreSQL), configured to cooperate with eventlet."""
    url = make_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if url.get_driver_name() != "psycopg":
            raise DatabaseConfigError(
                f"{url.render_as_string(hide_password=True)}: use the psycopg driver "
                "(postgresql+psycopg://…)"
            )
        use_green_psycopg()
        # hide_parameters: an error's text (logged, or sent back over RPC) keeps the SQL but
        # not the row's values, which are personal data
        return create_engine(
            url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, hide_parameters=True
        )
    raise DatabaseConfigError(
        f"{url.render_as_string(hide_password=True)}: unsupported database; use "
        "sqlite:///var/<service>.sqlite or postgresql+psycopg://…/<service>"
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: a worker commits before nameko serialises its reply.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(session_factory: SessionFactory) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def use_green_psycopg() -> None:
    """Make psycopg wait through eventlet's green select() if eventlet has patched select.

    psycopg reads PSYCOPG_WAIT_FUNC when `psycopg.waiting` is first imported; if it was
    imported already, its module-level `wait` (looked up on every query) is switched instead.
    """
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is None or not patcher.is_monkey_patched("select"):
        return
    os.environ["PSYCOPG_WAIT_FUNC"] = "wait_select"
    waiting = sys.modules.get("psycopg.waiting")
    if waiting is not None:
        waiting.wait = waiting.wait_select


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if not database or database == ":memory:":
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )

    # sqlite3's own transaction handling starts transactions late and breaks SAVEPOINT; let
    # SQLAlchemy emit BEGIN itself (the recipe in SQLAlchemy's SQLite dialect notes).
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN")

    return engine


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC; SQLite hands back aware datetimes too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


# Constraint names every service's metadata uses, so a migration can drop a constraint by
# name on PostgreSQL and SQLite alike (services/messaging/migrations.py writes them).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
