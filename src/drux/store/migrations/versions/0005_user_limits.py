"""user limits: asks per minute and a daily budget (USD) per web account

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns added in place (no batch copy of the table: see 0004).
    op.add_column("users", sa.Column("asks_per_minute", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("daily_budget_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+ drops columns itself): a batch copy of users would cascade.
    op.drop_column("users", "daily_budget_usd")
    op.drop_column("users", "asks_per_minute")
