//! What several phases load: the symbol scope, the symbols with market data, the aligned
//! price table and snapshot parameters, and the profile sectors.

use super::night_share::Closes;
use crate::context::{JobError, RunContext};
use chrono::NaiveDate;
use sigmasight_shared::analytics::snapshots::PriceTable;
use sigmasight_shared::calendar;
use sigmasight_shared::db::{factors, prices, profiles};
use std::collections::HashMap;
use std::sync::Arc;

/// The symbols a run needs and the date range of their history.
pub struct SymbolScope {
    pub symbols: Vec<String>,
    /// Symbols known to be ETFs or funds (no fundamentals).
    pub funds: Vec<String>,
    /// The earliest history any symbol needs.
    pub history_start: NaiveDate,
    /// Symbols whose own history starts later than `history_start` (a nightly batch: the
    /// earliest entry of the positions holding it, less the lookback).
    pub starts: HashMap<String, NaiveDate>,
    pub end: NaiveDate,
}

impl SymbolScope {
    /// The first date of `symbol`'s history the run needs.
    pub fn start_of(&self, symbol: &str) -> NaiveDate {
        self.starts
            .get(symbol)
            .copied()
            .unwrap_or(self.history_start)
    }
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

/// Loads the closes of `symbols` aligned on the trading days of [start, end].
pub async fn load_prices(
    ctx: &RunContext,
    symbols: &[String],
    start: NaiveDate,
    end: NaiveDate,
) -> Result<PriceTable, JobError> {
    let dates = calendar::trading_days(start, end);
    let index: HashMap<NaiveDate, usize> = dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut closes: HashMap<String, Vec<Option<f64>>> = symbols
        .iter()
        .map(|s| (s.clone(), vec![None; dates.len()]))
        .collect();
    let rows: Vec<(String, Arc<Closes>)> = match ctx.night_batch() {
        Some(parent) => {
            ctx.night
                .closes(&ctx.pool, parent, symbols, start, end)
                .await?
        }
        None => prices::series(&ctx.pool, symbols, start, end)
            .await?
            .into_iter()
            .map(|s| {
                let (symbol, closes) = Closes::of(s);
                (symbol, Arc::new(closes))
            })
            .collect(),
    };
    for (symbol, row) in rows {
        let Some(series) = closes.get_mut(&symbol) else {
            continue;
        };
        for (date, close) in row.dates.iter().zip(&row.closes) {
            if let Some(&i) = index.get(date) {
                series[i] = Some(*close);
            }
        }
    }
    Ok(PriceTable { dates, closes })
}

/// The newest stored beta of each (symbol, factor) of `symbols` on or before `date` (a
/// nightly child shares them with its siblings).
pub async fn latest_betas(
    ctx: &RunContext,
    symbols: &[String],
    date: NaiveDate,
) -> Result<HashMap<(String, String), Option<f64>>, JobError> {
    Ok(match ctx.night_batch() {
        Some(parent) => ctx
            .night
            .betas(&ctx.pool, parent, symbols, date)
            .await?
            .into_iter()
            .flat_map(|(symbol, betas)| {
                betas
                    .iter()
                    .map(|(factor, beta)| ((symbol.clone(), factor.clone()), *beta))
                    .collect::<Vec<_>>()
            })
            .collect(),
        None => factors::latest_betas(&ctx.pool, symbols, date)
            .await?
            .into_iter()
            .map(|(s, f, b)| ((s, f), b))
            .collect(),
    })
}

/// The profile sector of each of `symbols` that has one.
pub async fn sectors(
    ctx: &RunContext,
    symbols: &[String],
) -> Result<HashMap<String, String>, JobError> {
    Ok(profiles::facts(&ctx.pool, symbols)
        .await?
        .into_iter()
        .filter_map(|f| Some((f.symbol, f.sector?)))
        .collect())
}
