"""A claim's district (issue 9): the district of the unit enrollment's cover names, so a
district clerk's scope reaches the claims of their district's units.

Claims stored before this revision have no district: a district clerk reaches them once they
are submitted again (cover is asked then) or through the unit's clerk.

Revision 0005, after 0004.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("claims", sa.Column("district", sa.String(60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("district")
