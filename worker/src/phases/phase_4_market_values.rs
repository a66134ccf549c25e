//! Phase 4 — Position Market Value Updates: last price, market value, unrealized P&L (and
//! model value and delta for options) of every open position, as of the calculation date.

use super::scope::params;
use super::scope::{PortfolioScope, SNAPSHOT_LOOKBACK_DAYS};
use crate::context::{JobError, RunContext};
use sigmasight_shared::analytics::snapshots::position_values;
use sigmasight_shared::db::positions;
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_4;

/// Runs phase 4.
pub async fn run(ctx: &RunContext, scope: &PortfolioScope) -> Result<(), JobError> {
    let inputs = scope.inputs();
    let table_start = scope.end - chrono::Duration::days(SNAPSHOT_LOOKBACK_DAYS);
    let table = scope.prices(ctx, table_start, scope.end).await?;
    let values = position_values(&inputs, &table, scope.end, &params(ctx, scope));
    let mut progress = ctx.start_phase(&PHASE_4, values.len()).await?;
    let updates: Vec<positions::ValueUpdate> = values
        .iter()
        .map(|v| positions::ValueUpdate {
            position_id: v.position_id,
            last_price: v.last_price,
            price_date: v.price_date,
            market_value: v.market_value,
            unrealized_pnl: v.unrealized_pnl,
            delta: v.delta,
        })
        .collect();
    let held = positions::update_values(
        &ctx.pool,
        (ctx.run.id, ctx.attempt()),
        scope.portfolio.id,
        &updates,
    )
    .await?;
    ctx.fenced(held)?;
    let unpriced: Vec<&str> = values
        .iter()
        .filter(|v| v.market_value.is_none())
        .filter_map(|v| {
            scope
                .positions
                .iter()
                .find(|p| p.id == v.position_id)
                .map(|p| p.symbol.as_str())
        })
        .collect();
    let (expected, unexpected): (Vec<&str>, Vec<&str>) =
        unpriced.iter().partition(|s| scope.about_left_out(s));
    if !unexpected.is_empty() {
        ctx.warn(
            &PHASE_4,
            format!(
                "No recent price for {}: market value left empty",
                unexpected.join(", ")
            ),
        );
    }
    if !expected.is_empty() {
        ctx.debug(
            &PHASE_4,
            format!(
                "No market data for {}: market value left empty",
                expected.join(", ")
            ),
        );
    }
    let total: f64 = values.iter().filter_map(|v| v.market_value).sum();
    ctx.info(
        &PHASE_4,
        format!(
            "Position Market Value Updates complete: {} open positions valued as of {}, market value {total:.2}{}",
            values.len() - unpriced.len(),
            scope.end,
            if expected.is_empty() { String::new() } else { format!("; not valued (no market data): {}", expected.join(", ")) }
        ),
    );
    progress.advance(values.len()).await?;
    let status = PhaseStatus::finished(!unpriced.is_empty());
    progress
        .finish(
            status,
            serde_json::json!({ "positions": values.len(), "unpriced": unpriced, "as_of": scope.end }),
        )
        .await
}
