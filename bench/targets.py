"""The issue's throughput and latency targets, checked on one compare.sh run, on two yardsticks.

Usage: python3 bench/targets.py COMPARE.jsonl REFRESH-PROFILE.jsonl BCRYPT.jsonl [--cores N]

req/s: for each round, authsvc's figure over the reference's measured in the same alternating
round (node-seed; for refresh, authsvc's own profile read right after its refresh run, in
REFRESH-PROFILE.jsonl; for login and register, the hashing ceiling), then the median of those
per-round ratios and their spread (min-max).

CPU per request: the server's utime+stime over a run (every worker and the main process;
the patched harness's `server_cpu_s`) divided by its 2xx answers. The CPU ratio is the
reference's CPU per 2xx over authsvc's (how many of authsvc's requests one of the reference's
costs), median of the per-round ratios; for login and register, the bare bcrypt verification
over authsvc's CPU per 2xx (the share of a login's CPU that is its hash).

A target is met only when the req/s ratio meets its threshold AND the CPU ratio agrees (meets
the same threshold). The hashing ceiling is cores / one bcrypt cost-10 verification, the
median of the bare timings of the bcrypt authsvc runs on (bcrypt-python.py, taken before and
after the load). Prints markdown tables; exit status 0 whatever the verdicts, 2 on missing data.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
from collections.abc import Callable

SUBJECT = "authsvc"
REFERENCE = "node-seed"
MAX_FOREIGN_CPU = 30
"""% of one core used by other jobs during a run, above which the run is called disturbed."""
SHED = "503"
"""The only non-2xx status allowed where logins are hashed: the bounded hash queue's refusal."""
HASHED = ("login", "register", "mixed")

Row = dict
Rounds = dict[int, Row]


def load(path: str) -> list[Row]:
    """The runs of a JSON lines file; none when the run wrote no such file."""
    if not os.path.exists(path):
        return []
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]


def rounds(rows: list[Row], scenario: str, label: str) -> Rounds:
    return {r["round"]: r for r in rows if (r["scenario"], r["label"]) == (scenario, label)}


def answered(row: Row) -> float:
    """2xx answers in the CPU window: in mixed, the profile reads and the logins beside them."""
    ok = row["requests"] - row["non2xx"]
    if row["scenario"] == "mixed":
        ok += (row.get("login_ok_rps") or 0) * row["duration_s"]
    return ok


def cpu_ms(row: Row) -> float | None:
    """Server CPU milliseconds per 2xx answer; None for a run without any."""
    ok = answered(row)
    return row["server_cpu_s"] * 1000 / ok if ok else None


class Figure:
    """Per-round ratios: their median and spread."""

    def __init__(self, ratios: list[float]) -> None:
        if not ratios:
            raise statistics.StatisticsError("no paired rounds")
        self.ratios = ratios
        self.median = statistics.median(ratios)

    def __str__(self) -> str:
        return f"{self.median:.2f} ({min(self.ratios):.2f}-{max(self.ratios):.2f})"


def paired(ours: Rounds, theirs: Rounds, ratio: Callable[[Row, Row], float | None]) -> Figure:
    """The rounds measured on both sides; a round where either answered nothing is left out."""
    ratios = (ratio(ours[n], theirs[n]) for n in sorted(ours) if n in theirs)
    return Figure([r for r in ratios if r is not None])


def rps_ratio(ours: Row, theirs: Row) -> float | None:
    return ours["ok_rps"] / theirs["ok_rps"] if theirs["ok_rps"] else None


def cpu_ratio(ours: Row, theirs: Row) -> float | None:
    mine, reference = cpu_ms(ours), cpu_ms(theirs)
    return reference / mine if mine and reference else None


def median_cpu(rows: list[Row]) -> str:
    figures = [f for f in map(cpu_ms, rows) if f is not None]
    return f"{statistics.median(figures):.3f}" if figures else "-"


def statuses(rows: list[Row]) -> str:
    """The distinct non-2xx statuses, of the runs and of mixed's login load."""
    seen = set()
    for row in rows:
        seen.update((row.get("bad_statuses") or "").split())
        seen.update((row.get("login_bad_statuses") or "").split())
    return " ".join(sorted(seen))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("compare")
    parser.add_argument("refresh_profile")
    parser.add_argument("bcrypt")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    arguments = parser.parse_args()
    rows = load(arguments.compare)
    profile_beside_refresh = load(arguments.refresh_profile)
    timings = load(arguments.bcrypt)
    verify_ms = statistics.median(
        r["compare_ms_median"] for r in timings if r["impl"].startswith("python")
    )
    ceiling = arguments.cores / (verify_ms / 1000)

    def ours(scenario: str) -> Rounds:
        return rounds(rows, scenario, SUBJECT)

    def reference(scenario: str) -> Rounds:
        return rounds(rows, scenario, REFERENCE)

    def median(scenario: str, key: str, label: str = SUBJECT) -> float:
        return statistics.median(r[key] for r in rounds(rows, scenario, label).values())

    def p99s_of(scenario: str) -> tuple[float, float]:
        """authsvc's p99 and node-seed's, the threshold."""
        return median(scenario, "p99_ms"), median(scenario, "p99_ms", REFERENCE)

    def of_ceiling(scenario: str) -> tuple[Figure, Figure]:
        mine = ours(scenario).values()
        return (
            Figure([r["ok_rps"] / ceiling for r in mine]),
            Figure([verify_ms / cpu for cpu in map(cpu_ms, mine) if cpu]),
        )

    refresh_rounds = ours("refresh")
    profile_rounds = rounds(profile_beside_refresh, "profile", SUBJECT)

    def against_node(scenario: str) -> tuple[Figure, Figure]:
        return (
            paired(ours(scenario), reference(scenario), rps_ratio),
            paired(ours(scenario), reference(scenario), cpu_ratio),
        )

    # (target, its two figures as they are computed, threshold)
    checks: list[tuple[str, Callable[[], tuple[Figure, Figure]], float]] = [
        ("profile req/s, x node-seed", lambda: against_node("profile"), 3.0),
        ("patch req/s, x node-seed", lambda: against_node("patch"), 2.5),
        (
            "refresh req/s, x own profile (read right after)",
            lambda: (
                paired(refresh_rounds, profile_rounds, rps_ratio),
                paired(refresh_rounds, profile_rounds, cpu_ratio),
            ),
            0.6,
        ),
        ("login req/s, x hashing ceiling", lambda: of_ceiling("login"), 0.9),
        ("register req/s, x hashing ceiling", lambda: of_ceiling("register"), 0.9),
        ("mixed: profile req/s, x node-seed's", lambda: against_node("mixed"), 1.0),
    ]
    p99s = [("profile p99 ms", "profile"), ("mixed: profile p99 ms", "mixed")]
    if not rows:
        print("targets.py: no runs", file=sys.stderr)
        return 2

    mine = [r for r in rows + profile_beside_refresh if r["label"] == SUBJECT]
    unhashed = [r for r in mine if r["scenario"] not in HASHED]
    hashed = [r for r in mine if r["scenario"] in HASHED]
    failed = sum(r["non2xx"] + r["socket_errors"] + r["timeouts"] for r in unhashed)
    shed = sum(r["non2xx"] + (r.get("login_non2xx") or 0) for r in hashed)
    other_failures = sum(r["socket_errors"] + r["timeouts"] for r in hashed)
    hashed_statuses = statuses(hashed)
    foreign = [r.get("foreign_cpu") or 0 for r in rows + profile_beside_refresh]
    disturbed = sum(f > MAX_FOREIGN_CPU for f in foreign)
    print(
        f"Hashing ceiling: {arguments.cores} cores / {verify_ms:.1f} ms per bcrypt cost-10 "
        f"verification = {ceiling:.1f}/s. {SUBJECT}: {failed} non-2xx answers and socket errors "
        f"where nothing is hashed (profile, patch, refresh); where logins and registrations are "
        f"hashed, {shed} non-2xx answers (statuses: {hashed_statuses or 'none'}) and "
        f"{other_failures} socket errors. Foreign CPU: median {statistics.median(foreign):.0f} % "
        f"of one core, {disturbed} of {len(foreign)} runs above {MAX_FOREIGN_CPU} %.\n"
    )
    print_scenarios(rows, profile_beside_refresh)
    print()
    print("| target | req/s: median (min-max) | CPU per request | threshold | verdict |")
    print("|---|---:|---:|---:|---|")
    # A scenario left out of the run (SCENARIOS) is said so, not failed.
    measured = (KeyError, statistics.StatisticsError, ZeroDivisionError)
    for target, figures, threshold in checks:
        try:
            rate, cpu = figures()
        except measured:
            print(f"| {target} | not measured | | >= {threshold:.2f} | - |")
            continue
        verdict = "met" if rate.median >= threshold and cpu.median >= threshold else "missed"
        if rate.median >= threshold and cpu.median < threshold:
            verdict = "missed (req/s only)"
        elif rate.median < threshold and cpu.median >= threshold:
            verdict = "missed (CPU only)"
        print(f"| {target} | {rate} | {cpu} | >= {threshold:.2f} | {verdict} |")
    for target, scenario in p99s:
        try:
            figure, threshold = p99s_of(scenario)
        except measured:
            print(f"| {target} | not measured | - | <= node-seed's | - |")
            continue
        verdict = "met" if figure <= threshold else "missed"
        print(f"| {target} | {figure:.1f} | - | <= {threshold:.1f} (node-seed) | {verdict} |")
    shed_only = set(hashed_statuses.split()) <= {SHED} and other_failures == 0
    print(
        f"| login, register, mixed: no failure but the hash queue's 503 | "
        f"{shed} non-2xx ({hashed_statuses or 'none'}) | - | {SHED} only | "
        f"{'met' if shed_only else 'missed'} |"
    )
    return 0


def print_scenarios(rows: list[Row], profile_beside_refresh: list[Row]) -> None:
    """Every label of every scenario: medians, and both ratios to node-seed."""
    order = ["profile", "patch", "refresh", "login", "register", "mixed"]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    print(
        "| scenario | server | rounds | ok req/s | p99 ms | CPU ms per 2xx | "
        "req/s x node-seed | CPU x node-seed | non-2xx |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    tables = [(s, rows) for s in order] + [("profile", profile_beside_refresh)]
    for number, (scenario, source) in enumerate(tables):
        theirs = rounds(rows, scenario, REFERENCE)
        name = scenario if number < len(order) else "profile (beside refresh)"
        for label in labels:
            mine = rounds(source, scenario, label)
            if not mine:
                continue
            values = list(mine.values())
            rate_ratio = cpu_ratio_text = "-"
            if label != REFERENCE and theirs and source is not profile_beside_refresh:
                with contextlib.suppress(statistics.StatisticsError):
                    rate_ratio = str(paired(mine, theirs, rps_ratio))
                with contextlib.suppress(statistics.StatisticsError):
                    cpu_ratio_text = str(paired(mine, theirs, cpu_ratio))
            bad = sum(r["non2xx"] + (r.get("login_non2xx") or 0) for r in values)
            print(
                f"| {name} | {label} | {len(values)} | "
                f"{statistics.median(r['ok_rps'] for r in values):.1f} | "
                f"{statistics.median(r['p99_ms'] for r in values):.1f} | {median_cpu(values)} | "
                f"{rate_ratio} | {cpu_ratio_text} | {bad} {statuses(values)} |"
            )


if __name__ == "__main__":
    sys.exit(main())
