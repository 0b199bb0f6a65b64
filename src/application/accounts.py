"""Account use cases: register, update the profile, change the password, delete the account,
and list the accounts for administrators."""

from dataclasses import dataclass
from typing import Final

from application.authentication import rotate_session
from application.mail import MailPolicy, queue_verification
from application.messages import password_changed
from application.ports import (
    Clock,
    PasswordBreachCheck,
    PasswordHasher,
    SecurityEvent,
    SecurityLog,
    TokenIssuer,
    TokenPair,
    UnitOfWorkFactory,
)
from application.throttling import PasswordCheck
from domain.errors import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    NotAuthenticated,
    UserNotFound,
    ValidationFailed,
)
from domain.users import (
    UNSET,
    Email,
    NewUser,
    Password,
    PasswordPolicy,
    ProfileChanges,
    Unset,
    User,
    collect_field_errors,
    parse_name,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterCommand:
    name: str
    email: str
    password: str


async def refuse_breached(
    breach_check: PasswordBreachCheck, password: Password, *, field: str
) -> None:
    """Raises ValidationFailed for `field` if `password` is known from a data breach."""
    if await breach_check.is_breached(password):
        raise ValidationFailed.for_field(
            field, "appears in a known data breach, so attackers try it first: choose another"
        )


class RegisterUser:
    """- name, email and password are checked together and every invalid field is reported;
    - the email is normalized, so one address registers once whatever its case;
    - a password known from a data breach is refused (when a breach check is configured);
    - the password is hashed with the configured algorithm, outside any transaction;
    - the user starts unverified, and a mail asking to confirm the address is queued in the
      transaction that adds them."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        clock: Clock,
        breach_check: PasswordBreachCheck,
        mail_policy: MailPolicy,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self._breach_check = breach_check
        self._mail_policy = mail_policy

    async def __call__(self, command: RegisterCommand) -> User:
        fields = collect_field_errors(
            {
                "name": lambda: parse_name(command.name),
                "email": lambda: Email.parse(command.email),
                "password": lambda: self._policy.check(command.password),
            }
        )
        async with self._uow() as uow:
            if await uow.users.get_by_email(fields["email"]) is not None:
                raise EmailAlreadyRegistered
        await refuse_breached(self._breach_check, fields["password"], field="password")
        password_hash = await self._hasher.hash(fields["password"])
        now = self._clock.now()
        async with self._uow() as uow, uow.transaction():
            user = await uow.users.add(
                NewUser(
                    name=fields["name"],
                    email=fields["email"],
                    password_hash=password_hash,
                    created_at=now,
                )
            )
            await queue_verification(uow, user, self._mail_policy, now)
        return user


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateProfileCommand:
    user_id: int
    session_id: str
    name: str | Unset = UNSET
    bio: str | Unset | None = UNSET
    contact: str | Unset | None = UNSET


class UpdateProfile:
    """Changes only the fields given (name, bio, contact); at least one is required.
    `None` clears bio or contact; a name cannot be cleared.

    The caller's session is checked by the write itself rather than before it: the request
    needs one statement fewer, and no change lands once the session has ended."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, command: UpdateProfileCommand) -> User:
        changes = ProfileChanges.parse(name=command.name, bio=command.bio, contact=command.contact)
        async with self._uow() as uow:
            user = await uow.users.update_profile(
                command.user_id, changes, session_id=command.session_id, now=self._clock.now()
            )
        if user is None:
            raise NotAuthenticated("Session has ended")
        return user


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAccountCommand:
    user_id: int
    session_id: str | None = None
    ip: str | None = None


class DeleteAccount:
    """Deletes the user and every session of theirs, so all their tokens stop working at once."""

    def __init__(self, uow: UnitOfWorkFactory, security_log: SecurityLog) -> None:
        self._uow = uow
        self._security_log = security_log

    async def __call__(self, command: DeleteAccountCommand) -> None:
        async with self._uow() as uow:
            if not await uow.users.delete(command.user_id):
                raise UserNotFound
        self._security_log.record(
            SecurityEvent(
                name="account_deleted",
                user_id=command.user_id,
                session_id=command.session_id,
                ip=command.ip,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangePasswordCommand:
    user_id: int
    session_id: str
    current_password: str
    new_password: str
    ip: str | None = None
    device_token: str | None = None
    """The device cookie of an earlier login, if the client has one."""

    def __repr__(self) -> str:
        return f"ChangePasswordCommand(user_id={self.user_id}, session_id={self.session_id!r})"


class ChangePassword:
    """- the current password must be right, as `PasswordCheck` checks it: guesses count
      against the same limit as logins;
    - the new password follows the policy, differs from the current one and is not known from
      a data breach;
    - every other session of the user is revoked; the caller's goes on with a fresh token
      pair, and its previous refresh token stops working;
    - a "password changed" notice is queued with the change, in one transaction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        issuer: TokenIssuer,
        clock: Clock,
        password_check: PasswordCheck,
        security_log: SecurityLog,
        breach_check: PasswordBreachCheck,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._policy = policy
        self._issuer = issuer
        self._clock = clock
        self._password_check = password_check
        self._security_log = security_log
        self._breach_check = breach_check

    async def __call__(self, command: ChangePasswordCommand) -> TokenPair:
        new_password = collect_field_errors(
            {"newPassword": lambda: self._policy.check(command.new_password)}
        )["newPassword"]
        if new_password.value == command.current_password:
            raise ValidationFailed.for_field("newPassword", "must differ from the current password")
        await refuse_breached(self._breach_check, new_password, field="newPassword")
        async with self._uow() as uow:
            user = await uow.users.get(command.user_id)
        if user is None:
            raise UserNotFound
        if not await self._password_check.confirm(
            user, command.current_password, device_token=command.device_token, ip=command.ip
        ):
            self._security_log.record(
                SecurityEvent(
                    name="password_change_failed",
                    user_id=user.id,
                    session_id=command.session_id,
                    ip=command.ip,
                    reason="wrong current password",
                )
            )
            raise InvalidCredentials("Current password is incorrect")
        new_hash = await self._hasher.hash(new_password)

        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(command.session_id)
            if session is None or not session.is_active(now):
                raise NotAuthenticated("Session has ended")
            async with uow.transaction():
                tokens = await rotate_session(
                    uow,
                    self._issuer,
                    user_id=user.id,
                    email=user.email,
                    session_id=session.id,
                    session_expires_at=session.expires_at,
                    expected_hash=session.refresh_token_hash,
                    now=now,
                )
                if tokens is None:
                    raise NotAuthenticated("Session has ended")
                await uow.users.set_password_hash(user.id, new_hash)
                revoked = await uow.sessions.revoke_all_for_user(user.id, now, keep=session.id)
                await uow.outbox.add(password_changed(user, now), now=now)
        self._security_log.record(
            SecurityEvent(
                name="password_changed",
                user_id=user.id,
                session_id=session.id,
                ip=command.ip,
                reason=f"{revoked} other sessions revoked",
            )
        )
        return tokens


MAX_USERS_PER_PAGE: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsersQuery:
    after_id: int = 0
    """The last id of the previous page; 0 for the first page."""
    limit: int = 100


class ListUsers:
    """A page of users in id order, for administrators.

    - a page starts after the last id seen rather than at an offset, so paging through users
      who register or leave meanwhile neither skips nor repeats anyone;
    - a page holds 1 to 1000 users."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, query: ListUsersQuery) -> list[User]:
        if not 1 <= query.limit <= MAX_USERS_PER_PAGE:
            raise ValidationFailed.for_field("limit", f"must be 1 to {MAX_USERS_PER_PAGE}")
        if query.after_id < 0:
            raise ValidationFailed.for_field("after", "must be 0 or more")
        async with self._uow() as uow:
            return await uow.users.list(query.after_id, query.limit)
