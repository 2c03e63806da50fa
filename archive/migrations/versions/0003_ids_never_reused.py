"""Follow and watch ids are never reused

SQLite gives a new row the largest rowid plus one, so deleting the newest
follow or watch handed its id to the next one: an old link or log line then
pointed at a different follow. On SQLite both tables are rebuilt with
AUTOINCREMENT (ids only grow); PostgreSQL's sequences never reuse an id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 14:10:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("follows", "watches")


def _rebuild(autoincrement: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
