import os
import re
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from dotenv import dotenv_values

from infrastructure.settings import (
    ConfigurationError,
    RateLimit,
    Settings,
    parse_duration,
    parse_rate,
)

ACCESS_SECRET = "access-secret-0123456789abcdefghij"
REFRESH_SECRET = "refresh-secret-0123456789abcdefghijklmnopqrstuv"
DATA_KEY = "q5tJkVtq0lY4bG7xLBW2n6uQH3rZcXyA1sDfEgTjKmo"
OLD_DATA_KEY = "Zr3hX0pW9c2nVb7QmLk4tYs1uJd8fGa6eHo5iTq2wRy"
SECRETS = {
    "ACCESS_TOKEN_SECRET": ACCESS_SECRET,
    "REFRESH_TOKEN_SECRET": REFRESH_SECRET,
    "DATA_ENCRYPTION_KEY": DATA_KEY,
}
ENV_EXAMPLE = Path(__file__).parents[2] / ".env.example"
ORIGINAL_VARIABLES = [
    "PORT",
    "DB_HOST",
    "DB_USER",
    "DB_PASSWORD",
    "DB_NAME",
    "ACCESS_TOKEN_SECRET",
    "ACCESS_TOKEN_EXPIRY",
    "REFRESH_TOKEN_SECRET",
    "REFRESH_TOKEN_EXPIRY",
]
OTHER_VARIABLES = [
    "HOST",
    "DB_PORT",
    "DATABASE_URL",
    "DATABASE_TIMEOUT",
    "PASSWORD_HASHER",
    "BCRYPT_ROUNDS",
    "HASH_QUEUE_LIMIT",
    "PASSWORD_MIN_LENGTH",
    "COOKIE_SECURE",
    "COOKIE_SAMESITE",
    "CORS_ORIGINS",
    "TOKENS_IN_BODY",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "REFRESH_REUSE_GRACE_SECONDS",
    "SESSION_MAX_LIFETIME",
    "LOGIN_MAX_FAILURES",
    "LOGIN_FAILURE_WINDOW",
    "AUTH_RATE_LIMIT",
    "DEVICE_TOKEN_EXPIRY",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_KEY_PREFIX",
    "TRUSTED_PROXIES",
    "APP_URL",
    "PASSWORD_RESET_TTL",
    "EMAIL_VERIFICATION_TTL",
    "PASSWORD_RESET_RATE",
    "REQUIRE_EMAIL_VERIFICATION",
    "PWNED_PASSWORDS_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_TLS",
    "MAIL_FROM",
    "MAIL_DIR",
    "MAIL_POLL_INTERVAL",
    "MAIL_MAX_ATTEMPTS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "API_DOCS",
    "DATA_ENCRYPTION_KEY",
]


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated files land in tmp_path, and no developer's .env leaks in."""
    monkeypatch.chdir(tmp_path)


def load(**variables: str) -> Settings:
    return Settings.from_env({**SECRETS, **variables}, env_file=None)


def refused(**variables: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**SECRETS, **variables}, env_file=None)
    return caught.value


def test_defaults() -> None:
    settings = load()

    assert settings.host == "127.0.0.1"
    assert settings.port == 5000
    assert settings.database_url == "sqlite+aiosqlite:///./data/authsvc.db"
    assert settings.database_timeout is None
    assert settings.access_token_expiry == timedelta(minutes=15)
    assert settings.refresh_token_expiry == timedelta(days=7)
    assert settings.password_hasher == "bcrypt"
    assert settings.bcrypt_rounds == 12
    assert settings.hash_queue_limit is None
    assert settings.password_min_length == 8
    assert settings.cookie_secure is True
    assert settings.cookie_samesite == "lax"
    assert settings.cors_origins == ()
    assert settings.tokens_in_body is True
    assert settings.redis_url is None
    assert settings.redis_key_prefix == "authsvc"
    assert settings.device_token_expiry == timedelta(days=90)
    assert settings.jwt_issuer == settings.jwt_audience == "authsvc"
    assert settings.refresh_reuse_grace == timedelta(seconds=10)
    assert settings.session_max_lifetime == timedelta(days=30)
    assert settings.login_max_failures == 5
    assert settings.login_failure_window == timedelta(minutes=15)
    assert settings.auth_rate_limit == RateLimit(100, timedelta(minutes=1))
    assert settings.trusted_proxies == ()
    assert settings.smtp_host is None
    assert settings.smtp_port == 587
    assert settings.smtp_tls == "starttls"
    assert settings.mail_dir == Path("data/mail")
    assert settings.app_url == "http://localhost:5000"
    assert settings.password_reset_ttl == timedelta(minutes=30)
    assert settings.email_verification_ttl == timedelta(hours=24)
    assert settings.password_reset_rate == RateLimit(3, timedelta(hours=1))
    assert settings.require_email_verification is False
    assert settings.mail_poll_interval == timedelta(seconds=2)
    assert settings.mail_max_attempts == 12
    assert settings.log_level == "INFO"
    assert settings.log_format == "console"
    assert settings.api_docs is True
    assert settings.secrets_generated is False


def test_every_variable_is_parsed() -> None:
    settings = load(
        HOST="192.0.2.10",
        PORT="8080",
        DATABASE_URL="mysql+asyncmy://svc:pw@db:3306/auth",
        DATABASE_TIMEOUT="2500ms",
        ACCESS_TOKEN_EXPIRY="5m",
        REFRESH_TOKEN_EXPIRY="14d",
        PASSWORD_HASHER="Argon2id",
        BCRYPT_ROUNDS="10",
        HASH_QUEUE_LIMIT="16",
        PASSWORD_MIN_LENGTH="12",
        COOKIE_SECURE="no",
        COOKIE_SAMESITE="Strict",
        CORS_ORIGINS="https://app.example.com, http://localhost:3000",
        TOKENS_IN_BODY="FALSE",
        REDIS_URL="redis+sentinel://sentinel-1:26379,sentinel-2:26379/authsvc",
        REDIS_KEY_PREFIX="auth-eu",
        DEVICE_TOKEN_EXPIRY="30d",
        JWT_ISSUER="https://auth.example.com",
        JWT_AUDIENCE="example-api",
        REFRESH_REUSE_GRACE_SECONDS="0",
        SESSION_MAX_LIFETIME="90d",
        LOGIN_MAX_FAILURES="3",
        LOGIN_FAILURE_WINDOW="1h",
        AUTH_RATE_LIMIT="10/second",
        TRUSTED_PROXIES="10.0.0.0/8, ::1",
        PWNED_PASSWORDS_URL="https://api.pwnedpasswords.com/range",
        SMTP_HOST="smtp.example.com",
        SMTP_PORT="465",
        SMTP_USERNAME="authsvc",
        SMTP_PASSWORD=" spaced secret ",
        SMTP_TLS="TLS",
        MAIL_FROM="Example <no-reply@example.com>",
        MAIL_DIR="/var/spool/authsvc",
        APP_URL="https://app.example.com/account/",
        PASSWORD_RESET_TTL="15m",
        EMAIL_VERIFICATION_TTL="2d",
        PASSWORD_RESET_RATE="5/day",
        REQUIRE_EMAIL_VERIFICATION="yes",
        MAIL_POLL_INTERVAL="500ms",
        MAIL_MAX_ATTEMPTS="5",
        LOG_LEVEL="debug",
        LOG_FORMAT="CONSOLE",
        API_DOCS="true",
        DATA_ENCRYPTION_KEY=f"{DATA_KEY} , {OLD_DATA_KEY}",
    )

    assert settings == Settings(
        host="192.0.2.10",
        port=8080,
        database_url="mysql+asyncmy://svc:pw@db:3306/auth",
        database_timeout=timedelta(milliseconds=2500),
        access_token_secret=ACCESS_SECRET,
        refresh_token_secret=REFRESH_SECRET,
        data_encryption_keys=(DATA_KEY, OLD_DATA_KEY),
        access_token_expiry=timedelta(minutes=5),
        refresh_token_expiry=timedelta(days=14),
        password_hasher="argon2id",
        bcrypt_rounds=10,
        hash_queue_limit=16,
        password_min_length=12,
        cookie_secure=False,
        cookie_samesite="strict",
        cors_origins=("https://app.example.com", "http://localhost:3000"),
        tokens_in_body=False,
        redis_url="redis+sentinel://sentinel-1:26379,sentinel-2:26379/authsvc",
        redis_key_prefix="auth-eu",
        device_token_expiry=timedelta(days=30),
        jwt_issuer="https://auth.example.com",
        jwt_audience="example-api",
        refresh_reuse_grace=timedelta(0),
        session_max_lifetime=timedelta(days=90),
        login_max_failures=3,
        login_failure_window=timedelta(hours=1),
        auth_rate_limit=RateLimit(10, timedelta(seconds=1)),
        trusted_proxies=(ip_network("10.0.0.0/8"), ip_network("::1")),
        pwned_passwords_url="https://api.pwnedpasswords.com/range",
        smtp_host="smtp.example.com",
        smtp_port=465,
        smtp_username="authsvc",
        smtp_password=" spaced secret ",
        smtp_tls="tls",
        mail_from="Example <no-reply@example.com>",
        mail_dir=Path("/var/spool/authsvc"),
        app_url="https://app.example.com/account",
        password_reset_ttl=timedelta(minutes=15),
        email_verification_ttl=timedelta(days=2),
        password_reset_rate=RateLimit(5, timedelta(days=1)),
        require_email_verification=True,
        mail_poll_interval=timedelta(milliseconds=500),
        mail_max_attempts=5,
        log_level="DEBUG",
        log_format="console",
        api_docs=True,
    )
    assert settings.database_timeout_seconds == 2.5


def test_mail_delivery_in_the_service_can_be_turned_off() -> None:
    assert load(MAIL_POLL_INTERVAL="Off").mail_poll_interval is None


def test_redis_sentinels_name_where_the_counts_live() -> None:
    settings = load(
        REDIS_SENTINELS="sentinel-1:26379, 10.0.0.2:26380", REDIS_SENTINEL_MASTER="authsvc"
    )

    assert settings.redis_storage_url == (
        "redis+sentinel://sentinel-1:26379,10.0.0.2:26380/authsvc"
    )
    assert load(REDIS_URL="redis://cache:6379/0").redis_storage_url == "redis://cache:6379/0"
    assert load().redis_storage_url is None


@pytest.mark.parametrize(
    ("variables", "refused_variable"),
    [
        ({"REDIS_SENTINELS": "sentinel-1:26379"}, "REDIS_SENTINEL_MASTER"),
        (
            {
                "REDIS_SENTINELS": "sentinel-1:26379",
                "REDIS_SENTINEL_MASTER": "authsvc",
                "REDIS_URL": "redis://cache:6379/0",
            },
            "REDIS_SENTINELS",
        ),
        (
            {"REDIS_SENTINELS": "sentinel-1:26379", "REDIS_SENTINEL_MASTER": "auth/svc"},
            "REDIS_SENTINEL_MASTER",
        ),
    ],
)
def test_redis_sentinels_go_with_a_master_name_and_alone(
    variables: dict[str, str], refused_variable: str
) -> None:
    assert refused(**variables).variable == refused_variable


def test_log_format_defaults_to_json_on_mysql() -> None:
    assert load(DATABASE_URL="mysql+asyncmy://root:@db/auth").log_format == "json"


def test_the_api_docs_page_defaults_to_off_on_mysql() -> None:
    assert load(DATABASE_URL="mysql+asyncmy://root:@db/auth").api_docs is False
    assert load(DATABASE_URL="mysql+asyncmy://root:@db/auth", API_DOCS="yes").api_docs is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("False", False), ("1", True), ("0", False), ("YES", True), ("no", False)],
)
def test_booleans(text: str, expected: bool) -> None:
    assert load(COOKIE_SECURE=text).cookie_secure is expected


def test_blank_values_count_as_unset() -> None:
    settings = load(PORT="", REDIS_URL="  ", CORS_ORIGINS="")

    assert (settings.port, settings.redis_url, settings.cors_origins) == (5000, None, ())


def test_repr_hides_secrets_and_urls() -> None:
    text = repr(load(DATABASE_URL="mysql://u:db-password@h/n", REDIS_URL="redis://:rp@h"))

    for hidden in (ACCESS_SECRET, REFRESH_SECRET, DATA_KEY, "db-password", "rp@h"):
        assert hidden not in text


class TestEnvFile:
    def test_env_file_is_read(self, tmp_path: Path) -> None:
        env_file = tmp_path / ".env"
        env_file.write_text(
            f"ACCESS_TOKEN_SECRET={ACCESS_SECRET}\n"
            f"REFRESH_TOKEN_SECRET={REFRESH_SECRET}\n"
            "PORT=7000\n"
        )

        assert Settings.from_env({}, env_file=env_file).port == 7000

    def test_environment_wins_over_the_file(self, tmp_path: Path) -> None:
        env_file = tmp_path / ".env"
        env_file.write_text("PORT=7000\nLOG_LEVEL=debug\n")

        settings = Settings.from_env({**SECRETS, "PORT": "7001"}, env_file=env_file)

        assert (settings.port, settings.log_level) == (7001, "DEBUG")

    def test_default_file_is_dot_env_in_the_working_directory(self) -> None:
        Path(".env").write_text("PORT=7002\n")

        assert Settings.from_env(SECRETS).port == 7002

    def test_missing_file_is_ignored(self, tmp_path: Path) -> None:
        assert Settings.from_env(SECRETS, env_file=tmp_path / "absent.env").port == 5000

    def test_dollar_signs_are_not_expanded(self, tmp_path: Path) -> None:
        secret = "${HOME}-and-enough-bytes-to-be-a-valid-secret"
        env_file = tmp_path / ".env"
        env_file.write_text(f"ACCESS_TOKEN_SECRET='{secret}'\n")

        settings = Settings.from_env({"REFRESH_TOKEN_SECRET": REFRESH_SECRET}, env_file=env_file)

        assert settings.access_token_secret == secret

    def test_process_environment_is_the_default_and_left_unchanged(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("ACCESS_TOKEN_SECRET", ACCESS_SECRET)
        monkeypatch.setenv("REFRESH_TOKEN_SECRET", REFRESH_SECRET)
        monkeypatch.delenv("PORT", raising=False)
        env_file = tmp_path / ".env"
        env_file.write_text("PORT=7003\n")

        assert Settings.from_env(env_file=env_file).port == 7003
        assert "PORT" not in os.environ


class TestDatabase:
    def test_built_from_the_original_variables(self) -> None:
        settings = load(DB_HOST="db.internal", DB_NAME="auth", DB_USER="svc", DB_PASSWORD="p@ss:/w")

        assert settings.database_url == "mysql+asyncmy://svc:p%40ss%3A%2Fw@db.internal:3306/auth"

    def test_original_variables_default_to_local_root(self) -> None:
        settings = load(DB_NAME="auth", DB_PORT="3307")

        assert settings.database_url == "mysql+asyncmy://root:@localhost:3307/auth"

    def test_database_url_wins(self) -> None:
        settings = load(DATABASE_URL="sqlite+aiosqlite:///x.db", DB_HOST="db", DB_NAME="auth")

        assert settings.database_url == "sqlite+aiosqlite:///x.db"

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("mysql://root:@db:3306/auth", "mysql+asyncmy://root:@db:3306/auth"),
            ("MariaDB://root:@db/auth", "mariadb+asyncmy://root:@db/auth"),
            ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ],
    )
    def test_plain_schemes_get_the_async_driver(self, url: str, expected: str) -> None:
        assert load(DATABASE_URL=url).database_url == expected

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://db/auth",
            "mysql+pymysql://root@db/auth",
            "db.internal",
            "mysql://db",
            "mysql://root@db:port/auth",
        ],
    )
    def test_other_urls_are_refused(self, url: str) -> None:
        assert refused(DATABASE_URL=url).variable == "DATABASE_URL"

    def test_db_host_without_db_name_is_refused(self) -> None:
        assert str(refused(DB_HOST="db")) == "DB_NAME: required when DB_HOST is set"

    def test_bad_db_port_is_refused(self) -> None:
        assert refused(DB_NAME="auth", DB_PORT="70000").variable == "DB_PORT"


class TestErrorsNameTheVariable:
    def test_short_secret(self) -> None:
        error = refused(ACCESS_TOKEN_SECRET="x" * 31)

        assert str(error) == "ACCESS_TOKEN_SECRET: must be at least 32 bytes (RFC 7518 3.2)"

    def test_secret_length_counts_bytes(self) -> None:
        two_byte_characters = "éèêëàâäîïôöûüçñõ"
        assert refused(REFRESH_TOKEN_SECRET=two_byte_characters[:15]).variable == (
            "REFRESH_TOKEN_SECRET"
        )
        assert load(REFRESH_TOKEN_SECRET=two_byte_characters).refresh_token_secret == (
            two_byte_characters
        )

    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param("a" * 64, id="one-character"),
            pytest.param("abcdefg" * 8, id="seven-characters"),
            pytest.param("a" * 56 + "bcdefghi", id="a-long-run-of-one"),
        ],
    )
    def test_a_secret_with_almost_no_entropy(self, secret: str) -> None:
        error = refused(ACCESS_TOKEN_SECRET=secret)

        assert error.variable == "ACCESS_TOKEN_SECRET"
        assert "almost no entropy" in str(error)
        assert secret not in str(error)

    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param(secrets.token_urlsafe(32), id="token-urlsafe"),
            pytest.param(secrets.token_hex(16), id="hex-128-bits"),
            pytest.param("correct horse battery staple glue", id="passphrase"),
        ],
    )
    def test_a_random_enough_secret_is_taken(self, secret: str) -> None:
        assert load(ACCESS_TOKEN_SECRET=secret).access_token_secret == secret

    def test_equal_secrets(self) -> None:
        error = refused(REFRESH_TOKEN_SECRET=ACCESS_SECRET)

        assert str(error) == "REFRESH_TOKEN_SECRET: must differ from ACCESS_TOKEN_SECRET"

    @pytest.mark.parametrize("present", ["ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET"])
    def test_one_secret_missing(self, present: str) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({present: SECRETS[present]}, env_file=None)

        assert (
            caught.value.variable
            == ({"ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET"} - {present}).pop()
        )

    def test_mysql_without_a_data_encryption_key(self) -> None:
        secrets_only = {
            name: SECRETS[name] for name in ("ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET")
        }
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({**secrets_only, "DB_HOST": "db", "DB_NAME": "auth"}, env_file=None)

        assert caught.value.variable == "DATA_ENCRYPTION_KEY"
        assert "required with MySQL" in caught.value.message

    @pytest.mark.parametrize(
        "keys",
        [
            "too-short",
            "A" * 43,  # 32 zero bytes: no entropy
            "q5tJkVtq0lY4bG7xLBW2n6uQH3rZcXyA1sDfEgTjKmo!",  # not base64url
            "q5tJkVtq0lY4bG7xLBW2n6uQH3rZcXyA1sDfEgTjKmo,",  # an empty entry
            "q5tJkVtq0lY4bG7xLBW2n6uQH3rZcXyA1sDfEgTjKmo,q5tJkVtq0lY4bG7xLBW2n6uQH3rZcXyA1sDfEgTjKmo",
        ],
    )
    def test_bad_data_encryption_keys_are_refused_without_echoing_them(self, keys: str) -> None:
        error = refused(DATA_ENCRYPTION_KEY=keys)

        assert error.variable == "DATA_ENCRYPTION_KEY"
        assert keys not in str(error)

    def test_mysql_without_secrets(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({"DB_HOST": "db", "DB_NAME": "auth"}, env_file=None)

        assert caught.value.variable == "ACCESS_TOKEN_SECRET"
        assert "MySQL" in str(caught.value)

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("ACCESS_TOKEN_EXPIRY", "soon"),
            ("REFRESH_TOKEN_EXPIRY", "-7d"),
            ("SESSION_MAX_LIFETIME", "0"),
            ("LOGIN_FAILURE_WINDOW", "15 minutes ago"),
            ("PASSWORD_HASHER", "scrypt"),
            ("BCRYPT_ROUNDS", "3"),
            ("BCRYPT_ROUNDS", "32"),
            ("HASH_QUEUE_LIMIT", "0"),
            ("HASH_QUEUE_LIMIT", "many"),
            ("PASSWORD_MIN_LENGTH", "6"),
            ("PORT", "eighty"),
            ("PORT", "0"),
            ("LOGIN_MAX_FAILURES", "1.5"),
            ("LOGIN_MAX_FAILURES", "0"),
            ("REFRESH_REUSE_GRACE_SECONDS", "-1"),
            ("REFRESH_REUSE_GRACE_SECONDS", "10s"),
            ("COOKIE_SECURE", "maybe"),
            ("COOKIE_SAMESITE", "lenient"),
            ("COOKIE_SAMESITE", "no"),
            ("TOKENS_IN_BODY", "on"),
            ("AUTH_RATE_LIMIT", "100"),
            ("AUTH_RATE_LIMIT", "many/minute"),
            ("AUTH_RATE_LIMIT", "0/minute"),
            ("AUTH_RATE_LIMIT", "100/fortnight"),
            ("CORS_ORIGINS", "https://app.example.com/"),
            ("CORS_ORIGINS", "app.example.com"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
            ("REDIS_URL", "localhost:6379"),
            ("PWNED_PASSWORDS_URL", "api.pwnedpasswords.com/range"),
            ("PWNED_PASSWORDS_URL", "ftp://mirror.example.com/range"),
            ("SMTP_PORT", "0"),
            ("SMTP_TLS", "ssl"),
            ("MAIL_FROM", "no-reply"),
            ("MAIL_FROM", "Example <@example.com>"),
            ("REDIS_URL", "memcached://localhost:11211"),
            ("REDIS_SENTINELS", "sentinel-1"),
            ("REDIS_SENTINELS", "sentinel-1:26379/authsvc"),
            ("REDIS_SENTINEL_MASTER", "authsvc"),
            ("REDIS_KEY_PREFIX", "auth svc"),
            ("REDIS_KEY_PREFIX", "auth\x00svc"),
            ("DEVICE_TOKEN_EXPIRY", "30s"),
            ("DEVICE_TOKEN_EXPIRY", "forever"),
            ("LOG_LEVEL", "verbose"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_TIMEOUT", "0"),
            ("DATABASE_TIMEOUT", "50ms"),
            ("DATABASE_TIMEOUT", "1h"),
            ("APP_URL", "localhost:5000"),
            ("APP_URL", "ftp://example.com"),
            ("APP_URL", "https://app.example.com/?next=1"),
            ("APP_URL", "https://user:pw@app.example.com"),
            ("PASSWORD_RESET_TTL", "10s"),
            ("EMAIL_VERIFICATION_TTL", "forever"),
            ("PASSWORD_RESET_RATE", "3 an hour"),
            ("REQUIRE_EMAIL_VERIFICATION", "maybe"),
            ("MAIL_POLL_INTERVAL", "10ms"),
            ("MAIL_POLL_INTERVAL", "never"),
            ("MAIL_MAX_ATTEMPTS", "0"),
            ("MAIL_MAX_ATTEMPTS", "101"),
        ],
    )
    def test_bad_value(self, variable: str, value: str) -> None:
        error = refused(**{variable: value})

        assert error.variable == variable
        assert str(error).startswith(f"{variable}: ")
        assert "\n" not in str(error)

    def test_smtp_host_needs_a_sender_address(self) -> None:
        assert refused(SMTP_HOST="smtp.example.com").variable == "MAIL_FROM"

    @pytest.mark.parametrize(
        ("present", "missing"),
        [("SMTP_USERNAME", "SMTP_PASSWORD"), ("SMTP_PASSWORD", "SMTP_USERNAME")],
    )
    def test_smtp_credentials_go_together(self, present: str, missing: str) -> None:
        error = refused(SMTP_HOST="smtp.example.com", MAIL_FROM="a@example.com", **{present: "x"})

        assert error.variable == missing

    def test_smtp_password_is_never_sent_in_clear(self) -> None:
        error = refused(
            SMTP_HOST="smtp.example.com",
            MAIL_FROM="a@example.com",
            SMTP_USERNAME="authsvc",
            SMTP_PASSWORD="secret",
            SMTP_TLS="none",
        )

        assert error.variable == "SMTP_TLS"

    def test_unknown_hasher_message(self) -> None:
        error = refused(PASSWORD_HASHER="scrypt")

        assert str(error) == "PASSWORD_HASHER: must be bcrypt or argon2id, not 'scrypt'"

    @pytest.mark.parametrize(
        "origin", ["*", "https://*", "https://*.example.com", "https://app.example.*", "http://a*"]
    )
    def test_cors_wildcard(self, origin: str) -> None:
        """Litestar would read each as a pattern, and reflect any matching origin with
        credentials."""
        error = refused(CORS_ORIGINS=f"https://app.example.com,{origin}")

        assert error.variable == "CORS_ORIGINS"
        assert "credentials" in str(error)
        assert "\n" not in str(error)

    def test_samesite_none_with_secure_cookies(self) -> None:
        assert load(COOKIE_SAMESITE="NONE").cookie_samesite == "none"

    def test_samesite_none_needs_secure_cookies(self) -> None:
        error = refused(COOKIE_SAMESITE="none", COOKIE_SECURE="false")

        assert error.variable == "COOKIE_SAMESITE"
        assert "COOKIE_SECURE" in str(error)
        assert "\n" not in str(error)

    def test_refresh_expiry_must_outlast_access_expiry(self) -> None:
        error = refused(ACCESS_TOKEN_EXPIRY="1d", REFRESH_TOKEN_EXPIRY="12h")

        assert error.variable == "REFRESH_TOKEN_EXPIRY"

    def test_copies_are_checked_too(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            replace(load(), bcrypt_rounds=2)

        assert caught.value.variable == "BCRYPT_ROUNDS"

    def test_secret_never_appears_in_the_message(self) -> None:
        secret = "too-short-but-secret"

        assert secret not in str(refused(ACCESS_TOKEN_SECRET=secret))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1d", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30s", timedelta(seconds=30)),
        ("3600", timedelta(hours=1)),
        ("1.5h", timedelta(minutes=90)),
        (".5m", timedelta(seconds=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365.25)),
        ("15M", timedelta(minutes=15)),
        ("15 min", timedelta(minutes=15)),
        ("2 hours", timedelta(hours=2)),
        ("10 Seconds", timedelta(seconds=10)),
        ("3 days", timedelta(days=3)),
        (" 15m ", timedelta(minutes=15)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        *("", " ", "m", "15x", "15 m s", "1.2.3h", "5.", "1e3s", "1" * 101, "99999999999y"),
        *("0", "0s", "0.0000001s", "-5m"),
    ],
)
def test_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|zero"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/minute", RateLimit(100, timedelta(minutes=1))),
        ("10/second", RateLimit(10, timedelta(seconds=1))),
        ("1000/hour", RateLimit(1000, timedelta(hours=1))),
        ("5000/day", RateLimit(5000, timedelta(days=1))),
        ("5/15m", RateLimit(5, timedelta(minutes=15))),
        ("20 / 30s", RateLimit(20, timedelta(seconds=30))),
    ],
)
def test_rates(text: str, expected: RateLimit) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "100", "/minute", "100/", "-1/minute", "x/minute", "5/0s"])
def test_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate(text)


class TestGeneratedSecrets:
    def test_generated_once_in_a_private_file_and_reused(self) -> None:
        first = Settings.from_env({}, env_file=None)
        second = Settings.from_env({}, env_file=None)

        secrets_file = Path("data/authsvc.secrets")
        assert first.secrets_generated
        assert second.secrets_generated
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(secrets_file.parent.stat().st_mode) == 0o700
        assert (first.access_token_secret, first.refresh_token_secret) == (
            second.access_token_secret,
            second.refresh_token_secret,
        )
        assert first.access_token_secret != first.refresh_token_secret
        assert len(first.access_token_secret) >= 64
        assert sorted(path.name for path in secrets_file.parent.iterdir()) == [
            "authsvc.keys",
            "authsvc.secrets",
        ]
        assert first.data_encryption_keys == second.data_encryption_keys
        assert stat.S_IMODE(Path("data/authsvc.keys").stat().st_mode) == 0o600

    def test_workers_starting_together_agree_on_one_pair(self) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            started = list(pool.map(lambda _: Settings.from_env({}, env_file=None), range(16)))

        assert len({(s.access_token_secret, s.refresh_token_secret) for s in started}) == 1
        assert len({s.data_encryption_keys for s in started}) == 1
        assert sorted(path.name for path in Path("data").iterdir()) == [
            "authsvc.keys",
            "authsvc.secrets",
        ]

    def test_kept_beside_the_configured_sqlite_file(self, tmp_path: Path) -> None:
        database = tmp_path / "elsewhere" / "auth.sqlite3"

        settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{database}"}, env_file=None)

        kept = dotenv_values(database.with_suffix(".secrets"))
        assert kept["ACCESS_TOKEN_SECRET"] == settings.access_token_secret
        assert kept["REFRESH_TOKEN_SECRET"] == settings.refresh_token_secret

    def test_data_key_generated_for_configured_token_secrets(self) -> None:
        secrets_only = {
            name: SECRETS[name] for name in ("ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET")
        }
        first = Settings.from_env(secrets_only, env_file=None)
        second = Settings.from_env(secrets_only, env_file=None)

        assert first.secrets_generated
        assert first.data_encryption_keys == second.data_encryption_keys
        assert len(first.data_encryption_keys) == 1
        assert [path.name for path in Path("data").iterdir()] == ["authsvc.keys"]

    def test_in_memory_database_gets_fresh_secrets_and_no_file(self, tmp_path: Path) -> None:
        settings = Settings.from_env({"DATABASE_URL": "sqlite+aiosqlite://"}, env_file=None)

        assert settings.secrets_generated
        assert list(tmp_path.iterdir()) == []

    def test_configured_secrets_are_not_generated(self, tmp_path: Path) -> None:
        assert load().secrets_generated is False
        assert list(tmp_path.iterdir()) == []

    def test_damaged_secrets_file_is_refused(self) -> None:
        Path("data").mkdir()
        Path("data/authsvc.secrets").write_text(f"ACCESS_TOKEN_SECRET={ACCESS_SECRET}\n")
        Path("data/authsvc.secrets").chmod(0o600)

        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({}, env_file=None)

        assert caught.value.variable == "REFRESH_TOKEN_SECRET"

    def test_secrets_file_readable_by_others_is_refused_in_one_line(self) -> None:
        generated = Settings.from_env({}, env_file=None)
        Path("data/authsvc.secrets").chmod(0o644)

        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({}, env_file=None)

        assert caught.value.variable == "ACCESS_TOKEN_SECRET"
        assert "data/authsvc.secrets is open to other users (mode 0644)" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert generated.access_token_secret not in str(caught.value)

    def test_secrets_file_of_another_user_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        Settings.from_env({}, env_file=None)
        owner = Path("data/authsvc.secrets").stat().st_uid
        monkeypatch.setattr(os, "geteuid", lambda: owner + 1)

        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({}, env_file=None)

        assert "belongs to user id" in str(caught.value)


class TestEnvExample:
    def test_names_every_variable_with_the_original_ones_first(self) -> None:
        named = re.findall(r"^(?:# )?([A-Z_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE)

        assert named[: len(ORIGINAL_VARIABLES)] == ORIGINAL_VARIABLES
        assert set(named) == set(ORIGINAL_VARIABLES) | set(OTHER_VARIABLES)

    def test_placeholder_secrets_are_refused(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({}, env_file=ENV_EXAMPLE)

        assert caught.value.variable == "ACCESS_TOKEN_SECRET"
