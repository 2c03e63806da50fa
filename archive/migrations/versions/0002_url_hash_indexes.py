"""URL indexes that take any URL length on PostgreSQL

URLs run to 4096 characters, past PostgreSQL's btree entry limit (2704
bytes): there the URL and SURT lookups get hash indexes, which serve the
equality lookups the catalog makes. On SQLite the URL indexes stay as they
are; on both, the SURT index loses its timestamp column (versions of one URL
are few, and sorted after the lookup).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:15:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

URL_INDEXES = (
    ("records", "ix_records_url"),
    ("documents", "ix_documents_url"),
    ("page_changes", "ix_page_changes_url"),
)


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.drop_index("ix_records_surt_timestamp", table_name="records")
    op.create_index("ix_records_surt", "records", ["surt"], postgresql_using="hash")
    if _postgresql():
        for table, name in URL_INDEXES:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, ["url"], postgresql_using="hash")


def downgrade() -> None:
    if _postgresql():
        for table, name in URL_INDEXES:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, ["url"])
    op.drop_index("ix_records_surt", table_name="records")
    op.create_index("ix_records_surt_timestamp", "records", ["surt", "timestamp"])
