"""The original service's users table, as its README creates it.

A database that service created is adopted by stamping it at this revision
(`authsvc db adopt`) and upgrading from here.

Revision ID: 0001_original_users
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_original_users"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100)),
        sa.Column("email", sa.String(100), unique=True),
        sa.Column("password", sa.String(255)),
        sa.Column("bio", sa.Text),
        sa.Column("contact", sa.String(20)),
        sa.Column("refreshToken", sa.String(255)),
        sa.Column("created_at", sa.TIMESTAMP, server_default=sa.func.current_timestamp()),
        mysql_charset="utf8mb4",
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("users")
