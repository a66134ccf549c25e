//! Daily portfolio snapshots over a whole date range (ANALYTICS §5) and
//! current position market values (ANALYTICS §6).
//!
//! Pure functions over slices: the caller loads positions and a
//! [`PriceTable`] of closes aligned on one ascending list of trading days
//! (including a lookback before the first snapshot date) and gets back one
//! [`SnapshotRow`] per requested day, or one [`PositionValue`] per open
//! position.
//!
//! The range computation is vectorised: every symbol's closes are
//! forward-filled once over the table, every position's active index range is
//! found once by binary search, and each position is marked once per trading
//! day it is active in the requested range (O(positions × days)).
//!
//! Conventions (ANALYTICS §5):
//! * quantities are signed (negative for shorts); the multiplier is 100 for
//!   option position types (LC, LP, SC, SP) and 1 otherwise;
//! * a position is active on `d` when `entry_date ≤ d` and it has no exit date
//!   or `exit_date > d`; on the first trading day on or after its exit date it
//!   books realized P&L `(exit_price − P_{d−1})·qty·m` (exit price missing:
//!   `P_d`) and is no longer counted in exposures;
//! * the price on `d` is the close on `d`, else the newest close before it
//!   (the gap in trading days is the staleness); a position with no close at
//!   all on or before `d` is marked at its entry price, with a warning;
//! * daily position P&L is `(P_d − P_{d−1})·qty·m`, and on the first trading
//!   day on or after its entry date `(P_d − entry_price)·qty·m`;
//! * options are marked by Black–Scholes on the underlying (see
//!   [`crate::analytics::options`]), intrinsic on the expiry date, inactive
//!   after it; PRIVATE positions stay at their entry price.

use crate::analytics::options::{intrinsic, option_quote_on, OptionQuote};
use crate::domain::{InvestmentClass, OptionType, PositionType};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Default continuously compounded risk-free rate for option pricing.
pub const DEFAULT_RISK_FREE_RATE: f64 = 0.04;
/// Default option volatility when the underlying has too little history.
pub const DEFAULT_OPTION_VOL: f64 = 0.30;
/// Number of simple returns in the realised-volatility window.
pub const VOL_WINDOW_RETURNS: usize = 63;
/// Minimum number of returns in the window for a realised volatility.
pub const MIN_VOL_RETURNS: usize = 20;
/// Trading days per year used to annualise volatility.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;
/// Trading days before `d` searched for a close by [`position_values`].
pub const CURRENT_PRICE_LOOKBACK_DAYS: usize = 5;
/// Sector used when a position has none, and for OPTIONS and PRIVATE.
pub const UNCLASSIFIED_SECTOR: &str = "Unclassified";

/// One position as the snapshot computation needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionInput {
    /// Position id.
    pub id: Uuid,
    /// Ticker (for options, the contract symbol).
    pub symbol: String,
    /// Signed quantity: negative for short positions.
    pub quantity: f64,
    /// Entry price per unit (per share, or option premium per underlying unit).
    pub entry_price: f64,
    /// Entry date.
    pub entry_date: NaiveDate,
    /// Exit date, if closed.
    pub exit_date: Option<NaiveDate>,
    /// Exit price per unit, if known.
    pub exit_price: Option<f64>,
    /// Investment class.
    pub investment_class: InvestmentClass,
    /// Position type (LONG, SHORT, LC, LP, SC, SP).
    pub position_type: PositionType,
    /// Underlying ticker of an option (falls back to `symbol` when absent).
    pub underlying_symbol: Option<String>,
    /// Option strike.
    pub strike_price: Option<f64>,
    /// Option expiration date.
    pub expiration_date: Option<NaiveDate>,
    /// Call or put (falls back to the position type when absent).
    pub option_type: Option<OptionType>,
    /// Sector; `None` → "Unclassified". Callers pass "ETFs" for ETFs.
    pub sector: Option<String>,
}

impl PositionInput {
    /// A PUBLIC stock position (LONG, or SHORT when `quantity` < 0), no exit, no sector.
    pub fn stock(symbol: &str, quantity: f64, entry_price: f64, entry_date: NaiveDate) -> Self {
        Self {
            id: Uuid::new_v4(),
            symbol: symbol.to_owned(),
            quantity,
            entry_price,
            entry_date,
            exit_date: None,
            exit_price: None,
            investment_class: InvestmentClass::Public,
            position_type: if quantity < 0.0 {
                PositionType::Short
            } else {
                PositionType::Long
            },
            underlying_symbol: None,
            strike_price: None,
            expiration_date: None,
            option_type: None,
            sector: None,
        }
    }
}

/// Closes aligned on one ascending list of trading days (which include a
/// lookback before the first snapshot date); `None` = no close that day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Ascending trading days.
    pub dates: Vec<NaiveDate>,
    /// Per symbol, one entry per element of `dates` (missing tail = `None`).
    pub closes: HashMap<String, Vec<Option<f64>>>,
}

impl PriceTable {
    /// The part of the table on trading days in `[start, end]`: what loading that range
    /// would have given.
    pub fn window(&self, start: NaiveDate, end: NaiveDate) -> Self {
        let lo = self.dates.partition_point(|d| *d < start);
        let hi = self.dates.partition_point(|d| *d <= end).max(lo);
        Self {
            dates: self.dates[lo..hi].to_vec(),
            closes: self
                .closes
                .iter()
                .map(|(s, c)| {
                    let part = c.get(lo..hi.min(c.len())).unwrap_or_default().to_vec();
                    (s.clone(), part)
                })
                .collect(),
        }
    }
}

/// The snapshot stored just before the first requested date.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PriorSnapshot {
    /// Its date.
    pub date: NaiveDate,
    /// Its equity balance.
    pub equity: f64,
    /// Its cumulative P&L.
    pub cumulative_pnl: f64,
}

/// Parameters of a snapshot run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SnapshotParams {
    /// Risk-free rate for option pricing (0.04).
    pub risk_free_rate: f64,
    /// Option volatility when the underlying lacks history (0.30).
    pub default_option_vol: f64,
    /// The portfolio's starting equity balance B.
    pub equity_balance: f64,
    /// The snapshot just before the first requested date, to continue the roll.
    pub prior: Option<PriorSnapshot>,
}

impl SnapshotParams {
    /// Default rate and volatility, the given starting equity, no prior.
    pub fn new(equity_balance: f64) -> Self {
        Self {
            risk_free_rate: DEFAULT_RISK_FREE_RATE,
            default_option_vol: DEFAULT_OPTION_VOL,
            equity_balance,
            prior: None,
        }
    }
}

/// One portfolio snapshot (one day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRow {
    /// Snapshot date.
    pub date: NaiveDate,
    /// Equal to `equity_balance`.
    pub total_value: f64,
    /// Rolled equity E_d = E_{d−1} + daily P&L.
    pub equity_balance: f64,
    /// Total P&L of the day, realized included.
    pub daily_pnl: f64,
    /// P&L booked by exits on this day.
    pub daily_realized_pnl: f64,
    /// daily_pnl / E_{d−1}; `None` when E_{d−1} ≤ 0.
    pub daily_return: Option<f64>,
    /// Prior cumulative P&L plus the sum of daily P&L.
    pub cumulative_pnl: f64,
    /// E_d / B − 1; `None` when B ≤ 0.
    pub cumulative_return: Option<f64>,
    /// Sum of positive exposures.
    pub long_value: f64,
    /// Sum of negative exposures (stored negative).
    pub short_value: f64,
    /// Sum of absolute exposures.
    pub gross_exposure: f64,
    /// Sum of exposures.
    pub net_exposure: f64,
    /// max(0, equity − long + |short|).
    pub cash_value: f64,
    /// Active positions.
    pub num_positions: i32,
    /// Active positions with quantity > 0.
    pub num_long: i32,
    /// Active positions with quantity < 0.
    pub num_short: i32,
    /// Herfindahl index of |market value| per symbol, ×10,000.
    pub hhi: Option<f64>,
    /// 10,000 / hhi.
    pub effective_num_positions: Option<f64>,
    /// Sum of the 3 largest symbol weights.
    pub top_3_concentration: Option<f64>,
    /// Sum of the 10 largest symbol weights.
    pub top_10_concentration: Option<f64>,
    /// |market value| per sector / equity (empty when equity ≤ 0).
    pub sector_exposure: BTreeMap<String, f64>,
    /// Largest price staleness among active positions, in trading days.
    pub max_price_staleness_days: i32,
    /// Data warnings first met on this day (each at most once per position per run).
    pub warnings: Vec<String>,
}

/// Current market value of one open position (ANALYTICS §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionValue {
    /// Position id.
    pub position_id: Uuid,
    /// Close (stocks), model value (options) or entry price (PRIVATE).
    pub last_price: Option<f64>,
    /// Date of the close used (the underlying's for options; `None` for PRIVATE).
    pub price_date: Option<NaiveDate>,
    /// qty·price·multiplier (signed).
    pub market_value: Option<f64>,
    /// qty·entry_price·multiplier (signed).
    pub cost_basis: f64,
    /// market_value − cost_basis.
    pub unrealized_pnl: Option<f64>,
    /// Option delta per unit of underlying (options only).
    pub delta: Option<f64>,
    /// delta·S·qty·100 for options, market value otherwise.
    pub exposure: Option<f64>,
}

/// Concentration metrics of a set of absolute values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    /// Σ w²·10,000.
    pub hhi: f64,
    /// 10,000 / hhi.
    pub effective_num_positions: f64,
    /// Sum of the 3 largest weights.
    pub top_3: f64,
    /// Sum of the 10 largest weights.
    pub top_10: f64,
}

/// Signed market value qty·price·multiplier (100 for option types).
pub fn market_value(position_type: PositionType, quantity: f64, price: f64) -> f64 {
    quantity * price * position_type.multiplier()
}

/// Signed cost basis qty·entry_price·multiplier (100 for option types).
pub fn cost_basis(position_type: PositionType, quantity: f64, entry_price: f64) -> f64 {
    quantity * entry_price * position_type.multiplier()
}

/// Cash: max(0, equity − long + |short|).
pub fn cash_value(equity: f64, long_value: f64, short_value: f64) -> f64 {
    (equity - long_value + short_value.abs()).max(0.0)
}

/// Gross exposure from the long and short sides: long + |short|.
pub fn gross_exposure(long_value: f64, short_value: f64) -> f64 {
    long_value.abs() + short_value.abs()
}

/// Net exposure from the long and short sides: long − |short|.
pub fn net_exposure(long_value: f64, short_value: f64) -> f64 {
    long_value.abs() - short_value.abs()
}

/// Effective number of positions 10,000 / hhi (`None` unless hhi > 0).
pub fn effective_num_positions(hhi: f64) -> Option<f64> {
    (hhi > 0.0 && hhi.is_finite()).then(|| 10_000.0 / hhi)
}

/// HHI, effective count and top-3/top-10 weights of `values` (taken in
/// absolute value, one per symbol); `None` when their sum is 0 or not finite.
pub fn concentration(values: &[f64]) -> Option<Concentration> {
    let total: f64 = values.iter().map(|v| v.abs()).sum();
    if total.is_nan() || total <= 0.0 || total.is_infinite() {
        return None;
    }
    let mut w: Vec<f64> = values.iter().map(|v| v.abs() / total).collect();
    w.sort_unstable_by(|a, b| b.total_cmp(a));
    let hhi = w.iter().map(|x| x * x).sum::<f64>() * 10_000.0;
    Some(Concentration {
        hhi,
        effective_num_positions: 10_000.0 / hhi,
        top_3: w.iter().take(3).sum(),
        top_10: w.iter().take(10).sum(),
    })
}

/// Sector bucket of a position: "Unclassified" for OPTIONS, PRIVATE, option
/// position types and missing/blank sectors, else the sector field.
pub fn sector_of(position: &PositionInput) -> &str {
    if matches!(
        position.investment_class,
        InvestmentClass::Options | InvestmentClass::Private
    ) || position.position_type.is_option()
    {
        return UNCLASSIFIED_SECTOR;
    }
    match position.sector.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s,
        _ => UNCLASSIFIED_SECTOR,
    }
}

fn valid_close(c: Option<f64>) -> Option<f64> {
    c.filter(|v| v.is_finite() && *v > 0.0)
}

/// Annualised realised volatility for option pricing: sample standard
/// deviation (ddof 1) of the simple returns `c_j / c_{j−1} − 1` for the 63
/// indices `j` ending at `idx` (pairs with a missing or non-positive close
/// are skipped), times √252. `None` with fewer than 20 returns or when `idx`
/// is outside `closes`.
pub fn realized_vol_63(closes: &[Option<f64>], idx: usize) -> Option<f64> {
    if idx >= closes.len() {
        return None;
    }
    let start = idx.saturating_sub(VOL_WINDOW_RETURNS - 1).max(1);
    let mut returns = [0.0_f64; VOL_WINDOW_RETURNS];
    let mut n = 0;
    for j in start..=idx {
        if let (Some(a), Some(b)) = (valid_close(closes[j - 1]), valid_close(closes[j])) {
            returns[n] = b / a - 1.0;
            n += 1;
        }
    }
    if n < MIN_VOL_RETURNS {
        return None;
    }
    let r = &returns[..n];
    // n ≤ 63: exact conversions.
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let mean = r.iter().sum::<f64>() / nf;
    let var = r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (nf - 1.0);
    Some(var.sqrt() * TRADING_DAYS_PER_YEAR.sqrt())
}

/// Index of the newest table date on or before `d`.
fn on_or_before(dates: &[NaiveDate], d: NaiveDate) -> Option<usize> {
    dates.partition_point(|x| *x <= d).checked_sub(1)
}

/// Index of the first table date on or after `d` (`dates.len()` if none).
fn first_on_or_after(dates: &[NaiveDate], d: NaiveDate) -> usize {
    dates.partition_point(|x| *x < d)
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Option kind: the explicit option type, else implied by the position type.
fn option_kind(p: &PositionInput) -> OptionType {
    p.option_type.unwrap_or(match p.position_type {
        PositionType::Lp | PositionType::Sp => OptionType::Put,
        _ => OptionType::Call,
    })
}

fn underlying_of(p: &PositionInput) -> &str {
    match p.underlying_symbol.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => u,
        _ => p.symbol.as_str(),
    }
}

/// How a position is marked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// At entry price (PRIVATE, or an option without strike/expiry).
    Flat,
    /// At the close of its own symbol's series.
    Linear { series: usize },
    /// Black–Scholes on the underlying's series.
    Option {
        series: usize,
        kind: OptionType,
        strike: f64,
        expiry: NaiveDate,
    },
}

/// A symbol's closes forward-filled over the table, and (for underlyings of
/// options) its realised volatility over the computed range.
struct Series<'a> {
    symbol: &'a str,
    /// Price and the table index of the close it comes from.
    filled: Vec<Option<(f64, usize)>>,
    closes: &'a [Option<f64>],
    vol: Vec<Option<f64>>,
    vol_offset: usize,
    needs_vol: bool,
}

impl<'a> Series<'a> {
    fn new(symbol: &'a str, closes: &'a [Option<f64>], n: usize) -> Self {
        let mut filled = Vec::with_capacity(n);
        let mut last = None;
        for i in 0..n {
            if let Some(c) = valid_close(closes.get(i).copied().flatten()) {
                last = Some((c, i));
            }
            filled.push(last);
        }
        Self {
            symbol,
            filled,
            closes,
            vol: Vec::new(),
            vol_offset: 0,
            needs_vol: false,
        }
    }

    fn vol_at(&self, i: usize) -> Option<f64> {
        i.checked_sub(self.vol_offset)
            .and_then(|k| self.vol.get(k).copied().flatten())
    }
}

/// A mark of one position on one trading index.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Per-unit value (close, option model value or entry price).
    value: f64,
    /// delta·S per unit for options with a model value.
    delta_s: Option<f64>,
    /// Trading days since the close used.
    stale: usize,
}

/// Warnings of one position, each kind at most once per run.
#[derive(Default)]
struct PosWarnings {
    no_price: bool,
    default_vol: bool,
}

struct Ctx<'a> {
    dates: &'a [NaiveDate],
    series: &'a [Series<'a>],
    params: &'a SnapshotParams,
}

impl Ctx<'_> {
    fn mark(
        &self,
        p: &PositionInput,
        kind: Kind,
        i: usize,
        flags: &mut PosWarnings,
        out: &mut Vec<(usize, String)>,
    ) -> Mark {
        let flat = Mark {
            value: p.entry_price,
            delta_s: None,
            stale: 0,
        };
        let (series, opt) = match kind {
            Kind::Flat => return flat,
            Kind::Linear { series } => (series, None),
            Kind::Option {
                series,
                kind,
                strike,
                expiry,
            } => (series, Some((kind, strike, expiry))),
        };
        let s = &self.series[series];
        let Some((px, j)) = s.filled[i] else {
            if !flags.no_price {
                flags.no_price = true;
                out.push((
                    i,
                    format!(
                        "{} ({}): no close for {} on or before {}; valued at entry price",
                        p.symbol, p.id, s.symbol, self.dates[i]
                    ),
                ));
            }
            return flat;
        };
        let stale = i - j;
        let Some((kind, strike, expiry)) = opt else {
            return Mark {
                value: px,
                delta_s: None,
                stale,
            };
        };
        let d = self.dates[i];
        let quote: OptionQuote = if d >= expiry {
            intrinsic(kind, px, strike)
        } else {
            let sigma = match s.vol_at(i) {
                Some(v) => v,
                None => {
                    if !flags.default_vol {
                        flags.default_vol = true;
                        out.push((
                            i,
                            format!(
                                "{} ({}): fewer than {} returns of {} for realised volatility on {}; using default volatility {}",
                                p.symbol, p.id, MIN_VOL_RETURNS, s.symbol, d, self.params.default_option_vol
                            ),
                        ));
                    }
                    self.params.default_option_vol
                }
            };
            option_quote_on(
                kind,
                px,
                strike,
                expiry,
                d,
                self.params.risk_free_rate,
                sigma,
            )
            .unwrap_or_else(|| intrinsic(kind, px, strike))
        };
        Mark {
            value: quote.value,
            delta_s: Some(quote.delta * px),
            stale,
        }
    }
}

/// Per-row accumulators.
#[derive(Default, Clone)]
struct RowAcc {
    long: f64,
    short: f64,
    gross: f64,
    net: f64,
    num: usize,
    num_long: usize,
    num_short: usize,
    stale: usize,
    /// (symbol id, sector id, |market value|).
    entries: Vec<(usize, usize, f64)>,
}

impl RowAcc {
    /// Adds one active position's mark to this row's exposures, counts and entries.
    fn add(&mut self, mk: Mark, q: f64, m: f64, sym: usize, sector: usize) {
        let mv = mk.value * q * m;
        let exposure = mk.delta_s.map_or(mv, |ds| ds * q * m);
        if exposure > 0.0 {
            self.long += exposure;
        } else {
            self.short += exposure;
        }
        self.gross += exposure.abs();
        self.net += exposure;
        self.num += 1;
        if q > 0.0 {
            self.num_long += 1;
        } else if q < 0.0 {
            self.num_short += 1;
        }
        self.stale = self.stale.max(mk.stale);
        self.entries.push((sym, sector, mv.abs()));
    }
}

/// Per-row state built up by the steps of [`compute_snapshots`].
struct Rows {
    /// Exposure accumulators.
    acc: Vec<RowAcc>,
    /// Total P&L of each row.
    pnl: Vec<f64>,
    /// Realized P&L of each row.
    realized: Vec<f64>,
    /// Warnings of each row.
    warnings: Vec<Vec<String>>,
}

/// Series, marking kinds and symbol/sector ids of the positions.
struct Prepared<'a> {
    /// Forward-filled series (with realised vol for option underlyings).
    series: Vec<Series<'a>>,
    /// Per position: (marking kind, symbol id, sector id).
    positions: Vec<(Kind, usize, usize)>,
    /// Sector names by sector id.
    sector_names: Vec<&'a str>,
}

/// P&L per table index over `[lo, hi]` and the warnings met while accumulating it.
struct RangeAcc<'v> {
    /// First table index of a row.
    lo: usize,
    /// Last table index of a row.
    hi: usize,
    /// (row number, table index) of rows with a table index.
    valid: &'v [(usize, usize)],
    /// Total P&L per table index (offset by `lo`).
    pnl: Vec<f64>,
    /// Realized P&L per table index (offset by `lo`).
    realized: Vec<f64>,
    /// (table index, warning) pairs.
    warns: Vec<(usize, String)>,
    /// Scratch marks of the current position.
    marks: Vec<Mark>,
}

/// Where a position is active on the table.
struct Span {
    /// First table index on or after the entry date.
    e: usize,
    /// First table index on or after the exit date (at least `e`; `n` if none).
    x: usize,
    /// End (exclusive) of the active indices.
    a_end: usize,
    /// Whether an exit is booked as realized P&L.
    books_exit: bool,
}

/// Computes one snapshot per day in `days` (ascending trading days, each
/// present in `prices.dates`), rolling equity from `params.prior` (or B).
///
/// Positions with a non-finite quantity or entry price are skipped with a
/// warning. A day missing from `prices.dates` is valued as of the newest trading day
/// before it (with a warning) and carries no P&L already booked; a day before
/// every table date has no positions. When `days` skips trading days, the
/// skipped days' P&L is booked on the next requested day, so equity stays
/// continuous. The first row's P&L covers its own trading day only.
pub fn compute_snapshots(
    positions: &[PositionInput],
    prices: &PriceTable,
    days: &[NaiveDate],
    params: &SnapshotParams,
) -> Vec<SnapshotRow> {
    let dates = prices.dates.as_slice();
    let (valid, warnings) = row_indices(dates, days, params);
    let mut rows = Rows {
        acc: vec![RowAcc::default(); days.len()],
        pnl: vec![0.0_f64; days.len()],
        realized: vec![0.0_f64; days.len()],
        warnings,
    };
    let mut sector_names: Vec<&str> = Vec::new();

    if let (Some(&(_, lo)), Some(&(_, hi))) = (valid.first(), valid.last()) {
        let prepared = prepare_positions(positions, prices, lo, hi);
        sector_names = prepared.sector_names;
        let ctx = Ctx {
            dates,
            series: &prepared.series,
            params,
        };
        // P&L per table index over [lo, hi].
        let mut st = RangeAcc {
            lo,
            hi,
            valid: &valid,
            pnl: vec![0.0_f64; hi - lo + 1],
            realized: vec![0.0_f64; hi - lo + 1],
            warns: Vec::new(),
            marks: Vec::new(),
        };
        for (p, &prep) in positions.iter().zip(&prepared.positions) {
            accumulate_position(&ctx, p, prep, &mut st, &mut rows.acc);
        }
        assign_warnings(&valid, std::mem::take(&mut st.warns), &mut rows.warnings);
        row_pnl(&st, &mut rows);
    }

    assemble_rows(days, params, rows, &sector_names)
}

/// (row, table index) pairs of the rows with a trading day on or before them, and per-row warnings.
fn row_indices(
    dates: &[NaiveDate],
    days: &[NaiveDate],
    params: &SnapshotParams,
) -> (Vec<(usize, usize)>, Vec<Vec<String>>) {
    let mut row_warnings: Vec<Vec<String>> = vec![Vec::new(); days.len()];
    // Rows → table indices (non-decreasing since both lists ascend).
    let row_idx: Vec<Option<usize>> = days.iter().map(|d| on_or_before(dates, *d)).collect();
    for (k, (d, idx)) in days.iter().zip(&row_idx).enumerate() {
        match idx {
            None => row_warnings[k].push(format!(
                "{d}: no trading day on or before it in the price table; no positions valued"
            )),
            Some(i) if dates[*i] != *d => row_warnings[k].push(format!(
                "{d}: not a trading day in the price table; valued as of {}",
                dates[*i]
            )),
            Some(_) => {}
        }
    }
    if let (Some(prior), Some(first)) = (params.prior, days.first()) {
        if prior.date >= *first {
            row_warnings[0].push(format!(
                "prior snapshot {} is not before the first requested day {first}",
                prior.date
            ));
        }
    }
    // (row number, table index) of rows with a table index.
    let valid: Vec<(usize, usize)> = row_idx
        .iter()
        .enumerate()
        .filter_map(|(k, i)| i.map(|i| (k, i)))
        .collect();
    (valid, row_warnings)
}

/// Symbol, sector and series ids and marking kind per position, plus underlyings' realised vol.
fn prepare_positions<'a>(
    positions: &'a [PositionInput],
    prices: &'a PriceTable,
    lo: usize,
    hi: usize,
) -> Prepared<'a> {
    let n = prices.dates.len();
    // Symbol, sector and series ids.
    let mut sym_ids: HashMap<&str, usize> = HashMap::new();
    let mut sector_ids: HashMap<&str, usize> = HashMap::new();
    let mut series_ids: HashMap<&str, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    let mut sector_names: Vec<&str> = Vec::new();
    let mut prepared: Vec<(Kind, usize, usize)> = Vec::with_capacity(positions.len());
    for p in positions {
        let next = sym_ids.len();
        let sym = *sym_ids.entry(p.symbol.as_str()).or_insert(next);
        let sector_name = sector_of(p);
        let next = sector_ids.len();
        let sector = *sector_ids.entry(sector_name).or_insert_with(|| {
            sector_names.push(sector_name);
            next
        });
        let kind = if p.investment_class == InvestmentClass::Private {
            Kind::Flat
        } else if p.position_type.is_option() {
            match (p.strike_price, p.expiration_date) {
                (Some(strike), Some(expiry)) if strike.is_finite() && strike > 0.0 => {
                    let name = underlying_of(p);
                    let id = lookup_series(name, prices, n, &mut series_ids, &mut series);
                    series[id].needs_vol = true;
                    Kind::Option {
                        series: id,
                        kind: option_kind(p),
                        strike,
                        expiry,
                    }
                }
                _ => Kind::Flat,
            }
        } else {
            let id = lookup_series(p.symbol.as_str(), prices, n, &mut series_ids, &mut series);
            Kind::Linear { series: id }
        };
        prepared.push((kind, sym, sector));
    }
    let vol_lo = lo.saturating_sub(1);
    for s in series.iter_mut().filter(|s| s.needs_vol) {
        s.vol_offset = vol_lo;
        s.vol = (vol_lo..=hi)
            .map(|i| realized_vol_63(s.closes, i))
            .collect();
    }
    Prepared {
        series,
        positions: prepared,
        sector_names,
    }
}

/// Entry, exit and end-of-activity table indices of a position.
fn position_span(dates: &[NaiveDate], p: &PositionInput, kind: Kind) -> Span {
    let n = dates.len();
    let e = first_on_or_after(dates, p.entry_date);
    let x = p
        .exit_date
        .map_or(n, |xd| first_on_or_after(dates, xd))
        .max(e);
    let (end_exp, books_exit) = match kind {
        Kind::Option { expiry, .. } => (
            dates.partition_point(|d| *d <= expiry),
            p.exit_date.is_some_and(|xd| xd <= expiry),
        ),
        _ => (n, p.exit_date.is_some()),
    };
    Span {
        e,
        x,
        a_end: x.min(end_exp),
        books_exit,
    }
}

/// Adds one position's P&L over `[lo, hi]` to `st` and its exposures to the rows it is active on.
fn accumulate_position(
    ctx: &Ctx<'_>,
    p: &PositionInput,
    (kind, sym, sector): (Kind, usize, usize),
    st: &mut RangeAcc<'_>,
    acc: &mut [RowAcc],
) {
    let (lo, hi, n) = (st.lo, st.hi, ctx.dates.len());
    if !(p.quantity.is_finite() && p.entry_price.is_finite()) {
        st.warns.push((
            lo,
            format!(
                "{} ({}): non-finite quantity or entry price; position skipped",
                p.symbol, p.id
            ),
        ));
        return;
    }
    let mut flags = PosWarnings::default();
    let m = p.position_type.multiplier();
    let q = p.quantity;
    let Span {
        e,
        x,
        a_end,
        books_exit,
    } = position_span(ctx.dates, p, kind);
    let unpriceable_option = p.position_type.is_option()
        && matches!(kind, Kind::Flat)
        && p.investment_class != InvestmentClass::Private;
    if unpriceable_option && e.max(lo) < a_end.min(hi + 1) {
        st.warns.push((
            e.max(lo),
            format!(
                "{} ({}): option without a positive strike or an expiration date; valued at entry price",
                p.symbol, p.id
            ),
        ));
    }

    // Marks on [start, stop).
    let start = e.max(lo.saturating_sub(1));
    let stop = a_end.min(hi + 1);
    st.marks.clear();
    for i in start..stop {
        st.marks
            .push(ctx.mark(p, kind, i, &mut flags, &mut st.warns));
    }
    let marks = &st.marks;
    // Unrealized P&L on active indices within [lo, hi].
    for i in start.max(lo)..stop {
        let base = if i > e {
            marks[i - 1 - start].value
        } else {
            p.entry_price
        };
        st.pnl[i - lo] += (marks[i - start].value - base) * q * m;
    }
    // Realized P&L on the exit index.
    if books_exit && x < n && (lo..=hi).contains(&x) {
        let base = if x > e && x > start && x - 1 < stop {
            marks[x - 1 - start].value
        } else {
            p.entry_price
        };
        let exit_value = match p.exit_price.filter(|v| v.is_finite()) {
            Some(v) => v,
            None => ctx.mark(p, kind, x, &mut flags, &mut st.warns).value,
        };
        let r = (exit_value - base) * q * m;
        st.pnl[x - lo] += r;
        st.realized[x - lo] += r;
    }
    // Exposures on the rows the position is active on.
    let r0 = st.valid.partition_point(|&(_, i)| i < e);
    let r1 = st.valid.partition_point(|&(_, i)| i < a_end);
    for &(k, i) in st.valid.get(r0..r1).unwrap_or(&[]) {
        acc[k].add(marks[i - start], q, m, sym, sector);
    }
}

/// Assigns each (table index, warning) to the first row on or after its index.
fn assign_warnings(
    valid: &[(usize, usize)],
    warns: Vec<(usize, String)>,
    row_warnings: &mut [Vec<String>],
) {
    for (i, w) in warns {
        let j = valid
            .partition_point(|&(_, ri)| ri < i)
            .min(valid.len() - 1);
        row_warnings[valid[j].0].push(w);
    }
}

/// Sums the per-index P&L into rows: (previous row's index, this row's index].
fn row_pnl(st: &RangeAcc<'_>, rows: &mut Rows) {
    let lo = st.lo;
    let mut prev: Option<usize> = None;
    for &(k, i) in st.valid {
        let from = prev.map_or(i, |pi| pi + 1);
        if from <= i {
            rows.pnl[k] = st.pnl[from - lo..=i - lo].iter().sum();
            rows.realized[k] = st.realized[from - lo..=i - lo].iter().sum();
        }
        prev = Some(i);
    }
}

/// Concentration metrics and sector exposure (over `equity`) of one row's entries.
fn row_concentration(
    a: &mut RowAcc,
    equity: f64,
    sector_names: &[&str],
    per_symbol: &mut Vec<f64>,
    sector_scratch: &mut [f64],
    sector_seen: &mut [bool],
) -> (Option<Concentration>, BTreeMap<String, f64>) {
    a.entries.sort_unstable_by_key(|t| t.0);
    per_symbol.clear();
    let mut last_sym = None;
    for &(sym, sector, v) in &a.entries {
        if last_sym == Some(sym) {
            if let Some(x) = per_symbol.last_mut() {
                *x += v;
            }
        } else {
            per_symbol.push(v);
            last_sym = Some(sym);
        }
        sector_scratch[sector] += v;
        sector_seen[sector] = true;
    }
    let conc = concentration(per_symbol);
    let mut sector_exposure = BTreeMap::new();
    for (s, seen) in sector_seen.iter_mut().enumerate() {
        if *seen && equity > 0.0 {
            sector_exposure.insert(sector_names[s].to_string(), sector_scratch[s] / equity);
        }
        *seen = false;
        sector_scratch[s] = 0.0;
    }
    (conc, sector_exposure)
}

/// Rolls equity and cumulative P&L over the rows and assembles the snapshots.
fn assemble_rows(
    days: &[NaiveDate],
    params: &SnapshotParams,
    mut rows: Rows,
    sector_names: &[&str],
) -> Vec<SnapshotRow> {
    let b = params.equity_balance;
    let mut equity = params.prior.map_or(b, |p| p.equity);
    let mut cumulative = params.prior.map_or(0.0, |p| p.cumulative_pnl);
    let mut sector_scratch = vec![0.0_f64; sector_names.len()];
    let mut sector_seen = vec![false; sector_names.len()];
    let mut per_symbol: Vec<f64> = Vec::new();
    let mut out = Vec::with_capacity(days.len());
    for (k, d) in days.iter().enumerate() {
        let a = &mut rows.acc[k];
        let daily = rows.pnl[k];
        let e_prev = equity;
        equity += daily;
        cumulative += daily;
        let (conc, sector_exposure) = row_concentration(
            a,
            equity,
            sector_names,
            &mut per_symbol,
            &mut sector_scratch,
            &mut sector_seen,
        );

        out.push(SnapshotRow {
            date: *d,
            total_value: equity,
            equity_balance: equity,
            daily_pnl: daily,
            daily_realized_pnl: rows.realized[k],
            daily_return: (e_prev > 0.0).then(|| daily / e_prev),
            cumulative_pnl: cumulative,
            cumulative_return: (b > 0.0).then(|| equity / b - 1.0),
            long_value: a.long,
            short_value: a.short,
            gross_exposure: a.gross,
            net_exposure: a.net,
            cash_value: cash_value(equity, a.long, a.short),
            num_positions: to_i32(a.num),
            num_long: to_i32(a.num_long),
            num_short: to_i32(a.num_short),
            hhi: conc.map(|c| c.hhi),
            effective_num_positions: conc.map(|c| c.effective_num_positions),
            top_3_concentration: conc.map(|c| c.top_3),
            top_10_concentration: conc.map(|c| c.top_10),
            sector_exposure,
            max_price_staleness_days: to_i32(a.stale),
            warnings: std::mem::take(&mut rows.warnings[k]),
        });
    }
    out
}

fn lookup_series<'a>(
    name: &'a str,
    prices: &'a PriceTable,
    n: usize,
    ids: &mut HashMap<&'a str, usize>,
    series: &mut Vec<Series<'a>>,
) -> usize {
    if let Some(&id) = ids.get(name) {
        return id;
    }
    let closes = prices.closes.get(name).map_or(&[][..], Vec::as_slice);
    series.push(Series::new(name, closes, n));
    ids.insert(name, series.len() - 1);
    series.len() - 1
}

/// Close on `dates[idx]` if that is `d`, else the newest close in the
/// previous [`CURRENT_PRICE_LOOKBACK_DAYS`] trading days before `d`.
fn recent_close(
    closes: Option<&Vec<Option<f64>>>,
    dates: &[NaiveDate],
    idx: usize,
    d: NaiveDate,
) -> Option<(f64, NaiveDate)> {
    let closes = closes?;
    let window = if dates[idx] == d {
        CURRENT_PRICE_LOOKBACK_DAYS
    } else {
        CURRENT_PRICE_LOOKBACK_DAYS - 1
    };
    let from = idx.saturating_sub(window);
    (from..=idx)
        .rev()
        .find_map(|j| valid_close(closes.get(j).copied().flatten()).map(|c| (c, dates[j])))
}

/// Market values of the positions open on `d` (entry ≤ d and no exit date or
/// exit > d; options not yet expired), in input order (ANALYTICS §6).
///
/// Price: the close on `d`, else the newest in the previous 5 trading days,
/// else `None` (market value, P&L and exposure then `None`). Options are
/// valued by Black–Scholes ([`option_quote_on`]) on the underlying's price
/// with its 63-return realised volatility at `d` (default volatility when
/// unavailable); PRIVATE positions at their entry price.
pub fn position_values(
    positions: &[PositionInput],
    prices: &PriceTable,
    d: NaiveDate,
    params: &SnapshotParams,
) -> Vec<PositionValue> {
    let dates = prices.dates.as_slice();
    let idx = on_or_before(dates, d);
    let mut out = Vec::new();
    for p in positions {
        if p.entry_date > d || p.exit_date.is_some_and(|x| x <= d) {
            continue;
        }
        if p.position_type.is_option() && p.expiration_date.is_some_and(|x| x < d) {
            continue;
        }
        let m = p.position_type.multiplier();
        let q = p.quantity;
        let cost = cost_basis(p.position_type, q, p.entry_price);
        let mut pv = PositionValue {
            position_id: p.id,
            last_price: None,
            price_date: None,
            market_value: None,
            cost_basis: cost,
            unrealized_pnl: None,
            delta: None,
            exposure: None,
        };
        if p.investment_class == InvestmentClass::Private {
            pv.last_price = Some(p.entry_price);
            pv.market_value = Some(cost);
            pv.unrealized_pnl = Some(0.0);
            pv.exposure = Some(cost);
            out.push(pv);
            continue;
        }
        let Some(idx) = idx else {
            out.push(pv);
            continue;
        };
        if p.position_type.is_option() {
            let underlying = underlying_of(p);
            let closes = prices.closes.get(underlying);
            let quote = match (
                p.strike_price.filter(|k| k.is_finite() && *k > 0.0),
                p.expiration_date,
                recent_close(closes, dates, idx, d),
            ) {
                (Some(k), Some(expiry), Some((s, date))) => {
                    let sigma = closes
                        .and_then(|c| realized_vol_63(c, idx))
                        .unwrap_or(params.default_option_vol);
                    option_quote_on(
                        option_kind(p),
                        s,
                        k,
                        expiry,
                        d,
                        params.risk_free_rate,
                        sigma,
                    )
                    .map(|qt| (qt, s, date))
                }
                _ => None,
            };
            if let Some((qt, s, date)) = quote {
                let mv = qt.value * q * m;
                pv.last_price = Some(qt.value);
                pv.price_date = Some(date);
                pv.market_value = Some(mv);
                pv.unrealized_pnl = Some(mv - cost);
                pv.delta = Some(qt.delta);
                pv.exposure = Some(qt.delta * s * q * m);
            }
        } else if let Some((c, date)) =
            recent_close(prices.closes.get(p.symbol.as_str()), dates, idx, d)
        {
            let mv = c * q * m;
            pv.last_price = Some(c);
            pv.price_date = Some(date);
            pv.market_value = Some(mv);
            pv.unrealized_pnl = Some(mv - cost);
            pv.exposure = Some(mv);
        }
        out.push(pv);
    }
    out
}

#[cfg(test)]
mod tests;
