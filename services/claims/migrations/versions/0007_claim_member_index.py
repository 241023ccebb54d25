"""An index on claims.member_id: a member's claims, asked by the help desk
(claims.member_claims), scanned every claim.

Revision 0007, after 0006.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_claims_member_id", "claims", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_claims_member_id", table_name="claims")
