//! The portfolio a run works on: its positions, the symbols they need, the date range.

use super::loaders::load_prices;
use crate::context::{JobError, RunContext};
use anyhow::anyhow;
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use sigmasight_shared::analytics::risk::PRICE_LOOKBACK_DAYS as RISK_LOOKBACK_DAYS;
use sigmasight_shared::analytics::snapshots::{
    PositionInput, PriceTable, PriorSnapshot, SnapshotParams,
};
use sigmasight_shared::calendar;
use sigmasight_shared::db::{
    portfolios,
    positions::{self, Position},
};
use sigmasight_shared::db::{prices, snapshots};
use sigmasight_shared::domain::RunKind;
use sigmasight_shared::domain::{InvestmentClass, FACTOR_ETFS};
use sigmasight_shared::queue::daily::BatchParams;
use std::collections::HashMap;
use uuid::Uuid;

/// Calendar days of price history fetched before the earliest entry date.
pub const LOOKBACK_DAYS: i64 = 365;
/// Calendar days of closes phases 3 and 4 read before their first day (63 returns for an
/// option's volatility, and the newest close within the stale-price window).
pub const SNAPSHOT_LOOKBACK_DAYS: i64 = 120;

/// A loaded portfolio and its date range.
pub struct PortfolioScope {
    pub portfolio: portfolios::Portfolio,
    pub positions: Vec<Position>,
    /// Symbols with market data needed: position symbols (underlyings for options) + factor ETFs.
    pub symbols: Vec<String>,
    /// First day of price history wanted (earliest entry − lookback).
    pub history_start: NaiveDate,
    /// Earliest entry date.
    pub first_entry: NaiveDate,
    /// The last trading day (the run's calculation date).
    pub end: NaiveDate,
    /// Trading days that get a snapshot (all from the earliest entry for an onboarding; the
    /// missing ones for a daily run; the requested range for a forced rerun).
    pub days: Vec<NaiveDate>,
    /// The snapshot just before `days`, which the equity roll continues from.
    pub prior: Option<PriorSnapshot>,
    /// Held symbols (positions' symbols and option underlyings) no provider had: phase 1
    /// warned about them once; later phases name them in their summaries, never as new
    /// warnings.
    pub left_out: Vec<String>,
    /// The scope's symbols remembered as having no market data.
    pub unavailable: Vec<String>,
    /// The scope's symbols whose prices wait for a provider's daily quota.
    pub deferred: Vec<String>,
    /// Closes of `symbols` over every window a portfolio phase reads, loaded once (after
    /// phase 1, which may fetch them) by the first phase that asks.
    prices: tokio::sync::OnceCell<PriceTable>,
    /// The profile sector of each symbol that has one, loaded once.
    sectors: tokio::sync::OnceCell<HashMap<String, String>>,
}

/// First day that gets a snapshot: the earliest entry for an onboarding; for a daily run the
/// day after the newest snapshot (dates a portfolio has are skipped); for a forced rerun the
/// requested start.
async fn first_snapshot_day(
    ctx: &RunContext,
    portfolio_id: Uuid,
    first_entry: NaiveDate,
    recompute_from: Option<NaiveDate>,
    params: &BatchParams,
) -> Result<NaiveDate, JobError> {
    if ctx.run.kind == RunKind::Onboarding {
        return Ok(first_entry);
    }
    if params.force_rerun {
        return Ok(params
            .start_date
            .map_or(first_entry, |d| d.max(first_entry)));
    }
    let next = match snapshots::latest_date(&ctx.pool, portfolio_id).await? {
        Some(latest) => calendar::next_trading_day(latest),
        None => first_entry,
    };
    // A restated price history (see phase 1) makes the snapshots from its first changed date
    // stale: recompute from there.
    Ok(recompute_from
        .map_or(next, |r| r.min(next))
        .max(first_entry))
}

/// The symbol whose prices value a position (none for PRIVATE).
pub fn price_symbol(p: &Position) -> Option<&str> {
    match p.investment_class {
        InvestmentClass::Private => None,
        InvestmentClass::Options => p.underlying_symbol.as_deref(),
        InvestmentClass::Public => Some(p.symbol.as_str()),
    }
}

impl PortfolioScope {
    /// Loads the portfolio and positions; no positions is fatal.
    pub async fn load(ctx: &RunContext, portfolio_id: Uuid) -> Result<Self, JobError> {
        let portfolio = portfolios::find(&ctx.pool, portfolio_id)
            .await?
            .ok_or_else(|| JobError::Fatal(anyhow!("portfolio {portfolio_id} no longer exists")))?;
        let positions = positions::list_for_portfolio(&ctx.pool, portfolio_id).await?;
        let first_entry = positions
            .iter()
            .map(|p| p.entry_date)
            .min()
            .ok_or_else(|| JobError::Fatal(anyhow!("portfolio has no positions")))?;
        let params: BatchParams =
            serde_json::from_value(ctx.run.params.clone()).unwrap_or_default();
        let last = sigmasight_shared::clock::last_trading_day();
        let end = params.date.map_or(last, |d| d.min(last));
        let mut symbols: Vec<String> = positions
            .iter()
            .filter_map(price_symbol)
            .map(str::to_owned)
            .collect();
        symbols.extend(FACTOR_ETFS.iter().map(|s| (*s).to_owned()));
        symbols.sort();
        symbols.dedup();
        let first_day = first_snapshot_day(
            ctx,
            portfolio_id,
            first_entry,
            portfolio.recompute_from,
            &params,
        )
        .await?;
        let days_end = if params.force_rerun {
            params.end_date.map_or(end, |d| d.min(end))
        } else {
            end
        };
        let days = calendar::trading_days(first_day, days_end);
        let prior = match days.first() {
            Some(d) if *d > first_entry => snapshots::prior(&ctx.pool, portfolio_id, *d).await?,
            _ => None,
        };
        let mut scope = Self {
            portfolio,
            left_out: Vec::new(),
            unavailable: Vec::new(),
            deferred: Vec::new(),
            prices: tokio::sync::OnceCell::new(),
            sectors: tokio::sync::OnceCell::new(),
            history_start: first_entry - chrono::Duration::days(LOOKBACK_DAYS),
            days,
            prior,
            positions,
            symbols,
            first_entry,
            end,
        };
        scope.refresh_left_out(ctx).await?;
        Ok(scope)
    }

    /// Reads which symbols no provider had (phase 1's verdicts), for the later phases.
    pub async fn refresh_left_out(&mut self, ctx: &RunContext) -> Result<(), JobError> {
        let unavailable: Vec<String> = prices::availability(&ctx.pool, &self.symbols)
            .await?
            .into_iter()
            .filter(|a| !a.available)
            .map(|a| a.symbol)
            .collect();
        // Symbols waiting for a provider's quota have no data for this run either (phase 1
        // said so once); they are not remembered as unavailable.
        let deferred = sigmasight_shared::db::budget::deferred(&ctx.pool, &self.symbols).await?;
        let without_data: Vec<String> = unavailable.iter().chain(&deferred).cloned().collect();
        // Held symbols only: a factor ETF without prices is not the portfolio's (phase 1.5
        // says what it leaves empty), and no position of it is held at entry price.
        let mut left_out: Vec<String> = Vec::new();
        for p in &self.positions {
            if let Some(s) = price_symbol(p).filter(|s| without_data.iter().any(|u| u == s)) {
                left_out.push(p.symbol.clone());
                left_out.push(s.to_owned());
            }
        }
        left_out.sort();
        left_out.dedup();
        self.left_out = left_out;
        self.unavailable = unavailable;
        self.deferred = deferred;
        Ok(())
    }

    /// The first day any portfolio phase reads a close of: phase 3's lookback before its
    /// first day, phase 6's before the calculation date.
    pub fn prices_from(&self) -> NaiveDate {
        let first = self.days.first().copied().unwrap_or(self.end);
        (first - chrono::Duration::days(SNAPSHOT_LOOKBACK_DAYS))
            .min(self.end - chrono::Duration::days(RISK_LOOKBACK_DAYS))
            .min(self.end - chrono::Duration::days(SNAPSHOT_LOOKBACK_DAYS))
    }

    /// The closes of the scope's symbols on the trading days of `[start, end]`: one query
    /// for the run's portfolio phases together, each taking its window of it.
    pub async fn prices(
        &self,
        ctx: &RunContext,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<PriceTable, JobError> {
        let from = self.prices_from();
        if start < from || end > self.end {
            return load_prices(ctx, &self.symbols, start, end).await;
        }
        let all = self
            .prices
            .get_or_try_init(|| load_prices(ctx, &self.symbols, from, self.end))
            .await?;
        Ok(all.window(start, end))
    }

    /// The profile sector of each of the scope's symbols that has one (loaded once).
    pub async fn sectors(&self, ctx: &RunContext) -> Result<&HashMap<String, String>, JobError> {
        self.sectors
            .get_or_try_init(|| super::loaders::sectors(ctx, &self.symbols))
            .await
    }

    /// The symbol scope of phase 1.
    pub fn symbol_scope(&self) -> super::loaders::SymbolScope {
        let mut funds: Vec<String> = self
            .positions
            .iter()
            .filter(|p| matches!(p.investment_subtype.as_str(), "ETF" | "MUTUAL_FUND"))
            .map(|p| p.symbol.clone())
            .collect();
        funds.extend(FACTOR_ETFS.iter().map(|s| (*s).to_owned()));
        super::loaders::SymbolScope {
            symbols: self.symbols.clone(),
            funds,
            history_start: self.history_start,
            // One portfolio: its first entry's history for every symbol.
            starts: std::collections::HashMap::new(),
            end: self.end,
        }
    }

    /// Whether `message` is about a symbol without market data, held or not (names one as
    /// a word): phase 1 warned about it already.
    pub fn about_left_out(&self, message: &str) -> bool {
        let known = |word: &str| {
            [&self.left_out, &self.unavailable, &self.deferred]
                .iter()
                .any(|list| list.iter().any(|s| s == word))
        };
        !(self.left_out.is_empty() && self.unavailable.is_empty() && self.deferred.is_empty())
            && message
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                .any(known)
    }

    /// The scope's unavailable symbols that the portfolio holds (a position's price symbol),
    /// and the others (factor ETFs it does not hold).
    pub fn unavailable_split(&self) -> (Vec<String>, Vec<String>) {
        let held = |u: &String| {
            self.positions
                .iter()
                .any(|p| price_symbol(p) == Some(u.as_str()))
        };
        let (mut held, mut others): (Vec<String>, Vec<String>) =
            self.unavailable.iter().cloned().partition(held);
        held.sort();
        others.sort();
        (held, others)
    }

    /// `; no market data for A, B` for a summary line, or nothing.
    pub fn left_out_note(&self) -> String {
        if self.left_out.is_empty() {
            String::new()
        } else {
            format!("; no market data for {}", self.left_out.join(", "))
        }
    }

    /// The positions as analytics inputs.
    pub fn inputs(&self) -> Vec<PositionInput> {
        self.positions.iter().map(to_input).collect()
    }
}

fn to_f64(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn to_input(p: &Position) -> PositionInput {
    let class = p.investment_class;
    let sector = match (class, p.investment_subtype.as_str()) {
        (InvestmentClass::Public, "ETF") => Some("ETFs".to_owned()),
        _ => None,
    };
    PositionInput {
        id: p.id,
        symbol: p.symbol.clone(),
        quantity: to_f64(p.quantity),
        entry_price: to_f64(p.entry_price),
        entry_date: p.entry_date,
        exit_date: p.exit_date,
        exit_price: p.exit_price.map(to_f64),
        investment_class: class,
        position_type: p.position_type,
        underlying_symbol: p.underlying_symbol.clone(),
        strike_price: p.strike_price.map(to_f64),
        expiration_date: p.expiration_date,
        option_type: p.option_type,
        sector,
    }
}

/// Parameters shared by phases 3 and 4.
pub fn params(ctx: &RunContext, scope: &PortfolioScope) -> SnapshotParams {
    SnapshotParams {
        risk_free_rate: ctx.config.risk_free_rate,
        default_option_vol: ctx.config.default_option_vol,
        equity_balance: scope.portfolio.equity_balance.to_f64().unwrap_or(0.0),
        prior: scope.prior,
    }
}
