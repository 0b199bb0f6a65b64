"""The account's email address: verifying it, and changing it for a new one that is verified
before it replaces the old."""

from dataclasses import dataclass

from application.mail import (
    MailLimit,
    MailPolicy,
    digest_of,
    invalid_token,
    queue_token_mail,
    queue_verification,
)
from application.messages import email_change, email_changed
from application.ports import Clock, SecurityEvent, SecurityLog, UnitOfWorkFactory
from application.throttling import PasswordCheck
from domain.email_tokens import EmailTokenPurpose
from domain.errors import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    UserNotFound,
    ValidationFailed,
)
from domain.users import Email, User, collect_field_errors

VERIFICATION = EmailTokenPurpose.EMAIL_VERIFICATION
CHANGE = EmailTokenPurpose.EMAIL_CHANGE


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyEmailCommand:
    token: str

    def __repr__(self) -> str:
        return "VerifyEmailCommand(...)"


class VerifyEmail:
    """Uses up a verification token and marks the address it was sent to verified, while the
    account still has that address (a token for an address since replaced verifies nothing)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, security_log: SecurityLog) -> None:
        self._uow = uow
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: VerifyEmailCommand) -> User:
        digest = digest_of(command.token)
        async with self._uow() as uow, uow.transaction():
            token = await uow.email_tokens.consume(digest, VERIFICATION, self._clock.now())
            if token is None:
                raise invalid_token()
            user = await uow.users.mark_email_verified(token.user_id, token.email)
            if user is None:
                raise invalid_token()
        self._security_log.record(SecurityEvent(name="email_verified", user_id=user.id))
        return user


@dataclass(frozen=True, slots=True, kw_only=True)
class ResendVerificationCommand:
    user_id: int


class ResendVerification:
    """Queues a new verification mail, superseding the older links, unless the address is
    verified already. Limited per account (PASSWORD_RESET_RATE)."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, policy: MailPolicy, mail_limit: MailLimit
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._mail_limit = mail_limit

    async def __call__(self, command: ResendVerificationCommand) -> bool:
        """Whether a mail was queued: False when the address needs none."""
        async with self._uow() as uow:
            user = await uow.users.get(command.user_id)
        if user is None:
            raise UserNotFound
        if user.email_verified:
            return False
        await self._mail_limit.count(f"verification:{user.id}")
        async with self._uow() as uow, uow.transaction():
            await queue_verification(uow, user, self._policy, self._clock.now())
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEmailChangeCommand:
    user_id: int
    password: str
    new_email: str
    session_id: str | None = None
    ip: str | None = None
    device_token: str | None = None

    def __repr__(self) -> str:
        return f"RequestEmailChangeCommand(user_id={self.user_id}, ip={self.ip!r}, ...)"


class RequestEmailChange:
    """- the current password must be right, as `PasswordCheck` checks it: guesses count
      against the same limit as logins and password changes;
    - the new address must differ from the current one and be nobody's;
    - a confirmation link goes to the new address, which becomes the account's only once it
      comes back (ConfirmEmailChange); mails are limited per account (PASSWORD_RESET_RATE)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        policy: MailPolicy,
        mail_limit: MailLimit,
        password_check: PasswordCheck,
        security_log: SecurityLog,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._mail_limit = mail_limit
        self._password_check = password_check
        self._security_log = security_log

    async def __call__(self, command: RequestEmailChangeCommand) -> None:
        new_email: Email = collect_field_errors(
            {"newEmail": lambda: Email.parse(command.new_email)}
        )["newEmail"]
        if not command.password:
            raise ValidationFailed.for_field("password", "must not be empty")
        async with self._uow() as uow:
            user = await uow.users.get(command.user_id)
        if user is None:
            raise UserNotFound
        if new_email == user.email:
            raise ValidationFailed.for_field("newEmail", "is already the account's email")
        if not await self._password_check.confirm(
            user, command.password, device_token=command.device_token, ip=command.ip
        ):
            self._security_log.record(
                SecurityEvent(
                    name="email_change_failed",
                    user_id=user.id,
                    session_id=command.session_id,
                    ip=command.ip,
                    reason="wrong password",
                )
            )
            raise InvalidCredentials("Password is incorrect")
        async with self._uow() as uow:
            if await uow.users.get_by_email(new_email) is not None:
                raise EmailAlreadyRegistered
        await self._mail_limit.count(f"email-change:{user.id}")
        now, ttl = self._clock.now(), self._policy.verification_ttl
        async with self._uow() as uow, uow.transaction():
            await queue_token_mail(
                uow,
                purpose=CHANGE,
                user=user,
                email=new_email,
                now=now,
                ttl=ttl,
                message=lambda token: email_change(user, new_email, token, self._policy.links, ttl),
            )
        self._security_log.record(
            SecurityEvent(
                name="email_change_requested",
                user_id=user.id,
                session_id=command.session_id,
                ip=command.ip,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmEmailChangeCommand:
    token: str
    ip: str | None = None

    def __repr__(self) -> str:
        return f"ConfirmEmailChangeCommand(ip={self.ip!r}, ...)"


class ConfirmEmailChange:
    """In one transaction: uses up the token, gives the account the new address (verified, as
    the token came back from it; 409 if someone registered it meanwhile, and the token is
    then left unused), ends every session of the user (their tokens name the old address)
    and queues a notice to the old address."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, security_log: SecurityLog) -> None:
        self._uow = uow
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: ConfirmEmailChangeCommand) -> User:
        digest = digest_of(command.token)
        now = self._clock.now()
        async with self._uow() as uow, uow.transaction():
            token = await uow.email_tokens.consume(digest, CHANGE, now)
            previous = None if token is None else await uow.users.get(token.user_id)
            if token is None or previous is None:
                raise invalid_token()
            user = await uow.users.change_email(previous.id, token.email)
            if user is None:
                raise invalid_token()
            revoked = await uow.sessions.revoke_all_for_user(user.id, now)
            await uow.outbox.add(email_changed(user, previous.email, now), now=now)
        self._security_log.record(
            SecurityEvent(
                name="email_changed",
                user_id=user.id,
                ip=command.ip,
                reason=f"{revoked} sessions revoked",
            )
        )
        return user
