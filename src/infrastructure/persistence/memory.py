"""In-memory twins of the SQL repositories, for tests and for workers that need no database.

Entities are copied on the way in and out, so callers never share state with the store.
Each repository call is atomic (nothing awaits inside it); a `transaction()` left by an
exception undoes the writes made inside it."""

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Self

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
from domain.errors import EmailAlreadyRegistered, UserNotFound
from domain.second_factor import MfaChallenge, TotpFactor
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, ProfileChanges, User

Undo = Callable[[], object]


class Journal:
    """How to undo each write of the transaction in progress; nothing is kept outside one."""

    def __init__(self) -> None:
        self._undos: list[Undo] | None = None

    def start(self) -> None:
        self._undos = []

    def record(self, undo: Undo) -> None:
        if self._undos is not None:
            self._undos.append(undo)

    def undo(self) -> None:
        for undo in reversed(self._undos or []):
            undo()

    def stop(self) -> None:
        self._undos = None


@dataclass(slots=True, kw_only=True)
class StoredMessage:
    message: EmailMessage
    due: datetime
    attempts: int = 0
    claim: str | None = None


@dataclass
class InMemoryStore:
    users: dict[int, User] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    email_tokens: dict[str, EmailToken] = field(default_factory=dict)
    """Unused tokens by digest; a used or superseded token is removed."""
    outbox: dict[int, StoredMessage] = field(default_factory=dict)
    totp_factors: dict[int, TotpFactor] = field(default_factory=dict)
    recovery_codes: dict[int, frozenset[str]] = field(default_factory=dict)
    """Digests of the unused codes, by user."""
    mfa_challenges: dict[str, MfaChallenge] = field(default_factory=dict)
    last_user_id: int = 0
    last_message_id: int = 0


class InMemoryUserRepository(UserRepository):
    def __init__(self, store: InMemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    async def add(self, user: NewUser) -> User:
        if any(existing.email == user.email for existing in self._store.users.values()):
            raise EmailAlreadyRegistered
        self._store.last_user_id += 1
        stored = User(
            id=self._store.last_user_id,
            name=user.name,
            email=user.email,
            password_hash=user.password_hash,
            created_at=user.created_at,
        )
        self._put(stored)
        return replace(stored)

    async def get(self, user_id: int) -> User | None:
        user = self._store.users.get(user_id)
        return replace(user) if user else None

    async def get_by_email(self, email: Email) -> User | None:
        for user in self._store.users.values():
            if user.email == email:
                return replace(user)
        return None

    async def update_profile(
        self, user_id: int, changes: ProfileChanges, *, session_id: str, now: datetime
    ) -> User | None:
        session = self._store.sessions.get(session_id)
        if session is None or session.user_id != user_id or not session.is_active(now):
            return None
        self._put(self._store.users[user_id].with_changes(changes))
        return await self.get(user_id)

    async def set_password_hash(
        self, user_id: int, password_hash: PasswordHash, *, replacing: PasswordHash | None = None
    ) -> bool:
        user = self._store.users.get(user_id)
        if user is None or replacing not in (None, user.password_hash):
            return False
        self._put(replace(user, password_hash=password_hash))
        return True

    async def mark_email_verified(self, user_id: int, email: Email) -> User | None:
        user = self._store.users.get(user_id)
        if user is None or user.email != email:
            return None
        self._put(replace(user, email_verified=True))
        return await self.get(user_id)

    async def change_email(self, user_id: int, new_email: Email) -> User | None:
        user = self._store.users.get(user_id)
        if user is None:
            return None
        if any(
            other.email == new_email and other.id != user_id for other in self._store.users.values()
        ):
            raise EmailAlreadyRegistered
        self._put(replace(user, email=new_email, email_verified=True))
        return await self.get(user_id)

    async def delete(self, user_id: int) -> bool:
        user = self._store.users.pop(user_id, None)
        if user is None:
            return False
        sessions = {
            key: value for key, value in self._store.sessions.items() if value.user_id == user_id
        }
        for session_id in sessions:
            del self._store.sessions[session_id]
        tokens = {
            key: value
            for key, value in self._store.email_tokens.items()
            if value.user_id == user_id
        }
        for digest in tokens:
            del self._store.email_tokens[digest]
        factor = self._store.totp_factors.pop(user_id, None)
        codes = self._store.recovery_codes.pop(user_id, None)
        challenges = {
            key: value
            for key, value in self._store.mfa_challenges.items()
            if value.user_id == user_id
        }
        for challenge_id in challenges:
            del self._store.mfa_challenges[challenge_id]
        self._journal.record(lambda: self._restore(user, sessions, tokens))
        self._journal.record(
            lambda: self._restore_second_factor(user_id, factor, codes, challenges)
        )
        return True

    async def list(self, after_id: int, limit: int) -> list[User]:
        ids = sorted(user_id for user_id in self._store.users if user_id > after_id)[:limit]
        return [replace(self._store.users[user_id]) for user_id in ids]

    def _put(self, user: User) -> None:
        previous = self._store.users.get(user.id)
        self._store.users[user.id] = user
        if previous is None:
            self._journal.record(lambda: self._store.users.pop(user.id, None))
        else:
            self._journal.record(lambda: self._store.users.__setitem__(user.id, previous))

    def _restore(
        self, user: User, sessions: dict[str, Session], tokens: dict[str, EmailToken]
    ) -> None:
        self._store.users[user.id] = user
        self._store.sessions.update(sessions)
        self._store.email_tokens.update(tokens)

    def _restore_second_factor(
        self,
        user_id: int,
        factor: TotpFactor | None,
        codes: frozenset[str] | None,
        challenges: dict[str, MfaChallenge],
    ) -> None:
        if factor is not None:
            self._store.totp_factors[user_id] = factor
        if codes is not None:
            self._store.recovery_codes[user_id] = codes
        self._store.mfa_challenges.update(challenges)


class InMemorySessionRepository(SessionRepository):
    def __init__(self, store: InMemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    async def add(self, session: Session, *, password_hash: PasswordHash | None = None) -> bool:
        user = self._store.users.get(session.user_id)
        if password_hash is not None and (user is None or user.password_hash != password_hash):
            return False
        if user is None:
            raise UserNotFound
        self._put(replace(session))
        return True

    async def get(self, session_id: str) -> Session | None:
        session = self._store.sessions.get(session_id)
        return replace(session) if session else None

    async def find_active_user(self, session_id: str, user_id: int, now: datetime) -> User | None:
        session = self._store.sessions.get(session_id)
        if session is None or session.user_id != user_id or not session.is_active(now):
            return None
        user = self._store.users.get(user_id)
        return replace(user) if user else None

    async def rotate(
        self, session_id: str, *, user_id: int, expected_hash: str, new_hash: str, now: datetime
    ) -> bool:
        stored = self._store.sessions.get(session_id)
        if (
            stored is None
            or stored.user_id != user_id
            or stored.refresh_token_hash != expected_hash
            or not stored.is_active(now)
        ):
            return False
        rotated = replace(stored)
        rotated.rotate(new_hash, now)
        self._put(rotated)
        return True

    async def revoke(self, session_id: str, now: datetime) -> bool:
        stored = self._store.sessions.get(session_id)
        if stored is None or stored.revoked_at is not None:
            return False
        self._put(replace(stored, revoked_at=now))
        return True

    async def revoke_all_for_user(
        self, user_id: int, now: datetime, *, keep: str | None = None
    ) -> int:
        doomed = [
            session
            for session in self._store.sessions.values()
            if session.user_id == user_id and session.id != keep and session.is_active(now)
        ]
        for session in doomed:
            self._put(replace(session, revoked_at=now))
        return len(doomed)

    async def list_active(self, user_id: int, now: datetime) -> list[Session]:
        active = [
            replace(session)
            for session in self._store.sessions.values()
            if session.user_id == user_id and session.is_active(now)
        ]
        return sorted(active, key=lambda session: session.last_used_at, reverse=True)

    async def purge(self, now: datetime) -> int:
        doomed = [
            session for session in self._store.sessions.values() if not session.is_active(now)
        ]
        for session in doomed:
            del self._store.sessions[session.id]
            self._journal.record(partial(self._store.sessions.__setitem__, session.id, session))
        return len(doomed)

    def _put(self, session: Session) -> None:
        previous = self._store.sessions.get(session.id)
        self._store.sessions[session.id] = session
        if previous is None:
            self._journal.record(lambda: self._store.sessions.pop(session.id, None))
        else:
            self._journal.record(lambda: self._store.sessions.__setitem__(session.id, previous))


class InMemoryEmailTokenRepository(EmailTokenRepository):
    def __init__(self, store: InMemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    async def add(self, token: EmailToken) -> None:
        if token.user_id not in self._store.users:
            raise UserNotFound
        superseded = [
            older
            for older in self._store.email_tokens.values()
            if older.user_id == token.user_id and older.purpose == token.purpose
        ]
        for older in superseded:
            self._remove(older)
        self._store.email_tokens[token.digest] = token
        self._journal.record(lambda: self._store.email_tokens.pop(token.digest, None))

    async def find(
        self, digest: str, purpose: EmailTokenPurpose, now: datetime
    ) -> EmailToken | None:
        token = self._store.email_tokens.get(digest)
        if token is None or token.purpose != purpose or token.expires_at <= now:
            return None
        return token

    async def consume(
        self, digest: str, purpose: EmailTokenPurpose, now: datetime
    ) -> EmailToken | None:
        token = await self.find(digest, purpose, now)
        if token is not None:
            self._remove(token)
        return token

    def _remove(self, token: EmailToken) -> None:
        del self._store.email_tokens[token.digest]
        self._journal.record(partial(self._store.email_tokens.__setitem__, token.digest, token))


class InMemoryOutbox(Outbox):
    def __init__(self, store: InMemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    async def add(self, message: EmailMessage, *, now: datetime) -> None:
        self._store.last_message_id += 1
        message_id = self._store.last_message_id
        self._store.outbox[message_id] = StoredMessage(message=message, due=now)
        self._journal.record(lambda: self._store.outbox.pop(message_id, None))

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[QueuedMessage]:
        due = sorted(
            message_id for message_id, stored in self._store.outbox.items() if stored.due <= now
        )[:limit]
        claimed = []
        for message_id in due:
            stored = self._store.outbox[message_id]
            stored.claim, stored.due = secrets.token_urlsafe(16), now + lease
            claimed.append(
                QueuedMessage(
                    id=message_id,
                    message=stored.message,
                    attempts=stored.attempts,
                    claim=stored.claim,
                )
            )
        return claimed

    async def delivered(self, message: QueuedMessage) -> None:
        if self._held(message):
            del self._store.outbox[message.id]

    async def retry_at(self, message: QueuedMessage, due: datetime) -> None:
        if self._held(message):
            stored = self._store.outbox[message.id]
            stored.claim, stored.due, stored.attempts = None, due, message.attempts + 1

    async def give_up(self, message: QueuedMessage) -> None:
        await self.delivered(message)

    def _held(self, message: QueuedMessage) -> bool:
        stored = self._store.outbox.get(message.id)
        return stored is not None and stored.claim == message.claim


class InMemorySecondFactorRepository(SecondFactorRepository):
    def __init__(self, store: InMemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    async def get(self, user_id: int) -> TotpFactor | None:
        factor = self._store.totp_factors.get(user_id)
        return replace(factor) if factor else None

    async def set_pending(self, user_id: int, pending_secret: str) -> bool:
        if user_id not in self._store.users:
            raise UserNotFound
        factor = self._store.totp_factors.get(user_id)
        if factor is not None and factor.enabled_at is not None:
            return False
        if factor is None:
            factor = TotpFactor(
                user_id=user_id, secret=None, pending_secret=None, enabled_at=None, last_step=None
            )
        self._put(replace(factor, pending_secret=pending_secret))
        return True

    async def enable(
        self, user_id: int, *, pending_secret: str, secret: str, step: int, now: datetime
    ) -> bool:
        factor = self._store.totp_factors.get(user_id)
        if factor is None or factor.enabled_at is not None:
            return False
        if factor.pending_secret != pending_secret:
            return False
        self._put(
            replace(factor, secret=secret, pending_secret=None, enabled_at=now, last_step=step)
        )
        self._set_flag(user_id, enabled=True)
        return True

    async def accept_step(self, user_id: int, step: int) -> bool:
        factor = self._store.totp_factors.get(user_id)
        if factor is None or factor.enabled_at is None or not factor.fresh(step):
            return False
        self._put(replace(factor, last_step=step))
        return True

    async def replace_secret(self, user_id: int, *, old: str, new: str) -> bool:
        factor = self._store.totp_factors.get(user_id)
        if factor is None or factor.secret != old:
            return False
        self._put(replace(factor, secret=new))
        return True

    async def disable(self, user_id: int) -> bool:
        factor = self._store.totp_factors.pop(user_id, None)
        if factor is not None:
            self._journal.record(partial(self._store.totp_factors.__setitem__, user_id, factor))
        self._put_codes(user_id, None)
        return self._set_flag(user_id, enabled=False)

    async def replace_recovery_codes(self, user_id: int, digests: Sequence[str]) -> None:
        if user_id not in self._store.users:
            raise UserNotFound
        self._put_codes(user_id, frozenset(digests))

    async def use_recovery_code(self, user_id: int, digest: str) -> bool:
        codes = self._store.recovery_codes.get(user_id, frozenset())
        if digest not in codes:
            return False
        self._put_codes(user_id, codes - {digest})
        return True

    async def count_recovery_codes(self, user_id: int) -> int:
        return len(self._store.recovery_codes.get(user_id, frozenset()))

    def _set_flag(self, user_id: int, *, enabled: bool) -> bool:
        user = self._store.users.get(user_id)
        if user is None or user.mfa_enabled == enabled:
            return False
        self._store.users[user_id] = replace(user, mfa_enabled=enabled)
        self._journal.record(partial(self._store.users.__setitem__, user_id, user))
        return True

    def _put(self, factor: TotpFactor) -> None:
        previous = self._store.totp_factors.get(factor.user_id)
        self._store.totp_factors[factor.user_id] = factor
        if previous is None:
            self._journal.record(lambda: self._store.totp_factors.pop(factor.user_id, None))
        else:
            self._journal.record(
                partial(self._store.totp_factors.__setitem__, factor.user_id, previous)
            )

    def _put_codes(self, user_id: int, codes: frozenset[str] | None) -> None:
        previous = self._store.recovery_codes.pop(user_id, None)
        if codes is not None:
            self._store.recovery_codes[user_id] = codes
        if previous is None:
            self._journal.record(lambda: self._store.recovery_codes.pop(user_id, None))
        else:
            self._journal.record(partial(self._store.recovery_codes.__setitem__, user_id, previous))


class InMemoryMfaChallengeRepository(MfaChallengeRepository):
    def __init__(self, store: InMemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal

    async def add(self, challenge: MfaChallenge) -> None:
        if challenge.user_id not in self._store.users:
            raise UserNotFound
        self._store.mfa_challenges[challenge.id] = challenge
        self._journal.record(lambda: self._store.mfa_challenges.pop(challenge.id, None))

    async def consume(
        self, challenge_id: str, *, user_id: int, password_digest: str, now: datetime
    ) -> bool:
        challenge = self._store.mfa_challenges.get(challenge_id)
        if (
            challenge is None
            or challenge.user_id != user_id
            or challenge.password_digest != password_digest
            or challenge.expires_at <= now
        ):
            return False
        self._remove(challenge)
        return True

    async def purge(self, now: datetime) -> int:
        expired = [
            challenge
            for challenge in self._store.mfa_challenges.values()
            if challenge.expires_at <= now
        ]
        for challenge in expired:
            self._remove(challenge)
        return len(expired)

    def _remove(self, challenge: MfaChallenge) -> None:
        del self._store.mfa_challenges[challenge.id]
        self._journal.record(
            partial(self._store.mfa_challenges.__setitem__, challenge.id, challenge)
        )


class InMemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        self._journal = Journal()
        self.users = InMemoryUserRepository(store, self._journal)
        self.sessions = InMemorySessionRepository(store, self._journal)
        self.email_tokens = InMemoryEmailTokenRepository(store, self._journal)
        self.outbox = InMemoryOutbox(store, self._journal)
        self.second_factor = InMemorySecondFactorRepository(store, self._journal)
        self.mfa_challenges = InMemoryMfaChallengeRepository(store, self._journal)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        """Nothing to release."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._journal.start()
        try:
            yield
        except BaseException:
            self._journal.undo()
            raise
        finally:
            self._journal.stop()
