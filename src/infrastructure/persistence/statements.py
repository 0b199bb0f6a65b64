"""Every statement the SQL repositories run, written once in SQLAlchemy Core.

Each takes its values as named parameters (`bindparam`), passed at execution as a mapping.
SQLite runs them through SQLAlchemy's engine (sqlite.py); MySQL runs the same statements
compiled once to SQL text on its raw driver (mysql.py). Selects list their tables' columns in
tables.py's order, the order repositories.py reads rows in.
"""

import functools
from typing import Any, Final

from sqlalchemy import (
    Delete,
    Insert,
    Select,
    TextClause,
    Update,
    bindparam,
    delete,
    exists,
    insert,
    literal_column,
    select,
    update,
)

from infrastructure.persistence.tables import UtcDateTime, sessions, users

NOW: Final = bindparam("now", type_=UtcDateTime)
"""The time a statement is made at."""
SESSION_IS_ACTIVE: Final = sessions.c.revoked_at.is_(None) & (sessions.c.expires_at > NOW)
"""`Session.is_active`, in SQL: not revoked and not yet expired at NOW."""

SELECT_ONE: Final[Select[Any]] = select(literal_column("1"))

INSERT_USER: Final = insert(users).values(
    name=bindparam("name"),
    email=bindparam("email"),
    password=bindparam("password"),
    created_at=bindparam("created_at"),
)
SELECT_USER: Final = select(users).where(users.c.id == bindparam("user_id"))
SELECT_USER_BY_EMAIL: Final = select(users).where(users.c.email == bindparam("email"))
UPDATE_PASSWORD_HASH: Final = (
    update(users).where(users.c.id == bindparam("user_id")).values(password=bindparam("password"))
)
UPDATE_PASSWORD_HASH_REPLACING: Final = UPDATE_PASSWORD_HASH.where(
    users.c.password == bindparam("replacing")
)
DELETE_USER: Final = delete(users).where(users.c.id == bindparam("user_id"))
LIST_USERS: Final = (
    select(users)
    .where(users.c.id > bindparam("after_id"))
    .order_by(users.c.id)
    .limit(bindparam("limit"))
)


@functools.cache
def update_profile(fields: tuple[str, ...]) -> Update:
    """The UPDATE of just these columns of `users` (KeyError for another name), each from the
    parameter of its name, made only while the user's session `session_id` is active."""
    active_session = exists().where(
        sessions.c.id == bindparam("session_id"),
        sessions.c.user_id == users.c.id,
        SESSION_IS_ACTIVE,
    )
    return (
        update(users)
        .where(users.c.id == bindparam("user_id"), active_session)
        .values({users.c[field]: bindparam(field) for field in fields})
    )


INSERT_SESSION: Final = insert(sessions).values(
    {column: bindparam(column.name) for column in sessions.c}
)
INSERT_SESSION_WHILE_PASSWORD: Final = insert(sessions).from_select(
    list(sessions.c),
    select(
        *(
            users.c.id
            if column is sessions.c.user_id
            else bindparam(column.name, type_=column.type)
            for column in sessions.c
        )
    ).where(users.c.id == bindparam("user_id"), users.c.password == bindparam("verified")),
)
"""The session, only while its user's password hash is still the one verified."""
SELECT_SESSION: Final = select(sessions).where(sessions.c.id == bindparam("session_id"))
SELECT_SESSION_WITH_USER: Final = (
    select(sessions, users)
    .join_from(sessions, users, users.c.id == sessions.c.user_id)
    .where(sessions.c.id == bindparam("session_id"))
)
FIND_ACTIVE_USER: Final = (
    select(users)
    .join_from(sessions, users, users.c.id == sessions.c.user_id)
    .where(
        sessions.c.id == bindparam("session_id"),
        sessions.c.user_id == bindparam("user_id"),
        SESSION_IS_ACTIVE,
    )
)
ROTATE_SESSION: Final = (
    update(sessions)
    .where(
        sessions.c.id == bindparam("session_id"),
        sessions.c.refresh_token_hash == bindparam("expected_hash"),
        sessions.c.revoked_at.is_(None),
    )
    .values(
        refresh_token_hash=bindparam("refresh_token_hash"),
        previous_token_hash=bindparam("previous_token_hash"),
        rotated_at=bindparam("rotated_at"),
        last_used_at=bindparam("last_used_at"),
    )
)
REVOKE_SESSION: Final = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"), sessions.c.revoked_at.is_(None))
    .values(revoked_at=NOW)
)
REVOKE_USERS_SESSIONS: Final = (
    update(sessions)
    # Not "user_id": SQLAlchemy keeps the names of the table's columns for its SET clause.
    .where(sessions.c.user_id == bindparam("owner_id"), SESSION_IS_ACTIVE)
    .values(revoked_at=NOW)
)
REVOKE_USERS_OTHER_SESSIONS: Final = REVOKE_USERS_SESSIONS.where(sessions.c.id != bindparam("keep"))
LIST_ACTIVE_SESSIONS: Final = (
    select(sessions)
    .where(sessions.c.user_id == bindparam("user_id"), SESSION_IS_ACTIVE)
    .order_by(sessions.c.last_used_at.desc(), sessions.c.id)
)
PURGE_SESSIONS: Final = delete(sessions).where(~SESSION_IS_ACTIVE)

Statement = Select[Any] | Insert | Update | Delete | TextClause
"""What the repositories run; plain SQL text serves tools and tests."""

STATEMENTS: Final[tuple[Statement, ...]] = (
    SELECT_ONE,
    INSERT_USER,
    SELECT_USER,
    SELECT_USER_BY_EMAIL,
    UPDATE_PASSWORD_HASH,
    UPDATE_PASSWORD_HASH_REPLACING,
    DELETE_USER,
    LIST_USERS,
    INSERT_SESSION,
    INSERT_SESSION_WHILE_PASSWORD,
    SELECT_SESSION,
    SELECT_SESSION_WITH_USER,
    FIND_ACTIVE_USER,
    ROTATE_SESSION,
    REVOKE_SESSION,
    REVOKE_USERS_SESSIONS,
    REVOKE_USERS_OTHER_SESSIONS,
    LIST_ACTIVE_SESSIONS,
    PURGE_SESSIONS,
)
"""All of the fixed statements, for an engine that prepares them at start-up."""
