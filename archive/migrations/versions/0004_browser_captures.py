"""Browser captures: a capture job's mode (http, browser or auto), and whether a
follow loads its pages in the browser

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it for columns with a constant default): a batch
    # would rebuild `follows` and drop the AUTOINCREMENT that 0003 gave it.
    op.add_column("jobs", sa.Column("mode", sa.String(20), nullable=False, server_default="http"))
    op.add_column(
        "follows", sa.Column("browser", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("follows") as batch:
        batch.drop_column("browser")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("mode")
