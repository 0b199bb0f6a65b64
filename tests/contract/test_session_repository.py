"""The SessionRepository contract, on every store."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from application.ports import UnitOfWork, UnitOfWorkFactory
from domain.errors import UserNotFound
from domain.sessions import Session, new_session_id, refresh_token_digest
from domain.users import PasswordHash, User
from tests.contract.conftest import abandon_transaction

AddUser = Callable[..., Awaitable[User]]

FIRST_TOKEN = "first-refresh-token"
LOGIN_TIME = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
LIFETIME = timedelta(days=30)


def start_session(user_id: int, refresh_token: str = FIRST_TOKEN) -> Session:
    return Session.start(
        session_id=new_session_id(),
        user_id=user_id,
        refresh_token=refresh_token,
        now=LOGIN_TIME,
        max_lifetime=LIFETIME,
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        ip="2001:db8::1",
    )


async def add_session(uow_factory: UnitOfWorkFactory, session: Session) -> Session:
    async with uow_factory() as uow:
        await uow.sessions.add(session)
    return session


async def stored_session(uow_factory: UnitOfWorkFactory, session_id: str) -> Session | None:
    async with uow_factory() as uow:
        return await uow.sessions.get(session_id)


async def test_a_new_session_reads_back_as_added(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id))

    stored = await stored_session(uow_factory, session.id)

    assert stored == session
    assert stored is not None
    assert stored.created_at.microsecond == 123456
    assert all(
        moment is not None and moment.utcoffset() == timedelta(0)
        for moment in (stored.created_at, stored.last_used_at, stored.expires_at)
    )


async def test_every_field_of_a_rotated_and_revoked_session_reads_back(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = start_session(user.id)
    session.rotate(
        refresh_token_digest("second-refresh-token"),
        LOGIN_TIME + timedelta(minutes=5, microseconds=7),
    )
    await add_session(uow_factory, session)
    revoked_at = LOGIN_TIME + timedelta(hours=1, microseconds=999999)
    async with uow_factory() as uow:
        await uow.sessions.revoke(session.id, revoked_at)

    assert await stored_session(uow_factory, session.id) == replace(session, revoked_at=revoked_at)


async def test_a_session_without_user_agent_or_ip_reads_back(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(
        uow_factory, replace(start_session(user.id), user_agent=None, ip=None)
    )

    assert await stored_session(uow_factory, session.id) == session


async def test_times_in_another_offset_are_the_same_instants_when_read(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    paris = timezone(timedelta(hours=1))
    session = replace(
        start_session(user.id),
        created_at=LOGIN_TIME.astimezone(paris),
        expires_at=(LOGIN_TIME + LIFETIME).astimezone(paris),
    )
    await add_session(uow_factory, session)

    stored = await stored_session(uow_factory, session.id)

    assert stored is not None
    assert stored.created_at == LOGIN_TIME
    assert stored.expires_at == LOGIN_TIME + LIFETIME


async def test_a_session_added_for_a_password_hash_needs_that_hash_stored(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    current, another = start_session(user.id), start_session(user.id)

    async with uow_factory() as uow:
        assert await uow.sessions.add(current, password_hash=user.password_hash)
        assert not await uow.sessions.add(another, password_hash=PasswordHash("$2b$12$" + "x" * 53))
        assert not await uow.sessions.add(
            start_session(user.id + 1), password_hash=user.password_hash
        )

    assert await stored_session(uow_factory, current.id) == current
    assert await stored_session(uow_factory, another.id) is None


async def test_an_unknown_session_is_none(uow_factory: UnitOfWorkFactory) -> None:
    assert await stored_session(uow_factory, new_session_id()) is None


async def test_a_session_added_in_an_abandoned_transaction_is_undone(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = start_session(user.id)

    await abandon_transaction(uow_factory, lambda uow: uow.sessions.add(session))

    assert await stored_session(uow_factory, session.id) is None


async def test_a_session_for_a_missing_user_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(UserNotFound):
        await add_session(uow_factory, start_session(12345))


async def test_find_active_user_gives_the_user_of_an_active_session(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user(name="Zoë 🚀")
    session = await add_session(uow_factory, start_session(user.id))
    just_before_expiry = session.expires_at - timedelta(microseconds=1)

    async with uow_factory() as uow:
        found = await uow.sessions.find_active_user(session.id, user.id, just_before_expiry)

    assert found == user


async def test_find_active_user_is_none_for_an_expired_session(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id))

    async with uow_factory() as uow:
        at_expiry = await uow.sessions.find_active_user(session.id, user.id, session.expires_at)
        after = await uow.sessions.find_active_user(
            session.id, user.id, session.expires_at + timedelta(days=1)
        )

    assert (at_expiry, after) == (None, None)


async def test_find_active_user_is_none_for_a_revoked_session(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id))
    async with uow_factory() as uow:
        await uow.sessions.revoke(session.id, LOGIN_TIME + timedelta(minutes=1))

    async with uow_factory() as uow:
        found = await uow.sessions.find_active_user(
            session.id, user.id, LOGIN_TIME + timedelta(minutes=2)
        )

    assert found is None


async def test_find_active_user_is_none_for_another_users_session_or_an_unknown_one(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    session = await add_session(uow_factory, start_session(ada.id))
    now = LOGIN_TIME + timedelta(minutes=1)

    async with uow_factory() as uow:
        as_grace = await uow.sessions.find_active_user(session.id, grace.id, now)
        unknown = await uow.sessions.find_active_user(new_session_id(), ada.id, now)

    assert (as_grace, unknown) == (None, None)


async def test_deleting_the_user_deletes_their_sessions(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    adas = [await add_session(uow_factory, start_session(ada.id)) for _ in range(2)]
    graces = await add_session(uow_factory, start_session(grace.id))

    async with uow_factory() as uow:
        assert await uow.users.delete(ada.id)

    for session in adas:
        assert await stored_session(uow_factory, session.id) is None
    assert await stored_session(uow_factory, graces.id) == graces
    async with uow_factory() as uow:
        now = LOGIN_TIME + timedelta(minutes=1)
        assert await uow.sessions.find_active_user(adas[0].id, ada.id, now) is None


async def test_an_undone_user_deletion_keeps_the_sessions(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id))

    await abandon_transaction(uow_factory, lambda uow: uow.users.delete(user.id))

    assert await stored_session(uow_factory, session.id) == session


async def rotate(
    uow: UnitOfWork,
    session: Session,
    new_token: str,
    at: datetime,
    *,
    presented: str = "first",
    user_id: int | None = None,
) -> bool:
    """Rotates `session` from the token `presented` to `new_token`, as `user_id` (its own
    user's by default)."""
    return await uow.sessions.rotate(
        session.id,
        user_id=session.user_id if user_id is None else user_id,
        expected_hash=refresh_token_digest(presented),
        new_hash=refresh_token_digest(new_token),
        now=at,
    )


async def test_rotate_succeeds_once_for_the_expected_hash(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id, "first"))
    rotated_at = LOGIN_TIME + timedelta(minutes=15, microseconds=42)

    async with uow_factory() as uow:
        first = await rotate(uow, session, "second", rotated_at)
        again = await rotate(uow, session, "another", rotated_at)

    assert (first, again) == (True, False)
    assert await stored_session(uow_factory, session.id) == replace(
        session,
        refresh_token_hash=refresh_token_digest("second"),
        previous_token_hash=refresh_token_digest("first"),
        rotated_at=rotated_at,
        last_used_at=rotated_at,
    )


async def test_rotate_counts_a_match_that_writes_what_is_already_stored(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    # MySQL reports changed rows, not matched ones, unless the connection asks for FOUND_ROWS.
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id, "first"))
    async with uow_factory() as uow:
        assert await rotate(uow, session, "first", LOGIN_TIME)

    async with uow_factory() as uow:
        swapped = await rotate(uow, session, "first", LOGIN_TIME)

    assert swapped is True


async def test_rotate_fails_for_a_revoked_or_unknown_session(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id, "first"))
    async with uow_factory() as uow:
        await uow.sessions.revoke(session.id, LOGIN_TIME + timedelta(minutes=1))
    unknown = replace(session, id=new_session_id())

    async with uow_factory() as uow:
        revoked_result = await rotate(uow, session, "second", LOGIN_TIME + timedelta(minutes=2))
        unknown_result = await rotate(uow, unknown, "second", LOGIN_TIME + timedelta(minutes=2))

    assert (revoked_result, unknown_result) == (False, False)
    stored = await stored_session(uow_factory, session.id)
    assert stored is not None
    assert stored.refresh_token_hash == refresh_token_digest("first")


async def test_rotate_fails_once_the_session_reaches_its_absolute_expiry(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    ending = await add_session(uow_factory, start_session(user.id, "first"))
    ended = await add_session(uow_factory, start_session(user.id, "first"))
    expires_at = LOGIN_TIME + LIFETIME

    async with uow_factory() as uow:
        just_before = await rotate(uow, ending, "second", expires_at - timedelta(microseconds=1))
        at_the_end = await rotate(uow, ended, "second", expires_at)

    assert (just_before, at_the_end) == (True, False)
    assert await stored_session(uow_factory, ended.id) == ended


async def test_rotate_fails_for_another_users_id(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    session = await add_session(uow_factory, start_session(ada.id, "first"))

    async with uow_factory() as uow:
        as_grace = await rotate(
            uow, session, "second", LOGIN_TIME + timedelta(minutes=1), user_id=grace.id
        )

    assert as_grace is False
    assert await stored_session(uow_factory, session.id) == session


async def test_rotate_fails_once_the_user_is_deleted(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id, "first"))
    async with uow_factory() as uow:
        await uow.users.delete(user.id)

    async with uow_factory() as uow:
        swapped = await rotate(uow, session, "second", LOGIN_TIME + timedelta(minutes=1))

    assert swapped is False


async def test_a_rotation_in_an_abandoned_transaction_is_undone(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id, "first"))

    async def rotated(uow: UnitOfWork) -> None:
        assert await rotate(uow, session, "second", LOGIN_TIME + timedelta(minutes=1))

    await abandon_transaction(uow_factory, rotated)

    assert await stored_session(uow_factory, session.id) == session


@pytest.mark.parametrize("round_", range(5))
async def test_of_two_concurrent_rotations_with_one_token_exactly_one_wins(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, round_: int
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id, "first"))
    both_inside = asyncio.Barrier(2)

    async def rotate_to(new_token: str) -> bool:
        async with uow_factory() as uow:
            await both_inside.wait()
            return await rotate(uow, session, new_token, LOGIN_TIME + timedelta(minutes=1))

    outcomes = await asyncio.gather(rotate_to("tab-one"), rotate_to("tab-two"))

    assert sorted(outcomes) == [False, True]
    winner = "tab-one" if outcomes[0] else "tab-two"
    stored = await stored_session(uow_factory, session.id)
    assert stored is not None
    assert stored.refresh_token_hash == refresh_token_digest(winner)
    assert stored.previous_token_hash == refresh_token_digest("first")


async def test_revoke_reports_whether_it_ended_a_live_session(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = await add_session(uow_factory, start_session(user.id))
    revoked_at = LOGIN_TIME + timedelta(minutes=3, microseconds=5)

    async with uow_factory() as uow:
        first = await uow.sessions.revoke(session.id, revoked_at)
        again = await uow.sessions.revoke(session.id, revoked_at + timedelta(minutes=1))
        unknown = await uow.sessions.revoke(new_session_id(), revoked_at)

    assert (first, again, unknown) == (True, False, False)
    assert await stored_session(uow_factory, session.id) == replace(session, revoked_at=revoked_at)


async def add_sessions_in_every_state(
    uow_factory: UnitOfWorkFactory, user_id: int, now: datetime
) -> dict[str, Session]:
    """An active session used recently, one used long ago, one revoked, one expired."""
    recent = replace(start_session(user_id), last_used_at=now - timedelta(minutes=1))
    old = replace(start_session(user_id), last_used_at=now - timedelta(days=2))
    revoked = replace(start_session(user_id), revoked_at=now - timedelta(hours=1))
    expired = replace(start_session(user_id), expires_at=now)
    for session in (old, revoked, expired, recent):
        await add_session(uow_factory, session)
    return {"recent": recent, "old": old, "revoked": revoked, "expired": expired}


async def test_list_active_gives_the_live_sessions_most_recently_used_first(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    now = LOGIN_TIME + timedelta(days=3)
    adas = await add_sessions_in_every_state(uow_factory, ada.id, now)
    await add_sessions_in_every_state(uow_factory, grace.id, now)

    async with uow_factory() as uow:
        active = await uow.sessions.list_active(ada.id, now)

    assert active == [adas["recent"], adas["old"]]


async def test_list_active_of_a_user_without_sessions_is_empty(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()

    async with uow_factory() as uow:
        assert await uow.sessions.list_active(user.id, LOGIN_TIME) == []


async def test_revoke_all_for_user_ends_every_live_session_but_the_one_kept(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    now = LOGIN_TIME + timedelta(days=3, microseconds=3)
    adas = await add_sessions_in_every_state(uow_factory, ada.id, now)
    another = await add_session(uow_factory, start_session(ada.id))
    graces = await add_sessions_in_every_state(uow_factory, grace.id, now)

    async with uow_factory() as uow:
        revoked = await uow.sessions.revoke_all_for_user(ada.id, now, keep=adas["recent"].id)

    assert revoked == 2
    assert await stored_session(uow_factory, adas["old"].id) == replace(adas["old"], revoked_at=now)
    assert await stored_session(uow_factory, another.id) == replace(another, revoked_at=now)
    for untouched in (adas["recent"], adas["revoked"], adas["expired"], *graces.values()):
        assert await stored_session(uow_factory, untouched.id) == untouched


async def test_revoke_all_for_user_without_keep_ends_them_all(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    now = LOGIN_TIME + timedelta(days=3)
    await add_sessions_in_every_state(uow_factory, user.id, now)

    async with uow_factory() as uow:
        revoked = await uow.sessions.revoke_all_for_user(user.id, now)
    async with uow_factory() as uow:
        active = await uow.sessions.list_active(user.id, now)

    assert (revoked, active) == (2, [])


async def test_purge_deletes_the_revoked_and_expired_sessions_of_everyone(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    now = LOGIN_TIME + timedelta(days=3)
    adas = await add_sessions_in_every_state(uow_factory, ada.id, now)
    graces = await add_sessions_in_every_state(uow_factory, grace.id, now)

    async with uow_factory() as uow:
        purged = await uow.sessions.purge(now)

    assert purged == 4
    for sessions in (adas, graces):
        assert await stored_session(uow_factory, sessions["revoked"].id) is None
        assert await stored_session(uow_factory, sessions["expired"].id) is None
        assert await stored_session(uow_factory, sessions["recent"].id) == sessions["recent"]
        assert await stored_session(uow_factory, sessions["old"].id) == sessions["old"]


async def test_a_purge_in_an_abandoned_transaction_is_undone(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    now = LOGIN_TIME + timedelta(days=3)
    sessions = await add_sessions_in_every_state(uow_factory, user.id, now)

    async def purge(uow: UnitOfWork) -> None:
        assert await uow.sessions.purge(now) == 2

    await abandon_transaction(uow_factory, purge)

    for session in sessions.values():
        assert await stored_session(uow_factory, session.id) == session
