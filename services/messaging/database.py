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

Another process on the same SQLite file (the CLI beside `serve`) is waited for in C, with
the whole hub stopped, so every write must be short and the wait bounded:
- WAL: readers never block the writer nor the writer them.
- Every transaction starts with BEGIN IMMEDIATE, taking the write lock at once. A deferred
  transaction that reads and then writes fails at once with "database is locked" (WAL's
  SQLITE_BUSY_SNAPSHOT, the busy timeout not consulted) when another connection committed
  after its first read; taking the lock first makes it wait its turn instead. Django and
  Rails offer the same for SQLite for the same reason.
- A busy timeout of SQLITE_BUSY_TIMEOUT seconds: well above our longest write (a
  100 000-row roster stores in about 2.3 s on a busy 2-core machine), so a wait for it is
  not an error, yet bounded, so a stuck writer is an error instead of a hang.
- Long work (reading a workbook) happens outside any transaction: see
  enrollment/applications.py, `import_roster`.
- Nor does a transaction wait for another service: an event handler asks other services by
  RPC before its transaction's first statement. Holding the write lock while the answer comes
  held up every other writer; one in this process waited for it in C, so the answer could not
  come until the busy timeout refused that writer. What it must know before asking (has this
  event been handled already?) it reads in `read_scope`: a deferred transaction, a WAL snapshot
  that takes no lock, so it neither waits for a writer nor holds one up.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.types import TypeDecorator

from services.kernel.clock import SYSTEM
from services.messaging.errors import DatabaseConfigError

SessionFactory = Callable[[], Session]

DEFAULT_POOL_SIZE = 12  # nameko's default 10 workers, the outbox relay and one spare
PING_AFTER_IDLE = 1.0  # seconds a pooled PostgreSQL connection may rest before it is pinged
SQLITE_BUSY_TIMEOUT = 10.0  # seconds another connection's write is waited for (see above)
READ_ONLY = "mutual_aid_read_only"  # the execution option `read_scope` sets on its connection


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for a connection that rested in the pool: the server may have
    dropped it meanwhile (a restart, an outage, an idle timeout). A connection handed straight
    back out, as under load, is not pinged: pool_pre_ping's round trip before every
    transaction was a twelfth of an approval's statements (issue 14). A dead one is replaced
    (DisconnectionError makes the pool connect afresh), never handed to the caller."""

    @event.listens_for(engine, "checkin")
    def rested_from(_dbapi_connection, record) -> None:
        record.info["rested_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_rested(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop("rested_from", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:  # noqa: BLE001 - whatever the driver raises, the connection is gone
            alive = False
        if not alive:
            raise DisconnectionError("a pooled connection did not answer its ping")


def make_engine(
    url: str | URL, *, pool_size: int = DEFAULT_POOL_SIZE, must_exist: bool = False
) -> Engine:
    """An engine for `url` (SQLite or PostgreSQL), configured to cooperate with eventlet.

    A SQLite file (and its folder) is created on first use, unless ``must_exist``: then a
    missing file is a DatabaseConfigError and nothing is created (a command that only reads).
    """
    url = make_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, must_exist=must_exist)
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
        engine = create_engine(url, pool_size=pool_size, max_overflow=0, hide_parameters=True)
        _ping_when_idle(engine)
        return engine
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


@contextmanager
def read_scope(session_factory: SessionFactory) -> Iterator[Session]:
    """A transaction that only reads, rolled back when the block ends. On SQLite it begins
    DEFERRED, not IMMEDIATE: it takes no lock (WAL), so a read before an event handler's RPC
    holds up no writer while the answer comes (see the module's notes). A write in it is
    refused at once ("attempt to write a readonly database", PRAGMA query_only) rather than
    waiting for the lock. On PostgreSQL an ordinary transaction: reads take no lock there.

    Use it before the worker's own transaction has begun: SQLite has one connection per
    engine, and the worker's transaction would be holding it."""
    session = session_factory()
    try:
        session.connection(execution_options={READ_ONLY: True})
        yield session
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


def _sqlite_engine(url: URL, *, must_exist: bool) -> Engine:
    database = url.database
    if not database or database == ":memory:":
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
    else:
        if must_exist and not Path(database).is_file():
            raise DatabaseConfigError(f"{database}: no such database (nothing was created)")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT},
            hide_parameters=True,
        )

    # sqlite3's own transaction handling starts transactions late and breaks SAVEPOINT; let
    # SQLAlchemy emit BEGIN itself (the recipe in SQLAlchemy's SQLite dialect notes), as
    # BEGIN IMMEDIATE (the module's notes say why).
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        # query_only stays with the connection: switched only when a read follows a write or
        # a write a read (connection.info is the pooled connection's, cleared on reconnect)
        if connection.info.get(READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only = {int(read_only)}")
            connection.info[READ_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

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
    """The real instant, for the timestamps recorded on rows (stored in UTC)."""
    return SYSTEM.now().astimezone(UTC)


# Constraint names every service's metadata uses, so a migration can drop a constraint by
# name on PostgreSQL and SQLite alike (services/messaging/migrations.py writes them).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
