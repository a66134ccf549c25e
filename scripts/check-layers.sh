#!/usr/bin/env bash
# The analytics are pure (DESIGN §2): no database, runtime or HTTP in shared/src/analytics.
set -euo pipefail
cd "$(dirname "$0")/.."
if grep -rnE '\b(sqlx|tokio|reqwest|axum)::|use (sqlx|tokio|reqwest|axum)\b' shared/src/analytics; then
  echo "shared/src/analytics must not use sqlx, tokio, reqwest or axum (lines above)" >&2
  exit 1
fi
echo "layers: shared/src/analytics imports no sqlx, tokio, reqwest or axum"
