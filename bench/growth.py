"""Whether authsvc keeps its speed as its tables grow: 1,000 users against 1,000,000.

1. Two databases: authsvc_bench_1k gets 1,000 users and 1,000 sessions, authsvc_bench_1m gets
   1,000,000 of each, bulk-loaded with LOAD DATA LOCAL INFILE from generated files. Every user
   has the same bcrypt cost-10 hash of the harness's password, computed once. The big database
   is kept between runs and loaded again only when incomplete or with --reload.
2. Every statement the login, profile, update-profile and refresh requests send to MySQL is
   recorded on the wire by mysql_recorder.py, a relay between a real server and MariaDB (so it
   is whatever the persistence adapter of the day sends), then EXPLAINed on the big database.
   A full table or index scan, a filesort, or a table read without a key fails the run.
3. One authsvc process per database, and the peers' harness alternates them round by round
   on the profile, login and refresh scenarios; each figure of the big database must be within
   10% of the small one's.

Usage: .venv/bin/python bench/growth.py [--users N] [--reload]
Environment: ROUNDS=5 RESULTS_DIR, MYSQL_HOST/PORT/USER/PASSWORD, PEERS, the harness's knobs.
Exits 0 when every check passes, 1 when one fails, 2 when the measurement could not be made.
"""

import argparse
import http.client
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
from mysql_recorder import StatementRecorder

HERE = Path(__file__).resolve().parent
PASSWORD = os.environ.get("PASSWORD", "Bench-Pass-123")  # the harness's
SMALL, BIG = "authsvc_bench_1k", "authsvc_bench_1m"
PORTS = {SMALL: 8003, BIG: 8004}
RECORDING_PORT = 8005
SCENARIOS = ("profile", "login", "refresh")
TOLERANCE = 0.10
LOAD_TIMEOUT_SECONDS = 1200
"""For one LOAD DATA; 1,000,000 users take about a minute on a quiet 2-core machine."""
MYSQL = {
    "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("MYSQL_PORT", "3306")),
    "user": os.environ.get("MYSQL_USER", "root"),
}


class BenchmarkError(Exception):
    """The measurement cannot be made; the message says why."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000, help="and as many sessions")
    parser.add_argument("--small", type=int, default=1_000, help="users of the reference")
    parser.add_argument("--reload", action="store_true", help="load the big database again")
    arguments = parser.parse_args()
    rounds = int(os.environ.get("ROUNDS", "5"))
    default_results = Path(tempfile.gettempdir(), "authsvc-bench", time.strftime("%Y%m%dT%H%M%S"))
    results = Path(os.environ.get("RESULTS_DIR") or default_results)
    results.mkdir(parents=True, exist_ok=True)
    # A SIGTERM takes the same way out as Ctrl-C, through every cleanup below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report = [run_command([str(HERE / "machine.sh")], 60)]
    try:
        with ExitStack() as servers:
            password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
            for database, users in ((SMALL, arguments.small), (BIG, arguments.users)):
                fresh = database == SMALL or arguments.reload or not loaded(database, users)
                start_server(database, PORTS[database], reset=fresh)
                servers.callback(stop_server, PORTS[database])
                if fresh:
                    report.append(bulk_load(database, users, password_hash, results))
                else:
                    report.append(f"{database}: {users:,} users and sessions already loaded")
            explained, explain_ok = explain_paths(BIG, arguments.users, results)
            report.append(explained)
            compared, growth_ok = compare(rounds, results)
            report.append(compared)
    except (BenchmarkError, OSError, subprocess.SubprocessError) as error:
        print(f"growth.py: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("growth.py: interrupted; servers stopped", file=sys.stderr)
        return 130
    text = "\n\n".join(report) + "\n"
    (results / "growth.md").write_text(text)
    print(text + f"results in {results}")
    if not explain_ok:
        print("growth.py: FAIL: a query on a measured path reads without an index (above)")
    return 0 if explain_ok and growth_ok else 1


def run_command(
    command: list[str], timeout: float, *, stdin: str | None = None, env: dict | None = None
) -> str:
    """Runs a command in its own process group and returns its stdout; past the timeout, or on
    Ctrl-C, the whole group is ended (compare.sh leaves wrk and curl children otherwise)."""
    process = subprocess.Popen(  # noqa: S603 - our own scripts and the mariadb client
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, _ = process.communicate(stdin, timeout=timeout)
    except BaseException:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        raise
    if process.returncode != 0:
        raise BenchmarkError(f"{Path(command[0]).name} exited with {process.returncode}")
    return stdout


def mysql(database: str, sql: str, *, timeout: float = 60) -> list[list[str]]:
    """Rows of tab-separated batch output, the header first."""
    command = ["mariadb", "--batch", "--local-infile=1", f"-h{MYSQL['host']}"]
    command += [f"-P{MYSQL['port']}", f"-u{MYSQL['user']}", database]
    env = {**os.environ, "MYSQL_PWD": os.environ.get("MYSQL_PASSWORD", "")}
    output = run_command(command, timeout, stdin=sql, env=env)
    return [line.split("\t") for line in output.splitlines()]


def start_server(database: str, port: int, *, reset: bool, mysql_port: int | None = None) -> None:
    env = {**os.environ, "PORT": str(port), "BENCH_DB": database}
    if mysql_port:
        env["SERVE_MYSQL_PORT"] = str(mysql_port)
    command = [str(HERE / "run_authsvc.sh"), "start"] + (["--reset"] if reset else [])
    run_command(command, 120, env=env)


def stop_server(port: int) -> None:
    run_command([str(HERE / "run_authsvc.sh"), "stop"], 30, env={**os.environ, "PORT": str(port)})


def email_of(n: int) -> str:
    # Zero-padded, so that file order is index order and the load appends to the index.
    return f"bulk{n:07d}@growth.bench.io"


def loaded(database: str, users: int) -> bool:
    tables = mysql(
        "information_schema",
        "SELECT COUNT(*) FROM tables"  # noqa: S608 - our own constant names
        f" WHERE table_schema = '{database}' AND table_name IN ('users', 'sessions');",
    )
    if tables[1][0] != "2":
        return False
    rows = mysql(
        database,
        f"SELECT (SELECT COUNT(*) FROM users WHERE email = '{email_of(users)}'),"  # noqa: S608
        " (SELECT COUNT(*) FROM sessions);",
    )
    return rows[1][0] == "1" and int(rows[1][1]) >= users


def bulk_load(database: str, users: int, password_hash: str, results: Path) -> str:
    """Users 1..N, and one session for each, sorted by primary key so that InnoDB appends."""
    started = time.monotonic()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    users_file, sessions_file = (
        results / f"{database}-users.tsv",
        results / f"{database}-sessions.tsv",
    )
    with users_file.open("w") as out:
        created = (now - timedelta(days=400)).isoformat(" ")
        for n in range(1, users + 1):
            out.write(f"{n}\tBulk User {n}\t{email_of(n)}\t{password_hash}\t\\N\t\\N\t{created}\n")
    # Sessions started within the last 29 days, all still active, as a busy service keeps them.
    session_ids = sorted(secrets.token_urlsafe(24) for _ in range(users))
    with sessions_file.open("w") as out:
        for n, session_id in enumerate(session_ids, start=1):
            start = now - timedelta(seconds=n % (29 * 86400))
            created, expires = start.isoformat(" "), (start + timedelta(days=30)).isoformat(" ")
            times = f"{created}\t{created}\t{expires}"
            out.write(
                f"{session_id}\t{n}\t{secrets.token_hex(32)}\t\\N\t\\N\t{times}\t\\N\tbulk\t127.0.0.1\n"
            )
    generated = time.monotonic()
    # The rows are known to be unique and to reference existing users: checking them row by
    # row would only slow the load.
    try:
        mysql(
            database,
            "SET unique_checks = 0; SET foreign_key_checks = 0;"
            f" LOAD DATA LOCAL INFILE '{users_file}' INTO TABLE users"
            " (id, name, email, password, bio, contact, created_at);"
            f" LOAD DATA LOCAL INFILE '{sessions_file}' INTO TABLE sessions"
            " (id, user_id, refresh_token_hash, previous_token_hash, rotated_at, created_at,"
            " last_used_at, expires_at, revoked_at, user_agent, ip);",
            timeout=LOAD_TIMEOUT_SECONDS,
        )
    finally:
        users_file.unlink()
        sessions_file.unlink()
    done = time.monotonic()
    return (
        f"{database}: {users:,} users and {users:,} sessions loaded in {done - started:.0f} s"
        f" (files generated in {generated - started:.0f} s, LOAD DATA {done - generated:.0f} s)"
    )


def request(port: int, method: str, path: str, body: dict | None = None, cookie: str = "") -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} | ({"Cookie": cookie} if cookie else {})
    connection.request(method, path, json.dumps(body) if body else None, headers)
    response = connection.getresponse()
    reply = json.loads(response.read() or b"null")
    connection.close()
    if response.status != 200:
        raise BenchmarkError(f"{method} {path} answered {response.status}: {reply}")
    return reply


def record_paths(database: str, users: int) -> list[tuple[str, str]]:
    """Logs a bulk-loaded user in, reads and updates the profile and refreshes, twice, through
    a server whose every statement passes the recorder."""
    recorder = StatementRecorder(MYSQL["host"], MYSQL["port"])
    try:
        start_server(database, RECORDING_PORT, reset=False, mysql_port=recorder.port)
        try:
            port, email = RECORDING_PORT, email_of(users // 2)
            for _ in range(2):
                recorder.path = "login"
                tokens = request(
                    port, "POST", "/users/login", {"email": email, "password": PASSWORD}
                )
                cookie = f"accessToken={tokens['data']['accessToken']}"
                recorder.path = "profile"
                request(port, "GET", "/users/profile", cookie=cookie)
                recorder.path = "update-profile"
                request(
                    port, "PATCH", "/users/update-profile", {"bio": secrets.token_hex(8)}, cookie
                )
                recorder.path = "refresh"
                body = {"refreshToken": tokens["data"]["refreshToken"]}
                request(port, "POST", "/users/refresh-token", body)
                recorder.path = None
        finally:
            stop_server(RECORDING_PORT)
    finally:
        recorder.close()
    if recorder.errors:
        raise BenchmarkError(f"the recorder could not read: {'; '.join(recorder.errors)}")
    return recorder.statements


TABLE_ACCESS = re.compile(
    r"^\s*(SELECT|UPDATE|DELETE|INSERT|REPLACE)\b.*\b(users|sessions)\b", re.I | re.S
)
LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\b\d+(?:\.\d+)?\b")
SELECTED = re.compile(r"^SELECT .+? FROM")
LIST = re.compile(r"\([^()]*\)")


def explain_paths(database: str, users: int, results: Path) -> tuple[str, bool]:
    statements = record_paths(database, users)
    with (results / "statements.sql").open("w") as out:
        out.writelines(f"-- {path}\n{sql};\n" for path, sql in statements)
    lines = [
        f"EXPLAIN of every statement of the measured paths, on {database}:\n",
        "| path | statement | table | type | key | rows | Extra | verdict |",
        "|---|---|---|---|---|---:|---|---|",
    ]
    seen, all_ok = set(), True
    for path in ("login", "profile", "update-profile", "refresh"):
        ours = [sql for p, sql in statements if p == path]
        if not any(TABLE_ACCESS.match(sql) for sql in ours):
            raise BenchmarkError(
                f"no statement recorded on the {path} path: is the relay bypassed?"
            )
        for sql in ours:
            shape = LITERAL.sub("?", " ".join(sql.split()))
            # Column lists say nothing about the plan, and hide what does.
            shape = SELECTED.sub("SELECT ... FROM", shape)
            if shape.startswith("INSERT"):
                shape = LIST.sub("(...)", shape)
            if (path, shape) in seen or not TABLE_ACCESS.match(sql):
                continue
            seen.add((path, shape))
            short = shape if len(shape) <= 120 else shape[:117] + "..."
            if re.match(r"\s*(INSERT|REPLACE)\b(?!.*\bSELECT\b)", sql, re.I | re.S):
                lines.append(f"| {path} | `{short}` | | | | | insert of values, no lookup | ok |")
            else:
                for row in mysql(database, f"EXPLAIN {sql};")[1:]:
                    verdict = judge(row)
                    all_ok &= verdict == "ok"
                    _, _, table, kind, _, key, _, _, rows, extra = row
                    lines.append(
                        f"| {path} | `{short}` | {table} | {kind} | {key} | {rows} | {extra} "
                        f"| {verdict} |"
                    )
    return "\n".join(lines), all_ok


def judge(row: list[str]) -> str:
    table, kind, key, extra = row[2], row[3], row[5], row[9]
    if table == "NULL":  # no table read: "No tables used", "Impossible WHERE ..." after const reads
        return "ok"
    if kind == "ALL":
        return "FAIL: full table scan"
    if kind == "index":
        return "FAIL: full index scan"
    if "filesort" in extra:
        return "FAIL: filesort"
    if key == "NULL":
        return "FAIL: no index"
    return "ok"


def compare(rounds: int, results: Path) -> tuple[str, bool]:
    harness = Path(run_command([str(HERE / "peers.sh"), "dir"], 900).strip())
    jsonl = results / "growth.jsonl"
    env = {
        **os.environ,
        "SCENARIOS": " ".join(SCENARIOS),
        "RESULTS": str(jsonl),
        "LOGDIR": str(results / "logs"),
    }
    per_run = (
        int(env.get("DURATION", "10")) + int(env.get("WARMUP", "2")) + int(env.get("COOLDOWN", "3"))
    )
    targets = [
        f"authsvc-{size}=http://127.0.0.1:{PORTS[db]},authsvc"
        for size, db in (("1k", SMALL), ("1m", BIG))
    ]
    # Bounded: every run, plus a minute for its logins and seeding, plus ten for the machine.
    run_command(
        [str(harness / "compare.sh"), str(rounds), *targets],
        rounds * 3 * 2 * (per_run + 60) + 600,
        env=env,
    )
    table = run_command(
        ["python3", str(harness / "summarize.py"), "--ref", "authsvc-1k", str(jsonl)], 60
    )
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    lines = [table, "| scenario | 1m / 1k req/s (median of rounds) | verdict |", "|---|---:|---|"]
    all_ok = True
    for scenario in SCENARIOS:
        by_round = {
            (r["label"], r["round"]): r["ok_rps"] for r in rows if r["scenario"] == scenario
        }
        ratios = [
            by_round[("authsvc-1m", n)] / by_round[("authsvc-1k", n)]
            for n in range(1, rounds + 1)
            if by_round.get(("authsvc-1k", n)) and ("authsvc-1m", n) in by_round
        ]
        ratio = statistics.median(ratios)
        ok = ratio >= 1 - TOLERANCE
        all_ok &= ok
        lines.append(
            f"| {scenario} | {ratio:.2f} | {'PASS' if ok else 'FAIL'} (>= {1 - TOLERANCE:.2f}) |"
        )
    return "\n".join(lines), all_ok


if __name__ == "__main__":
    sys.exit(main())
