//! A night's bulk fetch: before phase 1 asks per symbol, a nightly batch asks each provider
//! with a bulk endpoint (Polygon's grouped daily) for the new dates' bars of every symbol whose
//! stored history came from it and only lacks those dates: ONE request per (provider, date),
//! plus one for the last stored date, whose close is checked against the stored one (the
//! restatement rule of phase 1). A symbol fully covered, with an agreeing close, is stored here
//! exactly as the per-symbol path stores a gap; every other one (missing from the answer, a
//! close that moved, a failed bulk request) is left to the per-symbol fetch.
//!
//! What this module must not know: how the chain retries or limits a request (the chain's
//! `grouped_daily` goes through the same machinery as every other request).

use super::{cut, restated, Plan, Tally};
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use sigmasight_shared::calendar;
use sigmasight_shared::db::prices;
use sigmasight_shared::domain::RunKind;
use sigmasight_shared::market_data::{DailyBar, DataKind};
use sigmasight_shared::phases::PHASE_1;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// New dates a symbol may lack and still come by bulk (a week of missed nights); a longer gap
/// is one per-symbol request for the whole of it.
const MAX_BULK_DATES: usize = 5;

/// How phase 1's fetched symbols came in, for its summary.
#[derive(Debug, Default)]
pub(super) struct Ways {
    /// Symbols stored from bulk answers.
    pub bulk: usize,
    /// Bulk questions asked (each retried like any request; none of a provider skipped).
    pub bulk_requests: usize,
    /// Symbols asked of the chain one by one.
    pub per_symbol: usize,
}

/// A symbol the bulk answers may serve: its provider, and the stored row to check.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    symbol: String,
    source: String,
    last_date: NaiveDate,
    last_close: f64,
    new_dates: Vec<NaiveDate>,
}

impl Candidate {
    /// The bulk answers it needs: its last stored date, then its new dates.
    fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        std::iter::once(self.last_date).chain(self.new_dates.iter().copied())
    }
}

/// One (provider, date)'s bars, by symbol.
type Answers = HashMap<(String, NaiveDate), HashMap<String, DailyBar>>;

/// Asks the bulk endpoints for what they can serve of `to_fetch`, stores it, and leaves in
/// `to_fetch` only the symbols still to ask per symbol. Only a nightly batch's parent does
/// this (and not with `SIGMASIGHT_NIGHT_BULK=off`).
pub(super) async fn fetch(
    ctx: &RunContext,
    to_fetch: &mut Vec<(String, Plan)>,
    tally: &mut Tally,
) -> Result<(), JobError> {
    if ctx.run.kind != RunKind::Daily || ctx.config.night_bulk != "on" {
        return Ok(());
    }
    let bulk: Vec<&'static str> = ctx
        .market
        .chain()
        .members()
        .iter()
        .filter(|m| m.provider().serves(DataKind::DailyBulk))
        .map(|m| m.name())
        .collect();
    let candidates = candidates(to_fetch, &bulk);
    if candidates.is_empty() {
        return Ok(());
    }
    let answers = ask(ctx, &candidates, tally).await?;
    let (served, moved) = covered(&candidates, &answers);
    if moved > 0 {
        ctx.debug(
            &PHASE_1,
            format!("{moved} symbols' stored close disagrees with the bulk answer: asked per symbol (a restatement)"),
        );
    }
    if served.is_empty() {
        return Ok(());
    }
    let rows = store(ctx, &served).await?;
    let done: HashSet<&str> = served.iter().map(|s| s.symbol.as_str()).collect();
    to_fetch.retain(|(s, _)| !done.contains(s.as_str()));
    for s in &served {
        let provider = bulk.iter().find(|p| **p == s.source).copied();
        *tally.served_by.entry(provider.unwrap_or("?")).or_default() += 1;
    }
    tally.fetched += served.len();
    tally.rows += rows;
    tally.ways.bulk += served.len();
    let dates: BTreeSet<NaiveDate> = served
        .iter()
        .flat_map(|s| s.bars.iter().map(|b| b.date))
        .collect();
    let dates: Vec<String> = dates.iter().map(ToString::to_string).collect();
    let from: BTreeSet<&str> = served.iter().map(|s| s.source.as_str()).collect();
    ctx.info(
        &PHASE_1,
        format!(
            "Fetched {} symbols' closes of {} in {} bulk requests ({}); {} symbols left to ask one by one",
            served.len(),
            dates.join(", "),
            tally.ways.bulk_requests,
            from.into_iter().collect::<Vec<_>>().join(", "),
            to_fetch.len()
        ),
    );
    Ok(())
}

/// The symbols whose need is only new dates from a provider with a bulk endpoint, kept only
/// where every bulk request they need serves at least two of them (else one per-symbol
/// request is as cheap).
fn candidates(to_fetch: &[(String, Plan)], bulk: &[&str]) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = to_fetch
        .iter()
        .filter_map(|(symbol, plan)| {
            let g = plan.gap.as_ref()?;
            if !bulk.contains(&g.source.as_str()) {
                return None;
            }
            let new_dates = calendar::trading_days(g.last_date.succ_opt()?, plan.end);
            (!new_dates.is_empty() && new_dates.len() <= MAX_BULK_DATES).then(|| Candidate {
                symbol: symbol.clone(),
                source: g.source.clone(),
                last_date: g.last_date,
                last_close: g.last_close,
                new_dates,
            })
        })
        .collect();
    loop {
        let mut demand: HashMap<(&str, NaiveDate), usize> = HashMap::new();
        for c in &candidates {
            for d in c.dates() {
                *demand.entry((c.source.as_str(), d)).or_default() += 1;
            }
        }
        let keep: Vec<bool> = candidates
            .iter()
            .map(|c| c.dates().all(|d| demand[&(c.source.as_str(), d)] >= 2))
            .collect();
        if keep.iter().all(|k| *k) {
            return candidates;
        }
        let mut keep = keep.into_iter();
        candidates.retain(|_| keep.next().unwrap_or(false));
    }
}

/// One bulk request per (provider, date) the candidates need, for the symbols needing it. A
/// failed one is noted at debug level (the chain announces a breaker it opens): its symbols go
/// per symbol.
async fn ask(
    ctx: &RunContext,
    candidates: &[Candidate],
    tally: &mut Tally,
) -> Result<Answers, JobError> {
    let mut wanted: BTreeMap<(String, NaiveDate), BTreeSet<String>> = BTreeMap::new();
    for c in candidates {
        for d in c.dates() {
            wanted
                .entry((c.source.clone(), d))
                .or_default()
                .insert(c.symbol.clone());
        }
    }
    let mut answers = Answers::new();
    for ((source, date), symbols) in wanted {
        ctx.check_lease()?;
        if ctx
            .market
            .open_reason(&source, DataKind::DailyBulk)
            .is_some()
        {
            // Its plan lacks the endpoint (said once by the chain): not asked again.
            continue;
        }
        tally.ways.bulk_requests += 1;
        let symbols: Arc<[String]> = symbols.into_iter().collect();
        match ctx.market.grouped_daily(&source, date, symbols).await {
            Ok(served) => {
                answers.insert((source, date), served.value.into_iter().collect());
            }
            Err(e) => ctx.debug(
                &PHASE_1,
                format!(
                    "{source}: no bulk answer for {date} ({}); its symbols are asked one by one",
                    cut(&e.to_string(), 300)
                ),
            ),
        }
    }
    Ok(answers)
}

/// A symbol the bulk answers cover: the bars of its new dates.
#[derive(Debug, Clone, PartialEq)]
struct Covered {
    symbol: String,
    source: String,
    bars: Vec<DailyBar>,
}

/// The candidates whose every new date is answered and whose close at the last stored date
/// agrees with the stored one; and how many disagreed (restated: left to the per-symbol path).
fn covered(candidates: &[Candidate], answers: &Answers) -> (Vec<Covered>, usize) {
    let bar = |c: &Candidate, d: NaiveDate| -> Option<DailyBar> {
        answers.get(&(c.source.clone(), d))?.get(&c.symbol).copied()
    };
    let mut moved = 0;
    let mut served = Vec::new();
    for c in candidates {
        let Some(last) = bar(c, c.last_date) else {
            continue;
        };
        if restated(last.close, c.last_close) {
            moved += 1;
            continue;
        }
        let bars: Option<Vec<DailyBar>> = c.new_dates.iter().map(|d| bar(c, *d)).collect();
        if let Some(bars) = bars {
            served.push(Covered {
                symbol: c.symbol.clone(),
                source: c.source.clone(),
                bars,
            });
        }
    }
    (served, moved)
}

/// Stores the covered symbols' bars, per provider one statement, and marks them available, in
/// one transaction fenced on the lease: the rows the per-symbol path writes for a gap.
async fn store(ctx: &RunContext, served: &[Covered]) -> Result<u64, JobError> {
    let mut by_source: BTreeMap<&str, Vec<&Covered>> = BTreeMap::new();
    for s in served {
        by_source.entry(s.source.as_str()).or_default().push(s);
    }
    let mut tx = ctx.begin_fenced().await?;
    let mut rows = 0;
    for (source, served) in by_source {
        let bars = served
            .iter()
            .flat_map(|s| s.bars.iter().map(move |b| (s, b)));
        let (mut symbols, mut dates, mut closes, mut volumes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (s, b) in bars {
            symbols.push(s.symbol.clone());
            dates.push(b.date);
            closes.push(b.close);
            volumes.push(b.volume);
        }
        rows += prices::upsert_bars_of_many(&mut tx, source, &symbols, &dates, &closes, &volumes)
            .await?;
        let names: Vec<String> = served.iter().map(|s| s.symbol.clone()).collect();
        prices::remember_available(&mut *tx, &names, source, ctx.run.id).await?;
    }
    tx.commit().await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::super::Gap;
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn gap(symbol: &str, source: &str, last: &str, end: &str) -> (String, Plan) {
        let plan = Plan {
            start: d("2025-01-02"),
            end: d(end),
            gap: Some(Gap {
                source: source.into(),
                last_date: d(last),
                last_close: 100.0,
            }),
            stored: true,
        };
        (symbol.into(), plan)
    }

    fn names(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|c| c.symbol.as_str()).collect()
    }

    #[test]
    fn only_gaps_of_a_few_new_dates_from_a_bulk_provider_shared_by_two_symbols_come_by_bulk() {
        let mut whole = gap("WHOLE", "polygon", "2026-11-25", "2026-11-30");
        whole.1.gap = None;
        let to_fetch = vec![
            gap("A", "polygon", "2026-11-27", "2026-11-30"),
            gap("B", "polygon", "2026-11-27", "2026-11-30"),
            // Its own last date is asked for nobody else: per symbol is as cheap.
            gap("LONE", "polygon", "2026-11-20", "2026-11-30"),
            gap("FMP", "fmp", "2026-11-27", "2026-11-30"),
            gap("OLD", "polygon", "2026-10-01", "2026-11-30"),
            whole,
        ];
        let c = candidates(&to_fetch, &["polygon"]);
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(c[0].new_dates, [d("2026-11-30")], "the weekend is no date");
        assert_eq!(
            c[0].dates().collect::<Vec<_>>(),
            [d("2026-11-27"), d("2026-11-30")]
        );
        assert!(candidates(&to_fetch, &[]).is_empty());
    }

    #[test]
    fn a_symbol_is_covered_only_with_every_new_date_and_an_agreeing_last_close() {
        let to_fetch: Vec<(String, Plan)> = ["OK", "MOVED", "NEWLESS", "ABSENT"]
            .iter()
            .map(|s| gap(s, "polygon", "2026-11-27", "2026-11-30"))
            .collect();
        let c = candidates(&to_fetch, &["polygon"]);
        let bar = |date: &str, close: f64| DailyBar {
            date: d(date),
            close,
            volume: 7,
        };
        let last: HashMap<String, DailyBar> = [("OK", 100.2), ("MOVED", 50.0), ("NEWLESS", 100.0)]
            .iter()
            .map(|(s, c)| ((*s).to_owned(), bar("2026-11-27", *c)))
            .collect();
        let new: HashMap<String, DailyBar> = [("OK", 101.0), ("MOVED", 51.0)]
            .iter()
            .map(|(s, c)| ((*s).to_owned(), bar("2026-11-30", *c)))
            .collect();
        let answers: Answers = HashMap::from([
            (("polygon".to_owned(), d("2026-11-27")), last),
            (("polygon".to_owned(), d("2026-11-30")), new),
        ]);
        let (served, moved) = covered(&c, &answers);
        assert_eq!(
            served,
            vec![Covered {
                symbol: "OK".into(),
                source: "polygon".into(),
                bars: vec![bar("2026-11-30", 101.0)],
            }]
        );
        assert_eq!(moved, 1, "MOVED halved: a split, refetched per symbol");
        let without_new: Answers = answers
            .into_iter()
            .filter(|((_, date), _)| *date == d("2026-11-27"))
            .collect();
        assert!(
            covered(&c, &without_new).0.is_empty(),
            "a failed request covers nobody"
        );
    }
}
