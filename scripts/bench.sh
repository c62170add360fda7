#!/usr/bin/env bash
# scripts/bench.sh - every benchmark figure of issues 2-8 in one run (issue 8, point 5).
#
#   scripts/bench.sh            the issues' sizes (about 45 minutes on 2 cores with the build)
#   scripts/bench.sh --quick    small sizes, to check the script itself (a few minutes)
#
# Installs what is missing (Debian packages, wrk included), starts the local stack on loopback,
# builds every executable in release, then runs in order, each in its own process group:
#   foundation-bench   COPY / publish / consume against raw libpq and rabbitmq-c   (issue 2)
#   tracker-bench      durable visits/s with wrk vs the same handler not publishing (issue 5)
#   identity-bench     1M visits + 100k leads + 21k deals resolved, resolver RSS   (issue 5)
#   aggregator-bench   full rebuild vs plain SQL; deal change -> mart p50/p95;
#                      one day recomputed in full and deal-only                     (issue 6)
#   dealsync-bench     amoCRM / Bitrix24 full sync vs reading; webhook latency     (issue 4)
#   collection-bench   Direct parse+write vs raw COPY; backfills of every network  (issue 3)
#   system test        the cluster under faults at 6000 people (scripts/system-test.sh) (issue 8)
# Every command's whole output goes to docs/benchmarks-output.txt, and docs/benchmarks.md is
# generated from it: the machine, then each figure with its baseline, ratio and goal. Commit
# both. The hand-written analysis of the designs behind the figures is docs/benchmark-notes.md.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO_ROOT"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
OUT="$REPO_ROOT/docs/benchmarks-output.txt"
DOC="$REPO_ROOT/docs/benchmarks.md"
if [ "$QUICK" = 1 ]; then
  OUT=/tmp/benchmarks-output-quick.txt
  DOC=/tmp/benchmarks-quick.md
fi

STARTED_STACK=0
cleanup() {
  local rc=$?
  if [ "$STARTED_STACK" = 1 ]; then scripts/stack.sh stop >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== local stack (installing what is missing, wrk included)"
scripts/stack.sh status >/dev/null 2>&1 || STARTED_STACK=1
export STACK_EXTRA_PKGS="wrk time"
eval "$(scripts/stack.sh start)"
export DATABASE_URL AMQP_URL
scripts/stack.sh prune >/dev/null

echo "== release build of every executable (the first one takes a long while on 2 cores)"
swift build -c release 2>&1 | grep -E "error|Compiling|Build complete" \
  | awk '/Compiling/ { n++; if (n % 60 == 1) print "   compiling ..."; next } { print "   " $0 }'
test "${PIPESTATUS[0]}" = 0
BIN="$(swift build -c release --show-bin-path)"
BIN="${BIN#"$REPO_ROOT"/}"

{
  echo "# Output of scripts/bench.sh$([ "$QUICK" = 1 ] && echo " --quick"), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "swift: $(swift --version 2>/dev/null | head -1)"
  echo "postgresql: $(psql "$DATABASE_URL" -tAc 'show server_version') (local stack: fsync off)"
  echo "rabbitmq: $(scripts/stack.sh rmqctl version 2>/dev/null | tail -1)"
  echo "wrk: $(wrk --version 2>&1 | head -1)"
} > "$OUT"

# step NAME COMMAND...: runs it in its own process group (so no worker it started survives),
# under /usr/bin/time, appending the command, its output and its wall time and peak RSS.
step() {
  local name="$1"
  shift
  echo "== $name: $*"
  local timing
  timing="$(mktemp)"
  {
    echo
    echo "## $name"
    echo "\$ $*"
  } >> "$OUT"
  local rc=0
  setsid /usr/bin/time -v -o "$timing" "$@" >> "$OUT" 2>/tmp/bench-step.err &
  local pid=$!
  wait "$pid" || rc=$?
  kill -- -"$pid" 2>/dev/null || true
  {
    echo "wall: $(awk -F': ' '/Elapsed/ { print $2 }' "$timing")"
    echo "peak RSS of the command's process tree's largest process: $(awk -F': ' '/Maximum resident/ { printf "%.0f MiB", $2 / 1024 }' "$timing")"
    [ "$rc" = 0 ] || { echo "FAILED with status $rc:"; tail -20 /tmp/bench-step.err; }
  } >> "$OUT"
  rm -f "$timing"
  scripts/stack.sh prune >/dev/null 2>&1 || true
  [ "$rc" = 0 ] || echo "   $name failed (status $rc); see $OUT"
  tail -4 "$OUT" | sed 's/^/   /'
}

if [ "$QUICK" = 1 ]; then
  step foundation "$BIN/foundation-bench" 100000 10000 1
  step tracker-256 "$BIN/tracker-bench" 3 256
  step identity "$BIN/identity-bench" 20000 500
  step aggregator-rebuild "$BIN/aggregator-bench" 20000 1
  step aggregator-latency "$BIN/aggregator-bench" latency 20000 5
  step aggregator-partition "$BIN/aggregator-bench" partition 20000 1
  step dealsync "$BIN/dealsync-bench" 5000 20
  step collection "$BIN/collection-bench" 50000 50 10 10
  step system-test scripts/system-test.sh --people 600 --kills 5 --pace 200
else
  step foundation "$BIN/foundation-bench" 1000000 100000 3
  for run in 1 2 3 4 5; do step "tracker-256 run $run" "$BIN/tracker-bench" 10 256; done
  for run in 1 2 3; do step "identity run $run" "$BIN/identity-bench" 213000 500; done
  step aggregator-rebuild "$BIN/aggregator-bench" 200000 3
  step aggregator-latency "$BIN/aggregator-bench" latency 200000 40
  step aggregator-partition "$BIN/aggregator-bench" partition 200000 3
  step dealsync "$BIN/dealsync-bench" 100000 200
  step collection "$BIN/collection-bench" 1000000 500 20 90
  step system-test scripts/system-test.sh --people 6000 --kills 25 --pace 400
fi

echo "== writing $DOC"
python3 "$REPO_ROOT/scripts/bench-report.py" "$OUT" "$DOC" "$([ "$QUICK" = 1 ] && echo quick || echo full)"
echo "   done: $DOC (from $OUT)"
