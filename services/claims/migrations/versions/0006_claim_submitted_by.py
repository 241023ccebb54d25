"""Who last submitted a claim, on the claim row (four eyes, issue 9): an approval reads it
from the row it already locks instead of asking the history (issue 14: statements per
approval). Filled for claims submitted before this revision from their history.

Revision 0006, after 0005.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("claims", sa.Column("submitted_by", sa.String(100), nullable=True))
    op.execute(
        """
        UPDATE claims SET submitted_by = (
            SELECT t.actor FROM claim_transitions t
            WHERE t.claim_id = claims.id AND t.to_status = 'submitted'
            ORDER BY t.at DESC LIMIT 1
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("submitted_by")
