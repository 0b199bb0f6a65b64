"""Times, in microseconds, the two hand-made parts of the HTTP edge against what the libraries
would do instead, so that each keeps its place only while it still earns it:

- Set-Cookie rendering: Litestar's `Cookie.to_encoded_header` (through http.cookies) against
  `TokenCookie`'s, for the two token cookies a login, refresh or password change sets;
- request body decoding: a valid update-profile body read the way `JsonRequest` reads it
  (one typed decode, which Litestar then takes as it is) against Litestar's own way (an
  untyped decode, then a conversion into the struct).

Each figure is the median of several rounds of many calls, per call. No server, no I/O: the
machine may be shared, so compare the two lines of a pair, not runs on different days.

Run: .venv/bin/python bench/http_edge.py [--rounds N] [--calls N]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import msgspec
from litestar.datastructures import Cookie

from interfaces.http.auth import ACCESS_COOKIE, REFRESH_COOKIE, REFRESH_COOKIE_PATH, TokenCookie
from interfaces.http.schemas import UpdateProfileRequest

# A token of the length the service issues (HS256, the claims of section 3): ~330 characters.
TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxIn0" * 18 + ".c2lnbmF0dXJl"
BODY = msgspec.json.encode({"name": "Ada Lovelace", "bio": "First programmer", "contact": "+44"})


def token_cookies(cookie_type: type[Cookie]) -> list[Cookie]:
    attributes = {"secure": True, "httponly": True, "samesite": "lax"}
    return [
        cookie_type(key=ACCESS_COOKIE, value=TOKEN, path="/", max_age=900, **attributes),
        cookie_type(
            key=REFRESH_COOKIE,
            value=TOKEN,
            path=REFRESH_COOKIE_PATH,
            max_age=604800,
            **attributes,
        ),
    ]


def render(cookies: list[Cookie]) -> Callable[[], object]:
    return lambda: [cookie.to_encoded_header() for cookie in cookies]


def typed_decode() -> object:
    return msgspec.json.decode(BODY, type=UpdateProfileRequest)


def untyped_decode_then_convert() -> object:
    return msgspec.convert(msgspec.json.decode(BODY), UpdateProfileRequest, strict=False)


def microseconds(call: Callable[[], object], *, rounds: int, calls: int) -> float:
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        per_round.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(per_round)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    arguments = parser.parse_args()
    assert render(token_cookies(Cookie))() == render(token_cookies(TokenCookie))(), "not the same"
    pairs = {
        "two token cookies, Litestar's Cookie": render(token_cookies(Cookie)),
        "two token cookies, TokenCookie": render(token_cookies(TokenCookie)),
        "update-profile body, untyped decode + convert": untyped_decode_then_convert,
        "update-profile body, typed decode": typed_decode,
    }
    for label, call in pairs.items():
        figure = microseconds(call, rounds=arguments.rounds, calls=arguments.calls)
        print(f"{label:<48} {figure:8.2f} us")


if __name__ == "__main__":
    main()
