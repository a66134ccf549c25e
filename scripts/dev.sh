#!/usr/bin/env bash
# The README's first command: build, start Postgres (private unless DATABASE_URL is set),
# migrate, run api + worker, onboard the demo portfolio with live progress, and keep serving
# until Ctrl-C (DEV_EXIT_AFTER_DEMO=1 stops after the demo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
export PATH="/usr/lib/postgresql/15/bin:$PATH"

cargo build --release --bins
ensure_pg
export SIGMASIGHT_JWT_SECRET="${SIGMASIGHT_JWT_SECRET:-dev-secret-change-me}"
export SIGMASIGHT_BIND="${SIGMASIGHT_BIND:-127.0.0.1:8080}"
export RUST_LOG="${RUST_LOG:-warn}"
mkdir -p .dev
./target/release/sigmasight-api migrate

./target/release/sigmasight-api > .dev/api.log 2>&1 &
api=$!
./target/release/sigmasight-worker > .dev/worker.log 2>&1 &
worker=$!
trap 'kill $api $worker 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

url="http://$SIGMASIGHT_BIND"
for _ in $(seq 1 100); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  kill -0 $api 2>/dev/null || { cat .dev/api.log; exit 1; }
  sleep 0.1
done

./target/release/sigmasight-api demo --api-url "$url" --csv examples/demo_portfolio.csv

if [ "${DEV_EXIT_AFTER_DEMO:-0}" = "1" ]; then exit 0; fi
echo "API on $url, logs in .dev/api.log and .dev/worker.log. Ctrl-C to stop."
wait $api
