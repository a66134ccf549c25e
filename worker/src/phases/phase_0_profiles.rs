//! Phase 0 — Company Profile Sync (final date only): profiles older than 24 h are fetched
//! again, one request per symbol, from the first provider of the chain that serves profiles;
//! every symbol then gets its Provider Beta (1Y) row (null with its reason when there is no
//! profile).

use super::loaders::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use futures::stream::{self, StreamExt};
use sigmasight_shared::db::{factors, misses, profiles};
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::market_data::DataKind;
use sigmasight_shared::phases::PHASE_0;

/// Runs phase 0.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let symbols = available_symbols(ctx, scope).await?;
    let mut fresh = profiles::fresh_symbols(&ctx.pool, &symbols).await?;
    // Symbols no provider had a profile for are not asked again within the TTL.
    fresh.extend(
        misses::recent(
            &ctx.pool,
            &symbols,
            "profile",
            ctx.config.market.unavailable_ttl(),
        )
        .await?,
    );
    let mut work = symbol_work::start(ctx, &PHASE_0, &symbols, &fresh, scope.end).await?;
    let served = ctx.market.chain().serves(DataKind::Profiles);
    if !served && !work.todo.is_empty() {
        ctx.warn(&PHASE_0, format!(
            "No provider in the chain ({}) serves company profiles: sector, industry and provider beta stay empty",
            ctx.market.chain().describe()
        ));
    }
    let todo = if served {
        work.todo.clone()
    } else {
        Vec::new()
    };
    let market = ctx.market.clone();
    let end = scope.end;
    let mut results = stream::iter(todo)
        .map(|s| {
            let market = market.clone();
            async move { (market.profile(&s, end).await, s) }
        })
        .buffer_unordered(ctx.config.provider_concurrency.max(1));
    let (mut fetched, mut missing, mut undecided) = (0usize, Vec::new(), Vec::new());
    while let Some((result, symbol)) = results.next().await {
        for notice in ctx.market.take_notices() {
            ctx.warn(&PHASE_0, notice);
        }
        match result {
            Ok(profile) => {
                let mut tx = ctx.begin_fenced().await?;
                profiles::upsert(&mut tx, &profile.value, profile.provider).await?;
                tx.commit().await?;
                fetched += 1;
            }
            Err(e) => match symbol_work::not_now(&e) {
                Some(reason) => undecided.push((symbol, reason)),
                None => {
                    misses::remember(&ctx.pool, &symbol, "profile", &e.to_string()).await?;
                    ctx.debug(&PHASE_0, format!("No profile for {symbol}: {e}"));
                    missing.push(symbol);
                }
            },
        }
        work.progress.advance(1).await?;
    }
    let gap = symbol_work::not_to_be_had(
        ctx,
        &PHASE_0,
        DataKind::Profiles,
        &undecided,
        "sector, industry and provider beta stay empty",
    );
    let unserved = if served { 0 } else { work.todo.len() };
    let mut tx = ctx.begin_fenced().await?;
    factors::upsert_provider_betas(&mut tx, ctx.run.id, &symbols, scope.end).await?;
    tx.commit().await?;
    ctx.info(&PHASE_0, format!(
        "Company Profile Sync complete: {} symbols ({fetched} fetched, {} fresh, {} without a profile)",
        symbols.len(), fresh.len(), missing.len() + unserved
    ));
    let not_now: Vec<&str> = undecided.iter().map(|(s, _)| s.as_str()).collect();
    work.progress.finish(PhaseStatus::finished(gap), serde_json::json!({ "symbols": symbols.len(), "not_to_be_had_now": not_now, "fetched": fetched, "cached": fresh.len(), "missing": missing, "served": served })).await
}
