#!/usr/bin/env bash
# authsvc against the two anchors (node-seed, fastapi-users) on the peers' harness: every
# scenario in alternating rounds of one run, then the bare bcrypt timings for the hashing
# ceiling, the harness's table (node-seed the reference) and the issue's targets.
#
#   bench/compare.sh
#
# Environment (defaults): ROUNDS=5 RESULTS_DIR=/tmp/authsvc-bench/<timestamp>, PEERS and
# PEERS_COPY (see peers.sh), and the harness's knobs (DURATION=10 CONNS=32 ...), passed on.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ROUNDS=${ROUNDS:-5}
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
SCENARIOS="profile login register patch mixed" \
  in_group "$HARNESS/compare.sh" "$ROUNDS" "$NODE" "$AUTHSVC" "$FASTAPI" > /dev/null
# fastapi-users has no refresh route.
SCENARIOS=refresh in_group "$HARNESS/compare.sh" "$ROUNDS" "$NODE" "$AUTHSVC" > /dev/null
bcrypt_timings
uptime >> "$RESULTS_DIR/machine-compare.txt"

{
  cat "$RESULTS_DIR/machine-compare.txt"
  echo
  python3 "$HARNESS/summarize.py" --ref node-seed "$RESULTS"
  echo
  python3 "$HERE/targets.py" "$RESULTS" "$RESULTS_DIR/bcrypt.jsonl"
} > "$RESULTS_DIR/compare.md"
cat "$RESULTS_DIR/compare.md"
echo "results in $RESULTS_DIR" >&2
