//! Financial Modeling Prep client (`/stable` API, key as `?apikey=`): daily bars, company
//! profiles (with the trailing P/E from `ratios-ttm`) and fundamentals (income, balance-sheet
//! and cash-flow statements, quarterly and annual, plus the next earnings date).
//!
//! It makes single requests and classifies every answer; retries, rate limits and fallback
//! belong to the chain. FMP's errors are `{"Error Message": "..."}`, sometimes with HTTP 200
//! ("Limit Reach"), and its 402 "Premium Query Parameter" means "not this symbol on this plan".
//! A night's bulk is the EOD bulk (`/stable/eod-bulk?date=`, CSV), on the plans that serve
//! it: a 402/403 there means the plan lacks it, and only the bulk is skipped for the run.

use super::http::{self, json_bool, json_f64, json_str, ConfigError, Provider};
use super::{
    CompanyProfile, DailyBar, DataKind, FundamentalPeriod, Fundamentals, MarketDataProvider,
    ProviderError,
};
use chrono::{Datelike, NaiveDate};
use reqwest::{Client, Url};
use serde_json::Value;
use std::collections::BTreeMap;

/// The production base URL; paths are appended to it.
pub const FMP_BASE_URL_DEFAULT: &str = "https://financialmodelingprep.com/stable";

const P: Provider = Provider::Fmp;

/// Quarterly and annual periods asked for, per statement.
const PERIODS: [(&str, &str, &str); 2] = [("quarter", "8", "quarterly"), ("annual", "4", "annual")];

/// The three statements merged into one [`FundamentalPeriod`].
const STATEMENTS: [&str; 3] = [
    "income-statement",
    "balance-sheet-statement",
    "cash-flow-statement",
];

/// Financial Modeling Prep: prices, profiles and fundamentals.
pub struct FmpProvider {
    client: Client,
    base: Url,
    api_key: String,
}

impl std::fmt::Debug for FmpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FmpProvider")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl FmpProvider {
    /// A client on `base_url` (normally [`FMP_BASE_URL_DEFAULT`]) with `api_key`.
    ///
    /// Build `client` with a timeout, and without following redirects to other hosts: the key
    /// travels in the query string.
    pub fn new(client: Client, base_url: &str, api_key: String) -> Result<Self, ConfigError> {
        let base = http::parse_keyed(P, base_url, &api_key)?;
        Ok(Self {
            client,
            base,
            api_key,
        })
    }

    /// One GET of `path` for `symbol` (already spelled for FMP), answering the JSON array.
    async fn rows(
        &self,
        symbol: &str,
        path: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, ProviderError> {
        let mut pairs = vec![("symbol", symbol)];
        pairs.extend_from_slice(query);
        pairs.push(("apikey", self.api_key.as_str()));
        let url = http::endpoint(&self.base, path, &pairs)?;
        tracing::debug!(provider = P.name(), path = url.path(), symbol, "request");
        let result = self.answer(symbol, self.client.get(url)).await;
        result.map_err(|e| http::redact(e, &self.api_key))
    }

    async fn answer(
        &self,
        symbol: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<Value>, ProviderError> {
        let answer = http::fetch(P, request).await?;
        if !answer.status.is_success() {
            return Err(status_error(symbol, &answer));
        }
        match http::parse_json(P, &answer.body)? {
            Value::Array(rows) => Ok(rows),
            other => Err(body_error(&other)),
        }
    }

    /// Profile fields, then the trailing P/E and dividend yield from `ratios-ttm` (best effort).
    async fn profile(&self, requested: &str) -> Result<CompanyProfile, ProviderError> {
        let symbol = http::map_symbol(P, requested);
        let rows = self.rows(&symbol, &["profile"], &[]).await?;
        let row = rows
            .first()
            .ok_or_else(|| http::no_data(P, requested, "no profile"))?;
        let ratios = match self.rows(&symbol, &["ratios-ttm"], &[]).await {
            Ok(rows) => rows.into_iter().next(),
            Err(e) => {
                tracing::debug!(provider = P.name(), symbol, error = %e, "ratios-ttm unavailable");
                None
            }
        };
        Ok(map_profile(requested, row, ratios.as_ref()))
    }

    /// The six statement requests, merged; then the next earnings date (best effort).
    async fn statements(
        &self,
        requested: &str,
        as_of: NaiveDate,
    ) -> Result<Fundamentals, ProviderError> {
        let symbol = http::map_symbol(P, requested);
        let mut merged: BTreeMap<(&str, NaiveDate), FundamentalPeriod> = BTreeMap::new();
        let mut any_rows = false;
        for (period, limit, kind) in PERIODS {
            for statement in STATEMENTS {
                let query = [("period", period), ("limit", limit)];
                let rows = self.rows(&symbol, &[statement], &query).await?;
                any_rows |= !rows.is_empty();
                for row in rows.iter().filter(|r| reported_by(r, as_of)) {
                    merge_row(&mut merged, kind, row);
                }
            }
        }
        if !any_rows {
            return Err(http::no_data(P, requested, "no financial statements"));
        }
        let next_earnings_date = self.next_earnings(&symbol, as_of).await;
        Ok(Fundamentals {
            periods: order_periods(merged),
            next_earnings_date,
        })
    }

    /// The EOD bulk of `date`: every symbol's bar of that date, by FMP's spelling.
    async fn eod_bulk(&self, date: NaiveDate) -> Result<Vec<(String, DailyBar)>, ProviderError> {
        let day = date.to_string();
        let query = [("date", day.as_str()), ("apikey", self.api_key.as_str())];
        let url = http::endpoint(&self.base, &["eod-bulk"], &query)?;
        tracing::debug!(provider = P.name(), path = url.path(), "request");
        let answer = http::fetch(P, self.client.get(url)).await?;
        if !answer.status.is_success() {
            return Err(match answer.status.as_u16() {
                // "Restricted/Exclusive Endpoint", "Premium": the plan lacks the bulk, and
                // only the bulk (the key is good for everything else).
                402 | 403 => ProviderError::Failing(format!(
                    "fmp: EOD bulk not on this plan: HTTP {}: {}",
                    answer.status.as_u16(),
                    http::provider_message(&answer.body)
                )),
                _ => status_error("", &answer),
            });
        }
        let text = String::from_utf8_lossy(&answer.body);
        if text.trim_start().starts_with(['{', '[']) {
            // An error under a 200 ("Limit Reach").
            return Err(body_error(&http::parse_json(P, &answer.body)?));
        }
        parse_eod_bulk(&text, date)
    }

    /// The earliest earnings date after `as_of`; any failure gives `None`.
    async fn next_earnings(&self, symbol: &str, as_of: NaiveDate) -> Option<NaiveDate> {
        let rows = self.rows(symbol, &["earnings"], &[]).await.ok()?;
        rows.iter()
            .filter_map(|r| json_str(r, "date").and_then(|d| http::parse_day(&d)))
            .filter(|d| *d > as_of)
            .min()
    }
}

/// A non-2xx answer: FMP's 402 "Premium Query Parameter" is this symbol not being on the
/// plan, its 402/403 "Restricted/Exclusive Endpoint" the plan lacking this endpoint (failing
/// for this kind of data); everything else as [`http::classify_status`] says (a 401 or
/// another 403 refuses us for everything).
fn status_error(symbol: &str, answer: &http::Answer) -> ProviderError {
    let text = http::provider_message(&answer.body);
    let premium = text
        .to_ascii_lowercase()
        .contains("premium query parameter");
    if premium && matches!(answer.status.as_u16(), 402 | 403) {
        return ProviderError::NotFound {
            symbol: symbol.to_owned(),
            reason: format!("fmp: not on this plan: {text}"),
        };
    }
    // "Restricted/Exclusive Endpoint": the plan lacks this endpoint, not the key: the other
    // kinds of data may still be served.
    let lower = text.to_ascii_lowercase();
    if matches!(answer.status.as_u16(), 402 | 403) && lower.contains("endpoint") {
        return ProviderError::Failing(format!("fmp: HTTP {}: {text}", answer.status.as_u16()));
    }
    http::classify_status(P, symbol, answer.status, &answer.headers, &answer.body)
}

/// A 200 whose body is not an array: an `Error Message` (e.g. "Limit Reach") or an
/// unexpected shape; both transient.
fn body_error(body: &Value) -> ProviderError {
    match body.get("Error Message").and_then(Value::as_str) {
        Some(text) if text.to_ascii_lowercase().contains("limit reach") => {
            ProviderError::rate_limited(format!("fmp: rate limited: {}", http::bounded(text)), None)
        }
        Some(text) => ProviderError::transient(format!("fmp: {}", http::bounded(text))),
        None => ProviderError::transient("fmp: unexpected response (not an array)"),
    }
}

/// One bar row; `None` when it has no usable date.
fn bar(row: &Value) -> Option<DailyBar> {
    Some(DailyBar {
        date: http::parse_day(&json_str(row, "date")?)?,
        close: json_f64(row, "close")?,
        volume: http::volume(json_f64(row, "volume")),
    })
}

/// The EOD bulk's CSV (`symbol,date,open,low,high,close,adjClose,volume`, columns found by
/// name): the bars of `date`. The close taken is `adjClose` when there is one: on the newest
/// date it is the close, and on an older one it shows a split since (the night's restatement
/// check compares it with the stored close).
fn parse_eod_bulk(text: &str, date: NaiveDate) -> Result<Vec<(String, DailyBar)>, ProviderError> {
    let malformed = |what: &str| ProviderError::transient(format!("fmp: EOD bulk: {what}"));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| malformed("no header"))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(symbol), Some(day), Some(close)) =
        (column("symbol"), column("date"), column("close"))
    else {
        return Err(malformed("no symbol, date or close column"));
    };
    let (adjusted, volume) = (column("adjClose"), column("volume"));
    let mut bars = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|_| malformed("unreadable row"))?;
        let number = |i: Option<usize>| i.and_then(|i| record.get(i)?.parse::<f64>().ok());
        let Some(d) = record.get(day).and_then(http::parse_day) else {
            continue;
        };
        let c = number(adjusted)
            .filter(|c| c.is_finite() && *c > 0.0)
            .or_else(|| number(Some(close)));
        match (record.get(symbol), c) {
            (Some(s), Some(c)) if d == date && !s.is_empty() && c.is_finite() && c > 0.0 => {
                bars.push((
                    s.to_owned(),
                    DailyBar {
                        date: d,
                        close: c,
                        volume: http::volume(number(volume)),
                    },
                ));
            }
            _ => {}
        }
    }
    Ok(bars)
}

fn positive(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x > 0.0)
}

/// `"164.08-237.49"` → `(low, high)`.
fn week_52_range(range: &str) -> Option<(f64, f64)> {
    let (low, high) = range.trim().split_once('-')?;
    let low = positive(low.trim().parse().ok())?;
    let high = positive(high.trim().parse().ok())?;
    (low <= high).then_some((low, high))
}

fn map_profile(requested: &str, row: &Value, ratios: Option<&Value>) -> CompanyProfile {
    let price = positive(json_f64(row, "price"));
    let range = json_str(row, "range").and_then(|r| week_52_range(&r));
    let ratio = |key: &str| ratios.and_then(|r| json_f64(r, key));
    let dividend_yield = ratio("dividendYieldTTM")
        .filter(|y| *y >= 0.0)
        .or_else(|| Some(positive(json_f64(row, "lastDividend"))? / price?));
    CompanyProfile {
        symbol: requested.to_owned(),
        name: json_str(row, "companyName").unwrap_or_else(|| requested.to_owned()),
        sector: json_str(row, "sector"),
        industry: json_str(row, "industry"),
        exchange: json_str(row, "exchange").or_else(|| json_str(row, "exchangeFullName")),
        country: json_str(row, "country"),
        market_cap: positive(json_f64(row, "marketCap")),
        beta: json_f64(row, "beta").filter(|b| *b != 0.0),
        trailing_pe: positive(ratio("priceToEarningsRatioTTM")),
        forward_pe: None,
        dividend_yield,
        week_52_high: range.map(|r| r.1),
        week_52_low: range.map(|r| r.0),
        is_etf: json_bool(row, "isEtf").unwrap_or(false),
        is_fund: json_bool(row, "isFund").unwrap_or(false),
    }
}

/// Whether a statement row was public by `as_of`: its period ended by then and, when FMP
/// gives a filing date, it was filed by then.
fn reported_by(row: &Value, as_of: NaiveDate) -> bool {
    let day = |key| json_str(row, key).and_then(|d| http::parse_day(&d));
    let ended = day("date").is_some_and(|d| d <= as_of);
    ended && day("filingDate").is_none_or(|d| d <= as_of)
}

/// Adds one statement row to the period of the same (kind, date), filling what is missing.
fn merge_row<'k>(
    merged: &mut BTreeMap<(&'k str, NaiveDate), FundamentalPeriod>,
    kind: &'k str,
    row: &Value,
) {
    let Some(end) = json_str(row, "date").and_then(|d| http::parse_day(&d)) else {
        return;
    };
    let p = merged
        .entry((kind, end))
        .or_insert_with(|| empty_period(kind, end, row));
    let f = |key: &str| json_f64(row, key);
    let fill = |slot: &mut Option<f64>, v: Option<f64>| {
        if slot.is_none() {
            *slot = v;
        }
    };
    fill(&mut p.revenue, f("revenue"));
    fill(&mut p.gross_profit, f("grossProfit"));
    fill(&mut p.operating_income, f("operatingIncome"));
    fill(&mut p.net_income, f("netIncome"));
    fill(&mut p.diluted_eps, f("epsDiluted").or_else(|| f("eps")));
    fill(&mut p.total_assets, f("totalAssets"));
    fill(&mut p.total_equity, f("totalStockholdersEquity"));
    fill(&mut p.current_assets, f("totalCurrentAssets"));
    fill(&mut p.current_liabilities, f("totalCurrentLiabilities"));
    fill(&mut p.total_debt, f("totalDebt"));
    fill(&mut p.cash, f("cashAndCashEquivalents"));
    fill(&mut p.operating_cash_flow, f("operatingCashFlow"));
    // FMP reports capital expenditure negative; we store the amount spent.
    fill(
        &mut p.capital_expenditure,
        f("capitalExpenditure").map(|c| -c),
    );
}

fn empty_period(kind: &str, end: NaiveDate, row: &Value) -> FundamentalPeriod {
    let fiscal_year = json_str(row, "fiscalYear")
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| end.year());
    let fiscal_quarter = json_str(row, "period").and_then(|p| match p.as_str() {
        "Q1" => Some(1),
        "Q2" => Some(2),
        "Q3" => Some(3),
        "Q4" => Some(4),
        _ => None,
    });
    FundamentalPeriod {
        period_type: kind.to_owned(),
        period_end: end,
        fiscal_year,
        fiscal_quarter,
        revenue: None,
        gross_profit: None,
        operating_income: None,
        net_income: None,
        diluted_eps: None,
        total_assets: None,
        total_equity: None,
        current_assets: None,
        current_liabilities: None,
        total_debt: None,
        cash: None,
        operating_cash_flow: None,
        capital_expenditure: None,
    }
}

/// Quarterly periods newest first, then annual periods newest first.
fn order_periods(merged: BTreeMap<(&str, NaiveDate), FundamentalPeriod>) -> Vec<FundamentalPeriod> {
    let (mut quarterly, mut annual): (Vec<_>, Vec<_>) = merged
        .into_values()
        .partition(|p| p.period_type == "quarterly");
    quarterly.reverse();
    annual.reverse();
    quarterly.extend(annual);
    quarterly
}

#[async_trait::async_trait]
impl MarketDataProvider for FmpProvider {
    fn name(&self) -> &'static str {
        P.name()
    }

    fn remote(&self) -> bool {
        true
    }

    fn serves(&self, kind: DataKind) -> bool {
        matches!(
            kind,
            DataKind::Prices | DataKind::Profiles | DataKind::Fundamentals | DataKind::DailyBulk
        )
    }

    async fn grouped_daily(
        &self,
        date: NaiveDate,
        symbols: &[String],
    ) -> Result<Vec<(String, DailyBar)>, ProviderError> {
        let bars = self
            .eod_bulk(date)
            .await
            .map_err(|e| http::redact(e, &self.api_key))?;
        Ok(http::bars_of(P, bars, symbols))
    }

    async fn daily_history(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError> {
        if start > end {
            return Ok(Vec::new());
        }
        http::check_symbol(P, symbol)?;
        let (from, to) = (start.to_string(), end.to_string());
        let query = [("from", from.as_str()), ("to", to.as_str())];
        let mapped = http::map_symbol(P, symbol);
        let rows = self
            .rows(&mapped, &["historical-price-eod", "full"], &query)
            .await?;
        if rows.is_empty() {
            return Err(http::no_data(P, symbol, "no price history"));
        }
        let bars = rows.iter().filter_map(bar).collect();
        http::finish_bars(P, symbol, bars, start, end)
    }

    async fn company_profile(
        &self,
        symbol: &str,
        _as_of: NaiveDate,
    ) -> Result<CompanyProfile, ProviderError> {
        http::check_symbol(P, symbol)?;
        self.profile(symbol).await
    }

    async fn fundamentals(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Fundamentals, ProviderError> {
        http::check_symbol(P, symbol)?;
        self.statements(symbol, as_of).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn week_52_range_parses_low_and_high() {
        assert_eq!(week_52_range("164.08-237.49"), Some((164.08, 237.49)));
        assert_eq!(week_52_range(" 1 - 2 "), Some((1.0, 2.0)));
        for bad in ["", "-", "237.49-164.08", "a-b", "-1-2", "5"] {
            assert_eq!(week_52_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_eod_bulk_csv_gives_the_dates_bars_by_column_name() {
        let day = NaiveDate::from_ymd_opt(2024, 2, 28).unwrap_or_default();
        let text = "symbol,date,open,low,high,close,adjClose,volume\n\
                    AAPL,2024-02-28,182.51,180.13,183.12,181.42,181.42,48953939\n\
                    SPLIT,2024-02-28,10,10,10,100.0,50.0,7\n\
                    NOADJ,2024-02-28,10,10,10,12.5,,3\n\
                    OTHER,2024-02-27,1,1,1,1.0,1.0,1\n\
                    BAD,2024-02-28,1,1,1,abc,,1\n";
        let bars = parse_eod_bulk(text, day).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, f64, i64)> = bars
            .iter()
            .map(|(s, b)| (s.as_str(), b.close, b.volume))
            .collect();
        assert_eq!(
            got,
            [
                ("AAPL", 181.42, 48953939),
                ("SPLIT", 50.0, 7),
                ("NOADJ", 12.5, 3)
            ]
        );
        let reordered = "close,symbol,date\n181.42,AAPL,2024-02-28\n";
        assert_eq!(
            parse_eod_bulk(reordered, day).map(|b| b.len()).ok(),
            Some(1)
        );
        assert!(parse_eod_bulk("a,b\n1,2\n", day).is_err());
    }

    #[test]
    fn limit_reach_in_a_200_is_transient() {
        let body = serde_json::json!({"Error Message": "Limit Reach . Please upgrade"});
        assert!(body_error(&body).is_transient());
        assert!(body_error(&serde_json::json!({"a": 1})).is_transient());
    }
}
