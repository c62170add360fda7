#!/usr/bin/env bash
# scripts/demo.sh - the main job, as far as the cluster exists today (see README).
#
# Starts the local stack (installing what is missing), builds, applies the migrations, loads the
# example configuration into the database, runs a worker of the runtime as its own process,
# publishes a batch of messages to it, waits until every one is applied, shows the worker's
# metrics, stops the worker with SIGTERM and the stack.
#   scripts/demo.sh [MESSAGES]      (default 20000)
#   KEEP_STACK=1 scripts/demo.sh    leave PostgreSQL and RabbitMQ running afterwards
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO_ROOT"
MESSAGES="${1:-20000}"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

WORKER_PID=
cleanup() {
  local rc=$?
  [ -n "$WORKER_PID" ] && kill -TERM "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null || true
  [ "${KEEP_STACK:-0}" = 1 ] || scripts/stack.sh stop >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT INT TERM

echo "== local stack (PostgreSQL + RabbitMQ on loopback)"
eval "$(scripts/stack.sh start)"
export DATABASE_URL AMQP_URL
echo "   DATABASE_URL=$DATABASE_URL"
echo "   AMQP_URL=${AMQP_URL/guest:guest/guest:***}"

echo "== build"
swift build --product analytics >/dev/null
swift build --product runtime-testbed >/dev/null
BIN="$(swift build --show-bin-path)"

echo "== migrations"
"$BIN/analytics" migrate
"$BIN/analytics" migrate --status | sed 's/^/   /'

echo "== configuration (secrets shown as references only)"
"$BIN/analytics" config show --config docs/examples/analytics.yaml | sed 's/^/   /'
"$BIN/analytics" config apply --config docs/examples/analytics.yaml
psql "$DATABASE_URL" -Atc "SELECT '   ' || project_id || ': ' || name || ' (' || time_zone || ', ' || currency || ')' FROM core.projects ORDER BY 1"

echo "== a worker of the runtime, as its own process"
psql "$DATABASE_URL" -qc "CREATE SCHEMA IF NOT EXISTS testbed; CREATE TABLE IF NOT EXISTS testbed.counters (key text PRIMARY KEY, total bigint NOT NULL); TRUNCATE testbed.counters"
export TESTBED_QUEUE=demo.counters HTTP_PORT=19090 LOG_FORMAT=text LOG_LEVEL=warning
"$BIN/runtime-testbed" & WORKER_PID=$!
expected=$("$BIN/runtime-testbed" publish "$MESSAGES" | sed -E 's/.*expected total ([0-9]+).*/\1/')
echo "   published $MESSAGES messages with publisher confirms (expected total $expected)"
start=$(date +%s%N)
while :; do
  applied=$(psql "$DATABASE_URL" -Atc "SELECT coalesce(sum(total), 0) FROM testbed.counters")
  printf '\r   applied %s of %s' "$applied" "$expected"
  [ "$applied" -ge "$expected" ] && break
  sleep 0.2
done
echo
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf '   all applied in %d.%03d s (exactly: %s)\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) \
  "$([ "$applied" = "$expected" ] && echo yes || echo NO)"
fetch() { if command -v curl >/dev/null; then curl -s "$1"; else python3 -c 'import sys,urllib.request as u
try: print(u.urlopen(sys.argv[1]).read().decode(), end="")
except Exception as e: print(getattr(e, "read", lambda: b"")().decode(), end="")' "$1"; fi; }
echo "== worker metrics (http://127.0.0.1:$HTTP_PORT/metrics)"
fetch "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^worker_messages_(handled|dead_lettered)_total|^worker_batch_duration_seconds_count' | sed 's/^/   /'
echo "   ready: $(fetch "http://127.0.0.1:$HTTP_PORT/ready")"
echo "== stop the worker with SIGTERM (graceful)"
kill -TERM "$WORKER_PID"; wait "$WORKER_PID" || true; WORKER_PID=
echo "   stopped"
