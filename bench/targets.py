"""The issue's throughput and latency targets, checked on one compare.sh run.

Usage: python3 bench/targets.py COMPARE.jsonl BCRYPT.jsonl [--cores N]

Figures are medians over the rounds; a ratio to node-seed is the median of the per-round
ratios (each round measures both back to back), as the harness's summarize.py computes it.
The hashing ceiling is cores / one bcrypt cost-10 verification, with the median of the bare
timings of the bcrypt authsvc runs on (bcrypt-python.py, taken before and after the load).
Prints a markdown table; the exit status is 0 whatever the verdicts, 2 on missing data.
"""

import argparse
import json
import os
import statistics
import sys

SUBJECT = "authsvc"
REFERENCE = "node-seed"
MAX_FOREIGN_CPU = 30
"""% of one core used by other jobs during a run, above which the run is called disturbed."""


def load(path: str) -> list[dict]:
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]


class Run:
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def rounds(self, scenario: str, label: str) -> dict[int, dict]:
        return {
            r["round"]: r for r in self.rows if (r["scenario"], r["label"]) == (scenario, label)
        }

    def median(self, scenario: str, key: str, label: str = SUBJECT) -> float:
        return statistics.median(r[key] for r in self.rounds(scenario, label).values())

    def ratio(self, scenario: str) -> float:
        """authsvc / node-seed req/s, round by round."""
        ours, theirs = self.rounds(scenario, SUBJECT), self.rounds(scenario, REFERENCE)
        return statistics.median(
            ours[n]["ok_rps"] / theirs[n]["ok_rps"] for n in ours if n in theirs
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("compare")
    parser.add_argument("bcrypt")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    arguments = parser.parse_args()
    run = Run(load(arguments.compare))
    timings = load(arguments.bcrypt)
    verify_ms = statistics.median(
        r["compare_ms_median"] for r in timings if r["impl"].startswith("python")
    )
    ceiling = arguments.cores / (verify_ms / 1000)

    # (target, figure, threshold, at most rather than at least)
    try:
        checks = [
            ("profile req/s, x node-seed", run.ratio("profile"), 2.0, False),
            ("profile p99 ms", *p99s(run, "profile"), True),
            ("patch req/s, x node-seed", run.ratio("patch"), 2.0, False),
            (
                "refresh req/s, x own profile",
                run.median("refresh", "ok_rps") / run.median("profile", "ok_rps"),
                0.5,
                False,
            ),
            ("login req/s, x hashing ceiling", run.median("login", "ok_rps") / ceiling, 0.9, False),
            (
                "register req/s, x hashing ceiling",
                run.median("register", "ok_rps") / ceiling,
                0.9,
                False,
            ),
            (
                "mixed: profile req/s",
                run.median("mixed", "ok_rps"),
                run.median("mixed", "ok_rps", REFERENCE),
                False,
            ),
            ("mixed: profile p99 ms", *p99s(run, "mixed"), True),
        ]
    except (KeyError, statistics.StatisticsError, ZeroDivisionError) as error:
        print(f"targets.py: the run lacks a scenario or a target: {error!r}", file=sys.stderr)
        return 2

    ours = [r for r in run.rows if r["label"] == SUBJECT]
    failed = sum(r["non2xx"] + r["socket_errors"] + r["timeouts"] for r in ours)
    foreign = [r.get("foreign_cpu") or 0 for r in run.rows]
    disturbed = sum(f > MAX_FOREIGN_CPU for f in foreign)
    print(
        f"Hashing ceiling: {arguments.cores} cores / {verify_ms:.1f} ms per bcrypt cost-10 "
        f"verification = {ceiling:.1f}/s. {SUBJECT}: {failed} non-2xx responses and socket "
        f"errors in all. Foreign CPU: median {statistics.median(foreign):.0f} % of one core, "
        f"{disturbed} of {len(foreign)} runs above {MAX_FOREIGN_CPU} %.\n"
    )
    print("| target | figure | threshold | verdict |")
    print("|---|---:|---:|---|")
    for target, figure, threshold, at_most in checks:
        passed = figure <= threshold if at_most else figure >= threshold
        sign = "<=" if at_most else ">="
        verdict = "PASS" if passed else "FAIL"
        print(f"| {target} | {figure:.2f} | {sign} {threshold:.2f} | {verdict} |")
    return 0


def p99s(run: Run, scenario: str) -> tuple[float, float]:
    """authsvc's p99 and node-seed's, the threshold."""
    return run.median(scenario, "p99_ms"), run.median(scenario, "p99_ms", REFERENCE)


if __name__ == "__main__":
    sys.exit(main())
