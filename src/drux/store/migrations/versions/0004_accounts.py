"""accounts: users, web sessions, and who owns an ask (and whether it is shared)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    # Added in place, not by a batch copy of the table: with SQLite's foreign keys on,
    # dropping the old asks table would cascade to every answer.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE asks ADD COLUMN owner_id INTEGER "
                   "REFERENCES users (id) ON DELETE SET NULL")
    else:
        op.add_column("asks", sa.Column("owner_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_asks_owner_id_users", "asks", "users", ["owner_id"], ["id"],
                              ondelete="SET NULL")
    op.add_column("asks", sa.Column("shared", sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.create_index("ix_asks_owner_id", "asks", ["owner_id"])
    # The answers to an article's FAQ are the Hub's content: readable wherever the Hub is.
    op.execute("UPDATE asks SET shared = true WHERE id IN (SELECT ask_id FROM faq_answers)")


def downgrade() -> None:
    op.drop_index("ix_asks_owner_id", table_name="asks")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_asks_owner_id_users", "asks", type_="foreignkey")
    op.drop_column("asks", "shared")
    op.drop_column("asks", "owner_id")
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("users")
