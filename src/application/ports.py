"""The ports the use cases need, shaped by how they use them. Adapters live in infrastructure."""

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from domain.email_tokens import EmailToken, EmailTokenPurpose
from domain.second_factor import MfaChallenge, TotpFactor
from domain.sessions import Session
from domain.users import Email, NewUser, Password, PasswordHash, ProfileChanges, User


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    """Hashes and verifies off the event loop. Verification never raises for bad input; any of
    the three raises Overloaded, at once, when too much hashing is already waiting."""

    async def hash(self, password: Password) -> PasswordHash: ...

    async def verify(self, password: str, password_hash: PasswordHash) -> bool:
        """False for a wrong password, a password the algorithm cannot take, or a damaged hash."""
        ...

    async def verify_dummy(self, password: str) -> None:
        """Spends the time of one real verification, for logins of unknown emails."""
        ...

    def check_room(self) -> None:
        """Raises Overloaded if a hash asked for now would be refused: a use case calls it
        before work that a refused hash would waste."""
        ...

    def needs_rehash(self, password_hash: PasswordHash) -> bool:
        """Whether the hash uses another algorithm or weaker parameters than the current ones."""
        ...


class PasswordBreachCheck(Protocol):
    """Whether a password is known from a data breach (ASVS 6.2.12), beside the shipped list of
    common passwords."""

    async def is_breached(self, password: Password) -> bool:
        """True only when the password was found. False when it was not, and also when the
        check could not be made: a breach service that is down must not stop registrations,
        so the check fails open and the adapter logs a warning."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailMessage:
    """One message to one person: plain text, with an HTML rendering of the same when given."""

    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hands the message to the mail system, or raises MailNotSent (the server down or
        refusing it) for the caller to try again later."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedMessage:
    """A message of the outbox, claimed by one deliverer."""

    id: int
    message: EmailMessage
    attempts: int
    """Deliveries tried before this one."""
    claim: str
    """Names this claim: only its holder may settle the message."""


class Outbox(Protocol):
    """Mail waiting to be sent, written in the same transaction as what it tells of (the
    token it carries, the change it notifies), so that neither is kept without the other."""

    async def add(self, message: EmailMessage, *, now: datetime) -> None:
        """Queues the message, due at once."""
        ...

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[QueuedMessage]:
        """Up to `limit` messages due at `now`, oldest first, each claimed until `now + lease`:
        no other claim gets them meanwhile, whichever instance asks, and a message whose
        deliverer died comes back when its lease ends."""
        ...

    async def delivered(self, message: QueuedMessage) -> None:
        """Deletes the message (its body may carry a token, which must not outlive the need)."""
        ...

    async def retry_at(self, message: QueuedMessage, due: datetime) -> None:
        """Releases the message, due again at `due`, with one more attempt counted."""
        ...

    async def give_up(self, message: QueuedMessage) -> None:
        """Deletes a message that will not be delivered (the caller logs why)."""
        ...


class EmailTokenRepository(Protocol):
    async def add(self, token: EmailToken) -> None:
        """Stores the token and deletes every other token of its purpose for its user: the
        newest supersedes the older ones. Two writes: callers make them in a transaction."""
        ...

    async def find(
        self, digest: str, purpose: EmailTokenPurpose, now: datetime
    ) -> EmailToken | None:
        """The token if it is of `purpose`, unused and not expired at `now`; a read that
        consumes nothing."""
        ...

    async def consume(
        self, digest: str, purpose: EmailTokenPurpose, now: datetime
    ) -> EmailToken | None:
        """Uses the token up if it is of `purpose`, unused and not expired at `now`, by one
        conditional write: of any number of concurrent calls with one token, exactly one gets
        it, the others None."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_in: int
    """Seconds until the access token expires."""
    refresh_expires_in: int
    """Seconds until the refresh token expires (never past the session's absolute lifetime)."""

    def __repr__(self) -> str:
        return f"TokenPair(access_expires_in={self.access_expires_in}, ...)"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessClaims:
    user_id: int
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshClaims:
    """What a refresh token says, enough to issue the next pair without reading the session
    or the user: an email change ends every session, so `email` is never stale."""

    user_id: int
    session_id: str
    email: Email
    session_expires_at: datetime
    """The session's absolute end (whole seconds), which rotation does not extend."""


class TokenIssuer(Protocol):
    def issue(
        self,
        *,
        user_id: int,
        email: Email,
        session_id: str,
        now: datetime,
        session_expires_at: datetime,
    ) -> TokenPair:
        """A fresh access and refresh token; every call gives tokens never issued before."""
        ...

    def read_access_token(self, token: str) -> AccessClaims:
        """The claims of a valid access token; raises NotAuthenticated for anything else."""
        ...

    def read_refresh_token(self, token: str) -> RefreshClaims:
        """The claims of a valid refresh token; raises NotAuthenticated for anything else."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceClaims:
    user_id: int
    email: str
    device_id: str
    """Random, new for every token: names the browser or client that logged in."""


class DeviceTokens(Protocol):
    """Signed tokens that a client which logged in keeps (the `deviceToken` cookie), so that
    its password checks can be counted apart from a stranger's."""

    def issue(self, *, user: User, now: datetime) -> str:
        """A token naming a new device, bound to the user and their email."""
        ...

    def read(self, token: str, now: datetime) -> DeviceClaims | None:
        """The claims of a token this service issued and that has not expired at `now`;
        None for anything else."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Decrypted:
    plaintext: str = field(repr=False)
    stale: bool
    """Sealed under a key that is no longer the newest: seal it again."""


class SecretBox(Protocol):
    """Encrypts data at rest (the TOTP secrets) under a list of keys, newest first: it seals
    with the newest and opens with any, so the key can be rotated."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, ciphertext: str) -> Decrypted:
        """Raises ValueError if no key opens it or it was tampered with."""
        ...


class TotpVerifier(Protocol):
    """RFC 6238 time-based one-time codes."""

    def new_secret(self) -> str:
        """A new random secret, in the base32 form authenticator apps take."""
        ...

    def verify(self, secret: str, code: str, now: datetime) -> int | None:
        """The time step whose code `code` is, within one step of `now` either way (clock
        drift), or None. Replays are the caller's to refuse."""
        ...

    def provisioning_uri(self, secret: str, *, account: str) -> str:
        """The `otpauth://` URI an authenticator app reads, from a QR code or typed in."""
        ...


class QrCodes(Protocol):
    def svg(self, text: str) -> str:
        """`text` as a QR code, an SVG document."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaClaims:
    user_id: int
    challenge_id: str


class MfaTokens(Protocol):
    """Tokens naming a login attempt that waits for its second factor, accepted nowhere but
    where that login is completed."""

    def issue(self, challenge: MfaChallenge, *, now: datetime) -> str:
        """A token that expires with the challenge."""
        ...

    def read(self, token: str, now: datetime) -> MfaClaims:
        """The claims of a valid, unexpired token; raises NotAuthenticated for anything else."""
        ...


class UserRepository(Protocol):
    async def add(self, user: NewUser) -> User:
        """Stores a new user; raises EmailAlreadyRegistered if the email is taken."""
        ...

    async def get(self, user_id: int) -> User | None: ...

    async def get_by_email(self, email: Email) -> User | None: ...

    async def update_profile(
        self, user_id: int, changes: ProfileChanges, *, session_id: str, now: datetime
    ) -> User | None:
        """Writes only the changed fields, at least one (concurrent edits of the others
        survive), and only while the user's session `session_id` is active at `now`, as checked
        by the write itself: a session revoked a moment before cannot change anything. The user
        as stored then, or None if the session was not active (a deleted user has none)."""
        ...

    async def set_password_hash(
        self, user_id: int, password_hash: PasswordHash, *, replacing: PasswordHash | None = None
    ) -> bool:
        """With `replacing`, only while the stored hash is still that one, as checked by the
        write itself. False if nothing was written."""
        ...

    async def mark_email_verified(self, user_id: int, email: Email) -> User | None:
        """Marks the user's email verified, only while it is still `email` (the address the
        token was sent to), as checked by the write itself. The user as stored then, or None."""
        ...

    async def change_email(self, user_id: int, new_email: Email) -> User | None:
        """Sets the email, verified. Raises EmailAlreadyRegistered if another user has it;
        None if the user is gone."""
        ...

    async def delete(self, user_id: int) -> bool:
        """Deletes the user and, with it, every session and email token of theirs."""
        ...

    async def list(self, after_id: int, limit: int) -> list[User]:
        """At most `limit` users with an id above `after_id`, in id order."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session, *, password_hash: PasswordHash | None = None) -> bool:
        """With `password_hash`, only while the user's stored hash is still that one (the one a
        login verified), as checked by the write itself: False if it changed or the user is
        gone. Without it, raises UserNotFound if the user is gone."""
        ...

    async def get(self, session_id: str) -> Session | None: ...

    async def find_active_user(self, session_id: str, user_id: int, now: datetime) -> User | None:
        """The session's user if the session is the user's and still active, in one query."""
        ...

    async def rotate(
        self, session_id: str, *, user_id: int, expected_hash: str, new_hash: str, now: datetime
    ) -> bool:
        """Compare-and-swap, in one statement that reads nothing first: `new_hash` becomes the
        session's refresh token hash (and `expected_hash` the one rotated away, at `now`, its
        last use) only if the session is the user's, its hash is still `expected_hash` and it
        is active at `now` (not revoked, not past its absolute expiry). False otherwise:
        another rotation, a revocation, the session's end or its user's deletion came first,
        or there never was such a session."""
        ...

    async def revoke(self, session_id: str, now: datetime) -> bool:
        """False if there was no such session or it was already revoked."""
        ...

    async def revoke_all_for_user(
        self, user_id: int, now: datetime, *, keep: str | None = None
    ) -> int:
        """Revokes every active session of the user but `keep`; returns how many."""
        ...

    async def list_active(self, user_id: int, now: datetime) -> list[Session]:
        """The user's sessions that are neither revoked nor expired, most recently used first."""
        ...

    async def purge(self, now: datetime) -> int:
        """Deletes expired and revoked sessions; returns how many."""
        ...


class SecondFactorRepository(Protocol):
    """A user's authenticator and recovery codes. `enable` and `disable` make several writes:
    callers make them in a transaction."""

    async def get(self, user_id: int) -> TotpFactor | None: ...

    async def set_pending(self, user_id: int, pending_secret: str) -> bool:
        """Keeps a new setup's sealed secret, replacing one not yet confirmed. False if the
        factor is on (the write itself checks)."""
        ...

    async def enable(
        self, user_id: int, *, pending_secret: str, secret: str, step: int, now: datetime
    ) -> bool:
        """Turns the factor on with `secret`, only while the pending secret is still
        `pending_secret` (a later setup voids an earlier one), with `step` as the last accepted,
        and marks the user (`User.mfa_enabled`). False if nothing was written."""
        ...

    async def accept_step(self, user_id: int, step: int) -> bool:
        """Records `step` as the last accepted, only while the factor is on and its last step
        is earlier, as checked by the write itself: of two concurrent uses of one code,
        exactly one gets True."""
        ...

    async def replace_secret(self, user_id: int, *, old: str, new: str) -> bool:
        """Stores the secret sealed anew (under the newest key), only while it is still `old`."""
        ...

    async def disable(self, user_id: int) -> bool:
        """Deletes the factor and its recovery codes, and unmarks the user. False if it was
        not on."""
        ...

    async def replace_recovery_codes(self, user_id: int, digests: Sequence[str]) -> None:
        """Stores these code digests as the user's only ones: the old set is void."""
        ...

    async def use_recovery_code(self, user_id: int, digest: str) -> bool:
        """Uses the code up by one conditional write: of concurrent uses, exactly one gets
        True."""
        ...

    async def count_recovery_codes(self, user_id: int) -> int: ...


class MfaChallengeRepository(Protocol):
    """Login attempts whose password was right, waiting for their second factor."""

    async def add(self, challenge: MfaChallenge) -> None: ...

    async def consume(
        self, challenge_id: str, *, user_id: int, password_digest: str, now: datetime
    ) -> bool:
        """Uses the attempt up if it is the user's, bound to `password_digest` and unexpired,
        by one conditional write: of concurrent calls with one id, exactly one gets True."""
        ...

    async def purge(self, now: datetime) -> int:
        """Deletes the expired attempts; returns how many."""
        ...


class UnitOfWork(Protocol):
    """The repositories on one connection, for the span of an `async with`.

    Each write is durable once it returns, as one statement is atomic by itself: most use cases
    make a single write and need no more. Writes that must stand or fall together go inside
    `transaction()`, which commits them when it ends and rolls them back if it ends by an
    exception."""

    users: UserRepository
    sessions: SessionRepository
    email_tokens: EmailTokenRepository
    outbox: Outbox
    second_factor: SecondFactorRepository
    mfa_challenges: MfaChallengeRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[None]: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityEvent:
    """Something a security team wants in its logs. Never carries a password or a token."""

    name: str
    user_id: int | None = None
    session_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    reason: str | None = None


class SecurityLog(Protocol):
    def record(self, event: SecurityEvent) -> None: ...


class RateLimiter(Protocol):
    """Counts events per key in a fixed window that starts with the key's first event.

    Shared by every instance of the service when backed by a shared store."""

    async def consume(self, key: str, *, limit: int, window: timedelta) -> int | None:
        """Counts one event, atomically: of any number of concurrent calls, at most `limit` in
        a window get None; every other call gets the whole seconds (at least 1) until the
        window ends. An event refused is counted too."""
        ...

    async def reset(self, key: str, *, limit: int, window: timedelta) -> None:
        """Forgets the events counted under `key` for this `limit` and `window`."""
        ...
