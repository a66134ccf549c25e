//! What the symbol-level phases share: the work list (cached symbols cost nothing and are
//! logged once) and the price table for the calculation date.

use super::loaders::load_prices;
use crate::context::{JobError, PhaseProgress, RunContext};
use chrono::NaiveDate;
use sigmasight_shared::analytics::snapshots::PriceTable;
use sigmasight_shared::domain::FACTOR_ETFS;
use sigmasight_shared::market_data::chain::ChainError;
use sigmasight_shared::market_data::DataKind;
use sigmasight_shared::phases::PhaseDef;

/// Calendar days of closes loaded for symbol analytics (180 returns and 1-year returns).
pub const ANALYTICS_LOOKBACK_DAYS: i64 = 400;

/// Symbols a phase must compute, after counting the cached ones as done.
pub struct WorkList<'a> {
    pub todo: Vec<String>,
    pub progress: PhaseProgress<'a>,
}

/// Starts `phase` over `symbols`; those in `done` are cached and counted at once.
pub async fn start<'a>(
    ctx: &'a RunContext,
    phase: &'static PhaseDef,
    symbols: &[String],
    done: &[String],
    date: NaiveDate,
) -> Result<WorkList<'a>, JobError> {
    let todo: Vec<String> = symbols
        .iter()
        .filter(|s| !done.contains(s))
        .cloned()
        .collect();
    let mut progress = ctx.start_phase(phase, symbols.len()).await?;
    let cached = symbols.len() - todo.len();
    if cached > 0 {
        ctx.info(
            phase,
            format!(
                "{cached} of {} symbols already done for {date} (cached)",
                symbols.len()
            ),
        );
    }
    progress.advance(cached).await?;
    Ok(WorkList { todo, progress })
}

/// Closes of `symbols` and the factor ETFs up to `end`, and the index of `end` in the table.
pub async fn price_table(
    ctx: &RunContext,
    symbols: &[String],
    end: NaiveDate,
) -> Result<(PriceTable, Option<usize>), JobError> {
    let mut all: Vec<String> = symbols.to_vec();
    all.extend(FACTOR_ETFS.iter().map(|s| (*s).to_owned()));
    all.sort();
    all.dedup();
    let table = load_prices(
        ctx,
        &all,
        end - chrono::Duration::days(ANALYTICS_LOOKBACK_DAYS),
        end,
    )
    .await?;
    let idx = table.dates.iter().rposition(|d| *d <= end);
    Ok((table, idx))
}

/// Data of `kind` no provider could serve now for `symbols` (each with why), said once for the
/// phase: one warning naming the symbols and the first reason, and a gap that makes the run
/// end `partial`. Nothing is remembered as missing: the next run asks again.
pub fn not_to_be_had(
    ctx: &RunContext,
    phase: &PhaseDef,
    kind: DataKind,
    symbols: &[(String, String)],
    left_empty: &str,
) -> bool {
    let Some((_, reason)) = symbols.first() else {
        return false;
    };
    let names: Vec<&str> = symbols.iter().map(|(s, _)| s.as_str()).collect();
    let shown = names
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = names.len().saturating_sub(10);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    ctx.warn(
        phase,
        format!(
            "{} not to be had now for {} symbol(s) ({shown}{more}): {reason}; {left_empty} (asked again next run)",
            capitalised(kind.noun()),
            names.len(),
        ),
    );
    ctx.note_gap(format!(
        "{} for {} symbol(s) ({reason})",
        kind.noun(),
        names.len()
    ));
    true
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Why profiles or fundamentals are not to be had now, when that is the chain's answer (a
/// provider failing transiently, every one refused, every quota spent): the run goes on
/// without them (only prices decide whether it is retried). `None`: a verdict (no provider
/// has them), remembered as a miss.
pub fn not_now(e: &ChainError) -> Option<String> {
    match e {
        ChainError::Undecided(reason) => Some(reason.clone()),
        ChainError::Deferred { resets_at, .. } => Some(format!(
            "the providers' daily quotas are spent until {}",
            resets_at.format("%Y-%m-%d %H:%M UTC")
        )),
        // The refusal itself was said once, in the feed, when it happened.
        ChainError::Refused { skipped, .. } => Some(format!(
            "no provider left to ask ({} skipped for this run)",
            skipped.join(", ")
        )),
        ChainError::Unavailable { .. } | ChainError::Unsupported { .. } => None,
    }
}
