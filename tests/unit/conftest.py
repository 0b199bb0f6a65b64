from dataclasses import dataclass, fields
from datetime import timedelta

import pytest
from dependency_injector import containers, providers

from application.accounts import RegisterCommand
from application.authentication import LoginCommand, LoginResult, SessionPolicy
from application.mail import MailPolicy
from application.mail_delivery import DeliveryPolicy
from application.messages import Links
from application.ports import EmailMessage
from application.throttling import ThrottlePolicy
from domain.users import Email, PasswordPolicy, User
from infrastructure.container import Services, UseCases, resolve
from infrastructure.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from infrastructure.ratelimit.fixed_window import FixedWindowLimiter
from infrastructure.ratelimit.memory import InMemoryStorage
from infrastructure.security.device_tokens import JwtDeviceTokens
from infrastructure.security.mfa_tokens import JwtMfaTokens
from infrastructure.security.secret_box import AesGcmSecretBox
from infrastructure.security.totp import PyotpTotp, SegnoQrCodes
from tests.fakes import (
    FakeHasher,
    FakeTokenIssuer,
    FixedClock,
    KnownBreaches,
    RecordingMailer,
    RecordingSecurityLog,
)

PASSWORD = "correct horse battery"
DATA_KEY = "q5tJkVtq0lY4bG7xLBW2n6uQH3rZcXyA1sDfEgTjKmo"
OLD_DATA_KEY = "Zr3hX0pW9c2nVb7QmLk4tYs1uJd8fGa6eHo5iTq2wRy"
BREACHED_PASSWORD = "P@ssw0rd-of-a-breach"


class FakeAdapters(containers.DeclarativeContainer):
    """What the use cases run over in a unit test: memory for the database, and fakes for the
    ports whose real adapters are slow or time-bound."""

    store = providers.Singleton(InMemoryStore)
    uow = providers.Factory(InMemoryUnitOfWork, store).provider
    clock = providers.Singleton(FixedClock)
    rate_limiter = providers.Singleton(
        FixedWindowLimiter, providers.Singleton(InMemoryStorage, clock), clock
    )
    device_tokens = providers.Singleton(
        JwtDeviceTokens,
        secret="a device token secret of 32 bytes or more",
        ttl=timedelta(days=90),
        issuer="authsvc",
        audience="authsvc",
    )
    mfa_tokens = providers.Singleton(
        JwtMfaTokens,
        secret="an mfa token secret of 32 bytes or more",
        issuer="authsvc",
        audience="authsvc",
    )
    secret_box = providers.Singleton(AesGcmSecretBox, (DATA_KEY, OLD_DATA_KEY))
    totp = providers.Singleton(PyotpTotp, issuer="authsvc")
    qr_codes = providers.Singleton(SegnoQrCodes)
    hasher = providers.Singleton(FakeHasher)
    token_issuer = providers.Singleton(FakeTokenIssuer, clock)
    security_log = providers.Singleton(RecordingSecurityLog)
    mailer = providers.Singleton(RecordingMailer)
    password_breach_check = providers.Singleton(KnownBreaches, frozenset({BREACHED_PASSWORD}))
    password_policy = providers.Singleton(
        PasswordPolicy, min_length=8, common_passwords=frozenset({"password123"})
    )
    session_policy = providers.Singleton(
        SessionPolicy, max_lifetime=timedelta(days=30), reuse_grace=timedelta(seconds=10)
    )
    throttle_policy = providers.Singleton(
        ThrottlePolicy,
        max_failures=5,
        failure_window=timedelta(minutes=15),
        requests_per_client=100,
        client_window=timedelta(minutes=1),
    )
    mail_policy = providers.Singleton(
        MailPolicy,
        links=Links(app_url="https://app.example.com"),
        password_reset_ttl=timedelta(minutes=30),
        verification_ttl=timedelta(hours=24),
        mails_per_key=3,
        mail_window=timedelta(hours=1),
    )
    require_verified_email = providers.Object(False)
    mail_delivery_policy = providers.Singleton(DeliveryPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class UseCasesOnFakes(Services):
    """The use cases as the service builds them, over `FakeAdapters`, with the fakes at hand
    for assertions."""

    store: InMemoryStore
    clock: FixedClock
    hasher: FakeHasher
    security_log: RecordingSecurityLog
    session_policy: SessionPolicy

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    async def make_user(self, email: str = "ada@example.com", name: str = "Ada") -> User:
        return await self.register_user(RegisterCommand(name=name, email=email, password=PASSWORD))

    def take_mails(self) -> list[EmailMessage]:
        """The messages queued since the last call, oldest first, as a deliverer takes them."""
        return [self.store.outbox.pop(key).message for key in sorted(self.store.outbox)]

    async def make_login(self, email: str = "ada@example.com") -> LoginResult:
        async with self.uow() as uow:
            known = await uow.users.get_by_email(Email.parse(email))
        if known is None:
            await self.make_user(email)
        return await self.login(LoginCommand(email=email, password=PASSWORD, ip="192.0.2.1"))


@pytest.fixture
async def use_cases() -> UseCasesOnFakes:
    return await use_cases_on(FakeAdapters())


async def use_cases_on(adapters: FakeAdapters) -> UseCasesOnFakes:
    """The use cases over `adapters`, for a test that overrides some of them first."""
    services = await resolve(UseCases(adapters=adapters))
    return UseCasesOnFakes(
        **{field.name: getattr(services, field.name) for field in fields(Services)},
        store=adapters.store(),
        clock=adapters.clock(),
        hasher=adapters.hasher(),
        security_log=adapters.security_log(),
        session_policy=adapters.session_policy(),
    )
