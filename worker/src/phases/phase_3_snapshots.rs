//! Phase 3 — P&L Calculation & Snapshots: every trading day from the earliest entry date to
//! the last trading day, computed over the whole range at once and upserted in chunks.

use super::scope::params;
use super::scope::{PortfolioScope, SNAPSHOT_LOOKBACK_DAYS};
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use sigmasight_shared::analytics::sectors::normalize_sector;
use sigmasight_shared::analytics::snapshots::{compute_snapshots, SnapshotRow};
use sigmasight_shared::db::{portfolios, snapshots};
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_3;
use sigmasight_shared::status::feed::is_date_in_feed;

/// Snapshots written per statement (and per progress step).
const CHUNK: usize = 250;

/// Runs phase 3.
pub async fn run(ctx: &RunContext, scope: &PortfolioScope) -> Result<(), JobError> {
    let n = scope.days.len();
    let mut progress = ctx.start_phase(&PHASE_3, n).await?;
    let Some(first_day) = scope.days.first().copied() else {
        ctx.info(&PHASE_3, "Snapshots are up to date: no trading day to add");
        return progress
            .finish(
                PhaseStatus::Completed,
                serde_json::json!({ "snapshots": 0 }),
            )
            .await;
    };
    ctx.info(
        &PHASE_3,
        format!(
            "Calculating P&L and snapshots for {n} trading days ({first_day} to {})",
            scope.days.last().copied().unwrap_or(first_day)
        ),
    );
    // The computation reads no close before its first day's lookback: a daily run loads
    // months, not the portfolio's whole history.
    let table_start = first_day - chrono::Duration::days(SNAPSHOT_LOOKBACK_DAYS);
    let table = scope.prices(ctx, table_start, scope.end).await?;
    let mut inputs = scope.inputs();
    let sectors = scope.sectors(ctx).await?;
    for p in inputs.iter_mut().filter(|p| p.sector.is_none()) {
        p.sector = normalize_sector(sectors.get(&p.symbol).map(String::as_str));
    }
    let days = scope.days.clone();
    let params = params(ctx, scope);
    let rows: Vec<SnapshotRow> =
        tokio::task::spawn_blocking(move || compute_snapshots(&inputs, &table, &days, &params))
            .await
            .map_err(|e| {
                JobError::Retryable(anyhow::anyhow!("snapshot computation panicked: {e}"))
            })?;
    // Snapshots from `first_day` on are rewritten; from the first entry on, all of them:
    // the portfolio's pending recompute is cleared with the last chunk.
    let covered_from = if first_day <= scope.first_entry {
        NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(first_day)
    } else {
        first_day
    };
    let chunks = rows.len().div_ceil(CHUNK);
    let mut warned = std::collections::BTreeSet::new();
    for (chunk_no, chunk) in rows.chunks(CHUNK).enumerate() {
        let mut tx = ctx.begin_fenced().await?;
        snapshots::upsert_many(&mut tx, scope.portfolio.id, ctx.run.id, chunk).await?;
        if chunk_no + 1 == chunks {
            portfolios::clear_recompute(&mut *tx, scope.portfolio.id, covered_from).await?;
        }
        tx.commit().await?;
        for (k, row) in chunk.iter().enumerate() {
            let i = chunk_no * CHUNK + k + 1;
            let line = format!("Creating snapshot for {}... ({i}/{n})", row.date);
            if is_date_in_feed(i, n) {
                ctx.info(&PHASE_3, line)
            } else {
                ctx.debug(&PHASE_3, line)
            }
            for w in &row.warnings {
                if warned.insert(w.clone()) {
                    if scope.about_left_out(w) {
                        ctx.debug(&PHASE_3, w.clone());
                    } else {
                        ctx.warn(&PHASE_3, w.clone());
                    }
                }
            }
        }
        progress.advance(chunk.len()).await?;
    }
    let last = rows.last();
    ctx.info(
        &PHASE_3,
        format!(
            "P&L Calculation & Snapshots complete: {} snapshots{}{}",
            rows.len(),
            last.map(|r| format!(", NAV {:.2} on {}", r.total_value, r.date))
                .unwrap_or_default(),
            if scope.left_out.is_empty() {
                String::new()
            } else {
                format!("{} (held at entry price)", scope.left_out_note())
            }
        ),
    );
    progress.finish(PhaseStatus::Completed, serde_json::json!({ "snapshots": rows.len(), "first_date": rows.first().map(|r| r.date), "last_date": last.map(|r| r.date) })).await
}
