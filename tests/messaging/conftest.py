"""Fixtures for the messaging tests: a database per backend, and a clean in-process bus.

PostgreSQL tests get one throwaway database for the session, created through the server's
`postgres` database and dropped (with its connections) at the end. MUTUAL_AID_TEST_POSTGRES
points at another server's admin database.
"""

import os
import uuid

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from services.messaging.database import make_engine, make_session_factory, use_green_psycopg
from services.messaging.embedded import reset_memory_bus
from services.messaging.idempotency import processed_events_table
from services.messaging.outbox import outbox_table

ADMIN_URL = os.environ.get(
    "MUTUAL_AID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_url():
    use_green_psycopg()  # before psycopg is first imported, as a service would
    import psycopg

    name = f"mutual_aid_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{url}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
