"""Documents keep the page's ``<title>`` as served, so change tracking sees it edited

``documents.page_title``: the HTML ``<title>`` element's text (null for other
payloads). The document's ``title`` is the extracted headline (``og:title``,
the title without its site suffix, or ``<h1>``), which an edit of ``<title>``
can leave as it was. Existing documents need none (their versions are compared
by headline); ``vestige ingest --rebuild`` fills it in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite keeps the table as it is (no copy).
    op.add_column("documents", sa.Column("page_title", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("page_title")
