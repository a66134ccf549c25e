//! Phase 1 — Market Data Collection. One coverage query for every symbol; only gaps are
//! fetched, with ONE provider request per symbol for its whole missing range; unavailable
//! symbols are remembered and tried at most once per run.

use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use sigmasight_shared::calendar;
use sigmasight_shared::db::{prices, runs};
use sigmasight_shared::market_data::{DailyBar, ProviderError};
use sigmasight_shared::phases::PHASE_1;
use std::collections::HashMap;
use std::time::Instant;

/// What one symbol needs.
#[derive(Debug, Clone, PartialEq)]
enum Need {
    /// Cache already covers the range.
    Cached,
    /// Fetch [start, end] in one request.
    Fetch(NaiveDate, NaiveDate),
    /// Already found unavailable by this run.
    KnownUnavailable,
}

fn need_for(
    cov: Option<&prices::Coverage>,
    first_needed: NaiveDate,
    start: NaiveDate,
    end: NaiveDate,
) -> Need {
    match cov {
        Some(c) if c.first_date <= first_needed && c.last_date >= end => Need::Cached,
        Some(c) if c.first_date <= first_needed => {
            Need::Fetch(c.last_date.succ_opt().unwrap_or(c.last_date), end)
        }
        _ => Need::Fetch(start, end),
    }
}

enum Fetched {
    Bars(String, Vec<DailyBar>),
    Unavailable(String, String),
}

/// The symbols a run needs and the date range of their history.
pub struct SymbolScope {
    pub symbols: Vec<String>,
    /// Symbols known to be ETFs or funds (no fundamentals).
    pub funds: Vec<String>,
    pub history_start: NaiveDate,
    pub end: NaiveDate,
}

/// Runs phase 1.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let started = Instant::now();
    let first_needed = calendar::next_trading_day(scope.history_start - chrono::Duration::days(1));
    let coverage: HashMap<String, prices::Coverage> = prices::coverage(&ctx.pool, &scope.symbols)
        .await?
        .into_iter()
        .map(|c| (c.symbol.clone(), c))
        .collect();
    let tried_this_run: Vec<String> = prices::availability(&ctx.pool, &scope.symbols)
        .await?
        .into_iter()
        .filter(|a| !a.available && a.run_id == Some(ctx.run.id))
        .map(|a| a.symbol)
        .collect();
    let mut cached = 0usize;
    let mut to_fetch = Vec::new();
    for symbol in &scope.symbols {
        let need = if tried_this_run.contains(symbol) {
            Need::KnownUnavailable
        } else {
            need_for(
                coverage.get(symbol),
                first_needed,
                scope.history_start,
                scope.end,
            )
        };
        match need {
            Need::Cached => cached += 1,
            Need::Fetch(s, e) => to_fetch.push((symbol.clone(), s, e)),
            Need::KnownUnavailable => {}
        }
    }
    let mut progress = ctx.start_phase(&PHASE_1, scope.symbols.len()).await?;
    ctx.info(
        &PHASE_1,
        format!(
            "Collecting market data for {} symbols from {} to {}",
            scope.symbols.len(),
            scope.history_start,
            scope.end
        ),
    );
    if cached > 0 {
        ctx.info(
            &PHASE_1,
            format!(
                "{cached} symbols already have prices through {} (cached)",
                scope.end
            ),
        );
    }
    progress
        .advance(scope.symbols.len() - to_fetch.len())
        .await?;

    let provider = ctx.provider.clone();
    let mut results = stream::iter(to_fetch)
        .map(|(symbol, s, e)| {
            let provider = provider.clone();
            async move {
                match provider.daily_history(&symbol, s, e).await {
                    Ok(bars) => Ok(Fetched::Bars(symbol, bars)),
                    Err(ProviderError::NotFound { reason, .. }) => {
                        Ok(Fetched::Unavailable(symbol, reason))
                    }
                    Err(other) => Err((symbol, other)),
                }
            }
        })
        .buffer_unordered(ctx.config.provider_concurrency.max(1));

    let (mut fetched, mut rows, mut unavailable) = (0usize, 0u64, Vec::new());
    while let Some(result) = results.next().await {
        ctx.check_lease()?;
        match result {
            Ok(Fetched::Bars(symbol, bars)) => {
                rows += store(ctx, &symbol, &bars).await?;
                fetched += 1;
                ctx.info(
                    &PHASE_1,
                    format!("Fetched {} daily prices for {symbol}", bars.len()),
                );
            }
            Ok(Fetched::Unavailable(symbol, reason)) => {
                prices::remember_availability(
                    &ctx.pool,
                    &symbol,
                    false,
                    Some(&reason),
                    ctx.provider.name(),
                    ctx.run.id,
                )
                .await?;
                ctx.warn(
                    &PHASE_1,
                    format!(
                        "No market data for {symbol}: {reason}. Its positions are left out of price-based analytics."
                    ),
                );
                unavailable.push(symbol);
            }
            Err((symbol, e)) => {
                return Err(JobError::Retryable(anyhow::anyhow!(
                    "provider {} failed for {symbol}: {e}",
                    ctx.provider.name()
                )))
            }
        }
        progress.advance(1).await?;
    }
    unavailable.sort();
    let secs = started.elapsed().as_secs_f64();
    ctx.info(&PHASE_1, format!(
        "Market Data Collection complete: {} symbols ({fetched} fetched, {cached} cached, {} unavailable), {rows} prices stored in {secs:.1}s",
        scope.symbols.len(), unavailable.len()
    ));
    let status = if unavailable.is_empty() && tried_this_run.is_empty() {
        "completed"
    } else {
        "warning"
    };
    progress
        .finish(status, serde_json::json!({ "symbols": scope.symbols.len(), "fetched": fetched, "cached": cached, "provider_requests": fetched + unavailable.len(), "unavailable": unavailable, "prices_stored": rows }))
        .await
}

/// Stores one symbol's bars in a transaction fenced on the lease, and marks it available.
async fn store(ctx: &RunContext, symbol: &str, bars: &[DailyBar]) -> Result<u64, JobError> {
    let dates: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let volumes: Vec<i64> = bars.iter().map(|b| b.volume).collect();
    let mut tx = ctx.pool.begin().await?;
    let held = runs::hold_fence(&mut tx, ctx.run.id, ctx.attempt()).await?;
    ctx.fenced(held)?;
    let n = prices::upsert_bars(
        &mut tx,
        symbol,
        ctx.provider.name(),
        &dates,
        &closes,
        &volumes,
    )
    .await?;
    prices::remember_availability(
        &mut *tx,
        symbol,
        true,
        None,
        ctx.provider.name(),
        ctx.run.id,
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// The scope's symbols that have market data (not remembered as unavailable).
pub async fn available_symbols(
    ctx: &RunContext,
    scope: &SymbolScope,
) -> Result<Vec<String>, JobError> {
    let unavailable: std::collections::HashSet<String> =
        prices::availability(&ctx.pool, &scope.symbols)
            .await?
            .into_iter()
            .filter(|a| !a.available)
            .map(|a| a.symbol)
            .collect();
    Ok(scope
        .symbols
        .iter()
        .filter(|s| !unavailable.contains(*s))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn cov(first: &str, last: &str) -> prices::Coverage {
        prices::Coverage {
            symbol: "X".into(),
            first_date: d(first),
            last_date: d(last),
            days: 10,
        }
    }

    #[test]
    fn a_symbol_covered_over_the_range_is_cached() {
        let c = cov("2023-01-03", "2024-06-28");
        assert_eq!(
            need_for(Some(&c), d("2023-01-03"), d("2023-01-01"), d("2024-06-28")),
            Need::Cached
        );
    }

    #[test]
    fn a_symbol_behind_fetches_only_the_days_after_its_last_close() {
        let c = cov("2023-01-03", "2024-06-20");
        assert_eq!(
            need_for(Some(&c), d("2023-01-03"), d("2023-01-01"), d("2024-06-28")),
            Need::Fetch(d("2024-06-21"), d("2024-06-28"))
        );
    }

    #[test]
    fn a_symbol_missing_early_history_or_unknown_fetches_the_whole_range_once() {
        let c = cov("2023-06-01", "2024-06-28");
        assert_eq!(
            need_for(Some(&c), d("2023-01-03"), d("2023-01-01"), d("2024-06-28")),
            Need::Fetch(d("2023-01-01"), d("2024-06-28"))
        );
        assert_eq!(
            need_for(None, d("2023-01-03"), d("2023-01-01"), d("2024-06-28")),
            Need::Fetch(d("2023-01-01"), d("2024-06-28"))
        );
    }
}
