//! Phase 1's writes: what the chain served for one symbol — a gap's new days, or a whole
//! history replacing the stored one (another provider, or a restatement) — stored fenced on
//! the lease, with the portfolios holding a restated symbol marked to recompute.

use super::Plan;
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use sigmasight_shared::db::{portfolios, prices};
use sigmasight_shared::market_data::chain::Served;
use sigmasight_shared::market_data::DailyBar;
use sigmasight_shared::phases::PHASE_1;
use std::collections::BTreeMap;

/// A close that moved more than this against the stored one means the past was restated.
const RESTATEMENT_TOLERANCE: f64 = 0.005;

/// What one symbol's answer stored.
pub(super) struct Stored {
    pub(super) provider: &'static str,
    pub(super) rows: u64,
}

/// Stores what the chain served: a gap's new days, or a whole history that replaces the
/// stored one (another provider, or a restatement found at the last stored date).
pub(super) async fn store_served(
    ctx: &RunContext,
    symbol: &str,
    plan: &Plan,
    served: Served<Vec<DailyBar>>,
) -> Result<Stored, JobError> {
    let provider = served.provider;
    let gap = plan.gap.as_ref().filter(|g| g.source == provider);
    let (bars, replace) = match gap {
        Some(g) => {
            match served.value.iter().find(|b| b.date == g.last_date) {
                Some(b) if restated(b.close, g.last_close) => {
                    ctx.info(
                    &PHASE_1,
                    format!("{symbol}: history restated by {provider} (split or adjustment), refetched"),
                );
                    match ctx
                        .market
                        .history_from(provider, symbol, plan.start, plan.end)
                        .await
                    {
                        Ok(whole) => (whole.value, true),
                        Err(e) => {
                            return Err(JobError::Retryable(anyhow::anyhow!(
                                "{symbol}: refetching the restated history from {provider}: {e}"
                            )))
                        }
                    }
                }
                _ => (
                    served
                        .value
                        .into_iter()
                        .filter(|b| b.date > g.last_date)
                        .collect(),
                    false,
                ),
            }
        }
        None => {
            if let Some(g) = &plan.gap {
                ctx.info(
                    &PHASE_1,
                    format!(
                        "{symbol}: stored history came from {}; the whole range was fetched again from {provider}",
                        g.source
                    ),
                );
            }
            (served.value, plan.stored)
        }
    };
    // A whole-range answer (not a gap's new days) says where the history starts.
    let whole = (replace || !plan.stored).then_some(plan.start);
    let rows = store(ctx, symbol, provider, &bars, replace, whole).await?;
    ctx.info(
        &PHASE_1,
        format!(
            "Fetched {symbol}: {} days of history ({provider})",
            bars.len()
        ),
    );
    Ok(Stored { provider, rows })
}

/// Whether a served close differs from the stored one by more than the tolerance (a split or
/// an adjustment restated the past).
pub(super) fn restated(served: f64, stored: f64) -> bool {
    !(stored > 0.0 && ((served - stored) / stored).abs() <= RESTATEMENT_TOLERANCE)
}

/// Stores one symbol's bars in a transaction fenced on the lease, and marks it available (a
/// whole-range answer: asked from `asked_from`).
/// A replacement finds the first date whose close changed and marks the portfolios holding
/// the symbol to recompute their snapshots from there.
async fn store(
    ctx: &RunContext,
    symbol: &str,
    provider: &str,
    bars: &[DailyBar],
    replace: bool,
    asked_from: Option<NaiveDate>,
) -> Result<u64, JobError> {
    let dates: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let volumes: Vec<i64> = bars.iter().map(|b| b.volume).collect();
    let mut tx = ctx.begin_fenced().await?;
    let n = if replace {
        let (first, last) = (
            NaiveDate::from_ymd_opt(1800, 1, 1).unwrap_or_default(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default(),
        );
        let old = prices::closes(&mut *tx, &[symbol.to_owned()], first, last).await?;
        let n = prices::replace_bars(&mut tx, symbol, provider, &dates, &closes, &volumes).await?;
        if let Some(from) = first_change(&old, bars) {
            let marked = portfolios::mark_recompute(&mut *tx, symbol, from).await?;
            if marked > 0 {
                ctx.debug(
                    &PHASE_1,
                    format!("{symbol}: closes changed from {from}; {marked} portfolio(s) recompute their snapshots from there"),
                );
            }
        }
        n
    } else {
        prices::upsert_bars(&mut tx, symbol, provider, &dates, &closes, &volumes).await?
    };
    prices::remember_availability(&mut *tx, symbol, true, None, provider, ctx.run.id).await?;
    if let Some(start) = asked_from {
        prices::remember_history_from(&mut *tx, symbol, start).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// The first date, within the old history's range, whose close differs (or appeared or
/// disappeared) between the old rows and the new bars.
fn first_change(old: &[prices::Close], new: &[DailyBar]) -> Option<NaiveDate> {
    let (first, last) = (old.first()?.price_date, old.last()?.price_date);
    let old: BTreeMap<NaiveDate, f64> = old.iter().map(|c| (c.price_date, c.close)).collect();
    let new: BTreeMap<NaiveDate, f64> = new
        .iter()
        .filter(|b| b.date >= first && b.date <= last)
        .map(|b| (b.date, b.close))
        .collect();
    let dates: std::collections::BTreeSet<NaiveDate> =
        old.keys().chain(new.keys()).copied().collect();
    dates.into_iter().find(|d| match (old.get(d), new.get(d)) {
        (Some(a), Some(b)) => (a - b).abs() > 1e-9 * a.abs().max(1.0),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_close_moved_more_than_half_a_percent_is_a_restatement() {
        assert!(!restated(100.4, 100.0));
        assert!(!restated(99.6, 100.0));
        assert!(restated(100.6, 100.0));
        assert!(restated(50.0, 100.0), "a 2:1 split");
        assert!(restated(f64::NAN, 100.0));
    }

    #[test]
    fn the_first_change_is_found_inside_the_old_range_only() {
        let old: Vec<prices::Close> = [
            ("2024-01-02", 10.0),
            ("2024-01-03", 11.0),
            ("2024-01-04", 12.0),
        ]
        .iter()
        .map(|(dd, c)| prices::Close {
            symbol: "X".into(),
            price_date: d(dd),
            close: *c,
        })
        .collect();
        let bar = |dd: &str, close: f64| DailyBar {
            date: d(dd),
            close,
            volume: 0,
        };
        let same = vec![
            bar("2024-01-02", 10.0),
            bar("2024-01-03", 11.0),
            bar("2024-01-04", 12.0),
            bar("2024-01-05", 13.0),
        ];
        assert_eq!(first_change(&old, &same), None, "new days are not changes");
        let split = vec![
            bar("2024-01-02", 10.0),
            bar("2024-01-03", 5.5),
            bar("2024-01-04", 6.0),
        ];
        assert_eq!(first_change(&old, &split), Some(d("2024-01-03")));
        let missing = vec![bar("2024-01-02", 10.0), bar("2024-01-04", 12.0)];
        assert_eq!(first_change(&old, &missing), Some(d("2024-01-03")));
    }
}
