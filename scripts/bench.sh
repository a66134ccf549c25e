#!/usr/bin/env bash
# Prints the speed figures of DESIGN §6 that exist so far (release build, real Postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
export PATH="/usr/lib/postgresql/15/bin:$PATH"
export SIGMASIGHT_PG="${SIGMASIGHT_PG:-system}"
ensure_pg
cargo build --release --bins
SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench
