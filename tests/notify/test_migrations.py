"""The notify migrations build exactly what models.py describes, on SQLite and PostgreSQL, and
the unique key (event id, recipient, template) is the database's, not only the code's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.messaging.database import make_engine
from services.notify import migrations
from tests.conftest import schema_differences

VERSION_TABLE = "alembic_version_notify"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/notify.sqlite"
    return request.getfixturevalue("fresh_postgres")


def test_upgrade_builds_exactly_the_models_and_downgrade_removes_them(database_url):
    migrations.upgrade(database_url)
    assert migrations.current(database_url) == "0001"
    assert schema_differences(database_url, migrations.target_metadata(), VERSION_TABLE) == []
    engine = make_engine(database_url, pool_size=1)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"sms_messages", "sms_outbox", "processed_events", "dead_letters"} <= names
    migrations.downgrade(database_url, "base")
    assert migrations.current(database_url) is None


def test_one_message_per_event_recipient_and_template(database_url):
    migrations.upgrade(database_url)
    messages = migrations.target_metadata().tables["sms_messages"]
    stamp = datetime(2024, 3, 1, 4, tzinfo=UTC)
    row = {
        "event_id": "e1",
        "event_type": "claim_approved",
        "recipient": "member:m1",
        "template": "claim_approved",
        "city": "zhangjiakou",
        "year": 2024,
        "signature": "【x】",
        "template_code": "SMS_1",
        "params": {},
        "text": "t",
        "segments": 1,
        "essential": True,
        "urgent": False,
        "status": "queued",
        "attempts": 0,
        "due_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
    }
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(messages.insert().values(id="a", **row))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(messages.insert().values(id="b", **row))
    finally:
        engine.dispose()
