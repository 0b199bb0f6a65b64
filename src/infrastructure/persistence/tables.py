"""The schema the SQL adapters read and write, as SQLAlchemy Core tables.

It is the head of the Alembic migrations, kept identical to them by a test. `users` keeps the
original service's columns (plus `email_verified`), so a database it created can be adopted.
Every table uses
utf8mb4 (a 4-byte emoji fits) with a binary collation: emails are normalized by the domain,
and comparing them byte for byte makes MySQL agree with SQLite and the in-memory store
(a case- or accent-insensitive collation would make "josé@x.io" and "jose@x.io" one address).
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine

from domain.sessions import AMR_MAX_LENGTH, AMR_PASSWORD, IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH
from domain.users import EMAIL_MAX_LENGTH

MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def to_database_time(value: datetime) -> datetime:
    """Aware UTC in Python becomes naive UTC in the database, which keeps no offset. A naive
    datetime is refused rather than guessed at."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: the database layer expects aware UTC datetimes")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_database_time(value: datetime) -> datetime:
    """The database's naive UTC as the aware UTC the domain uses."""
    return value.replace(tzinfo=UTC)


class _AwareUtc(TypeDecorator[datetime]):
    """`to_database_time` and `from_database_time` for every value of the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_database_time(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_database_time(value)


class UtcDateTime(_AwareUtc):
    """DATETIME(6) on MySQL, so microseconds survive there as they do on SQLite."""

    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return mysql.DATETIME(fsp=6)
        return DateTime()


class UtcTimestamp(_AwareUtc):
    """The original `created_at TIMESTAMP`: whole seconds on MySQL, read and written in the
    connection's time zone, which every MySQL connection of ours sets to UTC."""

    impl = TIMESTAMP
    cache_ok = True


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100)),
    Column("email", String(100), unique=True),
    Column("password", String(255)),
    Column("bio", Text),
    Column("contact", String(20)),
    Column("created_at", UtcTimestamp, server_default=func.current_timestamp()),
    # Adopted users start unverified, as new ones do.
    Column("email_verified", Boolean, nullable=False, server_default=false()),
    Column("mfa_enabled", Boolean, nullable=False, server_default=false()),
    # AUTOINCREMENT stops SQLite from handing a deleted user's id to the next one, as MySQL does.
    sqlite_autoincrement=True,
    **MYSQL_TABLE_OPTIONS,
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", name="fk_sessions_user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("refresh_token_hash", CHAR(64), nullable=False),
    Column("previous_token_hash", CHAR(64)),
    Column("rotated_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("user_agent", String(USER_AGENT_MAX_LENGTH)),
    Column("ip", String(IP_MAX_LENGTH)),
    Column("amr", String(AMR_MAX_LENGTH), nullable=False, server_default=text(f"'{AMR_PASSWORD}'")),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_expires_at", "expires_at"),
    **MYSQL_TABLE_OPTIONS,
)

email_tokens = Table(
    "email_tokens",
    metadata,
    Column("digest", CHAR(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", name="fk_email_tokens_user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("email", String(EMAIL_MAX_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # Also the index of the foreign key on MySQL, which needs one starting with user_id.
    Index("ix_email_tokens_user_id_purpose", "user_id", "purpose"),
    **MYSQL_TABLE_OPTIONS,
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recipient", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text),
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claim", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_outbox_due_at", "due_at"),
    # Ids only grow on SQLite too, so "oldest first" is "lowest id first" on every database.
    sqlite_autoincrement=True,
    **MYSQL_TABLE_OPTIONS,
)

SEALED_SECRET_LENGTH = 255
"""A sealed TOTP secret takes about 100 characters (secret_box.py); room for another format."""

totp_factors = Table(
    "totp_factors",
    metadata,
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", name="fk_totp_factors_user_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("secret", String(SEALED_SECRET_LENGTH)),
    Column("pending_secret", String(SEALED_SECRET_LENGTH)),
    Column("enabled_at", UtcDateTime),
    Column("last_step", BigInteger),
    **MYSQL_TABLE_OPTIONS,
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", name="fk_recovery_codes_user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("digest", CHAR(64), nullable=False),
    PrimaryKeyConstraint("user_id", "digest", name="pk_recovery_codes"),
    **MYSQL_TABLE_OPTIONS,
)

mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", name="fk_mfa_challenges_user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("password_digest", CHAR(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_mfa_challenges_user_id", "user_id"),
    Index("ix_mfa_challenges_expires_at", "expires_at"),
    **MYSQL_TABLE_OPTIONS,
)
