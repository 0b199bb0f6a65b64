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
    func,
    insert,
    literal_column,
    null,
    select,
    true,
    update,
)

from infrastructure.persistence.tables import (
    UtcDateTime,
    email_tokens,
    mfa_challenges,
    outbox,
    recovery_codes,
    sessions,
    totp_factors,
    users,
)

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
MARK_EMAIL_VERIFIED: Final = (
    update(users)
    # Not "email": SQLAlchemy keeps the names of the table's columns for its SET clause.
    .where(users.c.id == bindparam("user_id"), users.c.email == bindparam("verified_email"))
    .values(email_verified=true())
)
"""Only while the address is still the one the token was sent to."""
CHANGE_EMAIL: Final = (
    update(users)
    .where(users.c.id == bindparam("user_id"))
    .values(email=bindparam("email"), email_verified=true())
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
        sessions.c.user_id == bindparam("owner_id"),
        sessions.c.refresh_token_hash == bindparam("expected_hash"),
        SESSION_IS_ACTIVE,
    )
    .values(
        refresh_token_hash=bindparam("new_hash"),
        # Not the column: MySQL's SET sees the values assigned before it in the same SET.
        previous_token_hash=bindparam("expected_hash"),
        rotated_at=NOW,
        last_used_at=NOW,
    )
)
"""The compare-and-swap of a refresh, whole: a primary-key lookup whose WHERE checks the owner,
the current token's hash and that the session is active, so nothing is read before it."""
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

LOCK_USER: Final = update(users).where(users.c.id == bindparam("user_id")).values(id=users.c.id)
"""Changes nothing, but locks the user's row until the transaction ends, so that transactions
writing one user's tokens take turns: a write, as SQLite takes its lock (and starts the
transaction) only at the first write, and MySQL locks the row as SELECT ... FOR UPDATE would.
It matches one row while the user exists."""
INSERT_EMAIL_TOKEN: Final = insert(email_tokens).values(
    {column: bindparam(column.name) for column in email_tokens.c}
)
SELECT_USERS_EMAIL_TOKEN_DIGESTS: Final = select(email_tokens.c.digest).where(
    email_tokens.c.user_id == bindparam("user_id"),
    email_tokens.c.purpose == bindparam("purpose"),
)
"""The tokens a newer one of their purpose supersedes. Read without a lock and deleted by
digest (DELETE_EMAIL_TOKEN): on MySQL a DELETE by user and purpose would lock the index gap
where a new user's tokens go, and two registrations at once then deadlock on their INSERTs."""
DELETE_EMAIL_TOKEN: Final = delete(email_tokens).where(email_tokens.c.digest == bindparam("digest"))
_EMAIL_TOKEN_IS_USABLE: Final = (
    (email_tokens.c.digest == bindparam("digest"))
    & (email_tokens.c.purpose == bindparam("purpose"))
    & (email_tokens.c.expires_at > NOW)
)
SELECT_EMAIL_TOKEN: Final = select(email_tokens).where(_EMAIL_TOKEN_IS_USABLE)
CONSUME_EMAIL_TOKEN: Final = delete(email_tokens).where(_EMAIL_TOKEN_IS_USABLE)
"""Uses the token up: of concurrent deletes of one row, one matches it, the others nothing."""

INSERT_MESSAGE: Final = insert(outbox).values(
    recipient=bindparam("recipient"),
    subject=bindparam("subject"),
    text_body=bindparam("text_body"),
    html_body=bindparam("html_body"),
    due_at=bindparam("due_at"),
    attempts=literal_column("0"),
    created_at=bindparam("created_at"),
)
_DUE_MESSAGE_IDS: Final = (
    select(outbox.c.id)
    .where(outbox.c.due_at <= NOW)
    .order_by(outbox.c.id)
    .limit(bindparam("limit"))
)
SELECT_DUE_MESSAGES_LOCKED: Final = (
    select(outbox)
    .where(outbox.c.due_at <= NOW)
    .order_by(outbox.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
"""MySQL's claim, first step: due messages no other transaction holds, locked until COMMIT."""
_CLAIM: Final = {"claim": bindparam("new_claim"), "due_at": bindparam("until", type_=UtcDateTime)}
CLAIM_MESSAGE: Final = (
    update(outbox)
    .where(outbox.c.id == bindparam("message_id"), outbox.c.due_at <= NOW)
    .values(_CLAIM)
)
"""MySQL's claim, second step, for each message locked by the first; still due, as a guard."""
CLAIM_DUE_MESSAGES: Final = (
    update(outbox)
    .where(outbox.c.id.in_(_DUE_MESSAGE_IDS.scalar_subquery()), outbox.c.due_at <= NOW)
    .values(_CLAIM)
)
"""SQLite's claim: one statement, which writers run one at a time."""
SELECT_CLAIMED_MESSAGES: Final = (
    select(outbox).where(outbox.c.claim == bindparam("new_claim")).order_by(outbox.c.id)
)
_HELD: Final = (outbox.c.id == bindparam("message_id")) & (
    outbox.c.claim == bindparam("held_claim")
)
"""Only the holder of the claim settles a message, and only while the claim is still its own."""
DELETE_HELD_MESSAGE: Final = delete(outbox).where(_HELD)
RELEASE_HELD_MESSAGE: Final = (
    update(outbox)
    .where(_HELD)
    .values(
        due_at=bindparam("due", type_=UtcDateTime),
        attempts=outbox.c.attempts + literal_column("1"),
        claim=null(),
    )
)

SELECT_TOTP_FACTOR: Final = select(totp_factors).where(
    totp_factors.c.user_id == bindparam("user_id")
)
INSERT_TOTP_FACTOR: Final = insert(totp_factors).values(
    user_id=bindparam("user_id"), pending_secret=bindparam("pending_secret")
)
# Not "user_id" in the UPDATEs of totp_factors: SQLAlchemy keeps the names of the table's
# columns for its SET clause.
SET_PENDING_SECRET: Final = (
    update(totp_factors)
    .where(totp_factors.c.user_id == bindparam("owner_id"), totp_factors.c.enabled_at.is_(None))
    .values(pending_secret=bindparam("pending_secret"))
)
ENABLE_TOTP_FACTOR: Final = (
    update(totp_factors)
    .where(
        totp_factors.c.user_id == bindparam("owner_id"),
        totp_factors.c.pending_secret == bindparam("expected_pending"),
        totp_factors.c.enabled_at.is_(None),
    )
    .values(
        secret=bindparam("secret"),
        pending_secret=null(),
        enabled_at=NOW,
        last_step=bindparam("step"),
    )
)
ACCEPT_TOTP_STEP: Final = (
    update(totp_factors)
    .where(
        totp_factors.c.user_id == bindparam("owner_id"),
        totp_factors.c.enabled_at.is_not(None),
        totp_factors.c.last_step.is_(None) | (totp_factors.c.last_step < bindparam("step")),
    )
    .values(last_step=bindparam("step"))
)
"""The replay guard: a step is accepted only if it is later than the last one."""
REPLACE_TOTP_SECRET: Final = (
    update(totp_factors)
    .where(
        totp_factors.c.user_id == bindparam("owner_id"),
        totp_factors.c.secret == bindparam("old_secret"),
    )
    .values(secret=bindparam("new_secret"))
)
DELETE_TOTP_FACTOR: Final = delete(totp_factors).where(
    totp_factors.c.user_id == bindparam("user_id")
)
# Not "mfa_enabled": SQLAlchemy keeps the names of the table's columns for its SET clause.
SET_MFA_ENABLED: Final = (
    update(users)
    .where(users.c.id == bindparam("user_id"), users.c.mfa_enabled != bindparam("enabled"))
    .values(mfa_enabled=bindparam("enabled"))
)
INSERT_RECOVERY_CODE: Final = insert(recovery_codes).values(
    user_id=bindparam("user_id"), digest=bindparam("digest")
)
USE_RECOVERY_CODE: Final = delete(recovery_codes).where(
    recovery_codes.c.user_id == bindparam("user_id"),
    recovery_codes.c.digest == bindparam("digest"),
)
DELETE_RECOVERY_CODES: Final = delete(recovery_codes).where(
    recovery_codes.c.user_id == bindparam("user_id")
)
COUNT_RECOVERY_CODES: Final = (
    select(func.count())
    .select_from(recovery_codes)
    .where(recovery_codes.c.user_id == bindparam("user_id"))
)
INSERT_MFA_CHALLENGE: Final = insert(mfa_challenges).values(
    {column: bindparam(column.name) for column in mfa_challenges.c}
)
CONSUME_MFA_CHALLENGE: Final = delete(mfa_challenges).where(
    mfa_challenges.c.id == bindparam("challenge_id"),
    mfa_challenges.c.user_id == bindparam("user_id"),
    mfa_challenges.c.password_digest == bindparam("password_digest"),
    mfa_challenges.c.expires_at > NOW,
)
"""Single use: of concurrent deletes of one row, exactly one matches it."""
PURGE_MFA_CHALLENGES: Final = delete(mfa_challenges).where(mfa_challenges.c.expires_at <= NOW)

Statement = Select[Any] | Insert | Update | Delete | TextClause
"""What the repositories run; plain SQL text serves tools and tests."""

STATEMENTS: Final[tuple[Statement, ...]] = (
    SELECT_ONE,
    INSERT_USER,
    SELECT_USER,
    SELECT_USER_BY_EMAIL,
    UPDATE_PASSWORD_HASH,
    UPDATE_PASSWORD_HASH_REPLACING,
    MARK_EMAIL_VERIFIED,
    CHANGE_EMAIL,
    DELETE_USER,
    LIST_USERS,
    INSERT_SESSION,
    INSERT_SESSION_WHILE_PASSWORD,
    SELECT_SESSION,
    FIND_ACTIVE_USER,
    ROTATE_SESSION,
    REVOKE_SESSION,
    REVOKE_USERS_SESSIONS,
    REVOKE_USERS_OTHER_SESSIONS,
    LIST_ACTIVE_SESSIONS,
    PURGE_SESSIONS,
    LOCK_USER,
    INSERT_EMAIL_TOKEN,
    SELECT_USERS_EMAIL_TOKEN_DIGESTS,
    DELETE_EMAIL_TOKEN,
    SELECT_EMAIL_TOKEN,
    CONSUME_EMAIL_TOKEN,
    INSERT_MESSAGE,
    SELECT_DUE_MESSAGES_LOCKED,
    CLAIM_MESSAGE,
    DELETE_HELD_MESSAGE,
    RELEASE_HELD_MESSAGE,
    SELECT_TOTP_FACTOR,
    INSERT_TOTP_FACTOR,
    SET_PENDING_SECRET,
    ENABLE_TOTP_FACTOR,
    ACCEPT_TOTP_STEP,
    REPLACE_TOTP_SECRET,
    DELETE_TOTP_FACTOR,
    SET_MFA_ENABLED,
    INSERT_RECOVERY_CODE,
    USE_RECOVERY_CODE,
    DELETE_RECOVERY_CODES,
    COUNT_RECOVERY_CODES,
    INSERT_MFA_CHALLENGE,
    CONSUME_MFA_CHALLENGE,
    PURGE_MFA_CHALLENGES,
)
"""All of the fixed statements MySQL runs, for it to prepare at start-up (SQLite's claim,
CLAIM_DUE_MESSAGES and SELECT_CLAIMED_MESSAGES, is not one of them)."""
