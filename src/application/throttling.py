"""Slowing down password guessing: password checks per email (or per device that logged in
before), auth requests per client network."""

from dataclasses import dataclass
from datetime import timedelta
from ipaddress import IPv6Address, ip_address, ip_network

from application.ports import (
    Clock,
    DeviceTokens,
    PasswordHasher,
    RateLimiter,
    SecurityEvent,
    SecurityLog,
)
from domain.errors import TooManyAttempts
from domain.users import Email, User

IPV6_CLIENT_PREFIX = 64
"""An IPv6 host is handed a whole /64 (RFC 6177): its 2^64 addresses are one client."""
NO_ADDRESS = "no-address"
"""The key of clients without an address (a UNIX socket): they share one allowance."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottlePolicy:
    max_failures: int
    """Password checks that may fail per email (or device) in `failure_window`."""
    failure_window: timedelta
    requests_per_client: int
    """Requests to the authentication endpoints allowed per client in `client_window`."""
    client_window: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordAttempt:
    email: Email
    user: User | None
    """The user of `email`, or None when no one has registered it."""
    password: str
    device_token: str | None = None
    """The device cookie the client presented, if any."""
    ip: str | None = None

    def __repr__(self) -> str:
        return f"PasswordAttempt(email={self.email!r}, ip={self.ip!r})"


class AttemptCounter:
    """Counts attempts at a secret (a password, a one-time code) under a key, before each is
    checked, by an increment that refuses over the limit: concurrent guesses cannot exceed
    it, as of 20 at once with a limit of 5 at most 5 are checked and the rest get
    TooManyAttempts (429). Clearing the count after a success is the caller's."""

    def __init__(
        self, limiter: RateLimiter, policy: ThrottlePolicy, security_log: SecurityLog
    ) -> None:
        self._limiter = limiter
        self._policy = policy
        self._security_log = security_log

    async def count(self, key: str, *, ip: str | None, user_id: int | None = None) -> None:
        """Counts one attempt; raises TooManyAttempts instead when over the limit."""
        limit, window = self._policy.max_failures, self._policy.failure_window
        retry_after = await self._limiter.consume(key, limit=limit, window=window)
        if retry_after is not None:
            self._security_log.record(
                SecurityEvent(
                    name="login_throttled", user_id=user_id, ip=ip, reason="too many failures"
                )
            )
            raise TooManyAttempts(retry_after)

    async def clear(self, key: str) -> None:
        limit, window = self._policy.max_failures, self._policy.failure_window
        await self._limiter.reset(key, limit=limit, window=window)


class PasswordCheck:
    """Checks a password with the guessing limits around it: the one rule that login and
    password change share.

    - an attempt is counted before its password is verified, by an increment that refuses
      over the limit, so concurrent guesses cannot exceed it: of 20 at once with a limit of
      5, at most 5 are verified and the rest get TooManyAttempts (429);
    - the count is per email, known or not, whatever IP the attempts come from; while it is
      over the limit even the right password is refused, so a guesser learns nothing;
    - a client presenting a valid device token of this user (OWASP's device cookies) is
      counted on that device's own allowance instead, so a stranger's failures cannot lock
      the owner out of a browser that has logged in before;
    - an unknown email is verified against a dummy hash, taking the time of a real check;
    - a right password clears the count it was counted on."""

    def __init__(
        self,
        limiter: RateLimiter,
        policy: ThrottlePolicy,
        hasher: PasswordHasher,
        device_tokens: DeviceTokens,
        clock: Clock,
        security_log: SecurityLog,
    ) -> None:
        self._attempts = AttemptCounter(limiter, policy, security_log)
        self._hasher = hasher
        self._device_tokens = device_tokens
        self._clock = clock

    async def __call__(self, attempt: PasswordAttempt) -> bool:
        """Whether the password is the user's; raises TooManyAttempts instead when over the
        limit, and Overloaded, before counting anything, when the hashing queue is full."""
        self._hasher.check_room()
        key = self._counted_under(attempt)
        await self._attempts.count(key, ip=attempt.ip)
        if attempt.user is None:
            await self._hasher.verify_dummy(attempt.password)
            return False
        if not await self._hasher.verify(attempt.password, attempt.user.password_hash):
            return False
        await self._attempts.clear(key)
        return True

    async def confirm(
        self, user: User, password: str, *, device_token: str | None, ip: str | None
    ) -> bool:
        """Whether `password` is the signed-in `user`'s, counted as any attempt on their email:
        the re-authentication asked before a sensitive change."""
        return await self(
            PasswordAttempt(
                email=user.email, user=user, password=password, device_token=device_token, ip=ip
            )
        )

    async def clear_failures(self, email: Email) -> None:
        """Forgets the checks counted against `email` (a device's own allowance is left as it
        is): a password reset proves the mailbox's owner, whom a stranger's guesses must not
        keep out."""
        await self._attempts.clear(_email_key(email))

    def _counted_under(self, attempt: PasswordAttempt) -> str:
        email_key = _email_key(attempt.email)
        if attempt.device_token is None or attempt.user is None:
            return email_key
        device = self._device_tokens.read(attempt.device_token, self._clock.now())
        if device is None or (device.user_id, device.email) != (
            attempt.user.id,
            attempt.email.value,
        ):
            return email_key
        return f"{email_key}:device:{device.device_id}"


def _email_key(email: Email) -> str:
    return f"password-failures:{email.value}"


class ThrottleClient:
    """Counts one request of a client to the authentication endpoints.

    A client is its IPv4 address, or its IPv6 /64 network (an IPv4-mapped IPv6 address is the
    IPv4 client it maps). Clients with no address share one allowance rather than going
    unthrottled."""

    def __init__(
        self, limiter: RateLimiter, policy: ThrottlePolicy, security_log: SecurityLog
    ) -> None:
        self._limiter = limiter
        self._policy = policy
        self._security_log = security_log

    async def __call__(self, ip: str | None) -> None:
        retry_after = await self._limiter.consume(
            f"client:{client_key(ip)}",
            limit=self._policy.requests_per_client,
            window=self._policy.client_window,
        )
        if retry_after is not None:
            self._security_log.record(
                SecurityEvent(name="client_throttled", ip=ip, reason="too many requests")
            )
            raise TooManyAttempts(retry_after)


def client_key(ip: str | None) -> str:
    """What a client's requests are counted under: its IPv4 address or its IPv6 /64."""
    if ip is None:
        return NO_ADDRESS
    try:
        address = ip_address(ip)
    except ValueError:
        return ip  # not an address (a test client's name): counted as given
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)
