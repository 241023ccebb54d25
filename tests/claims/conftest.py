"""Fixtures for the claims tests: a database session (SQLite, and PostgreSQL when marked), the
city policies and a fake ``enrollment.cover`` (tests/claims/flow.py)."""

from __future__ import annotations

import pytest

from services.claims.models import metadata
from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory
from tests.claims.flow import FakeCover


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def session(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path}/var/claims.sqlite"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url, pool_size=4)
    metadata().create_all(engine)
    session = make_session_factory(engine)()
    yield session
    session.close()
    metadata().drop_all(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(scope="session")
def zhangjiakou(registry):
    return registry.get("zhangjiakou")


@pytest.fixture(scope="session")
def wujin(registry):
    return registry.get("wujin")


@pytest.fixture(scope="session")
def quzhou(registry):
    return registry.get("quzhou")


@pytest.fixture
def cover() -> FakeCover:
    return FakeCover()
