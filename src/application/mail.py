"""What the mailing use cases share: the policy (links, lifetimes, how many mails per address),
its limit, and queueing a message that carries a new single-use token."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.messages import Links, email_verification
from application.ports import EmailMessage, RateLimiter, UnitOfWork
from domain.email_tokens import EmailToken, EmailTokenPurpose, email_token_digest
from domain.errors import TooManyAttempts, ValidationFailed
from domain.users import Email, User


@dataclass(frozen=True, slots=True, kw_only=True)
class MailPolicy:
    links: Links
    password_reset_ttl: timedelta
    verification_ttl: timedelta
    """Of a link that verifies an address, or confirms a new one."""
    mails_per_key: int
    """Mails that may carry a token per address (resets) or per account (verifications,
    email changes) in `mail_window` (PASSWORD_RESET_RATE)."""
    mail_window: timedelta


class MailLimit:
    """Counts the token mails asked for under a key, and refuses those over MailPolicy's rate:
    nobody can make the service flood a mailbox."""

    def __init__(self, limiter: RateLimiter, policy: MailPolicy) -> None:
        self._limiter = limiter
        self._policy = policy

    async def count(self, key: str) -> None:
        """Raises TooManyAttempts (429) once `key` is over the limit."""
        retry_after = await self._limiter.consume(
            f"mail:{key}", limit=self._policy.mails_per_key, window=self._policy.mail_window
        )
        if retry_after is not None:
            raise TooManyAttempts(retry_after, "Too many mails asked for, try again later")


async def queue_token_mail(
    uow: UnitOfWork,
    *,
    purpose: EmailTokenPurpose,
    user: User,
    email: Email,
    now: datetime,
    ttl: timedelta,
    message: Callable[[str], EmailMessage],
) -> None:
    """Stores a new token for `email` (superseding the user's older ones of `purpose`) and
    queues `message(token)`. The caller holds a transaction: a token is never kept without its
    mail, nor the reverse."""
    token, stored = EmailToken.issue(
        purpose=purpose, user_id=user.id, email=email, now=now, ttl=ttl
    )
    await uow.email_tokens.add(stored)
    await uow.outbox.add(message(token), now=now)


async def queue_verification(
    uow: UnitOfWork, user: User, policy: MailPolicy, now: datetime
) -> None:
    """The mail that asks `user` to confirm their address. Inside the caller's transaction."""
    await queue_token_mail(
        uow,
        purpose=EmailTokenPurpose.EMAIL_VERIFICATION,
        user=user,
        email=user.email,
        now=now,
        ttl=policy.verification_ttl,
        message=lambda token: email_verification(
            user, token, policy.links, policy.verification_ttl
        ),
    )


def digest_of(token: str) -> str:
    """The stored digest of a token from a request; an empty token is no token."""
    if not token:
        raise invalid_token()
    return email_token_digest(token)


def invalid_token() -> ValidationFailed:
    """One answer for every token that cannot be used, whatever the reason."""
    return ValidationFailed.for_field(
        "token", "is unknown, already used, replaced by a newer one, or expired: ask for a new one"
    )
