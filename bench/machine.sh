#!/usr/bin/env bash
# What the figures were measured on: time, machine, load, versions and the code's revision.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/^Mem:/{print $2}') GiB"
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "versions: $(mariadb --version | grep -o 'Distrib [^,]*\|[0-9.]*-MariaDB' | head -1)," \
  "$(node --version 2>/dev/null | sed 's/^/node /'), $("$ROOT/.venv/bin/python" --version)," \
  "granian $("$ROOT/.venv/bin/python" -c 'import granian; print(granian.__version__)')," \
  "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
# --no-optional-locks: reading the state must not rewrite the index.
changed=$(git -C "$ROOT" --no-optional-locks status --porcelain -- src | wc -l)
echo "authsvc: $(git -C "$ROOT" rev-parse --short HEAD), $changed uncommitted change(s) under src/"
