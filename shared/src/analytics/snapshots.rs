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
    let n = dates.len();
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

    let mut acc = vec![RowAcc::default(); days.len()];
    let mut row_pnl = vec![0.0_f64; days.len()];
    let mut row_realized = vec![0.0_f64; days.len()];
    let mut sector_names: Vec<&str> = Vec::new();

    if let (Some(&(_, lo)), Some(&(_, hi))) = (valid.first(), valid.last()) {
        // Symbol, sector and series ids.
        let mut sym_ids: HashMap<&str, usize> = HashMap::new();
        let mut sector_ids: HashMap<&str, usize> = HashMap::new();
        let mut series_ids: HashMap<&str, usize> = HashMap::new();
        let mut series: Vec<Series> = Vec::new();
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

        let ctx = Ctx {
            dates,
            series: &series,
            params,
        };
        // P&L per table index over [lo, hi].
        let mut pnl = vec![0.0_f64; hi - lo + 1];
        let mut realized = vec![0.0_f64; hi - lo + 1];
        let mut warns: Vec<(usize, String)> = Vec::new();
        let mut marks: Vec<Mark> = Vec::new();

        for (p, &(kind, sym, sector)) in positions.iter().zip(&prepared) {
            if !(p.quantity.is_finite() && p.entry_price.is_finite()) {
                warns.push((
                    lo,
                    format!(
                        "{} ({}): non-finite quantity or entry price; position skipped",
                        p.symbol, p.id
                    ),
                ));
                continue;
            }
            let mut flags = PosWarnings::default();
            let m = p.position_type.multiplier();
            let q = p.quantity;
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
            let a_end = x.min(end_exp);
            let unpriceable_option = p.position_type.is_option()
                && matches!(kind, Kind::Flat)
                && p.investment_class != InvestmentClass::Private;
            if unpriceable_option && e.max(lo) < a_end.min(hi + 1) {
                warns.push((
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
            marks.clear();
            for i in start..stop {
                marks.push(ctx.mark(p, kind, i, &mut flags, &mut warns));
            }
            // Unrealized P&L on active indices within [lo, hi].
            for i in start.max(lo)..stop {
                let base = if i > e {
                    marks[i - 1 - start].value
                } else {
                    p.entry_price
                };
                pnl[i - lo] += (marks[i - start].value - base) * q * m;
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
                    None => ctx.mark(p, kind, x, &mut flags, &mut warns).value,
                };
                let r = (exit_value - base) * q * m;
                pnl[x - lo] += r;
                realized[x - lo] += r;
            }
            // Exposures on the rows the position is active on.
            let r0 = valid.partition_point(|&(_, i)| i < e);
            let r1 = valid.partition_point(|&(_, i)| i < a_end);
            for &(k, i) in valid.get(r0..r1).unwrap_or(&[]) {
                let mk = marks[i - start];
                let mv = mk.value * q * m;
                let exposure = mk.delta_s.map_or(mv, |ds| ds * q * m);
                let a = &mut acc[k];
                if exposure > 0.0 {
                    a.long += exposure;
                } else {
                    a.short += exposure;
                }
                a.gross += exposure.abs();
                a.net += exposure;
                a.num += 1;
                if q > 0.0 {
                    a.num_long += 1;
                } else if q < 0.0 {
                    a.num_short += 1;
                }
                a.stale = a.stale.max(mk.stale);
                a.entries.push((sym, sector, mv.abs()));
            }
        }

        // Assign warnings to the first row on or after their index.
        for (i, w) in warns {
            let j = valid
                .partition_point(|&(_, ri)| ri < i)
                .min(valid.len() - 1);
            row_warnings[valid[j].0].push(w);
        }
        // P&L per row: (previous row's index, this row's index].
        let mut prev: Option<usize> = None;
        for &(k, i) in &valid {
            let from = prev.map_or(i, |pi| pi + 1);
            if from <= i {
                row_pnl[k] = pnl[from - lo..=i - lo].iter().sum();
                row_realized[k] = realized[from - lo..=i - lo].iter().sum();
            }
            prev = Some(i);
        }
    }

    // Roll equity and assemble rows.
    let b = params.equity_balance;
    let mut equity = params.prior.map_or(b, |p| p.equity);
    let mut cumulative = params.prior.map_or(0.0, |p| p.cumulative_pnl);
    let mut sector_scratch = vec![0.0_f64; sector_names.len()];
    let mut sector_seen = vec![false; sector_names.len()];
    let mut per_symbol: Vec<f64> = Vec::new();
    let mut out = Vec::with_capacity(days.len());
    for (k, d) in days.iter().enumerate() {
        let a = &mut acc[k];
        let daily = row_pnl[k];
        let e_prev = equity;
        equity += daily;
        cumulative += daily;

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
        let conc = concentration(&per_symbol);
        let mut sector_exposure = BTreeMap::new();
        for (s, seen) in sector_seen.iter_mut().enumerate() {
            if *seen && equity > 0.0 {
                sector_exposure.insert(sector_names[s].to_string(), sector_scratch[s] / equity);
            }
            *seen = false;
            sector_scratch[s] = 0.0;
        }

        out.push(SnapshotRow {
            date: *d,
            total_value: equity,
            equity_balance: equity,
            daily_pnl: daily,
            daily_realized_pnl: row_realized[k],
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
            warnings: std::mem::take(&mut row_warnings[k]),
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::analytics::options::black_scholes;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
        assert!(
            (got - want).abs() <= tol,
            "{what}: got {got}, want {want} (tol {tol})"
        );
    }

    fn stock(symbol: &str, qty: f64, entry: f64, entry_date: NaiveDate) -> PositionInput {
        PositionInput::stock(symbol, qty, entry, entry_date)
    }

    #[allow(clippy::too_many_arguments)]
    fn option(
        symbol: &str,
        underlying: &str,
        position_type: PositionType,
        kind: OptionType,
        qty: f64,
        entry: f64,
        entry_date: NaiveDate,
        strike: f64,
        expiry: NaiveDate,
    ) -> PositionInput {
        PositionInput {
            investment_class: InvestmentClass::Options,
            position_type,
            underlying_symbol: Some(underlying.to_string()),
            strike_price: Some(strike),
            expiration_date: Some(expiry),
            option_type: Some(kind),
            ..stock(symbol, qty, entry, entry_date)
        }
    }

    /// Trading days 2024-01-02 … 2024-01-09 (weekdays).
    fn jan_dates() -> Vec<NaiveDate> {
        [2, 3, 4, 5, 8, 9]
            .iter()
            .map(|d| date(2024, 1, *d))
            .collect()
    }

    fn table(dates: Vec<NaiveDate>, series: &[(&str, Vec<Option<f64>>)]) -> PriceTable {
        PriceTable {
            dates,
            closes: series
                .iter()
                .map(|(s, c)| ((*s).to_string(), c.clone()))
                .collect(),
        }
    }

    // ---- helpers -------------------------------------------------------

    #[test]
    fn long_call_market_value_cost_and_unrealized() {
        let mv = market_value(PositionType::Lc, 2.0, 5.0);
        let cost = cost_basis(PositionType::Lc, 2.0, 4.0);
        assert_eq!(mv, 1_000.0);
        assert_eq!(cost, 800.0);
        assert_eq!(mv - cost, 200.0);
        assert_eq!(market_value(PositionType::Long, 3.0, 10.0), 30.0);
        assert_eq!(market_value(PositionType::Short, -3.0, 10.0), -30.0);
    }

    #[test]
    fn cash_gross_and_net_known_answer() {
        let (equity, long, short) = (3_532_423.13, 3_697_052.01, -1_181_680.54);
        assert_close(cash_value(equity, long, short), 1_017_051.66, 1e-6, "cash");
        assert_close(gross_exposure(long, short), 4_878_732.55, 1e-6, "gross");
        assert_close(net_exposure(long, short), 2_515_371.47, 1e-6, "net");
        // Cash is floored at zero.
        assert_eq!(cash_value(100.0, 500.0, 0.0), 0.0);
    }

    #[test]
    fn hhi_to_effective_positions() {
        let eff = effective_num_positions(945.6026).unwrap();
        assert_eq!((eff * 100.0).round() / 100.0, 10.58);
        assert_eq!(effective_num_positions(0.0), None);
    }

    #[test]
    fn concentration_metrics() {
        // 4 equal weights: hhi 2500, effective 4, top-3 0.75, top-10 1.
        let c = concentration(&[10.0, -10.0, 10.0, 10.0]).unwrap();
        assert_close(c.hhi, 2_500.0, 1e-9, "hhi");
        assert_close(c.effective_num_positions, 4.0, 1e-12, "eff");
        assert_close(c.top_3, 0.75, 1e-12, "top3");
        assert_close(c.top_10, 1.0, 1e-12, "top10");
        // Weights 0.5, 0.3, 0.1, 0.1.
        let c = concentration(&[50.0, 10.0, 30.0, 10.0]).unwrap();
        assert_close(c.hhi, 3_600.0, 1e-9, "hhi");
        assert_close(c.top_3, 0.9, 1e-12, "top3");
        assert_eq!(concentration(&[]), None);
        assert_eq!(concentration(&[0.0, 0.0]), None);
    }

    #[test]
    fn sector_rules() {
        let d = date(2024, 1, 2);
        let mut p = stock("AAPL", 1.0, 1.0, d);
        assert_eq!(sector_of(&p), UNCLASSIFIED_SECTOR);
        p.sector = Some("Technology".into());
        assert_eq!(sector_of(&p), "Technology");
        p.sector = Some("  ".into());
        assert_eq!(sector_of(&p), UNCLASSIFIED_SECTOR);
        p.sector = Some("Technology".into());
        p.investment_class = InvestmentClass::Private;
        assert_eq!(sector_of(&p), UNCLASSIFIED_SECTOR);
        let mut o = option(
            "X",
            "AAPL",
            PositionType::Lc,
            OptionType::Call,
            1.0,
            1.0,
            d,
            1.0,
            d,
        );
        o.sector = Some("Technology".into());
        assert_eq!(sector_of(&o), UNCLASSIFIED_SECTOR);
    }

    #[test]
    fn realized_vol_window() {
        // Alternating +1% / −1% returns.
        let mut closes = vec![Some(100.0)];
        for i in 0..80 {
            let last = closes[i].unwrap();
            closes.push(Some(if i % 2 == 0 { last * 1.01 } else { last * 0.99 }));
        }
        // 63 returns ending at 80: indices 18..=80 → 32 of +1% (even i−1) …
        let v = realized_vol_63(&closes, 80).unwrap();
        let rets: Vec<f64> = (18..=80)
            .map(|j| closes[j].unwrap() / closes[j - 1].unwrap() - 1.0)
            .collect();
        assert_eq!(rets.len(), 63);
        let mean = rets.iter().sum::<f64>() / 63.0;
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 62.0;
        assert_close(v, var.sqrt() * 252f64.sqrt(), 1e-14, "vol");
        assert_close(v, 0.01 * 252f64.sqrt() * (63.0f64 / 62.0).sqrt(), 1e-4, "≈");
        // 19 returns → None, 20 → Some.
        assert_eq!(realized_vol_63(&closes, 19), None);
        assert!(realized_vol_63(&closes, 20).is_some());
        // Gaps remove both adjacent returns.
        let mut gappy = closes.clone();
        gappy[10] = None;
        assert_eq!(realized_vol_63(&gappy, 21), None); // 21 − 2 = 19 returns
        assert!(realized_vol_63(&gappy, 22).is_some());
        assert_eq!(realized_vol_63(&closes, 81), None);
        assert_eq!(realized_vol_63(&closes, 0), None);
    }

    // ---- snapshots -----------------------------------------------------

    /// Hand-computed 3-day, 3-position example.
    ///
    /// AAPL +10 @100 (Jan 2, Technology), closes 101, 103, —, 106;
    /// TSLA −5 @200 entered Jan 4 (no sector), closes 210, 205, 198, 202;
    /// MSFT +4 @50 (Jan 2, Technology), exits Jan 5 @55, closes 51, 52, 53, 54.
    #[test]
    fn three_day_three_position_example() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[
                ("AAPL", vec![Some(101.0), Some(103.0), None, Some(106.0)]),
                (
                    "TSLA",
                    vec![Some(210.0), Some(205.0), Some(198.0), Some(202.0)],
                ),
                ("MSFT", vec![Some(51.0), Some(52.0), Some(53.0), Some(54.0)]),
            ],
        );
        let mut aapl = stock("AAPL", 10.0, 100.0, date(2024, 1, 2));
        aapl.sector = Some("Technology".into());
        let tsla = stock("TSLA", -5.0, 200.0, date(2024, 1, 4));
        let mut msft = stock("MSFT", 4.0, 50.0, date(2024, 1, 2));
        msft.sector = Some("Technology".into());
        msft.exit_date = Some(date(2024, 1, 5));
        msft.exit_price = Some(55.0);
        let days = &dates[1..4];
        let rows = compute_snapshots(
            &[aapl, tsla, msft],
            &prices,
            days,
            &SnapshotParams::new(10_000.0),
        );
        assert_eq!(rows.len(), 3);

        // Jan 3: AAPL (103−101)·10 = 20, MSFT (52−51)·4 = 4.
        let r = &rows[0];
        assert_eq!(r.date, date(2024, 1, 3));
        assert_close(r.daily_pnl, 24.0, 1e-9, "d1 pnl");
        assert_eq!(r.daily_realized_pnl, 0.0);
        assert_close(r.equity_balance, 10_024.0, 1e-9, "d1 equity");
        assert_eq!(r.total_value, r.equity_balance);
        assert_close(r.daily_return.unwrap(), 0.0024, 1e-12, "d1 ret");
        assert_close(r.cumulative_pnl, 24.0, 1e-9, "d1 cum");
        assert_close(r.cumulative_return.unwrap(), 0.0024, 1e-12, "d1 cumret");
        assert_close(r.long_value, 1_238.0, 1e-9, "d1 long");
        assert_eq!(r.short_value, 0.0);
        assert_close(r.gross_exposure, 1_238.0, 1e-9, "d1 gross");
        assert_close(r.net_exposure, 1_238.0, 1e-9, "d1 net");
        assert_close(r.cash_value, 8_786.0, 1e-9, "d1 cash");
        assert_eq!((r.num_positions, r.num_long, r.num_short), (2, 2, 0));
        assert_close(r.hhi.unwrap(), 7_204.308_371_676_658, 1e-8, "d1 hhi");
        assert_close(
            r.effective_num_positions.unwrap(),
            10_000.0 / 7_204.308_371_676_658,
            1e-10,
            "d1 eff",
        );
        assert_close(r.top_3_concentration.unwrap(), 1.0, 1e-12, "d1 top3");
        assert_close(r.top_10_concentration.unwrap(), 1.0, 1e-12, "d1 top10");
        assert_eq!(r.sector_exposure.len(), 1);
        assert_close(
            r.sector_exposure["Technology"],
            1_238.0 / 10_024.0,
            1e-12,
            "d1 tech",
        );
        assert_eq!(r.max_price_staleness_days, 0);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);

        // Jan 4: AAPL stale at 103 → 0; TSLA entry day (198−200)·(−5) = +10;
        // MSFT (53−52)·4 = 4.
        let r = &rows[1];
        assert_close(r.daily_pnl, 14.0, 1e-9, "d2 pnl");
        assert_close(r.equity_balance, 10_038.0, 1e-9, "d2 equity");
        assert_close(r.daily_return.unwrap(), 14.0 / 10_024.0, 1e-15, "d2 ret");
        assert_close(r.long_value, 1_242.0, 1e-9, "d2 long");
        assert_close(r.short_value, -990.0, 1e-9, "d2 short");
        assert_close(r.gross_exposure, 2_232.0, 1e-9, "d2 gross");
        assert_close(r.net_exposure, 252.0, 1e-9, "d2 net");
        assert_close(r.cash_value, 9_786.0, 1e-9, "d2 cash");
        assert_eq!((r.num_positions, r.num_long, r.num_short), (3, 2, 1));
        assert_close(r.hhi.unwrap(), 4_187.108_978_558_857, 1e-8, "d2 hhi");
        assert_close(
            r.top_3_concentration.unwrap(),
            1.0,
            1e-12,
            "d2 top3 (3 symbols)",
        );
        assert_close(
            r.sector_exposure["Technology"],
            1_242.0 / 10_038.0,
            1e-12,
            "d2 tech",
        );
        assert_close(
            r.sector_exposure[UNCLASSIFIED_SECTOR],
            990.0 / 10_038.0,
            1e-12,
            "d2 unclassified",
        );
        assert_eq!(r.max_price_staleness_days, 1);

        // Jan 5: AAPL (106−103)·10 = 30; TSLA (202−198)·(−5) = −20;
        // MSFT exits: realized (55−53)·4 = 8, no longer counted.
        let r = &rows[2];
        assert_close(r.daily_pnl, 18.0, 1e-9, "d3 pnl");
        assert_close(r.daily_realized_pnl, 8.0, 1e-9, "d3 realized");
        assert_close(r.equity_balance, 10_056.0, 1e-9, "d3 equity");
        assert_close(r.cumulative_pnl, 56.0, 1e-9, "d3 cum");
        assert_close(r.cumulative_return.unwrap(), 0.0056, 1e-12, "d3 cumret");
        assert_close(r.long_value, 1_060.0, 1e-9, "d3 long");
        assert_close(r.short_value, -1_010.0, 1e-9, "d3 short");
        assert_close(r.gross_exposure, 2_070.0, 1e-9, "d3 gross");
        assert_close(r.net_exposure, 50.0, 1e-9, "d3 net");
        assert_close(r.cash_value, 10_006.0, 1e-9, "d3 cash");
        assert_eq!((r.num_positions, r.num_long, r.num_short), (2, 1, 1));
        assert_close(r.hhi.unwrap(), 5_002.917_220_938_645, 1e-8, "d3 hhi");
        assert_close(
            r.sector_exposure["Technology"],
            1_060.0 / 10_056.0,
            1e-12,
            "d3 tech",
        );
        assert_eq!(r.max_price_staleness_days, 0);
    }

    #[test]
    fn short_position_gains_when_price_falls() {
        let dates = jan_dates();
        let prices = table(dates.clone(), &[("XYZ", vec![Some(50.0), Some(48.0)])]);
        let p = stock("XYZ", -10.0, 55.0, date(2023, 12, 1));
        let rows = compute_snapshots(&[p], &prices, &dates[1..2], &SnapshotParams::new(1_000.0));
        assert_close(rows[0].daily_pnl, 20.0, 1e-12, "short pnl");
        assert_close(rows[0].short_value, -480.0, 1e-12, "short value");
        assert_close(rows[0].cash_value, 1_020.0 + 480.0, 1e-9, "cash");
        assert_eq!((rows[0].num_long, rows[0].num_short), (0, 1));
    }

    #[test]
    fn entry_day_pnl_is_from_entry_price() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[("XYZ", vec![Some(40.0), Some(41.0), Some(43.0)])],
        );
        let p = stock("XYZ", 100.0, 40.5, date(2024, 1, 3));
        let rows = compute_snapshots(&[p], &prices, &dates[0..3], &SnapshotParams::new(10_000.0));
        assert_eq!(rows[0].num_positions, 0);
        assert_eq!(rows[0].daily_pnl, 0.0);
        assert_close(rows[1].daily_pnl, 50.0, 1e-9, "entry day (41−40.5)·100");
        assert_close(rows[2].daily_pnl, 200.0, 1e-9, "next day (43−41)·100");
        // A weekend entry is taken from entry price on the next trading day.
        let p = stock("XYZ", 100.0, 40.5, date(2024, 1, 6));
        let prices = table(
            dates.clone(),
            &[("XYZ", vec![None, None, None, Some(40.0), Some(42.0)])],
        );
        let rows = compute_snapshots(&[p], &prices, &dates[3..5], &SnapshotParams::new(0.0));
        assert_eq!(rows[0].num_positions, 0);
        assert_close(rows[1].daily_pnl, 150.0, 1e-9, "(42−40.5)·100");
        // B = 0: no returns.
        assert_eq!(rows[1].daily_return, None);
        assert_eq!(rows[1].cumulative_return, None);
    }

    #[test]
    fn exit_is_booked_as_realized() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[("XYZ", vec![Some(10.0), Some(11.0), Some(12.0), Some(9.0)])],
        );
        // Exit with a price: (12.5 − 11)·100 on Jan 4.
        let mut a = stock("XYZ", 100.0, 10.0, date(2024, 1, 2));
        a.exit_date = Some(date(2024, 1, 4));
        a.exit_price = Some(12.5);
        // Exit without a price: P_d used, (12 − 11)·(−50).
        let mut b = stock("XYZ", -50.0, 10.0, date(2024, 1, 2));
        b.exit_date = Some(date(2024, 1, 4));
        let rows = compute_snapshots(
            &[a, b],
            &prices,
            &dates[1..4],
            &SnapshotParams::new(5_000.0),
        );
        assert_close(rows[0].daily_pnl, 100.0 - 50.0, 1e-9, "day before exit");
        assert_eq!(rows[0].num_positions, 2);
        let r = &rows[1];
        assert_close(r.daily_realized_pnl, 150.0 - 50.0, 1e-9, "realized");
        assert_close(r.daily_pnl, 100.0, 1e-9, "pnl includes realized");
        assert_eq!(r.num_positions, 0);
        assert_eq!(r.gross_exposure, 0.0);
        assert_eq!(r.hhi, None);
        assert!(r.sector_exposure.is_empty());
        assert_close(r.cash_value, 5_150.0, 1e-9, "all cash");
        // Nothing after the exit.
        assert_eq!(rows[2].daily_pnl, 0.0);
        assert_eq!(rows[2].daily_realized_pnl, 0.0);
        // Entered and exited between snapshots' days: (exit − entry).
        let mut c = stock("XYZ", 10.0, 10.0, date(2024, 1, 6));
        c.exit_date = Some(date(2024, 1, 7));
        c.exit_price = Some(13.0);
        let rows = compute_snapshots(&[c], &prices, &dates[4..5], &SnapshotParams::new(1.0));
        assert_close(rows[0].daily_realized_pnl, 30.0, 1e-9, "round trip");
        assert_eq!(rows[0].num_positions, 0);
    }

    #[test]
    fn missing_close_is_forward_filled_with_staleness() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[
                ("A", vec![Some(10.0), None, None, None, Some(14.0)]),
                (
                    "B",
                    vec![Some(5.0), Some(5.0), Some(5.0), Some(6.0), Some(6.0)],
                ),
            ],
        );
        let a = stock("A", 1.0, 10.0, date(2024, 1, 2));
        let b = stock("B", 1.0, 5.0, date(2024, 1, 2));
        let rows = compute_snapshots(&[a, b], &prices, &dates[1..5], &SnapshotParams::new(100.0));
        let stale: Vec<i32> = rows.iter().map(|r| r.max_price_staleness_days).collect();
        assert_eq!(stale, vec![1, 2, 3, 0]);
        let pnl: Vec<f64> = rows.iter().map(|r| r.daily_pnl).collect();
        assert_eq!(pnl, vec![0.0, 0.0, 1.0, 4.0]);
        assert_close(rows[2].long_value, 16.0, 1e-12, "stale A at 10 + B 6");
        // A symbol with no close at all: entry price and one warning.
        let c = stock("NOPE", 3.0, 7.0, date(2024, 1, 2));
        let rows = compute_snapshots(&[c], &prices, &dates[1..5], &SnapshotParams::new(100.0));
        assert!(rows.iter().all(|r| r.daily_pnl == 0.0));
        assert_close(rows[3].long_value, 21.0, 1e-12, "entry-price mark");
        let warnings: usize = rows.iter().map(|r| r.warnings.len()).sum();
        assert_eq!(warnings, 1);
        assert!(rows[0].warnings[0].contains("NOPE"));
    }

    #[test]
    fn option_by_black_scholes_then_intrinsic_then_inactive() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[(
                "XYZ",
                vec![
                    Some(100.0),
                    Some(101.0),
                    Some(102.0),
                    Some(103.0),
                    Some(105.0),
                    Some(104.0),
                ],
            )],
        );
        let expiry = date(2024, 1, 8);
        let lc = option(
            "XYZ240108C100",
            "XYZ",
            PositionType::Lc,
            OptionType::Call,
            2.0,
            1.5,
            date(2024, 1, 3),
            100.0,
            expiry,
        );
        let rows = compute_snapshots(&[lc], &prices, &dates[1..6], &SnapshotParams::new(50_000.0));
        let bs =
            |s: f64, days: f64| black_scholes(OptionType::Call, s, 100.0, days / 365.0, 0.04, 0.30);
        let v3 = bs(101.0, 5.0);
        let v4 = bs(102.0, 4.0);
        let v5 = bs(103.0, 3.0);
        // Known values (mpmath): S 101 T 5/365 and S 102 T 4/365, σ 0.30, r 0.04.
        assert_close(v3.value, 1.997_150_447_733_041, 1e-10, "V(Jan 3)");
        assert_close(v4.value, 2.541_001_272_199_05, 1e-10, "V(Jan 4)");
        assert_close(v4.delta, 0.745_439_968_341_606, 1e-10, "delta(Jan 4)");

        // Entry day: (V − entry)·qty·100.
        assert_close(rows[0].daily_pnl, (v3.value - 1.5) * 200.0, 1e-9, "entry");
        assert_close(
            rows[1].daily_pnl,
            (v4.value - v3.value) * 200.0,
            1e-9,
            "Jan 4",
        );
        assert_close(
            rows[1].long_value,
            v4.delta * 102.0 * 200.0,
            1e-9,
            "exposure",
        );
        assert_close(rows[1].hhi.unwrap(), 10_000.0, 1e-9, "single symbol hhi");
        assert_close(
            rows[2].daily_pnl,
            (v5.value - v4.value) * 200.0,
            1e-9,
            "Jan 5",
        );
        // Expiry day: intrinsic 5 → mv 1,000; delta 1 → exposure 105·200.
        assert_close(rows[3].daily_pnl, (5.0 - v5.value) * 200.0, 1e-9, "expiry");
        assert_close(rows[3].long_value, 21_000.0, 1e-9, "expiry exposure");
        assert_close(rows[3].cumulative_pnl, (5.0 - 1.5) * 200.0, 1e-9, "cum");
        assert_eq!(rows[3].num_positions, 1);
        assert_eq!(rows[3].sector_exposure.len(), 1);
        assert_close(
            rows[3].sector_exposure[UNCLASSIFIED_SECTOR],
            1_000.0 / rows[3].equity_balance,
            1e-12,
            "option sector",
        );
        // After expiry: inactive, no P&L.
        assert_eq!(rows[4].num_positions, 0);
        assert_eq!(rows[4].daily_pnl, 0.0);
        assert_eq!(rows[4].gross_exposure, 0.0);
        // Under 20 returns: default vol, one warning for the whole run.
        let warnings: Vec<&String> = rows.iter().flat_map(|r| &r.warnings).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(!rows[0].warnings.is_empty());
        assert!(warnings[0].contains("default volatility"));
    }

    #[test]
    fn option_uses_realized_vol_with_enough_history() {
        // 30 trading days of alternating closes, then price the option.
        let start = date(2024, 2, 1);
        let dates: Vec<NaiveDate> = (0..30).map(|i| start + chrono::Days::new(i)).collect();
        let closes: Vec<Option<f64>> = (0..30)
            .map(|i| Some(if i % 2 == 0 { 100.0 } else { 102.0 }))
            .collect();
        let prices = table(dates.clone(), &[("XYZ", closes.clone())]);
        let expiry = date(2024, 6, 21);
        let sp = option(
            "XYZP",
            "XYZ",
            PositionType::Sp,
            OptionType::Put,
            -3.0,
            4.0,
            date(2024, 1, 2),
            100.0,
            expiry,
        );
        let d = dates[29];
        let rows = compute_snapshots(
            std::slice::from_ref(&sp),
            &prices,
            &[d],
            &SnapshotParams::new(10_000.0),
        );
        let sigma = realized_vol_63(&closes, 29).unwrap();
        let q = option_quote_on(OptionType::Put, 102.0, 100.0, expiry, d, 0.04, sigma).unwrap();
        let q_prev = option_quote_on(
            OptionType::Put,
            100.0,
            100.0,
            expiry,
            dates[28],
            0.04,
            realized_vol_63(&closes, 28).unwrap(),
        )
        .unwrap();
        assert_close(
            rows[0].daily_pnl,
            (q.value - q_prev.value) * -300.0,
            1e-9,
            "pnl",
        );
        // Short put: delta < 0, qty < 0 → positive exposure.
        assert_close(
            rows[0].long_value,
            q.delta * 102.0 * -300.0,
            1e-9,
            "exposure",
        );
        assert!(rows[0].warnings.is_empty(), "{:?}", rows[0].warnings);
        assert_eq!((rows[0].num_long, rows[0].num_short), (0, 1));
    }

    #[test]
    fn private_positions_are_flat() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[("FUND", vec![Some(1.0), Some(2.0), Some(3.0)])],
        );
        let mut p = stock("FUND", 1_000.0, 10.0, date(2024, 1, 3));
        p.investment_class = InvestmentClass::Private;
        p.sector = Some("Real Estate".into());
        let rows = compute_snapshots(&[p], &prices, &dates[1..4], &SnapshotParams::new(20_000.0));
        for r in &rows {
            assert_eq!(r.daily_pnl, 0.0);
            assert_eq!(r.long_value, 10_000.0);
            assert_eq!(r.num_positions, 1);
            assert_eq!(r.equity_balance, 20_000.0);
            assert_eq!(r.cash_value, 10_000.0);
            assert_eq!(r.sector_exposure[UNCLASSIFIED_SECTOR], 0.5);
            assert_eq!(r.max_price_staleness_days, 0);
            assert!(r.warnings.is_empty());
        }
    }

    #[test]
    fn equity_roll_with_and_without_prior() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[("A", vec![Some(10.0), Some(11.0), Some(9.0)])],
        );
        let p = stock("A", 100.0, 10.0, date(2024, 1, 2));
        let days = &dates[1..3];
        let base = SnapshotParams::new(1_000.0);
        let rows = compute_snapshots(std::slice::from_ref(&p), &prices, days, &base);
        assert_close(rows[0].equity_balance, 1_100.0, 1e-9, "E1");
        assert_close(rows[1].equity_balance, 900.0, 1e-9, "E2");
        assert_close(rows[1].daily_return.unwrap(), -200.0 / 1_100.0, 1e-15, "r2");
        assert_close(rows[1].cumulative_pnl, -100.0, 1e-9, "cum");
        assert_close(rows[1].cumulative_return.unwrap(), -0.1, 1e-12, "cumret");

        let with_prior = SnapshotParams {
            prior: Some(PriorSnapshot {
                date: date(2024, 1, 2),
                equity: 1_500.0,
                cumulative_pnl: 500.0,
            }),
            ..base
        };
        let rows = compute_snapshots(&[p], &prices, days, &with_prior);
        assert_close(rows[0].equity_balance, 1_600.0, 1e-9, "E1 prior");
        assert_close(
            rows[0].daily_return.unwrap(),
            100.0 / 1_500.0,
            1e-15,
            "r1 prior",
        );
        assert_close(rows[0].cumulative_pnl, 600.0, 1e-9, "cum1 prior");
        assert_close(rows[1].equity_balance, 1_400.0, 1e-9, "E2 prior");
        assert_close(rows[1].cumulative_pnl, 400.0, 1e-9, "cum2 prior");
        assert_close(
            rows[1].cumulative_return.unwrap(),
            0.4,
            1e-12,
            "cumret vs B",
        );
        assert!(rows[0].warnings.is_empty());

        // Non-positive previous equity: no daily return, no sector exposure.
        let broke = SnapshotParams {
            prior: Some(PriorSnapshot {
                date: date(2024, 1, 2),
                equity: -50.0,
                cumulative_pnl: 0.0,
            }),
            ..base
        };
        let rows = compute_snapshots(
            &[stock("A", 1.0, 10.0, date(2024, 1, 2))],
            &prices,
            days,
            &broke,
        );
        assert_eq!(rows[0].daily_return, None);
        assert!(rows[0].sector_exposure.is_empty());
        assert_eq!(rows[0].cash_value, 0.0);
    }

    #[test]
    fn skipped_and_non_trading_days() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[("A", vec![Some(10.0), Some(11.0), Some(12.0), Some(14.0)])],
        );
        let p = stock("A", 1.0, 10.0, date(2024, 1, 2));
        // Jan 4 skipped: its P&L lands on Jan 5; Saturday Jan 6 repeats Jan 5.
        let days = [date(2024, 1, 3), date(2024, 1, 5), date(2024, 1, 6)];
        let rows = compute_snapshots(&[p], &prices, &days, &SnapshotParams::new(100.0));
        assert_eq!(rows[0].daily_pnl, 1.0);
        assert_eq!(rows[1].daily_pnl, 3.0);
        assert_eq!(rows[2].daily_pnl, 0.0);
        assert_eq!(rows[2].equity_balance, 104.0);
        assert_eq!(rows[2].long_value, 14.0);
        assert_eq!(rows[2].warnings.len(), 1);
        // A day before the table: a row with nothing in it.
        let rows = compute_snapshots(
            &[],
            &prices,
            &[date(2023, 12, 29)],
            &SnapshotParams::new(7.0),
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].equity_balance, 7.0);
        assert_eq!(rows[0].warnings.len(), 1);
        assert!(compute_snapshots(&[], &prices, &[], &SnapshotParams::new(7.0)).is_empty());
    }

    #[test]
    fn non_finite_inputs_are_skipped_with_a_warning() {
        let dates = jan_dates();
        let prices = table(dates.clone(), &[("A", vec![Some(10.0), Some(11.0)])]);
        let good = stock("A", 1.0, 10.0, date(2024, 1, 2));
        let bad = stock("A", f64::NAN, 10.0, date(2024, 1, 2));
        let rows = compute_snapshots(
            &[good, bad],
            &prices,
            &dates[1..2],
            &SnapshotParams::new(100.0),
        );
        assert_eq!(rows[0].daily_pnl, 1.0);
        assert_eq!(rows[0].num_positions, 1);
        assert_eq!(rows[0].warnings.len(), 1);
    }

    // ---- current values ------------------------------------------------

    #[test]
    fn position_values_for_stocks_options_and_private() {
        let dates = jan_dates();
        let prices = table(
            dates.clone(),
            &[
                (
                    "XYZ",
                    vec![
                        Some(100.0),
                        Some(101.0),
                        Some(102.0),
                        Some(103.0),
                        Some(105.0),
                    ],
                ),
                ("OLD", vec![Some(20.0), None, None, None, None, None]),
                (
                    "STALE",
                    vec![Some(30.0), Some(31.0), None, None, None, None],
                ),
            ],
        );
        let expiry = date(2024, 1, 8);
        let lc = option(
            "C",
            "XYZ",
            PositionType::Lc,
            OptionType::Call,
            2.0,
            4.0,
            date(2024, 1, 2),
            100.0,
            expiry,
        );
        let sp = option(
            "P",
            "XYZ",
            PositionType::Sp,
            OptionType::Put,
            -1.0,
            5.0,
            date(2024, 1, 2),
            100.0,
            date(2024, 2, 7),
        );
        let mut private = stock("PRIV", 10.0, 50.0, date(2024, 1, 2));
        private.investment_class = InvestmentClass::Private;
        let long = stock("XYZ", 10.0, 90.0, date(2024, 1, 2));
        let stale = stock("STALE", 1.0, 30.0, date(2024, 1, 2));
        let old = stock("OLD", 1.0, 20.0, date(2024, 1, 2));
        let mut closed = stock("XYZ", 1.0, 90.0, date(2024, 1, 2));
        closed.exit_date = Some(expiry);
        let future = stock("XYZ", 1.0, 90.0, date(2024, 1, 9));
        let all = [
            lc.clone(),
            sp.clone(),
            private.clone(),
            long.clone(),
            stale.clone(),
            old.clone(),
            closed,
            future,
        ];
        let params = SnapshotParams::new(0.0);
        let vals = position_values(&all, &prices, expiry, &params);
        assert_eq!(vals.len(), 6, "closed and future positions excluded");

        // LC on its expiry day: intrinsic 5 → mv 1,000, cost 800, unrealized 200.
        let v = &vals[0];
        assert_eq!(v.position_id, lc.id);
        assert_eq!(v.last_price, Some(5.0));
        assert_eq!(v.price_date, Some(expiry));
        assert_eq!(v.market_value, Some(1_000.0));
        assert_eq!(v.cost_basis, 800.0);
        assert_eq!(v.unrealized_pnl, Some(200.0));
        assert_eq!(v.delta, Some(1.0));
        assert_eq!(v.exposure, Some(21_000.0));

        // SP, 30 days to expiry, default vol (4 returns): BS put at S 105.
        let v = &vals[1];
        let q = black_scholes(OptionType::Put, 105.0, 100.0, 30.0 / 365.0, 0.04, 0.30);
        assert_close(v.last_price.unwrap(), q.value, 1e-12, "put value");
        assert_close(v.market_value.unwrap(), -100.0 * q.value, 1e-9, "put mv");
        assert_eq!(v.cost_basis, -500.0);
        assert_close(
            v.unrealized_pnl.unwrap(),
            500.0 - 100.0 * q.value,
            1e-9,
            "put pnl",
        );
        assert_close(
            v.exposure.unwrap(),
            q.delta * 105.0 * -100.0,
            1e-9,
            "put exposure",
        );
        assert!(v.exposure.unwrap() > 0.0);

        // Private: entry price, no P&L.
        let v = &vals[2];
        assert_eq!(v.market_value, Some(500.0));
        assert_eq!(v.unrealized_pnl, Some(0.0));
        assert_eq!(v.price_date, None);

        // Stock with a close on d.
        let v = &vals[3];
        assert_eq!((v.last_price, v.price_date), (Some(105.0), Some(expiry)));
        assert_eq!(v.unrealized_pnl, Some(150.0));
        assert_eq!(v.exposure, Some(1_050.0));
        assert_eq!(v.delta, None);

        // Newest close within the previous 5 trading days (Jan 3).
        let v = &vals[4];
        assert_eq!(
            (v.last_price, v.price_date),
            (Some(31.0), Some(date(2024, 1, 3)))
        );
        // Jan 2 is 4 trading days before Jan 8: still within the window.
        let v = &vals[5];
        assert_eq!(
            (v.last_price, v.price_date),
            (Some(20.0), Some(date(2024, 1, 2)))
        );
        assert_eq!(v.unrealized_pnl, Some(0.0));

        // After expiry the LC is no longer open.
        let vals = position_values(&all, &prices, date(2024, 1, 9), &params);
        assert_eq!(vals.len(), 6);
        assert!(vals.iter().all(|v| v.position_id != lc.id));
    }

    #[test]
    fn position_values_five_trading_day_window() {
        let dates = weekdays(10);
        let mut closes = vec![None; 10];
        closes[0] = Some(20.0);
        let prices = table(dates.clone(), &[("OLD", closes)]);
        let old = stock("OLD", 2.0, 15.0, dates[0]);
        let params = SnapshotParams::new(0.0);
        // dates[5]: dates[0] is the 5th previous trading day → used.
        let v = &position_values(std::slice::from_ref(&old), &prices, dates[5], &params)[0];
        assert_eq!((v.last_price, v.price_date), (Some(20.0), Some(dates[0])));
        assert_eq!(v.unrealized_pnl, Some(10.0));
        // dates[6]: 6 trading days back → unknown.
        let v = &position_values(std::slice::from_ref(&old), &prices, dates[6], &params)[0];
        assert_eq!(v.last_price, None);
        assert_eq!(v.market_value, None);
        assert_eq!(v.unrealized_pnl, None);
        assert_eq!(v.exposure, None);
        assert_eq!(v.cost_basis, 30.0);
        // A non-trading day, Saturday 2019-01-12 (after Friday dates[8]): the
        // 5 previous trading days are dates[4..=8].
        let saturday = dates[8] + chrono::Days::new(1);
        let mut mid = vec![None; 10];
        mid[4] = Some(7.0);
        let mut early = vec![None; 10];
        early[3] = Some(8.0);
        let prices = table(dates.clone(), &[("MID", mid), ("EARLY", early)]);
        let both = [
            stock("MID", 1.0, 7.0, dates[0]),
            stock("EARLY", 1.0, 8.0, dates[0]),
        ];
        let vals = position_values(&both, &prices, saturday, &params);
        assert_eq!(vals[0].price_date, Some(dates[4]));
        assert_eq!(vals[1].last_price, None);
        // Before the table: no price.
        let before = dates[0] - chrono::Days::new(1);
        let v = &position_values(&both, &prices, before, &params);
        assert!(v.is_empty(), "entered after d");
        let mut early_entry = both[0].clone();
        early_entry.entry_date = before;
        let v = &position_values(&[early_entry], &prices, before, &params)[0];
        assert_eq!(v.last_price, None);
    }

    // ---- scale and reference ---------------------------------------------

    /// Small deterministic generator (LCG).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64) / ((1_u64 << 53) as f64)
        }
    }

    /// Weekdays from 2019-01-01, `n` of them.
    fn weekdays(n: usize) -> Vec<NaiveDate> {
        use chrono::Datelike;
        let mut d = date(2019, 1, 1);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if d.weekday().num_days_from_monday() < 5 {
                out.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        out
    }

    fn random_book(
        rng: &mut Lcg,
        dates: &[NaiveDate],
        n_pos: usize,
        with_options: bool,
    ) -> (Vec<PositionInput>, PriceTable) {
        let n = dates.len();
        let mut closes = HashMap::new();
        let n_sym = 120;
        for s in 0..n_sym {
            let mut px = 20.0 + 200.0 * rng.next();
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                px *= 1.0 + 0.02 * (rng.next() - 0.5);
                v.push(if rng.next() < 0.03 { None } else { Some(px) });
            }
            closes.insert(format!("S{s}"), v);
        }
        let mut positions = Vec::with_capacity(n_pos);
        for k in 0..n_pos {
            let sym = format!("S{}", k % n_sym);
            let entry_i = (rng.next() * n as f64 * 0.9) as usize;
            let qty = (rng.next() * 200.0 - 60.0).round();
            let mut p = stock(
                &sym,
                if qty == 0.0 { 1.0 } else { qty },
                10.0 + 100.0 * rng.next(),
                dates[entry_i],
            );
            p.sector = Some(["Tech", "Energy", "ETFs"][k % 3].to_string());
            if rng.next() < 0.3 {
                let exit_i = entry_i + (rng.next() * (n - entry_i) as f64) as usize;
                p.exit_date =
                    Some(dates[exit_i.min(n - 1)] + chrono::Days::new(u64::from(k % 2 == 0)));
                if rng.next() < 0.5 {
                    p.exit_price = Some(10.0 + 100.0 * rng.next());
                }
            }
            if k % 17 == 0 {
                p.investment_class = InvestmentClass::Private;
            }
            if with_options && k % 10 == 3 {
                let expiry = dates[(entry_i + 60).min(n - 1)] + chrono::Days::new(1);
                let q = p.quantity.signum() * 3.0;
                let pt = if q > 0.0 {
                    PositionType::Lc
                } else {
                    PositionType::Sp
                };
                let kind = if q > 0.0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                };
                p = PositionInput {
                    id: Uuid::new_v4(),
                    ..option(
                        &format!("{sym}-OPT{k}"),
                        &sym,
                        pt,
                        kind,
                        q,
                        2.0,
                        p.entry_date,
                        100.0,
                        expiry,
                    )
                };
            }
            positions.push(p);
        }
        (
            positions,
            PriceTable {
                dates: dates.to_vec(),
                closes,
            },
        )
    }

    /// Straightforward per-day, per-position evaluation of the stock rules.
    fn naive_pnl(
        positions: &[PositionInput],
        prices: &PriceTable,
        days: &[NaiveDate],
    ) -> Vec<(f64, f64, i32)> {
        let dates = &prices.dates;
        let price = |sym: &str, i: usize| -> Option<f64> {
            let c = &prices.closes[sym];
            (0..=i).rev().find_map(|j| c[j])
        };
        days.iter()
            .map(|d| {
                let i = dates.iter().position(|x| x == d).unwrap();
                let prev = dates[i - 1];
                let (mut pnl, mut long, mut num) = (0.0, 0.0, 0);
                for p in positions {
                    let private = p.investment_class == InvestmentClass::Private;
                    let px = |j: usize| {
                        if private {
                            p.entry_price
                        } else {
                            price(&p.symbol, j).unwrap_or(p.entry_price)
                        }
                    };
                    let active =
                        |dd: NaiveDate| p.entry_date <= dd && p.exit_date.is_none_or(|x| x > dd);
                    let was_active = active(prev);
                    let base = if was_active { px(i - 1) } else { p.entry_price };
                    if active(*d) {
                        pnl += (px(i) - base) * p.quantity;
                        let e = px(i) * p.quantity;
                        if e > 0.0 {
                            long += e;
                        }
                        num += 1;
                    } else if let Some(x) = p.exit_date {
                        // Exit booked on the first trading day on or after it.
                        if x <= *d && x > prev && p.entry_date <= *d {
                            pnl += (p.exit_price.unwrap_or_else(|| px(i)) - base) * p.quantity;
                        }
                    }
                }
                (pnl, long, num)
            })
            .collect()
    }

    #[test]
    fn matches_naive_reference_on_random_stock_book() {
        let mut rng = Lcg(7);
        let dates = weekdays(160);
        let (positions, prices) = random_book(&mut rng, &dates, 60, false);
        let days = &dates[70..];
        let rows = compute_snapshots(&positions, &prices, days, &SnapshotParams::new(1e6));
        let want = naive_pnl(&positions, &prices, days);
        let mut equity = 1e6;
        for (r, (pnl, long, num)) in rows.iter().zip(want) {
            assert_close(r.daily_pnl, pnl, 1e-6, &format!("pnl {}", r.date));
            assert_close(r.long_value, long, 1e-6, &format!("long {}", r.date));
            assert_eq!(r.num_positions, num, "num {}", r.date);
            equity += pnl;
            assert_close(r.equity_balance, equity, 1e-5, "equity");
            assert_close(
                r.gross_exposure,
                r.long_value - r.short_value,
                1e-6,
                "gross",
            );
        }
    }

    #[test]
    fn five_years_of_three_hundred_positions_stay_finite_and_warn_once_per_option() {
        let mut rng = Lcg(42);
        let dates = weekdays(1_260 + 100);
        let (positions, prices) = random_book(&mut rng, &dates, 300, true);
        let days = &dates[100..];
        let rows = compute_snapshots(&positions, &prices, days, &SnapshotParams::new(5e6));
        assert_eq!(rows.len(), 1_260);
        assert!(rows
            .iter()
            .all(|r| r.equity_balance.is_finite() && r.gross_exposure.is_finite()));
        assert!(rows.iter().any(|r| r.num_positions > 50));
        // Each option warns at most once per run.
        let warnings: usize = rows.iter().map(|r| r.warnings.len()).sum();
        assert!(warnings <= positions.len());
    }
}
