#!/usr/bin/env bash
# Memory under load: the peak RSS of authsvc and of node-seed during the harness's profile
# scenario, then a soak of profile load on authsvc with its RSS sampled every 10 s.
#
#   bench/memory.sh
#
# The process measured is the one listening on the port, as the harness's CPU accounting takes
# it: node-seed's only process, and authsvc's granian worker. authsvc's main process only
# supervises the worker; its RSS is shown beside.
#
# Environment (defaults): SOAK_SECONDS=300 SOAK_TARGETS=authsvc (add node-seed to soak it too)
#   RESULTS_DIR=/tmp/authsvc-bench/<timestamp>, PEERS and PEERS_COPY (see peers.sh), and the
#   harness's knobs (DURATION=10 CONNS=32 ...), passed on.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_TARGETS=${SOAK_TARGETS:-authsvc}
export RESULTS_DIR=${RESULTS_DIR:-/tmp/authsvc-bench/$(date +%Y%m%dT%H%M%S)}
mkdir -p "$RESULTS_DIR"
HARNESS=$("$HERE/peers.sh" dir)
export RESULTS="$RESULTS_DIR/memory.jsonl" LOGDIR="$RESULTS_DIR/logs"
declare -A PORT_OF=([authsvc]=8000 [node-seed]=8001)
REPORT="$RESULTS_DIR/memory.md"

# Each harness run is a process group of its own, waited for in the background: a SIGTERM then
# reaches this script's trap at once (not after a 5-minute soak), and ends that group.
CHILD='' SAMPLER='' AUTHSVC_UP='' ANCHORS_UP=''
in_group() { setsid "$@" & CHILD=$!; wait "$CHILD"; CHILD=''; }
cleanup() {
  if [[ -n $CHILD ]]; then kill -- "-$CHILD" 2> /dev/null || true; fi
  if [[ -n $SAMPLER ]]; then kill "$SAMPLER" 2> /dev/null || true; fi
  # Only what this script started: a server of another run is not ours to stop.
  if [[ -n $AUTHSVC_UP ]]; then PORT=8000 "$HERE/run_authsvc.sh" stop || true; fi
  if [[ -n $ANCHORS_UP ]]; then "$HERE/peers.sh" stop || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening_pid() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
mb() { awk -v k="$2:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; } # pid field
main_mb() { # authsvc's supervising process; "-" for node-seed, which has none
  local parent
  parent=$(ps -o ppid= -p "$1" | tr -d ' ')
  if [[ $(ps -o args= -p "$parent") == *"authsvc serve"* ]]; then mb "$parent" VmRSS; else echo -; fi
}
# Not in a $(...): the subshell would keep CHILD from the trap.
LAST="$RESULTS_DIR/last-run.json"
profile_load() { # label run-label -> the harness's JSON line in $LAST
  in_group "$HARNESS/bench.sh" run "http://127.0.0.1:${PORT_OF[$1]}" "$1" profile \
    "$RESULTS_DIR/seeds-$1.tsv" "$2" 1 > "$LAST"
}

ANCHORS_UP=1 # peers.sh start stops the copy's anchors first anyway
"$HERE/peers.sh" start
PORT=8000 "$HERE/run_authsvc.sh" start --reset
AUTHSVC_UP=1
"$HERE/machine.sh" > "$REPORT"
for label in authsvc node-seed; do
  "$HARNESS/bench.sh" seed "http://127.0.0.1:${PORT_OF[$label]}" "$label" "$RESULTS_DIR/seeds-$label.tsv"
done

# Peak: writing 5 to clear_refs resets the kernel's high-water mark (VmHWM) to the current
# RSS, so that VmHWM read after the run is the peak of this run alone.
cat >> "$REPORT" << 'EOF'

| process | RSS idle MB | peak RSS under profile load MB | RSS after MB | main process MB | profile req/s |
|---|---:|---:|---:|---:|---:|
EOF
for label in node-seed authsvc; do
  pid=$(listening_pid "${PORT_OF[$label]}")
  echo 5 > "/proc/$pid/clear_refs"
  idle=$(mb "$pid" VmRSS)
  profile_load "$label" "$label"
  echo "| $label (pid $pid) | $idle | $(mb "$pid" VmHWM) | $(mb "$pid" VmRSS) | $(main_mb "$pid")" \
    "| $(jq -r .ok_rps "$LAST") |" >> "$REPORT"
done

# Soak: one wrk run of SOAK_SECONDS; the sampler is bounded by the same length, whatever
# happens to wrk. The last sample is taken 2 s before the load ends.
cat >> "$REPORT" << EOF

Soak: ${SOAK_SECONDS} s of profile load, RSS of the serving process in MB.

| process | req/s | non-2xx | at 0 s | at 60 s | at the end | main process at the end |
|---|---:|---:|---:|---:|---:|---:|
EOF
for label in $SOAK_TARGETS; do
  pid=$(listening_pid "${PORT_OF[$label]}")
  soak="$RESULTS_DIR/soak-$label.tsv"
  echo -e "seconds\trss_mb\tmain_mb" > "$soak"
  sample() { echo -e "$1\t$(mb "$pid" VmRSS)\t$(main_mb "$pid")" >> "$soak"; }
  (
    sample 0
    for ((t = 10; t <= SOAK_SECONDS - 10; t += 10)); do sleep 10 && sample "$t"; done
    sleep $((SOAK_SECONDS - 2 - t + 10)) && sample $((SOAK_SECONDS - 2))
  ) &
  SAMPLER=$!
  WARMUP=0 COOLDOWN=0 DURATION=$SOAK_SECONDS profile_load "$label" "$label-soak"
  wait "$SAMPLER" || true
  SAMPLER=''
  at() { awk -F'\t' -v s="$1" 'NR > 1 && $1 >= s { v = $2; exit } END { print (v == "" ? "-" : v) }' "$soak"; }
  echo "| $label (pid $pid) | $(jq -r .ok_rps "$LAST") | $(jq -r .non2xx "$LAST") |" \
    "$(at 0) | $(at 60) | $(tail -1 "$soak" | cut -f2) | $(tail -1 "$soak" | cut -f3) |" >> "$REPORT"
done
echo -e "\nEvery 10 s: $RESULTS_DIR/soak-*.tsv" >> "$REPORT"

cat "$REPORT"
echo "results in $RESULTS_DIR" >&2
