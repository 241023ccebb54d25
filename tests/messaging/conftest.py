"""Fixtures for the messaging tests: a database per backend, and a clean in-process bus.

PostgreSQL tests use the session's throwaway database (`postgres_url`, tests/conftest.py).
"""

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from services.messaging.database import make_engine, make_session_factory
from services.messaging.embedded import reset_memory_bus
from services.messaging.idempotency import processed_events_table
from services.messaging.outbox import outbox_table


def service_metadata() -> MetaData:
    """A service's tables as the messaging package expects them, plus two of its own."""
    metadata = MetaData()
    outbox_table(metadata)
    processed_events_table(metadata)
    Table("members", metadata, Column("id", String(36), primary_key=True))
    Table(
        "payouts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("claim_id", String(36), nullable=False),
        Column("member_id", String(36), ForeignKey("members.id"), nullable=True),
    )
    return metadata


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/var/service.sqlite"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url, pool_size=4)
    metadata = service_metadata()
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    return make_session_factory(engine)


@pytest.fixture
def memory_bus():
    reset_memory_bus()
    yield
    reset_memory_bus()
