//! The portfolio a run works on: its positions, the symbols they need, the date range.

use crate::context::{JobError, RunContext};
use anyhow::anyhow;
use chrono::{NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;
use sigmasight_shared::analytics::snapshots::PositionInput;
use sigmasight_shared::calendar;
use sigmasight_shared::db::{
    portfolios,
    positions::{self, Position},
};
use sigmasight_shared::domain::{InvestmentClass, OptionType, PositionType, FACTOR_ETFS};
use uuid::Uuid;

/// Calendar days of price history fetched before the earliest entry date.
pub const LOOKBACK_DAYS: i64 = 365;

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
    /// Trading days that get a snapshot: earliest entry … end.
    pub days: Vec<NaiveDate>,
}

/// The symbol whose prices value a position (none for PRIVATE).
pub fn price_symbol(p: &Position) -> Option<&str> {
    match p.investment_class.as_str() {
        "PRIVATE" => None,
        "OPTIONS" => p.underlying_symbol.as_deref(),
        _ => Some(p.symbol.as_str()),
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
        let end = calendar::last_trading_day(Utc::now());
        let mut symbols: Vec<String> = positions
            .iter()
            .filter_map(price_symbol)
            .map(str::to_owned)
            .collect();
        symbols.extend(FACTOR_ETFS.iter().map(|s| (*s).to_owned()));
        symbols.sort();
        symbols.dedup();
        Ok(Self {
            portfolio,
            history_start: first_entry - chrono::Duration::days(LOOKBACK_DAYS),
            days: calendar::trading_days(first_entry, end),
            positions,
            symbols,
            first_entry,
            end,
        })
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
    let class = InvestmentClass::parse(&p.investment_class).unwrap_or(InvestmentClass::Public);
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
        position_type: PositionType::parse(&p.position_type).unwrap_or(PositionType::Long),
        underlying_symbol: p.underlying_symbol.clone(),
        strike_price: p.strike_price.map(to_f64),
        expiration_date: p.expiration_date,
        option_type: p.option_type.as_deref().and_then(OptionType::parse),
        sector,
    }
}
