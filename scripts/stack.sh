#!/usr/bin/env bash
# scripts/stack.sh - the project's local stack: PostgreSQL 15 + RabbitMQ 3.10 on loopback,
# without a service manager (CI containers, dev boxes; Debian 12, usually run as root).
# The comments below explain the non-obvious choices (runuser, cookie/HOME, epmd, ...).
#
# Usage: scripts/stack.sh COMMAND [ARGS...]
#   install          apt-get install whatever of the required Debian packages is missing
#   start            install, start PostgreSQL + RabbitMQ (concurrently), wait until ready,
#                    create database 'analytics', print DATABASE_URL=... / AMQP_URL=... lines
#                    (no-op if already running; the URLs are printed again)
#   stop             stop both servers (idempotent) and the private epmd
#   status           report what runs; exit 0 only if both servers are up
#   env              print the URL lines:  eval "$(scripts/stack.sh env)"  (DATABASE_URL,
#                    AMQP_URL, and RABBITMQ_MANAGEMENT_URL when the node has the management API)
#   start-postgres | stop-postgres | start-rabbitmq | stop-rabbitmq
#                    single-server variants (data survives a stop/start cycle)
#   rmqctl ARGS...   run rabbitmqctl against this stack's node (right cookie/nodename/epmd)
#   prune            drop what earlier test and benchmark runs left on a running stack: their
#                    databases (t_*, bench_*), vhosts other than /, and queues on / named
#                    testbed_* or bench-* (a long-lived dev stack otherwise grows by gigabytes)
#
# stdout carries only the URL lines (start/env) or the command's own output (status/rmqctl);
# progress and errors go to stderr, so  eval "$(scripts/stack.sh start)"  works.
#
# Environment (all optional; set them to run a second, private instance side by side):
#   STACK_ROOT      state dir (default /tmp/analytics-stack): PostgreSQL in $STACK_ROOT/pg,
#                   RabbitMQ in $STACK_ROOT/rmq, logs included. Every parent directory must be
#                   traversable by the 'postgres' user (so not under a 0700 home directory).
#   PGPORT          PostgreSQL port on 127.0.0.1            (default 55432)
#   AMQP_PORT       RabbitMQ AMQP port on 127.0.0.1         (default 5673)
#   RMQ_DIST_PORT   Erlang distribution port                (default AMQP_PORT+20000)
#   STACK_EXTRA_PKGS  more Debian packages `install` adds     (scripts/test.sh: chromium)
#   RMQ_EPMD_PORT   private epmd port (shared by instances) (default 4370, not the system 4369)
#   RMQ_NODENAME    Erlang node name                        (default rabbit-<AMQP_PORT>@localhost)
#   RMQ_MGMT        1: enable rabbitmq_management (HTTP API; `analytics status` and the main job
#                   read unacknowledged counts from it)                        (default 0)
#   RMQ_MGMT_PORT   its port on 127.0.0.1 (setting it enables it too)   (default AMQP_PORT+10000)
#   STACK_START_TIMEOUT  seconds to wait for each server to become ready (default 90)
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")"
STACK_ROOT="${STACK_ROOT:-/tmp/analytics-stack}"
case "$STACK_ROOT" in /*) ;; *) STACK_ROOT="$PWD/$STACK_ROOT" ;; esac   # absolute before we cd
STACK_ROOT="${STACK_ROOT%/}"
PGPORT="${PGPORT:-55432}"
AMQP_PORT="${AMQP_PORT:-5673}"
RMQ_DIST_PORT="${RMQ_DIST_PORT:-$((AMQP_PORT + 20000))}"
RMQ_EPMD_PORT="${RMQ_EPMD_PORT:-4370}"
RMQ_NODENAME="${RMQ_NODENAME:-rabbit-${AMQP_PORT}@localhost}"
RMQ_MGMT_PORT="${RMQ_MGMT_PORT:-}"
if [ "${RMQ_MGMT:-0}" = 1 ] && [ -z "$RMQ_MGMT_PORT" ]; then RMQ_MGMT_PORT=$((AMQP_PORT + 10000)); fi
STACK_START_TIMEOUT="${STACK_START_TIMEOUT:-90}"

PG_DB=analytics
PG_ROOT="$STACK_ROOT/pg"                  # owned by postgres: data/, server.log, unix socket
PG_DATA="$PG_ROOT/data"
RMQ_ROOT="$STACK_ROOT/rmq"
RMQ_NODE_DIR="$RMQ_ROOT/node-$RMQ_NODENAME"   # per-node config, pid file, stdout log
RMQ_BIN=/usr/lib/rabbitmq/bin             # NOT /usr/sbin/rabbitmq*: as root those wrappers
                                          # 'su rabbitmq', lose HOME and thus the cookie
REQUIRED_PKGS=(postgresql rabbitmq-server libpq-dev librabbitmq-dev pkg-config)
# More Debian packages a caller needs installed with the stack (scripts/test.sh: chromium).
# shellcheck disable=SC2206
REQUIRED_PKGS+=(${STACK_EXTRA_PKGS:-})

for _v in PGPORT AMQP_PORT RMQ_DIST_PORT RMQ_EPMD_PORT STACK_START_TIMEOUT; do
  [[ "${!_v}" =~ ^[0-9]+$ ]] || { echo "stack: $_v must be a number, got '${!_v}'" >&2; exit 2; }
done
[ -z "$RMQ_MGMT_PORT" ] || [[ "$RMQ_MGMT_PORT" =~ ^[0-9]+$ ]] \
  || { echo "stack: RMQ_MGMT_PORT must be a number" >&2; exit 2; }

# The servers never need our working directory. A CI clone may live in a 0700 dir (/root/...)
# where the 'postgres' user cannot even chdir, so work from / from here on.
cd /

log() { echo "stack: $*" >&2; }
die() { echo "stack: ERROR: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# true when something accepts TCP connections on 127.0.0.1:$1
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait (up to $2 s, default 30) until nothing listens on 127.0.0.1:$1 any more
wait_port_closed() {
  local i
  for ((i = 0; i < ${2:-30} * 10; i++)); do port_open "$1" || return 0; sleep 0.1; done
  return 1
}

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
cmd_install() {
  local p missing=()
  for p in "${REQUIRED_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root || die "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  log "installing ${missing[*]}"
  # Never let the postinst scripts start the distro services (default cluster on 5432,
  # rabbit@host on 5672): we run our own instances. Many containers already ship this file.
  local own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}"
  } >&2 || rc=$?
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get failed (exit $rc)"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
pg_bin() {
  local d
  # shellcheck disable=SC2012  # plain version dirs (15, 16, ...); newest wins
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"  # Debian: not on PATH
  if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
    die "PostgreSQL server binaries not found (run: $SELF install)"
  fi
  echo "$d"
}

# initdb/pg_ctl refuse to run as root: drop to the postgres user
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_prepare_dirs() {
  mkdir -p "$PG_ROOT"
  if is_root; then
    chmod go+x "$STACK_ROOT"                       # postgres must traverse STACK_ROOT
    chown postgres:postgres "$PG_ROOT"
    chmod 700 "$PG_ROOT"
    runuser -u postgres -- test -w "$PG_ROOT" 2>/dev/null || die \
      "user postgres cannot reach $PG_ROOT: some parent of STACK_ROOT is not traversable (e.g. a 0700 home dir); use a STACK_ROOT under /tmp"
  fi
}

pg_running() {
  [ -f "$PG_DATA/postmaster.pid" ] || return 1
  as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_psql() {  # admin psql over TCP (trust auth); -X: ignore ~/.psqlrc
  PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres "$@"
}

start_postgres() {
  PGBIN="$(pg_bin)"
  pg_prepare_dirs
  if pg_running; then
    log "[pg] already running (data $PG_DATA)"
  else
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
      log "[pg] initdb $PG_DATA"
      as_pg "$PGBIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        > "$PG_ROOT/initdb.log" 2>&1 || { cat "$PG_ROOT/initdb.log" >&2; die "[pg] initdb failed"; }
    fi
    # Unix socket in $PG_ROOT (no /var/run/postgresql needed) unless the path is too long for
    # sun_path (107 bytes); clients use TCP anyway.
    local sockdir="$PG_ROOT"
    [ ${#sockdir} -le 90 ] || sockdir=""
    # Test-speed settings; passed on every start so the current PGPORT always wins.
    local opts="-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories='$sockdir'"
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    opts+=" -c shared_buffers=1GB -c max_wal_size=4GB"
    log "[pg] starting on 127.0.0.1:$PGPORT"
    # pg_ctl detaches the postmaster (setsid) and sends its output to server.log, so no
    # caller pipe is inherited (important for $(...) and test harnesses).
    if ! as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_ROOT/server.log" -w -t "$STACK_START_TIMEOUT" \
         -o "$opts" start </dev/null >/dev/null 2>&1; then
      tail -n 20 "$PG_ROOT/server.log" >&2 || true
      die "[pg] failed to start (log: $PG_ROOT/server.log)"
    fi
  fi
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -t "$STACK_START_TIMEOUT" \
    || die "[pg] not accepting connections on 127.0.0.1:$PGPORT (log: $PG_ROOT/server.log)"
  # Create the application database (keep the default 'postgres' db). Tolerate a concurrent
  # creator: re-check existence if CREATE DATABASE fails.
  if [ "$(pg_psql -tAc "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]; then
    pg_psql -c "create database $PG_DB" >/dev/null 2>&1 \
      || [ "$(pg_psql -tAc "select 1 from pg_database where datname = '$PG_DB'")" = 1 ] \
      || die "[pg] could not create database $PG_DB"
    log "[pg] created database $PG_DB"
  fi
  log "[pg] ready on 127.0.0.1:$PGPORT"
}

stop_postgres() {
  [ -d "$PG_DATA" ] || { log "[pg] not running (no data dir)"; return 0; }
  PGBIN="$(pg_bin)"
  if pg_running; then
    log "[pg] stopping"
    # fast = terminate sessions, clean shutdown; fall back to immediate if that hangs
    as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 \
      || die "[pg] could not stop the server (data $PG_DATA)"
    wait_port_closed "$PGPORT" 30 || die "[pg] 127.0.0.1:$PGPORT still accepts connections"
  else
    log "[pg] not running"
  fi
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------
# Server and CLI must share this environment (HOME holds the .erlang.cookie). Call it in a
# subshell only: it changes HOME.
rmq_env() {
  export HOME="$RMQ_ROOT/home"
  export RABBITMQ_NODENAME="$RMQ_NODENAME"
  export RABBITMQ_USE_LONGNAME=false
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT="$RMQ_EPMD_PORT"
  # The mnesia dir (queues, messages, quorum/Ra logs) is keyed by node name, so a stop/start
  # with the same STACK_ROOT + node name finds its data again.
  export RABBITMQ_MNESIA_BASE="$RMQ_ROOT/mnesia"
  export RABBITMQ_MNESIA_DIR="$RMQ_ROOT/mnesia/$RMQ_NODENAME"
  export RABBITMQ_LOG_BASE="$RMQ_ROOT/log"          # <nodename>.log
  export RABBITMQ_PID_FILE="$RMQ_NODE_DIR/rabbit.pid"
  export RABBITMQ_CONFIG_FILE="$RMQ_NODE_DIR/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_NODE_DIR/enabled_plugins"
  export RABBITMQ_CONF_ENV_FILE="$RMQ_NODE_DIR/rabbitmq-env.conf"       # ignore /etc/rabbitmq/*
  export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_NODE_DIR/advanced.config"
  # Erlang distribution (server and CLI) on loopback only; default would be 0.0.0.0.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  unset RABBITMQ_ENABLED_PLUGINS
}

rmq_ctl() { "$RMQ_BIN/rabbitmqctl" "$@"; }

# pid of the running node from its pid file, if that process is alive
rmq_pid() {
  local pid
  pid="$(cat "$RABBITMQ_PID_FILE" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # guard against a stale pid file whose pid got reused by something else
  [ "$(cat "/proc/$pid/comm" 2>/dev/null || echo beam.smp)" = beam.smp ] || return 1
  echo "$pid"
}

rmq_write_config() {
  {
    echo "listeners.tcp.default = 127.0.0.1:$AMQP_PORT"
    echo "loopback_users.guest = true"       # built-in guest/guest user, loopback only
    echo "log.console = false"
    echo "log.file.level = info"
    if [ -n "$RMQ_MGMT_PORT" ]; then
      echo "management.tcp.ip = 127.0.0.1"
      echo "management.tcp.port = $RMQ_MGMT_PORT"
    fi
  } > "$RABBITMQ_CONFIG_FILE"
  if [ -n "$RMQ_MGMT_PORT" ]; then echo "[rabbitmq_management]." ; else echo "[]."; fi \
    > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  : > "$RABBITMQ_CONF_ENV_FILE"
  # Quorum queues publish their stats (the 'messages' column of list_queues) on every Ra tick,
  # 5 s by default: after a publish or a restart, list_queues shows stale counts for up to
  # ~5 s. A 1 s tick keeps what tests see via 'rmqctl list_queues' nearly current.
  echo "[{rabbit, [{quorum_tick_interval, 1000}]}]." > "$RABBITMQ_ADVANCED_CONFIG_FILE"
}

start_rabbitmq() (   # subshell: rmq_env changes HOME
  [ -x "$RMQ_BIN/rabbitmq-server" ] || die "[rmq] $RMQ_BIN/rabbitmq-server not found (run: $SELF install)"
  rmq_env
  mkdir -p "$STACK_ROOT" "$HOME" "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE" "$RMQ_NODE_DIR"
  chmod 700 "$RMQ_ROOT"
  if [ ! -s "$HOME/.erlang.cookie" ]; then       # random per-root cookie, kept across restarts
    (umask 077; head -c 32 /dev/urandom | base64 | tr -dc A-Za-z0-9 > "$HOME/.erlang.cookie")
    chmod 400 "$HOME/.erlang.cookie"
  fi
  local ctl_log="$RMQ_NODE_DIR/ctl.log" out_log="$RMQ_NODE_DIR/stdout.log"
  if rmq_pid >/dev/null; then
    log "[rmq] already running (node $RMQ_NODENAME)"
  else
    rmq_write_config
    rm -f "$RABBITMQ_PID_FILE" "$RMQ_NODE_DIR/launcher.pid"
    log "[rmq] starting node $RMQ_NODENAME on 127.0.0.1:$AMQP_PORT (dist $RMQ_DIST_PORT, epmd $RMQ_EPMD_PORT)"
    # setsid: own session, so a Ctrl-C in the caller's terminal does not kill the broker
    # behind the caller's cleanup. All stdio goes to files: a server that inherited the
    # caller's stdout pipe would make $(stack.sh start) hang forever.
    # shellcheck disable=SC2016  # $$/$1/$@ are for the inner sh
    setsid sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$RMQ_NODE_DIR/launcher.pid" \
      "$RMQ_BIN/rabbitmq-server" </dev/null >"$out_log" 2>&1 &
    # Wait for the pid file, failing fast if the VM dies early (port/name clash, bad config).
    local i launcher
    for ((i = 0; ; i++)); do
      [ -s "$RABBITMQ_PID_FILE" ] && break
      launcher="$(cat "$RMQ_NODE_DIR/launcher.pid" 2>/dev/null || true)"
      if { [ -n "$launcher" ] && ! kill -0 "$launcher" 2>/dev/null; } || [ $i -ge $((STACK_START_TIMEOUT * 10)) ]; then
        tail -n 20 "$out_log" >&2 || true
        die "[rmq] node did not start (logs: $out_log, $RABBITMQ_LOG_BASE/$RMQ_NODENAME.log)"
      fi
      sleep 0.1
    done
  fi
  # 'wait PIDFILE' blocks until the node is booted (and fails if that pid goes away);
  # 'await_startup' would fail immediately while the node is not reachable yet.
  if ! rmq_ctl wait --timeout "$STACK_START_TIMEOUT" "$RABBITMQ_PID_FILE" </dev/null >"$ctl_log" 2>&1; then
    cat "$ctl_log" >&2
    tail -n 20 "$RABBITMQ_LOG_BASE/$RMQ_NODENAME.log" "$out_log" >&2 2>/dev/null || true
    die "[rmq] node $RMQ_NODENAME did not become ready (logs: $RMQ_ROOT)"
  fi
  log "[rmq] ready on 127.0.0.1:$AMQP_PORT${RMQ_MGMT_PORT:+ (management http://127.0.0.1:$RMQ_MGMT_PORT)}"
)

# epmd is daemonised by the first node and outlives it. 'epmd -kill' refuses while any node
# (e.g. a second instance sharing RMQ_EPMD_PORT) is still registered, so this is safe.
rmq_stop_epmd() {
  if ERL_EPMD_PORT="$RMQ_EPMD_PORT" epmd -port "$RMQ_EPMD_PORT" -kill >/dev/null 2>&1; then
    log "[rmq] epmd on port $RMQ_EPMD_PORT stopped"
  fi
  return 0
}

stop_rabbitmq() (
  rmq_env
  local pid i
  if pid="$(rmq_pid)"; then
    log "[rmq] stopping node $RMQ_NODENAME (pid $pid)"
    # 'shutdown' stops the node and waits for the OS process to exit.
    if ! timeout 120 "$RMQ_BIN/rabbitmqctl" shutdown </dev/null >"$RMQ_NODE_DIR/ctl.log" 2>&1; then
      log "[rmq] rabbitmqctl shutdown failed; sending SIGTERM to $pid"
      kill -TERM "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "[rmq] still alive after 30 s; SIGKILL $pid"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    rm -f "$RABBITMQ_PID_FILE"
    rmq_stop_epmd
    wait_port_closed "$AMQP_PORT" 30 || die "[rmq] 127.0.0.1:$AMQP_PORT still accepts connections"
    wait_port_closed "$RMQ_DIST_PORT" 10 || die "[rmq] dist port $RMQ_DIST_PORT still open"
  else
    log "[rmq] not running (node $RMQ_NODENAME)"
    rm -f "$RABBITMQ_PID_FILE"
    rmq_stop_epmd                     # e.g. left behind by a node that crashed
  fi
)

rmq_is_up() (
  rmq_env
  rmq_pid >/dev/null || exit 1
  "$RMQ_BIN/rabbitmq-diagnostics" -q check_running </dev/null >/dev/null 2>&1
)

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
cmd_env() {
  printf 'DATABASE_URL=postgresql://postgres@127.0.0.1:%s/%s\n' "$PGPORT" "$PG_DB"
  printf 'AMQP_URL=amqp://guest:guest@127.0.0.1:%s/%%2f\n' "$AMQP_PORT"
  # The management API as the node was configured when it started (not as asked now).
  local port
  port="$(sed -n 's/^management.tcp.port = //p' "$RMQ_NODE_DIR/rabbitmq.conf" 2>/dev/null || true)"
  if [ -n "$port" ]; then printf 'RABBITMQ_MANAGEMENT_URL=http://guest:guest@127.0.0.1:%s\n' "$port"; fi
}

cmd_start() {
  cmd_install
  mkdir -p "$STACK_ROOT"
  # RabbitMQ needs ~5 s, PostgreSQL ~1 s: start both at once.
  start_rabbitmq & local rmq_job=$!
  start_postgres & local pg_job=$!
  local failed=()
  wait "$pg_job" || failed+=(postgresql)
  wait "$rmq_job" || failed+=(rabbitmq)
  [ ${#failed[@]} -eq 0 ] || die "failed to start: ${failed[*]}"
  cmd_env
}

cmd_stop() {
  local rc=0
  stop_rabbitmq & local rmq_job=$!
  stop_postgres & local pg_job=$!     # background jobs keep errexit (unlike "f || rc=1")
  wait "$pg_job" || rc=1
  wait "$rmq_job" || rc=1
  return $rc
}

cmd_status() {
  local up=0
  PGBIN="$(pg_bin)"
  if pg_running && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -t 5; then
    echo "postgresql: running on 127.0.0.1:$PGPORT (data $PG_DATA, log $PG_ROOT/server.log)"
    up=$((up + 1))
  else
    echo "postgresql: stopped (127.0.0.1:$PGPORT, data $PG_DATA)"
  fi
  if rmq_is_up; then
    echo "rabbitmq:   running on 127.0.0.1:$AMQP_PORT (node $RMQ_NODENAME, logs $RMQ_ROOT/log)"
    up=$((up + 1))
  else
    echo "rabbitmq:   stopped (127.0.0.1:$AMQP_PORT, node $RMQ_NODENAME)"
  fi
  [ $up -eq 2 ]
}

cmd_prune() {
  local db dropped=0
  for db in $(pg_psql -tAc "select datname from pg_database where datname like 't\_%' or datname like 'bench\_%'"); do
    pg_psql -qc "drop database if exists \"$db\"" >/dev/null && dropped=$((dropped + 1))
  done
  rmq_env
  local vhost queue vhosts=0 queues=0
  for vhost in $("$RMQ_BIN/rabbitmqctl" list_vhosts -q --no-table-headers 2>/dev/null); do
    [ "$vhost" = / ] && continue
    "$RMQ_BIN/rabbitmqctl" delete_vhost -q "$vhost" >/dev/null 2>&1 && vhosts=$((vhosts + 1))
  done
  for queue in $("$RMQ_BIN/rabbitmqctl" list_queues -q --no-table-headers -p / name 2>/dev/null); do
    case "$queue" in testbed_*|bench-*) ;; *) continue ;; esac
    "$RMQ_BIN/rabbitmqctl" delete_queue -q -p / "$queue" >/dev/null 2>&1 && queues=$((queues + 1))
  done
  log "[prune] dropped $dropped databases, $vhosts vhosts, $queues queues"
}

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2; }

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  install)        cmd_install ;;
  start)          cmd_start ;;
  stop)           cmd_stop ;;
  status)         cmd_status ;;
  env)            cmd_env ;;
  start-postgres) cmd_install; start_postgres ;;
  stop-postgres)  stop_postgres ;;
  start-rabbitmq) cmd_install; start_rabbitmq ;;
  stop-rabbitmq)  stop_rabbitmq ;;
  prune)          cmd_prune ;;
  rmqctl)         rmq_env; exec "$RMQ_BIN/rabbitmqctl" "$@" ;;
  -h|--help|help) usage ;;
  *)              usage; exit 2 ;;
esac
