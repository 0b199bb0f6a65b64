"""The security suites drive the API through the HTTP suite's fixtures: a fresh database per
test (SQLite and MySQL), and clients that hold every response to the API's rules."""

from tests.http.conftest import api, client, database_url, make_client, sqlite_template

__all__ = ["api", "client", "database_url", "make_client", "sqlite_template"]
