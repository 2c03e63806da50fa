"""Documents record how OCR read them and what submitted files say about themselves

``documents.ocr``: engine, languages, pages read by OCR and their mean
confidence (null for documents that needed no OCR). ``documents.properties``:
EXIF camera and date of a photo, an e-mail's headers, a Word file's properties.
Existing documents need neither; ``vestige ingest --rebuild`` fills them in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite keeps the table as it is (no copy).
    op.add_column("documents", sa.Column("ocr", sa.JSON(), nullable=True))
    op.add_column("documents", sa.Column("properties", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("properties")
        batch_op.drop_column("ocr")
