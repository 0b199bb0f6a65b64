"""Getting back into an account whose password is forgotten: a reset link by mail, then a new
password set with its token."""

from dataclasses import dataclass

from application.accounts import refuse_breached
from application.mail import MailLimit, MailPolicy, digest_of, invalid_token, queue_token_mail
from application.messages import password_changed, password_reset
from application.ports import (
    Clock,
    PasswordBreachCheck,
    PasswordHasher,
    SecurityEvent,
    SecurityLog,
    UnitOfWorkFactory,
)
from application.throttling import PasswordCheck
from domain.email_tokens import EmailTokenPurpose
from domain.users import Email, PasswordPolicy, User, collect_field_errors

RESET = EmailTokenPurpose.PASSWORD_RESET


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgotPasswordCommand:
    email: str
    ip: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingReset:
    """A reset asked for and admitted, its mail still to be queued."""

    user: User | None
    """The account of the email, or None: then nothing is written."""
    ip: str | None = None


class RequestPasswordReset:
    """- the caller learns nothing of whether the email has an account: the same answer
      either way, and `check`, all a caller must wait for, makes the same steps for both
      (the lookup by email is one indexed read, hit or miss);
    - reset mails are limited per address, known or not (PASSWORD_RESET_RATE);
    - an unknown email writes nothing; a known one gets a new token, which supersedes its
      older ones, and the mail carrying it, in one transaction. Nothing waits on SMTP: the
      outbox delivers it.

    A worker calls it whole; the HTTP handler answers after `check` and runs `queue` after
    the response is sent, so the account's writes cannot show in the response time, while an
    unreachable database still answers 503."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        policy: MailPolicy,
        mail_limit: MailLimit,
        security_log: SecurityLog,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._mail_limit = mail_limit
        self._security_log = security_log

    async def __call__(self, command: ForgotPasswordCommand) -> None:
        await self.queue(await self.check(command))

    async def check(self, command: ForgotPasswordCommand) -> PendingReset:
        """The email valid, within its limit, and looked up."""
        email: Email = collect_field_errors({"email": lambda: Email.parse(command.email)})["email"]
        await self._mail_limit.count(f"password-reset:{email.value}")
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
        return PendingReset(user=user, ip=command.ip)

    async def queue(self, pending: PendingReset) -> None:
        """The reset mail for the account, if there is one."""
        user = pending.user
        if user is not None:
            now, ttl = self._clock.now(), self._policy.password_reset_ttl
            async with self._uow() as uow, uow.transaction():
                await queue_token_mail(
                    uow,
                    purpose=RESET,
                    user=user,
                    email=user.email,
                    now=now,
                    ttl=ttl,
                    message=lambda token: password_reset(user, token, self._policy.links, ttl),
                )
        self._security_log.record(
            SecurityEvent(
                name="password_reset_requested",
                user_id=None if user is None else user.id,
                ip=pending.ip,
                reason="unknown email; nothing sent" if user is None else None,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetPasswordCommand:
    token: str
    new_password: str
    ip: str | None = None

    def __repr__(self) -> str:
        return f"ResetPasswordCommand(ip={self.ip!r}, ...)"


class ResetPassword:
    """- the token must be a password reset's, unused, not superseded, not expired, and sent
      to the address the account still has; the new password follows the policy and is not
      known from a data breach;
    - the token is looked up before the password is hashed, so a bad one costs no hash;
    - in one transaction: the token is used up (of two resets with one token exactly one
      wins), the password set, the address marked verified (the mail reached it), every
      session of the user ended, and a "password changed" notice queued;
    - then the failed password checks counted against the email are forgotten, so the owner
      is not kept out by a stranger's guesses."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        clock: Clock,
        password_check: PasswordCheck,
        security_log: SecurityLog,
        breach_check: PasswordBreachCheck,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self._password_check = password_check
        self._security_log = security_log
        self._breach_check = breach_check

    async def __call__(self, command: ResetPasswordCommand) -> None:
        new_password = collect_field_errors(
            {"newPassword": lambda: self._policy.check(command.new_password)}
        )["newPassword"]
        digest = digest_of(command.token)
        async with self._uow() as uow:
            token = await uow.email_tokens.find(digest, RESET, self._clock.now())
            user = None if token is None else await uow.users.get(token.user_id)
        if token is None or user is None or user.email != token.email:
            raise invalid_token()
        await refuse_breached(self._breach_check, new_password, field="newPassword")
        new_hash = await self._hasher.hash(new_password)

        now = self._clock.now()
        async with self._uow() as uow, uow.transaction():
            if await uow.email_tokens.consume(digest, RESET, now) is None:
                raise invalid_token()
            if not await uow.users.set_password_hash(user.id, new_hash):
                raise invalid_token()
            # Conditional on the address the link was sent to: an email change since the
            # lookup above voids the link, and undoes the writes before it.
            if await uow.users.mark_email_verified(user.id, token.email) is None:
                raise invalid_token()
            revoked = await uow.sessions.revoke_all_for_user(user.id, now)
            await uow.outbox.add(password_changed(user, now), now=now)
        await self._password_check.clear_failures(user.email)
        self._security_log.record(
            SecurityEvent(
                name="password_reset",
                user_id=user.id,
                ip=command.ip,
                reason=f"{revoked} sessions revoked",
            )
        )
