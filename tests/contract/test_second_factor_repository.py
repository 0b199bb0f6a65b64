"""The SecondFactorRepository and MfaChallengeRepository contracts, on every store."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from application.ports import UnitOfWorkFactory
from domain.errors import UserNotFound
from domain.second_factor import MfaChallenge, password_hash_digest
from domain.sessions import AMR_PASSWORD_AND_OTP, Session, new_session_id
from domain.users import Email, User
from tests.contract.conftest import BCRYPT_HASH, abandon_transaction

AddUser = Callable[..., Awaitable[User]]

NOW = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
STEP = 59_000_000
PENDING = "v1.pending.sealed-secret"
SECRET = "v1.newest.sealed-secret"


async def enabled_user(uow_factory: UnitOfWorkFactory, add_user: AddUser) -> User:
    user = await add_user()
    async with uow_factory() as uow:
        assert await uow.second_factor.set_pending(user.id, PENDING)
        async with uow.transaction():
            assert await uow.second_factor.enable(
                user.id, pending_secret=PENDING, secret=SECRET, step=STEP, now=NOW
            )
    return user


async def test_a_user_without_a_factor(uow_factory: UnitOfWorkFactory, add_user: AddUser) -> None:
    user = await add_user()

    async with uow_factory() as uow:
        assert await uow.second_factor.get(user.id) is None
        assert await uow.second_factor.count_recovery_codes(user.id) == 0
        assert not await uow.second_factor.disable(user.id)
        stored = await uow.users.get(user.id)
    assert stored is not None
    assert not stored.mfa_enabled


async def test_a_later_setup_replaces_a_pending_one(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()

    async with uow_factory() as uow:
        assert await uow.second_factor.set_pending(user.id, "v1.first")
        assert await uow.second_factor.set_pending(user.id, PENDING)
        factor = await uow.second_factor.get(user.id)
        assert not await uow.second_factor.enable(
            user.id, pending_secret="v1.first", secret=SECRET, step=STEP, now=NOW
        )

    assert factor is not None
    assert (factor.pending_secret, factor.secret, factor.enabled) == (PENDING, None, False)


async def test_setup_of_a_missing_user_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(UserNotFound):
            await uow.second_factor.set_pending(12345, PENDING)


async def test_enable_marks_the_user_row_that_login_reads(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)

    async with uow_factory() as uow:
        by_email = await uow.users.get_by_email(Email("ada@example.com"))
        factor = await uow.second_factor.get(user.id)
        assert not await uow.second_factor.set_pending(user.id, "v1.another")

    assert by_email is not None
    assert by_email.mfa_enabled
    assert factor is not None
    assert (factor.secret, factor.pending_secret, factor.last_step) == (SECRET, None, STEP)
    assert factor.enabled_at == NOW


async def test_enable_in_an_abandoned_transaction_leaves_the_factor_off(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    async with uow_factory() as uow:
        await uow.second_factor.set_pending(user.id, PENDING)

    async def enable(uow: object) -> None:
        await uow.second_factor.enable(  # type: ignore[attr-defined]
            user.id, pending_secret=PENDING, secret=SECRET, step=STEP, now=NOW
        )
        await uow.second_factor.replace_recovery_codes(user.id, ["a" * 64])  # type: ignore[attr-defined]

    await abandon_transaction(uow_factory, enable)  # type: ignore[arg-type]

    async with uow_factory() as uow:
        stored = await uow.users.get(user.id)
        factor = await uow.second_factor.get(user.id)
        left = await uow.second_factor.count_recovery_codes(user.id)
    assert stored is not None
    assert not stored.mfa_enabled
    assert factor is not None
    assert (factor.pending_secret, factor.enabled) == (PENDING, False)
    assert left == 0


async def test_a_step_is_accepted_only_after_the_last_one(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)

    async with uow_factory() as uow:
        assert not await uow.second_factor.accept_step(user.id, STEP)
        assert not await uow.second_factor.accept_step(user.id, STEP - 1)
        assert await uow.second_factor.accept_step(user.id, STEP + 1)
        assert not await uow.second_factor.accept_step(user.id, STEP + 1)
        factor = await uow.second_factor.get(user.id)
    assert factor is not None
    assert factor.last_step == STEP + 1


async def test_of_concurrent_uses_of_one_step_exactly_one_wins(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)

    async def accept() -> bool:
        async with uow_factory() as uow:
            return await uow.second_factor.accept_step(user.id, STEP + 1)

    assert sorted(await asyncio.gather(*(accept() for _ in range(5)))) == [False] * 4 + [True]


async def test_a_secret_is_replaced_only_while_it_is_the_expected_one(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)

    async with uow_factory() as uow:
        assert not await uow.second_factor.replace_secret(user.id, old="v1.other", new="v1.x")
        assert await uow.second_factor.replace_secret(user.id, old=SECRET, new="v1.resealed")
        factor = await uow.second_factor.get(user.id)
    assert factor is not None
    assert factor.secret == "v1.resealed"


async def test_recovery_codes_are_used_once_and_replaced_as_a_set(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)
    old, new = ["a" * 64, "b" * 64], ["c" * 64, "d" * 64, "e" * 64]

    async with uow_factory() as uow:
        await uow.second_factor.replace_recovery_codes(user.id, old)
        assert await uow.second_factor.use_recovery_code(user.id, old[0])
        assert not await uow.second_factor.use_recovery_code(user.id, old[0])
        assert await uow.second_factor.count_recovery_codes(user.id) == 1
        await uow.second_factor.replace_recovery_codes(user.id, new)
        assert not await uow.second_factor.use_recovery_code(user.id, old[1])
        assert await uow.second_factor.count_recovery_codes(user.id) == 3


async def test_a_recovery_code_is_not_another_users(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)
    other = await add_user(email="bob@example.com")

    async with uow_factory() as uow:
        await uow.second_factor.replace_recovery_codes(user.id, ["a" * 64])
        assert not await uow.second_factor.use_recovery_code(other.id, "a" * 64)


async def test_of_concurrent_uses_of_one_recovery_code_exactly_one_wins(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)
    async with uow_factory() as uow:
        await uow.second_factor.replace_recovery_codes(user.id, ["a" * 64])

    async def use() -> bool:
        async with uow_factory() as uow:
            return await uow.second_factor.use_recovery_code(user.id, "a" * 64)

    assert sorted(await asyncio.gather(*(use() for _ in range(5)))) == [False] * 4 + [True]


async def test_disable_deletes_the_factor_and_codes_and_unmarks_the_user(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)

    async with uow_factory() as uow:
        await uow.second_factor.replace_recovery_codes(user.id, ["a" * 64])
        async with uow.transaction():
            assert await uow.second_factor.disable(user.id)
        factor = await uow.second_factor.get(user.id)
        left = await uow.second_factor.count_recovery_codes(user.id)
        stored = await uow.users.get(user.id)
        assert not await uow.second_factor.disable(user.id)

    assert (factor, left) == (None, 0)
    assert stored is not None
    assert not stored.mfa_enabled


async def test_a_deleted_user_takes_the_factor_codes_and_attempts_along(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await enabled_user(uow_factory, add_user)
    challenge = MfaChallenge.start(
        user_id=user.id, password_hash=BCRYPT_HASH, expires_at=NOW + timedelta(minutes=5)
    )
    async with uow_factory() as uow:
        await uow.second_factor.replace_recovery_codes(user.id, ["a" * 64])
        await uow.mfa_challenges.add(challenge)
        await uow.users.delete(user.id)

        assert await uow.second_factor.get(user.id) is None
        assert await uow.second_factor.count_recovery_codes(user.id) == 0
        assert not await uow.mfa_challenges.consume(
            challenge.id,
            user_id=user.id,
            password_digest=challenge.password_digest,
            now=NOW,
        )


def challenge_of(user: User, expires_at: datetime = NOW + timedelta(minutes=5)) -> MfaChallenge:
    return MfaChallenge.start(user_id=user.id, password_hash=BCRYPT_HASH, expires_at=expires_at)


async def test_an_attempt_is_consumed_once_by_its_user_and_password_before_expiry(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    other = await add_user(email="bob@example.com")
    challenge = challenge_of(user)
    digest = password_hash_digest(BCRYPT_HASH)

    async with uow_factory() as uow:
        await uow.mfa_challenges.add(challenge)
        consume = uow.mfa_challenges.consume
        assert not await consume(challenge.id, user_id=other.id, password_digest=digest, now=NOW)
        assert not await consume(
            challenge.id, user_id=user.id, password_digest=password_hash_digest("x"), now=NOW
        )
        assert not await consume(
            challenge.id, user_id=user.id, password_digest=digest, now=challenge.expires_at
        )
        assert await consume(challenge.id, user_id=user.id, password_digest=digest, now=NOW)
        assert not await consume(challenge.id, user_id=user.id, password_digest=digest, now=NOW)


async def test_of_concurrent_consumptions_of_one_attempt_exactly_one_wins(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    challenge = challenge_of(user)
    async with uow_factory() as uow:
        await uow.mfa_challenges.add(challenge)

    async def consume() -> bool:
        async with uow_factory() as uow:
            return await uow.mfa_challenges.consume(
                challenge.id,
                user_id=user.id,
                password_digest=challenge.password_digest,
                now=NOW,
            )

    assert sorted(await asyncio.gather(*(consume() for _ in range(5)))) == [False] * 4 + [True]


async def test_purge_deletes_only_expired_attempts(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    expired, live = challenge_of(user, NOW), challenge_of(user, NOW + timedelta(seconds=1))

    async with uow_factory() as uow:
        await uow.mfa_challenges.add(expired)
        await uow.mfa_challenges.add(live)
        assert await uow.mfa_challenges.purge(NOW) == 1
        assert await uow.mfa_challenges.consume(
            live.id, user_id=user.id, password_digest=live.password_digest, now=NOW
        )


async def test_a_session_keeps_how_it_was_established(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    session = Session.start(
        session_id=new_session_id(),
        user_id=user.id,
        refresh_token="refresh-token",
        now=NOW,
        max_lifetime=timedelta(days=1),
        user_agent=None,
        ip=None,
        amr=AMR_PASSWORD_AND_OTP,
    )

    async with uow_factory() as uow:
        assert await uow.sessions.add(session, password_hash=user.password_hash)
        stored = await uow.sessions.get(session.id)
        [listed] = await uow.sessions.list_active(user.id, NOW)

    assert stored is not None
    assert stored.amr == listed.amr == "pwd,otp"
