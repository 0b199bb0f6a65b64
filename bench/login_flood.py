"""Profile reads while a flood of logins is shed: GET profile req/s and p99 on its own, then
with a login flood beside it, on a real server.

The flood asks for more password hashes than the cores can make; with the hash queue bounded
(`HASH_QUEUE_LIMIT`), the logins beyond it are answered 503 at once, so the profile reads keep
the event loop and lose only the CPU the hashing takes. `--queue-limit 100000` leaves the
queue practically unbounded, for comparison.

Run: .venv/bin/python bench/login_flood.py [--seconds N] [--rounds N] [--queue-limit N]
Needs wrk. Each round measures profile alone, then profile during the flood, for --seconds
each; the figures are the medians over the rounds.
"""

import argparse
import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass

from login_timing import BenchmarkError, request, running_server

EMAIL = "flood@example.com"
PASSWORD = "correct horse battery staple"
BCRYPT_ROUNDS = 10
"""As the comparison with the Node service hashes (about 60 ms here)."""
WRK = shutil.which("wrk")
PROFILE_CONNECTIONS = 16
FLOOD_CONNECTIONS = 64
LOGIN_SCRIPT = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{json.dumps({"email": EMAIL, "password": PASSWORD})}'
"""


@dataclass(frozen=True, slots=True)
class Load:
    """What wrk reports of one run."""

    requests_per_second: float
    p99_ms: float
    non_2xx: int
    requests: int


def main() -> int:
    arguments = parse_arguments()
    if WRK is None:
        print("login_flood: wrk not found", file=sys.stderr)
        return 2
    variables = {} if arguments.queue_limit is None else {"HASH_QUEUE_LIMIT": arguments.queue_limit}
    try:
        with running_server("bcrypt", BCRYPT_ROUNDS, **variables) as (port, _):
            access_token = sign_in(port)
            alone, during, floods = [], [], []
            for _ in range(arguments.rounds):
                alone.append(profile_load(port, access_token, arguments.seconds))
                profile, flood = profile_during_flood(port, access_token, arguments.seconds)
                during.append(profile)
                floods.append(flood)
    except (BenchmarkError, OSError, http.client.HTTPException) as error:
        print(f"login_flood: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("login_flood: interrupted; server stopped", file=sys.stderr)
        return 130
    report(arguments, alone, during, floods)
    return 0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="default 3")
    parser.add_argument(
        "--queue-limit", help="HASH_QUEUE_LIMIT for the server (default: the service's)"
    )
    return parser.parse_args()


def sign_in(port: int) -> str:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) as connection:
        account = {"name": "Flood", "email": EMAIL, "password": PASSWORD}
        status, body = request(connection, "POST", "/users/register", account)
        if status != 201:
            raise BenchmarkError(f"registration answered {status}: {body!r}")
        status, body = request(
            connection, "POST", "/users/login", {"email": EMAIL, "password": PASSWORD}
        )
        if status != 200:
            raise BenchmarkError(f"login answered {status}: {body!r}")
        return str(json.loads(body)["data"]["accessToken"])


def profile_load(port: int, access_token: str, seconds: int) -> Load:
    return finished(start_profile_load(port, access_token, seconds))


def profile_during_flood(port: int, access_token: str, seconds: int) -> tuple[Load, Load]:
    """The flood starts first and outlasts the profile run by a second at each end, so that
    the profile reads are measured under the flood throughout."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(LOGIN_SCRIPT)
        script.flush()
        flood = wrk(port, "/users/login", FLOOD_CONNECTIONS, seconds + 2, "-s", script.name)
        try:
            time.sleep(1)  # the flood's head start
            profile = finished(start_profile_load(port, access_token, seconds))
        finally:
            flood_load = finished(flood)
    return profile, flood_load


def start_profile_load(port: int, access_token: str, seconds: int) -> subprocess.Popen[str]:
    return wrk(
        port,
        "/users/profile",
        PROFILE_CONNECTIONS,
        seconds,
        "-H",
        f"Authorization: Bearer {access_token}",
    )


def wrk(
    port: int, path: str, connections: int, seconds: int, *options: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - wrk with fixed arguments
        [
            str(WRK),
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            *options,
            f"http://127.0.0.1:{port}{path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(run: subprocess.Popen[str]) -> Load:
    output, _ = run.communicate(timeout=120)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    total = re.search(r"(\d+) requests in", output)
    if run.returncode != 0 or not (rate and p99 and total):
        raise BenchmarkError(f"wrk failed:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99[2]]
    return Load(
        requests_per_second=float(rate[1]),
        p99_ms=float(p99[1]) * scale,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        requests=int(total[1]),
    )


def report(
    arguments: argparse.Namespace, alone: list[Load], during: list[Load], floods: list[Load]
) -> None:
    limit = arguments.queue_limit or "the default (4 per CPU)"
    print(
        f"HASH_QUEUE_LIMIT={limit}, BCRYPT_ROUNDS={BCRYPT_ROUNDS}, {arguments.rounds} rounds"
        f" of {arguments.seconds} s; profile {PROFILE_CONNECTIONS} connections,"
        f" flood {FLOOD_CONNECTIONS}"
    )
    print(f"{'GET profile':<26}{'req/s':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, loads in (("alone", alone), ("during the login flood", during)):
        print(
            f"{name:<26}{median(loads, 'requests_per_second'):>9.0f}"
            f"{median(loads, 'p99_ms'):>9.1f}{sum(load.non_2xx for load in loads):>9}"
        )
    shed = sum(load.non_2xx for load in floods)
    answered = sum(load.requests for load in floods)
    print(
        f"login flood: {median(floods, 'requests_per_second'):.0f} answers/s,"
        f" {answered - shed} logins (200) and {shed} shed (non-2xx) in all;"
        f" p99 {median(floods, 'p99_ms'):.1f} ms"
    )


def median(loads: list[Load], figure: str) -> float:
    return statistics.median(getattr(load, figure) for load in loads)


if __name__ == "__main__":
    sys.exit(main())
