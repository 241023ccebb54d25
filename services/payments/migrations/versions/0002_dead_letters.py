"""Dead letters: events a payments handler could not handle, parked for an operator to list and
replay (services/messaging/dead_letters.py, services/messaging/handlers.py).

Written out with SQLAlchemy's own types, as 0001 is: the id is an integer an operator types
(`mutual-aid events replay 3`), SERIAL on PostgreSQL and SQLite's rowid; the payload and the
message headers are JSON; timestamps are TIMESTAMP WITH TIME ZONE (SQLite: DATETIME, read back
as UTC). The replay loop looks rows up by status.

Revision 0002, after 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(120), nullable=False),
        sa.Column("source_service", sa.String(80), nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", TIMESTAMP, nullable=False),
        sa.Column("last_failed_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("replay_requested_by", sa.String(100), nullable=True),
        sa.Column("replay_requested_at", TIMESTAMP, nullable=True),
        sa.Column("replayed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_status", "dead_letters", ["status"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_status", table_name="dead_letters")
    op.drop_table("dead_letters")
