"""The UserRepository contract (and the unit of work around it), on every store."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from application.ports import UnitOfWork, UnitOfWorkFactory
from domain.errors import EmailAlreadyRegistered
from domain.sessions import new_session_id
from domain.users import Email, NewUser, PasswordHash, ProfileChanges, User
from tests.contract.conftest import (
    DURING_SESSION,
    SESSION_LIFETIME,
    SIGNED_IN_AT,
    Abandoned,
    abandon_transaction,
    sign_in,
)

NewUserFactory = Callable[..., NewUser]
AddUser = Callable[..., Awaitable[User]]


async def stored_user(uow_factory: UnitOfWorkFactory, user_id: int) -> User | None:
    async with uow_factory() as uow:
        return await uow.users.get(user_id)


async def test_a_user_reads_back_as_added_by_id_and_by_email(
    uow_factory: UnitOfWorkFactory, new_user: NewUserFactory
) -> None:
    async with uow_factory() as uow:
        added = await uow.users.add(new_user(email="ada@example.com", name="Ada"))

    assert added == User(
        id=added.id,
        name="Ada",
        email=Email("ada@example.com"),
        password_hash=new_user().password_hash,
        bio=None,
        contact=None,
        created_at=datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC),
    )
    async with uow_factory() as uow:
        assert await uow.users.get(added.id) == added
        assert await uow.users.get_by_email(Email("ada@example.com")) == added


async def test_add_returns_the_user_as_stored(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user(created_at=datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC))

    stored = await stored_user(uow_factory, user.id)

    assert stored == user
    assert stored is not None
    assert stored.created_at.utcoffset() is not None
    assert stored.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


async def test_unknown_users_are_none(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.users.get(12345) is None
        assert await uow.users.get_by_email(Email("nobody@example.com")) is None


async def test_ids_increase_and_a_deleted_users_id_is_not_given_again(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    first = await add_user(email="first@example.com")
    second = await add_user(email="second@example.com")
    async with uow_factory() as uow:
        await uow.users.delete(second.id)

    third = await add_user(email="third@example.com")

    assert first.id < second.id < third.id


async def test_a_taken_email_is_refused_and_the_unit_of_work_writes_nothing(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, new_user: NewUserFactory
) -> None:
    first = await add_user(email="ada@example.com")

    async def register_grace_then_an_impostor() -> None:
        async with uow_factory() as uow, uow.transaction():
            await uow.users.add(new_user(email="grace@example.com"))
            await uow.users.add(new_user(email="ada@example.com", name="Impostor"))

    with pytest.raises(EmailAlreadyRegistered):
        await register_grace_then_an_impostor()

    async with uow_factory() as uow:
        assert await uow.users.get_by_email(Email("grace@example.com")) is None
        assert await uow.users.get_by_email(Email("ada@example.com")) == first
        later = await uow.users.add(new_user(email="later@example.com"))
    assert await stored_user(uow_factory, later.id) == later


async def test_the_unit_of_work_stays_usable_after_a_taken_email(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, new_user: NewUserFactory
) -> None:
    await add_user(email="ada@example.com")

    async with uow_factory() as uow:
        with pytest.raises(EmailAlreadyRegistered):
            await uow.users.add(new_user(email="ada@example.com"))
        grace = await uow.users.add(new_user(email="grace@example.com"))

    assert await stored_user(uow_factory, grace.id) == grace


async def test_emails_that_differ_only_by_an_accent_are_different_users(
    add_user: AddUser,
) -> None:
    jose = await add_user(email="jose@example.com")
    jose_accented = await add_user(email="josé@example.com")

    assert jose.id != jose_accented.id


async def test_one_of_two_concurrent_registrations_of_an_email_wins(
    uow_factory: UnitOfWorkFactory, new_user: NewUserFactory
) -> None:
    both_inside = asyncio.Barrier(2)

    async def register(name: str) -> User:
        async with uow_factory() as uow:
            await both_inside.wait()
            return await uow.users.add(new_user(email="ada@example.com", name=name))

    outcomes = await asyncio.gather(register("One"), register("Two"), return_exceptions=True)

    winners = [outcome for outcome in outcomes if isinstance(outcome, User)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, EmailAlreadyRegistered)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert await stored_user(uow_factory, winners[0].id) == winners[0]


async def test_a_transaction_left_by_an_exception_undoes_its_writes(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, new_user: NewUserFactory
) -> None:
    ada = await add_user(email="ada@example.com", name="Ada")
    async with uow_factory() as uow:
        session_id = await sign_in(uow, ada.id)

    async def add_grace_and_rename_ada(uow: UnitOfWork) -> None:
        await uow.users.add(new_user(email="grace@example.com"))
        await uow.users.update_profile(
            ada.id, ProfileChanges(name="Changed"), session_id=session_id, now=DURING_SESSION
        )

    await abandon_transaction(uow_factory, add_grace_and_rename_ada)

    async with uow_factory() as uow:
        assert await uow.users.get_by_email(Email("grace@example.com")) is None
        assert await uow.users.get(ada.id) == ada


async def test_a_transaction_keeps_its_writes_and_only_its_own(
    uow_factory: UnitOfWorkFactory, new_user: NewUserFactory
) -> None:
    async with uow_factory() as uow, uow.transaction():
        ada = await uow.users.add(new_user(email="ada@example.com"))
        grace = await uow.users.add(new_user(email="grace@example.com"))
    await abandon_transaction(
        uow_factory, lambda uow: uow.users.add(new_user(email="lin@example.com"))
    )

    assert await stored_user(uow_factory, ada.id) == ada
    assert await stored_user(uow_factory, grace.id) == grace
    async with uow_factory() as uow:
        assert await uow.users.get_by_email(Email("lin@example.com")) is None


async def test_a_write_outside_a_transaction_is_kept_whatever_follows(
    uow_factory: UnitOfWorkFactory, new_user: NewUserFactory
) -> None:
    async def add_ada_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.users.add(new_user(email="ada@example.com"))
            raise Abandoned

    with pytest.raises(Abandoned):
        await add_ada_then_fail()

    async with uow_factory() as uow:
        assert await uow.users.get_by_email(Email("ada@example.com")) is not None


async def test_update_profile_changes_only_the_given_fields(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user(name="Ada")
    async with uow_factory() as uow:
        session_id = await sign_in(uow, user.id)
        await uow.users.update_profile(
            user.id,
            ProfileChanges(bio="Analyst", contact="+44 20"),
            session_id=session_id,
            now=DURING_SESSION,
        )
        updated = await uow.users.update_profile(
            user.id, ProfileChanges(name="Ada Lovelace"), session_id=session_id, now=DURING_SESSION
        )

    expected = User(
        id=user.id,
        name="Ada Lovelace",
        email=user.email,
        password_hash=user.password_hash,
        bio="Analyst",
        contact="+44 20",
        created_at=user.created_at,
    )
    assert updated == expected
    assert await stored_user(uow_factory, user.id) == expected


async def test_update_profile_with_none_clears_bio_and_contact(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    async with uow_factory() as uow:
        session_id = await sign_in(uow, user.id)
        await uow.users.update_profile(
            user.id,
            ProfileChanges(bio="Analyst", contact="123"),
            session_id=session_id,
            now=DURING_SESSION,
        )
        updated = await uow.users.update_profile(
            user.id,
            ProfileChanges(bio=None, contact=None),
            session_id=session_id,
            now=DURING_SESSION,
        )

    assert updated is not None
    assert (updated.name, updated.bio, updated.contact) == (user.name, None, None)
    assert await stored_user(uow_factory, user.id) == updated


async def test_concurrent_updates_of_different_fields_both_survive(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user(name="Ada")
    async with uow_factory() as uow:
        session_id = await sign_in(uow, user.id)
    both_inside = asyncio.Barrier(2)

    async def update(changes: ProfileChanges) -> None:
        async with uow_factory() as uow:
            await uow.users.get(user.id)
            await both_inside.wait()
            await uow.users.update_profile(
                user.id, changes, session_id=session_id, now=DURING_SESSION
            )

    await asyncio.gather(update(ProfileChanges(bio="Analyst")), update(ProfileChanges(name="Lady")))

    stored = await stored_user(uow_factory, user.id)
    assert stored is not None
    assert (stored.name, stored.bio) == ("Lady", "Analyst")


async def test_update_profile_through_a_session_not_active_changes_nothing(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    async with uow_factory() as uow:
        revoked = await sign_in(uow, ada.id)
        await uow.sessions.revoke(revoked, DURING_SESSION)
        expiring = await sign_in(uow, ada.id)
        graces = await sign_in(uow, grace.id)

    attempts = [
        (revoked, DURING_SESSION),
        (expiring, SIGNED_IN_AT + SESSION_LIFETIME),
        (graces, DURING_SESSION),
        (new_session_id(), DURING_SESSION),
    ]
    async with uow_factory() as uow:
        for session_id, now in attempts:
            changes = ProfileChanges(name="Intruder")
            assert (
                await uow.users.update_profile(ada.id, changes, session_id=session_id, now=now)
                is None
            )

    assert await stored_user(uow_factory, ada.id) == ada


async def test_update_profile_of_a_deleted_user_is_none(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    async with uow_factory() as uow:
        session_id = await sign_in(uow, user.id)
        await uow.users.delete(user.id)
        updated = await uow.users.update_profile(
            user.id, ProfileChanges(name="Ghost"), session_id=session_id, now=DURING_SESSION
        )

    assert updated is None


async def test_set_password_hash_replaces_only_the_hash(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    argon2_hash = PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")

    async with uow_factory() as uow:
        await uow.users.set_password_hash(user.id, argon2_hash)

    stored = await stored_user(uow_factory, user.id)
    assert stored is not None
    assert stored.password_hash == argon2_hash
    assert (stored.name, stored.email, stored.created_at) == (
        user.name,
        user.email,
        user.created_at,
    )


async def test_set_password_hash_replacing_writes_only_over_that_hash(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    first, second = PasswordHash("$2b$12$" + "a" * 53), PasswordHash("$2b$12$" + "b" * 53)

    async with uow_factory() as uow:
        assert await uow.users.set_password_hash(user.id, first, replacing=user.password_hash)
        assert not await uow.users.set_password_hash(user.id, second, replacing=user.password_hash)

    stored = await stored_user(uow_factory, user.id)
    assert stored is not None
    assert stored.password_hash == first


async def test_delete_reports_whether_there_was_a_user(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()

    async with uow_factory() as uow:
        assert await uow.users.delete(user.id) is True
        assert await uow.users.delete(user.id) is False

    assert await stored_user(uow_factory, user.id) is None
    async with uow_factory() as uow:
        assert await uow.users.get_by_email(user.email) is None


async def test_list_pages_by_id_after_the_last_id_seen(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    grace = await add_user(email="grace@example.com")
    alan = await add_user(email="alan@example.com")
    async with uow_factory() as uow:
        await uow.users.delete(grace.id)

    async with uow_factory() as uow:
        assert await uow.users.list(0, 1) == [ada]
        assert await uow.users.list(ada.id, 10) == [alan]
        assert await uow.users.list(0, 10) == [ada, alan]
        assert await uow.users.list(alan.id, 10) == []


@pytest.mark.parametrize(
    ("name", "bio"),
    [
        pytest.param("Zoë 🚀", "Astronaut 👩‍🚀, naïve café", id="emoji"),
        pytest.param("🦄" * 100, "🚀" * 2000, id="longest-in-4-byte-characters"),
        pytest.param("a" * 100, "b" * 2000, id="longest"),
    ],
)
async def test_unicode_and_maximal_profiles_round_trip(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, name: str, bio: str
) -> None:
    user = await add_user(name=name, email=f"{'e' * 88}@example.com")

    async with uow_factory() as uow:
        session_id = await sign_in(uow, user.id)
        updated = await uow.users.update_profile(
            user.id,
            ProfileChanges(bio=bio, contact="+" * 20),
            session_id=session_id,
            now=DURING_SESSION,
        )

    stored = await stored_user(uow_factory, user.id)
    assert stored == updated
    assert stored is not None
    assert (stored.name, stored.bio, stored.contact) == (name, bio, "+" * 20)
    assert len(stored.email.value) == 100


async def test_a_new_user_has_an_unverified_email(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()

    assert not user.email_verified
    stored = await stored_user(uow_factory, user.id)
    assert stored is not None
    assert not stored.email_verified


async def test_an_email_is_marked_verified_only_while_it_is_the_users(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user(email="ada@example.com")

    async with uow_factory() as uow:
        assert await uow.users.mark_email_verified(user.id, Email("old@example.com")) is None
        assert await uow.users.mark_email_verified(user.id + 1, user.email) is None
    assert await stored_user(uow_factory, user.id) == user

    async with uow_factory() as uow:
        verified = await uow.users.mark_email_verified(user.id, user.email)
        assert await uow.users.mark_email_verified(user.id, user.email) == verified

    assert verified == replace(user, email_verified=True)
    assert await stored_user(uow_factory, user.id) == verified


async def test_a_changed_email_is_verified_and_found(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user(email="ada@example.com")

    async with uow_factory() as uow:
        changed = await uow.users.change_email(user.id, Email("ada.king@example.com"))

    assert changed == replace(user, email=Email("ada.king@example.com"), email_verified=True)
    async with uow_factory() as uow:
        assert await uow.users.get_by_email(Email("ada.king@example.com")) == changed
        assert await uow.users.get_by_email(Email("ada@example.com")) is None


async def test_an_email_cannot_change_to_another_users(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    bob = await add_user(email="bob@example.com")

    async with uow_factory() as uow:
        with pytest.raises(EmailAlreadyRegistered):
            await uow.users.change_email(ada.id, bob.email)
        assert await uow.users.change_email(ada.id, ada.email) == replace(ada, email_verified=True)

    assert await stored_user(uow_factory, bob.id) == bob


async def test_the_email_of_a_missing_user_changes_nowhere(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada = await add_user(email="ada@example.com")
    async with uow_factory() as uow:
        assert await uow.users.delete(ada.id)
    bob = await add_user(email="bob@example.com")

    async with uow_factory() as uow:
        assert await uow.users.change_email(ada.id, Email("ada.king@example.com")) is None
        assert await uow.users.change_email(ada.id, bob.email) is None
        assert await uow.users.get_by_email(Email("ada.king@example.com")) is None
