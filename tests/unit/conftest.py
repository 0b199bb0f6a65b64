from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from application.accounts import (
    ChangePassword,
    DeleteAccount,
    ListUsers,
    RegisterCommand,
    RegisterUser,
    UpdateProfile,
)
from application.authentication import (
    Authenticate,
    Login,
    LoginCommand,
    LoginResult,
    Logout,
    RefreshTokens,
    SessionPolicy,
)
from application.sessions import ListSessions, PurgeExpiredSessions, RevokeSession
from application.throttling import PasswordGuessThrottle, ThrottleClient, ThrottlePolicy
from domain.users import Email, PasswordPolicy, User
from infrastructure.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from infrastructure.ratelimit.memory import InMemoryRateLimiter
from tests.fakes import FakeHasher, FakeTokenIssuer, FixedClock, RecordingSecurityLog

PASSWORD = "correct horse battery"


@dataclass
class UseCases:
    """The use cases wired to in-memory adapters, with the adapters at hand for assertions."""

    store: InMemoryStore = field(default_factory=InMemoryStore)
    clock: FixedClock = field(default_factory=FixedClock)
    hasher: FakeHasher = field(default_factory=FakeHasher)
    issuer: FakeTokenIssuer = field(default_factory=FakeTokenIssuer)
    security_log: RecordingSecurityLog = field(default_factory=RecordingSecurityLog)
    session_policy: SessionPolicy = field(
        default_factory=lambda: SessionPolicy(
            max_lifetime=timedelta(days=30), reuse_grace=timedelta(seconds=10)
        )
    )

    throttle_policy: ThrottlePolicy = field(
        default_factory=lambda: ThrottlePolicy(
            max_failures=5,
            failure_window=timedelta(minutes=15),
            requests_per_client=100,
            client_window=timedelta(minutes=1),
        )
    )
    password_policy: PasswordPolicy = field(
        default_factory=lambda: PasswordPolicy(
            min_length=8, common_passwords=frozenset({"password123"})
        )
    )

    def __post_init__(self) -> None:
        self.limiter = InMemoryRateLimiter(now=lambda: self.clock.now().timestamp())

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    @property
    def password_throttle(self) -> PasswordGuessThrottle:
        return PasswordGuessThrottle(self.limiter, self.throttle_policy, self.security_log)

    @property
    def throttle_client(self) -> ThrottleClient:
        return ThrottleClient(self.limiter, self.throttle_policy, self.security_log)

    @property
    def register(self) -> RegisterUser:
        return RegisterUser(self.uow, self.hasher, self.password_policy, self.clock)

    @property
    def login(self) -> Login:
        return Login(
            self.uow,
            self.hasher,
            self.issuer,
            self.clock,
            self.session_policy,
            self.password_throttle,
            self.security_log,
        )

    @property
    def refresh(self) -> RefreshTokens:
        return RefreshTokens(
            self.uow, self.issuer, self.clock, self.session_policy, self.security_log
        )

    @property
    def authenticate(self) -> Authenticate:
        return Authenticate(self.uow, self.issuer, self.clock)

    @property
    def logout(self) -> Logout:
        return Logout(self.uow, self.issuer, self.clock, self.authenticate)

    @property
    def update_profile(self) -> UpdateProfile:
        return UpdateProfile(self.uow, self.clock)

    @property
    def delete_account(self) -> DeleteAccount:
        return DeleteAccount(self.uow, self.security_log)

    @property
    def list_users(self) -> ListUsers:
        return ListUsers(self.uow)

    @property
    def change_password(self) -> ChangePassword:
        return ChangePassword(
            self.uow,
            self.hasher,
            self.password_policy,
            self.issuer,
            self.clock,
            self.password_throttle,
            self.security_log,
        )

    @property
    def list_sessions(self) -> ListSessions:
        return ListSessions(self.uow, self.clock)

    @property
    def revoke_session(self) -> RevokeSession:
        return RevokeSession(self.uow, self.clock, self.security_log)

    @property
    def purge_expired_sessions(self) -> PurgeExpiredSessions:
        return PurgeExpiredSessions(self.uow, self.clock)

    async def make_user(self, email: str = "ada@example.com", name: str = "Ada") -> User:
        return await self.register(RegisterCommand(name=name, email=email, password=PASSWORD))

    async def make_login(self, email: str = "ada@example.com") -> LoginResult:
        async with self.uow() as uow:
            known = await uow.users.get_by_email(Email.parse(email))
        if known is None:
            await self.make_user(email)
        return await self.login(LoginCommand(email=email, password=PASSWORD, ip="192.0.2.1"))


@pytest.fixture
def use_cases() -> UseCases:
    return UseCases()
