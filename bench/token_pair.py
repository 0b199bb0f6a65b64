"""Times what the service does with JWTs on a refresh: issue an access and refresh token pair,
then read both back (the access token's first read, as its cache is empty; the refresh token is
verified on every read).

Run: .venv/bin/python bench/token_pair.py [--pairs N] [--rounds N]
Prints the median and the range of the rounds' means, in microseconds of this process's CPU
time per pair: on a shared machine, CPU time moves far less than wall-clock time.
"""

import argparse
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta

from domain.users import Email
from infrastructure.security.clock import SystemClock
from infrastructure.security.tokens import JwtTokenIssuer

USER_ID = 42
EMAIL = Email("ada@example.com")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000, help="pairs per round")
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    issuer = JwtTokenIssuer(
        access_secret=secrets.token_urlsafe(36),
        refresh_secret=secrets.token_urlsafe(36),
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=7),
        issuer="authsvc",
        audience="authsvc",
        clock=SystemClock(),
        access_cache_size=0,
    )
    round_means = [one_round(issuer, arguments.pairs) for _ in range(arguments.rounds)]
    print(
        f"issue + read one pair: median {statistics.median(round_means):.1f} us "
        f"(rounds {min(round_means):.1f}-{max(round_means):.1f} us, "
        f"{arguments.rounds} x {arguments.pairs} pairs)"
    )


def one_round(issuer: JwtTokenIssuer, pairs: int) -> float:
    """CPU microseconds per pair, on average over `pairs`."""
    now = datetime.now(UTC)
    session_expires_at = now + timedelta(days=30)
    started = time.process_time()
    for _ in range(pairs):
        tokens = issuer.issue(
            user_id=USER_ID,
            email=EMAIL,
            session_id="session",
            now=now,
            session_expires_at=session_expires_at,
        )
        issuer.read_access_token(tokens.access_token)
        issuer.read_refresh_token(tokens.refresh_token)
    return (time.process_time() - started) / pairs * 1e6


if __name__ == "__main__":
    main()
