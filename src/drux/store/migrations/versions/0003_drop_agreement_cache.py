"""drop agreement_cache (nothing ever read or wrote it: pair judgments are cached in memory)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("agreement_cache")


def downgrade() -> None:
    op.create_table(
        "agreement_cache",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("backend", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
