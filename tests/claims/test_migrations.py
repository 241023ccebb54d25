"""The claims migrations build exactly what models.py describes, on SQLite and PostgreSQL.

The check is Alembic's own autogenerate comparison: after `upgrade` to head it must find
nothing to change; a column added to a model without a revision makes it fail (the second
test shows the comparison is not blind to that). PostgreSQL tests each get a fresh database
on the server of the session's `postgres_url`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from services.claims import migrations
from services.messaging.database import make_engine
from services.messaging.migrations import main
from tests.conftest import schema_differences

VERSION_TABLE = "alembic_version_claims"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/var/claims.sqlite"
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
    assert {
        "claims",
        "attachments",
        "attachment_documents",
        "accumulators",
        "ledger_entries",
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
    ahead.tables["claims"].append_column(sa.Column("no_migration_yet", sa.String(20)))

    found = differences(database_url, ahead)

    assert [(d[0], d[2], d[3].name) for d in found] == [
        ("add_column", "claims", "no_migration_yet")
    ]


def test_values_keep_their_types_and_the_constraints_hold(database_url):
    migrations.upgrade(database_url)
    tables = migrations.target_metadata().tables
    claims, attachments, documents, accumulators = (
        tables["claims"],
        tables["attachments"],
        tables["attachment_documents"],
        tables["accumulators"],
    )
    stamp = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(
                claims.insert().values(
                    id="c1",
                    city="zhangjiakou",
                    year=2024,
                    kind="member",
                    benefit="critical_illness",
                    status="approved",
                    id_number="11010219600101001X",
                    facts={"disease": "恶性肿瘤", "total_cost": "120000"},
                    counts_on=date(2024, 3, 1),
                    payable=Decimal("-999999999999.99"),
                    payout_attempt=1,
                    created_by="clerk",
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            connection.execute(
                attachments.insert().values(
                    id="a1",
                    claim_id="c1",
                    filename="a.pdf",
                    content_type="application/pdf",
                    size=5,
                    sha256="0" * 64,
                    content=b"%PDF-",
                    uploaded_by="clerk",
                    uploaded_at=stamp,
                )
            )
            connection.execute(  # one file serving two documents
                documents.insert(),
                [
                    {"attachment_id": "a1", "document": "出院小结"},
                    {"attachment_id": "a1", "document": "费用清单"},
                ],
            )
            connection.execute(
                accumulators.insert().values(
                    id="m1",
                    city="zhangjiakou",
                    year=2024,
                    id_number="11010219600101001X",
                    updated_at=stamp,
                )
            )
        with engine.connect() as connection:
            row = connection.execute(claims.select()).one()
            assert connection.execute(sa.select(attachments.c.content)).scalar() == b"%PDF-"
        for bad in (
            attachments.insert().values(  # neither the bytes nor a storage key
                id="a2",
                claim_id="c1",
                filename="b.pdf",
                content_type="application/pdf",
                size=5,
                sha256="1" * 64,
                uploaded_by="clerk",
                uploaded_at=stamp,
            ),
            documents.insert().values(attachment_id="no-such-file", document="出院小结"),
            documents.insert().values(attachment_id="a1", document="出院小结"),  # twice
            accumulators.insert().values(
                id="m2",
                city="zhangjiakou",
                year=2024,  # the member-year twice
                id_number="11010219600101001X",
                updated_at=stamp,
            ),
        ):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
                connection.execute(bad)
    finally:
        engine.dispose()

    assert row.payable == Decimal("-999999999999.99") and isinstance(row.payable, Decimal)
    assert row.facts == {"disease": "恶性肿瘤", "total_cost": "120000"} and row.counts_on == date(
        2024, 3, 1
    )
    assert row.created_at == stamp and row.created_at.tzinfo is not None


def test_the_command_line_knows_the_claims_migrations(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/var/claims.sqlite"
    assert main(["upgrade", "--url", url, "claims"]) == 0
    assert main(["check", "--url", url, "claims"]) == 0
    out, _ = capsys.readouterr()
    (head,) = migrations.MIGRATIONS.heads()
    assert "claims: sqlite:///" in out and f"at {head}" in out and "matches the models" in out


def test_0002_moves_each_attachment_s_document_into_the_link_and_back(database_url):
    migrations.upgrade(database_url, "0001")
    stamp = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO claims (id, city, year, kind, benefit, status, id_number, "
                    "facts, payout_attempt, created_by, created_at, updated_at) VALUES ('c1', "
                    "'zhangjiakou', 2024, 'member', 'x', 'draft', '1', '{}', 0, 'clerk', "
                    ":at, :at)"
                ),
                {"at": stamp},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO attachments (id, claim_id, document, filename, content_type, "
                    "size, sha256, content, uploaded_by, uploaded_at) VALUES ('a1', 'c1', "
                    "'出院小结', 'a.pdf', 'application/pdf', 5, :sha, :content, 'clerk', :at)"
                ),
                {"sha": "0" * 64, "content": b"%PDF-", "at": stamp},
            )
        migrations.upgrade(database_url, "0002")
        with engine.connect() as connection:
            linked = connection.execute(sa.text("SELECT * FROM attachment_documents")).all()
            assert [tuple(r) for r in linked] == [("a1", "出院小结")]
            columns = {c["name"] for c in sa.inspect(connection).get_columns("attachments")}
            assert "document" not in columns
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO attachment_documents VALUES ('a1', '费用清单')")
            )
        migrations.downgrade(database_url, "0001")
        with engine.connect() as connection:
            kept = connection.execute(sa.text("SELECT id, document FROM attachments")).all()
        assert [tuple(r) for r in kept] == [("a1", "出院小结")]
    finally:
        engine.dispose()


def test_0006_takes_each_claim_s_last_submitter_from_its_history(database_url):
    """Claims submitted before 0006 keep four eyes: their submitter comes from the history."""
    migrations.upgrade(database_url, "0005")
    first, later = datetime(2024, 6, 3, 9, 30, tzinfo=UTC), datetime(2024, 6, 9, 9, 30, tzinfo=UTC)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            for claim in ("c1", "c2"):
                connection.execute(
                    sa.text(
                        "INSERT INTO claims (id, city, year, kind, benefit, status, id_number, "
                        "facts, payout_attempt, created_by, created_at, updated_at) VALUES (:id, "
                        "'zhangjiakou', 2024, 'member', 'x', 'submitted', '1', '{}', 0, 'clerk', "
                        ":at, :at)"
                    ),
                    {"id": claim, "at": first},
                )
            for number, (actor, at) in enumerate(
                [("王芳 (s1)", first), ("李明 (s2)", later)], start=1
            ):  # c1 submitted, returned, submitted again by someone else; c2 never
                connection.execute(
                    sa.text(
                        "INSERT INTO claim_transitions (id, claim_id, from_status, to_status, "
                        "actor, reason, at) VALUES (:id, 'c1', 'draft', 'submitted', :actor, "
                        "'提交', :at)"
                    ),
                    {"id": f"t{number}", "actor": actor, "at": at},
                )
        migrations.upgrade(database_url, "0006")
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, submitted_by FROM claims ORDER BY id"))
            assert [tuple(r) for r in rows] == [("c1", "李明 (s2)"), ("c2", None)]
    finally:
        engine.dispose()
