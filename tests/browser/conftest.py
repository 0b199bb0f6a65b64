"""The service as a browser meets it: Debian's Chromium, headless, driven by Playwright, against
real `authsvc serve` processes and small pages served from other origins.

Sites: the API is `http://localhost:<port>`. A page on another port of `localhost` is the
same site (SameSite ignores ports); a page on `127.0.0.1` is another site. Chromium treats
`localhost` as a secure context, so the service's Secure cookies are kept over plain http and
no certificate is needed.

One browser serves the whole session; each test starts with an empty cookie store. Without
/usr/bin/chromium the tests skip, or fail under `REQUIRE_BROWSER=1` (as in CI, whose `.ci/run`
installs Debian's `chromium`).
"""

import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, async_playwright

from tests.databases import sqlite_url
from tests.system.processes import (
    LOOPBACK,
    PASSWORD,
    ServerProcess,
    environment,
    run_authsvc,
    serving,
)

CHROMIUM = Path("/usr/bin/chromium")
# What the machines here need: no sandbox as root, and no background traffic to Google's hosts
# (the network is closed; Chromium's retries only slow it down).
CHROMIUM_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chromium blocks third-party cookies unless its profile says otherwise (the cookies of a
# cross-site fetch are dropped with the reason "UserPreferences"). A front end on another site
# (SameSite=None) needs a browser that allows them, and a cross-site attack is best tried in
# one, so the profile allows them.
ALLOW_THIRD_PARTY_COOKIES = {"profile": {"cookie_controls_mode": 0}}
API_HOST = "localhost"
OTHER_SITE_HOST = LOOPBACK
TOKEN_COOKIES = {"accessToken", "refreshToken"}


@dataclass
class Site:
    """A tiny static web server: the pages of one origin, published by the tests."""

    host: str
    server: ThreadingHTTPServer
    pages: dict[str, bytes] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def publish(self, path: str, html: str) -> str:
        """Serves `html` at `path` from now on; returns its URL."""
        self.pages[path] = html.encode()
        return self.origin + path


def _handler_for(pages: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class PageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = pages.get(self.path)
            self.send_response(200 if page is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page or b"")))
            self.end_headers()
            self.wfile.write(page or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test output is no place for an access log

    return PageHandler


@dataclass(frozen=True)
class Sites:
    """The origins the pages come from, besides the API's."""

    app: Site
    """Another port of the API's host, so the same site; listed in CORS_ORIGINS."""
    partner: Site
    """Another site, listed in CORS_ORIGINS: a front end on its own domain."""
    attacker: Site
    """Another site, never listed."""


@dataclass(frozen=True)
class Api:
    server: ServerProcess

    @property
    def url(self) -> str:
        return f"http://{API_HOST}:{self.server.port}"

    def client(self) -> httpx.AsyncClient:
        """A cookie-less client straight to the server, for what no browser should see."""
        return self.server.client()


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _start_site(host: str) -> Site:
    """A site named `host`, listening on a free loopback port, with an empty page at `/`."""
    pages: dict[str, bytes] = {}
    site = Site(host, ThreadingHTTPServer((LOOPBACK, 0), _handler_for(pages)), pages)
    site.publish("/", "<!doctype html><title>page</title>")
    threading.Thread(target=site.server.serve_forever, daemon=True).start()
    return site


@pytest.fixture(scope="session")
def sites() -> Iterator[Sites]:
    sites = Sites(
        app=_start_site(API_HOST),
        partner=_start_site(OTHER_SITE_HOST),
        attacker=_start_site(OTHER_SITE_HOST),
    )
    yield sites
    for site in (sites.app, sites.partner, sites.attacker):
        site.server.shutdown()
        site.server.server_close()


@asynccontextmanager
async def _serving_api(directory: Path, sites: Sites, samesite: str) -> AsyncIterator[Api]:
    env = environment(
        DATABASE_URL=sqlite_url(directory),
        CORS_ORIGINS=f"{sites.app.origin},{sites.partner.origin}",
        COOKIE_SAMESITE=samesite,
    )
    await run_authsvc("db", "upgrade", env=env, cwd=directory)
    async with serving(env, directory) as server:
        yield Api(server)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lax_api(tmp_path_factory: pytest.TempPathFactory, sites: Sites) -> AsyncIterator[Api]:
    """The service with its default cookies (SameSite=Lax; Secure)."""
    async with _serving_api(tmp_path_factory.mktemp("lax"), sites, "lax") as api:
        yield api


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def none_api(tmp_path_factory: pytest.TempPathFactory, sites: Sites) -> AsyncIterator[Api]:
    """The service with COOKIE_SAMESITE=none, for a front end on another site."""
    async with _serving_api(tmp_path_factory.mktemp("none"), sites, "none") as api:
        yield api


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """One headless Chromium for the session, on a fresh profile."""
    _require_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    (profile / "Default").mkdir()
    (profile / "Default" / "Preferences").write_text(json.dumps(ALLOW_THIRD_PARTY_COOKIES))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGUMENTS
        )
        yield context
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: BrowserContext) -> AsyncIterator[Page]:
    """A fresh tab, the browser's cookie store emptied first."""
    await browser.clear_cookies()
    page = await browser.new_page()
    yield page
    await page.close()


_FETCH = """async ([url, method, body]) => {
    const init = {method, credentials: "include"};
    if (body !== null) {
        init.headers = {"Content-Type": "application/json"};
        init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    return {status: response.status, body: await response.json()};
}"""


async def call(page: Page, url: str, method: str = "GET", body: object = None) -> Reply:
    """`fetch(url, {credentials: "include"})` from the page, with `body` as JSON if given;
    raises if the browser withholds the response (CORS)."""
    reply = await page.evaluate(_FETCH, [url, method, body])
    return Reply(reply["status"], reply["body"])


async def sign_up_and_in(page: Page, api: Api, email: str) -> tuple[Reply, Reply]:
    """Register and login, from the page: their replies."""
    registered = await call(
        page,
        f"{api.url}/users/register",
        "POST",
        {"name": "Ada", "email": email, "password": PASSWORD},
    )
    logged_in = await call(
        page, f"{api.url}/users/login", "POST", {"email": email, "password": PASSWORD}
    )
    return registered, logged_in


async def token_cookies(context: BrowserContext) -> dict[str, Any]:
    """The token cookies in the browser's store for the API's host, by name, read over the
    DevTools protocol: `document.cookie` cannot see HttpOnly cookies."""
    return {
        cookie["name"]: cookie
        for cookie in await context.cookies()
        if cookie["domain"] == API_HOST and cookie["name"] in TOKEN_COOKIES
    }
