#!/usr/bin/env bash
# One authsvc process for the benchmarks, on MySQL, configured as the comparison needs it.
#
#   run_authsvc.sh start [--reset]   create BENCH_DB (--reset drops it first), migrate, serve
#   run_authsvc.sh stop | status
#   run_authsvc.sh worker-pid        the granian workers: the processes that serve the requests
#
# Environment (defaults): PORT=8000 BENCH_DB=authsvc_bench MYSQL_HOST=127.0.0.1 MYSQL_PORT=3306
#   MYSQL_USER=root MYSQL_PASSWORD= BENCH_STATE=/tmp/authsvc-bench (pid and log files)
#   SERVE_MYSQL_PORT=$MYSQL_PORT (the port authsvc itself connects to; growth.py puts a
#   statement recorder there) BENCH_LOG_LEVEL=INFO (the default: one access line per request,
#   as users run the service; WARNING measures it without the access log) WORKERS=1
#   BENCH_HASH_QUEUE_LIMIT= (HASH_QUEUE_LIMIT; unset: the service's default, 4 per CPU, under
#   which most of a 32-connection login flood is answered 503, as it would be in production)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PORT=${PORT:-8000}
BENCH_DB=${BENCH_DB:-authsvc_bench}
MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${MYSQL_PORT:-3306}
MYSQL_USER=${MYSQL_USER:-root}
export MYSQL_PWD=${MYSQL_PASSWORD:-}
SERVE_MYSQL_PORT=${SERVE_MYSQL_PORT:-$MYSQL_PORT}
RUN="${BENCH_STATE:-/tmp/authsvc-bench}/run"
PIDFILE="$RUN/authsvc-$PORT.pid"
LOG="$RUN/authsvc-$PORT.log"

[[ $BENCH_DB =~ ^[A-Za-z0-9_]+$ ]] || { echo "run_authsvc.sh: bad BENCH_DB '$BENCH_DB'" >&2; exit 2; }
mkdir -p "$RUN"

running_pid() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }
listening() { ss -ltnH "sport = :$PORT" | grep -q .; }
mysql_cli() { mariadb -h"$MYSQL_HOST" -P"$MYSQL_PORT" -u"$MYSQL_USER" "$@"; }

# The server sees exactly this configuration: nothing from the caller's environment or from a
# .env file (it runs in $RUN, where there is none) can change what is measured.
BENCH_ENV=(
  PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8
  DATABASE_URL="mysql+asyncmy://$MYSQL_USER:$MYSQL_PWD@$MYSQL_HOST:$SERVE_MYSQL_PORT/$BENCH_DB"
  ACCESS_TOKEN_SECRET=bench-access-secret-0123456789abcdef-0123456789
  REFRESH_TOKEN_SECRET=bench-refresh-secret-0123456789abcdef-0123456789
  DATA_ENCRYPTION_KEY=bEnCh-dAtA-kEy-0123456789abcdefghijklmnopqr
  BCRYPT_ROUNDS=10 PASSWORD_HASHER=bcrypt
  ACCESS_TOKEN_EXPIRY=1d
  AUTH_RATE_LIMIT=1000000000/minute LOGIN_MAX_FAILURES=1000000
  TOKENS_IN_BODY=true LOG_LEVEL="${BENCH_LOG_LEVEL:-INFO}" LOG_FORMAT=json
  ${BENCH_HASH_QUEUE_LIMIT:+HASH_QUEUE_LIMIT=$BENCH_HASH_QUEUE_LIMIT}
)
# ACCESS_TOKEN_EXPIRY=1d as node-seed's: compare.sh seeds its tokens once and uses them for
# half an hour. The harness logs the same 32 users in thousands of times a minute from one IP,
# so the per-IP and per-email throttles are raised out of the way.

start() {
  if [[ -n $(running_pid) ]]; then echo "authsvc already running on :$PORT (pid $(running_pid))" >&2; return 1; fi
  if listening; then echo "port $PORT is taken: $(ss -ltnpH "sport = :$PORT")" >&2; return 1; fi
  if [[ ${1:-} == --reset ]]; then mysql_cli -e "DROP DATABASE IF EXISTS \`$BENCH_DB\`"; fi
  mysql_cli -e "CREATE DATABASE IF NOT EXISTS \`$BENCH_DB\` CHARACTER SET utf8mb4"
  cd "$RUN"
  if ! env -i "${BENCH_ENV[@]}" "$ROOT/.venv/bin/authsvc" db upgrade > "$LOG" 2>&1; then
    echo "authsvc db upgrade failed; $LOG says:" >&2
    tail -20 "$LOG" >&2
    return 1
  fi
  # setsid: its own process group, so that stop can end the worker with it, and a Ctrl-C
  # reaches the calling script (whose trap stops it) rather than the server directly. A
  # simple command, so $! is the server itself (env and setsid exec, they do not fork).
  env -i "${BENCH_ENV[@]}" setsid "$ROOT/.venv/bin/authsvc" serve --host 127.0.0.1 --port "$PORT" \
    --workers "${WORKERS:-1}" >> "$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 150); do
    if curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; then
      echo "authsvc up on :$PORT (pid $(cat "$PIDFILE"), database $BENCH_DB)" >&2
      return 0
    fi
    [[ -n $(running_pid) ]] || break
    sleep 0.2
  done
  echo "authsvc did not come up on :$PORT; $LOG says:" >&2
  tail -20 "$LOG" >&2
  stop
  return 1
}

stop() {
  local pid
  pid=$(running_pid) || { rm -f "$PIDFILE"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # Still there after 10 s: end the whole group (the server and its worker), nothing else.
  kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$PIDFILE"
  echo "authsvc stopped on :$PORT (pid $pid)" >&2
}

case ${1:-} in
  start) start "${2:-}" ;;
  stop) stop ;;
  status) if pid=$(running_pid); then echo "authsvc running on :$PORT (pid $pid)"; else echo "authsvc stopped on :$PORT"; fi ;;
  worker-pid) pid=$(running_pid) && pgrep -P "$pid" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
