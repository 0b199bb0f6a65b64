"""Fast, deterministic stand-ins for the ports whose real adapters are slow or time-bound."""

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from application.ports import (
    AccessClaims,
    Clock,
    EmailMessage,
    Mailer,
    PasswordBreachCheck,
    PasswordHasher,
    RefreshClaims,
    SecurityEvent,
    SecurityLog,
    TokenIssuer,
    TokenPair,
)
from domain.errors import MailNotSent, NotAuthenticated, Overloaded
from domain.users import Email, Password, PasswordHash


@dataclass
class FixedClock(Clock):
    """Stands still until a test moves it."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 10, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class FakeHasher(PasswordHasher):
    """Hashes as `<scheme>$<password>`; any other scheme counts as outdated."""

    def __init__(self, scheme: str = "fake") -> None:
        self.scheme = scheme
        self.dummy_verifications = 0
        self.full = False
        """Whether its queue is full: every call then raises Overloaded."""

    async def hash(self, password: Password) -> PasswordHash:
        self.check_room()
        return PasswordHash(f"{self.scheme}${password.value}")

    async def verify(self, password: str, password_hash: PasswordHash) -> bool:
        self.check_room()
        _, _, stored = password_hash.value.partition("$")
        return stored == password

    async def verify_dummy(self, password: str) -> None:
        self.check_room()
        self.dummy_verifications += 1

    def check_room(self) -> None:
        if self.full:
            raise Overloaded(1)

    def needs_rehash(self, password_hash: PasswordHash) -> bool:
        return not password_hash.value.startswith(f"{self.scheme}$")


class KnownBreaches(PasswordBreachCheck):
    """Counts the given passwords as breached, and remembers what it was asked."""

    def __init__(self, breached: frozenset[str] = frozenset()) -> None:
        self.breached = breached
        self.checked: list[str] = []

    async def is_breached(self, password: Password) -> bool:
        self.checked.append(password.value)
        return password.value in self.breached


class FakeTokenIssuer(TokenIssuer):
    """Readable tokens `kind:user:session:serial:expiry:session-expiry:email`, checked for kind
    and expiry only; the email last, as it may hold a colon."""

    def __init__(self, clock: Clock, access_ttl: int = 900, refresh_ttl: int = 7 * 86400) -> None:
        self._clock = clock
        self._serial = itertools.count(1)
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl

    def issue(
        self,
        *,
        user_id: int,
        email: Email,
        session_id: str,
        now: datetime,
        session_expires_at: datetime,
    ) -> TokenPair:
        serial = next(self._serial)
        issued_at = int(now.timestamp())
        session_ends_at = int(session_expires_at.timestamp())
        access_expires_in = self._access_ttl
        refresh_expires_in = min(self._refresh_ttl, session_ends_at - issued_at)
        common = f"{user_id}:{session_id}:{serial}"
        tail = f"{session_ends_at}:{email.value}"
        return TokenPair(
            access_token=f"access:{common}:{issued_at + access_expires_in}:{tail}",
            refresh_token=f"refresh:{common}:{issued_at + refresh_expires_in}:{tail}",
            access_expires_in=access_expires_in,
            refresh_expires_in=refresh_expires_in,
        )

    def read_access_token(self, token: str) -> AccessClaims:
        claims = self._read(token, "access")
        return AccessClaims(user_id=claims.user_id, session_id=claims.session_id)

    def read_refresh_token(self, token: str) -> RefreshClaims:
        return self._read(token, "refresh")

    def _read(self, token: str, kind: str) -> RefreshClaims:
        parts = token.split(":", 6)
        if (
            len(parts) != 7
            or parts[0] != kind
            or not all(parts[index].isdigit() for index in (1, 4, 5))
        ):
            raise NotAuthenticated("Invalid token")
        if int(parts[4]) <= self._clock.now().timestamp():
            raise NotAuthenticated("Token expired")
        return RefreshClaims(
            user_id=int(parts[1]),
            session_id=parts[2],
            email=Email.stored(parts[6]),
            session_expires_at=datetime.fromtimestamp(int(parts[5]), UTC),
        )


class RecordingSecurityLog(SecurityLog):
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def record(self, event: SecurityEvent) -> None:
        self.events.append(event)

    @property
    def names(self) -> list[str]:
        return [event.name for event in self.events]


class CountingHasher(PasswordHasher):
    """A real hasher that counts the passwords it verifies, dummy verifications included."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self.verifications = 0

    async def hash(self, password: Password) -> PasswordHash:
        return await self._hasher.hash(password)

    async def verify(self, password: str, password_hash: PasswordHash) -> bool:
        self.verifications += 1
        return await self._hasher.verify(password, password_hash)

    async def verify_dummy(self, password: str) -> None:
        self.verifications += 1
        await self._hasher.verify_dummy(password)

    def needs_rehash(self, password_hash: PasswordHash) -> bool:
        return self._hasher.needs_rehash(password_hash)


class RecordingMailer(Mailer):
    """Keeps the messages it sends, in order; the next `failures` sends raise MailNotSent.
    Each send yields to the event loop first, as a real one does, so concurrent deliverers
    interleave."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[EmailMessage] = []
        self.failures = failures
        self.attempts = 0

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(0)
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise MailNotSent
        self.sent.append(message)
