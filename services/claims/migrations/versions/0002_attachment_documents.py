"""One file may serve several documents of a claim: ``attachment_documents`` links an
attachment to each document it serves (one PDF holding 出院小结 and 费用清单), and the single
``attachments.document`` column goes, its value moved into the link.

``attachments.document`` is dropped with a plain ALTER TABLE (SQLite 3.35 and later drop a
column in place): a batch rebuild would drop and re-create ``attachments``, which the new
link's foreign key refers to. The downgrade keeps, of several documents, the first by name.

Revision 0002, after 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment_documents",
        sa.Column("attachment_id", sa.String(36), nullable=False),
        sa.Column("document", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("attachment_id", "document", name="pk_attachment_documents"),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name="fk_attachment_documents_attachment_id_attachments",
        ),
    )
    op.execute(
        "INSERT INTO attachment_documents (attachment_id, document) "
        "SELECT id, document FROM attachments"
    )
    op.drop_column("attachments", "document")


def downgrade() -> None:
    op.add_column("attachments", sa.Column("document", sa.String(120), nullable=True))
    op.execute(
        "UPDATE attachments SET document = COALESCE((SELECT MIN(d.document) "
        "FROM attachment_documents d WHERE d.attachment_id = attachments.id), '其他材料')"
    )
    op.drop_table("attachment_documents")
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("document", existing_type=sa.String(120), nullable=False)
