"""Section 10's table, row by row, on SQLite and MySQL: the second factor over HTTP."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from tests.fakes import FixedClock
from tests.http.conftest import (
    EMAIL,
    PASSWORD,
    USER_FIELDS,
    ClientFactory,
    bearer,
    error_fields,
    login,
    set_cookies,
    signed_in,
)

STEP = timedelta(seconds=30)


@dataclass
class Enrolled:
    api: httpx.AsyncClient
    clock: FixedClock
    access: str
    secret: str
    recovery_codes: list[str]

    def code(self, offset: timedelta = timedelta(0)) -> str:
        return pyotp.TOTP(self.secret).at(self.clock.now() + offset)

    async def mfa_token(self) -> str:
        response = await login(self.api)
        assert response.status_code == 200
        return str(response.json()["data"]["mfaToken"])

    async def complete(self, token: str, code: str) -> httpx.Response:
        return await self.api.post("/users/login/mfa", json={"mfaToken": token, "code": code})


@pytest.fixture
def clock() -> FixedClock:
    """Now, on the first second of a time step: a test moves on a step to use a new code."""
    now = datetime.now(UTC).replace(microsecond=0)
    return FixedClock(now - timedelta(seconds=now.second % 30))


@pytest.fixture
async def api(make_client: ClientFactory, clock: FixedClock) -> httpx.AsyncClient:
    return await make_client(cookies=False, adapters={"clock": clock}, LOGIN_MAX_FAILURES="3")


async def enrol(api: httpx.AsyncClient, clock: FixedClock) -> Enrolled:
    access = (await signed_in(api)).access
    setup = await api.post(
        "/users/mfa/totp/setup", json={"password": PASSWORD}, headers=bearer(access)
    )
    secret = setup.json()["data"]["secret"]
    confirmed = await api.post(
        "/users/mfa/totp/confirm",
        json={"code": pyotp.TOTP(secret).at(clock.now())},
        headers=bearer(access),
    )
    assert confirmed.status_code == 200
    clock.advance(STEP)  # the confirming code is spent
    return Enrolled(api, clock, access, secret, confirmed.json()["data"]["recoveryCodes"])


@pytest.fixture
async def enrolled(api: httpx.AsyncClient, clock: FixedClock) -> Enrolled:
    return await enrol(api, clock)


async def status(api: httpx.AsyncClient, access: str) -> httpx.Response:
    return await api.get("/users/mfa", headers=bearer(access))


async def test_status_without_and_with_the_factor(
    api: httpx.AsyncClient, clock: FixedClock
) -> None:
    assert (await api.get("/users/mfa")).status_code == 401
    access = (await signed_in(api, email="bob@example.com")).access
    off = await status(api, access)
    enrolled = await enrol(api, clock)
    on = await status(api, enrolled.access)

    assert off.status_code == on.status_code == 200
    assert off.json()["data"] == {"totp": False, "recoveryCodesLeft": 0}
    assert on.json()["data"] == {"totp": True, "recoveryCodesLeft": 10}
    assert on.headers["cache-control"] == "no-store"


async def test_setup_answers_a_pending_secret_with_its_qr_code(api: httpx.AsyncClient) -> None:
    access = (await signed_in(api)).access

    response = await api.post(
        "/users/mfa/totp/setup", json={"password": PASSWORD}, headers=bearer(access)
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert data.keys() == {"secret", "otpauthUri", "qrSvg"}
    assert data["otpauthUri"] == pyotp.TOTP(data["secret"]).provisioning_uri(
        name=EMAIL, issuer_name="authsvc"
    )
    assert data["qrSvg"].startswith("<svg")
    assert data["qrSvg"].rstrip().endswith("</svg>")
    assert response.headers["cache-control"] == "no-store"
    assert (await status(api, access)).json()["data"]["totp"] is False


async def test_setup_errors(api: httpx.AsyncClient, enrolled: Enrolled) -> None:
    other = (await signed_in(api, email="bob@example.com")).access

    wrong = await api.post(
        "/users/mfa/totp/setup", json={"password": "wrong"}, headers=bearer(other)
    )
    missing = await api.post("/users/mfa/totp/setup", json={}, headers=bearer(other))
    anonymous = await api.post("/users/mfa/totp/setup", json={"password": PASSWORD})
    again = await api.post(
        "/users/mfa/totp/setup", json={"password": PASSWORD}, headers=bearer(enrolled.access)
    )

    assert wrong.status_code == 401
    assert (missing.status_code, error_fields(missing)) == (400, {"password"})
    assert anonymous.status_code == 401
    assert again.status_code == 409


async def test_confirm_turns_the_factor_on_with_ten_recovery_codes(
    api: httpx.AsyncClient, clock: FixedClock
) -> None:
    access = (await signed_in(api)).access
    setup = await api.post(
        "/users/mfa/totp/setup", json={"password": PASSWORD}, headers=bearer(access)
    )
    secret = setup.json()["data"]["secret"]

    wrong = await api.post(
        "/users/mfa/totp/confirm", json={"code": "000000"}, headers=bearer(access)
    )
    right = await api.post(
        "/users/mfa/totp/confirm",
        json={"code": pyotp.TOTP(secret).at(clock.now())},
        headers=bearer(access),
    )

    assert (wrong.status_code, error_fields(wrong)) == (400, {"code"})
    assert right.status_code == 200
    codes = right.json()["data"]["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    assert right.headers["cache-control"] == "no-store"
    assert (await status(api, access)).json()["data"]["totp"] is True
    anonymous = await api.post("/users/mfa/totp/confirm", json={"code": "123456"})
    assert anonymous.status_code == 401


async def test_login_asks_for_the_code_without_cookies_or_session(enrolled: Enrolled) -> None:
    response = await login(enrolled.api)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data.keys() == {"mfaRequired", "mfaToken"}
    assert data["mfaRequired"] is True
    assert set_cookies(response) == {}
    assert response.headers["cache-control"] == "no-store"
    sessions = await enrolled.api.get("/users/sessions", headers=bearer(enrolled.access))
    assert len(sessions.json()["data"]) == 1


async def test_login_completes_with_a_code_exactly_as_a_login(enrolled: Enrolled) -> None:
    response = await enrolled.complete(await enrolled.mfa_token(), enrolled.code())

    assert response.status_code == 200
    data = response.json()["data"]
    assert data.keys() == {"user", "accessToken", "refreshToken"}
    assert data["user"].keys() >= USER_FIELDS
    assert set_cookies(response).keys() == {"accessToken", "refreshToken", "deviceToken"}
    sessions = await enrolled.api.get("/users/sessions", headers=bearer(data["accessToken"]))
    by_current = {session["current"]: session["amr"] for session in sessions.json()["data"]}
    assert by_current == {True: "pwd,otp", False: "pwd"}


async def test_login_completes_with_a_recovery_code_once(enrolled: Enrolled) -> None:
    code = enrolled.recovery_codes[0]

    first = await enrolled.complete(await enrolled.mfa_token(), code)
    second = await enrolled.complete(await enrolled.mfa_token(), code)

    assert first.status_code == 200
    assert (second.status_code, error_fields(second)) == (400, {"code"})
    left = await status(enrolled.api, enrolled.access)
    assert left.json()["data"]["recoveryCodesLeft"] == 9


async def test_login_mfa_errors(enrolled: Enrolled) -> None:
    token = await enrolled.mfa_token()

    wrong_code = await enrolled.complete(token, "000000")
    replayed = await enrolled.complete(token, enrolled.code(-2 * STEP))
    missing = await enrolled.api.post("/users/login/mfa", json={"mfaToken": token})
    bad_token = await enrolled.complete("not-a-token", enrolled.code())
    access_as_mfa = await enrolled.complete(enrolled.access, enrolled.code())
    mfa_as_access = await enrolled.api.get("/users/profile", headers=bearer(token))
    mfa_as_refresh = await enrolled.api.post("/users/refresh-token", json={"refreshToken": token})

    assert (wrong_code.status_code, error_fields(wrong_code)) == (400, {"code"})
    assert replayed.status_code == 400
    assert (missing.status_code, error_fields(missing)) == (400, {"code"})
    assert {bad_token.status_code, access_as_mfa.status_code} == {401}
    assert {mfa_as_access.status_code, mfa_as_refresh.status_code} == {401}


async def test_an_expired_mfa_token_is_a_401(enrolled: Enrolled) -> None:
    token = await enrolled.mfa_token()
    enrolled.clock.advance(timedelta(minutes=5))

    assert (await enrolled.complete(token, enrolled.code())).status_code == 401


async def test_codes_are_throttled_per_user(enrolled: Enrolled) -> None:
    token = await enrolled.mfa_token()
    for _ in range(3):  # LOGIN_MAX_FAILURES
        assert (await enrolled.complete(token, "000000")).status_code == 400

    throttled = await enrolled.complete(token, enrolled.code())

    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


async def test_two_completions_at_once_with_one_token_start_one_session(
    enrolled: Enrolled,
) -> None:
    token = await enrolled.mfa_token()

    responses = await asyncio.gather(
        enrolled.complete(token, enrolled.code()),
        enrolled.complete(token, enrolled.recovery_codes[0]),
    )

    assert sorted(response.status_code for response in responses) == [200, 401]
    sessions = await enrolled.api.get("/users/sessions", headers=bearer(enrolled.access))
    assert len(sessions.json()["data"]) == 2


async def test_disable_needs_the_password_and_a_code(enrolled: Enrolled) -> None:
    headers = bearer(enrolled.access)
    code = enrolled.recovery_codes[0]

    wrong_password = await enrolled.api.request(
        "DELETE", "/users/mfa/totp", json={"password": "wrong", "code": code}, headers=headers
    )
    wrong_code = await enrolled.api.request(
        "DELETE", "/users/mfa/totp", json={"password": PASSWORD, "code": "000000"}, headers=headers
    )
    missing = await enrolled.api.request(
        "DELETE", "/users/mfa/totp", json={"password": PASSWORD}, headers=headers
    )
    anonymous = await enrolled.api.request(
        "DELETE", "/users/mfa/totp", json={"password": PASSWORD, "code": code}
    )
    disabled = await enrolled.api.request(
        "DELETE", "/users/mfa/totp", json={"password": PASSWORD, "code": code}, headers=headers
    )

    assert wrong_password.status_code == anonymous.status_code == 401
    assert (wrong_code.status_code, error_fields(wrong_code)) == (400, {"code"})
    assert (missing.status_code, error_fields(missing)) == (400, {"code"})
    assert disabled.status_code == 200
    assert (await status(enrolled.api, enrolled.access)).json()["data"]["totp"] is False
    plain = await login(enrolled.api)
    assert plain.json()["data"].keys() == {"user", "accessToken", "refreshToken"}


async def test_new_recovery_codes_void_the_old_ones(enrolled: Enrolled) -> None:
    headers = bearer(enrolled.access)

    with_recovery_code = await enrolled.api.post(
        "/users/mfa/recovery-codes", json={"code": enrolled.recovery_codes[0]}, headers=headers
    )
    anonymous = await enrolled.api.post("/users/mfa/recovery-codes", json={"code": "123456"})
    renewed = await enrolled.api.post(
        "/users/mfa/recovery-codes", json={"code": enrolled.code()}, headers=headers
    )

    assert (with_recovery_code.status_code, error_fields(with_recovery_code)) == (400, {"code"})
    assert anonymous.status_code == 401
    assert renewed.status_code == 200
    new_codes = renewed.json()["data"]["recoveryCodes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(enrolled.recovery_codes)
    old = await enrolled.complete(await enrolled.mfa_token(), enrolled.recovery_codes[1])
    assert old.status_code == 400
    new = await enrolled.complete(await enrolled.mfa_token(), new_codes[0])
    assert new.status_code == 200
