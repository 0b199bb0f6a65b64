"""Sessions replace the plaintext refresh token column; users becomes utf8mb4 throughout.

- `sessions` holds one row per login with only the SHA-256 of its current refresh token;
  a user's sessions go with the user (ON DELETE CASCADE).
- `users.refreshToken` is dropped: it held live tokens in plaintext and nothing reads it now.
- On MySQL, `users` is converted to InnoDB (foreign keys need it) and utf8mb4 with a binary
  collation: a table created with the server's defaults may be latin1, where a 4-byte emoji
  cannot be stored. Converting a latin1 table widens `bio` from TEXT to MEDIUMTEXT, so that
  every stored character still fits; nothing is lost.
- First of all, emails stored as typed are trimmed and lower-cased, as the service looks them
  up, since they compare byte for byte from now on. If two rows would become one address, the
  upgrade stops before changing anything and lists them (legacy_emails.py).

Revision ID: 0002_sessions
Revises: 0001_original_users
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from infrastructure.persistence.legacy_emails import normalize_legacy_emails

revision = "0002_sessions"
down_revision = "0001_original_users"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
"""Naive UTC, to the microsecond on every database."""


def upgrade() -> None:
    normalize_legacy_emails(op.get_bind())
    if op.get_context().dialect.name in ("mysql", "mariadb"):
        op.execute(
            "ALTER TABLE users ENGINE=InnoDB, CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
    op.drop_column("users", "refreshToken")
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", name="fk_sessions_user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("refresh_token_hash", sa.CHAR(64), nullable=False),
        sa.Column("previous_token_hash", sa.CHAR(64)),
        sa.Column("rotated_at", MOMENT),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("last_used_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.Column("revoked_at", MOMENT),
        sa.Column("user_agent", sa.String(255)),
        sa.Column("ip", sa.String(45)),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])


def downgrade() -> None:
    """Brings the column back empty (the tokens it held are gone) and keeps utf8mb4."""
    op.drop_table("sessions")
    op.add_column("users", sa.Column("refreshToken", sa.String(255)))
