#!/usr/bin/env bash
# The README's second command: every test (unit, database, end-to-end, browser) against a real
# Postgres. SKIP_BROWSER_TESTS=1 leaves out the browser tests (tests/browser, chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
export PATH="/usr/lib/postgresql/15/bin:$PATH"
export SIGMASIGHT_PG="${SIGMASIGHT_PG:-system}"
# Tests that depend on "today" run on a fixed business date, so the suite gives the same
# answer every day (one e2e test runs on the real date: SIGMASIGHT_AS_OF= to run all so).
export SIGMASIGHT_AS_OF="${SIGMASIGHT_AS_OF-2026-11-30}"
ensure_pg
echo "Tests use $DATABASE_URL" >&2
# The end-to-end tests start the real binaries: build them first.
cargo build --bins
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi
# The status page in a real browser, against the binaries built above.
if [ "${SKIP_BROWSER_TESTS:-0}" != 1 ]; then
  bash scripts/browser-setup.sh
  (cd tests/browser && DATABASE_URL="$DATABASE_URL" node --test --test-concurrency=1 status_page.test.mjs) || status=$?
fi
exit "$status"
