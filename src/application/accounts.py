"""Account use cases: register, update the profile, delete the account."""

from dataclasses import dataclass

from application.ports import Clock, PasswordHasher, SecurityEvent, SecurityLog, UnitOfWorkFactory
from domain.errors import EmailAlreadyRegistered, UserNotFound
from domain.users import (
    UNSET,
    Email,
    NewUser,
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


class RegisterUser:
    """- name, email and password are checked together and every invalid field is reported;
    - the email is normalized, so one address registers once whatever its case;
    - the password is hashed with the configured algorithm, outside any transaction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._policy = policy
        self._clock = clock

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
        password_hash = await self._hasher.hash(fields["password"])
        async with self._uow() as uow:
            user = await uow.users.add(
                NewUser(
                    name=fields["name"],
                    email=fields["email"],
                    password_hash=password_hash,
                    created_at=self._clock.now(),
                )
            )
            await uow.commit()
        return user


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateProfileCommand:
    user_id: int
    name: str | Unset = UNSET
    bio: str | Unset | None = UNSET
    contact: str | Unset | None = UNSET


class UpdateProfile:
    """Changes only the fields given (name, bio, contact); at least one is required.
    `None` clears bio or contact; a name cannot be cleared."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, command: UpdateProfileCommand) -> User:
        changes = ProfileChanges.parse(name=command.name, bio=command.bio, contact=command.contact)
        async with self._uow() as uow:
            user = await uow.users.update_profile(command.user_id, changes)
            if user is None:
                raise UserNotFound
            await uow.commit()
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
            await uow.commit()
        self._security_log.record(
            SecurityEvent(
                name="account_deleted",
                user_id=command.user_id,
                session_id=command.session_id,
                ip=command.ip,
            )
        )
