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
# A 135-trading-day backfill of 33 symbols through fmp,polygon,yahoo (fakes adding 100 ms).
SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-providers
# Portfolio-level phases: phase_3 over 1 and 5 years, phase_6 for 30 and 300 positions.
SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-analytics
# The daily batch at scale (BENCH_PORTFOLIOS, BENCH_SYMBOLS, BENCH_WORKERS; default 1000, 1200, 2),
# with phases 1.5 and 1.75 timed over the whole universe; then the same for 30 symbols.
SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-daily
BENCH_PORTFOLIOS=2 BENCH_SYMBOLS=22 SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-daily
