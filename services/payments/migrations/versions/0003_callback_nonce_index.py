"""The callback inbox decides replays itself: a good signature's nonce is stored on the inbox row,
unique per provider (a partial index: refused rows and pruned ones carry none), so receiving
a callback is one INSERT … ON CONFLICT DO NOTHING instead of a row, a nonce row, a lookup and
a savepoint (issue 10's load run). The callback_nonces table goes.

Nonces recorded before the upgrade are not carried over: a request signed more than
signatures.TOLERANCE (300 s) ago is refused as stale anyway, so only a replay inside the
minutes of the upgrade itself could pass it, and its event key still stops it being applied
twice.

Revision 0003, after 0002.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_NULL = "nonce IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.add_column(sa.Column("nonce", sa.String(length=100), nullable=True))
    op.create_index(
        "ix_callbacks_provider_nonce",
        "callbacks",
        ["provider", "nonce"],
        unique=True,
        postgresql_where=sa.text(NOT_NULL),
        sqlite_where=sa.text(NOT_NULL),
    )
    op.drop_table("callback_nonces")


def downgrade() -> None:
    op.create_table(
        "callback_nonces",
        sa.Column("provider", sa.String(length=60), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "nonce", name="pk_callback_nonces"),
    )
    op.drop_index("ix_callbacks_provider_nonce", table_name="callbacks")
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("nonce")
