#!/usr/bin/env bash
# scripts/demo.sh - THE main job (README).
#
#   scripts/demo.sh [demo options]        e.g. --people 3000, --keep-running, --aggregators 3
#
# On a fresh machine: installs what is missing (Debian packages) and starts PostgreSQL and
# RabbitMQ (with its management API) on loopback via scripts/stack.sh, builds every executable,
# gives the run a fresh database `demo` and a fresh RabbitMQ vhost `demo`, then runs the `demo`
# executable: the sandbox world (a month of an online school) served by the fakes of every ad
# network and CRM, the cluster's executables as separate processes, every collector and
# deal-sync against the fakes, the visits and leads posted to the tracker — and, once the mart is
# current, the channel report sorted by ROMI, checked against the world's ground truth, with how
# to connect a BI tool. The stack is stopped afterwards if this script started it
# (KEEP_STACK=1 keeps it; --keep-running keeps the cluster too, until Ctrl-C).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO_ROOT"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null 2>&1 || { echo "demo.sh: swift not found (PATH or /opt/swift)" >&2; exit 1; }

export RMQ_MGMT=1
STARTED_STACK=0
cleanup() {
  local rc=$?
  if [ "$STARTED_STACK" = 1 ] && [ "${KEEP_STACK:-0}" != 1 ]; then
    echo "== stopping the local stack"
    scripts/stack.sh stop >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== local stack: PostgreSQL and RabbitMQ on loopback (installing what is missing)"
scripts/stack.sh status >/dev/null 2>&1 || STARTED_STACK=1
RABBITMQ_MANAGEMENT_URL=
eval "$(scripts/stack.sh start)"

echo "== build (the first build takes several minutes on 2 cores)"
swift build 2>&1 | grep -E "error|warning: unre|Compiling|Build complete" | awk '/Compiling/ { n++; if (n % 40 == 1) print "   compiling ..." ; next } { print "   " $0 }'
test "${PIPESTATUS[0]}" = 0
BIN="$(swift build --show-bin-path)"

echo "== a fresh database 'demo' and RabbitMQ vhost 'demo'"
psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS demo WITH (FORCE)" -c "DROP ROLE IF EXISTS school_bi" -c "CREATE DATABASE demo"
scripts/stack.sh rmqctl delete_vhost demo >/dev/null 2>&1 || true
scripts/stack.sh rmqctl add_vhost demo >/dev/null
scripts/stack.sh rmqctl set_permissions -p demo guest ".*" ".*" ".*" >/dev/null
DEMO_DATABASE_URL="${DATABASE_URL%/*}/demo"
DEMO_AMQP_URL="${AMQP_URL%/*}/demo"
# The demo reads RABBITMQ_MANAGEMENT_URL; a stack started earlier without the management API
# prints none, and the demo then sees only ready counts while it waits.
export RABBITMQ_MANAGEMENT_URL

"$BIN/demo" --database-url "$DEMO_DATABASE_URL" --amqp-url "$DEMO_AMQP_URL" "$@"
