"""The databases a DATABASE_URL can name: read by the settings and by the persistence adapter."""

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
"""The URL schemes (before any `+driver`) served by persistence/mysql.py."""


def is_mysql(url: str) -> bool:
    return make_url(url).get_backend_name() in MYSQL_BACKENDS
