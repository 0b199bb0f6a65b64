from datetime import timedelta

import pytest

from application.authentication import LoginCommand
from domain.errors import InvalidCredentials, TooManyAttempts
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
