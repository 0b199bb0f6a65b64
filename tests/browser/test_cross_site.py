"""Pages on another site (`127.0.0.1` against the API on `localhost`): a listed front end
works only with COOKIE_SAMESITE=none, and an unlisted page can neither log the browser into
another account nor change anything."""

import html
import json

import pytest
from playwright.async_api import BrowserContext, Page

from tests.browser.conftest import (
    PASSWORD,
    Api,
    Sites,
    call,
    sign_up_and_in,
    token_cookies,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

ATTACKER_EMAIL = "mallory@example.com"
# A text/plain form posts `name=value`: the `=` lands inside the password.
ATTACKER_PASSWORD_BEFORE_EQUALS, ATTACKER_PASSWORD_AFTER_EQUALS = "mallory", "password-1"


async def test_a_listed_page_on_another_site_completes_the_flow_with_samesite_none(
    page: Page, browser: BrowserContext, sites: Sites, none_api: Api
) -> None:
    await page.goto(sites.partner.origin)

    registered, logged_in = await sign_up_and_in(page, none_api, "other-site@example.com")
    cookies_after_login = await token_cookies(browser)
    profile = await call(page, f"{none_api.url}/users/profile")
    refreshed = await call(page, f"{none_api.url}/users/refresh-token", "POST")
    logged_out = await call(page, f"{none_api.url}/users/logout", "POST")

    assert [registered.status, logged_in.status] == [201, 200]
    assert {cookie["sameSite"] for cookie in cookies_after_login.values()} == {"None"}
    assert cookies_after_login.keys() == {"accessToken", "refreshToken"}
    assert profile.status == 200
    assert profile.body["data"]["email"] == "other-site@example.com"
    assert refreshed.status == 200
    assert logged_out.status == 200
    assert await token_cookies(browser) == {}


async def test_with_samesite_lax_a_page_on_another_site_gets_no_session(
    page: Page, browser: BrowserContext, sites: Sites, lax_api: Api
) -> None:
    """Why COOKIE_SAMESITE=none exists: Lax cookies never travel with a cross-site fetch."""
    await page.goto(sites.partner.origin)

    registered, logged_in = await sign_up_and_in(page, lax_api, "lax-other-site@example.com")
    profile = await call(page, f"{lax_api.url}/users/profile")

    assert [registered.status, logged_in.status] == [201, 200]
    assert await token_cookies(browser) == {}
    assert profile.status == 401


def login_form(api: Api) -> str:
    """A page that logs whoever opens it in as the attacker: a text/plain form whose single
    field is named so that `name=value` reads as the JSON of a login."""
    name = json.dumps({"email": ATTACKER_EMAIL, "password": ATTACKER_PASSWORD_BEFORE_EQUALS})
    name = name.removesuffix('"}')
    value = f'{ATTACKER_PASSWORD_AFTER_EQUALS}"}}'
    return f"""<!doctype html>
<form method="post" action="{api.url}/users/login" enctype="text/plain">
  <input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">
</form>
<script>document.forms[0].submit()</script>"""


async def test_a_page_on_another_site_cannot_log_the_browser_into_its_account(
    page: Page, browser: BrowserContext, sites: Sites, lax_api: Api
) -> None:
    async with lax_api.client() as http:
        registered = await http.post(
            "/users/register",
            json={
                "name": "Mallory",
                "email": ATTACKER_EMAIL,
                "password": f"{ATTACKER_PASSWORD_BEFORE_EQUALS}={ATTACKER_PASSWORD_AFTER_EQUALS}",
            },
        )
    assert registered.status_code == 201
    form = sites.attacker.publish("/login-csrf", login_form(lax_api))

    async with page.expect_response(f"{lax_api.url}/users/login") as answer:
        await page.goto(form)
    await (await answer.value).finished()

    assert await token_cookies(browser) == {}


# From an unlisted page of another site, with the victim signed in: requests a page may send
# without asking (no-cors POSTs, whose Lax cookies stay behind), and ones CORS must refuse
# to send at all (PATCH, DELETE, JSON bodies).
_CROSS_SITE_REQUESTS = """async ([api, planted]) => {
    const simple = (path, body) => fetch(api + path, {
        method: "POST", mode: "no-cors", credentials: "include",
        headers: {"Content-Type": "text/plain"}, body});
    const preflighted = (method, path, body) => fetch(api + path, {
        method, credentials: "include",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const sent = [
        simple("/users/register", JSON.stringify(planted)),
        simple("/users/logout"),
        simple("/users/refresh-token"),
        preflighted("PATCH", "/users/update-profile", {bio: "pwned"}),
        preflighted("PATCH", "/users/change-password",
                    {currentPassword: planted.password, newPassword: "pwned pwned pwned"}),
        preflighted("DELETE", "/users/profile", {}),
    ];
    return (await Promise.allSettled(sent)).map(outcome => outcome.status);
}"""


async def test_a_cross_site_request_without_cookies_cannot_change_anything(
    page: Page, browser: BrowserContext, sites: Sites, lax_api: Api
) -> None:
    await page.goto(sites.app.origin)
    await sign_up_and_in(page, lax_api, "victim@example.com")
    cookies_before = await token_cookies(browser)
    planted = {"name": "Planted", "email": "planted@example.com", "password": PASSWORD}

    await page.goto(sites.attacker.origin)
    outcomes = await page.evaluate(_CROSS_SITE_REQUESTS, [lax_api.url, planted])

    # The preflighted ones never left the browser.
    assert outcomes[3:] == ["rejected"] * 3
    assert await token_cookies(browser) == cookies_before
    await page.goto(sites.app.origin)
    profile = await call(page, f"{lax_api.url}/users/profile")
    assert profile.status == 200
    assert profile.body["data"]["bio"] is None
    assert (await call(page, f"{lax_api.url}/users/refresh-token", "POST")).status == 200
    async with lax_api.client() as http:
        not_planted = await http.post("/users/register", json=planted)
    assert not_planted.status_code == 201, "the cross-site page registered an account"
