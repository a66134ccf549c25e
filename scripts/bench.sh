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
# The queue's statements on 1,000,000 finished and 100,000 queued runs, beside the forms
# they replaced.
SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-queue
# What the deployment's provider budget costs a request: one session, then 8 on one row.
./target/release/sigmasight-bench-budget
# The nightly batch at scale (BENCH_PORTFOLIOS, BENCH_SYMBOLS, BENCH_WORKERS; default 1000,
# 1200, 2): a first night, then the timed night of one new date with 500 status requests a
# second for 30 s (BENCH_STATUS_RPS, BENCH_STATUS_SECS); on an empty database, then on one
# holding 1,000,000 finished runs and 10,000,000 activity rows (BENCH_HISTORY_RUNS,
# BENCH_HISTORY_ACTIVITY), side by side. BENCH_PROFILE=1 counts each child's statements.
BENCH_HISTORY="${BENCH_HISTORY:-1}" SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-daily
# The same night for 30 symbols (phases 1.5 and 1.75 over a small universe).
BENCH_PORTFOLIOS=2 BENCH_SYMBOLS=22 BENCH_STATUS_RPS=0 BENCH_HISTORY=0 SIGMASIGHT_BIN_PROFILE=release ./target/release/sigmasight-bench-daily
