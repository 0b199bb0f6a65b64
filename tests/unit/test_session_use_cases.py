from datetime import timedelta

import pytest

from application.authentication import AuthenticateCommand
from application.sessions import ListSessionsQuery, RevokeSessionCommand
from domain.errors import NotAuthenticated, SessionNotFound
from tests.unit.conftest import UseCasesOnFakes


async def test_list_sessions_shows_only_the_users_active_ones(use_cases: UseCasesOnFakes) -> None:
    first = await use_cases.make_login()
    use_cases.clock.advance(timedelta(minutes=1))
    second = await use_cases.make_login()
    await use_cases.make_login("bob@example.com")
    await use_cases.revoke_session(
        RevokeSessionCommand(user_id=first.user.id, session_id=first.session_id)
    )
    sessions = await use_cases.list_sessions(ListSessionsQuery(user_id=second.user.id))
    assert [session.id for session in sessions] == [second.session_id]


async def test_list_sessions_puts_the_most_recently_used_first(use_cases: UseCasesOnFakes) -> None:
    first = await use_cases.make_login()
    use_cases.clock.advance(timedelta(minutes=1))
    second = await use_cases.make_login()
    sessions = await use_cases.list_sessions(ListSessionsQuery(user_id=first.user.id))
    assert [session.id for session in sessions] == [second.session_id, first.session_id]


async def test_revoking_a_session_ends_its_tokens_at_once(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    await use_cases.revoke_session(
        RevokeSessionCommand(user_id=login.user.id, session_id=login.session_id, ip="192.0.2.1")
    )
    with pytest.raises(NotAuthenticated):
        await use_cases.authenticate(AuthenticateCommand(access_token=login.tokens.access_token))
    assert use_cases.security_log.names[-1] == "session_revoked"


@pytest.mark.parametrize("whose", ["another user's", "unknown", "already revoked"])
async def test_revoking_a_session_that_is_not_yours_is_not_found(
    use_cases: UseCasesOnFakes, whose: str
) -> None:
    mine = await use_cases.make_login()
    theirs = await use_cases.make_login("bob@example.com")
    target = {"another user's": theirs.session_id, "unknown": "nope"}.get(whose, mine.session_id)
    if whose == "already revoked":
        await use_cases.revoke_session(
            RevokeSessionCommand(user_id=mine.user.id, session_id=mine.session_id)
        )
    with pytest.raises(SessionNotFound):
        await use_cases.revoke_session(
            RevokeSessionCommand(user_id=mine.user.id, session_id=target)
        )
    assert await use_cases.authenticate(
        AuthenticateCommand(access_token=theirs.tokens.access_token)
    )


async def test_purge_deletes_expired_and_revoked_sessions(use_cases: UseCasesOnFakes) -> None:
    expired = await use_cases.make_login()
    use_cases.clock.advance(timedelta(days=29))
    revoked = await use_cases.make_login()
    kept = await use_cases.make_login()
    await use_cases.revoke_session(
        RevokeSessionCommand(user_id=revoked.user.id, session_id=revoked.session_id)
    )
    use_cases.clock.advance(timedelta(days=1))
    assert await use_cases.purge_expired_sessions() == 2
    assert set(use_cases.store.sessions) == {kept.session_id}
    assert expired.session_id not in use_cases.store.sessions
