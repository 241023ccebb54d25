"""Fixtures for the payments tests: a database session (SQLite, and PostgreSQL when marked),
the installed city policies, and an event recorder standing in for the outbox."""

from __future__ import annotations

import pytest

from services.kernel.registry import load_registry
from services.payments.models import metadata
from tests.conftest import BACKENDS, service_session


@pytest.fixture(params=BACKENDS)
def session(request, tmp_path):
    yield from service_session(request, tmp_path, metadata(), "payments")


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


class Recorder:
    """Collects (event type, payload) as the outbox would record them, checked as it does."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def __call__(self, event_type: str, payload: dict) -> str:
        from services.messaging.outbox import check_event

        check_event(event_type, payload)
        self.events.append((event_type, payload))
        return str(len(self.events))

    def of(self, event_type: str) -> list[dict]:
        return [payload for kind, payload in self.events if kind == event_type]


@pytest.fixture
def record() -> Recorder:
    return Recorder()
