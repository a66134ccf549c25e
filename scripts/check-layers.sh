#!/usr/bin/env bash
# The layers of shared/ (STYLE "One home per concern"): the analytics are pure (DESIGN §2: no
# database, runtime or HTTP), and a lower layer never names a higher one — market data and
# the analytics never name the database or the queue, the database never names the queue,
# the status model or the onboarding above it. A constant both need moves down.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if grep -rnE '\b(sqlx|tokio|reqwest|axum)::|use (sqlx|tokio|reqwest|axum)\b' shared/src/analytics; then
  echo "shared/src/analytics must not use sqlx, tokio, reqwest or axum (lines above)" >&2
  status=1
fi
# layer (folder) : the modules of shared it must not name
while IFS=: read -r dir above; do
  if grep -rnE "crate::($above)\b" "shared/src/$dir"; then
    echo "shared/src/$dir must not name crate::{$above} (a higher layer; lines above)" >&2
    status=1
  fi
done <<'LAYERS'
analytics:db|queue|status|onboarding|auth
market_data:db|queue|status|onboarding|auth
db:queue|status|onboarding
LAYERS
[ "$status" = 0 ] || exit 1
echo "layers: shared/src/analytics is pure; analytics, market_data and db name no layer above them"
