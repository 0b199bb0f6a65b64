#!/usr/bin/env bash
# py-spy flame graphs of the authsvc worker under the harness's profile, patch and refresh
# loads, as compare.sh serves it (run_authsvc.sh: one worker, MySQL, the default logging).
#
#   bench/flamegraphs.sh [SCENARIO...]      default: profile patch refresh
#
# Writes bench/profiles/<scenario>.svg (OUT, default bench/profiles). Each load is a wrk run of
# LOAD_SECONDS (15) at the harness's CONNS (32); py-spy samples the worker for SAMPLE_SECONDS
# (10) from 4 s in, once the refresh chains are renewed and the load is steady. Needs py-spy in
# the venv (requirements-dev.lock) and what peers.sh needs; authsvc on :8000 is started here,
# on a fresh BENCH_DB, and stopped on every exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
OUT=${OUT:-$HERE/profiles}
LOAD_SECONDS=${LOAD_SECONDS:-15}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}
SCENARIOS=("$@")
(( ${#SCENARIOS[@]} )) || SCENARIOS=(profile patch refresh)
PY_SPY="$ROOT/.venv/bin/py-spy"
[[ -x $PY_SPY ]] || { echo "flamegraphs.sh: no $PY_SPY (make .venv/.installed-dev)" >&2; exit 2; }
HARNESS=$("$HERE/peers.sh" dir)
WORK=$(mktemp -d /tmp/authsvc-flames.XXXXXX)
LOAD=''
cleanup() {
  if [[ -n $LOAD ]]; then kill -- "-$LOAD" 2> /dev/null || true; fi
  PORT=8000 "$HERE/run_authsvc.sh" stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT"
PORT=8000 "$HERE/run_authsvc.sh" start --reset
WORKER=$(PORT=8000 "$HERE/run_authsvc.sh" worker-pid)
"$HARNESS/bench.sh" seed http://127.0.0.1:8000 authsvc "$WORK/seeds.tsv"
for scenario in "${SCENARIOS[@]}"; do
  # Its own process group, so that cleanup ends the load and its wrk together.
  RESULTS="$WORK/runs.jsonl" LOGDIR="$WORK/logs" DURATION=$LOAD_SECONDS WARMUP=0 COOLDOWN=0 \
    setsid "$HARNESS/bench.sh" run http://127.0.0.1:8000 authsvc "$scenario" "$WORK/seeds.tsv" \
    > /dev/null &
  LOAD=$!
  sleep 4
  # --gil: only the samples of the thread holding the GIL, so that idle threads (the hashing
  # pool, the log writer, waiting in C) do not show as busy.
  "$PY_SPY" record --gil --pid "$WORKER" --duration "$SAMPLE_SECONDS" --format flamegraph \
    --output "$OUT/$scenario.svg" > /dev/null
  wait "$LOAD"
  LOAD=''
  jq -r '"\(.scenario): \(.ok_rps) ok/s, \(.server_cpu_ms_per_ok) ms CPU per 2xx, non-2xx \(.non2xx)"' \
    <(tail -1 "$WORK/runs.jsonl") >&2
done
echo "flame graphs in $OUT" >&2
