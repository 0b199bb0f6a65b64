"""Slowing down password guessing: failed logins per email, auth requests per client."""

from dataclasses import dataclass
from datetime import timedelta

from application.ports import RateLimiter, SecurityEvent, SecurityLog
from domain.errors import TooManyAttempts
from domain.users import Email


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottlePolicy:
    max_failures: int
    """Failed password checks allowed per email in `failure_window`."""
    failure_window: timedelta
    requests_per_client: int
    """Requests to the authentication endpoints allowed per client IP in `client_window`."""
    client_window: timedelta


class PasswordGuessThrottle:
    """Counts failed password checks per email, known or not, whatever IP they come from.

    While an email is throttled even the right password is refused, so a guesser learns
    nothing from the answer; a successful check clears the count."""

    def __init__(
        self, limiter: RateLimiter, policy: ThrottlePolicy, security_log: SecurityLog
    ) -> None:
        self._limiter = limiter
        self._policy = policy
        self._security_log = security_log

    async def check(self, email: Email, ip: str | None) -> None:
        retry_after = await self._limiter.blocked_for(
            self._key(email), limit=self._policy.max_failures, window=self._policy.failure_window
        )
        if retry_after is not None:
            self._security_log.record(
                SecurityEvent(name="login_throttled", ip=ip, reason="too many failures")
            )
            raise TooManyAttempts(retry_after)

    async def failed(self, email: Email) -> None:
        await self._limiter.consume(
            self._key(email), limit=self._policy.max_failures, window=self._policy.failure_window
        )

    async def succeeded(self, email: Email) -> None:
        await self._limiter.reset(self._key(email))

    @staticmethod
    def _key(email: Email) -> str:
        return f"password-failures:{email.value}"


class ThrottleClient:
    """Counts one request of a client to the authentication endpoints."""

    def __init__(
        self, limiter: RateLimiter, policy: ThrottlePolicy, security_log: SecurityLog
    ) -> None:
        self._limiter = limiter
        self._policy = policy
        self._security_log = security_log

    async def __call__(self, ip: str) -> None:
        retry_after = await self._limiter.consume(
            f"client:{ip}",
            limit=self._policy.requests_per_client,
            window=self._policy.client_window,
        )
        if retry_after is not None:
            self._security_log.record(
                SecurityEvent(name="client_throttled", ip=ip, reason="too many requests")
            )
            raise TooManyAttempts(retry_after)
