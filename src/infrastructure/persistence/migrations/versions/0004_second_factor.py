"""The second factor: TOTP authenticators, recovery codes, and logins waiting for a code.

- `users.mfa_enabled` says whether login asks for a code, on the row login reads anyway, so
  that a login without a second factor makes no further query.
- `totp_factors`: one row per user with a TOTP secret sealed under DATA_ENCRYPTION_KEY (the
  one in use, and one set up but not yet confirmed), and the last time step accepted.
- `recovery_codes`: the SHA-256 of each unused code; a used code is deleted.
- `mfa_challenges`: one row per login whose password was right, waiting for its code; used
  once, deleted then (or by `authsvc sessions purge` once expired).
- `sessions.amr` records how a session was established: `pwd`, or `pwd,otp`.
All of a user's rows go with the user (ON DELETE CASCADE).

Revision ID: 0004_second_factor
Revises: 0003_email
Create Date: 2026-12-03
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004_second_factor"
down_revision = "0003_email"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
"""Naive UTC, to the microsecond on every database."""
TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _user_id(table: str, **keywords: object) -> sa.Column[int]:
    return sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("users.id", name=f"fk_{table}_user_id", ondelete="CASCADE"),
        **keywords,  # type: ignore[arg-type]
    )


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("mfa_enabled", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "sessions",
        sa.Column("amr", sa.String(32), nullable=False, server_default=sa.text("'pwd'")),
    )
    op.create_table(
        "totp_factors",
        _user_id("totp_factors", primary_key=True, autoincrement=False),
        sa.Column("secret", sa.String(255)),
        sa.Column("pending_secret", sa.String(255)),
        sa.Column("enabled_at", MOMENT),
        sa.Column("last_step", sa.BigInteger),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "recovery_codes",
        _user_id("recovery_codes", nullable=False),
        sa.Column("digest", sa.CHAR(64), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "digest", name="pk_recovery_codes"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "mfa_challenges",
        sa.Column("id", sa.String(64), primary_key=True),
        _user_id("mfa_challenges", nullable=False),
        sa.Column("password_digest", sa.CHAR(64), nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_mfa_challenges_user_id", "mfa_challenges", ["user_id"])
    op.create_index("ix_mfa_challenges_expires_at", "mfa_challenges", ["expires_at"])


def downgrade() -> None:
    """Every second factor is lost: users log in with their password alone again."""
    op.drop_table("mfa_challenges")
    op.drop_table("recovery_codes")
    op.drop_table("totp_factors")
    op.drop_column("sessions", "amr")
    op.drop_column("users", "mfa_enabled")
