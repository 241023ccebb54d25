"""An index on members.phone: the help desk finds a member by the number they call from
(enrollment.members_by_phone), which scanned every member.

Revision 0005, after 0004.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_members_phone", "members", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_members_phone", table_name="members")
