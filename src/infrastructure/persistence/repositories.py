"""The repositories on SQL, for both engines: statements.py's statements in, entities out.

`SqlUnitOfWork` holds what both engines share; each engine's subclass adds how it connects,
runs a statement and tells a refused write or a lost race: sqlite.py through SQLAlchemy's
engine, mysql.py on the raw driver. Rows come back as sequences of their tables' columns in
tables.py's order, with datetimes in aware UTC.
"""

import contextlib
import enum
import logging
import secrets
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final, Generic, Protocol, Self, TypeVar

from application.ports import (
    EmailMessage,
    EmailTokenRepository,
    MfaChallengeRepository,
    Outbox,
    QueuedMessage,
    SecondFactorRepository,
    SessionRepository,
    UnitOfWork,
    UserRepository,
)
from domain.email_tokens import EmailToken, EmailTokenPurpose
from domain.errors import DomainError, EmailAlreadyRegistered, StorageUnavailable, UserNotFound
from domain.second_factor import MfaChallenge, TotpFactor
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, ProfileChanges, User
from infrastructure.persistence import statements
from infrastructure.persistence.statements import Statement
from infrastructure.persistence.tables import sessions

Row = Sequence[Any]
Parameters = Mapping[str, object]
T = TypeVar("T")
ConnectionT = TypeVar("ConnectionT")


class Refusal(enum.Enum):
    """A write the database refused for a reason a repository can name to its caller."""

    DUPLICATE_KEY = enum.auto()
    MISSING_REFERENCED_ROW = enum.auto()


class Written(Protocol):
    """What a write tells: the rows it matched, and the id it gave a new row."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> Any: ...


class Conflict(enum.Enum):
    """What a write that lost to a concurrent one means: for most writes, that it is to be
    made again; for a compare-and-swap, that it lost."""

    RETRY = enum.auto()
    LOST = enum.auto()


class Refused(Exception):
    """Raised by an engine: the database refused a write for a reason repositories can name."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.name)
        self.refusal = refusal


class LostRace(Exception):
    """Raised by an engine: a statement or commit lost to a concurrent one (a deadlock, a
    cluster's certification failure, a lock wait timeout), and the database rolled back its
    transaction whole."""


@dataclass(frozen=True, slots=True)
class _NothingWritten:
    """What a compare-and-swap that lost its race tells: it matched no row."""

    rowcount: int = 0
    lastrowid: None = None


CONFLICT_ATTEMPTS: Final = 3
"""How many times a statement that loses to concurrent ones is made, in all. The winner of a
race has committed by the time the loser hears of it, so a second attempt almost always
succeeds; a third covers a burst of writes to one row."""

logger = logging.getLogger("authsvc.storage")


class SqlUnitOfWork(UnitOfWork, Generic[ConnectionT]):
    """The repositories on one connection, for the span of a `with`; an engine's subclass
    connects and runs the statements.

    Database errors never leave a unit of work as driver or SQLAlchemy exceptions: an outage
    becomes StorageUnavailable, a refusal named in `refusals` its domain error, and anything
    else (a bug, not an outage) a RuntimeError chained to its cause.

    Lost races are not outages. A statement outside `transaction()` that loses to concurrent
    ones was its own transaction, rolled back whole, so it is made again, up to
    CONFLICT_ATTEMPTS times; a compare-and-swap has simply lost (it matched no row). Inside a
    transaction, or once the attempts are spent, it is StorageUnavailable. Each is logged as
    a conflict, not as an outage."""

    users: "SqlUserRepository"
    sessions: "SqlSessionRepository"
    email_tokens: "SqlEmailTokenRepository"
    outbox: "SqlOutbox"
    second_factor: "SqlSecondFactorRepository"
    mfa_challenges: "SqlMfaChallengeRepository"

    def __init__(self) -> None:
        self.users = SqlUserRepository(self)
        self.sessions = SqlSessionRepository(self)
        self.email_tokens = SqlEmailTokenRepository(self)
        self.outbox = SqlOutbox(self)
        self.second_factor = SqlSecondFactorRepository(self)
        self.mfa_challenges = SqlMfaChallengeRepository(self)
        self._connection: ConnectionT | None = None
        self._in_transaction = False

    async def __aenter__(self) -> Self:
        self._connection = await self._connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._release(connection)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        connection = self._current_connection()
        await self._begin(connection)
        self._in_transaction = True
        try:
            yield
        except BaseException:
            await self._roll_back(connection)
            raise
        else:
            try:
                await self._commit(connection)
            except LostRace as lost:
                logger.warning("transaction lost to concurrent writes (%s)", lost)
                raise StorageUnavailable from lost
        finally:
            self._in_transaction = False

    # Each method makes its first attempt itself: one coroutine less per statement than
    # going through `_again` (a few us of CPU per unit of work on MySQL).

    async def fetch_one(self, statement: Statement, parameters: Parameters) -> Row | None:
        try:
            return await self._fetch_one(statement, parameters)
        except LostRace as lost:
            return await self._again(lambda: self._fetch_one(statement, parameters), lost)

    async def fetch_all(self, statement: Statement, parameters: Parameters) -> Sequence[Row]:
        try:
            return await self._fetch_all(statement, parameters)
        except LostRace as lost:
            return await self._again(lambda: self._fetch_all(statement, parameters), lost)

    async def write(
        self,
        statement: Statement,
        parameters: Parameters,
        *,
        refusals: Mapping[Refusal, type[DomainError]] | None = None,
        conflict: Conflict = Conflict.RETRY,
    ) -> Written:
        """Runs a write, committed at once outside `transaction()`. `refusals` names the domain
        error each refusal means; `conflict` what losing to a concurrent write means."""
        try:
            try:
                return await self._write(statement, parameters)
            except LostRace as lost:
                if conflict is Conflict.LOST and not self._in_transaction:
                    logger.info("compare-and-swap lost its race (%s)", lost)
                    return _NothingWritten()
                return await self._again(lambda: self._write(statement, parameters), lost)
        except Refused as refused:
            error = None if refusals is None else refusals.get(refused.refusal)
            if error is None:
                raise RuntimeError(f"database error ({refused})") from refused
            raise error from None

    async def _again(self, run: Callable[[], Awaitable[T]], lost: LostRace) -> T:
        """Makes a statement that lost its first attempt again, while that can help."""
        attempt = 1
        while True:
            if self._in_transaction:
                logger.warning("transaction lost to concurrent writes (%s)", lost)
                raise StorageUnavailable from lost
            if attempt == CONFLICT_ATTEMPTS:
                logger.warning("statement lost to concurrent writes %d times (%s)", attempt, lost)
                raise StorageUnavailable from lost
            logger.info("statement lost to a concurrent write (%s), made again", lost)
            attempt += 1
            try:
                return await run()
            except LostRace as lost_again:
                lost = lost_again

    def _current_connection(self) -> ConnectionT:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._connection

    @abstractmethod
    async def claim_due_messages(self, parameters: Parameters) -> Sequence[Row]:
        """The outbox's claim, which each engine makes its own way: up to `limit` messages due
        at `now`, lowest id first, each given the claim `new_claim` and the due time `until`,
        which no concurrent claim (in this process or another) may also get. The rows as read
        when claimed; committed at once outside `transaction()`."""

    @abstractmethod
    async def _connect(self) -> ConnectionT: ...

    @abstractmethod
    async def _release(self, connection: ConnectionT) -> None: ...

    @abstractmethod
    async def _begin(self, connection: ConnectionT) -> None: ...

    @abstractmethod
    async def _commit(self, connection: ConnectionT) -> None:
        """Raises LostRace if the transaction lost to a concurrent one."""

    @abstractmethod
    async def _roll_back(self, connection: ConnectionT) -> None:
        """Never raises: the error that led here is the one to report."""

    @abstractmethod
    async def _fetch_one(self, statement: Statement, parameters: Parameters) -> Row | None: ...

    @abstractmethod
    async def _fetch_all(self, statement: Statement, parameters: Parameters) -> Sequence[Row]: ...

    @abstractmethod
    async def _write(self, statement: Statement, parameters: Parameters) -> Written:
        """Committed at once outside a transaction. Raises Refused or LostRace."""


EMAIL_TAKEN = {Refusal.DUPLICATE_KEY: EmailAlreadyRegistered}
USER_GONE = {Refusal.MISSING_REFERENCED_ROW: UserNotFound}


class SqlUserRepository(UserRepository):
    def __init__(self, unit: "SqlUnitOfWork[Any]") -> None:
        self._unit = unit

    async def add(self, user: NewUser) -> User:
        # The original `created_at TIMESTAMP` keeps whole seconds: the user returned is the
        # user as stored.
        created_at = user.created_at.replace(microsecond=0)
        written = await self._unit.write(
            statements.INSERT_USER,
            {
                "name": user.name,
                "email": user.email.value,
                "password": user.password_hash.value,
                "created_at": created_at,
            },
            refusals=EMAIL_TAKEN,
        )
        return User(
            id=written.lastrowid,
            name=user.name,
            email=user.email,
            password_hash=user.password_hash,
            created_at=created_at,
        )

    async def get(self, user_id: int) -> User | None:
        row = await self._unit.fetch_one(statements.SELECT_USER, {"user_id": user_id})
        return user_from_row(row) if row else None

    async def get_by_email(self, email: Email) -> User | None:
        row = await self._unit.fetch_one(statements.SELECT_USER_BY_EMAIL, {"email": email.value})
        return user_from_row(row) if row else None

    async def update_profile(
        self, user_id: int, changes: ProfileChanges, *, session_id: str, now: datetime
    ) -> User | None:
        """One UPDATE of the changed columns only, so a concurrent edit of another survives.
        It matches no row unless the session is active."""
        changed = changes.as_dict()
        written = await self._unit.write(
            statements.update_profile(tuple(changed)),
            {**changed, "user_id": user_id, "session_id": session_id, "now": now},
        )
        return await self.get(user_id) if written.rowcount == 1 else None

    async def set_password_hash(
        self, user_id: int, password_hash: PasswordHash, *, replacing: PasswordHash | None = None
    ) -> bool:
        parameters = {"password": password_hash.value, "user_id": user_id}
        if replacing is None:
            written = await self._unit.write(statements.UPDATE_PASSWORD_HASH, parameters)
        else:
            written = await self._unit.write(
                statements.UPDATE_PASSWORD_HASH_REPLACING,
                {**parameters, "replacing": replacing.value},
            )
        return written.rowcount == 1

    async def mark_email_verified(self, user_id: int, email: Email) -> User | None:
        written = await self._unit.write(
            statements.MARK_EMAIL_VERIFIED, {"user_id": user_id, "verified_email": email.value}
        )
        return await self.get(user_id) if written.rowcount == 1 else None

    async def change_email(self, user_id: int, new_email: Email) -> User | None:
        written = await self._unit.write(
            statements.CHANGE_EMAIL,
            {"user_id": user_id, "email": new_email.value},
            refusals=EMAIL_TAKEN,
        )
        return await self.get(user_id) if written.rowcount == 1 else None

    async def delete(self, user_id: int) -> bool:
        """The user's sessions and email tokens go with the row, by ON DELETE CASCADE."""
        written = await self._unit.write(statements.DELETE_USER, {"user_id": user_id})
        return written.rowcount == 1

    async def list(self, after_id: int, limit: int) -> list[User]:
        """Keyset pagination on the primary key: any page costs as little as the first."""
        rows = await self._unit.fetch_all(
            statements.LIST_USERS, {"after_id": after_id, "limit": limit}
        )
        return [user_from_row(row) for row in rows]


class SqlSessionRepository(SessionRepository):
    def __init__(self, unit: "SqlUnitOfWork[Any]") -> None:
        self._unit = unit

    async def add(self, session: Session, *, password_hash: PasswordHash | None = None) -> bool:
        """Raises UserNotFound if the user was deleted meanwhile."""
        if password_hash is None:
            await self._unit.write(
                statements.INSERT_SESSION, session_row(session), refusals=USER_GONE
            )
            return True
        written = await self._unit.write(
            statements.INSERT_SESSION_WHILE_PASSWORD,
            {**session_row(session), "verified": password_hash.value},
        )
        return written.rowcount == 1

    async def get(self, session_id: str) -> Session | None:
        row = await self._unit.fetch_one(statements.SELECT_SESSION, {"session_id": session_id})
        return session_from_row(row) if row else None

    async def find_active_user(self, session_id: str, user_id: int, now: datetime) -> User | None:
        row = await self._unit.fetch_one(
            statements.FIND_ACTIVE_USER,
            {"session_id": session_id, "user_id": user_id, "now": now},
        )
        return user_from_row(row) if row else None

    async def rotate(
        self, session_id: str, *, user_id: int, expected_hash: str, new_hash: str, now: datetime
    ) -> bool:
        written = await self._unit.write(
            statements.ROTATE_SESSION,
            {
                "session_id": session_id,
                "owner_id": user_id,
                "expected_hash": expected_hash,
                "new_hash": new_hash,
                "now": now,
            },
            conflict=Conflict.LOST,
        )
        return written.rowcount == 1

    async def revoke(self, session_id: str, now: datetime) -> bool:
        written = await self._unit.write(
            statements.REVOKE_SESSION, {"session_id": session_id, "now": now}
        )
        return written.rowcount == 1

    async def revoke_all_for_user(
        self, user_id: int, now: datetime, *, keep: str | None = None
    ) -> int:
        parameters: dict[str, object] = {"owner_id": user_id, "now": now}
        statement = statements.REVOKE_USERS_SESSIONS
        if keep is not None:
            statement, parameters["keep"] = statements.REVOKE_USERS_OTHER_SESSIONS, keep
        written = await self._unit.write(statement, parameters)
        return written.rowcount

    async def list_active(self, user_id: int, now: datetime) -> list[Session]:
        rows = await self._unit.fetch_all(
            statements.LIST_ACTIVE_SESSIONS, {"user_id": user_id, "now": now}
        )
        return [session_from_row(row) for row in rows]

    async def purge(self, now: datetime) -> int:
        """One DELETE of every session no longer active."""
        written = await self._unit.write(statements.PURGE_SESSIONS, {"now": now})
        return written.rowcount


class SqlEmailTokenRepository(EmailTokenRepository):
    def __init__(self, unit: "SqlUnitOfWork[Any]") -> None:
        self._unit = unit

    async def add(self, token: EmailToken) -> None:
        """Raises UserNotFound if the user is gone. Inside a transaction, the user's row stays
        locked until it ends, so concurrent adds for one user wait for each other, and the
        tokens read here are all there are."""
        locked = await self._unit.write(statements.LOCK_USER, {"user_id": token.user_id})
        if locked.rowcount != 1:
            raise UserNotFound
        superseded = await self._unit.fetch_all(
            statements.SELECT_USERS_EMAIL_TOKEN_DIGESTS,
            {"user_id": token.user_id, "purpose": token.purpose.value},
        )
        for row in superseded:
            await self._unit.write(statements.DELETE_EMAIL_TOKEN, {"digest": row[0]})
        await self._unit.write(
            statements.INSERT_EMAIL_TOKEN, email_token_row(token), refusals=USER_GONE
        )

    async def find(
        self, digest: str, purpose: EmailTokenPurpose, now: datetime
    ) -> EmailToken | None:
        row = await self._unit.fetch_one(
            statements.SELECT_EMAIL_TOKEN, {"digest": digest, "purpose": purpose.value, "now": now}
        )
        return email_token_from_row(row) if row else None

    async def consume(
        self, digest: str, purpose: EmailTokenPurpose, now: datetime
    ) -> EmailToken | None:
        """Reads the token, then deletes it under the same conditions: the delete is what
        decides, and only the one that deleted the row gets it."""
        parameters = {"digest": digest, "purpose": purpose.value, "now": now}
        row = await self._unit.fetch_one(statements.SELECT_EMAIL_TOKEN, parameters)
        if row is None:
            return None
        written = await self._unit.write(statements.CONSUME_EMAIL_TOKEN, parameters)
        return email_token_from_row(row) if written.rowcount == 1 else None


class SqlOutbox(Outbox):
    def __init__(self, unit: "SqlUnitOfWork[Any]") -> None:
        self._unit = unit

    async def add(self, message: EmailMessage, *, now: datetime) -> None:
        await self._unit.write(
            statements.INSERT_MESSAGE,
            {
                "recipient": message.to,
                "subject": message.subject,
                "text_body": message.text,
                "html_body": message.html,
                "due_at": now,
                "created_at": now,
            },
        )

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[QueuedMessage]:
        claim = secrets.token_urlsafe(16)
        rows = await self._unit.claim_due_messages(
            {"now": now, "limit": limit, "until": now + lease, "new_claim": claim}
        )
        return [queued_message_from_row(row, claim) for row in rows]

    async def delivered(self, message: QueuedMessage) -> None:
        await self._unit.write(statements.DELETE_HELD_MESSAGE, held(message))

    async def retry_at(self, message: QueuedMessage, due: datetime) -> None:
        await self._unit.write(statements.RELEASE_HELD_MESSAGE, {**held(message), "due": due})

    async def give_up(self, message: QueuedMessage) -> None:
        await self.delivered(message)


class _AlreadyStored(DomainError):
    """A row a concurrent write has just inserted: the write is made another way."""


class SqlSecondFactorRepository(SecondFactorRepository):
    def __init__(self, unit: "SqlUnitOfWork[Any]") -> None:
        self._unit = unit

    async def get(self, user_id: int) -> TotpFactor | None:
        row = await self._unit.fetch_one(statements.SELECT_TOTP_FACTOR, {"user_id": user_id})
        if row is None:
            return None
        user_id_, secret, pending_secret, enabled_at, last_step = row
        return TotpFactor(
            user_id=user_id_,
            secret=secret,
            pending_secret=pending_secret,
            enabled_at=enabled_at,
            last_step=last_step,
        )

    async def set_pending(self, user_id: int, pending_secret: str) -> bool:
        """An UPDATE of the user's row, else an INSERT of it; an INSERT that a concurrent
        setup beat is made an UPDATE again. Raises UserNotFound if the user is gone."""
        parameters = {"owner_id": user_id, "pending_secret": pending_secret}
        written = await self._unit.write(statements.SET_PENDING_SECRET, parameters)
        if written.rowcount == 1:
            return True
        try:
            await self._unit.write(
                statements.INSERT_TOTP_FACTOR,
                {"user_id": user_id, "pending_secret": pending_secret},
                refusals={
                    Refusal.DUPLICATE_KEY: _AlreadyStored,
                    Refusal.MISSING_REFERENCED_ROW: UserNotFound,
                },
            )
        except _AlreadyStored:
            written = await self._unit.write(statements.SET_PENDING_SECRET, parameters)
            return written.rowcount == 1
        return True

    async def enable(
        self, user_id: int, *, pending_secret: str, secret: str, step: int, now: datetime
    ) -> bool:
        written = await self._unit.write(
            statements.ENABLE_TOTP_FACTOR,
            {
                "owner_id": user_id,
                "expected_pending": pending_secret,
                "secret": secret,
                "step": step,
                "now": now,
            },
        )
        if written.rowcount != 1:
            return False
        await self._set_flag(user_id, enabled=True)
        return True

    async def accept_step(self, user_id: int, step: int) -> bool:
        written = await self._unit.write(
            statements.ACCEPT_TOTP_STEP,
            {"owner_id": user_id, "step": step},
            conflict=Conflict.LOST,
        )
        return written.rowcount == 1

    async def replace_secret(self, user_id: int, *, old: str, new: str) -> bool:
        written = await self._unit.write(
            statements.REPLACE_TOTP_SECRET,
            {"owner_id": user_id, "old_secret": old, "new_secret": new},
        )
        return written.rowcount == 1

    async def disable(self, user_id: int) -> bool:
        parameters = {"user_id": user_id}
        await self._unit.write(statements.DELETE_TOTP_FACTOR, parameters)
        await self._unit.write(statements.DELETE_RECOVERY_CODES, parameters)
        return await self._set_flag(user_id, enabled=False)

    async def _set_flag(self, user_id: int, *, enabled: bool) -> bool:
        written = await self._unit.write(
            statements.SET_MFA_ENABLED, {"user_id": user_id, "enabled": enabled}
        )
        return written.rowcount == 1

    async def replace_recovery_codes(self, user_id: int, digests: Sequence[str]) -> None:
        await self._unit.write(statements.DELETE_RECOVERY_CODES, {"user_id": user_id})
        for digest in digests:
            await self._unit.write(
                statements.INSERT_RECOVERY_CODE,
                {"user_id": user_id, "digest": digest},
                refusals=USER_GONE,
            )

    async def use_recovery_code(self, user_id: int, digest: str) -> bool:
        written = await self._unit.write(
            statements.USE_RECOVERY_CODE,
            {"user_id": user_id, "digest": digest},
            conflict=Conflict.LOST,
        )
        return written.rowcount == 1

    async def count_recovery_codes(self, user_id: int) -> int:
        row = await self._unit.fetch_one(statements.COUNT_RECOVERY_CODES, {"user_id": user_id})
        return int(row[0]) if row else 0


class SqlMfaChallengeRepository(MfaChallengeRepository):
    def __init__(self, unit: "SqlUnitOfWork[Any]") -> None:
        self._unit = unit

    async def add(self, challenge: MfaChallenge) -> None:
        await self._unit.write(
            statements.INSERT_MFA_CHALLENGE,
            {
                "id": challenge.id,
                "user_id": challenge.user_id,
                "password_digest": challenge.password_digest,
                "expires_at": challenge.expires_at,
            },
            refusals=USER_GONE,
        )

    async def consume(
        self, challenge_id: str, *, user_id: int, password_digest: str, now: datetime
    ) -> bool:
        written = await self._unit.write(
            statements.CONSUME_MFA_CHALLENGE,
            {
                "challenge_id": challenge_id,
                "user_id": user_id,
                "password_digest": password_digest,
                "now": now,
            },
            conflict=Conflict.LOST,
        )
        return written.rowcount == 1

    async def purge(self, now: datetime) -> int:
        written = await self._unit.write(statements.PURGE_MFA_CHALLENGES, {"now": now})
        return written.rowcount


def user_from_row(row: Row) -> User:
    id_, name, email, password, bio, contact, created_at, email_verified, mfa_enabled = row
    return User(
        id=id_,
        name=name,
        email=Email.stored(email),
        password_hash=PasswordHash(password),
        bio=bio,
        contact=contact,
        created_at=created_at,
        # MySQL's BOOLEAN is a TINYINT, read as 0 or 1 by the raw driver.
        email_verified=bool(email_verified),
        mfa_enabled=bool(mfa_enabled),
    )


def session_from_row(row: Row) -> Session:
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
        amr,
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
        amr=amr,
    )


def session_row(session: Session) -> Parameters:
    """The session as INSERT_SESSION's parameters, one a column."""
    return {column.name: getattr(session, column.name) for column in sessions.c}


def email_token_row(token: EmailToken) -> Parameters:
    """The token as INSERT_EMAIL_TOKEN's parameters, one a column."""
    return {
        "digest": token.digest,
        "purpose": token.purpose.value,
        "user_id": token.user_id,
        "email": token.email.value,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
    }


def email_token_from_row(row: Row) -> EmailToken:
    digest, purpose, user_id, email, created_at, expires_at = row
    return EmailToken(
        digest=digest,
        purpose=EmailTokenPurpose(purpose),
        user_id=user_id,
        email=Email.stored(email),
        created_at=created_at,
        expires_at=expires_at,
    )


def queued_message_from_row(row: Row, claim: str) -> QueuedMessage:
    id_, recipient, subject, text_body, html_body, _due_at, attempts, _claim, _created_at = row
    return QueuedMessage(
        id=id_,
        message=EmailMessage(to=recipient, subject=subject, text=text_body, html=html_body),
        attempts=attempts,
        claim=claim,
    )


def held(message: QueuedMessage) -> Parameters:
    """The parameters that name a claimed message and the claim its holder has."""
    return {"message_id": message.id, "held_claim": message.claim}
