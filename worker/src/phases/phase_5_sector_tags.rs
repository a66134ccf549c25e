//! Phase 5 — Sector Tag Restoration (final date only): every position's `Sector:` tags are
//! replaced by one tag naming its symbol's sector (an option's underlying's; PRIVATE and
//! symbols without a profile sector are `Sector: Uncategorized`), per ANALYTICS §4.

use super::scope::{price_symbol, PortfolioScope};
use crate::context::{JobError, RunContext};
use sigmasight_shared::analytics::sectors::{sector_tag, tag_color};
use sigmasight_shared::db::tags;
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_5;
use std::collections::BTreeMap;

/// Runs phase 5.
pub async fn run(ctx: &RunContext, scope: &PortfolioScope) -> Result<(), JobError> {
    let n = scope.positions.len();
    let mut progress = ctx.start_phase(&PHASE_5, n).await?;
    let by_symbol = scope.sectors(ctx).await?;
    let assignments: Vec<(uuid::Uuid, String, &str)> = scope
        .positions
        .iter()
        .map(|p| {
            let sector = price_symbol(p)
                .and_then(|s| by_symbol.get(s))
                .map(String::as_str);
            let tag = sector_tag(sector);
            let color = tag_color(&tag);
            (p.id, tag, color)
        })
        .collect();
    // A nightly run mostly finds every tag already right: it reads them and writes nothing.
    let ids: Vec<uuid::Uuid> = assignments.iter().map(|a| a.0).collect();
    let mut current = tags::sector_tags(&ctx.pool, scope.portfolio.user_id, &ids).await?;
    current.sort();
    let mut wanted: Vec<(uuid::Uuid, String)> = assignments
        .iter()
        .map(|(id, tag, _)| (*id, tag.clone()))
        .collect();
    wanted.sort();
    let tagged = if current == wanted {
        ctx.debug(&PHASE_5, "Sector tags unchanged");
        u64::try_from(n).unwrap_or(u64::MAX)
    } else {
        let mut tx = ctx.begin_fenced().await?;
        let tagged =
            tags::replace_sector_tags(&mut tx, scope.portfolio.user_id, &assignments).await?;
        tx.commit().await?;
        tagged
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, tag, _) in &assignments {
        *counts.entry(tag.as_str()).or_default() += 1;
    }
    for (p, (_, tag, _)) in scope.positions.iter().zip(&assignments) {
        ctx.debug(&PHASE_5, format!("Tagged {} with {tag}", p.symbol));
    }
    progress.advance(n).await?;
    let listing: Vec<String> = counts.iter().map(|(t, c)| format!("{t} ({c})")).collect();
    ctx.info(
        &PHASE_5,
        format!(
            "Sector Tag Restoration complete: {tagged} positions tagged: {}",
            listing.join(", ")
        ),
    );
    progress
        .finish(
            PhaseStatus::Completed,
            serde_json::json!({ "positions": n, "tags": counts }),
        )
        .await
}
