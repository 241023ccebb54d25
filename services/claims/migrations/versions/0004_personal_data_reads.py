"""The access log of personal data (issue 9, services/access/reads.py): every read that showed
ID, phone or card numbers in full, with who, what, when and why.

Revision 0004, after 0003.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "personal_data_reads",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("entrypoint", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(80), nullable=True),
        sa.Column("why", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_personal_data_reads"),
    )
    op.create_index("ix_personal_data_reads_record_id", "personal_data_reads", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_personal_data_reads_record_id", table_name="personal_data_reads")
    op.drop_table("personal_data_reads")
