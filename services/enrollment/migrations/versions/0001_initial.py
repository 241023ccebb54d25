"""The enrollment service's first schema: the union tree, units, applications and their
transitions, roster lines and failed uploads, members and enrolments, the outbox and the
processed-event record.

Written out rather than generated at run time, with SQLAlchemy's own types (not the
application's), so it creates the same tables however models.py changes later:
- money is NUMERIC(14, 2) (Decimal, exact to the fen) on both backends;
- dates are DATE; timestamps are TIMESTAMP WITH TIME ZONE on PostgreSQL, and on SQLite a
  DATETIME that `services.messaging.database.UtcDateTime` reads back as UTC;
- JSON is JSON on PostgreSQL and SQLite's JSON; files are BYTEA / BLOB.
Constraints and indexes carry explicit names (services.messaging.database.NAMING_CONVENTION),
so a later revision can drop or alter them by name on SQLite too.

Revision 0001, the first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
MONEY = sa.Numeric(14, 2)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(60), nullable=True),
        sa.Column("parent_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["organisations.id"], name="fk_organisations_parent_id_organisations"
        ),
        sa.UniqueConstraint("city", "name", name="uq_organisations_city_name"),
    )
    op.create_table(
        "units",
        sa.Column("id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("unit_key", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organisation_id", ID, nullable=True),
        sa.Column("district", sa.String(60), nullable=True),
        sa.Column("nature", sa.String(20), nullable=False),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("chair", sa.String(60), nullable=True),
        sa.Column("chair_phone", sa.String(30), nullable=True),
        sa.Column("contact", sa.String(60), nullable=True),
        sa.Column("contact_phone", sa.String(30), nullable=True),
        sa.Column("staff_total", sa.Integer(), nullable=True),
        sa.Column("staff_insured", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_units"),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_units_organisation_id_organisations"
        ),
        sa.UniqueConstraint("city", "unit_key", name="uq_units_city_unit_key"),
    )
    op.create_table(
        "members",
        sa.Column("id", ID, nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.UniqueConstraint("id_number", name="uq_members_id_number"),
    )
    op.create_table(
        "applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("unit_id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("staff_total", sa.Integer(), nullable=True),
        sa.Column("staff_insured", sa.Integer(), nullable=True),
        sa.Column("unit_price", MONEY, nullable=True),
        sa.Column("total_due", MONEY, nullable=True),
        sa.Column("account_number", sa.String(40), nullable=True),
        sa.Column("quote", sa.JSON(), nullable=True),
        sa.Column("returned_reason", sa.Text(), nullable=True),
        sa.Column("carried_from_id", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_applications_unit_id_units"),
        sa.ForeignKeyConstraint(
            ["carried_from_id"],
            ["applications.id"],
            name="fk_applications_carried_from_id_applications",
        ),
        sa.UniqueConstraint("unit_id", "year", name="uq_applications_unit_id_year"),
    )
    op.create_table(
        "application_transitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_application_transitions"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_application_transitions_application_id_applications",
        ),
    )
    op.create_index(
        "ix_application_transitions_application_id", "application_transitions", ["application_id"]
    )
    op.create_table(
        "roster_lines",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("excel_row", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_roster_lines"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_roster_lines_application_id_applications",
        ),
        # once per city-year, whichever unit names them
        sa.UniqueConstraint(
            "city", "year", "id_number", name="uq_roster_lines_city_year_id_number"
        ),
    )
    op.create_index("ix_roster_lines_application_id", "roster_lines", ["application_id"])
    op.create_table(
        "roster_uploads",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_roster_uploads"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_roster_uploads_application_id_applications",
        ),
    )
    op.create_index("ix_roster_uploads_application_id", "roster_uploads", ["application_id"])
    op.create_table(
        "enrolments",
        sa.Column("id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("unit_id", ID, nullable=False),
        sa.Column("cover_start", sa.Date(), nullable=False),
        sa.Column("cover_end", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enrolments"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_enrolments_member_id_members"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_enrolments_application_id_applications",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_enrolments_unit_id_units"),
        # one person at most once per city-year
        sa.UniqueConstraint("member_id", "city", "year", name="uq_enrolments_member_id_city_year"),
    )
    op.create_index("ix_enrolments_application_id", "enrolments", ["application_id"])

    # services/messaging: the events this service records (outbox) and handles (processed)
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    # the relay reads the unpublished rows in order; a partial index stays small
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(120), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_enrolments_application_id", table_name="enrolments")
    op.drop_table("enrolments")
    op.drop_index("ix_roster_uploads_application_id", table_name="roster_uploads")
    op.drop_table("roster_uploads")
    op.drop_index("ix_roster_lines_application_id", table_name="roster_lines")
    op.drop_table("roster_lines")
    op.drop_index("ix_application_transitions_application_id", table_name="application_transitions")
    op.drop_table("application_transitions")
    op.drop_table("applications")
    op.drop_table("members")
    op.drop_table("units")
    op.drop_table("organisations")
