"""The claims service's first schema: claims with their transitions, attachments and reviews,
the ledger, the per member-year accumulators, hospital settlement batches and records, the
outbox and the processed-event record.

Written out rather than generated at run time, with SQLAlchemy's own types (not the
application's), so it creates the same tables however models.py changes later:
- money is NUMERIC(14, 2) (Decimal, exact to the fen) on both backends, signed in the ledger;
- dates are DATE; timestamps are TIMESTAMP WITH TIME ZONE on PostgreSQL, and on SQLite a
  DATETIME that `services.messaging.database.UtcDateTime` reads back as UTC;
- JSON (facts, assessments) is JSON on PostgreSQL and SQLite's JSON; files are BYTEA / BLOB.
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


def _claim_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=f"fk_{table}_claim_id_claims")


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("benefit", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(60), nullable=True),
        sa.Column("member_id", ID, nullable=True),
        sa.Column("unit_id", ID, nullable=True),
        sa.Column("unit_name", sa.String(200), nullable=True),
        sa.Column("application_id", ID, nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("disease", sa.String(60), nullable=True),
        sa.Column("counts_on", sa.Date(), nullable=True),
        sa.Column("payee_card", sa.String(40), nullable=True),
        sa.Column("not_applicable", sa.JSON(), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("review_due", sa.Date(), nullable=True),
        sa.Column("review_batch", sa.String(20), nullable=True),
        sa.Column("assessment", sa.JSON(), nullable=True),
        sa.Column("payable", MONEY, nullable=True),
        sa.Column("counted", MONEY, nullable=True),
        sa.Column("returned_reason", sa.Text(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("pay_due", sa.Date(), nullable=True),
        sa.Column("pay_limit", sa.Date(), nullable=True),
        sa.Column("payout_attempt", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.String(60), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_claims"),
    )
    op.create_index("ix_claims_city_year_status", "claims", ["city", "year", "status"])
    op.create_index("ix_claims_id_number", "claims", ["id_number"])
    op.create_index("ix_claims_unit_id", "claims", ["unit_id"])
    op.create_table(
        "claim_transitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("claim_id", ID, nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_claim_transitions"),
        _claim_fk("claim_transitions"),
    )
    op.create_index("ix_claim_transitions_claim_id", "claim_transitions", ["claim_id"])
    op.create_table(
        "attachments",
        sa.Column("id", ID, nullable=False),
        sa.Column("claim_id", ID, nullable=False),
        sa.Column("document", sa.String(120), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("storage_key", sa.String(300), nullable=True),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        _claim_fk("attachments"),
        # the same file twice on one claim is one attachment
        sa.UniqueConstraint("claim_id", "sha256", name="uq_attachments_claim_id_sha256"),
        # held in the row or in an external store, never nowhere
        sa.CheckConstraint(
            "content IS NOT NULL OR storage_key IS NOT NULL", name="ck_attachments_stored"
        ),
    )
    op.create_index("ix_attachments_claim_id", "attachments", ["claim_id"])
    op.create_table(
        "reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("claim_id", ID, nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch", sa.String(20), nullable=True),
        sa.Column("payable", MONEY, nullable=True),
        sa.Column("assessment", sa.JSON(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        _claim_fk("reviews"),
    )
    op.create_index("ix_reviews_claim_id", "reviews", ["claim_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("claim_id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("unit_id", ID, nullable=True),
        sa.Column("benefit", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("counted", MONEY, nullable=False),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        _claim_fk("ledger_entries"),
    )
    op.create_index("ix_ledger_entries_claim_id", "ledger_entries", ["claim_id"])
    op.create_index("ix_ledger_entries_city_year", "ledger_entries", ["city", "year"])
    op.create_table(
        "accumulators",
        sa.Column("id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accumulators"),
        # one row per member-year: the row approvals lock
        sa.UniqueConstraint(
            "city", "year", "id_number", name="uq_accumulators_city_year_id_number"
        ),
    )
    op.create_table(
        "accumulator_totals",
        sa.Column("accumulator_id", ID, nullable=False),
        sa.Column("benefit", sa.String(60), nullable=False),
        sa.Column("payable", MONEY, nullable=False),
        sa.Column("counted", MONEY, nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("accumulator_id", "benefit", name="pk_accumulator_totals"),
        sa.ForeignKeyConstraint(
            ["accumulator_id"],
            ["accumulators.id"],
            name="fk_accumulator_totals_accumulator_id_accumulators",
        ),
    )
    op.create_table(
        "settlement_batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_batches"),
        sa.UniqueConstraint("city", "sha256", name="uq_settlement_batches_city_sha256"),
    )
    op.create_table(
        "settlement_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("claim_id", ID, nullable=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=False),
        sa.Column("settlement_no", sa.String(60), nullable=False),
        sa.Column("hospital", sa.String(200), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_records"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["settlement_batches.id"],
            name="fk_settlement_records_batch_id_settlement_batches",
        ),
        _claim_fk("settlement_records"),
        sa.UniqueConstraint("claim_id", name="uq_settlement_records_claim_id"),
        # a hospital's settlement is recorded once, whichever batch brings it
        sa.UniqueConstraint(
            "city", "settlement_no", name="uq_settlement_records_city_settlement_no"
        ),
    )
    op.create_index("ix_settlement_records_batch_id", "settlement_records", ["batch_id"])

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
    op.drop_index("ix_settlement_records_batch_id", table_name="settlement_records")
    op.drop_table("settlement_records")
    op.drop_table("settlement_batches")
    op.drop_table("accumulator_totals")
    op.drop_table("accumulators")
    op.drop_index("ix_ledger_entries_city_year", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_claim_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index("ix_reviews_claim_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_attachments_claim_id", table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_claim_transitions_claim_id", table_name="claim_transitions")
    op.drop_table("claim_transitions")
    op.drop_index("ix_claims_unit_id", table_name="claims")
    op.drop_index("ix_claims_id_number", table_name="claims")
    op.drop_index("ix_claims_city_year_status", table_name="claims")
    op.drop_table("claims")
