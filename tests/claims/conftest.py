"""Fixtures for the claims tests: a database session (SQLite, and PostgreSQL when marked), the
city policies and a fake ``enrollment.cover`` (tests/claims/flow.py)."""

from __future__ import annotations

import pytest

from services.claims.models import metadata
from services.kernel.registry import load_registry
from tests.claims.flow import FakeCover
from tests.conftest import BACKENDS, service_session


@pytest.fixture(params=BACKENDS)
def session(request, tmp_path):
    yield from service_session(request, tmp_path, metadata(), "claims")


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
