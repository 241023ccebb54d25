"""Notify's fixtures: a migrated SQLite database, the Zhangjiakou plugin reading this
checkout's data (its sms.yaml), and a registry-like lookup of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from mutual_aid_zhangjiakou import Zhangjiakou

from services.kernel.clock import SHANGHAI
from services.messaging.database import make_engine, make_session_factory
from services.notify import migrations

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
def session_factory(tmp_path):
    url = f"sqlite:///{tmp_path}/notify.sqlite"
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=5)
    yield make_session_factory(engine)
    engine.dispose()
