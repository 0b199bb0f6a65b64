"""Authentication use cases: log in, refresh, log out, and authenticate a request."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from application.ports import (
    AccessClaims,
    Clock,
    DeviceTokens,
    MfaTokens,
    PasswordHasher,
    RefreshClaims,
    SecurityEvent,
    SecurityLog,
    TokenIssuer,
    TokenPair,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.throttling import PasswordAttempt, PasswordCheck
from domain.errors import EmailNotVerified, InvalidCredentials, NotAuthenticated, ValidationFailed
from domain.second_factor import MFA_CHALLENGE_TTL, MfaChallenge
from domain.sessions import (
    AMR_PASSWORD,
    RefreshVerdict,
    Session,
    new_session_id,
    refresh_token_digest,
)
from domain.users import Email, Password, User, collect_field_errors


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    max_lifetime: timedelta
    """Absolute lifetime of a session from login; rotation does not extend it."""
    reuse_grace: timedelta
    """How long the token rotated away last is refused without revoking the session."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who made an authenticated request, through which session."""

    user: User
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginCommand:
    email: str
    password: str
    user_agent: str | None = None
    ip: str | None = None
    device_token: str | None = None
    """The device cookie of an earlier login, if the client has one."""

    def __repr__(self) -> str:
        return f"LoginCommand(email={self.email!r}, ip={self.ip!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginResult:
    user: User
    tokens: TokenPair
    session_id: str
    device_token: str
    """A new device token for the client to keep: its later password checks for this user
    are counted on their own allowance."""

    def __repr__(self) -> str:
        return f"LoginResult(user={self.user!r}, session_id={self.session_id!r}, ...)"


class StartSession:
    """Ends a login that is complete: a new session that stores only a digest of its refresh
    token, started only while the user's password hash is still the one verified (the write
    checks), and a new device token for the client."""

    def __init__(
        self,
        issuer: TokenIssuer,
        policy: SessionPolicy,
        device_tokens: DeviceTokens,
    ) -> None:
        self._issuer = issuer
        self._policy = policy
        self._device_tokens = device_tokens

    async def __call__(
        self,
        uow: UnitOfWork,
        user: User,
        *,
        now: datetime,
        amr: str,
        user_agent: str | None,
        ip: str | None,
    ) -> LoginResult:
        session_id = new_session_id()
        tokens = self._issuer.issue(
            user_id=user.id,
            email=user.email,
            session_id=session_id,
            now=now,
            session_expires_at=now + self._policy.max_lifetime,
        )
        session = Session.start(
            session_id=session_id,
            user_id=user.id,
            refresh_token=tokens.refresh_token,
            now=now,
            max_lifetime=self._policy.max_lifetime,
            user_agent=user_agent,
            ip=ip,
            amr=amr,
        )
        if not await uow.sessions.add(session, password_hash=user.password_hash):
            raise InvalidCredentials
        return LoginResult(
            user=user,
            tokens=tokens,
            session_id=session_id,
            device_token=self._device_tokens.issue(user=user, now=now),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaRequired:
    """The password was right and the user has a second factor: the login goes on at
    CompleteMfaLogin with this token and a code. No session exists yet."""

    mfa_token: str

    def __repr__(self) -> str:
        return "MfaRequired(...)"


class Login:
    """- the password is checked by `PasswordCheck`, with its guessing limits;
    - unknown email and wrong password fail alike, and take the same time;
    - every login starts a new session (`StartSession`), except for a user with a second
      factor: their login waits for a code (`MfaRequired`), and reads nothing more than one
      without (the flag is on the user row);
    - a hash in an outdated algorithm or cost is replaced by a current one;
    - with `require_verified_email`, an account whose address is not verified is refused
      (403), and only once its password was right: a guesser cannot tell it apart;
    - when the password hashing queue is full it is refused first, before any lookup, so
      that shedding a flood of logins costs little."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        password_check: PasswordCheck,
        security_log: SecurityLog,
        require_verified_email: bool,
        start_session: StartSession,
        mfa_tokens: MfaTokens,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._password_check = password_check
        self._security_log = security_log
        self._require_verified_email = require_verified_email
        self._start_session = start_session
        self._mfa_tokens = mfa_tokens

    async def __call__(self, command: LoginCommand) -> LoginResult | MfaRequired:
        email = collect_field_errors({"email": lambda: Email.parse(command.email)})["email"]
        if not command.password:
            raise ValidationFailed.for_field("password", "must not be empty")
        self._hasher.check_room()
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
        attempt = PasswordAttempt(
            email=email,
            user=user,
            password=command.password,
            device_token=command.device_token,
            ip=command.ip,
        )
        if not await self._password_check(attempt) or user is None:
            self._security_log.record(
                SecurityEvent(
                    name="login_failed",
                    user_id=None if user is None else user.id,
                    ip=command.ip,
                    reason="unknown email" if user is None else "wrong password",
                )
            )
            raise InvalidCredentials
        if self._require_verified_email and not user.email_verified:
            self._security_log.record(
                SecurityEvent(
                    name="login_refused",
                    user_id=user.id,
                    ip=command.ip,
                    reason="email not verified",
                )
            )
            raise EmailNotVerified

        upgraded_hash = None
        if self._hasher.needs_rehash(user.password_hash):
            upgraded_hash = await self._hasher.hash(Password(command.password))
        now = self._clock.now()
        # The writes hold only while the stored hash is still the one verified (a waiting second
        # factor checks it when completed): a password changed meanwhile ends this login, and
        # is not overwritten by the old one rehashed.
        async with self._uow() as uow:
            verified = user.password_hash
            if upgraded_hash is not None:
                if not await uow.users.set_password_hash(
                    user.id, upgraded_hash, replacing=verified
                ):
                    raise InvalidCredentials
                user.password_hash = upgraded_hash
            if user.mfa_enabled:
                challenge = MfaChallenge.start(
                    user_id=user.id,
                    password_hash=user.password_hash.value,
                    expires_at=now + MFA_CHALLENGE_TTL,
                )
                await uow.mfa_challenges.add(challenge)
                return MfaRequired(mfa_token=self._mfa_tokens.issue(challenge, now=now))
            return await self._start_session(
                uow, user, now=now, amr=AMR_PASSWORD, user_agent=command.user_agent, ip=command.ip
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshCommand:
    refresh_token: str
    ip: str | None = None
    user_agent: str | None = None

    def __repr__(self) -> str:
        return f"RefreshCommand(ip={self.ip!r})"


class RefreshTokens:
    """- only the session's current refresh token is accepted, and it is rotated by
      compare-and-swap: of two concurrent refreshes with one token, one wins;
    - the token rotated away last, within the grace window, is refused and logged, and revokes
      nothing (browser tabs racing each other do this; a thief replaying a token early too);
    - any other token of the session is a replay: the whole session is revoked (RFC 9700 4.14.2).

    A refresh that succeeds is that one statement: the token carries what the new pair needs
    (the user's email, the session's absolute expiry), and the swap itself checks that the
    session is the user's, still active and still on the presented token. Only a swap that
    fails reads the session, to tell a replay from a session that has ended."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        issuer: TokenIssuer,
        clock: Clock,
        policy: SessionPolicy,
        security_log: SecurityLog,
    ) -> None:
        self._uow = uow
        self._issuer = issuer
        self._clock = clock
        self._policy = policy
        self._security_log = security_log

    async def __call__(self, command: RefreshCommand) -> TokenPair:
        claims = self._issuer.read_refresh_token(command.refresh_token)
        now = self._clock.now()
        async with self._uow() as uow:
            tokens = await rotate_session(
                uow,
                self._issuer,
                user_id=claims.user_id,
                email=claims.email,
                session_id=claims.session_id,
                session_expires_at=claims.session_expires_at,
                expected_hash=refresh_token_digest(command.refresh_token),
                now=now,
            )
            if tokens is None:
                await self._refuse(uow, command, claims, now)
        return tokens

    async def _refuse(
        self, uow: UnitOfWork, command: RefreshCommand, claims: RefreshClaims, now: datetime
    ) -> NoReturn:
        """Why the swap failed, told by one read of the session, and what follows from it."""
        session = await uow.sessions.get(claims.session_id)
        if session is None or session.user_id != claims.user_id or not session.is_active(now):
            raise NotAuthenticated("Session has ended")
        verdict = session.judge_refresh(command.refresh_token, now, self._policy.reuse_grace)
        if verdict is RefreshVerdict.RECENTLY_ROTATED:
            self._security_log.record(
                SecurityEvent(
                    name="refresh_token_replayed_in_grace",
                    user_id=session.user_id,
                    session_id=session.id,
                    ip=command.ip,
                    user_agent=command.user_agent,
                    reason="within the grace window; nothing revoked",
                )
            )
            raise NotAuthenticated("Refresh token already used")
        if verdict is RefreshVerdict.REUSED:
            await uow.sessions.revoke(session.id, now)
            self._security_log.record(
                SecurityEvent(
                    name="refresh_token_reused",
                    user_id=session.user_id,
                    session_id=session.id,
                    ip=command.ip,
                    user_agent=command.user_agent,
                )
            )
            raise NotAuthenticated("Refresh token already used; session revoked")
        # Still the current token: the swap lost a race (a cluster's certification) to a
        # write that did not rotate it. Plain 401, as for any lost race.
        raise NotAuthenticated("Refresh token already used")


async def rotate_session(
    uow: UnitOfWork,
    issuer: TokenIssuer,
    *,
    user_id: int,
    email: Email,
    session_id: str,
    session_expires_at: datetime,
    expected_hash: str,
    now: datetime,
) -> TokenPair | None:
    """Issues the session's next token pair and stores its refresh token by compare-and-swap
    on `expected_hash`. None if the swap failed: another rotation, a revocation or the
    session's end came first."""
    tokens = issuer.issue(
        user_id=user_id,
        email=email,
        session_id=session_id,
        now=now,
        session_expires_at=session_expires_at,
    )
    rotated = await uow.sessions.rotate(
        session_id,
        user_id=user_id,
        expected_hash=expected_hash,
        new_hash=refresh_token_digest(tokens.refresh_token),
        now=now,
    )
    return tokens if rotated else None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticateCommand:
    access_token: str

    def __repr__(self) -> str:
        return "AuthenticateCommand(...)"


class Authenticate:
    """Turns an access token into a principal, checking that its session is still active,
    so logout, revocation and account deletion take effect at once."""

    def __init__(self, uow: UnitOfWorkFactory, issuer: TokenIssuer, clock: Clock) -> None:
        self._uow = uow
        self._issuer = issuer
        self._clock = clock

    async def __call__(self, command: AuthenticateCommand) -> Principal:
        claims = self.read_token(command.access_token)
        async with self._uow() as uow:
            user = await uow.sessions.find_active_user(
                claims.session_id, claims.user_id, self._clock.now()
            )
        if user is None:
            raise NotAuthenticated("Session has ended")
        return Principal(user=user, session_id=claims.session_id)

    def read_token(self, access_token: str) -> AccessClaims:
        """The claims of a valid access token, its session not checked: for a use case that
        checks the session in the very statement that acts on it (UpdateProfile)."""
        return self._issuer.read_access_token(access_token)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogoutCommand:
    access_token: str | None = None
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return "LogoutCommand(...)"


class Logout:
    """Revokes the session of a valid access token or, once that has expired, of the
    session's current refresh token."""

    def __init__(
        self, uow: UnitOfWorkFactory, issuer: TokenIssuer, clock: Clock, authenticate: Authenticate
    ) -> None:
        self._uow = uow
        self._issuer = issuer
        self._clock = clock
        self._authenticate = authenticate

    async def __call__(self, command: LogoutCommand) -> None:
        session_id = await self._session_to_end(command)
        async with self._uow() as uow:
            await uow.sessions.revoke(session_id, self._clock.now())

    async def _session_to_end(self, command: LogoutCommand) -> str:
        if command.access_token:
            try:
                by_access_token = AuthenticateCommand(access_token=command.access_token)
                return (await self._authenticate(by_access_token)).session_id
            except NotAuthenticated:
                if not command.refresh_token:
                    raise
        if not command.refresh_token:
            raise NotAuthenticated
        claims = self._issuer.read_refresh_token(command.refresh_token)
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(claims.session_id)
        if (
            session is None
            or session.user_id != claims.user_id
            or not session.is_active(now)
            or session.judge_refresh(command.refresh_token, now, timedelta(0))
            is not RefreshVerdict.CURRENT
        ):
            raise NotAuthenticated("Session has ended")
        return session.id
