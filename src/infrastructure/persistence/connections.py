"""The databases a URL can name, and how long the service waits for each."""

from typing import Final

from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///./data/authsvc.db"
ASYNC_DRIVERS: Final = ("mysql+asyncmy", "mariadb+asyncmy", "sqlite+aiosqlite")
"""The schemes (`dialect+driver`) the service runs on."""
DRIVER_SHORTHANDS: Final = {
    "mysql": "mysql+asyncmy",
    "mariadb": "mariadb+asyncmy",
    "sqlite": "sqlite+aiosqlite",
}
"""A scheme without its driver, and the one it stands for."""
MYSQL_BACKENDS: Final = ("mysql", "mariadb")
"""The URL schemes (before any `+driver`) served by mysql.py."""

MYSQL_READ_TIMEOUT_SECONDS: Final = 1.0
"""Each wait on MySQL: for a reply (a query's, a ping's, a commit's), for a pooled connection
to come free, for a new connection's greeting. Statements here are indexed single-row ones and
transactions hold row locks for milliseconds, so one second is far above normal; a hung server
then costs a request a second or two (a ping, then a new connection), and a 503."""
MYSQL_CONNECT_TIMEOUT_SECONDS: Final = 1.0
"""The TCP connect alone (asyncmy's connect_timeout). One second is plenty on a LAN."""
SQLITE_TIMEOUT_SECONDS: Final = 5.0
"""Waiting for SQLite's write lock (busy timeout) and for a pooled connection."""


def is_mysql(url: str) -> bool:
    return make_url(url).get_backend_name() in MYSQL_BACKENDS
