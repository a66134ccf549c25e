//! Phase 1 — Market Data Collection. One coverage query for every symbol; only gaps are
//! fetched, with ONE request per (symbol, provider) for its whole missing range, through the
//! provider chain; a symbol no provider has is remembered (reason, time) and not asked again
//! for `SIGMASIGHT_UNAVAILABLE_TTL_HOURS`. A symbol's history comes from one provider: a gap
//! that another provider fills, or a close at the last stored date that moved more than
//! 0.5 % (a split), refetches the whole history from it and replaces the stored one. A nightly
//! batch first asks the bulk endpoints for the new dates of the whole universe
//! ([`night_bulk`]); each symbol is asked from its own start ([`SymbolScope::start_of`]).

mod night_bulk;
mod store;

use store::{restated, store_served};

use super::loaders::SymbolScope;
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use sigmasight_shared::calendar;
use sigmasight_shared::db::{budget, prices};
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::market_data::chain::{ChainError, Served};
use sigmasight_shared::market_data::DailyBar;
use sigmasight_shared::phases::PHASE_1;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// What one symbol needs.
#[derive(Debug, Clone, PartialEq)]
enum Need {
    /// Cache already covers the range.
    Cached,
    /// Ask the chain (one request per provider asked).
    Fetch(Plan),
    /// Remembered as unavailable (by this run, or within the TTL): not asked again.
    KnownUnavailable(Remembered),
}

#[derive(Debug, Clone, PartialEq)]
struct Remembered {
    reason: Option<String>,
    this_run: bool,
}

/// The ranges a symbol's fetch asks for.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    /// The whole range: the earliest of what the run needs and what is stored, to the end.
    start: NaiveDate,
    end: NaiveDate,
    /// Stored rows that only need their gap filled: their provider is asked from the last
    /// stored date on (to check it for a restatement); any other provider, the whole range.
    gap: Option<Gap>,
    /// Rows are stored (from any provider): a whole-range answer replaces them.
    stored: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Gap {
    source: String,
    last_date: NaiveDate,
    last_close: f64,
}

impl Plan {
    fn range_for(&self, provider: &str) -> (NaiveDate, NaiveDate) {
        match &self.gap {
            Some(g) if g.source == provider => (g.last_date, self.end),
            _ => (self.start, self.end),
        }
    }
}

/// The first date the stored rows answer for: their first date, or the start they were last
/// asked from in full when that is earlier (the symbol listed later, or the provider has no
/// older bars: asking again would bring nothing earlier).
fn covered_from(c: &prices::Coverage) -> NaiveDate {
    c.history_from.map_or(c.first_date, |f| f.min(c.first_date))
}

fn need_for(
    cov: Option<&prices::Coverage>,
    first_needed: NaiveDate,
    start: NaiveDate,
    end: NaiveDate,
) -> Need {
    match cov {
        Some(c) if covered_from(c) <= first_needed && c.last_date >= end => Need::Cached,
        Some(c) if covered_from(c) <= first_needed => Need::Fetch(Plan {
            start: c.first_date.min(start),
            end,
            gap: Some(Gap {
                source: c.source.clone(),
                last_date: c.last_date,
                last_close: c.last_close,
            }),
            stored: true,
        }),
        Some(c) => Need::Fetch(Plan {
            start: c.first_date.min(start),
            end,
            gap: None,
            stored: true,
        }),
        None => Need::Fetch(Plan {
            start,
            end,
            gap: None,
            stored: false,
        }),
    }
}

/// What phase 1 did, for its summary.
#[derive(Default)]
struct Tally {
    fetched: usize,
    rows: u64,
    unavailable: Vec<String>,
    undecided: Vec<String>,
    /// Symbols no provider could be asked for (every one refused us or lacks the endpoint).
    refused: Vec<String>,
    /// Symbols waiting for a provider's daily quota, and the earliest reset.
    deferred: Vec<String>,
    resets_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Symbols deferred by an earlier run (asked first; forgotten once served).
    was_deferred: std::collections::HashSet<String>,
    served_by: BTreeMap<&'static str, usize>,
    /// How the fetched symbols came in: a night's bulk requests, or one per symbol.
    ways: night_bulk::Ways,
}

/// The symbols of the run sorted by what phase 1 must do with them.
struct Work {
    /// Symbols whose stored prices already cover the range.
    cached: usize,
    /// Symbols to ask of the chain, with the range each needs.
    to_fetch: Vec<(String, Plan)>,
    /// Symbols remembered as unavailable (within the TTL).
    known: Vec<(String, Remembered)>,
}

/// Runs phase 1: sort the symbols by need, announce, fetch the rest through the chain
/// (`provider_concurrency` at a time), store what was served, and summarise.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let started = Instant::now();
    let work = plan_work(ctx, scope).await?;
    let mut progress = ctx.start_phase(&PHASE_1, scope.symbols.len()).await?;
    let mut tally = Tally {
        was_deferred: budget::deferred(&ctx.pool, &scope.symbols)
            .await?
            .into_iter()
            .collect(),
        ..Tally::default()
    };
    let mut work = work;
    // What waited for a quota goes first: it is the oldest debt.
    work.to_fetch
        .sort_by_key(|(symbol, _)| !tally.was_deferred.contains(symbol));
    announce(ctx, scope, &work, &mut tally);
    night_bulk::fetch(ctx, &mut work.to_fetch, &mut tally).await?;
    tally.ways.per_symbol = work.to_fetch.len();
    progress
        .advance(scope.symbols.len() - work.to_fetch.len())
        .await?;

    let market = ctx.market.clone();
    let mut results = stream::iter(work.to_fetch)
        .map(|(symbol, plan)| {
            let market = market.clone();
            async move {
                let range_plan = plan.clone();
                let answer = market
                    .history(&symbol, move |p| range_plan.range_for(p))
                    .await;
                (symbol, plan, answer)
            }
        })
        .buffer_unordered(ctx.config.provider_concurrency.max(1));
    while let Some((symbol, plan, answer)) = results.next().await {
        ctx.check_lease()?;
        for notice in ctx.market.take_notices() {
            ctx.warn(&PHASE_1, notice);
        }
        record_answer(ctx, &mut tally, symbol, &plan, answer).await?;
        progress.advance(1).await?;
    }
    for notice in ctx.market.take_notices() {
        ctx.warn(&PHASE_1, notice);
    }
    if let Some(reason) = tally.refused.first() {
        // Another attempt would be refused the same way: the run fails now, saying why.
        return Err(JobError::Fatal(anyhow::anyhow!(
            "market data not to be had for {} symbol(s): {}; fix the provider's key or plan (SIGMASIGHT_MARKET_PROVIDER), then retry",
            tally.refused.len(),
            cut(reason, 300)
        )));
    }
    if !tally.undecided.is_empty() {
        // Every symbol that could be fetched is stored: the next attempt asks only for these.
        return Err(JobError::Retryable(anyhow::anyhow!(
            "market data unavailable for now for {} symbol(s): {}",
            tally.undecided.len(),
            cut(&tally.undecided.join("; "), 1000)
        )));
    }
    defer(ctx, &mut tally).await?;
    finish(ctx, scope, progress, tally, work.cached, started).await
}

/// Remembers the symbols that wait for a quota and says so once for the run; the run goes
/// on and ends `partial` (the next run that needs them asks for them first).
async fn defer(ctx: &RunContext, tally: &mut Tally) -> Result<(), JobError> {
    let Some(resets_at) = tally.resets_at else {
        return Ok(());
    };
    tally.deferred.sort();
    budget::defer(&ctx.pool, &tally.deferred, resets_at, ctx.run.id).await?;
    let shown: Vec<&str> = tally.deferred.iter().take(10).map(String::as_str).collect();
    let more = tally.deferred.len().saturating_sub(shown.len());
    let when = resets_at.format("%Y-%m-%d %H:%M UTC");
    ctx.warn(
        &PHASE_1,
        format!(
            "Prices of {} symbol(s) deferred: the providers' daily quotas are spent until {when}; they are fetched first by the next run after that ({}{})",
            tally.deferred.len(),
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ),
    );
    ctx.note_gap(format!(
        "prices of {} symbol(s) deferred until {when} (daily quota spent)",
        tally.deferred.len()
    ));
    Ok(())
}

/// Sorts the run's symbols: cached, to fetch (with their ranges) or known unavailable.
async fn plan_work(ctx: &RunContext, scope: &SymbolScope) -> Result<Work, JobError> {
    let coverage: HashMap<String, prices::Coverage> = prices::coverage(&ctx.pool, &scope.symbols)
        .await?
        .into_iter()
        .map(|c| (c.symbol.clone(), c))
        .collect();
    let remembered: HashMap<String, Remembered> = prices::recently_unavailable(
        &ctx.pool,
        &scope.symbols,
        ctx.config.market.unavailable_ttl(),
    )
    .await?
    .into_iter()
    .map(|a| {
        let this_run = a.run_id == Some(ctx.run.id);
        (
            a.symbol,
            Remembered {
                reason: a.reason,
                this_run,
            },
        )
    })
    .collect();
    let mut work = Work {
        cached: 0,
        to_fetch: Vec::new(),
        known: Vec::new(),
    };
    for symbol in &scope.symbols {
        let start = scope.start_of(symbol);
        let first_needed = calendar::next_trading_day(start - chrono::Duration::days(1));
        let need = match remembered.get(symbol) {
            Some(r) => Need::KnownUnavailable(r.clone()),
            None => need_for(coverage.get(symbol), first_needed, start, scope.end),
        };
        match need {
            Need::Cached => work.cached += 1,
            Need::Fetch(plan) => work.to_fetch.push((symbol.clone(), plan)),
            Need::KnownUnavailable(r) => work.known.push((symbol.clone(), r)),
        }
    }
    Ok(work)
}

/// The phase's opening lines, and one warning per symbol known to be unavailable.
fn announce(ctx: &RunContext, scope: &SymbolScope, work: &Work, tally: &mut Tally) {
    ctx.info(
        &PHASE_1,
        format!(
            "Collecting market data for {} symbols from {} to {} ({})",
            scope.symbols.len(),
            scope.history_start,
            scope.end,
            ctx.market.chain().describe()
        ),
    );
    if work.cached > 0 {
        ctx.info(
            &PHASE_1,
            format!(
                "{} symbols already have prices through {} (cached)",
                work.cached, scope.end
            ),
        );
    }
    for (symbol, r) in &work.known {
        // One warning per unavailable symbol per run: an earlier attempt of this run gave it.
        if !r.this_run {
            ctx.warn(
                &PHASE_1,
                format!(
                    "{symbol}: Symbol unavailable ({}; not asked again for {} h)",
                    r.reason.as_deref().unwrap_or("no provider has it"),
                    ctx.config.market.unavailable_ttl_hours
                ),
            );
        }
        tally.unavailable.push(symbol.clone());
    }
}

/// Stores, remembers or notes one symbol's answer from the chain.
async fn record_answer(
    ctx: &RunContext,
    tally: &mut Tally,
    symbol: String,
    plan: &Plan,
    answer: Result<Served<Vec<DailyBar>>, ChainError>,
) -> Result<(), JobError> {
    match answer {
        Ok(served) => {
            let rows = store_served(ctx, &symbol, plan, served).await?;
            if tally.was_deferred.contains(&symbol) {
                budget::undefer(&ctx.pool, &symbol).await?;
            }
            tally.rows += rows.rows;
            tally.fetched += 1;
            *tally.served_by.entry(rows.provider).or_default() += 1;
        }
        Err(ChainError::Unavailable { reason, asked }) => {
            prices::remember_availability(
                &ctx.pool,
                &symbol,
                false,
                Some(&cut(&reason, 500)),
                &asked.join(","),
                ctx.run.id,
            )
            .await?;
            ctx.warn(
                &PHASE_1,
                format!(
                    "{symbol}: Symbol unavailable (delisted or unknown to {})",
                    asked.join(", ")
                ),
            );
            tally.unavailable.push(symbol);
        }
        Err(ChainError::Undecided(reason)) => {
            ctx.debug(
                &PHASE_1,
                format!("{symbol}: no answer: {}", cut(&reason, 500)),
            );
            tally
                .undecided
                .push(format!("{symbol} ({})", cut(&reason, 300)));
        }
        Err(ChainError::Refused { reason, .. }) => {
            ctx.debug(
                &PHASE_1,
                format!(
                    "{symbol}: no provider could be asked: {}",
                    cut(&reason, 500)
                ),
            );
            tally.refused.push(reason);
        }
        Err(ChainError::Deferred { reason, resets_at }) => {
            ctx.debug(
                &PHASE_1,
                format!(
                    "{symbol}: deferred until {resets_at}: {}",
                    cut(&reason, 500)
                ),
            );
            tally.deferred.push(symbol);
            tally.resets_at = Some(tally.resets_at.map_or(resets_at, |r| r.min(resets_at)));
        }
        Err(e @ ChainError::Unsupported { .. }) => return Err(JobError::Fatal(e.into())),
    }
    Ok(())
}

async fn finish(
    ctx: &RunContext,
    scope: &SymbolScope,
    progress: crate::context::PhaseProgress<'_>,
    mut tally: Tally,
    cached: usize,
    started: Instant,
) -> Result<(), JobError> {
    tally.unavailable.sort();
    let secs = started.elapsed().as_secs_f64();
    let requests = ctx.market.requests();
    let by: Vec<String> = requests.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let ways = &tally.ways;
    ctx.info(&PHASE_1, format!(
        "Market Data Collection complete: {} symbols ({} fetched, {cached} cached, {} unavailable; {} by bulk, {} asked per symbol), {} prices stored in {secs:.1}s; provider requests: {}",
        scope.symbols.len(), tally.fetched, tally.unavailable.len(), ways.bulk, ways.per_symbol, tally.rows,
        if by.is_empty() { "none".to_owned() } else { by.join(", ") }
    ));
    let status = PhaseStatus::finished(!tally.unavailable.is_empty() || !tally.deferred.is_empty());
    progress
        .finish(
            status,
            serde_json::json!({
                "symbols": scope.symbols.len(),
                "fetched": tally.fetched,
                "cached": cached,
                "provider_requests": requests.values().sum::<u64>(),
                "requests_by_provider": requests,
                "served_by": tally.served_by,
                "by_way": {
                    "bulk": tally.ways.bulk,
                    "bulk_requests": tally.ways.bulk_requests,
                    "per_symbol": tally.ways.per_symbol,
                    "cached": cached,
                },
                "unavailable": tally.unavailable,
                "deferred": tally.deferred,
                "quota_resets_at": tally.resets_at,
                "prices_stored": tally.rows,
            }),
        )
        .await
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
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
            source: "fmp".into(),
            last_close: 100.0,
            history_from: None,
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
    fn a_gap_asks_its_provider_from_the_last_stored_date_and_others_for_everything() {
        let c = cov("2023-01-03", "2024-06-20");
        let Need::Fetch(plan) =
            need_for(Some(&c), d("2023-01-03"), d("2023-01-01"), d("2024-06-28"))
        else {
            panic!("a gap is fetched")
        };
        assert_eq!(plan.range_for("fmp"), (d("2024-06-20"), d("2024-06-28")));
        assert_eq!(
            plan.range_for("polygon"),
            (d("2023-01-01"), d("2024-06-28"))
        );
        assert!(plan.stored);
    }

    #[test]
    fn a_symbol_missing_early_history_or_unknown_fetches_the_whole_range_once() {
        let c = cov("2023-06-01", "2024-06-28");
        let Need::Fetch(plan) =
            need_for(Some(&c), d("2023-01-03"), d("2023-01-01"), d("2024-06-28"))
        else {
            panic!("missing history is fetched")
        };
        assert_eq!(plan.range_for("fmp"), (d("2023-01-01"), d("2024-06-28")));
        assert!(plan.stored && plan.gap.is_none());
        let Need::Fetch(plan) = need_for(None, d("2023-01-03"), d("2023-01-01"), d("2024-06-28"))
        else {
            panic!("an unknown symbol is fetched")
        };
        assert_eq!(plan.range_for("yahoo"), (d("2023-01-01"), d("2024-06-28")));
        assert!(!plan.stored);
    }

    #[test]
    fn a_symbol_held_since_later_than_the_universe_asks_only_its_gap_from_its_own_start() {
        // Fetched from its own start (entry less the lookback) and one night behind.
        let c = cov("2025-10-01", "2026-11-27");
        let own = need_for(Some(&c), d("2025-10-01"), d("2025-10-01"), d("2026-11-30"));
        let Need::Fetch(plan) = own else {
            panic!("a gap is fetched")
        };
        assert_eq!(plan.range_for("fmp"), (d("2026-11-27"), d("2026-11-30")));
        // From the universe's earliest start the same rows looked short: the whole history.
        let universe = need_for(Some(&c), d("2023-01-03"), d("2023-01-01"), d("2026-11-30"));
        let Need::Fetch(plan) = universe else {
            panic!("missing history is fetched")
        };
        assert_eq!(plan.range_for("fmp"), (d("2023-01-01"), d("2026-11-30")));
    }

    #[test]
    fn a_symbol_that_listed_after_the_start_it_was_asked_from_only_asks_its_gap() {
        // Asked from 2025-01-02 in full; the provider's first bar was 2025-06-16 (an IPO).
        let mut c = cov("2025-06-16", "2026-11-27");
        let (first_needed, start, end) = (d("2025-01-02"), d("2025-01-01"), d("2026-11-30"));
        assert!(
            matches!(
                need_for(Some(&c), first_needed, start, end),
                Need::Fetch(Plan { gap: None, .. })
            ),
            "not knowing where it was asked from: the whole range"
        );
        c.history_from = Some(d("2025-01-01"));
        let Need::Fetch(plan) = need_for(Some(&c), first_needed, start, end) else {
            panic!("a gap is fetched")
        };
        assert_eq!(plan.range_for("fmp"), (d("2026-11-27"), d("2026-11-30")));
        c.last_date = d("2026-11-30");
        assert_eq!(need_for(Some(&c), first_needed, start, end), Need::Cached);
        // Asked from later than the run now needs (a new position entered earlier): whole.
        c.history_from = Some(d("2025-03-01"));
        assert!(matches!(
            need_for(Some(&c), first_needed, start, end),
            Need::Fetch(Plan { gap: None, .. })
        ));
    }
}
