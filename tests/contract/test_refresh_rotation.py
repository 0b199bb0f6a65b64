"""A token refresh on every store: one conditional statement when it succeeds, and a read of the
session only once that statement has failed, to tell a replay from a session that has ended
(DESIGN.md section 3)."""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest

from application.authentication import RefreshCommand, RefreshTokens, SessionPolicy
from application.ports import TokenPair, UnitOfWorkFactory
from domain.errors import NotAuthenticated
from domain.sessions import Session, new_session_id, refresh_token_digest
from domain.users import User
from infrastructure.security.tokens import JwtTokenIssuer
from tests.contract.conftest import AddUser
from tests.fakes import FixedClock, RecordingSecurityLog
from tests.statements import record_statements

GRACE = timedelta(seconds=10)
LIFETIME = timedelta(hours=1)
LEEWAY = timedelta(seconds=10)
"""The token issuer's allowance for clock skew: a refresh token is read up to this long after
its expiry, which is the session's end at the latest."""


@dataclass
class Service:
    refresh_tokens: RefreshTokens
    issuer: JwtTokenIssuer
    clock: FixedClock
    security_log: RecordingSecurityLog
    uow_factory: UnitOfWorkFactory

    async def refresh(self, token: str) -> TokenPair:
        return await self.refresh_tokens(RefreshCommand(refresh_token=token))

    async def refused(self, token: str) -> str:
        """The message of the 401 that refreshing with `token` gets."""
        with pytest.raises(NotAuthenticated) as refusal:
            await self.refresh(token)
        return refusal.value.message

    async def log_in(self, user: User) -> tuple[str, TokenPair]:
        """A new session of `user`, as a login starts one: its id and first token pair."""
        now = self.clock.now()
        session_id = new_session_id()
        tokens = self.issuer.issue(
            user_id=user.id,
            email=user.email,
            session_id=session_id,
            now=now,
            session_expires_at=now + LIFETIME,
        )
        session = Session.start(
            session_id=session_id,
            user_id=user.id,
            refresh_token=tokens.refresh_token,
            now=now,
            max_lifetime=LIFETIME,
            user_agent=None,
            ip=None,
        )
        async with self.uow_factory() as uow:
            await uow.sessions.add(session)
        return session_id, tokens

    async def session(self, session_id: str) -> Session:
        async with self.uow_factory() as uow:
            session = await uow.sessions.get(session_id)
        assert session is not None
        return session


@pytest.fixture
def service(uow_factory: UnitOfWorkFactory) -> Service:
    clock = FixedClock()
    issuer = JwtTokenIssuer(
        access_secret="access-" + "0123456789abcdef" * 4,
        refresh_secret="refresh-" + "0123456789abcdef" * 4,
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=7),
        issuer="authsvc",
        audience="authsvc",
        clock=clock,
        leeway=LEEWAY,
    )
    security_log = RecordingSecurityLog()
    policy = SessionPolicy(max_lifetime=LIFETIME, reuse_grace=GRACE)
    refresh_tokens = RefreshTokens(uow_factory, issuer, clock, policy, security_log)
    return Service(refresh_tokens, issuer, clock, security_log, uow_factory)


def sent(adapter: str, *statements: str) -> list[str]:
    """What a SQL store is expected to have sent; the in-memory one sends nothing."""
    return [] if adapter == "memory" else list(statements)


async def test_a_refresh_is_one_statement_that_rotates_the_session(
    service: Service, add_user: AddUser, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await add_user()
    session_id, first = await service.log_in(user)
    service.clock.advance(timedelta(minutes=5))
    statements = record_statements(monkeypatch)

    second = await service.refresh(first.refresh_token)

    assert statements == sent(adapter, "ROTATE_SESSION")
    session = await service.session(session_id)
    assert session.refresh_token_hash == refresh_token_digest(second.refresh_token)
    assert session.previous_token_hash == refresh_token_digest(first.refresh_token)
    assert session.rotated_at == session.last_used_at == service.clock.now()
    access = service.issuer.read_access_token(second.access_token)
    assert (access.user_id, access.session_id) == (user.id, session_id)
    claims = service.issuer.read_refresh_token(second.refresh_token)
    assert (claims.email, claims.session_expires_at) == (user.email, session.expires_at)
    assert await service.refresh(second.refresh_token)


async def test_reuse_of_an_older_token_revokes_the_session(
    service: Service, add_user: AddUser, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, first = await service.log_in(await add_user())
    second = await service.refresh(first.refresh_token)
    third = await service.refresh(second.refresh_token)
    statements = record_statements(monkeypatch)

    message = await service.refused(first.refresh_token)

    assert message == "Refresh token already used; session revoked"
    assert statements == sent(adapter, "ROTATE_SESSION", "SELECT_SESSION", "REVOKE_SESSION")
    assert (await service.session(session_id)).revoked_at == service.clock.now()
    assert service.security_log.names == ["refresh_token_reused"]
    assert await service.refused(third.refresh_token) == "Session has ended"


async def test_the_token_rotated_away_last_is_reuse_once_the_grace_window_is_over(
    service: Service, add_user: AddUser
) -> None:
    session_id, first = await service.log_in(await add_user())
    await service.refresh(first.refresh_token)
    service.clock.advance(GRACE + timedelta(microseconds=1))

    message = await service.refused(first.refresh_token)

    assert message == "Refresh token already used; session revoked"
    assert (await service.session(session_id)).revoked_at is not None


async def test_the_token_rotated_away_last_within_the_grace_window_revokes_nothing(
    service: Service, add_user: AddUser, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, first = await service.log_in(await add_user())
    second = await service.refresh(first.refresh_token)
    service.clock.advance(GRACE)
    statements = record_statements(monkeypatch)

    message = await service.refused(first.refresh_token)

    assert message == "Refresh token already used"
    assert statements == sent(adapter, "ROTATE_SESSION", "SELECT_SESSION")
    assert (await service.session(session_id)).revoked_at is None
    assert service.security_log.names == ["refresh_token_replayed_in_grace"]
    assert await service.refresh(second.refresh_token)


async def test_a_session_past_its_absolute_expiry_is_refused_by_the_swap(
    service: Service, add_user: AddUser, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, first = await service.log_in(await add_user())
    service.clock.advance(LIFETIME + LEEWAY / 2)
    # The token itself still reads (its expiry is the session's end, within the leeway): only
    # the statement's own check of the session's end refuses it.
    assert service.issuer.read_refresh_token(first.refresh_token)
    statements = record_statements(monkeypatch)

    message = await service.refused(first.refresh_token)

    assert message == "Session has ended"
    assert statements == sent(adapter, "ROTATE_SESSION", "SELECT_SESSION")
    session = await service.session(session_id)
    assert session.refresh_token_hash == refresh_token_digest(first.refresh_token)
    assert session.revoked_at is None
    assert service.security_log.names == []


async def test_a_revoked_session_is_refused_and_nothing_more_happens(
    service: Service, add_user: AddUser, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, first = await service.log_in(await add_user())
    revoked_at = service.clock.now()
    async with service.uow_factory() as uow:
        await uow.sessions.revoke(session_id, revoked_at)
    service.clock.advance(timedelta(minutes=1))
    statements = record_statements(monkeypatch)

    message = await service.refused(first.refresh_token)

    assert message == "Session has ended"
    assert statements == sent(adapter, "ROTATE_SESSION", "SELECT_SESSION")
    session = await service.session(session_id)
    assert (session.revoked_at, session.previous_token_hash) == (revoked_at, None)
    assert service.security_log.names == []


async def test_a_deleted_users_token_is_refused(
    service: Service, add_user: AddUser, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await add_user()
    session_id, first = await service.log_in(user)
    async with service.uow_factory() as uow:
        await uow.users.delete(user.id)
    statements = record_statements(monkeypatch)

    message = await service.refused(first.refresh_token)

    assert message == "Session has ended"
    assert statements == sent(adapter, "ROTATE_SESSION", "SELECT_SESSION")
    async with service.uow_factory() as uow:
        assert await uow.sessions.get(session_id) is None
    assert service.security_log.names == []


@pytest.mark.parametrize("round_", range(3))
async def test_of_concurrent_refreshes_with_one_token_exactly_one_wins(
    service: Service, add_user: AddUser, round_: int
) -> None:
    session_id, first = await service.log_in(await add_user())

    outcomes = await asyncio.gather(
        *(service.refresh(first.refresh_token) for _ in range(4)), return_exceptions=True
    )

    [winner] = [outcome for outcome in outcomes if isinstance(outcome, TokenPair)]
    losers = [outcome for outcome in outcomes if not isinstance(outcome, TokenPair)]
    assert all(isinstance(loser, NotAuthenticated) for loser in losers)
    assert len(losers) == 3
    session = await service.session(session_id)
    assert session.revoked_at is None
    assert session.refresh_token_hash == refresh_token_digest(winner.refresh_token)
    assert await service.refresh(winner.refresh_token)
