"""Forged, tampered and misused JWTs: each is refused with a 401 (never a 5xx, which the
client's response check would fail), and the legitimate token keeps working afterwards.

Tokens are forged by hand (base64url, JSON, HMAC) so that no JWT library's own checks stand
between an attack and the service. The service runs with secrets this module knows, so some
attacks are re-signed with the real secret: those show that a validly signed token must still
have the right shape.

Attacks on the token alone are decided before any database query, so they run on SQLite only
to keep the suite quick; the ones that involve sessions and users run on both databases.
"""

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest

from tests.http.conftest import (
    ClientFactory,
    Tokens,
    bearer,
    login,
    profile_with,
    refresh_with,
    register,
    signed_in,
    tokens_of,
)

ACCESS_SECRET = secrets.token_urlsafe(36)
REFRESH_SECRET = secrets.token_urlsafe(36)
SECRETS = {"access": ACCESS_SECRET, "refresh": REFRESH_SECRET}
Kind = Literal["access", "refresh"]
KINDS = [pytest.param("access", id="access"), pytest.param("refresh", id="refresh")]

SQLITE_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("sqlite", id="sqlite")], indirect=True
)

WEAK_SECRETS = [
    "secret",
    "password",
    "123456",
    "changeme",
    "your_access_secret",
    "your_refresh_secret",
    "jwt_secret",
    "your_jwt_secret",
    "secretkey",
    "secret_key",
    "mysecret",
    "supersecret",
    "your-256-bit-secret",
    "access_token_secret",
    "refresh_token_secret",
    "ACCESS_TOKEN_SECRET",
    "jwt",
    "key",
    "test",
    "admin",
    "qwerty",
    "default",
]


# Forging.


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def part(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def forge(
    claims: dict[str, Any],
    *,
    key: str | bytes | None,
    header: dict[str, Any] | None = None,
    digest: Callable[..., Any] = hashlib.sha256,
) -> str:
    """A JWT of `header` (HS256 by default) and `claims`, HMAC-signed with `key`, or with an
    empty signature when `key` is None."""
    signing_input = f"{part(header or {'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    if key is None:
        return f"{signing_input}."
    raw_key = key.encode() if isinstance(key, str) else key
    return f"{signing_input}.{b64(hmac.new(raw_key, signing_input.encode(), digest).digest())}"


def resigned(kind: Kind, claims: dict[str, Any]) -> str:
    """`claims` signed with the service's real secret for `kind`."""
    return forge(claims, key=SECRETS[kind])


# The service and its legitimate user.


@dataclass(frozen=True, slots=True)
class Victim:
    api: httpx.AsyncClient
    tokens: Tokens

    def token(self, kind: Kind) -> str:
        return self.tokens.access if kind == "access" else self.tokens.refresh

    def claims(self, kind: Kind) -> dict[str, Any]:
        return claims_of(self.token(kind))


@pytest.fixture
async def service(make_client: ClientFactory) -> httpx.AsyncClient:
    """An API client on the service signing with this module's secrets."""
    return await make_client(
        cookies=False, ACCESS_TOKEN_SECRET=ACCESS_SECRET, REFRESH_TOKEN_SECRET=REFRESH_SECRET
    )


@pytest.fixture
async def victim(service: httpx.AsyncClient) -> Victim:
    return Victim(service, await signed_in(service))


async def present(api: httpx.AsyncClient, kind: Kind, token: str) -> httpx.Response:
    """Uses `token` where a token of `kind` is expected."""
    return await (profile_with if kind == "access" else refresh_with)(api, token)


async def assert_refused(victim: Victim, kind: Kind, token: str) -> None:
    response = await present(victim.api, kind, token)

    assert response.status_code == 401, response.text
    assert (await present(victim.api, kind, victim.token(kind))).status_code == 200


async def statuses(victim: Victim, kind: Kind, tokens: dict[str, str]) -> dict[str, int]:
    """The status each token gets, by name; then, as "legitimate", the real token's."""
    answered = {
        name: (await present(victim.api, kind, token)).status_code for name, token in tokens.items()
    }
    answered["legitimate"] = (await present(victim.api, kind, victim.token(kind))).status_code
    return answered


def all_refused(tokens: dict[str, str]) -> dict[str, int]:
    return dict.fromkeys(tokens, 401) | {"legitimate": 200}


# Signatures and algorithms.


def _with_alg(alg: str) -> Callable[[Victim, Kind], str]:
    return lambda victim, kind: forge(
        victim.claims(kind), key=None, header={"alg": alg, "typ": "JWT"}
    )


def _without_signature(victim: Victim, kind: Kind) -> str:
    return victim.token(kind).rsplit(".", 1)[0] + "."


def _signature_cut(victim: Victim, kind: Kind) -> str:
    return victim.token(kind)[:-4]


def _one_signature_character_changed(victim: Victim, kind: Kind) -> str:
    token = victim.token(kind)
    return token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]


def _empty_key(victim: Victim, kind: Kind) -> str:
    return forge(victim.claims(kind), key=b"")


def _hs512_with_the_real_secret(victim: Victim, kind: Kind) -> str:
    header = {"alg": "HS512", "typ": "JWT"}
    return forge(victim.claims(kind), key=SECRETS[kind], header=header, digest=hashlib.sha512)


def _rs256_random_signature(victim: Victim, kind: Kind) -> str:
    signing_input = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(victim.claims(kind))}"
    return f"{signing_input}.{b64(secrets.token_bytes(256))}"


def _the_other_kinds_secret(victim: Victim, kind: Kind) -> str:
    other: Kind = "refresh" if kind == "access" else "access"
    return forge(victim.claims(kind), key=SECRETS[other])


def _not_a_jwt(victim: Victim, kind: Kind) -> str:
    return "not-a-jwt"


def _four_parts(victim: Victim, kind: Kind) -> str:
    return victim.token(kind) + ".AAAA"


@SQLITE_ONLY
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(_with_alg("none"), id="alg-none"),
        pytest.param(_with_alg("None"), id="alg-None"),
        pytest.param(_with_alg("NONE"), id="alg-NONE"),
        pytest.param(_without_signature, id="null-signature"),
        pytest.param(_signature_cut, id="signature-cut"),
        pytest.param(_one_signature_character_changed, id="signature-changed"),
        pytest.param(_empty_key, id="hs256-empty-key"),
        pytest.param(_hs512_with_the_real_secret, id="hs512"),
        pytest.param(_rs256_random_signature, id="rs256"),
        pytest.param(_the_other_kinds_secret, id="other-secret"),
        pytest.param(_not_a_jwt, id="garbage"),
        pytest.param(_four_parts, id="four-parts"),
    ],
)
async def test_a_forged_signature_or_algorithm_is_refused(
    victim: Victim, kind: Kind, attack: Callable[[Victim, Kind], str]
) -> None:
    await assert_refused(victim, kind, attack(victim, kind))


@SQLITE_ONLY
@pytest.mark.parametrize("kind", KINDS)
async def test_tokens_signed_with_common_weak_secrets_are_refused(
    victim: Victim, kind: Kind
) -> None:
    forged = {secret: forge(victim.claims(kind), key=secret) for secret in WEAK_SECRETS}

    answered = await statuses(victim, kind, forged)

    assert answered == all_refused(forged)


# Headers that point elsewhere for the key: nothing may be fetched.


class Listener:
    """A TCP listener on a free loopback port that records the connections it is offered."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.peers: list[tuple[str, int]] = []
        self._accepted = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, peer = self._socket.accept()
            except TimeoutError:
                continue
            connection.close()
            with self._accepted:
                self.peers.append(peer)
                self._accepted.notify_all()

    def connections_before_now(self) -> list[tuple[str, int]]:
        """The connections offered so far. A connection of our own is sent behind them and
        waited for: the listener accepts in order, so once it has ours, it has had every
        connection made before it."""
        with socket.create_connection(self._socket.getsockname()) as own:
            marker = own.getsockname()
            with self._accepted:
                assert self._accepted.wait_for(lambda: marker in self.peers, timeout=10)
                return self.peers[: self.peers.index(marker)]

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    try:
        yield listening
    finally:
        listening.close()


ATTACKER_KEY = secrets.token_bytes(32)
KEYS = {"kid-path-traversal": b""}
"""What each forged token is signed with, if not the attacker's own key (the one it embeds)."""


def _key_headers(url: str) -> dict[str, dict[str, Any]]:
    return {
        "kid-url": {"alg": "HS256", "kid": f"{url}/key"},
        "jku": {"alg": "HS256", "jku": f"{url}/jwks.json", "kid": "attacker"},
        "x5u": {"alg": "RS256", "x5u": f"{url}/cert.pem"},
        "jwk-embedded": {"alg": "HS256", "jwk": {"kty": "oct", "k": b64(ATTACKER_KEY)}},
        "jwk-with-jku": {
            "alg": "HS256",
            "jwk": {"kty": "oct", "k": b64(ATTACKER_KEY), "jku": f"{url}/jwks.json"},
        },
        "kid-path-traversal": {"alg": "HS256", "kid": "../../../../../../../dev/null"},
    }


@SQLITE_ONLY
@pytest.mark.parametrize("kind", KINDS)
async def test_key_locating_headers_are_ignored_and_nothing_is_fetched(
    victim: Victim, kind: Kind, listener: Listener
) -> None:
    forged = {
        name: forge(victim.claims(kind), key=KEYS.get(name, ATTACKER_KEY), header=header)
        for name, header in _key_headers(listener.url).items()
    }

    answered = await statuses(victim, kind, forged)

    assert answered == all_refused(forged)
    assert listener.connections_before_now() == []


# Claims, re-signed with the real secret: a token must still carry every claim, each of the
# right type and value.

ACCESS_CLAIMS = ("sub", "email", "sid", "typ", "iat", "exp", "jti", "iss", "aud")
REFRESH_CLAIMS = ("sub", "email", "sid", "sxp", "typ", "iat", "exp", "jti", "iss", "aud")


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("kind", "claim"),
    [
        *(pytest.param("access", claim, id=f"access-{claim}") for claim in ACCESS_CLAIMS),
        *(pytest.param("refresh", claim, id=f"refresh-{claim}") for claim in REFRESH_CLAIMS),
    ],
)
async def test_a_token_missing_a_claim_is_refused(victim: Victim, kind: Kind, claim: str) -> None:
    claims = victim.claims(kind)
    del claims[claim]

    await assert_refused(victim, kind, resigned(kind, claims))


def _now() -> int:
    return int(time.time())


CLAIM_CHANGES: list[Any] = [
    pytest.param({"exp": lambda: _now() - 3600, "iat": lambda: _now() - 7200}, id="expired"),
    pytest.param({"exp": lambda: _now() - 60}, id="expired-beyond-the-leeway"),
    pytest.param({"nbf": lambda: _now() + 3600}, id="nbf-in-the-future"),
    pytest.param({"iat": lambda: _now() + 3600, "exp": lambda: _now() + 7200}, id="iat-future"),
    pytest.param({"iss": lambda: "someone-else"}, id="wrong-iss"),
    pytest.param({"aud": lambda: "someone-else"}, id="wrong-aud"),
    pytest.param({"aud": lambda: ["authsvc", "someone-else"]}, id="aud-list"),
    pytest.param({"iss": lambda: "AUTHSVC"}, id="iss-other-case"),
]


@SQLITE_ONLY
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("changes", CLAIM_CHANGES)
async def test_a_token_with_wrong_times_issuer_or_audience_is_refused(
    victim: Victim, kind: Kind, changes: dict[str, Callable[[], Any]]
) -> None:
    claims = victim.claims(kind) | {name: value() for name, value in changes.items()}

    await assert_refused(victim, kind, resigned(kind, claims))


@SQLITE_ONLY
@pytest.mark.parametrize("kind", KINDS)
async def test_a_token_of_the_other_type_signed_with_this_types_secret_is_refused(
    victim: Victim, kind: Kind
) -> None:
    other: Kind = "refresh" if kind == "access" else "access"
    claims = victim.claims(other)

    await assert_refused(victim, kind, resigned(kind, claims))


INJECTED: dict[str, object] = {
    "null": None,
    "true": True,
    "zero": 0,
    "x": "x",
    "list": [],
    "object": {},
}
WELL_TYPED = {("jti", "x"), ("iat", "zero")}
"""Values of the right type for their claim: a string id, and a date (the epoch) in the past."""


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("kind", "claim"),
    [
        *(pytest.param("access", claim, id=f"access-{claim}") for claim in ACCESS_CLAIMS),
        *(pytest.param("refresh", claim, id=f"refresh-{claim}") for claim in REFRESH_CLAIMS),
    ],
)
async def test_a_claim_of_the_wrong_type_is_refused(victim: Victim, kind: Kind, claim: str) -> None:
    forged = {
        name: resigned(kind, victim.claims(kind) | {claim: value})
        for name, value in INJECTED.items()
        if (claim, name) not in WELL_TYPED
    }

    answered = await statuses(victim, kind, forged)

    assert answered == all_refused(forged)


@pytest.mark.parametrize(
    "sub", ["2147483648", "9223372036854775807", "9223372036854775808", "9999999999999999999"]
)
async def test_a_user_id_beyond_the_users_id_column_is_refused(victim: Victim, sub: str) -> None:
    claims = victim.claims("access") | {"sub": sub}

    await assert_refused(victim, "access", resigned("access", claims))


# Tokens and what they refer to: other users, deleted users, ended sessions (both databases).


async def test_a_payload_changed_without_re_signing_is_refused(victim: Victim) -> None:
    other = await signed_in(victim.api, email="grace@example.com")
    header, _, signature = victim.tokens.access.split(".")
    claims = victim.claims("access") | {"sub": claims_of(other.access)["sub"]}
    tampered = f"{header}.{part(claims)}.{signature}"

    await assert_refused(victim, "access", tampered)
    assert (await profile_with(victim.api, other.access)).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
async def test_another_users_id_on_ones_own_session_is_refused_even_when_signed(
    victim: Victim, kind: Kind
) -> None:
    other = await signed_in(victim.api, email="grace@example.com")
    claims = victim.claims(kind) | {"sub": claims_of(other.access)["sub"]}

    await assert_refused(victim, kind, resigned(kind, claims))


async def test_an_access_token_is_not_a_refresh_token(victim: Victim) -> None:
    await assert_refused(victim, "refresh", victim.tokens.access)


async def test_a_refresh_token_is_not_an_access_token(victim: Victim) -> None:
    await assert_refused(victim, "access", victim.tokens.refresh)


async def test_a_refresh_token_in_the_access_cookie_is_refused(victim: Victim) -> None:
    response = await victim.api.get(
        "/users/profile", headers={"Cookie": f"accessToken={victim.tokens.refresh}"}
    )

    assert response.status_code == 401
    assert (await profile_with(victim.api, victim.tokens.access)).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
async def test_a_deleted_users_tokens_are_refused(service: httpx.AsyncClient, kind: Kind) -> None:
    deleted = Victim(service, await signed_in(service, email="gone@example.com"))
    other_session = tokens_of(await login(service, email="gone@example.com"))
    survivor = Victim(service, await signed_in(service))
    await service.delete("/users/profile", headers=bearer(other_session.access))

    response = await present(service, kind, deleted.token(kind))

    assert response.status_code == 401
    assert (await present(service, kind, survivor.token(kind))).status_code == 200


async def test_a_deleted_users_token_does_not_open_the_account_registered_again(
    service: httpx.AsyncClient,
) -> None:
    deleted = await signed_in(service, email="gone@example.com")
    await service.delete("/users/profile", headers=bearer(deleted.access))
    await register(service, email="gone@example.com")

    response = await profile_with(service, deleted.access)

    assert response.status_code == 401


@pytest.mark.parametrize("kind", KINDS)
async def test_a_deleted_users_id_signed_onto_a_live_session_is_refused(
    victim: Victim, kind: Kind
) -> None:
    deleted = await signed_in(victim.api, email="gone@example.com")
    await victim.api.delete("/users/profile", headers=bearer(deleted.access))
    claims = victim.claims(kind) | {"sub": claims_of(deleted.access)["sub"]}

    await assert_refused(victim, kind, resigned(kind, claims))


@pytest.mark.parametrize("kind", KINDS)
async def test_the_tokens_of_a_revoked_session_are_refused(victim: Victim, kind: Kind) -> None:
    ended = tokens_of(await login(victim.api))
    await victim.api.post("/users/logout", headers=bearer(ended.access))

    await assert_refused(victim, kind, ended.access if kind == "access" else ended.refresh)


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unknown_session_id_is_refused_even_when_signed(
    victim: Victim, kind: Kind
) -> None:
    claims = victim.claims(kind) | {"sid": secrets.token_urlsafe(24)}

    await assert_refused(victim, kind, resigned(kind, claims))
