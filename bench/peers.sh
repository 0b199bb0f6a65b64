#!/usr/bin/env bash
# The peers' load harness and its two anchors (node-seed, fastapi-users), ready to use.
#
#   peers.sh dir     print the harness directory of the working copy PEERS_COPY, after
#                    copying PEERS there and setting the anchors up when their node_modules
#                    or venv are missing
#   peers.sh start   start both anchors on 127.0.0.1:8001 and :8002 with empty users tables
#   peers.sh stop
#
# Environment (defaults): PEERS=/work/shared/peers PEERS_COPY=/tmp/peers
# (PEERS_COPY=$PEERS runs the harness in place, for a PEERS that may be written to: it is
# patched there)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${PEERS:-/work/shared/peers}
[[ -x $SRC/bench/bench.sh ]] || { echo "peers.sh: no harness in $SRC (set PEERS)" >&2; exit 2; }

# The harness writes results, seeds, pid files and installs beside itself, so it runs in a
# copy: PEERS is shared and read-only, and its mode bits do not stop root, so they are not
# asked. An existing copy is kept (its node_modules and venv took minutes to install); the
# anchors' files are refreshed when they differ from PEERS, and the harness's own files are
# copied afresh every time, then patched with peers-harness.patch (the server's CPU time per
# answered request, over all its workers; see bench/README.md).
dir() {
  local dest tool
  # The harness and the scripts around it fail late and quietly without these: say so first.
  for tool in wrk jq curl ss node mariadb patch; do
    command -v "$tool" > /dev/null || { echo "peers.sh: $tool is needed (see bench/README.md)" >&2; exit 2; }
  done
  dest=$(realpath -m "${PEERS_COPY:-/tmp/peers}")
  if [[ $dest != "$(realpath "$SRC")" ]]; then
    if ! diff -rq -x node_modules -x .venv -x .run -x results -x .env -x __pycache__ \
        "$SRC/anchors" "$dest/anchors" > /dev/null 2>&1; then
      mkdir -p "$dest"
      cp -rT "$SRC/anchors" "$dest/anchors"
      chmod -R u+w "$dest/anchors"
      echo "peers.sh: anchors copied from $SRC to $dest" >&2
    fi
    mkdir -p "$dest/bench"
    cp -rT "$SRC/bench" "$dest/bench"
    chmod -R u+w "$dest/bench"
    patch -s -p1 -d "$dest" < "$HERE/peers-harness.patch"
  elif ! patch -s -R --dry-run -p1 -d "$dest" < "$HERE/peers-harness.patch" > /dev/null 2>&1; then
    patch -s -p1 -d "$dest" < "$HERE/peers-harness.patch" # in place, once
  fi
  if [[ ! -d $dest/anchors/node-seed/node_modules || ! -x $dest/anchors/fastapi-users/.venv/bin/python ]]; then
    echo "peers.sh: setting the anchors up (log: $dest/setup.log)" >&2
    (cd "$dest/bench" && ./anchors.sh setup) > "$dest/setup.log" 2>&1
  fi
  # compare.sh keeps its seeds in results/ but creates only the directory of $RESULTS.
  mkdir -p "$dest/bench/results"
  echo "$dest/bench"
}

# anchors.sh counts any answer on the port as "up", so a server someone else left on 8001 or
# 8002 would be measured in place of the anchor: refuse to start over a taken port.
start() {
  local bench port
  bench=$(dir)
  (cd "$bench" && ./anchors.sh stop > /dev/null)
  for port in 8001 8002; do
    if ss -ltnH "sport = :$port" | grep -q .; then
      echo "peers.sh: port $port is taken by another process: $(ss -ltnpH "sport = :$port")" >&2
      return 1
    fi
  done
  (cd "$bench" && ./anchors.sh start --reset) >&2
}

case ${1:-} in
  dir) dir ;;
  start) start ;;
  stop) bench=$(dir); (cd "$bench" && ./anchors.sh stop) >&2 ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
