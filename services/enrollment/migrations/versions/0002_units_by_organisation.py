"""Units found by their organisation: an index on units.organisation_id.

An organisation's units (services/enrollment/organisations.py: the subtree of a district or
town union, a district clerk's scope) are listed by this column; without the index every
listing reads the whole units table.

Revision 0002, after 0001.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_units_organisation_id", "units", ["organisation_id"])


def downgrade() -> None:
    op.drop_index("ix_units_organisation_id", table_name="units")
