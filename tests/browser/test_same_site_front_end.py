"""A front end on another port of the API's host: the same site, listed in CORS_ORIGINS, with
the default SameSite=Lax cookies."""

import pytest
from playwright.async_api import BrowserContext, Page

from tests.browser.conftest import Api, Sites, call, sign_up_and_in, token_cookies

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_the_page_signs_up_in_reads_refreshes_and_out_with_cookies_alone(
    page: Page, sites: Sites, lax_api: Api
) -> None:
    await page.goto(sites.app.origin)

    registered, logged_in = await sign_up_and_in(page, lax_api, "same-site@example.com")
    profile = await call(page, f"{lax_api.url}/users/profile")
    refreshed = await call(page, f"{lax_api.url}/users/refresh-token", "POST")
    profile_after_refresh = await call(page, f"{lax_api.url}/users/profile")
    logged_out = await call(page, f"{lax_api.url}/users/logout", "POST")
    profile_after_logout = await call(page, f"{lax_api.url}/users/profile")

    assert [registered.status, logged_in.status] == [201, 200]
    assert profile.status == profile_after_refresh.status == 200
    assert profile.body["data"]["email"] == "same-site@example.com"
    assert refreshed.status == 200
    assert logged_out.status == 200
    assert profile_after_logout.status == 401


async def test_the_tokens_are_kept_where_scripts_cannot_read_them(
    page: Page, browser: BrowserContext, sites: Sites, lax_api: Api
) -> None:
    await page.goto(sites.app.origin)

    await sign_up_and_in(page, lax_api, "http-only@example.com")

    cookies = await token_cookies(browser)
    assert cookies.keys() == {"accessToken", "refreshToken"}
    for cookie in cookies.values():
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Lax")
    # The page shares the API's host, so only HttpOnly keeps the tokens from its scripts.
    assert await page.evaluate("document.cookie") == ""


async def test_after_logout_the_cookie_store_holds_neither_token(
    page: Page, browser: BrowserContext, sites: Sites, lax_api: Api
) -> None:
    await page.goto(sites.app.origin)
    await sign_up_and_in(page, lax_api, "logout@example.com")
    assert (await token_cookies(browser)).keys() == {"accessToken", "refreshToken"}

    logged_out = await call(page, f"{lax_api.url}/users/logout", "POST")

    assert logged_out.status == 200
    assert await token_cookies(browser) == {}
