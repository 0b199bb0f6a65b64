"""The composition root: adapters built from the settings, and the use cases built over them.

`Adapters` and `UseCases` are two containers, the second handed the first through a
`DependenciesContainer`: the HTTP app, the CLI and workers build `Container(settings=...)`,
and a test builds `UseCases(adapters=...)` over adapters of its own (memory, a fixed clock, a
fast hasher), so that everyone runs the same use cases. `running(container)` opens the
resources (the database, the rate limiter's Redis client), resolves every use case once into
`Services`, and closes the resources on leaving; `delivering_mail(...)` runs the mail delivery
loop beside them."""

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Final, TypeVar

from dependency_injector import containers, providers

from application.accounts import (
    ChangePassword,
    DeleteAccount,
    ListUsers,
    RegisterUser,
    UpdateProfile,
)
from application.addresses import (
    ConfirmEmailChange,
    RequestEmailChange,
    ResendVerification,
    VerifyEmail,
)
from application.authentication import (
    Authenticate,
    Login,
    Logout,
    RefreshTokens,
    SessionPolicy,
    StartSession,
)
from application.mail import MailLimit, MailPolicy
from application.mail_delivery import DeliverMail, DeliveryPolicy, MailDeliveryLoop
from application.messages import Links
from application.ports import Clock, Mailer, PasswordBreachCheck, RateLimiter
from application.recovery import RequestPasswordReset, ResetPassword
from application.second_factor import (
    CodeCheck,
    CompleteMfaLogin,
    ConfirmTotp,
    DisableTotp,
    GetSecondFactorStatus,
    RegenerateRecoveryCodes,
    ResetSecondFactor,
    SetUpTotp,
)
from application.sessions import ListSessions, PurgeExpiredSessions, RevokeSession
from application.throttling import AttemptCounter, PasswordCheck, ThrottleClient, ThrottlePolicy
from domain.users import BCRYPT_MAX_PASSWORD_BYTES, PasswordPolicy
from infrastructure.mail.directory import DirectoryMailer
from infrastructure.mail.smtp import SmtpMailer
from infrastructure.persistence.database import Database, open_database
from infrastructure.persistence.health import DatabaseProbe
from infrastructure.ratelimit.fixed_window import FixedWindowLimiter
from infrastructure.ratelimit.memory import InMemoryStorage
from infrastructure.ratelimit.redis import redis_storage
from infrastructure.security.breached_passwords import NoBreachCheck, PwnedPasswordsCheck
from infrastructure.security.clock import SystemClock
from infrastructure.security.common_passwords import load_common_passwords
from infrastructure.security.device_tokens import JwtDeviceTokens
from infrastructure.security.events import LoggingSecurityLog
from infrastructure.security.hashers import ThreadedPasswordHasher
from infrastructure.security.mfa_tokens import JwtMfaTokens
from infrastructure.security.secret_box import AesGcmSecretBox
from infrastructure.security.tokens import JwtTokenIssuer
from infrastructure.security.totp import PyotpTotp, SegnoQrCodes
from infrastructure.settings import Settings

T = TypeVar("T")

MAIL_SHUTDOWN_GRACE: Final = timedelta(seconds=5)
"""How long a stopping service waits for a mail being sent; one still sending after it is
abandoned, and sent again once its lease ends."""


def password_policy(settings: Settings) -> PasswordPolicy:
    """bcrypt cannot take more than 72 bytes; argon2id has no such limit."""
    return PasswordPolicy(
        min_length=settings.password_min_length,
        max_bytes=BCRYPT_MAX_PASSWORD_BYTES if settings.password_hasher == "bcrypt" else None,
        common_passwords=load_common_passwords(),
    )


def mail_policy(settings: Settings) -> MailPolicy:
    return MailPolicy(
        links=Links(app_url=settings.app_url),
        password_reset_ttl=settings.password_reset_ttl,
        verification_ttl=settings.email_verification_ttl,
        mails_per_key=settings.password_reset_rate.requests,
        mail_window=settings.password_reset_rate.period,
    )


async def database(settings: Settings) -> AsyncIterator[Database]:
    database = open_database(
        settings.database_url, timeout_seconds=settings.database_timeout_seconds
    )
    try:
        yield database
    finally:
        await database.close()


async def rate_limiter(settings: Settings, clock: Clock) -> AsyncIterator[RateLimiter]:
    """Redis when configured, so that every instance shares the counts; else this process."""
    url = settings.redis_storage_url
    if url is None:
        yield FixedWindowLimiter(InMemoryStorage(clock), clock)
        return
    async with redis_storage(url, key_prefix=settings.redis_key_prefix) as storage:
        yield FixedWindowLimiter(storage, clock)


async def password_breach_check(settings: Settings) -> AsyncIterator[PasswordBreachCheck]:
    """The range service when PWNED_PASSWORDS_URL is set, else no check."""
    if not settings.pwned_passwords_url:
        yield NoBreachCheck()
        return
    check = PwnedPasswordsCheck(settings.pwned_passwords_url)
    try:
        yield check
    finally:
        await check.aclose()


def mailer(settings: Settings) -> Mailer:
    """SMTP when configured; else files under MAIL_DIR, so the service needs no mail server."""
    if settings.smtp_host is None:
        return DirectoryMailer(settings.mail_dir, sender=settings.mail_from)
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        tls=settings.smtp_tls,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
    )


class Adapters(containers.DeclarativeContainer):
    """The ports' implementations and the policies, as the settings choose them."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    database = providers.Resource(database, settings)
    uow = database.provided.unit_of_work
    database_probe = providers.Singleton(DatabaseProbe, database)
    rate_limiter = providers.Resource(rate_limiter, settings, clock)
    password_breach_check = providers.Resource(password_breach_check, settings)
    mailer = providers.Singleton(mailer, settings)
    hasher = providers.Singleton(
        ThreadedPasswordHasher,
        algorithm=settings.provided.password_hasher,
        bcrypt_rounds=settings.provided.bcrypt_rounds,
        queue_limit=settings.provided.hash_queue_limit,
    )
    token_issuer = providers.Singleton(
        JwtTokenIssuer,
        access_secret=settings.provided.access_token_secret,
        refresh_secret=settings.provided.refresh_token_secret,
        access_ttl=settings.provided.access_token_expiry,
        refresh_ttl=settings.provided.refresh_token_expiry,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
        clock=clock,
    )
    device_tokens = providers.Singleton(
        JwtDeviceTokens,
        secret=settings.provided.refresh_token_secret,
        ttl=settings.provided.device_token_expiry,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
    )
    mfa_tokens = providers.Singleton(
        JwtMfaTokens,
        secret=settings.provided.access_token_secret,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
    )
    secret_box = providers.Singleton(AesGcmSecretBox, settings.provided.data_encryption_keys)
    # The name an authenticator app lists the account under, beside the email.
    totp = providers.Singleton(PyotpTotp, issuer=settings.provided.jwt_issuer)
    qr_codes = providers.Singleton(SegnoQrCodes)
    security_log = providers.Singleton(LoggingSecurityLog)
    password_policy = providers.Singleton(password_policy, settings)
    session_policy = providers.Singleton(
        SessionPolicy,
        max_lifetime=settings.provided.session_max_lifetime,
        reuse_grace=settings.provided.refresh_reuse_grace,
    )
    throttle_policy = providers.Singleton(
        ThrottlePolicy,
        max_failures=settings.provided.login_max_failures,
        failure_window=settings.provided.login_failure_window,
        requests_per_client=settings.provided.auth_rate_limit.requests,
        client_window=settings.provided.auth_rate_limit.period,
    )
    mail_policy = providers.Singleton(mail_policy, settings)
    require_verified_email = settings.provided.require_email_verification
    mail_delivery_policy = providers.Singleton(
        DeliveryPolicy, max_attempts=settings.provided.mail_max_attempts
    )


class UseCases(containers.DeclarativeContainer):
    """Every use case, over whichever adapters it is handed."""

    adapters = providers.DependenciesContainer()

    password_check = providers.Singleton(
        PasswordCheck,
        adapters.rate_limiter,
        adapters.throttle_policy,
        adapters.hasher,
        adapters.device_tokens,
        adapters.clock,
        adapters.security_log,
    )
    mail_limit = providers.Singleton(MailLimit, adapters.rate_limiter, adapters.mail_policy)
    register_user = providers.Singleton(
        RegisterUser,
        adapters.uow,
        adapters.hasher,
        adapters.password_policy,
        adapters.clock,
        adapters.password_breach_check,
        adapters.mail_policy,
    )
    attempt_counter = providers.Singleton(
        AttemptCounter, adapters.rate_limiter, adapters.throttle_policy, adapters.security_log
    )
    code_check = providers.Singleton(
        CodeCheck, attempt_counter, adapters.totp, adapters.secret_box, adapters.clock
    )
    start_session = providers.Singleton(
        StartSession, adapters.token_issuer, adapters.session_policy, adapters.device_tokens
    )
    login = providers.Singleton(
        Login,
        adapters.uow,
        adapters.hasher,
        adapters.clock,
        password_check,
        adapters.security_log,
        adapters.require_verified_email,
        start_session,
        adapters.mfa_tokens,
    )
    complete_mfa_login = providers.Singleton(
        CompleteMfaLogin,
        adapters.uow,
        adapters.mfa_tokens,
        code_check,
        start_session,
        adapters.clock,
        adapters.security_log,
    )
    second_factor_status = providers.Singleton(GetSecondFactorStatus, adapters.uow)
    set_up_totp = providers.Singleton(
        SetUpTotp,
        adapters.uow,
        password_check,
        adapters.totp,
        adapters.qr_codes,
        adapters.secret_box,
    )
    confirm_totp = providers.Singleton(
        ConfirmTotp,
        adapters.uow,
        attempt_counter,
        adapters.totp,
        adapters.secret_box,
        adapters.clock,
        adapters.security_log,
    )
    disable_totp = providers.Singleton(
        DisableTotp,
        adapters.uow,
        password_check,
        code_check,
        adapters.clock,
        adapters.security_log,
    )
    regenerate_recovery_codes = providers.Singleton(
        RegenerateRecoveryCodes, adapters.uow, code_check
    )
    reset_second_factor = providers.Singleton(
        ResetSecondFactor, adapters.uow, adapters.clock, adapters.security_log
    )
    refresh_tokens = providers.Singleton(
        RefreshTokens,
        adapters.uow,
        adapters.token_issuer,
        adapters.clock,
        adapters.session_policy,
        adapters.security_log,
    )
    authenticate = providers.Singleton(
        Authenticate, adapters.uow, adapters.token_issuer, adapters.clock
    )
    logout = providers.Singleton(
        Logout, adapters.uow, adapters.token_issuer, adapters.clock, authenticate
    )
    update_profile = providers.Singleton(UpdateProfile, adapters.uow, adapters.clock)
    change_password = providers.Singleton(
        ChangePassword,
        adapters.uow,
        adapters.hasher,
        adapters.password_policy,
        adapters.token_issuer,
        adapters.clock,
        password_check,
        adapters.security_log,
        adapters.password_breach_check,
    )
    delete_account = providers.Singleton(DeleteAccount, adapters.uow, adapters.security_log)
    list_users = providers.Singleton(ListUsers, adapters.uow)
    list_sessions = providers.Singleton(ListSessions, adapters.uow, adapters.clock)
    revoke_session = providers.Singleton(
        RevokeSession, adapters.uow, adapters.clock, adapters.security_log
    )
    purge_expired_sessions = providers.Singleton(PurgeExpiredSessions, adapters.uow, adapters.clock)
    throttle_client = providers.Singleton(
        ThrottleClient, adapters.rate_limiter, adapters.throttle_policy, adapters.security_log
    )
    request_password_reset = providers.Singleton(
        RequestPasswordReset,
        adapters.uow,
        adapters.clock,
        adapters.mail_policy,
        mail_limit,
        adapters.security_log,
    )
    reset_password = providers.Singleton(
        ResetPassword,
        adapters.uow,
        adapters.hasher,
        adapters.password_policy,
        adapters.clock,
        password_check,
        adapters.security_log,
        adapters.password_breach_check,
    )
    verify_email = providers.Singleton(
        VerifyEmail, adapters.uow, adapters.clock, adapters.security_log
    )
    resend_verification = providers.Singleton(
        ResendVerification, adapters.uow, adapters.clock, adapters.mail_policy, mail_limit
    )
    request_email_change = providers.Singleton(
        RequestEmailChange,
        adapters.uow,
        adapters.clock,
        adapters.mail_policy,
        mail_limit,
        password_check,
        adapters.security_log,
    )
    confirm_email_change = providers.Singleton(
        ConfirmEmailChange, adapters.uow, adapters.clock, adapters.security_log
    )
    deliver_mail = providers.Singleton(
        DeliverMail,
        adapters.uow,
        adapters.mailer,
        adapters.clock,
        adapters.mail_delivery_policy,
    )


class Container(containers.DeclarativeContainer):
    """The service as the settings describe it: the use cases over the real adapters."""

    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.Container(Adapters, settings=settings)
    use_cases = providers.Container(UseCases, adapters=adapters)


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """The use cases, resolved once at start-up: what the HTTP handlers, the CLI and workers
    call, as plain attributes rather than a container lookup per call."""

    register_user: RegisterUser
    login: Login
    refresh_tokens: RefreshTokens
    authenticate: Authenticate
    logout: Logout
    update_profile: UpdateProfile
    change_password: ChangePassword
    delete_account: DeleteAccount
    list_users: ListUsers
    list_sessions: ListSessions
    revoke_session: RevokeSession
    purge_expired_sessions: PurgeExpiredSessions
    throttle_client: ThrottleClient
    request_password_reset: RequestPasswordReset
    reset_password: ResetPassword
    verify_email: VerifyEmail
    resend_verification: ResendVerification
    request_email_change: RequestEmailChange
    confirm_email_change: ConfirmEmailChange
    complete_mfa_login: CompleteMfaLogin
    second_factor_status: GetSecondFactorStatus
    set_up_totp: SetUpTotp
    confirm_totp: ConfirmTotp
    disable_totp: DisableTotp
    regenerate_recovery_codes: RegenerateRecoveryCodes
    reset_second_factor: ResetSecondFactor
    deliver_mail: DeliverMail


async def provided(provider: "providers.Provider[T]") -> T:
    """What `provider` gives. Once it depends on an async resource that is open, a provider
    gives an awaitable of it instead (dependency-injector's async mode)."""
    value = provider()
    if inspect.isawaitable(value):
        awaited: T = await value
        return awaited
    return value


async def resolve(use_cases: UseCases) -> Services:
    """Each of `Services` from the provider of the same name."""
    return Services(
        **{field.name: await provided(getattr(use_cases, field.name)) for field in fields(Services)}
    )


@asynccontextmanager
async def running(container: Container) -> AsyncIterator[Services]:
    """The use cases over opened resources, which are closed again on leaving: for the life of
    an app, a worker or a command, inside the event loop that uses them."""
    try:
        await container.init_resources()  # type: ignore[misc]  # awaitable: async resources
        yield await resolve(container.use_cases)  # type: ignore[arg-type]
    finally:
        await container.shutdown_resources()  # type: ignore[misc]


@asynccontextmanager
async def delivering_mail(settings: Settings, use_cases: Services) -> AsyncIterator[None]:
    """The mail delivery loop in the background of this event loop while inside, every
    MAIL_POLL_INTERVAL; nothing when that is off."""
    if settings.mail_poll_interval is None:
        yield
        return
    loop = MailDeliveryLoop(use_cases.deliver_mail, settings.mail_poll_interval)
    async with loop.in_background(grace=MAIL_SHUTDOWN_GRACE):
        yield
