"""The composition root: builds every adapter from the settings and hands out the use cases.

The HTTP app, the CLI and workers build one `Container(settings=...)` and take use cases from
it; tests swap an adapter with one `override` call (an in-memory store, a fixed clock, a fast
hasher)."""

from dependency_injector import containers, providers

from application.accounts import (
    ChangePassword,
    DeleteAccount,
    ListUsers,
    RegisterUser,
    UpdateProfile,
)
from application.authentication import Authenticate, Login, Logout, RefreshTokens, SessionPolicy
from application.ports import RateLimiter
from application.sessions import ListSessions, PurgeExpiredSessions, RevokeSession
from application.throttling import PasswordGuessThrottle, ThrottleClient, ThrottlePolicy
from domain.users import BCRYPT_MAX_PASSWORD_BYTES, PasswordPolicy
from infrastructure.persistence.database import open_database
from infrastructure.persistence.health import DatabaseProbe
from infrastructure.ratelimit.memory import InMemoryRateLimiter
from infrastructure.ratelimit.redis import RedisRateLimiter, create_redis_rate_limiter
from infrastructure.security.clock import SystemClock
from infrastructure.security.common_passwords import load_common_passwords
from infrastructure.security.events import LoggingSecurityLog
from infrastructure.security.hashers import ThreadedPasswordHasher
from infrastructure.security.tokens import JwtTokenIssuer
from infrastructure.settings import Settings


def password_policy(settings: Settings) -> PasswordPolicy:
    """bcrypt cannot take more than 72 bytes; argon2id has no such limit."""
    return PasswordPolicy(
        min_length=settings.password_min_length,
        max_bytes=BCRYPT_MAX_PASSWORD_BYTES if settings.password_hasher == "bcrypt" else None,
        common_passwords=load_common_passwords(),
    )


def rate_limiter(settings: Settings) -> RateLimiter:
    """Redis when configured, so that every instance shares the counts; else this process."""
    if settings.redis_url:
        return create_redis_rate_limiter(settings.redis_url)
    return InMemoryRateLimiter()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    database = providers.Singleton(
        open_database,
        settings.provided.database_url,
        timeout_seconds=settings.provided.database_timeout_seconds,
    )
    uow = database.provided.unit_of_work
    database_probe = providers.Singleton(DatabaseProbe, database)
    rate_limiter = providers.Singleton(rate_limiter, settings)
    hasher = providers.Singleton(
        ThreadedPasswordHasher,
        algorithm=settings.provided.password_hasher,
        bcrypt_rounds=settings.provided.bcrypt_rounds,
    )
    token_issuer = providers.Singleton(
        JwtTokenIssuer,
        access_secret=settings.provided.access_token_secret,
        refresh_secret=settings.provided.refresh_token_secret,
        access_ttl=settings.provided.access_token_expiry,
        refresh_ttl=settings.provided.refresh_token_expiry,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
    )
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
    password_throttle = providers.Singleton(
        PasswordGuessThrottle, rate_limiter, throttle_policy, security_log
    )

    register_user = providers.Singleton(RegisterUser, uow, hasher, password_policy, clock)
    login = providers.Singleton(
        Login, uow, hasher, token_issuer, clock, session_policy, password_throttle, security_log
    )
    refresh_tokens = providers.Singleton(
        RefreshTokens, uow, token_issuer, clock, session_policy, security_log
    )
    authenticate = providers.Singleton(Authenticate, uow, token_issuer, clock)
    logout = providers.Singleton(Logout, uow, token_issuer, clock, authenticate)
    update_profile = providers.Singleton(UpdateProfile, uow, clock)
    change_password = providers.Singleton(
        ChangePassword,
        uow,
        hasher,
        password_policy,
        token_issuer,
        clock,
        password_throttle,
        security_log,
    )
    delete_account = providers.Singleton(DeleteAccount, uow, security_log)
    list_users = providers.Singleton(ListUsers, uow)
    list_sessions = providers.Singleton(ListSessions, uow, clock)
    revoke_session = providers.Singleton(RevokeSession, uow, clock, security_log)
    purge_expired_sessions = providers.Singleton(PurgeExpiredSessions, uow, clock)
    throttle_client = providers.Singleton(
        ThrottleClient, rate_limiter, throttle_policy, security_log
    )


async def close_resources(container: Container) -> None:
    """Releases pooled connections; for the end of an app's or a worker's life."""
    await container.database().close()
    limiter = container.rate_limiter()
    if isinstance(limiter, RedisRateLimiter):
        await limiter.aclose()
