#!/usr/bin/env bash
# authsvc clustered on one machine, for trying it and for its cluster tests: a three-node
# MariaDB Galera cluster and a Redis master, replica and three Sentinels, all on 127.0.0.1.
#
#   deploy/cluster/cluster.sh up       start what is not running; migrate the `authsvc` database
#   deploy/cluster/cluster.sh down     stop what `up` started (and nothing else)
#   deploy/cluster/cluster.sh status   what answers, and each node's Galera state
#   deploy/cluster/cluster.sh stop-node N   stop Galera node N (1-3) alone; `up` brings it back
#   deploy/cluster/cluster.sh clean    down, then delete the data directory
#
# Galera nodes: SQL 127.0.0.1:3311-3313 (root, no password), gcomm 4571-4573, IST 4581-4583,
# rsync SST 4591-4593. Redis: master 6380, replica 6381, Sentinels 26379-26381 watching the
# master named `authsvc`. Each process has its own directory under CLUSTER_DIR (default
# /tmp/authsvc-cluster) and its own configuration file; the nodes read theirs through
# --defaults-file, so /etc/mysql and a MariaDB already serving on 3306 are never touched.
#
# `up` is safe to run again: what answers is left alone, what does not is started (a stopped
# node rejoins its running peers; after a full stop, the node Galera marked safe to bootstrap
# starts the cluster again). AUTHSVC names the `authsvc` command used to migrate (default: the
# checkout's .venv/bin/authsvc, else the one on PATH).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/authsvc-cluster}
LOOPBACK=127.0.0.1
NODES=(1 2 3)
GALERA_PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
DATABASE=authsvc
REDIS_MASTER_PORT=6380
REDIS_REPLICA_PORT=6381
SENTINEL_PORTS=(26379 26380 26381)
SENTINEL_MASTER=authsvc
START_TIMEOUT_SECONDS=${START_TIMEOUT_SECONDS:-90}
# As root the nodes run as `mysql`, as Debian's own server does: the rsync daemon a joiner
# starts for its state transfer would otherwise drop to `nobody` and fail to write the datadir.
if ((EUID == 0)) && id mysql >/dev/null 2>&1; then NODE_USER=mysql; else NODE_USER=$(id -un); fi

sql_port() { echo $((3310 + $1)); }
gcomm_port() { echo $((4570 + $1)); }
node_dir() { echo "$CLUSTER_DIR/galera/node$1"; }

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# Runs "$@" once a second until it succeeds; fails after START_TIMEOUT_SECONDS.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up in ${START_TIMEOUT_SECONDS}s"
    sleep 1
  done
}

# True when the pid file names a live process.
running() {
  local pid_file=$1
  [[ -s $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

# Sends SIGTERM to the process of a pid file and waits for it to end (SIGKILL after a bound).
stop_process() {
  local what=$1 pid_file=$2
  running "$pid_file" || { rm -f "$pid_file"; return 0; }
  local pid
  pid=$(cat "$pid_file")
  log "stopping $what (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; return 0; }
    sleep 1
  done
  log "$what did not stop in 60s: killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pid_file"
}

require() {
  local missing=()
  [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
  [[ -f $GALERA_PROVIDER ]] || missing+=(galera-4)
  command -v rsync >/dev/null || missing+=(rsync)
  command -v redis-server >/dev/null || missing+=(redis-server)
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (apt-get install ${missing[*]})"
}

sql() {
  local node=$1; shift
  mariadb --no-defaults --protocol=tcp -h"$LOOPBACK" -P"$(sql_port "$node")" -uroot \
    --connect-timeout=2 --batch --skip-column-names "$@"
}

wsrep_state() { sql "$1" -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2; }
synced() { [[ $(wsrep_state "$1" 2>/dev/null) == Synced ]]; }

# --- Galera ---------------------------------------------------------------------------------

write_node_config() {
  local node=$1 dir
  dir=$(node_dir "$node")
  local cluster_address
  cluster_address=$(printf "$LOOPBACK:%s," "$(gcomm_port 1)" "$(gcomm_port 2)" "$(gcomm_port 3)")
  cat >"$dir/my.cnf" <<EOF
# Galera node $node of authsvc's loopback cluster (written by deploy/cluster/cluster.sh).
[mariadbd]
user                           = $NODE_USER
datadir                        = $dir/data
socket                         = $dir/mariadbd.sock
pid-file                       = $dir/mariadbd.pid
log-error                      = $dir/error.log
bind-address                   = $LOOPBACK
port                           = $(sql_port "$node")
skip-name-resolve
character-set-server           = utf8mb4
collation-server               = utf8mb4_general_ci
# Small enough for three nodes beside everything else on a laptop or a CI runner (~135 MB each).
innodb_buffer_pool_size        = 64M
performance_schema             = OFF
# What Galera requires.
binlog_format                  = ROW
default_storage_engine         = InnoDB
innodb_autoinc_lock_mode       = 2
wsrep_on                       = ON
wsrep_provider                 = $GALERA_PROVIDER
wsrep_cluster_name             = authsvc
wsrep_cluster_address          = gcomm://${cluster_address%,}
wsrep_node_name                = node$node
wsrep_node_address             = $LOOPBACK:$(gcomm_port "$node")
wsrep_provider_options         = "gmcast.listen_addr=tcp://$LOOPBACK:$(gcomm_port "$node");ist.recv_addr=$LOOPBACK:$((4580 + node));gcache.size=64M"
wsrep_sst_method               = rsync
wsrep_sst_receive_address      = $LOOPBACK:$((4590 + node))
# Reads wait until the node has applied every write the cluster committed before them, so a
# session revoked through one node is revoked on every node at once (read-your-writes).
wsrep_sync_wait                = 1

[client]
socket                         = $dir/mariadbd.sock
EOF
}

# `mariadbd` in the background with the node's own configuration; extra arguments follow it.
start_node() {
  local node=$1; shift
  local dir
  dir=$(node_dir "$node")
  log "starting Galera node $node on $LOOPBACK:$(sql_port "$node") $*"
  /usr/sbin/mariadbd --defaults-file="$dir/my.cnf" "$@" </dev/null >>"$dir/error.log" 2>&1 &
  disown
}

# Galera's word on whether this stopped node holds the newest state: the last to leave.
safe_to_bootstrap() {
  grep -qx 'safe_to_bootstrap: 1' "$(node_dir "$1")/data/grastate.dat" 2>/dev/null
}

galera_up() {
  local node live=() stopped=()
  for node in "${NODES[@]}"; do
    mkdir -p "$(node_dir "$node")/data"
    write_node_config "$node"
    chown -R "$NODE_USER" "$(node_dir "$node")"
    if running "$(node_dir "$node")/mariadbd.pid"; then live+=("$node"); else stopped+=("$node"); fi
  done
  if ((${#stopped[@]} == 0)); then
    log "Galera nodes already running"
    for node in "${NODES[@]}"; do wait_for "Galera node $node" synced "$node"; done
    return 0
  fi

  if ((${#live[@]} == 0)); then
    # No node runs: the first to start founds the cluster, then the others join it.
    local founder=""
    for node in "${NODES[@]}"; do
      if safe_to_bootstrap "$node"; then founder=$node; break; fi
    done
    if [[ -z $founder ]]; then
      founder=1
      if [[ -f $(node_dir 1)/data/grastate.dat ]]; then
        # Every node stopped uncleanly: on a loopback cluster node 1 is as good as any.
        log "no node is marked safe to bootstrap; forcing node 1"
        sed -i 's/^safe_to_bootstrap: 0$/safe_to_bootstrap: 1/' "$(node_dir 1)/data/grastate.dat"
      else
        log "initialising node 1"
        mariadb-install-db --no-defaults --user="$NODE_USER" --datadir="$(node_dir 1)/data" \
          --auth-root-authentication-method=normal --skip-test-db >/dev/null
      fi
    fi
    start_node "$founder" --wsrep-new-cluster
    wait_for "Galera node $founder" synced "$founder"
    live=("$founder")
  fi

  # Joiners one at a time: each receives a state transfer (IST, or a full rsync SST) from a
  # donor that is briefly busy with it.
  for node in "${NODES[@]}"; do
    running "$(node_dir "$node")/mariadbd.pid" && continue
    start_node "$node"
    wait_for "Galera node $node" synced "$node"
  done
}

galera_down() {
  local node
  # The last node to leave is marked safe to bootstrap: stop node 1 last so that it founds
  # the cluster again on the next `up`.
  for node in 3 2 1; do
    stop_process "Galera node $node" "$(node_dir "$node")/mariadbd.pid"
  done
}

migrate() {
  local authsvc=${AUTHSVC:-}
  if [[ -z $authsvc ]]; then
    if [[ -x $ROOT/.venv/bin/authsvc ]]; then authsvc=$ROOT/.venv/bin/authsvc
    else authsvc=$(command -v authsvc) || die "no authsvc command: run make .venv/.installed"
    fi
  fi
  sql 1 -e "CREATE DATABASE IF NOT EXISTS $DATABASE CHARACTER SET utf8mb4"
  log "migrating the $DATABASE database to head"
  # The settings refuse MySQL without token secrets and a data key; a migration uses none of
  # them, so any will do.
  (cd "$CLUSTER_DIR" &&
    DATABASE_URL="mysql+asyncmy://root@$LOOPBACK:$(sql_port 1)/$DATABASE" \
    ACCESS_TOKEN_SECRET=${ACCESS_TOKEN_SECRET:-$(head -c 48 /dev/urandom | base64 -w0)} \
    REFRESH_TOKEN_SECRET=${REFRESH_TOKEN_SECRET:-$(head -c 48 /dev/urandom | base64 -w0)} \
    DATA_ENCRYPTION_KEY=${DATA_ENCRYPTION_KEY:-$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')} \
    "$authsvc" db upgrade)
}

# --- Redis and Sentinel ---------------------------------------------------------------------

start_redis() {
  local name=$1 port=$2; shift 2
  local dir=$CLUSTER_DIR/redis/$name
  mkdir -p "$dir"
  running "$dir/redis.pid" && return 0
  log "starting Redis $name on $LOOPBACK:$port"
  redis-server --bind "$LOOPBACK" --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@"
  wait_for "Redis $name" redis-cli -h "$LOOPBACK" -p "$port" ping
}

start_sentinel() {
  local port=$1
  local dir=$CLUSTER_DIR/redis/sentinel-$port
  mkdir -p "$dir"
  running "$dir/sentinel.pid" && return 0
  # A Sentinel rewrites its configuration as it learns: a fresh file for each start.
  cat >"$dir/sentinel.conf" <<EOF
bind $LOOPBACK
port $port
dir $dir
daemonize yes
pidfile $dir/sentinel.pid
logfile $dir/sentinel.log
sentinel monitor $SENTINEL_MASTER $LOOPBACK $REDIS_MASTER_PORT 2
sentinel down-after-milliseconds $SENTINEL_MASTER 2000
sentinel failover-timeout $SENTINEL_MASTER 10000
sentinel parallel-syncs $SENTINEL_MASTER 1
EOF
  log "starting Sentinel on $LOOPBACK:$port"
  redis-server "$dir/sentinel.conf" --sentinel
  wait_for "Sentinel $port" redis-cli -h "$LOOPBACK" -p "$port" ping
}

redis_up() {
  start_redis master "$REDIS_MASTER_PORT"
  start_redis replica "$REDIS_REPLICA_PORT" --replicaof "$LOOPBACK" "$REDIS_MASTER_PORT"
  local port
  for port in "${SENTINEL_PORTS[@]}"; do start_sentinel "$port"; done
}

redis_down() {
  local port
  for port in "${SENTINEL_PORTS[@]}"; do
    stop_process "Sentinel $port" "$CLUSTER_DIR/redis/sentinel-$port/sentinel.pid"
  done
  stop_process "Redis replica" "$CLUSTER_DIR/redis/replica/redis.pid"
  stop_process "Redis master" "$CLUSTER_DIR/redis/master/redis.pid"
}

# --- commands -------------------------------------------------------------------------------

status() {
  local node port
  for node in "${NODES[@]}"; do
    printf 'galera node%s %s:%s  %s\n' "$node" "$LOOPBACK" "$(sql_port "$node")" \
      "$(wsrep_state "$node" 2>/dev/null || echo down)"
  done
  for port in "$REDIS_MASTER_PORT" "$REDIS_REPLICA_PORT"; do
    printf 'redis %s:%s  %s\n' "$LOOPBACK" "$port" \
      "$(redis-cli -h "$LOOPBACK" -p "$port" role 2>/dev/null | head -1 || true)"
  done
  for port in "${SENTINEL_PORTS[@]}"; do
    printf 'sentinel %s:%s  master %s\n' "$LOOPBACK" "$port" "$(redis-cli -h "$LOOPBACK" \
      -p "$port" sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | paste -sd:)"
  done
}

case ${1:-} in
  up)
    require
    mkdir -p "$CLUSTER_DIR"
    galera_up
    migrate
    redis_up
    status
    ;;
  down)
    redis_down
    galera_down
    ;;
  status) status ;;
  stop-node)
    [[ ${2:-} =~ ^[123]$ ]] || die "usage: $0 stop-node 1|2|3"
    stop_process "Galera node $2" "$(node_dir "$2")/mariadbd.pid"
    ;;
  clean)
    redis_down
    galera_down
    rm -rf "$CLUSTER_DIR"
    ;;
  *) die "usage: $0 up|down|status|stop-node N|clean" ;;
esac
