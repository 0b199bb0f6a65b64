import asyncio
import base64
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest

from application.authentication import (
    AuthenticateCommand,
    LoginCommand,
    LoginResult,
    MfaRequired,
)
from application.ports import EmailMessage
from application.second_factor import (
    CompleteMfaLoginCommand,
    ConfirmTotpCommand,
    DisableTotpCommand,
    RegenerateRecoveryCodesCommand,
    ResetSecondFactorCommand,
    SetUpTotpCommand,
)
from application.sessions import ListSessionsQuery
from domain.errors import (
    InvalidCredentials,
    NotAuthenticated,
    SecondFactorAlreadyEnabled,
    TooManyAttempts,
    ValidationFailed,
)
from domain.second_factor import recovery_code_digest
from domain.users import PasswordHash, User
from infrastructure.security.secret_box import AesGcmSecretBox
from tests.unit.conftest import DATA_KEY, OLD_DATA_KEY, PASSWORD, UseCasesOnFakes

STEP = timedelta(seconds=30)


def code_at(use_cases: UseCasesOnFakes, secret: str, offset: timedelta = timedelta(0)) -> str:
    return pyotp.TOTP(secret).at(use_cases.clock.now() + offset)


async def enrolled(use_cases: UseCasesOnFakes) -> tuple[User, str, list[str]]:
    """A user with the second factor on: the user, the TOTP secret, the recovery codes. The
    clock is moved on a step, so that the code used to confirm is spent."""
    login = await use_cases.make_login()
    setup = await use_cases.set_up_totp(SetUpTotpCommand(user=login.user, password=PASSWORD))
    codes = await use_cases.confirm_totp(
        ConfirmTotpCommand(user=login.user, code=code_at(use_cases, setup.secret))
    )
    use_cases.clock.advance(STEP)
    return use_cases.store.users[login.user.id], setup.secret, codes.codes


def notices(use_cases: UseCasesOnFakes) -> list[EmailMessage]:
    """The second factor's notices in the outbox, oldest first (register queues mail too)."""
    messages = [stored.message for stored in use_cases.store.outbox.values()]
    return [message for message in messages if "Two-step" in message.subject]


async def mfa_token(use_cases: UseCasesOnFakes) -> str:
    result = await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    assert isinstance(result, MfaRequired)
    return result.mfa_token


async def complete(use_cases: UseCasesOnFakes, token: str, code: str) -> LoginResult:
    return await use_cases.complete_mfa_login(CompleteMfaLoginCommand(mfa_token=token, code=code))


async def test_setup_needs_the_password_and_keeps_the_secret_sealed(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    with pytest.raises(InvalidCredentials):
        await use_cases.set_up_totp(SetUpTotpCommand(user=login.user, password="wrong password"))

    setup = await use_cases.set_up_totp(SetUpTotpCommand(user=login.user, password=PASSWORD))

    assert len(base64.b32decode(setup.secret)) == 20  # 160 bits
    assert setup.otpauth_uri.startswith("otpauth://totp/authsvc:ada%40example.com?secret=")
    assert setup.qr_svg.startswith("<svg")
    factor = use_cases.store.totp_factors[login.user.id]
    assert factor.pending_secret is not None
    assert setup.secret not in factor.pending_secret
    assert not use_cases.store.users[login.user.id].mfa_enabled


async def test_confirm_turns_the_factor_on_with_ten_hashed_recovery_codes_and_a_notice(
    use_cases: UseCasesOnFakes,
) -> None:
    user, _, codes = await enrolled(use_cases)

    assert user.mfa_enabled
    assert len(codes) == len(set(codes)) == 10
    assert use_cases.store.recovery_codes[user.id] == {recovery_code_digest(c) for c in codes}
    [notice] = notices(use_cases)
    assert notice.to == "ada@example.com"
    assert "turned on" in notice.subject
    assert "second_factor_enabled" in use_cases.security_log.names


async def test_confirm_refuses_a_wrong_code_and_leaves_the_factor_off(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    setup = await use_cases.set_up_totp(SetUpTotpCommand(user=login.user, password=PASSWORD))

    with pytest.raises(ValidationFailed) as caught:
        await use_cases.confirm_totp(
            ConfirmTotpCommand(user=login.user, code=code_at(use_cases, setup.secret, 3 * STEP))
        )

    assert caught.value.errors[0].field == "code"
    assert not use_cases.store.users[login.user.id].mfa_enabled
    assert notices(use_cases) == []


async def test_setup_is_refused_while_the_factor_is_on(use_cases: UseCasesOnFakes) -> None:
    user, _, _ = await enrolled(use_cases)

    with pytest.raises(SecondFactorAlreadyEnabled):
        await use_cases.set_up_totp(SetUpTotpCommand(user=user, password=PASSWORD))


async def test_login_with_the_factor_on_starts_no_session_until_the_code(
    use_cases: UseCasesOnFakes,
) -> None:
    user, secret, _ = await enrolled(use_cases)
    sessions_before = set(use_cases.store.sessions)

    token = await mfa_token(use_cases)

    assert set(use_cases.store.sessions) == sessions_before
    result = await complete(use_cases, token, code_at(use_cases, secret))
    session = use_cases.store.sessions[result.session_id]
    assert (session.user_id, session.amr) == (user.id, "pwd,otp")
    listed = await use_cases.list_sessions(ListSessionsQuery(user_id=user.id))
    assert {s.amr for s in listed} == {"pwd", "pwd,otp"}


async def test_login_without_the_factor_records_pwd(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()

    assert use_cases.store.sessions[login.session_id].amr == "pwd"


@pytest.mark.parametrize("offset", [-STEP, timedelta(0), STEP])
async def test_a_code_one_step_off_either_way_is_accepted(
    use_cases: UseCasesOnFakes, offset: timedelta
) -> None:
    _, secret, _ = await enrolled(use_cases)
    use_cases.clock.advance(STEP)  # the confirming code's step is two steps back now

    result = await complete(
        use_cases, await mfa_token(use_cases), code_at(use_cases, secret, offset)
    )

    assert result.session_id in use_cases.store.sessions


@pytest.mark.parametrize("offset", [-2 * STEP, 2 * STEP])
async def test_a_code_two_steps_off_is_refused(
    use_cases: UseCasesOnFakes, offset: timedelta
) -> None:
    _, secret, _ = await enrolled(use_cases)
    use_cases.clock.advance(2 * STEP)

    with pytest.raises(ValidationFailed):
        await complete(use_cases, await mfa_token(use_cases), code_at(use_cases, secret, offset))


async def test_a_code_is_accepted_once_and_no_earlier_step_after_it(
    use_cases: UseCasesOnFakes,
) -> None:
    _, secret, _ = await enrolled(use_cases)
    code = code_at(use_cases, secret)
    await complete(use_cases, await mfa_token(use_cases), code)

    with pytest.raises(ValidationFailed):
        await complete(use_cases, await mfa_token(use_cases), code)
    # The code of the step before is within the drift window, but older than the one used.
    with pytest.raises(ValidationFailed):
        await complete(use_cases, await mfa_token(use_cases), code_at(use_cases, secret, -STEP))
    use_cases.clock.advance(STEP)
    await complete(use_cases, await mfa_token(use_cases), code_at(use_cases, secret))


async def test_a_recovery_code_works_once(use_cases: UseCasesOnFakes) -> None:
    user, _, codes = await enrolled(use_cases)

    result = await complete(use_cases, await mfa_token(use_cases), codes[0].upper())

    assert use_cases.store.sessions[result.session_id].amr == "pwd,otp"
    with pytest.raises(ValidationFailed):
        await complete(use_cases, await mfa_token(use_cases), codes[0])
    status = await use_cases.second_factor_status(use_cases.store.users[user.id])
    assert (status.totp, status.recovery_codes_left) == (True, 9)


async def test_regenerating_voids_the_old_codes_and_needs_a_totp_code(
    use_cases: UseCasesOnFakes,
) -> None:
    user, secret, old_codes = await enrolled(use_cases)
    with pytest.raises(ValidationFailed):
        await use_cases.regenerate_recovery_codes(
            RegenerateRecoveryCodesCommand(user=user, code=old_codes[0])
        )

    new = await use_cases.regenerate_recovery_codes(
        RegenerateRecoveryCodesCommand(user=user, code=code_at(use_cases, secret))
    )

    assert not set(new.codes) & set(old_codes)
    with pytest.raises(ValidationFailed):
        await complete(use_cases, await mfa_token(use_cases), old_codes[1])
    await complete(use_cases, await mfa_token(use_cases), new.codes[0])


async def test_codes_are_counted_before_they_are_checked(use_cases: UseCasesOnFakes) -> None:
    _, secret, _ = await enrolled(use_cases)
    token = await mfa_token(use_cases)
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            await complete(use_cases, token, "000000")

    # Over the limit, even the right code is refused: a guesser learns nothing.
    with pytest.raises(TooManyAttempts):
        await complete(use_cases, token, code_at(use_cases, secret))
    assert "login_throttled" in use_cases.security_log.names


async def test_concurrent_wrong_codes_cannot_exceed_the_limit(use_cases: UseCasesOnFakes) -> None:
    await enrolled(use_cases)
    token = await mfa_token(use_cases)

    outcomes = await asyncio.gather(
        *(complete(use_cases, token, f"{n:06d}") for n in range(20)), return_exceptions=True
    )

    assert sum(isinstance(outcome, ValidationFailed) for outcome in outcomes) <= 5
    assert sum(isinstance(outcome, TooManyAttempts) for outcome in outcomes) >= 15


async def test_a_right_code_clears_the_count(use_cases: UseCasesOnFakes) -> None:
    _, secret, _ = await enrolled(use_cases)
    for _ in range(4):
        with pytest.raises(ValidationFailed):
            await complete(use_cases, await mfa_token(use_cases), "000000")
    await complete(use_cases, await mfa_token(use_cases), code_at(use_cases, secret))
    use_cases.clock.advance(STEP)

    for _ in range(4):
        with pytest.raises(ValidationFailed):
            await complete(use_cases, await mfa_token(use_cases), "000000")
    await complete(use_cases, await mfa_token(use_cases), code_at(use_cases, secret))


async def test_an_mfa_token_completes_one_login_only(use_cases: UseCasesOnFakes) -> None:
    _, secret, codes = await enrolled(use_cases)
    token = await mfa_token(use_cases)
    await complete(use_cases, token, code_at(use_cases, secret))

    with pytest.raises(NotAuthenticated):
        await complete(use_cases, token, codes[0])


async def test_two_completions_at_once_with_one_token_start_one_session(
    use_cases: UseCasesOnFakes,
) -> None:
    _, _, codes = await enrolled(use_cases)
    token = await mfa_token(use_cases)
    sessions_before = len(use_cases.store.sessions)

    outcomes = await asyncio.gather(
        complete(use_cases, token, codes[0]),
        complete(use_cases, token, codes[1]),
        return_exceptions=True,
    )

    assert sum(isinstance(outcome, LoginResult) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, NotAuthenticated) for outcome in outcomes) == 1
    assert len(use_cases.store.sessions) == sessions_before + 1


async def test_a_wrong_code_leaves_the_token_usable(use_cases: UseCasesOnFakes) -> None:
    _, secret, _ = await enrolled(use_cases)
    token = await mfa_token(use_cases)
    with pytest.raises(ValidationFailed):
        await complete(use_cases, token, "000000")

    await complete(use_cases, token, code_at(use_cases, secret))


async def test_an_mfa_token_expires_after_five_minutes(use_cases: UseCasesOnFakes) -> None:
    _, secret, _ = await enrolled(use_cases)
    token = await mfa_token(use_cases)
    use_cases.clock.advance(timedelta(minutes=5))

    with pytest.raises(NotAuthenticated):
        await complete(use_cases, token, code_at(use_cases, secret))


async def test_a_password_changed_meanwhile_voids_the_login(use_cases: UseCasesOnFakes) -> None:
    user, secret, _ = await enrolled(use_cases)
    token = await mfa_token(use_cases)
    async with use_cases.uow() as uow:
        await uow.users.set_password_hash(user.id, PasswordHash("fake$another password"))

    with pytest.raises(NotAuthenticated):
        await complete(use_cases, token, code_at(use_cases, secret))


async def test_a_token_is_not_an_access_token_nor_the_reverse(use_cases: UseCasesOnFakes) -> None:
    await enrolled(use_cases)
    token = await mfa_token(use_cases)
    login = await use_cases.make_login("bob@example.com")

    with pytest.raises(NotAuthenticated):
        await use_cases.authenticate(AuthenticateCommand(access_token=token))
    with pytest.raises(NotAuthenticated):
        await complete(use_cases, login.tokens.access_token, "123456")


async def test_disable_needs_the_password_and_a_code_and_sends_a_notice(
    use_cases: UseCasesOnFakes,
) -> None:
    user, _, codes = await enrolled(use_cases)
    with pytest.raises(InvalidCredentials):
        await use_cases.disable_totp(
            DisableTotpCommand(user=user, password="wrong password", code=codes[0])
        )
    with pytest.raises(ValidationFailed):
        await use_cases.disable_totp(DisableTotpCommand(user=user, password=PASSWORD, code="1"))

    await use_cases.disable_totp(DisableTotpCommand(user=user, password=PASSWORD, code=codes[0]))

    assert not use_cases.store.users[user.id].mfa_enabled
    assert user.id not in use_cases.store.totp_factors
    assert user.id not in use_cases.store.recovery_codes
    assert "turned off" in notices(use_cases)[-1].subject
    result = await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    assert isinstance(result, LoginResult)


async def test_reset_turns_the_factor_off_as_a_security_event(use_cases: UseCasesOnFakes) -> None:
    user, _, _ = await enrolled(use_cases)

    assert await use_cases.reset_second_factor(ResetSecondFactorCommand(user_id=user.id))

    assert not use_cases.store.users[user.id].mfa_enabled
    assert "second_factor_reset" in use_cases.security_log.names
    assert "turned off" in notices(use_cases)[-1].subject
    assert not await use_cases.reset_second_factor(ResetSecondFactorCommand(user_id=user.id))


async def test_a_secret_sealed_under_an_old_key_works_and_is_sealed_again(
    use_cases: UseCasesOnFakes,
) -> None:
    user, secret, _ = await enrolled(use_cases)
    factor = use_cases.store.totp_factors[user.id]
    use_cases.store.totp_factors[user.id] = replace(
        factor, secret=AesGcmSecretBox((OLD_DATA_KEY,)).encrypt(secret)
    )

    await complete(use_cases, await mfa_token(use_cases), code_at(use_cases, secret))

    resealed = use_cases.store.totp_factors[user.id].secret
    assert resealed is not None
    opened = AesGcmSecretBox((DATA_KEY,)).decrypt(resealed)
    assert (opened.plaintext, opened.stale) == (secret, False)


async def test_status_of_a_user_without_the_factor(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()

    status = await use_cases.second_factor_status(login.user)

    assert (status.totp, status.recovery_codes_left) == (False, 0)


async def test_the_purge_job_deletes_logins_that_waited_in_vain(use_cases: UseCasesOnFakes) -> None:
    await enrolled(use_cases)
    await mfa_token(use_cases)
    use_cases.clock.advance(timedelta(minutes=1))
    await mfa_token(use_cases)
    use_cases.clock.advance(timedelta(minutes=4, seconds=30))

    await use_cases.purge_expired_sessions()

    [kept] = use_cases.store.mfa_challenges.values()
    assert kept.expires_at > use_cases.clock.now()
