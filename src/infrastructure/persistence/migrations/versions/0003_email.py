"""Email: verified addresses, single-use tokens sent by mail, and the outbox of mail to send.

- `users.email_verified`, false for every existing user: nobody has shown yet that they read
  the address they registered (adopted users of the original service included).
- `email_tokens` keeps only the SHA-256 of each token a mail carries (password reset, email
  verification, email change); a user's tokens go with the user (ON DELETE CASCADE).
- `outbox` holds the mail written in the same transaction as the token or change it tells of,
  until a deliverer has sent it or given up on it (then the row is deleted: its body may carry
  a live token).

Revision ID: 0003_email
Revises: 0002_sessions
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_email"
down_revision = "0002_sessions"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
"""Naive UTC, to the microsecond on every database."""


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "email_tokens",
        sa.Column("digest", sa.CHAR(64), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", name="fk_email_tokens_user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_email_tokens_user_id_purpose", "email_tokens", ["user_id", "purpose"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text),
        sa.Column("due_at", MOMENT, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claim", sa.String(64)),
        sa.Column("created_at", MOMENT, nullable=False),
        sqlite_autoincrement=True,
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_outbox_due_at", "outbox", ["due_at"])


def downgrade() -> None:
    """Drops the tokens and the mail not yet sent with them."""
    op.drop_table("outbox")
    op.drop_table("email_tokens")
    op.drop_column("users", "email_verified")
