"""threads: an ask may be a turn of a follow-up thread

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, no batch copy of the table: with SQLite's foreign keys on, dropping
    # the old asks table would cascade to every answer (as in 0004).
    op.add_column("asks", sa.Column("thread_id", sa.String(length=32), nullable=True))
    op.add_column("asks", sa.Column("turn", sa.Integer(), nullable=True))
    op.add_column("asks", sa.Column("thread_trimmed", sa.JSON(), nullable=True))
    op.create_index("ix_asks_thread_id", "asks", ["thread_id"])


def downgrade() -> None:
    op.drop_index("ix_asks_thread_id", table_name="asks")
    op.drop_column("asks", "thread_trimmed")
    op.drop_column("asks", "turn")
    op.drop_column("asks", "thread_id")
