"""Notify's fixtures: a migrated SQLite database, the Zhangjiakou plugin reading this
checkout's data (its sms.yaml), and a registry-like lookup of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from mutual_aid_zhangjiakou import Zhangjiakou
from nameko.extensions import DependencyProvider

from services.kernel.clock import SHANGHAI
from services.messaging.database import make_engine, make_session_factory
from services.notify import migrations
from services.notify.dependencies import Sender
from services.notify.service import NotifyService

ROOT = Path(__file__).resolve().parents[2]
ZJK_DATA = ROOT / "plugins/zhangjiakou/mutual_aid_zhangjiakou/data"
NOON = datetime(2024, 3, 1, 12, 0, tzinfo=SHANGHAI)


class Policies:
    def __init__(self, *policies):
        self.by_code = {p.code: p for p in policies}

    def get(self, code):
        return self.by_code[code]


@pytest.fixture
def zhangjiakou():
    return Zhangjiakou(data_dir=ZJK_DATA)


@pytest.fixture
def policies(zhangjiakou):
    return Policies(zhangjiakou)


@pytest.fixture
def notify_at_noon(policies):
    """NotifyService as the tests run it: the plugin reading this checkout's data/sms.yaml,
    and a clock pinned at noon, outside the quiet hours."""

    class ThisCheckoutsPolicies(DependencyProvider):
        def get_dependency(self, worker_ctx):
            return policies

    class Notify(NotifyService):
        policies = ThisCheckoutsPolicies()
        sender = Sender(now=lambda: NOON)

    return Notify


def _factory(url):
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=12)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def session_factory(request, tmp_path):
    """notify's database, migrated: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield from _factory(f"sqlite:///{tmp_path}/notify.sqlite")
    else:
        yield from _factory(request.getfixturevalue("fresh_postgres"))


@pytest.fixture
def sqlite_factory(tmp_path):
    """SQLite only: for the load test, which says nothing more on PostgreSQL."""
    yield from _factory(f"sqlite:///{tmp_path}/notify.sqlite")
