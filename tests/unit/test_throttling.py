import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from application.accounts import ChangePasswordCommand
from application.authentication import LoginCommand, LoginResult
from application.throttling import client_key
from domain.errors import InvalidCredentials, TooManyAttempts
from domain.users import PasswordHash
from tests.unit.conftest import PASSWORD, UseCasesOnFakes


async def fail_login(
    use_cases: UseCasesOnFakes, email: str = "ada@example.com", ip: str = "192.0.2.1"
):
    with pytest.raises(InvalidCredentials):
        await use_cases.login(LoginCommand(email=email, password="wrong guess", ip=ip))


async def test_past_the_limit_even_the_right_password_is_refused(
    use_cases: UseCasesOnFakes,
) -> None:
    await use_cases.make_user()
    for _ in range(5):
        await fail_login(use_cases)
    with pytest.raises(TooManyAttempts) as caught:
        await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    assert 0 < caught.value.retry_after_seconds <= 15 * 60
    assert use_cases.security_log.names[-1] == "login_throttled"


async def test_the_limit_holds_when_the_ip_changes(use_cases: UseCasesOnFakes) -> None:
    await use_cases.make_user()
    for number in range(5):
        await fail_login(use_cases, ip=f"198.51.100.{number}")
    with pytest.raises(TooManyAttempts):
        await use_cases.login(LoginCommand(email="ADA@example.com", password=PASSWORD, ip="::1"))


async def test_unknown_emails_are_throttled_too(use_cases: UseCasesOnFakes) -> None:
    for _ in range(5):
        await fail_login(use_cases, email="nobody@example.com")
    with pytest.raises(TooManyAttempts):
        await use_cases.login(LoginCommand(email="nobody@example.com", password=PASSWORD))


async def test_the_right_password_works_again_after_the_window(use_cases: UseCasesOnFakes) -> None:
    await use_cases.make_user()
    for _ in range(5):
        await fail_login(use_cases)
    use_cases.clock.advance(timedelta(minutes=15, seconds=1))
    result = await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    assert result.user.email.value == "ada@example.com"


async def test_a_successful_login_resets_the_count(use_cases: UseCasesOnFakes) -> None:
    await use_cases.make_user()
    for _ in range(4):
        await fail_login(use_cases)
    await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    for _ in range(4):
        await fail_login(use_cases)
    assert await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))


async def test_a_client_is_limited_per_ip(use_cases: UseCasesOnFakes) -> None:
    for _ in range(100):
        await use_cases.throttle_client("203.0.113.7")
    with pytest.raises(TooManyAttempts):
        await use_cases.throttle_client("203.0.113.7")
    await use_cases.throttle_client("203.0.113.8")
    assert use_cases.security_log.names == ["client_throttled"]


async def test_concurrent_guesses_are_counted_before_they_are_verified(
    use_cases: UseCasesOnFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    await use_cases.make_user()
    verified = 0
    verify = use_cases.hasher.verify

    async def slow_verify(password: str, password_hash: PasswordHash) -> bool:
        nonlocal verified
        verified += 1
        await asyncio.sleep(0)  # hands the loop to the other guesses, as a hashing thread does
        return await verify(password, password_hash)

    monkeypatch.setattr(use_cases.hasher, "verify", slow_verify)

    outcomes = await asyncio.gather(
        *(
            use_cases.login(LoginCommand(email="ada@example.com", password=f"guess {number}"))
            for number in range(20)
        ),
        return_exceptions=True,
    )

    assert verified == 5
    assert [type(outcome) for outcome in outcomes].count(InvalidCredentials) == 5
    assert [type(outcome) for outcome in outcomes].count(TooManyAttempts) == 15


async def change_password(
    use_cases: UseCasesOnFakes, login: LoginResult, current: str, device_token: str | None = None
) -> None:
    await use_cases.change_password(
        ChangePasswordCommand(
            user_id=login.user.id,
            session_id=login.session_id,
            current_password=current,
            new_password="a brand new secret",
            device_token=device_token,
        )
    )


async def test_login_and_change_password_share_one_count(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    for _ in range(3):
        await fail_login(use_cases)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await change_password(use_cases, login, "not the password")

    with pytest.raises(TooManyAttempts):
        await change_password(use_cases, login, PASSWORD)
    with pytest.raises(TooManyAttempts):
        await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))


async def lock_out_the_email(use_cases: UseCasesOnFakes, email: str = "ada@example.com") -> None:
    for _ in range(5):
        await fail_login(use_cases, email=email)
    with pytest.raises(TooManyAttempts):
        await use_cases.login(LoginCommand(email=email, password=PASSWORD))


async def test_a_device_that_logged_in_before_is_not_locked_out_by_strangers(
    use_cases: UseCasesOnFakes,
) -> None:
    device_token = (await use_cases.make_login()).device_token
    await lock_out_the_email(use_cases)

    result = await use_cases.login(
        LoginCommand(email="ada@example.com", password=PASSWORD, device_token=device_token)
    )

    assert result.user.email.value == "ada@example.com"


async def test_a_device_has_an_allowance_of_its_own(use_cases: UseCasesOnFakes) -> None:
    device_token = (await use_cases.make_login()).device_token
    from_device = LoginCommand(email="ada@example.com", password="wrong", device_token=device_token)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await use_cases.login(from_device)

    with pytest.raises(TooManyAttempts):
        await use_cases.login(
            LoginCommand(email="ada@example.com", password=PASSWORD, device_token=device_token)
        )
    assert await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))


async def test_change_password_counts_a_device_on_its_own_allowance(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    await lock_out_the_email(use_cases)

    await change_password(use_cases, login, PASSWORD, device_token=login.device_token)

    assert "password_changed" in use_cases.security_log.names


async def test_a_device_token_of_another_user_counts_on_the_email(
    use_cases: UseCasesOnFakes,
) -> None:
    strangers_device = (await use_cases.make_login("mallory@example.com")).device_token
    await use_cases.make_user()
    await lock_out_the_email(use_cases)

    with pytest.raises(TooManyAttempts):
        await use_cases.login(
            LoginCommand(email="ada@example.com", password=PASSWORD, device_token=strangers_device)
        )


def with_another_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature[::-1]}"


@pytest.mark.parametrize(
    "device_token",
    [
        pytest.param(with_another_signature, id="forged"),
        pytest.param(lambda token: "not a token", id="garbage"),
    ],
)
async def test_a_device_token_that_does_not_verify_counts_on_the_email(
    use_cases: UseCasesOnFakes, device_token: Callable[[str], str]
) -> None:
    issued = (await use_cases.make_login()).device_token
    await lock_out_the_email(use_cases)

    with pytest.raises(TooManyAttempts):
        await use_cases.login(
            LoginCommand(
                email="ada@example.com", password=PASSWORD, device_token=device_token(issued)
            )
        )


async def test_an_expired_device_token_counts_on_the_email(use_cases: UseCasesOnFakes) -> None:
    device_token = (await use_cases.make_login()).device_token
    use_cases.clock.advance(timedelta(days=90))
    await lock_out_the_email(use_cases)

    with pytest.raises(TooManyAttempts):
        await use_cases.login(
            LoginCommand(email="ada@example.com", password=PASSWORD, device_token=device_token)
        )


async def test_clients_without_an_address_share_one_allowance(use_cases: UseCasesOnFakes) -> None:
    for _ in range(100):
        await use_cases.throttle_client(None)

    with pytest.raises(TooManyAttempts):
        await use_cases.throttle_client(None)


async def test_an_ipv6_client_is_its_64_network(use_cases: UseCasesOnFakes) -> None:
    for host in range(100):
        await use_cases.throttle_client(f"2001:db8:1:2::{host:x}")

    with pytest.raises(TooManyAttempts):
        await use_cases.throttle_client("2001:db8:1:2:ffff:ffff:ffff:ffff")
    await use_cases.throttle_client("2001:db8:1:3::1")


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        (None, "no-address"),
    ],
)
def test_client_keys(ip: str | None, key: str) -> None:
    assert client_key(ip) == key
