"""Times forgot-password on a real server for an email that has an account and for one that
has not.

Both must get the same status, the same body and the same time, or the endpoint tells an
attacker which emails have an account. The service answers once the address is valid, within
its limits and looked up (one indexed read, hit or miss), and writes a known one's token and
mail after the response is sent. The machine this runs on may be shared and noisy, so the
two kinds are interleaved in a random order within each round and compared by their medians.
Each request goes on a connection of its own, opened before the clock starts, so the work a
known email leaves behind falls on whichever request comes next, of either kind.

Run: .venv/bin/python bench/forgot_password_timing.py [--samples N]
Exits 0 when the known email's median is within 10% of the unknown one's, 1 when it is not,
2 when the measurement could not be made.
"""

import argparse
import http.client
import os
import random
import secrets
import signal
import statistics
import sys
import time
from contextlib import closing

from login_timing import BenchmarkError, request, running_server

KNOWN_EMAIL = "known@example.com"
UNKNOWN_EMAIL = "unknown email"
KNOWN = "known email"
KINDS = (UNKNOWN_EMAIL, KNOWN)
EXPECTED_STATUS = 202

MIN_SAMPLES = 50
WARM_UP_ROUNDS = 10
"""Discarded rounds: the first requests pay for imports, connection and statement caches."""
TOLERANCE = 0.10
TIME_BUDGET_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 30.0
BCRYPT_ROUNDS = 4
"""Only registration hashes here; forgot-password hashes nothing."""


def main() -> int:
    arguments = parse_arguments()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # Every request counts against the email and the client: with the default limits the
        # server would answer 429 well before the last sample.
        with running_server("bcrypt", BCRYPT_ROUNDS, PASSWORD_RESET_RATE="1000000/minute") as (
            port,
            _,
        ):
            samples, bodies = measure(port, arguments.samples)
    except (BenchmarkError, OSError, http.client.HTTPException) as error:
        print(f"forgot_password_timing: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("forgot_password_timing: interrupted; server stopped", file=sys.stderr)
        return 130
    return report(samples, bodies, arguments)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--samples", type=int, default=400, help=f"per kind (default 400, at least {MIN_SAMPLES})"
    )
    arguments = parser.parse_args()
    if arguments.samples < MIN_SAMPLES:
        parser.error(f"--samples must be at least {MIN_SAMPLES}: fewer make the medians unstable")
    return arguments


def measure(port: int, samples_per_kind: int) -> tuple[dict[str, list[float]], set[bytes]]:
    """Milliseconds per request of each kind, and every distinct body answered."""
    with closing(connect(port)) as connection:
        register = {"name": "Timing Probe", "email": KNOWN_EMAIL, "password": secrets.token_hex(9)}
        status, body = request(connection, "POST", "/users/register", register)
        if status != 201:
            raise BenchmarkError(f"registration answered {status}: {body!r}")
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    bodies: set[bytes] = set()
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    for round_number in range(WARM_UP_ROUNDS + samples_per_kind):
        for kind in random.sample(KINDS, len(KINDS)):
            if time.monotonic() > deadline:
                raise BenchmarkError(f"time budget of {TIME_BUDGET_SECONDS:.0f} s used up")
            # A new address every round, as an account prober would send, of the known
            # one's length.
            email = KNOWN_EMAIL if kind == KNOWN else f"u{round_number:06d}@example.com"
            with closing(connect(port)) as connection:
                connection.connect()
                started = time.perf_counter()
                status, body = request(
                    connection, "POST", "/users/forgot-password", {"email": email}
                )
                elapsed_ms = (time.perf_counter() - started) * 1000
            if status != EXPECTED_STATUS:
                raise BenchmarkError(f"{kind}: answered {status}, not {EXPECTED_STATUS}: {body!r}")
            bodies.add(body)
            if round_number >= WARM_UP_ROUNDS:
                samples[kind].append(elapsed_ms)
    return samples, bodies


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)


def report(
    samples: dict[str, list[float]], bodies: set[bytes], arguments: argparse.Namespace
) -> int:
    print(f"forgot-password, {arguments.samples} samples per kind, {os.cpu_count()} CPUs")
    print(f"{'kind':<16}{'samples':>8}{'median ms':>11}{'p10 ms':>9}{'p90 ms':>9}")
    for kind in KINDS:
        deciles = statistics.quantiles(samples[kind], n=10, method="inclusive")
        print(
            f"{kind:<16}{len(samples[kind]):>8}{statistics.median(samples[kind]):>11.2f}"
            f"{deciles[0]:>9.2f}{deciles[-1]:>9.2f}"
        )
    same_body = len(bodies) == 1
    print(f"bodies: {len(bodies)} distinct: {'PASS' if same_body else 'FAIL'}")
    ratio = statistics.median(samples[KNOWN]) / statistics.median(samples[UNKNOWN_EMAIL])
    within = abs(ratio - 1) <= TOLERANCE
    print(
        f"median known email / median unknown email = {ratio:.3f}: "
        f"{'PASS' if within else 'FAIL'} (within {TOLERANCE:.0%})"
    )
    return 0 if within and same_body else 1


if __name__ == "__main__":
    sys.exit(main())
