#!/usr/bin/env bash
# The README's second command: every test (unit, database, end-to-end) against a real Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
export PATH="/usr/lib/postgresql/15/bin:$PATH"
export SIGMASIGHT_PG="${SIGMASIGHT_PG:-system}"
ensure_pg
echo "Tests use $DATABASE_URL" >&2
# The end-to-end tests start the real binaries: build them first.
cargo build --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
