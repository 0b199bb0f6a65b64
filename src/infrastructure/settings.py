"""The service's configuration: environment variables (and a `.env` file) parsed and checked once.

A bad value stops the start with one line naming the variable, so a typo never surfaces later as
a 500 or, worse, as a weaker service. Parsing turns each text into its type; `Settings`
checks the limits and the relations between values, so a copy made with `dataclasses.replace`
is checked too.
"""

import base64
import binascii
import contextlib
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self, TypeVar, cast
from urllib.parse import urlsplit

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from infrastructure.database_urls import (
    ASYNC_DRIVERS,
    DEFAULT_DATABASE_URL,
    DRIVER_SHORTHANDS,
)
from infrastructure.private_files import make_private_directory, why_not_private

PasswordHasherName = Literal["bcrypt", "argon2id"]
LogFormat = Literal["json", "console"]
CookieSameSite = Literal["lax", "strict", "none"]
SmtpTls = Literal["starttls", "tls", "none"]

MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT_CHARACTERS = 8
MIN_SECRET_BITS = 64
DATA_ENCRYPTION_KEY_BYTES = 32
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_VERBATIM_VARIABLES = frozenset(
    {"ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET", "DB_PASSWORD", "SMTP_PASSWORD"}
)
DEFAULT_MAIL_FROM = "authsvc <no-reply@localhost>"

_T = TypeVar("_T")


class ConfigurationError(Exception):
    """A variable that cannot be used; `str(error)` is the one line to show the operator."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


class RateLimit(NamedTuple):
    """At most `requests` requests per `period`."""

    requests: int
    period: timedelta


DEFAULT_AUTH_RATE_LIMIT = RateLimit(100, timedelta(minutes=1))
DEFAULT_PASSWORD_RESET_RATE = RateLimit(3, timedelta(hours=1))

_DURATION = re.compile(
    r"(?P<amount>-?[0-9]*\.?[0-9]+) *"
    r"(?P<unit>milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m"
    r"|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365.25 * 86400,
}


def parse_duration(text: str) -> timedelta:
    """A positive duration in the Node `ms` style: "15m", "1.5h", "7d", "500ms", "2 weeks".

    Units and spellings are those of the `ms` package (ms, s, m, h, d, w, y; a year is 365.25
    days), case-insensitive. A bare number means seconds, as the configuration contract says
    (`3600` is an hour), where `ms` itself would read milliseconds.
    """
    match = _DURATION.fullmatch(text.strip()) if len(text) <= 100 else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 15m, 12h, 7d, 3600)")
    unit = (match["unit"] or "s").lower()
    unit_key = "ms" if unit.startswith(("ms", "milli")) else unit[0]
    try:
        duration = timedelta(seconds=float(match["amount"]) * _UNIT_SECONDS[unit_key])
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return duration


def parse_rate(text: str) -> RateLimit:
    """A request budget such as "100/minute", "10/second", "1000/hour" or "5/15m"."""
    not_a_rate = ValueError(f"{text!r} is not a rate (examples: 100/minute, 5/15m)")
    count, slash, period = (part.strip() for part in text.partition("/"))
    if not (slash and re.fullmatch(r"[0-9]+", count) and int(count) > 0 and period):
        raise not_a_rate
    try:
        duration = parse_duration(f"1{period}" if period[0].isalpha() else period)
    except ValueError:
        raise not_a_rate from None
    return RateLimit(int(count), duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the composition root needs; build it with `Settings.from_env()`.

    `host` defaults to the loopback interface, so a development start is not reachable from the
    network; a container or a server behind a load balancer sets HOST=0.0.0.0. `log_format`
    defaults to console on SQLite (a developer's machine) and JSON otherwise (`from_env`).
    Secrets and URLs, which may hold passwords, are left out of the repr.
    """

    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    database_timeout: timedelta | None = None
    """The longest wait on the database: on MySQL for each reply and each connection (1 s
    when unset), on SQLite for the write lock (5 s)."""
    access_token_secret: str = field(repr=False)
    refresh_token_secret: str = field(repr=False)
    data_encryption_keys: tuple[str, ...] = field(repr=False)
    """DATA_ENCRYPTION_KEY: keys for data at rest (TOTP secrets), newest first; each 32 random
    bytes in base64url. Data is sealed with the first and opened with any, so a new key is
    put first and an old one dropped once nothing sealed under it remains (each secret is
    sealed again when next used)."""
    access_token_expiry: timedelta = timedelta(minutes=15)
    refresh_token_expiry: timedelta = timedelta(days=7)
    password_hasher: PasswordHasherName = "bcrypt"
    bcrypt_rounds: int = 12
    hash_queue_limit: int | None = None
    """Password hashes running or waiting at once in a process (unset: 4 per CPU); one more is
    answered 503 at once."""
    password_min_length: int = 8
    cookie_secure: bool = True
    cookie_samesite: CookieSameSite = "lax"
    """`none` lets a front end on another site send the cookies; browsers take it only with
    Secure."""
    cors_origins: tuple[str, ...] = ()
    tokens_in_body: bool = True
    redis_url: str | None = field(default=None, repr=False)
    redis_sentinels: tuple[str, ...] = ()
    """`host:port` of each Redis Sentinel, another way to name them than a REDIS_URL of
    `redis+sentinel://`."""
    redis_sentinel_master: str | None = None
    redis_key_prefix: str = "authsvc"
    """Starts every key the service writes to Redis, so that deployments (and test runs)
    sharing one Redis keep their counts apart."""
    jwt_issuer: str = "authsvc"
    jwt_audience: str = "authsvc"
    refresh_reuse_grace: timedelta = timedelta(seconds=10)
    session_max_lifetime: timedelta = timedelta(days=30)
    login_max_failures: int = 5
    login_failure_window: timedelta = timedelta(minutes=15)
    device_token_expiry: timedelta = timedelta(days=90)
    """How long the `deviceToken` cookie a login sets keeps its device on its own allowance."""
    auth_rate_limit: RateLimit = DEFAULT_AUTH_RATE_LIMIT
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    pwned_passwords_url: str | None = None
    """The k-anonymity range API to check new passwords against (off when unset)."""
    smtp_host: str | None = None
    """The SMTP server mail goes through; unset, each message is a file under `mail_dir`."""
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: SmtpTls = "starttls"
    mail_from: str = DEFAULT_MAIL_FROM
    mail_dir: Path = Path("data/mail")
    app_url: str = "http://localhost:5000"
    """The front end's base URL: mailed links are `{app_url}/<page>?token=...`."""
    password_reset_ttl: timedelta = timedelta(minutes=30)
    email_verification_ttl: timedelta = timedelta(hours=24)
    """How long a link to verify an address, or to confirm a new one, stays valid."""
    password_reset_rate: RateLimit = DEFAULT_PASSWORD_RESET_RATE
    """Reset mails per email, known or not (and verification mails per account)."""
    require_email_verification: bool = False
    """Whether login refuses (403) an account whose email is not verified yet."""
    mail_poll_interval: timedelta | None = timedelta(seconds=2)
    """How often `authsvc serve` looks for mail to send; None (`off`) leaves it to
    `authsvc mail deliver`."""
    mail_max_attempts: int = 12
    log_level: str = "INFO"
    log_format: LogFormat = "json"
    api_docs: bool = False
    """Whether /schema serves the interactive API reference; /schema/openapi.json is always
    served. `from_env` turns it on with SQLite (a developer's machine), off with MySQL."""
    secrets_generated: bool = False

    def __post_init__(self) -> None:
        _require(1 <= self.port <= 65535, "PORT", "must be between 1 and 65535")
        _require(
            self.database_url.startswith(tuple(f"{driver}://" for driver in ASYNC_DRIVERS)),
            "DATABASE_URL",
            "needs an async driver: mysql+asyncmy://... or sqlite+aiosqlite:///...",
        )
        _require(
            self.database_timeout is None
            or timedelta(milliseconds=100) <= self.database_timeout <= timedelta(minutes=10),
            "DATABASE_TIMEOUT",
            "must be between 100ms and 10m",
        )
        for variable, secret in (
            ("ACCESS_TOKEN_SECRET", self.access_token_secret),
            ("REFRESH_TOKEN_SECRET", self.refresh_token_secret),
        ):
            _require(
                len(secret.encode()) >= MIN_SECRET_BYTES,
                variable,
                f"must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 3.2)",
            )
            _require(
                len(set(secret)) >= MIN_SECRET_DISTINCT_CHARACTERS
                and _estimated_bits(secret) >= MIN_SECRET_BITS,
                variable,
                f"has almost no entropy (fewer than {MIN_SECRET_DISTINCT_CHARACTERS} different"
                f" characters, or under {MIN_SECRET_BITS} bits by their frequencies); generate one"
                " with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        _require(
            self.access_token_secret != self.refresh_token_secret,
            "REFRESH_TOKEN_SECRET",
            "must differ from ACCESS_TOKEN_SECRET",
        )
        _check_data_encryption_keys(self.data_encryption_keys)
        _require(
            self.refresh_token_expiry > self.access_token_expiry,
            "REFRESH_TOKEN_EXPIRY",
            "must be longer than ACCESS_TOKEN_EXPIRY",
        )
        _require(
            self.password_hasher in ("bcrypt", "argon2id"),
            "PASSWORD_HASHER",
            f"must be bcrypt or argon2id, not {self.password_hasher!r}",
        )
        _require(4 <= self.bcrypt_rounds <= 31, "BCRYPT_ROUNDS", "must be between 4 and 31")
        _require(
            self.hash_queue_limit is None or self.hash_queue_limit >= 1,
            "HASH_QUEUE_LIMIT",
            "must be at least 1",
        )
        _require(
            8 <= self.password_min_length <= 64,
            "PASSWORD_MIN_LENGTH",
            "must be between 8 and 64 (ASVS 6.2.1, and within bcrypt's 72 bytes)",
        )
        _require(
            self.cookie_samesite in ("lax", "strict", "none"),
            "COOKIE_SAMESITE",
            f"must be lax, strict or none, not {self.cookie_samesite!r}",
        )
        _require(
            self.cookie_samesite != "none" or self.cookie_secure,
            "COOKIE_SAMESITE",
            "none requires Secure cookies, and COOKIE_SECURE is false"
            " (browsers drop a SameSite=None cookie that is not Secure)",
        )
        for origin in self.cors_origins:
            _check_origin(origin)
        _require(
            self.redis_url is None
            or urlsplit(self.redis_url).scheme in ("redis", "rediss", "unix", "redis+sentinel"),
            "REDIS_URL",
            "must be a redis://, rediss://, unix:// or redis+sentinel:// URL",
        )
        for sentinel in self.redis_sentinels:
            _require(
                re.fullmatch(r"[^\s:/,@]+:[0-9]{1,5}", sentinel) is not None,
                "REDIS_SENTINELS",
                f"must be host:port entries, not {sentinel!r}",
            )
        _require(
            not (self.redis_sentinels and self.redis_url),
            "REDIS_SENTINELS",
            "names Redis a second time: set REDIS_URL or REDIS_SENTINELS, not both",
        )
        _require(
            bool(self.redis_sentinels) == bool(self.redis_sentinel_master),
            "REDIS_SENTINEL_MASTER",
            "goes with REDIS_SENTINELS: set both (the master's name as the Sentinels know it)",
        )
        _require(
            self.redis_sentinel_master is None
            or re.fullmatch(r"[A-Za-z0-9._-]+", self.redis_sentinel_master) is not None,
            "REDIS_SENTINEL_MASTER",
            "must be letters, digits, dots, dashes or underscores",
        )
        _require(
            bool(self.redis_key_prefix)
            and self.redis_key_prefix.isprintable()
            and not any(character.isspace() for character in self.redis_key_prefix),
            "REDIS_KEY_PREFIX",
            "must be non-empty, without spaces or control characters",
        )
        _require(
            self.pwned_passwords_url is None or _is_web_url(self.pwned_passwords_url),
            "PWNED_PASSWORDS_URL",
            "must be an http(s) URL, such as https://api.pwnedpasswords.com/range",
        )
        self._check_mail()
        _require(bool(self.jwt_issuer), "JWT_ISSUER", "must not be empty")
        _require(bool(self.jwt_audience), "JWT_AUDIENCE", "must not be empty")
        _require(
            self.refresh_reuse_grace >= timedelta(0),
            "REFRESH_REUSE_GRACE_SECONDS",
            "must be 0 or more",
        )
        _require(self.login_max_failures >= 1, "LOGIN_MAX_FAILURES", "must be at least 1")
        _require(
            self.device_token_expiry >= timedelta(minutes=1),
            "DEVICE_TOKEN_EXPIRY",
            "must be at least 1m",
        )
        _require(
            self.log_level in _LOG_LEVELS, "LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}"
        )
        _require(self.log_format in ("json", "console"), "LOG_FORMAT", "must be json or console")

    def _check_mail(self) -> None:
        _require(1 <= self.smtp_port <= 65535, "SMTP_PORT", "must be between 1 and 65535")
        _require(
            self.smtp_tls in ("starttls", "tls", "none"),
            "SMTP_TLS",
            f"must be starttls, tls or none, not {self.smtp_tls!r}",
        )
        _require(
            (self.smtp_username is None) == (self.smtp_password is None),
            "SMTP_USERNAME" if self.smtp_username is None else "SMTP_PASSWORD",
            "SMTP_USERNAME and SMTP_PASSWORD go together",
        )
        _require(
            self.smtp_password is None or self.smtp_tls != "none",
            "SMTP_TLS",
            "none would send SMTP_PASSWORD in clear; use starttls or tls",
        )
        _, sender = parseaddr(self.mail_from)
        _require(
            "@" in sender and not sender.startswith("@") and not sender.endswith("@"),
            "MAIL_FROM",
            f"{self.mail_from!r} is not an address, such as 'Example <no-reply@example.com>'",
        )
        _require(
            self.smtp_host is None or self.mail_from != DEFAULT_MAIL_FROM,
            "MAIL_FROM",
            "required with SMTP_HOST: the address your mail server sends from",
        )
        _require(
            self.mail_poll_interval is None
            or timedelta(milliseconds=100) <= self.mail_poll_interval <= timedelta(hours=1),
            "MAIL_POLL_INTERVAL",
            "must be between 100ms and 1h, or off",
        )
        _require(
            1 <= self.mail_max_attempts <= 100, "MAIL_MAX_ATTEMPTS", "must be between 1 and 100"
        )
        self._check_links()

    def _check_links(self) -> None:
        parts = urlsplit(self.app_url)
        _require(
            _is_web_url(self.app_url)
            and not (parts.query or parts.fragment or parts.username or parts.password),
            "APP_URL",
            f"{self.app_url!r} must be an http(s) URL without query, fragment or credentials,"
            " such as https://app.example.com",
        )
        for variable, ttl in (
            ("PASSWORD_RESET_TTL", self.password_reset_ttl),
            ("EMAIL_VERIFICATION_TTL", self.email_verification_ttl),
        ):
            _require(
                timedelta(minutes=1) <= ttl <= timedelta(days=30),
                variable,
                "must be between 1m and 30d",
            )

    @property
    def redis_storage_url(self) -> str | None:
        """Where the throttling counts live: REDIS_URL, or the Sentinels of REDIS_SENTINELS as
        a `redis+sentinel://` URL; None keeps them in process."""
        if self.redis_sentinels:
            return f"redis+sentinel://{','.join(self.redis_sentinels)}/{self.redis_sentinel_master}"
        return self.redis_url

    @property
    def database_timeout_seconds(self) -> float | None:
        return None if self.database_timeout is None else self.database_timeout.total_seconds()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = ".env",
    ) -> Self:
        """Settings from `environ` (the process environment by default) over the `.env` file.

        The environment wins over the file, and `os.environ` is never changed. The file is read
        without `${...}` expansion, as Node's dotenv reads it, so a secret holding `$` is kept
        as written. A blank value counts as unset; surrounding spaces are dropped, except from
        the secrets and DB_PASSWORD, which are used exactly as given.

        The database is DATABASE_URL, else MySQL built from the original service's DB_*
        variables when DB_HOST or DB_NAME is set, else SQLite in ./data/authsvc.db.

        With neither token secret set and a SQLite database, secrets are generated once, kept
        in a 0600 file beside the database (data/authsvc.secrets for the default) and reused,
        so sessions survive a restart; `secrets_generated` tells the caller to warn. A secrets
        file that another user owns, or that others may read, is refused. This creates the
        database's directory (0700) for that file; otherwise whoever opens a SQLite database
        creates its directory. With MySQL, which several instances share, missing
        secrets are an error.

        Raises ConfigurationError on the first problem found.
        """
        file_values = dotenv_values(env_file, interpolate=False) if env_file else {}
        merged = {**file_values, **(os.environ if environ is None else environ)}
        values = {
            name: value if name in _VERBATIM_VARIABLES else value.strip()
            for name, value in merged.items()
            if value and value.strip()
        }

        parsed: dict[str, Any] = {
            field_name: _parse(variable, values[variable], parser)
            for variable, (field_name, parser) in _VARIABLES.items()
            if variable in values
        }
        database_url = _database_url(values)
        access_secret, refresh_secret, generated = _token_secrets(values, database_url)
        data_keys, keys_generated = _data_encryption_keys(values, database_url)
        on_sqlite = database_url.startswith("sqlite")
        parsed.setdefault("log_format", "console" if on_sqlite else "json")
        parsed.setdefault("api_docs", on_sqlite)
        return cls(
            database_url=database_url,
            access_token_secret=access_secret,
            refresh_token_secret=refresh_secret,
            data_encryption_keys=data_keys,
            secrets_generated=generated or keys_generated,
            **parsed,
        )


def _require(condition: bool, variable: str, message: str) -> None:
    if not condition:
        raise ConfigurationError(variable, message)


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _estimated_bits(secret: str) -> float:
    """The secret's length times the Shannon entropy of its characters' frequencies. It rates a
    repeated pattern too high ("abcdefgh" four times is 96 bits), so it only catches secrets
    that are plainly not random, such as one character repeated or a long run of one."""
    return -sum(count * math.log2(count / len(secret)) for count in Counter(secret).values())


def _check_origin(origin: str) -> None:
    # Litestar reads a "*" inside an origin as a pattern (`https://*` matches every https
    # origin), which with credentials lets any site read a user's responses.
    _require(
        "*" not in origin,
        "CORS_ORIGINS",
        f"{origin!r}: a wildcard cannot be combined with credentials (cookies);"
        " list each origin exactly",
    )
    parts = urlsplit(origin)
    _require(
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.path or parts.query or parts.fragment or parts.username),
        "CORS_ORIGINS",
        f"{origin!r} is not an origin: scheme://host[:port], with no path or trailing slash",
    )


def _parse(variable: str, text: str, parser: Callable[[str], _T]) -> _T:
    try:
        return parser(text)
    except ValueError as error:
        raise ConfigurationError(variable, str(error)) from None


def _integer(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"expected a whole number, not {text!r}")
    return int(text)


def _boolean(text: str) -> bool:
    answer = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    try:
        return answer[text.lower()]
    except KeyError:
        raise ValueError(f"expected true/false, 1/0 or yes/no, not {text!r}") from None


def _whole_seconds(text: str) -> timedelta:
    return timedelta(seconds=_integer(text))


def _interval_or_off(text: str) -> timedelta | None:
    return None if text.lower() == "off" else parse_duration(text)


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _base_url(text: str) -> str:
    """Without its trailing slash: a page's path is added after one."""
    return text.rstrip("/")


def _networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(item) for item in _items(text))


_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "HOST": ("host", str),
    "PORT": ("port", _integer),
    "DATABASE_TIMEOUT": ("database_timeout", parse_duration),
    "ACCESS_TOKEN_EXPIRY": ("access_token_expiry", parse_duration),
    "REFRESH_TOKEN_EXPIRY": ("refresh_token_expiry", parse_duration),
    "PASSWORD_HASHER": ("password_hasher", str.lower),
    "BCRYPT_ROUNDS": ("bcrypt_rounds", _integer),
    "HASH_QUEUE_LIMIT": ("hash_queue_limit", _integer),
    "PASSWORD_MIN_LENGTH": ("password_min_length", _integer),
    "COOKIE_SECURE": ("cookie_secure", _boolean),
    "COOKIE_SAMESITE": ("cookie_samesite", str.lower),
    "CORS_ORIGINS": ("cors_origins", _items),
    "TOKENS_IN_BODY": ("tokens_in_body", _boolean),
    "REDIS_URL": ("redis_url", str),
    "REDIS_SENTINELS": ("redis_sentinels", _items),
    "REDIS_SENTINEL_MASTER": ("redis_sentinel_master", str),
    "REDIS_KEY_PREFIX": ("redis_key_prefix", str),
    "JWT_ISSUER": ("jwt_issuer", str),
    "JWT_AUDIENCE": ("jwt_audience", str),
    "REFRESH_REUSE_GRACE_SECONDS": ("refresh_reuse_grace", _whole_seconds),
    "SESSION_MAX_LIFETIME": ("session_max_lifetime", parse_duration),
    "LOGIN_MAX_FAILURES": ("login_max_failures", _integer),
    "LOGIN_FAILURE_WINDOW": ("login_failure_window", parse_duration),
    "DEVICE_TOKEN_EXPIRY": ("device_token_expiry", parse_duration),
    "AUTH_RATE_LIMIT": ("auth_rate_limit", parse_rate),
    "TRUSTED_PROXIES": ("trusted_proxies", _networks),
    "PWNED_PASSWORDS_URL": ("pwned_passwords_url", str),
    "SMTP_HOST": ("smtp_host", str),
    "SMTP_PORT": ("smtp_port", _integer),
    "SMTP_USERNAME": ("smtp_username", str),
    "SMTP_PASSWORD": ("smtp_password", str),
    "SMTP_TLS": ("smtp_tls", str.lower),
    "MAIL_FROM": ("mail_from", str),
    "MAIL_DIR": ("mail_dir", Path),
    "APP_URL": ("app_url", _base_url),
    "PASSWORD_RESET_TTL": ("password_reset_ttl", parse_duration),
    "EMAIL_VERIFICATION_TTL": ("email_verification_ttl", parse_duration),
    "PASSWORD_RESET_RATE": ("password_reset_rate", parse_rate),
    "REQUIRE_EMAIL_VERIFICATION": ("require_email_verification", _boolean),
    "MAIL_POLL_INTERVAL": ("mail_poll_interval", _interval_or_off),
    "MAIL_MAX_ATTEMPTS": ("mail_max_attempts", _integer),
    "LOG_LEVEL": ("log_level", str.upper),
    "LOG_FORMAT": ("log_format", str.lower),
    "API_DOCS": ("api_docs", _boolean),
}


def _database_url(values: Mapping[str, str]) -> str:
    if "DATABASE_URL" in values:
        return _with_async_driver(values["DATABASE_URL"])
    if "DB_HOST" not in values and "DB_NAME" not in values:
        return DEFAULT_DATABASE_URL
    _require("DB_NAME" in values, "DB_NAME", "required when DB_HOST is set")
    port = _parse("DB_PORT", values.get("DB_PORT", "3306"), _integer)
    _require(1 <= port <= 65535, "DB_PORT", "must be between 1 and 65535")
    url = URL.create(
        DRIVER_SHORTHANDS["mysql"],
        username=values.get("DB_USER", "root"),
        password=values.get("DB_PASSWORD", ""),
        host=values.get("DB_HOST", "localhost"),
        port=port,
        database=values["DB_NAME"],
    )
    return url.render_as_string(hide_password=False)


def _with_async_driver(url: str) -> str:
    """The URL with its driver made async: `mysql://` and `sqlite://` are accepted for short."""
    scheme, separator, rest = url.partition("://")
    driver = DRIVER_SHORTHANDS.get(scheme.lower(), scheme.lower())
    _require(
        bool(separator) and driver in ASYNC_DRIVERS,
        "DATABASE_URL",
        "must be a mysql+asyncmy:// or sqlite+aiosqlite:/// URL (mysql:// and sqlite:// work too)",
    )
    async_url = f"{driver}://{rest}"
    try:
        parsed = make_url(async_url)
    except (ArgumentError, ValueError):
        raise ConfigurationError("DATABASE_URL", "is not a valid database URL") from None
    _require(
        driver.startswith("sqlite") or bool(parsed.host and parsed.database),
        "DATABASE_URL",
        "must name a host and a database: mysql+asyncmy://user:password@host:3306/name",
    )
    return async_url


def _token_secrets(values: Mapping[str, str], database_url: str) -> tuple[str, str, bool]:
    """The two signing secrets, and whether they were generated rather than configured.

    An in-memory SQLite database gets fresh secrets on each start and no file, as it forgets
    its sessions anyway.
    """
    access = values.get("ACCESS_TOKEN_SECRET")
    refresh = values.get("REFRESH_TOKEN_SECRET")
    if access is not None and refresh is not None:
        return access, refresh, False
    if access is not None or refresh is not None:
        missing = "REFRESH_TOKEN_SECRET" if access is not None else "ACCESS_TOKEN_SECRET"
        raise ConfigurationError(missing, "missing; set both token secrets, or neither on SQLite")
    _require(
        database_url.startswith("sqlite"),
        "ACCESS_TOKEN_SECRET",
        "required with MySQL, as is REFRESH_TOKEN_SECRET (only SQLite generates its own)",
    )
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return secrets.token_urlsafe(48), secrets.token_urlsafe(48), True
    secrets_file = Path(database).with_suffix(".secrets")
    if not secrets_file.exists():
        _create_secrets_file(secrets_file)
    if problem := why_not_private(secrets_file):
        raise ConfigurationError("ACCESS_TOKEN_SECRET", f"secrets file refused: {problem}")
    kept = dotenv_values(secrets_file, interpolate=False)
    for variable in ("ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET"):
        _require(
            bool(kept.get(variable)),
            variable,
            f"missing from {secrets_file}; delete that file to generate new secrets",
        )
    return cast(str, kept["ACCESS_TOKEN_SECRET"]), cast(str, kept["REFRESH_TOKEN_SECRET"]), True


def _data_encryption_keys(
    values: Mapping[str, str], database_url: str
) -> tuple[tuple[str, ...], bool]:
    """The data encryption keys, and whether one was generated rather than configured.

    As for the token secrets: required with MySQL; on SQLite, generated once into a 0600 file
    beside the database (data/authsvc.keys for the default), a file of its own so that a
    secrets file made before it existed stays valid; fresh on each start in memory."""
    configured = values.get("DATA_ENCRYPTION_KEY")
    if configured is not None:
        return tuple(key.strip() for key in configured.split(",")), False
    if not database_url.startswith("sqlite"):
        return (), False  # refused by Settings, after the token secrets
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return (secrets.token_urlsafe(DATA_ENCRYPTION_KEY_BYTES),), True
    keys_file = Path(database).with_suffix(".keys")
    if not keys_file.exists():
        _create_secrets_file(
            keys_file, f"DATA_ENCRYPTION_KEY={secrets.token_urlsafe(DATA_ENCRYPTION_KEY_BYTES)}\n"
        )
    if problem := why_not_private(keys_file):
        raise ConfigurationError("DATA_ENCRYPTION_KEY", f"keys file refused: {problem}")
    kept = dotenv_values(keys_file, interpolate=False).get("DATA_ENCRYPTION_KEY")
    _require(
        bool(kept),
        "DATA_ENCRYPTION_KEY",
        f"missing from {keys_file}; it holds the key of the stored TOTP secrets: restore it",
    )
    return tuple(key.strip() for key in cast(str, kept).split(",")), True


def _check_data_encryption_keys(keys: tuple[str, ...]) -> None:
    _require(
        bool(keys),
        "DATA_ENCRYPTION_KEY",
        "required with MySQL (only SQLite generates its own); generate one with:"
        " python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
    )
    for key in keys:
        try:
            raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        _require(
            len(raw) == DATA_ENCRYPTION_KEY_BYTES and key.isascii(),
            "DATA_ENCRYPTION_KEY",
            f"each key must be {DATA_ENCRYPTION_KEY_BYTES} bytes in base64url, comma-separated,"
            " newest first; generate one with:"
            " python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
        _require(
            len(set(key)) >= MIN_SECRET_DISTINCT_CHARACTERS
            and _estimated_bits(key) >= MIN_SECRET_BITS,
            "DATA_ENCRYPTION_KEY",
            "a key has almost no entropy; generate one with:"
            " python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    _require(len(set(keys)) == len(keys), "DATA_ENCRYPTION_KEY", "lists a key twice")


def _create_secrets_file(path: Path, content: str | None = None) -> None:
    """Write new secrets (the token secrets, unless `content` says otherwise) to `path`
    readable by the owner only, complete or not at all.

    The secrets are written to a private draft that is then linked into place, so several
    workers starting at once agree on the first file published and none reads a half-written one.
    """
    make_private_directory(path.parent)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as draft_file:
        draft_file.write(
            content
            or f"ACCESS_TOKEN_SECRET={secrets.token_urlsafe(48)}\n"
            f"REFRESH_TOKEN_SECRET={secrets.token_urlsafe(48)}\n"
        )
        draft_file.flush()
        os.fsync(draft_file.fileno())
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
