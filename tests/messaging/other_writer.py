"""Another connection writing to a service's SQLite file while one of the service's event
handlers waits for an RPC answer: what `mutual-aid` beside `serve` does, done here by a
stand-in service answering that RPC, in the test's own process. Its wait for the file's write
lock is in C (sqlite3's busy timeout), so it stops the whole hub: if the handler holds the lock
while it waits for the answer, neither can go on until the busy timeout ends the wait with
"database is locked" (services/messaging/database.py).

    writer = OtherWriter(config["DATABASES"]["payments"])
    ...                           # the stand-in's RPC calls writer.write() before it answers
    assert writer.error is None and writer.waited < STALL / 4
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy.exc import OperationalError

from services.messaging import database
from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.embedded import install_memory_transport, reset_memory_bus
from services.messaging.idempotency import first_time

# The busy timeout the tests set (monkeypatch database.SQLITE_BUSY_TIMEOUT): how long the hub
# stops when the write lock is held across an RPC. A write that is not held up takes
# milliseconds, so a quarter of it is a wide margin either way.
STALL = 2.0


def short_busy_timeout(monkeypatch) -> None:
    """Every engine made from now on waits at most STALL seconds for another's write lock."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT", STALL)


def embedded_on_sqlite(monkeypatch, tmp_path, service: str, **more) -> dict:
    """The config of `service` run as the embedded mode runs it (kombu's in-memory bus, a
    fresh one; its SQLite file under tmp_path), engines made from now on waiting at most
    STALL seconds for another's write lock; ``more`` added to it."""
    short_busy_timeout(monkeypatch)
    install_memory_transport()
    reset_memory_bus()
    return {
        "AMQP_URI": "memory://",
        "DATABASES": {service: f"sqlite:///{tmp_path}/var/{service}.sqlite"},
        "DATABASE_CREATE_TABLES": True,
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        **more,
    }


class OtherWriter:
    """One short write (a row in processed_events) on its own connection to the file."""

    def __init__(self, url: str):
        self.engine = make_engine(url, pool_size=1)
        self.factory = make_session_factory(self.engine)
        self.waited: float | None = None
        self.error: OperationalError | None = None
        self.writes = 0

    def write(self) -> None:
        started = time.monotonic()
        try:
            with session_scope(self.factory) as session:
                first_time(session, "tests.other_writer", str(uuid.uuid4()))
            self.writes += 1
        except OperationalError as exc:  # "database is locked": reported by the test
            self.error = exc
        self.waited = time.monotonic() - started

    def close(self) -> None:
        self.engine.dispose()
