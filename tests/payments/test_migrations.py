"""The payments migrations build exactly what models.py describes, on SQLite and PostgreSQL.

The check is Alembic's own autogenerate comparison: after `upgrade` to head it must find
nothing to change; a column added to a model without a revision makes it fail (the second
test shows the comparison is not blind to that).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from services.messaging.database import make_engine
from services.messaging.migrations import main
from services.payments import migrations
from tests.conftest import schema_differences

VERSION_TABLE = "alembic_version_payments"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/var/payments.sqlite"
    return request.getfixturevalue("fresh_postgres")


def table_names(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_exactly_the_models_and_downgrade_removes_them(database_url):
    assert migrations.current(database_url) is None

    migrations.upgrade(database_url)
    (head,) = migrations.MIGRATIONS.heads()
    assert migrations.current(database_url) == head == "0003"
    assert schema_differences(database_url, migrations.target_metadata(), VERSION_TABLE) == []
    assert {
        "journals",
        "journal_entries",
        "ledger_accounts",
        "invoices",
        "callbacks",
        "receipts",
        "payouts",
        "statement_lines",
        "outbox",
        "processed_events",
        "dead_letters",
        VERSION_TABLE,
    } <= table_names(database_url)

    migrations.downgrade(database_url, "base")
    assert migrations.current(database_url) is None
    assert table_names(database_url) == {VERSION_TABLE}

    migrations.upgrade(database_url)
    assert migrations.MIGRATIONS.differences(database_url) == []


def test_a_model_column_without_a_migration_is_caught(database_url):
    migrations.upgrade(database_url)
    ahead = sa.MetaData()
    for table in migrations.target_metadata().sorted_tables:
        table.to_metadata(ahead)
    ahead.tables["payouts"].append_column(sa.Column("no_migration_yet", sa.String(20)))

    found = schema_differences(database_url, ahead, VERSION_TABLE)

    assert [(d[0], d[2], d[3].name) for d in found] == [
        ("add_column", "payouts", "no_migration_yet")
    ]


def test_money_stays_exact_and_the_unique_rules_hold(database_url):
    migrations.upgrade(database_url)
    tables = migrations.target_metadata().tables
    payouts, invoices = tables["payouts"], tables["invoices"]
    stamp = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)
    payout = {
        "claim_id": "c1",
        "attempt": 1,
        "city": "wujin",
        "year": 2024,
        "name": "张三",
        "card_number": "6222020000000000001",
        "amount": Decimal("999999999999.99"),
        "from_account": "1032200000018099",
        "status": "created",
        "created_by": "t",
        "created_at": stamp,
    }
    invoice = {
        "kind": "unit",
        "status": "open",
        "city": "zhangjiakou",
        "year": 2024,
        "application_id": "a1",
        "amount": Decimal("50.00"),
        "currency": "CNY",
        "payee": "p",
        "bank": "b",
        "account_number": "1",
        "reference": "r",
        "issued_by": "t",
        "issued_at": stamp,
    }
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(payouts.insert().values(id="p1", **payout))
            connection.execute(invoices.insert().values(id="i1", code="AAAAAAAA", **invoice))
            # a superseded invoice of the same application may stand beside the open one
            connection.execute(
                invoices.insert().values(
                    id="i0", code="CCCCCCCC", **{**invoice, "status": "superseded"}
                )
            )
        with engine.connect() as connection:
            amount = connection.execute(sa.select(payouts.c.amount)).scalar()
        for bad in (
            payouts.insert().values(id="p2", **payout),  # the same (claim, attempt) twice
            invoices.insert().values(id="i2", code="DDDDDDDD", **invoice),  # two open
            invoices.insert().values(
                id="i3", code="AAAAAAAA", **{**invoice, "application_id": "a2"}
            ),  # the same code twice
        ):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
                connection.execute(bad)
    finally:
        engine.dispose()
    assert amount == Decimal("999999999999.99") and isinstance(amount, Decimal)


def test_the_command_line_knows_the_payments_migrations(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/var/payments.sqlite"
    assert main(["upgrade", "--url", url, "payments"]) == 0
    assert main(["check", "--url", url, "payments"]) == 0
    out, _ = capsys.readouterr()
    assert "payments: sqlite:///" in out and "at 0003" in out and "matches the models" in out
