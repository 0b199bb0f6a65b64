#!/usr/bin/env bash
# authsvc against the two anchors (node-seed, fastapi-users) on the peers' harness: every
# scenario in alternating rounds of one run, then the bare bcrypt timings for the hashing
# ceiling, the harness's table (node-seed the reference) and the issue's targets.
#
#   bench/compare.sh
#
# Environment (defaults): ROUNDS=5 SCENARIOS="profile login register patch mixed refresh"
# RESULTS_DIR=/tmp/authsvc-bench/<timestamp>, PEERS and
# PEERS_COPY (see peers.sh), WORKERS and BENCH_LOG_LEVEL (see run_authsvc.sh), and the
# harness's knobs (DURATION=10 CONNS=32 ...), passed on.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ROUNDS=${ROUNDS:-5}
SCENARIOS=${SCENARIOS:-profile login register patch mixed refresh}
export RESULTS_DIR=${RESULTS_DIR:-/tmp/authsvc-bench/$(date +%Y%m%dT%H%M%S)}
mkdir -p "$RESULTS_DIR"
HARNESS=$("$HERE/peers.sh" dir)

# The harness runs in a process group of its own, waited for in the background: a SIGTERM then
# reaches this script's trap at once (not after a half-hour harness run), and ends that group.
CHILD='' AUTHSVC_UP='' ANCHORS_UP=''
in_group() { setsid "$@" & CHILD=$!; wait "$CHILD"; CHILD=''; }
cleanup() {
  if [[ -n $CHILD ]]; then kill -- "-$CHILD" 2> /dev/null || true; fi
  # Only what this script started: a server of another run is not ours to stop.
  if [[ -n $AUTHSVC_UP ]]; then PORT=8000 "$HERE/run_authsvc.sh" stop || true; fi
  if [[ -n $ANCHORS_UP ]]; then "$HERE/peers.sh" stop || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NODE=node-seed=http://127.0.0.1:8001,node-seed
AUTHSVC=authsvc=http://127.0.0.1:8000,authsvc
FASTAPI=fastapi-users=http://127.0.0.1:8002,fastapi-users

# The hashing ceiling: bcrypt cost 10 timed bare, by the bcrypt authsvc runs on and by Node's,
# before and after the load, so that the ceiling is of this run's machine.
bcrypt_timings() {
  (cd "$HARNESS" && node bcrypt-node.js 30) >> "$RESULTS_DIR/bcrypt.jsonl"
  "$ROOT/.venv/bin/python" "$HARNESS/bcrypt-python.py" 30 >> "$RESULTS_DIR/bcrypt.jsonl"
}

ANCHORS_UP=1 # peers.sh start stops the copy's anchors first anyway
"$HERE/peers.sh" start
PORT=8000 "$HERE/run_authsvc.sh" start --reset
AUTHSVC_UP=1
"$HERE/machine.sh" > "$RESULTS_DIR/machine-compare.txt"
bcrypt_timings
export RESULTS="$RESULTS_DIR/compare.jsonl" LOGDIR="$RESULTS_DIR/logs"
THREE_WAY=$(tr ' ' '\n' <<< "$SCENARIOS" | grep -vx refresh | xargs || true)
if [[ -n $THREE_WAY ]]; then
  SCENARIOS=$THREE_WAY in_group "$HARNESS/compare.sh" "$ROUNDS" "$NODE" "$AUTHSVC" "$FASTAPI" > /dev/null
fi
# Refresh, against node-seed only (fastapi-users has no refresh route). Its target is a ratio to
# authsvc's own profile, so each round also reads authsvc's profile right after its refresh
# run (into refresh-profile.jsonl), and the per-round ratios pair runs made back to back.
# The seeds are those of the run above (their access tokens last a day), or new ones.
SEEDS="$HARNESS/results/seeds"
run_one() { # url dialect scenario label round
  in_group "$HARNESS/bench.sh" run "$1" "$2" "$3" "$SEEDS-$4.tsv" "$4" "$5" > "$RESULTS_DIR/last-run.json"
  jq -r '"\(.scenario) r\(.round) \(.label): \(.ok_rps) ok/s, p99 \(.p99_ms) ms, \(.server_cpu_ms_per_ok) ms CPU per 2xx"' \
    "$RESULTS_DIR/last-run.json" >&2
}
if [[ " $SCENARIOS " == *" refresh "* ]]; then
  if [[ -z $THREE_WAY ]]; then
    in_group "$HARNESS/bench.sh" seed http://127.0.0.1:8001 node-seed "$SEEDS-node-seed.tsv"
    in_group "$HARNESS/bench.sh" seed http://127.0.0.1:8000 authsvc "$SEEDS-authsvc.tsv"
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    run_one http://127.0.0.1:8001 node-seed refresh node-seed "$round"
    run_one http://127.0.0.1:8000 authsvc refresh authsvc "$round"
    RESULTS="$RESULTS_DIR/refresh-profile.jsonl" run_one http://127.0.0.1:8000 authsvc profile authsvc "$round"
  done
fi
bcrypt_timings
uptime >> "$RESULTS_DIR/machine-compare.txt"

{
  cat "$RESULTS_DIR/machine-compare.txt"
  echo
  python3 "$HARNESS/summarize.py" --ref node-seed "$RESULTS"
  echo
  python3 "$HERE/targets.py" "$RESULTS" "$RESULTS_DIR/refresh-profile.jsonl" "$RESULTS_DIR/bcrypt.jsonl"
} > "$RESULTS_DIR/compare.md"
cat "$RESULTS_DIR/compare.md"
echo "results in $RESULTS_DIR" >&2
