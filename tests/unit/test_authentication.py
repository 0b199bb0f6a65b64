from datetime import timedelta

import pytest

from application.authentication import (
    AuthenticateCommand,
    LoginCommand,
    LogoutCommand,
    RefreshCommand,
)
from application.ports import SecurityEvent
from domain.errors import InvalidCredentials, NotAuthenticated, Overloaded, ValidationFailed
from domain.sessions import refresh_token_digest
from domain.users import PasswordHash
from infrastructure.persistence.memory import InMemorySessionRepository
from tests.unit.conftest import PASSWORD, UseCasesOnFakes


async def test_login_starts_a_session_that_stores_only_a_digest(use_cases: UseCasesOnFakes) -> None:
    await use_cases.make_user("ada@example.com")
    result = await use_cases.login(
        LoginCommand(email=" ADA@example.com", password=PASSWORD, user_agent="curl", ip="192.0.2.1")
    )
    session = use_cases.store.sessions[result.session_id]
    assert session.refresh_token_hash == refresh_token_digest(result.tokens.refresh_token)
    assert (session.user_agent, session.ip) == ("curl", "192.0.2.1")
    assert session.expires_at == use_cases.clock.now() + timedelta(days=30)


async def test_unknown_email_and_wrong_password_fail_alike(use_cases: UseCasesOnFakes) -> None:
    await use_cases.make_user()
    with pytest.raises(InvalidCredentials) as unknown:
        await use_cases.login(LoginCommand(email="bob@example.com", password=PASSWORD))
    with pytest.raises(InvalidCredentials) as wrong:
        await use_cases.login(LoginCommand(email="ada@example.com", password="wrong password"))
    assert unknown.value.message == wrong.value.message
    assert use_cases.hasher.dummy_verifications == 1
    assert use_cases.security_log.names == ["login_failed", "login_failed"]
    assert use_cases.store.sessions == {}


async def test_login_validates_its_fields(use_cases: UseCasesOnFakes) -> None:
    with pytest.raises(ValidationFailed):
        await use_cases.login(LoginCommand(email="not an email", password=PASSWORD))
    with pytest.raises(ValidationFailed):
        await use_cases.login(LoginCommand(email="ada@example.com", password=""))


async def test_login_upgrades_an_outdated_hash(use_cases: UseCasesOnFakes) -> None:
    user = await use_cases.make_user()
    async with use_cases.uow() as uow:
        await uow.users.set_password_hash(user.id, PasswordHash(f"old${PASSWORD}"))
    await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    assert use_cases.store.users[user.id].password_hash.value == f"fake${PASSWORD}"


async def test_authenticate_accepts_an_access_token_of_an_active_session(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    principal = await use_cases.authenticate(
        AuthenticateCommand(access_token=login.tokens.access_token)
    )
    assert (principal.user.id, principal.session_id) == (login.user.id, login.session_id)


async def test_authenticate_refuses_a_refresh_token(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    with pytest.raises(NotAuthenticated):
        await use_cases.authenticate(AuthenticateCommand(access_token=login.tokens.refresh_token))


async def test_refresh_rotates_the_token_pair(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    tokens = await use_cases.refresh_tokens(
        RefreshCommand(refresh_token=login.tokens.refresh_token)
    )
    assert tokens.refresh_token != login.tokens.refresh_token
    session = use_cases.store.sessions[login.session_id]
    assert session.refresh_token_hash == refresh_token_digest(tokens.refresh_token)
    assert (
        await use_cases.authenticate(AuthenticateCommand(access_token=tokens.access_token))
    ).session_id == login.session_id


async def test_the_previous_token_within_the_grace_window_revokes_nothing(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    tokens = await use_cases.refresh_tokens(
        RefreshCommand(refresh_token=login.tokens.refresh_token)
    )
    use_cases.clock.advance(timedelta(seconds=10))
    with pytest.raises(NotAuthenticated, match="already used"):
        await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))
    assert use_cases.store.sessions[login.session_id].revoked_at is None
    assert await use_cases.refresh_tokens(RefreshCommand(refresh_token=tokens.refresh_token))


async def test_the_previous_token_within_the_grace_window_is_logged_with_its_client(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))

    with pytest.raises(NotAuthenticated):
        await use_cases.refresh_tokens(
            RefreshCommand(
                refresh_token=login.tokens.refresh_token, ip="203.0.113.9", user_agent="curl/8"
            )
        )

    assert use_cases.security_log.events[-1] == SecurityEvent(
        name="refresh_token_replayed_in_grace",
        user_id=login.user.id,
        session_id=login.session_id,
        ip="203.0.113.9",
        user_agent="curl/8",
        reason="within the grace window; nothing revoked",
    )


async def test_reuse_after_the_grace_window_revokes_the_session(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    tokens = await use_cases.refresh_tokens(
        RefreshCommand(refresh_token=login.tokens.refresh_token)
    )
    use_cases.clock.advance(timedelta(seconds=11))
    with pytest.raises(NotAuthenticated, match="revoked"):
        await use_cases.refresh_tokens(
            RefreshCommand(refresh_token=login.tokens.refresh_token, ip="203.0.113.9")
        )
    assert use_cases.store.sessions[login.session_id].revoked_at == use_cases.clock.now()
    assert use_cases.security_log.events[-1].name == "refresh_token_reused"
    assert use_cases.security_log.events[-1].ip == "203.0.113.9"
    with pytest.raises(NotAuthenticated):
        await use_cases.refresh_tokens(RefreshCommand(refresh_token=tokens.refresh_token))
    with pytest.raises(NotAuthenticated):
        await use_cases.authenticate(AuthenticateCommand(access_token=tokens.access_token))


async def test_a_swap_lost_with_the_current_token_is_a_plain_401(
    use_cases: UseCasesOnFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster's certification failure makes the swap lose with the token still current:
    nothing to revoke, nothing to log, and the token still refreshes afterwards."""
    login = await use_cases.make_login()

    async def lost(*_: object, **__: object) -> bool:
        return False

    with monkeypatch.context() as patched:
        patched.setattr(InMemorySessionRepository, "rotate", lost)
        with pytest.raises(NotAuthenticated) as refusal:
            await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))

    assert refusal.value.message == "Refresh token already used"
    assert use_cases.store.sessions[login.session_id].revoked_at is None
    assert use_cases.security_log.events == []
    assert await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))


async def test_refresh_does_not_outlive_the_session(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    use_cases.clock.advance(timedelta(days=30))
    with pytest.raises(NotAuthenticated):
        await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))


async def test_refresh_tokens_expire_with_the_session(use_cases: UseCasesOnFakes) -> None:
    tokens = (await use_cases.make_login()).tokens
    for days in (6, 6, 6, 6, 5):  # each refresh inside the 7-day idle limit, 29 days in all
        use_cases.clock.advance(timedelta(days=days))
        tokens = await use_cases.refresh_tokens(RefreshCommand(refresh_token=tokens.refresh_token))
    assert tokens.refresh_expires_in == int(timedelta(days=1).total_seconds())


async def test_logout_revokes_the_session_at_once(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    other = await use_cases.make_login()
    await use_cases.logout(LogoutCommand(access_token=login.tokens.access_token))
    with pytest.raises(NotAuthenticated):
        await use_cases.authenticate(AuthenticateCommand(access_token=login.tokens.access_token))
    with pytest.raises(NotAuthenticated):
        await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))
    assert await use_cases.authenticate(AuthenticateCommand(access_token=other.tokens.access_token))


async def test_logout_with_only_the_refresh_token(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    await use_cases.logout(
        LogoutCommand(access_token="expired", refresh_token=login.tokens.refresh_token)
    )
    assert use_cases.store.sessions[login.session_id].revoked_at is not None


async def test_logout_without_a_valid_token_is_refused(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    tokens = await use_cases.refresh_tokens(
        RefreshCommand(refresh_token=login.tokens.refresh_token)
    )
    with pytest.raises(NotAuthenticated):
        await use_cases.logout(LogoutCommand(refresh_token=login.tokens.refresh_token))
    with pytest.raises(NotAuthenticated):
        await use_cases.logout(LogoutCommand())
    assert await use_cases.authenticate(AuthenticateCommand(access_token=tokens.access_token))


async def test_a_login_finding_the_hash_queue_full_is_refused_before_anything_else(
    use_cases: UseCasesOnFakes,
) -> None:
    await use_cases.make_user("ada@example.com")
    for _ in range(5):  # the email is throttled from now on
        with pytest.raises(InvalidCredentials):
            await use_cases.login(LoginCommand(email="ada@example.com", password="wrong"))
    use_cases.hasher.full = True

    with pytest.raises(Overloaded):
        await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
