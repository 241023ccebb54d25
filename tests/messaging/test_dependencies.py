"""The providers refuse a service they cannot serve, by name, before it takes any work."""

import time

import pytest
from nameko.rpc import rpc

from services.messaging.dependencies import Database, Outbox
from services.messaging.embedded import MEMORY_URI, install_memory_transport
from services.messaging.errors import ConfigError, DatabaseConfigError
from tests.messaging.demo_services import ClaimsBase, ClaimsService


class OutboxWithoutDatabase:
    name = "lonely"
    outbox = Outbox()

    @rpc
    def ping(self):
        return "pong"


class TwoDatabases:
    name = "greedy"
    db = Database(ClaimsBase.metadata)
    other = Database(ClaimsBase.metadata)
    outbox = Outbox()

    @rpc
    def ping(self):
        return "pong"


@pytest.fixture
def config(tmp_path, memory_bus):
    install_memory_transport()
    return {
        "AMQP_URI": MEMORY_URI,
        "DATABASES": {"greedy": f"sqlite:///{tmp_path}/greedy.sqlite"},
    }


def test_a_service_without_a_database_url_is_named(container_factory, config):
    container = container_factory(ClaimsService, config)
    with pytest.raises(DatabaseConfigError, match="DATABASES.claims"):
        container.start()


@pytest.mark.parametrize("service_cls, found", [(OutboxWithoutDatabase, 0), (TwoDatabases, 2)])
def test_an_outbox_needs_exactly_one_database(container_factory, config, service_cls, found):
    container = container_factory(service_cls, config)
    with pytest.raises(ConfigError, match=f"exactly one Database provider, found {found}"):
        container.start()


def test_the_outbox_purges_old_published_events_when_it_starts(
    container_factory, tmp_path, memory_bus
):
    """OUTBOX_RETENTION_DAYS: the relay thread's first round (then hourly) deletes what was
    published before the age and keeps the rest (issue 14)."""
    from datetime import timedelta

    from sqlalchemy import select

    from services.messaging.database import make_engine, utc_now
    from services.messaging.outbox import OUTBOX

    install_memory_transport()
    url = f"sqlite:///{tmp_path}/claims.sqlite"
    engine = make_engine(url)
    ClaimsBase.metadata.create_all(engine)
    now = utc_now()
    with engine.begin() as connection:
        connection.execute(
            OUTBOX.insert(),
            [
                {"id": "old", "event_type": "claim_approved", "payload": {"v": 1, "id": "a"},
                 "headers": {}, "created_at": now - timedelta(days=9),
                 "published_at": now - timedelta(days=9), "attempts": 1},
                {"id": "new", "event_type": "claim_approved", "payload": {"v": 1, "id": "b"},
                 "headers": {}, "created_at": now - timedelta(days=1),
                 "published_at": now - timedelta(days=1), "attempts": 1},
            ],
        )  # fmt: skip
    config = {"AMQP_URI": MEMORY_URI, "DATABASES": {"claims": url}, "OUTBOX_RETENTION_DAYS": 7}
    container = container_factory(ClaimsService, config)
    container.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # waiting for the relay thread's first round
        with engine.connect() as connection:
            kept = sorted(r.id for r in connection.execute(select(OUTBOX.c.id)))
        if "old" not in kept:
            break
        time.sleep(0.05)
    assert kept == ["new"]
    engine.dispose()


def test_a_read_scope_is_refused_once_the_worker_s_transaction_has_begun(tmp_path):
    """On SQLite the worker's transaction holds the engine's one connection: a read_scope
    then would wait for it until the pool gave up (30 s). Said at once instead."""
    from sqlalchemy import text

    from services.messaging.database import make_engine, make_session_factory
    from services.messaging.dependencies import UnitOfWork
    from services.messaging.errors import MessagingError

    engine = make_engine(f"sqlite:///{tmp_path}/unit.sqlite")
    unit = UnitOfWork(make_session_factory(engine))
    try:
        with unit.read_scope() as reading:  # before: a read that takes no lock
            assert reading.execute(text("SELECT 1")).scalar() == 1
        unit.session.execute(text("SELECT 1"))
        with pytest.raises(MessagingError, match="before the worker's transaction"):
            unit.read_scope()
    finally:
        unit.close()
        engine.dispose()
