"""Times failed logins on a real server: an unknown email against a known email with a wrong
password, and against an account adopted from the Node service whose stored hash is still a
`$2a$10$` bcrypt hash.

All must take the time of one verification of the current settings (an unknown email is
checked against a dummy hash, and a failed check of a quicker hash is padded), or response time
tells an attacker which emails have an account. The machine this runs on may be shared and
noisy, so the kinds are interleaved in a random order within each round and compared by their
medians. A login with the right password is timed alongside for reference: it also starts a
session, so it is expected to be a little slower.

Run: .venv/bin/python bench/login_timing.py [--hasher bcrypt|argon2id] [--rounds N] [--samples N]
Exits 0 when the medians of the failing kinds are each within 10% of the unknown email's, 1
when one is not, 2 when the measurement could not be made.
"""

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import bcrypt

UNKNOWN_EMAIL = "unknown email"
WRONG_PASSWORD = "wrong password"
ADOPTED_WRONG = "adopted $2a$10$"
RIGHT_PASSWORD = "right password"
KINDS = (UNKNOWN_EMAIL, WRONG_PASSWORD, ADOPTED_WRONG, RIGHT_PASSWORD)
FAILING_KINDS = (WRONG_PASSWORD, ADOPTED_WRONG)
EXPECTED_STATUS = {UNKNOWN_EMAIL: 401, WRONG_PASSWORD: 401, ADOPTED_WRONG: 401, RIGHT_PASSWORD: 200}

MIN_SAMPLES = 30
WARM_UP_ROUNDS = 3
"""Discarded rounds: the first requests pay for imports, connection and statement caches."""
TOLERANCE = 0.10
TIME_BUDGET_SECONDS = 300.0
"""The whole measurement stops after this, however slow the hasher or the machine."""
STARTUP_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
KNOWN_EMAIL = "known@example.com"
ADOPTED_EMAIL = "adopted@example.com"
ADOPTED_HASH_COST = 10
"""The cost of the Node service's bcryptjs hashes, which an adopted database keeps until each
user's next successful login (never, for these failing logins)."""


class BenchmarkError(Exception):
    """The measurement cannot be trusted or cannot go on; the message says why."""


def main() -> int:
    arguments = parse_arguments()
    # The server runs in its own session, out of reach of the terminal's Ctrl-C; a SIGTERM to
    # this script must stop it too, so it goes through the same cleanup as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with running_server(arguments.hasher, arguments.rounds) as (port, database):
            samples = measure(port, database, arguments.samples)
    except (BenchmarkError, OSError, http.client.HTTPException) as error:
        print(f"login_timing: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("login_timing: interrupted; server stopped", file=sys.stderr)
        return 130
    return report(samples, arguments)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hasher", choices=("bcrypt", "argon2id"), default="bcrypt")
    parser.add_argument(
        "--rounds", type=int, default=12, help="BCRYPT_ROUNDS (default 12, the production one)"
    )
    parser.add_argument(
        "--samples", type=int, default=40, help=f"per kind (default 40, at least {MIN_SAMPLES})"
    )
    arguments = parser.parse_args()
    if arguments.samples < MIN_SAMPLES:
        parser.error(f"--samples must be at least {MIN_SAMPLES}: fewer make the medians unstable")
    return arguments


@contextmanager
def running_server(hasher: str, bcrypt_rounds: int, **variables: str) -> Iterator[tuple[int, Path]]:
    """A fresh database and a real `authsvc serve` on a free loopback port, configured for the
    measurement and by `variables`: the port and the database's file. The server is stopped
    on the way out, whatever happened (Ctrl-C included)."""
    authsvc = Path(sys.executable).with_name("authsvc")
    if not authsvc.exists():
        raise BenchmarkError(f"{authsvc} not found; run with the project's .venv/bin/python")
    with tempfile.TemporaryDirectory(prefix="login-timing-") as directory:
        workdir = Path(directory)
        environment = server_environment(workdir, hasher, bcrypt_rounds) | variables
        # The temporary directory as working directory keeps a developer's .env out of it.
        upgrade = subprocess.run(  # noqa: S603 - the project's own command, fixed arguments
            [authsvc, "db", "upgrade"],
            env=environment,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT_SECONDS,
            check=False,
        )
        if upgrade.returncode != 0:
            raise BenchmarkError(f"authsvc db upgrade failed:\n{upgrade.stderr}")
        port = free_loopback_port()
        server_log = workdir / "server.log"
        # A file rather than a pipe: an unread pipe that fills up would stall the server.
        with server_log.open("wb") as log:
            server = subprocess.Popen(  # noqa: S603 - the project's own command, fixed arguments
                [authsvc, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=environment,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_live(port, server, server_log)
            yield port, workdir / "authsvc.db"
        finally:
            stop(server)


def server_environment(workdir: Path, hasher: str, bcrypt_rounds: int) -> dict[str, str]:
    """Only what the server needs, so that variables of the caller's shell (a REDIS_URL, a
    DATABASE_URL) cannot change what is measured."""
    inherited = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {
        **inherited,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'authsvc.db'}",
        "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(48),
        "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "PASSWORD_HASHER": hasher,
        "BCRYPT_ROUNDS": str(bcrypt_rounds),
        # Every failed login counts against the email and every request against the client:
        # with the default limits the server would answer 429 well before the last sample.
        "LOGIN_MAX_FAILURES": "1000000",
        "AUTH_RATE_LIMIT": "1000000/minute",
    }


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_live(port: int, server: subprocess.Popen[bytes], server_log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError(f"authsvc serve exited at start:\n{server_log.read_text()}")
        try:
            with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=2)) as connection:
                status, _ = request(connection, "GET", "/health/live")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return
        time.sleep(0.2)
    raise BenchmarkError(f"authsvc serve not live after {STARTUP_TIMEOUT_SECONDS:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets granian stop its workers; then SIGKILL to the server's process group, for
    a worker left behind when the main process hung or died first."""
    server.terminate()
    with suppress(subprocess.TimeoutExpired):
        server.wait(timeout=15)
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=15)


def measure(port: int, database: Path, samples_per_kind: int) -> dict[str, list[float]]:
    """Milliseconds per login of each kind, all on one kept-alive connection."""
    with closing(
        http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    ) as connection:
        password = secrets.token_urlsafe(18)
        for email in (KNOWN_EMAIL, ADOPTED_EMAIL):
            register = {"name": "Timing Probe", "email": email, "password": password}
            status, body = request(connection, "POST", "/users/register", register)
            if status != 201:
                raise BenchmarkError(f"registration answered {status}: {body!r}")
        store_adopted_hash(database, password)
        return sample_logins(connection, password, samples_per_kind)


def store_adopted_hash(database: Path, password: str) -> None:
    """Gives the adopted account the kind of hash the Node service left: `$2a$`, cost 10."""
    salt = bcrypt.gensalt(rounds=ADOPTED_HASH_COST, prefix=b"2a")
    adopted_hash = bcrypt.hashpw(password.encode(), salt).decode()
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE users SET password = ? WHERE email = ?", (adopted_hash, ADOPTED_EMAIL)
        )


def sample_logins(
    connection: http.client.HTTPConnection, password: str, samples_per_kind: int
) -> dict[str, list[float]]:
    """Every round sends one login of each kind in a fresh random order, so drift of the
    machine's load falls on all kinds alike."""
    wrong_password = secrets.token_urlsafe(18)
    credentials = {
        WRONG_PASSWORD: {"email": KNOWN_EMAIL, "password": wrong_password},
        ADOPTED_WRONG: {"email": ADOPTED_EMAIL, "password": wrong_password},
        RIGHT_PASSWORD: {"email": KNOWN_EMAIL, "password": password},
    }
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    for round_number in range(WARM_UP_ROUNDS + samples_per_kind):
        for kind in random.sample(KINDS, len(KINDS)):
            if time.monotonic() > deadline:
                raise BenchmarkError(f"time budget of {TIME_BUDGET_SECONDS:.0f} s used up")
            # A new address every round, as an attacker probing for accounts would send, of the
            # known one's length.
            login = credentials.get(
                kind, {"email": f"u{round_number:04d}@example.com", "password": wrong_password}
            )
            started = time.perf_counter()
            status, body = request(connection, "POST", "/users/login", login)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if status != EXPECTED_STATUS[kind]:
                raise BenchmarkError(
                    f"{kind}: login answered {status}, not {EXPECTED_STATUS[kind]}: {body!r}"
                )
            if round_number >= WARM_UP_ROUNDS:
                samples[kind].append(elapsed_ms)
    return samples


def request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    payload: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a kept-alive connection, its answer read in full."""
    body = json.dumps(payload).encode() if payload is not None else None
    connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def report(samples: dict[str, list[float]], arguments: argparse.Namespace) -> int:
    cost = f"cost {arguments.rounds}" if arguments.hasher == "bcrypt" else "service defaults"
    print(
        f"{arguments.hasher} ({cost}), {arguments.samples} samples per kind, {os.cpu_count()} CPUs"
    )
    print(f"{'kind':<16}{'samples':>8}{'median ms':>11}{'p10 ms':>9}{'p90 ms':>9}")
    for kind in KINDS:
        deciles = statistics.quantiles(samples[kind], n=10, method="inclusive")
        print(
            f"{kind:<16}{len(samples[kind]):>8}{statistics.median(samples[kind]):>11.1f}"
            f"{deciles[0]:>9.1f}{deciles[-1]:>9.1f}"
        )
    all_within = True
    for kind in FAILING_KINDS:
        ratio = statistics.median(samples[UNKNOWN_EMAIL]) / statistics.median(samples[kind])
        within = abs(ratio - 1) <= TOLERANCE
        all_within = all_within and within
        print(
            f"median unknown email / median {kind} = {ratio:.3f}: "
            f"{'PASS' if within else 'FAIL'} (within {TOLERANCE:.0%})"
        )
    return 0 if all_within else 1


if __name__ == "__main__":
    sys.exit(main())
