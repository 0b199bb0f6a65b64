"""Every row of the email table (DESIGN section 9): forgot-password, reset-password,
verify-email, resend-verification, change-email, confirm-email-change; and login under
REQUIRE_EMAIL_VERIFICATION. Mail is read from the database's outbox, as a deliverer takes it."""

import asyncio
from datetime import timedelta

import httpx
import pytest

from tests.fakes import FixedClock
from tests.http.conftest import (
    EMAIL,
    NEW_PASSWORD,
    PASSWORD,
    USER_FIELDS,
    ClientFactory,
    Mailbox,
    bearer,
    error_fields,
    login,
    profile_with,
    register,
    set_cookies,
    signed_in,
)
from tests.mails import has_no_token, token_in

NEW_EMAIL = "countess@example.com"
FORGOT_MESSAGE = "If an account has this email, a reset link is on its way"


async def forgot(client: httpx.AsyncClient, email: str = EMAIL) -> httpx.Response:
    return await client.post("/users/forgot-password", json={"email": email})


async def reset(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/users/reset-password", json={"token": token, "newPassword": password}
    )


async def registered(client: httpx.AsyncClient, mailbox: Mailbox, email: str = EMAIL) -> str:
    """Registers a user; the token of their verification mail."""
    assert (await register(client, email=email)).status_code == 201
    (mail,) = await mailbox.take()
    return token_in(mail)


async def reset_token(client: httpx.AsyncClient, mailbox: Mailbox, email: str = EMAIL) -> str:
    assert (await forgot(client, email)).status_code == 202
    (mail,) = await mailbox.take()
    assert mail.to == email
    return token_in(mail)


# POST /users/forgot-password


async def test_forgot_password_answers_alike_for_known_and_unknown_emails(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(api, mailbox)

    known = await forgot(api, EMAIL)
    unknown = await forgot(api, "nobody@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.json() == {
        "statusCode": 202,
        "data": None,
        "message": FORGOT_MESSAGE,
        "success": True,
    }
    (mail,) = await mailbox.take()  # the known email's only
    assert (mail.to, mail.subject) == (EMAIL, "Reset your password")
    assert f"/reset-password?token={token_in(mail)}" in mail.text


async def test_forgot_password_refuses_an_invalid_email(api: httpx.AsyncClient) -> None:
    response = await forgot(api, "not an email")

    assert response.status_code == 400
    assert error_fields(response) == {"email"}


async def test_forgot_password_is_limited_per_email(
    make_client: ClientFactory, mailbox: Mailbox
) -> None:
    api = await make_client(cookies=False, PASSWORD_RESET_RATE="2/hour")
    for email in (EMAIL, "nobody@example.com"):
        assert [(await forgot(api, email)).status_code for _ in range(3)] == [202, 202, 429]
    limited = await forgot(api, EMAIL)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert (await forgot(api, "grace@example.com")).status_code == 202


async def test_forgot_password_is_limited_per_client(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, AUTH_RATE_LIMIT="2/minute")
    statuses = [(await forgot(api, f"user{n}@example.com")).status_code for n in range(3)]

    assert statuses == [202, 202, 429]


async def test_forgot_password_from_another_site_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/users/forgot-password",
        json={"email": EMAIL},
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403


async def test_forgot_password_needs_a_json_body(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/users/forgot-password",
        content=b'{"email": "ada@example.com"}',
        headers={"Content-Type": "text/plain"},
    )

    assert response.status_code == 415


# POST /users/reset-password


async def test_reset_password_sets_it_ends_sessions_verifies_and_notifies(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await signed_in(api)
    await mailbox.take()
    token = await reset_token(api, mailbox)

    response = await reset(api, token)

    assert response.status_code == 200
    assert response.json()["data"] is None
    assert (await profile_with(api, tokens.access)).status_code == 401
    assert (await login(api, password=PASSWORD)).status_code == 401
    signed = await login(api, password=NEW_PASSWORD)
    assert signed.status_code == 200
    assert signed.json()["data"]["user"]["emailVerified"] is True
    (notice,) = await mailbox.take()
    assert (notice.to, notice.subject) == (EMAIL, "Your password was changed")
    assert has_no_token(notice)


async def test_reset_password_clears_the_emails_failure_count(
    make_client: ClientFactory, mailbox: Mailbox
) -> None:
    api = await make_client(cookies=False, LOGIN_MAX_FAILURES="2")
    await registered(api, mailbox)
    for _ in range(2):
        assert (await login(api, password="a wrong guess")).status_code == 401
    assert (await login(api)).status_code == 429

    assert (await reset(api, await reset_token(api, mailbox))).status_code == 200

    assert (await login(api, password=NEW_PASSWORD)).status_code == 200


async def test_reset_password_clears_the_browsers_token_cookies(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await signed_in(client)
    await mailbox.take()

    response = await reset(client, await reset_token(client, mailbox))

    cookies = set_cookies(response)
    assert cookies["accessToken"].attributes["max-age"] == "0"
    assert cookies["refreshToken"].attributes["max-age"] == "0"


async def test_a_reset_token_works_once(api: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await registered(api, mailbox)
    token = await reset_token(api, mailbox)
    assert (await reset(api, token)).status_code == 200

    again = await reset(api, token, "yet another passphrase")

    assert again.status_code == 400
    assert error_fields(again) == {"token"}


async def test_a_newer_reset_token_supersedes_the_older(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(api, mailbox)
    older = await reset_token(api, mailbox)
    newer = await reset_token(api, mailbox)

    superseded = await reset(api, older)

    assert superseded.status_code == 400
    assert error_fields(superseded) == {"token"}
    assert (await reset(api, newer)).status_code == 200


async def test_a_reset_token_expires(make_client: ClientFactory, mailbox: Mailbox) -> None:
    clock = FixedClock()
    api = await make_client(cookies=False, adapters={"clock": clock}, PASSWORD_RESET_TTL="10m")
    await registered(api, mailbox)
    token = await reset_token(api, mailbox)
    clock.advance(timedelta(minutes=10))

    expired = await reset(api, token)

    assert expired.status_code == 400
    assert error_fields(expired) == {"token"}


@pytest.mark.parametrize("token", ["", "unknown", "A" * 43])
async def test_reset_password_refuses_an_unknown_token(api: httpx.AsyncClient, token: str) -> None:
    response = await reset(api, token)

    assert response.status_code == 400
    assert error_fields(response) == {"token"}


async def test_reset_password_refuses_a_weak_password_and_keeps_the_token(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(api, mailbox)
    token = await reset_token(api, mailbox)

    weak = await reset(api, token, "short")

    assert weak.status_code == 400
    assert error_fields(weak) == {"newPassword"}
    assert (await reset(api, token)).status_code == 200


async def test_reset_password_refuses_a_malformed_body(api: httpx.AsyncClient) -> None:
    response = await api.post("/users/reset-password", json={"token": 1, "extra": True})

    assert response.status_code == 400
    assert error_fields(response) == {"token", "newPassword", "extra"}


async def test_reset_password_is_limited_per_client(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, AUTH_RATE_LIMIT="2/minute")
    statuses = [(await reset(api, "unknown")).status_code for _ in range(3)]

    assert statuses == [400, 400, 429]


async def test_two_concurrent_resets_with_one_token_one_wins(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(api, mailbox)
    token = await reset_token(api, mailbox)

    responses = await asyncio.gather(
        reset(api, token, "first new passphrase"), reset(api, token, "second new passphrase")
    )

    assert sorted(response.status_code for response in responses) == [200, 400]
    winner = next(r for r in responses if r.status_code == 200)
    won = "first new passphrase" if winner is responses[0] else "second new passphrase"
    assert (await login(api, password=won)).status_code == 200
    assert len(await mailbox.take()) == 1  # one notice


# POST /users/verify-email


async def test_verify_email_answers_the_verified_user(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    token = await registered(api, mailbox)

    response = await api.post("/users/verify-email", json={"token": token})

    assert response.status_code == 200
    user = response.json()["data"]
    assert user.keys() == USER_FIELDS
    assert (user["email"], user["emailVerified"]) == (EMAIL, True)
    assert response.headers["Cache-Control"] == "no-store"
    again = await api.post("/users/verify-email", json={"token": token})
    assert again.status_code == 400
    assert error_fields(again) == {"token"}


async def test_verify_email_refuses_another_kind_of_token(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(api, mailbox)

    response = await api.post(
        "/users/verify-email", json={"token": await reset_token(api, mailbox)}
    )

    assert response.status_code == 400
    assert error_fields(response) == {"token"}


async def test_the_link_itself_consumes_nothing(api: httpx.AsyncClient, mailbox: Mailbox) -> None:
    token = await registered(api, mailbox)

    scanned = await api.get("/users/verify-email", params={"token": token})

    assert scanned.status_code == 405
    assert (await api.post("/users/verify-email", json={"token": token})).status_code == 200


# POST /users/resend-verification


async def test_resend_verification_queues_a_new_link(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await signed_in(api)
    (first,) = await mailbox.take()

    response = await api.post("/users/resend-verification", headers=bearer(tokens.access))

    assert response.status_code == 202
    assert response.json()["data"] is None
    (second,) = await mailbox.take()
    old = await api.post("/users/verify-email", json={"token": token_in(first)})
    assert old.status_code == 400
    new = await api.post("/users/verify-email", json={"token": token_in(second)})
    assert new.status_code == 200


async def test_resend_verification_of_a_verified_address_sends_nothing(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await signed_in(api)
    (mail,) = await mailbox.take()
    await api.post("/users/verify-email", json={"token": token_in(mail)})

    response = await api.post("/users/resend-verification", headers=bearer(tokens.access))

    assert response.status_code == 200
    assert await mailbox.take() == []


async def test_resend_verification_needs_a_session(api: httpx.AsyncClient) -> None:
    assert (await api.post("/users/resend-verification")).status_code == 401


async def test_resend_verification_is_limited(make_client: ClientFactory, mailbox: Mailbox) -> None:
    api = await make_client(cookies=False, PASSWORD_RESET_RATE="2/hour")
    tokens = await signed_in(api)

    statuses = [
        (await api.post("/users/resend-verification", headers=bearer(tokens.access))).status_code
        for _ in range(3)
    ]

    assert statuses == [202, 202, 429]


# POST /users/change-email and /users/confirm-email-change


async def change_email(
    api: httpx.AsyncClient, access: str, *, password: str = PASSWORD, new_email: str = NEW_EMAIL
) -> httpx.Response:
    return await api.post(
        "/users/change-email",
        json={"password": password, "newEmail": new_email},
        headers=bearer(access),
    )


async def test_email_change_confirmed_switches_address_ends_sessions_and_notifies_the_old(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await signed_in(api)
    await mailbox.take()

    requested = await change_email(api, tokens.access)

    assert requested.status_code == 202
    (confirmation,) = await mailbox.take()
    assert (confirmation.to, confirmation.subject) == (NEW_EMAIL, "Confirm your new email address")
    assert f"/confirm-email-change?token={token_in(confirmation)}" in confirmation.text
    confirmed = await api.post(
        "/users/confirm-email-change", json={"token": token_in(confirmation)}
    )
    assert confirmed.status_code == 200
    user = confirmed.json()["data"]
    assert user.keys() == USER_FIELDS
    assert (user["email"], user["emailVerified"]) == (NEW_EMAIL, True)
    assert (await profile_with(api, tokens.access)).status_code == 401
    (notice,) = await mailbox.take()
    assert (notice.to, notice.subject) == (EMAIL, "Your email address was changed")
    assert has_no_token(notice)
    assert (await login(api, email=NEW_EMAIL)).status_code == 200
    assert (await login(api, email=EMAIL)).status_code == 401


async def test_change_email_refuses_a_wrong_password(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await signed_in(api)
    await mailbox.take()

    response = await change_email(api, tokens.access, password="a wrong guess")

    assert response.status_code == 401
    assert await mailbox.take() == []


async def test_change_email_counts_wrong_passwords_like_logins(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, LOGIN_MAX_FAILURES="2")
    tokens = await signed_in(api)

    statuses = [
        (await change_email(api, tokens.access, password="a wrong guess")).status_code
        for _ in range(3)
    ]

    assert statuses == [401, 401, 429]


async def test_change_email_refuses_a_taken_address(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(api, mailbox, NEW_EMAIL)
    tokens = await signed_in(api)

    response = await change_email(api, tokens.access)

    assert response.status_code == 409


async def test_change_email_refuses_an_invalid_address(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await change_email(api, tokens.access, new_email="nope")

    assert response.status_code == 400
    assert error_fields(response) == {"newEmail"}


async def test_change_email_needs_a_session(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/users/change-email", json={"password": PASSWORD, "newEmail": NEW_EMAIL}
    )

    assert response.status_code == 401


async def test_confirm_email_change_of_an_address_taken_meanwhile(
    api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await signed_in(api)
    await mailbox.take()
    assert (await change_email(api, tokens.access)).status_code == 202
    (confirmation,) = await mailbox.take()
    await registered(api, mailbox, NEW_EMAIL)

    response = await api.post("/users/confirm-email-change", json={"token": token_in(confirmation)})

    assert response.status_code == 409
    assert (await profile_with(api, tokens.access)).json()["data"]["email"] == EMAIL


async def test_confirm_email_change_refuses_an_unknown_token(api: httpx.AsyncClient) -> None:
    response = await api.post("/users/confirm-email-change", json={"token": "A" * 43})

    assert response.status_code == 400
    assert error_fields(response) == {"token"}


# POST /users/login with REQUIRE_EMAIL_VERIFICATION


async def test_login_of_an_unverified_address_is_403_only_after_the_right_password(
    make_client: ClientFactory, mailbox: Mailbox
) -> None:
    api = await make_client(cookies=False, REQUIRE_EMAIL_VERIFICATION="true")
    token = await registered(api, mailbox)

    assert (await login(api, password="a wrong guess")).status_code == 401
    refused = await login(api)
    assert refused.status_code == 403
    assert refused.json()["message"] == "Email not verified"
    assert not set_cookies(refused)
    assert (await api.post("/users/verify-email", json={"token": token})).status_code == 200
    assert (await login(api)).status_code == 200
