"""rounds and synthesis: every deliberation round of an ask, and its synthesis

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ask_rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ask_id", sa.String(length=32), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=60), nullable=True),
        sa.Column("consensus", sa.JSON(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("why", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ask_id"], ["asks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ask_id", "round", name="uq_ask_rounds_ask_round"),
    )
    op.create_index("ix_ask_rounds_ask_id", "ask_rounds", ["ask_id"])
    with op.batch_alter_table("asks") as batch:
        batch.add_column(sa.Column("synthesis", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("asks") as batch:
        batch.drop_column("synthesis")
    op.drop_index("ix_ask_rounds_ask_id", table_name="ask_rounds")
    op.drop_table("ask_rounds")
