"""How long the service waits for each database."""

from typing import Final

MYSQL_READ_TIMEOUT_SECONDS: Final = 1.0
"""Each wait on MySQL: for a reply (a query's, a ping's, a commit's), for a pooled connection
to come free, for a new connection's greeting. Statements here are indexed single-row ones and
transactions hold row locks for milliseconds, so one second is far above normal; a hung server
then costs a request a second or two (a ping, then a new connection), and a 503."""
MYSQL_CONNECT_TIMEOUT_SECONDS: Final = 1.0
"""The TCP connect alone (asyncmy's connect_timeout). One second is plenty on a LAN."""
SQLITE_TIMEOUT_SECONDS: Final = 5.0
"""Waiting for SQLite's write lock (busy timeout) and for a pooled connection."""
