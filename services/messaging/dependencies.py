"""nameko dependency providers: `Database` (a unit of work per worker) and `Outbox`.

    class PaymentsService:
        name = "payments"
        db = Database(Base.metadata)     # Base.metadata holds outbox_table(...) and
        outbox = Outbox()                # processed_events_table(...) beside its own tables
        claims = RpcProxy("claims")

        @event_handler("claims", "claim_approved")
        def on_claim_approved(self, event):
            consumer = "payments.on_claim_approved"
            with self.db.read_scope() as reading:                    # no write lock (SQLite)
                if handled_before(reading, consumer, event["event_id"]):
                    return                                           # redelivered: not asked
            claim = self.claims.payable(event["claim_id"])          # details by RPC, before
            session = self.db.session                                # the transaction begins
            if not first_time(session, consumer, event["event_id"]):
                return                                               # handled meanwhile
            instruction = ledger.payout_for(claim)                   # framework-free domain code
            session.add(instruction)                                 # its id set in Python
            self.outbox.record("payout_requested", {"v": 1, "instruction_id": instruction.id})
            # returns: payout row, processed-event row and outbox row commit together, then
            # nameko acks the message; the relay publishes payout_requested after the commit

Configuration (nameko config dict, see `config.py`):
    DATABASES:              {<service name>: <database URL>}      required for `Database`
    DATABASE_POOL_SIZE:     connections per service (PostgreSQL)   default max_workers + 2
    DATABASE_CREATE_TABLES: create the metadata's tables at start  default false (Alembic)
    OUTBOX_RELAY_INTERVAL:  seconds between periodic relay runs    default 5
    OUTBOX_RELAY_BATCH:     events per batch (one UPDATE each)     default 100
    OUTBOX_RETENTION_DAYS:  published events and processed ids kept default 30 (purged hourly)
"""

from __future__ import annotations

import functools
import logging
import time
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from eventlet.green import threading as green_threading
from nameko.constants import DEFAULT_MAX_WORKERS, MAX_WORKERS_CONFIG_KEY
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from nameko.messaging import HeaderEncoder
from sqlalchemy import MetaData
from sqlalchemy.orm import Session, sessionmaker

from services.messaging.database import (
    make_engine,
    make_session_factory,
    read_scope,
    session_scope,
    utc_now,
)
from services.messaging.errors import ConfigError, DatabaseConfigError, MessagingError
from services.messaging.idempotency import PROCESSED_EVENTS
from services.messaging.outbox import (
    call_after_commit_with_events,
    purge_history,
    record_event,
    relay_pending,
)
from services.messaging.publishing import event_publisher

PURGE_EVERY = 3600.0  # seconds between two purges of old outbox rows and processed ids

_log = logging.getLogger(__name__)

# Batches a relay run publishes at most, pipelined (outbox.relay_pending): one transaction,
# so a crash before its commit republishes at most this many batches (at least once).
RELAY_RUN_BATCHES = 10


class UnitOfWork:
    """What a worker sees as `self.db`.

    `session` is the worker's transaction, opened on first use and committed when the
    entrypoint method returns, before nameko sends the RPC reply or acknowledges the event
    (rolled back if it raises). `session_scope()` is a separate transaction committed at
    the end of its block, for work that must commit on its own. `read_scope()` is a read
    before the worker's transaction begins, taking no lock (database.read_scope): what an
    event handler must know before it asks another service by RPC.
    """

    def __init__(self, session_factory: sessionmaker[Session]):
        self._session_factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def session_scope(self) -> AbstractContextManager[Session]:
        return session_scope(self._session_factory)

    def read_scope(self) -> AbstractContextManager[Session]:
        if self._session is not None and self._session.in_transaction():
            # SQLite's one connection is the worker's transaction's: a read would wait for it
            raise MessagingError("read_scope: only before the worker's transaction begins")
        return read_scope(self._session_factory)

    def commit(self) -> None:
        if self._session is not None:
            self._session.commit()

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class Database(DependencyProvider):
    """The service's own database; each worker gets a `UnitOfWork`."""

    def __init__(self, metadata: MetaData):
        self.metadata = metadata

    def setup(self) -> None:
        config = self.container.config
        service_name = self.container.service_name
        url = (config.get("DATABASES") or {}).get(service_name)
        if not url:
            raise DatabaseConfigError(
                f"service {service_name}: no database URL; set DATABASES.{service_name} in the config"
            )
        workers = config.get(MAX_WORKERS_CONFIG_KEY, DEFAULT_MAX_WORKERS)
        pool_size = config.get("DATABASE_POOL_SIZE", workers + 2)
        self.engine = make_engine(url, pool_size=pool_size)
        if config.get("DATABASE_CREATE_TABLES", False):
            self.metadata.create_all(self.engine)
        self.session_factory = make_session_factory(self.engine)
        self._units: WeakKeyDictionary[WorkerContext, UnitOfWork] = WeakKeyDictionary()

    def stop(self) -> None:
        self.engine.dispose()

    def kill(self) -> None:
        self.engine.dispose()

    def unit_of_work(self, worker_ctx: WorkerContext) -> UnitOfWork:
        """The worker's unit of work (also reached by `Outbox`, whichever is injected first)."""
        unit = self._units.get(worker_ctx)
        if unit is None:
            unit = self._units[worker_ctx] = UnitOfWork(self.session_factory)
        return unit

    def get_dependency(self, worker_ctx: WorkerContext) -> UnitOfWork:
        return self.unit_of_work(worker_ctx)

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        # nameko sends an RPC reply or acks a message (the entrypoint's handle_result) before
        # any provider's worker_result hook; a commit there could fail after the caller was
        # told "done", or after the message was gone. So the commit goes around the method:
        # the container looks the method up on the worker's service instance after
        # worker_setup, and finds this wrapper there.
        unit = self.unit_of_work(worker_ctx)
        service = worker_ctx.service
        method_name = worker_ctx.entrypoint.method_name
        method = getattr(service, method_name)

        @functools.wraps(method)
        def in_unit_of_work(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
                unit.commit()
            except BaseException:
                unit.rollback()
                raise
            return result

        setattr(service, method_name, in_unit_of_work)

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        unit = self._units.pop(worker_ctx, None)
        if unit is not None:
            unit.close()


class WorkerOutbox:
    """What a worker sees as `self.outbox`."""

    def __init__(self, unit: UnitOfWork, headers: dict[str, Any]):
        self._unit = unit
        self._headers = headers

    def record(self, event_type: str, payload: dict[str, Any]) -> str:
        """Record an event in the worker's transaction; published after it commits."""
        return record_event(self._unit.session, event_type, payload, headers=self._headers)


class Outbox(DependencyProvider, HeaderEncoder):
    """Relays the service's outbox to `<service>.events`: promptly after each commit that
    recorded events, and every OUTBOX_RELAY_INTERVAL seconds for whatever a broker outage
    (or a crash) left behind. One relay runs at a time in a process.

    Needs a `Database` provider on the same service; the outbox table lives in its metadata.
    """

    def setup(self) -> None:
        config = self.container.config
        databases = [d for d in self.container.dependencies if isinstance(d, Database)]
        if len(databases) != 1:
            raise ConfigError(
                f"service {self.container.service_name}: Outbox needs exactly one Database "
                f"provider, found {len(databases)}"
            )
        self.database = databases[0]
        self.interval = float(config.get("OUTBOX_RELAY_INTERVAL", 5.0))
        self.batch = int(config.get("OUTBOX_RELAY_BATCH", 100))
        # published events and processed-event ids older than this are deleted, hourly
        self.retention = timedelta(days=float(config.get("OUTBOX_RETENTION_DAYS", 30)))
        self._next_purge = 0.0
        self.publish = event_publisher(config, self.container.service_name)
        self._wake = green_threading.Event()
        self._running = False
        self._thread = None

    def start(self) -> None:
        call_after_commit_with_events(self.database.session_factory, self._wake.set)
        self._running = True
        self._thread = self.container.spawn_managed_thread(
            self._relay_forever, identifier=f"{self.container.service_name}.outbox_relay"
        )

    def stop(self) -> None:
        self._running = False
        self._wake.set()
        if self._thread is not None:
            self._thread.wait()

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()

    def get_dependency(self, worker_ctx: WorkerContext) -> WorkerOutbox:
        headers = self.get_message_headers(worker_ctx)
        return WorkerOutbox(self.database.unit_of_work(worker_ctx), headers)

    def wake(self) -> None:
        """Relay now: events were committed by another process (payments' apply worker)."""
        self._wake.set()

    def relay(self) -> int:
        """One relay run now; returns how many events were published."""
        return relay_pending(
            self.database.session_factory, self.publish, self.batch, batches=RELAY_RUN_BATCHES
        )

    def purge(self) -> tuple[int, int]:
        """Delete published events and processed-event ids older than OUTBOX_RETENTION_DAYS."""
        return purge_history(
            self.database.session_factory,
            utc_now() - self.retention,
            processed_events=PROCESSED_EVENTS.name in self.database.metadata.tables,
        )

    def _relay_forever(self) -> None:
        while self._running:
            try:
                published = self.relay()
                if time.monotonic() >= self._next_purge:
                    self._next_purge = time.monotonic() + PURGE_EVERY
                    self.purge()
            except Exception:
                _log.exception("outbox relay of %s failed", self.container.service_name)
                published = 0
            if published < self.batch * RELAY_RUN_BATCHES:  # a full run: more may be waiting
                self._wake.wait(self.interval)
                self._wake.clear()
