"""Rows of tables.py's tables as entities and back, for both SQL adapters.

A row is a sequence of its table's columns in the order tables.py declares them (what
`select(users)` gives, and what mysql.py's column lists are built from), with datetimes in
aware UTC.
"""

from collections.abc import Sequence
from typing import Any

from domain.sessions import Session
from domain.users import Email, PasswordHash, User


def user_from_row(row: Sequence[Any]) -> User:
    id_, name, email, password, bio, contact, created_at = row
    return User(
        id=id_,
        name=name,
        email=Email.stored(email),
        password_hash=PasswordHash(password),
        bio=bio,
        contact=contact,
        created_at=created_at,
    )


def session_from_row(row: Sequence[Any]) -> Session:
    (
        id_,
        user_id,
        refresh_token_hash,
        previous_token_hash,
        rotated_at,
        created_at,
        last_used_at,
        expires_at,
        revoked_at,
        user_agent,
        ip,
    ) = row
    return Session(
        id=id_,
        user_id=user_id,
        refresh_token_hash=refresh_token_hash,
        previous_token_hash=previous_token_hash,
        rotated_at=rotated_at,
        created_at=created_at,
        last_used_at=last_used_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
        user_agent=user_agent,
        ip=ip,
    )


def session_row(session: Session) -> tuple[Any, ...]:
    return (
        session.id,
        session.user_id,
        session.refresh_token_hash,
        session.previous_token_hash,
        session.rotated_at,
        session.created_at,
        session.last_used_at,
        session.expires_at,
        session.revoked_at,
        session.user_agent,
        session.ip,
    )
