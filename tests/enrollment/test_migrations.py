"""The enrollment migrations build exactly what models.py describes, on SQLite and PostgreSQL.

The check is Alembic's own autogenerate comparison: after `upgrade` to head it must find
nothing to change. A column added to a model without a revision makes it fail (the second
test shows the comparison is not blind to that). PostgreSQL tests each get a fresh database on
the server of the session's `postgres_url`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.enrollment import migrations
from services.messaging.database import make_engine
from services.messaging.migrations import ServiceMigrations, main, service_metadata
from tests.conftest import ROOT, schema_differences

VERSION_TABLE = "alembic_version_enrollment"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/var/enrollment.sqlite"
    return request.getfixturevalue("fresh_postgres")


def differences(url: str, metadata: sa.MetaData) -> list:
    return schema_differences(url, metadata, VERSION_TABLE)


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
    assert migrations.current(database_url) == head
    assert differences(database_url, migrations.target_metadata()) == []
    assert {"outbox", "processed_events", "applications", VERSION_TABLE} <= table_names(
        database_url
    )

    migrations.downgrade(database_url, "base")
    assert migrations.current(database_url) is None
    assert table_names(database_url) == {VERSION_TABLE}  # only the (empty) version table

    migrations.upgrade(database_url)
    assert migrations.current(database_url) == head
    assert migrations.MIGRATIONS.differences(database_url) == []


def test_a_model_column_without_a_migration_is_caught(database_url):
    migrations.upgrade(database_url)
    ahead = sa.MetaData()
    for table in migrations.target_metadata().sorted_tables:
        table.to_metadata(ahead)
    ahead.tables["units"].append_column(sa.Column("no_migration_yet", sa.String(200)))

    found = differences(database_url, ahead)

    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "units", "no_migration_yet")]


def test_money_dates_times_and_json_keep_their_values(database_url):
    migrations.upgrade(database_url)
    tables = migrations.target_metadata().tables
    units, applications, lines = tables["units"], tables["applications"], tables["roster_lines"]
    stamp = datetime(2024, 11, 1, 9, 30, tzinfo=UTC)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(
                units.insert().values(
                    id="u1",
                    city="quzhou",
                    unit_key="K1",
                    name="衢州某厂",
                    nature="private",
                    created_at=stamp,
                )
            )
            connection.execute(
                applications.insert().values(
                    id="a1",
                    unit_id="u1",
                    city="quzhou",
                    year=2025,
                    status="draft",
                    participants=80,
                    unit_price=Decimal("999999999999.99"),
                    total_due=Decimal("0.10"),
                    quote={"总额": "7200.00", "rows": [1, 2]},
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            connection.execute(
                lines.insert().values(
                    id="l1",
                    application_id="a1",
                    city="quzhou",
                    year=2025,
                    name="张三",
                    sex="男",
                    id_number="11010519491231002X",
                    birth_date=date(1949, 12, 31),
                    extra={"镇": "柯桥"},
                )
            )
        with engine.connect() as connection:
            app = connection.execute(applications.select()).one()
            line = connection.execute(lines.select()).one()
    finally:
        engine.dispose()

    assert app.unit_price == Decimal("999999999999.99") and isinstance(app.unit_price, Decimal)
    assert app.total_due == Decimal("0.10")
    assert app.quote == {"总额": "7200.00", "rows": [1, 2]}
    assert app.created_at == stamp and app.created_at.tzinfo is not None
    assert line.birth_date == date(1949, 12, 31) and line.extra == {"镇": "柯桥"}


@pytest.mark.postgres
def test_services_share_one_database_in_schemas_of_their_own(fresh_postgres):
    # two copies of the enrollment tables stand in for two services (both have an `outbox`)
    first, second = (f"{fresh_postgres}?options=-csearch_path%3D{s}" for s in ("one", "two"))

    migrations.upgrade(first)
    assert migrations.current(second) is None
    migrations.upgrade(second)

    for url in (first, second):
        assert migrations.current(url) == migrations.MIGRATIONS.heads()[0]
        assert migrations.MIGRATIONS.differences(url) == []
    engine = make_engine(fresh_postgres, pool_size=1)
    try:
        inspector = sa.inspect(engine)
        assert inspector.get_table_names("public") == []
        assert VERSION_TABLE in inspector.get_table_names("one")
        assert "outbox" in inspector.get_table_names("two")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_replicas_upgrading_at_once_wait_for_each_other(fresh_postgres):
    # separate processes, as each replica's init container is (Alembic's context is global)
    command = [sys.executable, "-m", "services.messaging.migrations", "upgrade", "--url"]
    runs = [
        subprocess.Popen([*command, fresh_postgres, "enrollment"], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    failures = [run.stderr.read().decode() for run in runs if run.wait(timeout=120) != 0]

    assert failures == []
    assert migrations.current(fresh_postgres) == migrations.MIGRATIONS.heads()[0]


def test_revision_writes_the_next_numbered_file_from_the_models(tmp_path):
    # a copy of the migrations folder, and models ahead of it: a new column, and a longer
    # unit name (SQLite rebuilds the table for that, under the rows that refer to it)
    folder = shutil.copytree(migrations.MIGRATIONS.directory, tmp_path / "migrations")

    def ahead() -> sa.MetaData:
        metadata = sa.MetaData()
        for table in migrations.target_metadata().sorted_tables:
            table.to_metadata(metadata)
        units = metadata.tables["units"]
        units.append_column(sa.Column("no_migration_yet", sa.String(200)))
        units.c.name.type = sa.String(300)
        return metadata

    copy = ServiceMigrations("enrollment", folder, ahead)
    (head,) = copy.heads()
    following = f"{int(head) + 1:04d}"
    url = f"sqlite:///{tmp_path}/enrollment.sqlite"
    copy.upgrade(url)
    stamp = datetime(2024, 11, 1, tzinfo=UTC)
    engine = make_engine(url, pool_size=1)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO units (id, city, unit_key, name, nature, created_at) "
                "VALUES ('u1', 'quzhou', 'K1', '衢州某厂', 'public', :at)"
            ),
            {"at": stamp},
        )
        connection.execute(
            sa.text(
                "INSERT INTO applications (id, unit_id, city, year, status, participants, "
                "created_at, updated_at) VALUES ('a1', 'u1', 'quzhou', 2025, 'draft', 80, :at, :at)"
            ),
            {"at": stamp},
        )
    engine.dispose()

    written = copy.revision("add unit remark")

    assert written.name == f"{following}_add_unit_remark.py"
    source = written.read_text(encoding="utf-8")
    assert f"down_revision: str | None = {head!r}" in source
    assert "sa.Column('no_migration_yet', sa.String(length=200)" in source
    assert "type_=sa.String(length=300)" in source
    copy.upgrade(url)
    assert copy.current(url) == following
    assert copy.differences(url) == []
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        joined = "SELECT units.name FROM applications JOIN units ON units.id = applications.unit_id"
        assert connection.execute(sa.text(joined)).scalar() == "衢州某厂"
    engine.dispose()


def test_the_command_line_upgrades_checks_and_reports(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/var/enrollment.sqlite"
    config = tmp_path / "config.yaml"
    config.write_text(f"DATABASES:\n  enrollment: {url}\n", encoding="utf-8")

    assert main(["upgrade", "--config", str(config), "enrollment"]) == 0
    assert main(["check", "--url", url, "enrollment"]) == 0
    assert main(["current", "--url", url, "nosuch"]) == 2

    out, err = capsys.readouterr()
    assert "enrollment: sqlite:///" in out and f"at {migrations.MIGRATIONS.heads()[0]}" in out
    assert "matches the models" in out
    assert "nosuch: no migrations" in err


def test_models_without_a_metadata_function_get_the_outbox_tables_added():
    class Base(DeclarativeBase):
        pass

    class Thing(Base):
        __tablename__ = "things"
        id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)

    models = types.SimpleNamespace(Base=Base)  # no metadata(): what the fallback is for

    metadata = service_metadata(models)

    assert set(metadata.tables) == {"things", "outbox", "processed_events"}
    assert set(Base.metadata.tables) == {"things"}  # the models' own metadata is left alone
    assert service_metadata(types.SimpleNamespace(metadata=lambda: Base.metadata)) is Base.metadata
