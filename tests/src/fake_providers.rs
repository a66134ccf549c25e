//! Fake FMP, Polygon and Yahoo servers on 127.0.0.1, backed by one [`SyntheticMarket`].
//!
//! Each fake answers dynamically in its provider's real shapes (see
//! `shared/reference/market-data-providers.md`): FMP's `/stable` bars newest first, profiles,
//! `ratios-ttm`, statements and earnings; Polygon's aggregates with `t` at midnight New York,
//! paginated by `next_url` every [`POLYGON_PAGE`] bars and requiring a Bearer key, and its
//! grouped daily (one date's bar of every ticker of the fake market: every symbol any fake has
//! been asked about, and [`FakeOptions::listed`]); Yahoo's
//! chart with timestamps at 09:30 New York. A symbol listed as unknown for a fake gets that
//! provider's "unknown" answer (FMP `[]`, Polygon no `results`, Yahoo 404). Profiles and
//! statements are those of the synthetic market as of the fakes' "today".
//!
//! Symbols reach the synthetic market as the provider spells them (`BRK-B` on FMP and Yahoo,
//! `BRK.B` on Polygon); [`FakeProviders::closes`] applies the same spelling.

use chrono::{Datelike, Duration as Days, NaiveDate, NaiveTime, Utc, Weekday};
use serde_json::{json, Value};
use sigmasight_shared::market_data::http::{map_symbol, Provider};
use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
use sigmasight_shared::market_data::{CompanyProfile, DailyBar, FundamentalPeriod, Fundamentals};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{matchers::any, Mock, MockServer, Request, Respond, ResponseTemplate};

/// Bars per Polygon page before a `next_url`.
pub const POLYGON_PAGE: usize = 200;

/// How the fakes behave.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Seed of the synthetic market behind all three fakes.
    pub seed: u64,
    /// Added to every response.
    pub delay: Duration,
    /// Symbols FMP answers as unknown (`[]`).
    pub fmp_unknown: Vec<String>,
    /// Symbols Polygon answers as unknown (no `results`).
    pub polygon_unknown: Vec<String>,
    /// Symbols Yahoo answers as unknown (404).
    pub yahoo_unknown: Vec<String>,
    /// Symbols in Polygon's grouped daily and FMP's EOD bulk even before any fake was asked
    /// about them.
    pub listed: Vec<String>,
    /// FMP answers its EOD bulk 402 "Restricted Endpoint" (a plan without it).
    pub fmp_bulk_refused: bool,
    /// Each fake answers 429 to a request past this many in any rolling 60 s, as the real
    /// providers count (`None`: no limit).
    pub rate_per_min: Option<usize>,
}

impl Default for FakeOptions {
    /// Seed 42, no delay, every symbol known.
    fn default() -> Self {
        Self {
            seed: 42,
            delay: Duration::ZERO,
            fmp_unknown: Vec::new(),
            polygon_unknown: Vec::new(),
            yahoo_unknown: Vec::new(),
            listed: Vec::new(),
            fmp_bulk_refused: false,
            rate_per_min: None,
        }
    }
}

/// One request a fake received: when, what, and whether it was refused for the rate.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: std::time::Instant,
    pub provider: &'static str,
    /// The request's path and query.
    pub target: String,
    /// Answered 429: past [`FakeOptions::rate_per_min`] in the last 60 s.
    pub rate_limited: bool,
}

/// The three fake servers. Dropping it stops them.
pub struct FakeProviders {
    /// Fake Financial Modeling Prep (its API under `/stable`).
    pub fmp: MockServer,
    /// Fake Polygon.io.
    pub polygon: MockServer,
    /// Fake Yahoo chart v8.
    pub yahoo: MockServer,
    state: Arc<State>,
}

/// What the three responders share.
struct State {
    market: SyntheticMarket,
    today: NaiveDate,
    unknown: HashMap<&'static str, HashSet<String>>,
    /// [`FakeOptions::listed`].
    listed: Vec<String>,
    fmp_bulk_refused: bool,
    /// Requests received, per (provider, symbol as requested; "" when none).
    counts: Mutex<HashMap<(&'static str, String), usize>>,
    /// Every request, in order of arrival.
    log: Mutex<Vec<Received>>,
    rate_per_min: Option<usize>,
}

impl State {
    /// Whether one more request of `provider` now would be past its rolling 60 s limit.
    fn over_limit(&self, provider: &'static str, now: std::time::Instant) -> bool {
        let Some(limit) = self.rate_per_min else {
            return false;
        };
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let window = Duration::from_secs(60);
        log.iter()
            .rev()
            .take_while(|r| now.duration_since(r.at) < window)
            .filter(|r| r.provider == provider && !r.rate_limited)
            .count()
            >= limit
    }

    fn received(&self, r: Received) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }
}

impl State {
    fn count(&self, provider: &'static str, symbol: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((provider, symbol.to_owned())).or_default() += 1;
    }

    fn is_unknown(&self, provider: &'static str, symbol: &str) -> bool {
        self.unknown
            .get(provider)
            .is_some_and(|u| u.contains(&symbol.to_uppercase()))
    }

    /// The bars a fake serves for `symbol` (as the provider spells it).
    fn bars(
        &self,
        provider: &'static str,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Vec<DailyBar> {
        if self.is_unknown(provider, symbol) {
            return Vec::new();
        }
        let mut bars = self.market.history(symbol, start, end).unwrap_or_default();
        for b in &mut bars {
            b.close = decimals(b.close, PRICE_DECIMALS);
        }
        bars
    }

    /// The tickers of the fake market as `provider` spells them: every symbol any fake has
    /// been asked about, and the listed ones, except those `provider` answers as unknown.
    fn tickers(&self, provider: Provider) -> Vec<String> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let asked = counts
            .keys()
            .filter(|(_, s)| !s.is_empty() && !s.starts_with(GROUPED))
            .map(|(_, s)| s.clone());
        let mut tickers: Vec<String> = asked
            .chain(self.listed.iter().cloned())
            .map(|s| map_symbol(provider, &s))
            .collect();
        tickers.sort();
        tickers.dedup();
        tickers.retain(|t| !self.is_unknown(provider.name(), t));
        tickers
    }

    /// The profile FMP serves for `symbol`, and its last price (`None`: FMP answers `[]`).
    fn profile(&self, symbol: &str) -> Option<(CompanyProfile, f64)> {
        if self.is_unknown("fmp", symbol) {
            return None;
        }
        let p = self.market.profile(symbol, self.today).ok()?;
        let recent = self.bars("fmp", symbol, self.today - Days::days(10), self.today);
        let price = recent.last()?.close;
        let round = |v: Option<f64>, n| v.map(|x| decimals(x, n));
        let profile = CompanyProfile {
            market_cap: round(p.market_cap, 0),
            beta: round(p.beta, 2),
            trailing_pe: round(p.trailing_pe, 6),
            // FMP has no forward P/E.
            forward_pe: None,
            dividend_yield: round(p.dividend_yield, 8),
            week_52_high: round(p.week_52_high, PRICE_DECIMALS),
            week_52_low: round(p.week_52_low, PRICE_DECIMALS),
            ..p
        };
        Some((profile, price))
    }

    /// The statements FMP serves for `symbol` (`None`: FMP answers `[]`).
    fn fundamentals(&self, symbol: &str) -> Option<Fundamentals> {
        if self.is_unknown("fmp", symbol) {
            return None;
        }
        let mut f = self.market.fundamentals_as_of(symbol, self.today).ok()?;
        for p in &mut f.periods {
            let money = [
                &mut p.revenue,
                &mut p.gross_profit,
                &mut p.operating_income,
                &mut p.net_income,
                &mut p.total_assets,
                &mut p.total_equity,
                &mut p.current_assets,
                &mut p.current_liabilities,
                &mut p.total_debt,
                &mut p.cash,
                &mut p.operating_cash_flow,
                &mut p.capital_expenditure,
            ];
            for v in money {
                *v = v.map(|x| decimals(x, 0));
            }
            p.diluted_eps = p.diluted_eps.map(|x| decimals(x, 6));
        }
        Some(f)
    }
}

/// The key prefix under which Polygon's grouped daily requests are counted (`grouped/DATE`).
const GROUPED: &str = "grouped/";

/// Decimal places of the prices the fakes serve.
const PRICE_DECIMALS: i32 = 6;

/// `x` rounded to `n` decimal places. The fakes serve rounded numbers, so that every JSON
/// number has at most 15 significant digits and parses back to exactly the value served
/// (serde_json's default float parsing is not exact for longer ones).
fn decimals(x: f64, n: i32) -> f64 {
    let scale = 10f64.powi(n);
    (x * scale).round() / scale
}

impl FakeProviders {
    /// Starts the three fakes; their "today" (for profiles and statements) is today in UTC.
    pub async fn start(opts: FakeOptions) -> FakeProviders {
        Self::start_as_of(opts, Utc::now().date_naive()).await
    }

    /// Starts the three fakes with `today` as the date their profiles and statements are as of.
    pub async fn start_as_of(opts: FakeOptions, today: NaiveDate) -> FakeProviders {
        let spelled = |p: Provider, list: &[String]| -> HashSet<String> {
            list.iter().map(|s| map_symbol(p, s)).collect()
        };
        let unknown = HashMap::from([
            ("fmp", spelled(Provider::Fmp, &opts.fmp_unknown)),
            ("polygon", spelled(Provider::Polygon, &opts.polygon_unknown)),
            ("yahoo", spelled(Provider::Yahoo, &opts.yahoo_unknown)),
        ]);
        let state = Arc::new(State {
            market: SyntheticMarket::new(SyntheticConfig {
                seed: opts.seed,
                unavailable: Vec::new(),
            }),
            today,
            unknown,
            listed: opts.listed.clone(),
            fmp_bulk_refused: opts.fmp_bulk_refused,
            counts: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            rate_per_min: opts.rate_per_min,
        });
        let (fmp, polygon, yahoo) = (
            MockServer::start().await,
            MockServer::start().await,
            MockServer::start().await,
        );
        let delay = opts.delay;
        let fake = |kind| Fake {
            state: state.clone(),
            delay,
            kind,
        };
        mount(&fmp, fake(Kind::Fmp)).await;
        mount(
            &polygon,
            fake(Kind::Polygon {
                base: polygon.uri(),
            }),
        )
        .await;
        mount(&yahoo, fake(Kind::Yahoo)).await;
        FakeProviders {
            fmp,
            polygon,
            yahoo,
            state,
        }
    }

    /// FMP's base URL, including `/stable`.
    pub fn fmp_url(&self) -> String {
        format!("{}/stable", self.fmp.uri())
    }

    /// Polygon's base URL.
    pub fn polygon_url(&self) -> String {
        self.polygon.uri()
    }

    /// Yahoo's base URL.
    pub fn yahoo_url(&self) -> String {
        self.yahoo.uri()
    }

    /// The date the fakes' profiles and statements are as of.
    pub fn today(&self) -> NaiveDate {
        self.state.today
    }

    /// The synthetic market behind the fakes.
    pub fn market(&self) -> &SyntheticMarket {
        &self.state.market
    }

    /// Every request the fakes received, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests `provider` (`"fmp"`, `"polygon"`, `"yahoo"`) has received, of any kind.
    pub fn requests(&self, provider: &str) -> usize {
        let counts = self.state.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .filter(|((p, _), _)| *p == provider)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests `provider` has received for `symbol` (spelled as that provider spells it).
    pub fn requests_for(&self, provider: &str, symbol: &str) -> usize {
        let Some(p) = provider_of(provider) else {
            return 0;
        };
        let key = (p.name(), map_symbol(p, symbol));
        let counts = self.state.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&key).copied().unwrap_or(0)
    }

    /// Bulk requests `provider` has received (Polygon's grouped daily, FMP's EOD bulk), for
    /// any date.
    pub fn grouped_requests(&self, provider: &str) -> usize {
        let counts = self.state.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .filter(|((p, s), _)| *p == provider && s.starts_with(GROUPED))
            .map(|(_, n)| n)
            .sum()
    }

    /// Per-symbol requests `provider` has received (every request but the bulk ones and those
    /// naming no symbol).
    pub fn per_symbol_requests(&self, provider: &str) -> usize {
        let counts = self.state.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .filter(|((p, s), _)| *p == provider && !s.is_empty() && !s.starts_with(GROUPED))
            .map(|(_, n)| n)
            .sum()
    }

    /// The profile the fake FMP serves for `symbol`, as [`FmpProvider`] reads it (`None` when
    /// it answers `[]`): the synthetic profile as of [`Self::today`], rounded, without a
    /// forward P/E.
    ///
    /// [`FmpProvider`]: sigmasight_shared::market_data::fmp::FmpProvider
    pub fn fmp_profile(&self, symbol: &str) -> Option<CompanyProfile> {
        let symbol = map_symbol(Provider::Fmp, symbol);
        self.state.profile(&symbol).map(|(p, _)| p)
    }

    /// The fundamentals the fake FMP serves for `symbol`, as [`FmpProvider`] reads them as of
    /// [`Self::today`] (`None` when it answers `[]`).
    ///
    /// [`FmpProvider`]: sigmasight_shared::market_data::fmp::FmpProvider
    pub fn fmp_fundamentals(&self, symbol: &str) -> Option<Fundamentals> {
        self.state.fundamentals(&map_symbol(Provider::Fmp, symbol))
    }

    /// Exactly the closes `provider` serves for `symbol` in `[start, end]` (empty when it
    /// answers the symbol as unknown).
    pub fn closes(
        &self,
        provider: &str,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Vec<(NaiveDate, f64)> {
        let Some(p) = provider_of(provider) else {
            return Vec::new();
        };
        self.state
            .bars(p.name(), &map_symbol(p, symbol), start, end)
            .into_iter()
            .map(|b| (b.date, b.close))
            .collect()
    }
}

fn provider_of(name: &str) -> Option<Provider> {
    match name {
        "fmp" => Some(Provider::Fmp),
        "polygon" => Some(Provider::Polygon),
        "yahoo" => Some(Provider::Yahoo),
        _ => None,
    }
}

async fn mount(server: &MockServer, fake: Fake) {
    Mock::given(any()).respond_with(fake).mount(server).await;
}

/// Which provider a responder plays.
enum Kind {
    Fmp,
    /// Polygon needs its own address for absolute `next_url`s.
    Polygon {
        base: String,
    },
    Yahoo,
}

/// One fake provider's responder.
struct Fake {
    state: Arc<State>,
    delay: Duration,
    kind: Kind,
}

impl Respond for Fake {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let provider = match &self.kind {
            Kind::Fmp => "fmp",
            Kind::Polygon { .. } => "polygon",
            Kind::Yahoo => "yahoo",
        };
        let now = std::time::Instant::now();
        let mut target = request.url.path().to_owned();
        if let Some(q) = request.url.query() {
            target.push('?');
            target.push_str(q);
        }
        if self.state.over_limit(provider, now) {
            self.state.received(Received {
                at: now,
                provider,
                target,
                rate_limited: true,
            });
            return json_response(
                429,
                json!({"status": "ERROR", "error": "You've exceeded the maximum requests per minute"}),
            )
            .set_delay(self.delay);
        }
        let answer = match &self.kind {
            Kind::Fmp => fmp::respond(&self.state, request),
            Kind::Polygon { base } => polygon::respond(&self.state, base, request),
            Kind::Yahoo => yahoo::respond(&self.state, request),
        };
        self.state.received(Received {
            at: now,
            provider,
            target,
            rate_limited: false,
        });
        answer.set_delay(self.delay)
    }
}

fn query(request: &Request, key: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The decoded path segments of a request.
fn segments(request: &Request) -> Vec<String> {
    request
        .url
        .path_segments()
        .map(|s| s.map(percent_decode).collect())
        .unwrap_or_default()
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// New York's offset from UTC, in hours behind, at `hour` o'clock local time on `date`
/// (US rules: since 2007 second Sunday of March to first Sunday of November, before that
/// first Sunday of April to last Sunday of October; clocks change at 02:00).
fn new_york_hours_behind(date: NaiveDate, hour: u32) -> i64 {
    let year = date.year();
    let sunday = |month, n| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n);
    let bounds = if year >= 2007 {
        sunday(3, 2).zip(sunday(11, 1))
    } else {
        sunday(4, 1).zip(sunday(10, 5).or_else(|| sunday(10, 4)))
    };
    let Some((start, end)) = bounds else {
        return 5;
    };
    let summer = if hour < 2 {
        start < date && date <= end
    } else {
        start <= date && date < end
    };
    if summer {
        4
    } else {
        5
    }
}

/// Epoch seconds of `hour:minute` New York time on `date`.
fn new_york_epoch(date: NaiveDate, hour: u32, minute: u32) -> i64 {
    let local = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
    date.and_time(local).and_utc().timestamp() + new_york_hours_behind(date, hour) * 3600
}

mod fmp {
    //! `/stable/...` in FMP's shapes.

    use super::*;

    const INVALID_KEY: &str = "Invalid API KEY. Please retry or visit our documentation to create one FREE https://site.financialmodelingprep.com/developer/docs";

    /// `/stable/eod-bulk?date=`: every symbol's bar of the date, as CSV.
    fn eod_bulk(state: &State, request: &Request) -> ResponseTemplate {
        let date = query(request, "date").unwrap_or_default();
        state.count("fmp", &format!("{GROUPED}{date}"));
        if query(request, "apikey").is_none_or(|k| k.is_empty()) {
            return json_response(401, json!({ "Error Message": INVALID_KEY }));
        }
        if state.fmp_bulk_refused {
            let text = "Restricted Endpoint: This endpoint is not available under your current subscription please visit our subscription page to upgrade your plan at https://site.financialmodelingprep.com/developer/docs/pricing";
            return json_response(402, json!({ "Error Message": text }));
        }
        let Ok(day) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
            let text = "Invalid or missing query parameter - date";
            return json_response(400, json!({ "Error Message": text }));
        };
        let mut csv = String::from("symbol,date,open,low,high,close,adjClose,volume\n");
        for t in state.tickers(Provider::Fmp) {
            if let Some(b) = state.bars("fmp", &t, day, day).first() {
                let c = b.close;
                csv.push_str(&format!("{t},{day},{c},{c},{c},{c},{c},{}\n", b.volume));
            }
        }
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/csv")
            .set_body_string(csv)
    }

    pub(super) fn respond(state: &State, request: &Request) -> ResponseTemplate {
        if request.url.path() == "/stable/eod-bulk" {
            return eod_bulk(state, request);
        }
        let symbol = query(request, "symbol").unwrap_or_default();
        state.count("fmp", &symbol);
        if query(request, "apikey").is_none_or(|k| k.is_empty()) {
            return json_response(401, json!({ "Error Message": INVALID_KEY }));
        }
        if symbol.is_empty() {
            let text = "Invalid or missing query parameter - symbol";
            return json_response(400, json!({ "Error Message": text }));
        }
        let path = segments(request);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if state.is_unknown("fmp", &symbol) {
            return json_response(200, json!([]));
        }
        let rows = match path.as_slice() {
            ["stable", "historical-price-eod", "full"] => bars(state, &symbol, request),
            ["stable", "profile"] => profile(state, &symbol),
            ["stable", "ratios-ttm"] => ratios(state, &symbol),
            ["stable", statement
            @ ("income-statement" | "balance-sheet-statement" | "cash-flow-statement")] => {
                statements(state, &symbol, statement, request)
            }
            ["stable", "earnings"] => earnings(state, &symbol),
            _ => {
                let text = "This endpoint does not exist";
                return json_response(404, json!({ "Error Message": text }));
            }
        };
        json_response(200, Value::Array(rows))
    }

    fn day(request: &Request, key: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&query(request, key)?, "%Y-%m-%d").ok()
    }

    fn bars(state: &State, symbol: &str, request: &Request) -> Vec<Value> {
        let to = day(request, "to").unwrap_or(state.today);
        let from = day(request, "from").unwrap_or(to - Days::days(5 * 365));
        let mut bars = state.bars("fmp", symbol, from, to);
        bars.reverse();
        bars.iter()
            .map(|b| {
                json!({"symbol": symbol, "date": b.date.to_string(), "open": b.close,
                       "high": b.close, "low": b.close, "close": b.close, "volume": b.volume,
                       "change": 0.0, "changePercent": 0.0, "vwap": b.close})
            })
            .collect()
    }

    fn profile(state: &State, symbol: &str) -> Vec<Value> {
        let Some((p, price)) = state.profile(symbol) else {
            return Vec::new();
        };
        let range = match (p.week_52_low, p.week_52_high) {
            (Some(low), Some(high)) => format!("{low}-{high}"),
            _ => String::new(),
        };
        vec![json!({
            "symbol": symbol, "price": price, "marketCap": p.market_cap, "beta": p.beta.unwrap_or(0.0),
            "lastDividend": p.dividend_yield.unwrap_or(0.0) * price, "range": range,
            "change": 0.0, "changePercentage": 0.0, "volume": 0, "averageVolume": 1_000_000,
            "companyName": p.name, "currency": "USD", "cik": "null", "isin": "", "cusip": "",
            "exchangeFullName": p.exchange.as_deref().map(|e| format!("{e} Global Select")),
            "exchange": p.exchange, "industry": p.industry.unwrap_or_default(),
            "website": "", "description": "", "ceo": "", "sector": p.sector.unwrap_or_default(),
            "country": p.country, "fullTimeEmployees": "1000", "phone": "", "address": "",
            "city": "", "state": "", "zip": "", "image": "", "ipoDate": "1995-01-03",
            "defaultImage": false, "isEtf": p.is_etf, "isActivelyTrading": true,
            "isAdr": false, "isFund": p.is_fund
        })]
    }

    fn ratios(state: &State, symbol: &str) -> Vec<Value> {
        let Some((p, _)) = state.profile(symbol) else {
            return Vec::new();
        };
        vec![json!({
            "symbol": symbol, "priceToEarningsRatioTTM": p.trailing_pe.unwrap_or(0.0),
            "dividendYieldTTM": p.dividend_yield.unwrap_or(0.0), "priceToBookRatioTTM": 3.0
        })]
    }

    /// When the synthetic market considers a period reported.
    fn filing_date(p: &FundamentalPeriod) -> NaiveDate {
        if p.period_type == "annual" {
            NaiveDate::from_ymd_opt(p.fiscal_year + 1, 2, 16).unwrap_or(p.period_end)
        } else {
            p.period_end + Days::days(30)
        }
    }

    fn statements(state: &State, symbol: &str, statement: &str, request: &Request) -> Vec<Value> {
        let Some(f) = state.fundamentals(symbol) else {
            return Vec::new();
        };
        let kind = match query(request, "period").as_deref() {
            Some("quarter") => "quarterly",
            _ => "annual",
        };
        let limit = query(request, "limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(5);
        f.periods
            .iter()
            .filter(|p| p.period_type == kind)
            .take(limit)
            .map(|p| statement_row(symbol, statement, p))
            .collect()
    }

    fn statement_row(symbol: &str, statement: &str, p: &FundamentalPeriod) -> Value {
        let filed = filing_date(p).to_string();
        let period = p
            .fiscal_quarter
            .map_or("FY".to_owned(), |q| format!("Q{q}"));
        let mut row = json!({
            "date": p.period_end.to_string(), "symbol": symbol, "reportedCurrency": "USD",
            "cik": "null", "filingDate": filed, "acceptedDate": format!("{filed} 16:05:00"),
            "fiscalYear": p.fiscal_year.to_string(), "period": period
        });
        let fields = match statement {
            "income-statement" => json!({
                "revenue": p.revenue, "grossProfit": p.gross_profit,
                "operatingIncome": p.operating_income, "ebitda": p.operating_income,
                "netIncome": p.net_income, "eps": p.diluted_eps, "epsDiluted": p.diluted_eps
            }),
            "balance-sheet-statement" => json!({
                "totalAssets": p.total_assets, "totalLiabilities": null,
                "totalStockholdersEquity": p.total_equity, "totalDebt": p.total_debt,
                "netDebt": null, "totalCurrentAssets": p.current_assets,
                "totalCurrentLiabilities": p.current_liabilities,
                "cashAndCashEquivalents": p.cash
            }),
            _ => json!({
                "operatingCashFlow": p.operating_cash_flow,
                "capitalExpenditure": p.capital_expenditure.map(|c| -c),
                "freeCashFlow": null
            }),
        };
        if let (Some(row), Value::Object(fields)) = (row.as_object_mut(), fields) {
            row.extend(fields);
        }
        row
    }

    fn earnings(state: &State, symbol: &str) -> Vec<Value> {
        let Some(f) = state.fundamentals(symbol) else {
            return Vec::new();
        };
        let upcoming = f.next_earnings_date.map(|d| {
            json!({"symbol": symbol, "date": d.to_string(), "epsActual": null,
                   "epsEstimated": 1.0, "revenueActual": null, "revenueEstimated": null,
                   "lastUpdated": state.today.to_string()})
        });
        let past = f
            .periods
            .iter()
            .filter(|p| p.period_type == "quarterly")
            .map(|p| {
                json!({"symbol": symbol, "date": filing_date(p).to_string(),
                       "epsActual": p.diluted_eps, "epsEstimated": p.diluted_eps,
                       "revenueActual": p.revenue, "revenueEstimated": p.revenue,
                       "lastUpdated": state.today.to_string()})
            });
        upcoming.into_iter().chain(past).collect()
    }
}

mod polygon {
    //! `/v2/aggs/ticker/{T}/range/1/day/{from}/{to}` and the grouped daily in Polygon's shape.

    use super::*;

    fn unauthorized(request: &Request) -> Option<ResponseTemplate> {
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| !key.trim().is_empty());
        (!authorized).then(|| {
            json_response(
                401,
                json!({"status": "ERROR", "request_id": "fake",
                "error": "Unknown API Key"}),
            )
        })
    }

    /// `/v2/aggs/grouped/locale/us/market/stocks/{date}`: every ticker's bar of `date`.
    fn grouped(state: &State, date: &str, request: &Request) -> ResponseTemplate {
        state.count("polygon", &format!("{GROUPED}{date}"));
        if let Some(refusal) = unauthorized(request) {
            return refusal;
        }
        let Ok(day) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
            return json_response(
                400,
                json!({"status": "ERROR", "request_id": "fake",
                "error": "Could not parse the date parameter"}),
            );
        };
        let results: Vec<Value> = state
            .tickers(Provider::Polygon)
            .iter()
            .filter_map(|t| {
                let bar = state.bars("polygon", t, day, day).into_iter().next()?;
                let mut row = aggregate(&bar);
                if let Some(object) = row.as_object_mut() {
                    object.insert("T".into(), json!(t));
                }
                Some(row)
            })
            .collect();
        let mut body = json!({"queryCount": results.len(), "resultsCount": results.len(),
            "adjusted": true, "status": "OK", "request_id": "fake"});
        if let (false, Some(object)) = (results.is_empty(), body.as_object_mut()) {
            object.insert("results".into(), Value::Array(results));
        }
        json_response(200, body)
    }

    pub(super) fn respond(state: &State, base: &str, request: &Request) -> ResponseTemplate {
        let path = segments(request);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if let ["v2", "aggs", "grouped", "locale", "us", "market", "stocks", date] = path.as_slice()
        {
            return grouped(state, date, request);
        }
        let ["v2", "aggs", "ticker", ticker, "range", "1", "day", from, to] = path.as_slice()
        else {
            state.count("polygon", "");
            return json_response(
                404,
                json!({"status": "NOT_FOUND", "request_id": "fake",
                "message": "The requested resource was not found"}),
            );
        };
        state.count("polygon", ticker);
        if let Some(refusal) = unauthorized(request) {
            return refusal;
        }
        let days = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let (Some(from), Some(to)) = (days(from), days(to)) else {
            return json_response(
                400,
                json!({"status": "ERROR", "request_id": "fake",
                "error": "Could not parse the time parameter"}),
            );
        };
        let bars = state.bars("polygon", ticker, from, to);
        let offset: usize = query(request, "cursor")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let page: Vec<&DailyBar> = bars.iter().skip(offset).take(POLYGON_PAGE).collect();
        let mut body = json!({"ticker": ticker, "queryCount": page.len(),
            "resultsCount": page.len(), "adjusted": true, "status": "OK",
            "request_id": "fake", "count": page.len()});
        let Some(object) = body.as_object_mut() else {
            return json_response(500, json!({}));
        };
        if !page.is_empty() {
            object.insert(
                "results".into(),
                page.iter().map(|b| aggregate(b)).collect(),
            );
        }
        if offset + POLYGON_PAGE < bars.len() {
            let next = format!(
                "{base}{}?cursor={}&adjusted=true&sort=asc&limit=50000",
                request.url.path(),
                offset + POLYGON_PAGE
            );
            object.insert("next_url".into(), json!(next));
        }
        json_response(200, body)
    }

    fn aggregate(b: &DailyBar) -> Value {
        let t = new_york_epoch(b.date, 0, 0) * 1000;
        json!({"v": b.volume as f64, "vw": b.close, "o": b.close, "c": b.close,
               "h": b.close, "l": b.close, "t": t, "n": 1000})
    }
}

mod yahoo {
    //! `/v8/finance/chart/{S}` in Yahoo's shape.

    use super::*;

    fn not_found() -> ResponseTemplate {
        json_response(
            404,
            json!({"chart": {"result": null, "error": {"code": "Not Found",
            "description": "No data found, symbol may be delisted"}}}),
        )
    }

    pub(super) fn respond(state: &State, request: &Request) -> ResponseTemplate {
        let path = segments(request);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let ["v8", "finance", "chart", symbol] = path.as_slice() else {
            state.count("yahoo", "");
            return not_found();
        };
        state.count("yahoo", symbol);
        if state.is_unknown("yahoo", symbol) {
            return not_found();
        }
        let period = |key| query(request, key).and_then(|p| p.parse::<i64>().ok());
        let (Some(period1), Some(period2)) = (period("period1"), period("period2")) else {
            return json_response(
                400,
                json!({"chart": {"result": null, "error": {
                "code": "Bad Request", "description": "period1 and period2 are required"}}}),
            );
        };
        let day = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.date_naive());
        let (Some(first), Some(last)) = (day(period1), day(period2)) else {
            return not_found();
        };
        let bars: Vec<(i64, DailyBar)> = state
            .bars("yahoo", symbol, first - Days::days(1), last + Days::days(1))
            .into_iter()
            .map(|b| (new_york_epoch(b.date, 9, 30), b))
            .filter(|(t, _)| (period1..period2).contains(t))
            .collect();
        json_response(200, chart(symbol, &bars))
    }

    fn chart(symbol: &str, bars: &[(i64, DailyBar)]) -> Value {
        let closes: Vec<f64> = bars.iter().map(|(_, b)| b.close).collect();
        let mut result = json!({
            "meta": {"currency": "USD", "symbol": symbol, "exchangeName": "NMS",
                     "fullExchangeName": "NasdaqGS", "instrumentType": "EQUITY",
                     "firstTradeDate": 788_884_200, "gmtoffset": -18000, "timezone": "EST",
                     "exchangeTimezoneName": "America/New_York",
                     "regularMarketPrice": closes.last(), "priceHint": 2,
                     "dataGranularity": "1d", "range": ""},
            "indicators": {"quote": [{"open": closes, "high": closes, "low": closes,
                                      "close": closes,
                                      "volume": bars.iter().map(|(_, b)| b.volume).collect::<Vec<_>>()}],
                           "adjclose": [{"adjclose": closes}]}
        });
        if let (false, Some(object)) = (bars.is_empty(), result.as_object_mut()) {
            let timestamps: Vec<i64> = bars.iter().map(|(t, _)| *t).collect();
            object.insert("timestamp".into(), json!(timestamps));
        }
        json!({"chart": {"result": [result], "error": null}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigmasight_shared::market_data::fmp::FmpProvider;
    use sigmasight_shared::market_data::polygon::PolygonProvider;
    use sigmasight_shared::market_data::yahoo::YahooProvider;
    use sigmasight_shared::market_data::{MarketDataProvider, ProviderError};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    fn providers(fakes: &FakeProviders) -> Vec<(&'static str, Box<dyn MarketDataProvider>)> {
        let client = reqwest::Client::new();
        let fmp = FmpProvider::new(client.clone(), &fakes.fmp_url(), "k".into());
        let polygon = PolygonProvider::new(client.clone(), &fakes.polygon_url(), "k".into());
        let yahoo = YahooProvider::new(client, &fakes.yahoo_url());
        match (fmp, polygon, yahoo) {
            (Ok(f), Ok(p), Ok(y)) => vec![
                ("fmp", Box::new(f)),
                ("polygon", Box::new(p)),
                ("yahoo", Box::new(y)),
            ],
            _ => panic!("provider clients"),
        }
    }

    fn closes(bars: &[DailyBar]) -> Vec<(NaiveDate, f64)> {
        bars.iter().map(|b| (b.date, b.close)).collect()
    }

    #[tokio::test]
    async fn each_fake_serves_what_closes_says_through_the_real_clients() {
        let fakes = FakeProviders::start(FakeOptions::default()).await;
        // Two years span four DST changes and need two Polygon pages.
        let (start, end) = (d(2023, 1, 1), d(2024, 12, 31));
        for (name, provider) in providers(&fakes) {
            for symbol in ["AAPL", "BRK.B"] {
                let bars = provider
                    .daily_history(symbol, start, end)
                    .await
                    .unwrap_or_else(|e| panic!("{name} {symbol}: {e}"));
                let expected = fakes.closes(name, symbol, start, end);
                assert_eq!(expected.len(), 502, "{name} {symbol}");
                assert_eq!(closes(&bars), expected, "{name} {symbol}");
            }
        }
        assert_eq!(
            fakes.requests_for("polygon", "AAPL"),
            3,
            "502 bars in pages of 200"
        );
        assert_eq!(fakes.requests_for("polygon", "BRK-B"), 3, "spelled BRK.B");
        assert_eq!(fakes.requests_for("fmp", "AAPL"), 1);
        assert_eq!(fakes.requests("yahoo"), 2);
        assert_eq!(fakes.requests("fmp"), 2);
        assert_eq!(fakes.requests("polygon"), 6);
        assert_ne!(
            fakes.closes("fmp", "BRK.B", start, end),
            fakes.closes("polygon", "BRK.B", start, end),
            "BRK-B and BRK.B are different synthetic series"
        );
    }

    #[tokio::test]
    async fn unknown_symbols_get_each_providers_unknown_answer() {
        let opts = FakeOptions {
            fmp_unknown: vec!["SQ".into()],
            polygon_unknown: vec!["sq".into()],
            yahoo_unknown: vec!["SQ".into()],
            ..FakeOptions::default()
        };
        let fakes = FakeProviders::start(opts).await;
        let (start, end) = (d(2024, 1, 1), d(2024, 3, 1));
        for (name, provider) in providers(&fakes) {
            let result = provider.daily_history("SQ", start, end).await;
            assert!(
                matches!(result, Err(ProviderError::NotFound { .. })),
                "{name}: {result:?}"
            );
            assert!(fakes.closes(name, "SQ", start, end).is_empty());
            assert_eq!(fakes.requests_for(name, "SQ"), 1, "{name}");
            assert!(
                provider.daily_history("MSFT", start, end).await.is_ok(),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn polygon_grouped_daily_is_one_request_with_the_per_symbol_closes_spelled_back() {
        let opts = FakeOptions {
            polygon_unknown: vec!["SQ".into()],
            listed: vec!["MSFT".into(), "SQ".into()],
            ..FakeOptions::default()
        };
        let fakes = FakeProviders::start(opts).await;
        let polygon =
            PolygonProvider::new(reqwest::Client::new(), &fakes.polygon_url(), "k".into())
                .unwrap_or_else(|e| panic!("{e}"));
        let day = d(2024, 3, 11);
        // AAPL and BRK-B are in the fake market once a fake was asked about them.
        for s in ["AAPL", "BRK-B"] {
            let _ = polygon.daily_history(s, day, day).await;
        }
        let asked: Vec<String> = ["AAPL", "BRK-B", "MSFT", "SQ", "ZZZQ"]
            .map(String::from)
            .to_vec();
        let bars = polygon
            .grouped_daily(day, &asked)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(String, NaiveDate, f64)> = bars
            .iter()
            .map(|(s, b)| (s.clone(), b.date, b.close))
            .collect();
        let want: Vec<(String, NaiveDate, f64)> = ["AAPL", "BRK-B", "MSFT"]
            .iter()
            .map(|s| {
                let (date, close) = fakes.closes("polygon", s, day, day)[0];
                ((*s).to_owned(), date, close)
            })
            .collect();
        assert_eq!(
            got, want,
            "SQ is unknown and ZZZQ never asked about: absent"
        );
        assert_eq!(fakes.grouped_requests("polygon"), 1);
        let weekend = polygon.grouped_daily(d(2024, 3, 9), &asked).await;
        assert_eq!(
            weekend.map(|b| b.len()).ok(),
            Some(0),
            "no bars on a Saturday"
        );
        assert_eq!(fakes.grouped_requests("polygon"), 2);
        assert_eq!(fakes.per_symbol_requests("polygon"), 2);
    }

    #[tokio::test]
    async fn fmp_eod_bulk_is_one_request_with_the_per_symbol_closes_unless_the_plan_lacks_it() {
        let opts = FakeOptions {
            listed: vec!["AAPL".into(), "BRK.B".into(), "SQ".into()],
            fmp_unknown: vec!["SQ".into()],
            ..FakeOptions::default()
        };
        let fakes = FakeProviders::start(opts).await;
        let fmp = FmpProvider::new(reqwest::Client::new(), &fakes.fmp_url(), "k".into())
            .unwrap_or_else(|e| panic!("{e}"));
        let day = d(2024, 3, 11);
        let asked: Vec<String> = ["AAPL", "BRK.B", "SQ"].map(String::from).to_vec();
        let bars = fmp
            .grouped_daily(day, &asked)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(String, NaiveDate, f64)> = bars
            .iter()
            .map(|(s, b)| (s.clone(), b.date, b.close))
            .collect();
        let want: Vec<(String, NaiveDate, f64)> = ["AAPL", "BRK.B"]
            .iter()
            .map(|s| {
                let (date, close) = fakes.closes("fmp", s, day, day)[0];
                ((*s).to_owned(), date, close)
            })
            .collect();
        assert_eq!(got, want, "spelled back as asked; SQ unknown to FMP");
        assert_eq!(fakes.grouped_requests("fmp"), 1);
        assert_eq!(fakes.per_symbol_requests("fmp"), 0);

        let refusing = FakeProviders::start(FakeOptions {
            fmp_bulk_refused: true,
            ..FakeOptions::default()
        })
        .await;
        let fmp = FmpProvider::new(reqwest::Client::new(), &refusing.fmp_url(), "k".into())
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = fmp.grouped_daily(day, &asked).await;
        assert!(
            matches!(&refused, Err(ProviderError::Failing(r)) if r.contains("Restricted Endpoint")),
            "only the bulk fails: {refused:?}"
        );
    }

    #[tokio::test]
    async fn polygon_fake_requires_a_bearer_key() {
        let fakes = FakeProviders::start(FakeOptions::default()).await;
        let url = format!(
            "{}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05",
            fakes.polygon_url()
        );
        let status = reqwest::get(url).await.map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(401));
        assert_eq!(fakes.requests("polygon"), 1);
    }

    /// Same shape, and every number within a relative 1e-6 (the fakes round what they serve).
    fn nearly_equal(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| nearly_equal(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| nearly_equal(v, w)))
            }
            _ => a == b,
        }
    }

    fn as_json(v: &impl serde::Serialize) -> Value {
        serde_json::to_value(v).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn fmp_fake_profile_and_fundamentals_are_the_synthetic_ones() {
        let today = d(2026, 11, 27);
        let fakes = FakeProviders::start_as_of(FakeOptions::default(), today).await;
        let fmp = FmpProvider::new(reqwest::Client::new(), &fakes.fmp_url(), "k".into())
            .unwrap_or_else(|e| panic!("{e}"));
        let market = fakes.market();
        for symbol in ["MSFT", "SPY", "ZZZQ"] {
            let profile = fmp
                .company_profile(symbol, today)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                Some(&profile),
                fakes.fmp_profile(symbol).as_ref(),
                "{symbol}"
            );
            let mut synthetic = market
                .profile(symbol, today)
                .unwrap_or_else(|e| panic!("{e}"));
            synthetic.forward_pe = None;
            assert!(
                nearly_equal(&as_json(&profile), &as_json(&synthetic)),
                "{symbol}: {profile:?} vs {synthetic:?}"
            );
        }
        let f = fmp
            .fundamentals("MSFT", today)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(&f), fakes.fmp_fundamentals("MSFT").as_ref());
        let synthetic = market
            .fundamentals_as_of("MSFT", today)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(nearly_equal(&as_json(&f), &as_json(&synthetic)));
        assert_eq!(f.periods.len(), 11);
        assert!(matches!(
            fmp.fundamentals("SPY", today).await,
            Err(ProviderError::NotFound { .. })
        ));
        // Two requests per profile, six statements and the earnings calendar for MSFT, six
        // empty statements for SPY.
        assert_eq!(fakes.requests("fmp"), 3 * 2 + 7 + 6);
    }

    #[test]
    fn new_york_offsets_follow_the_us_rules() {
        assert_eq!(new_york_hours_behind(d(2024, 3, 10), 0), 5);
        assert_eq!(new_york_hours_behind(d(2024, 3, 10), 9), 4);
        assert_eq!(new_york_hours_behind(d(2024, 11, 3), 0), 4);
        assert_eq!(new_york_hours_behind(d(2024, 11, 3), 9), 5);
        assert_eq!(new_york_hours_behind(d(2005, 4, 1), 0), 5);
        assert_eq!(new_york_hours_behind(d(2005, 4, 4), 0), 4);
        assert_eq!(new_york_hours_behind(d(2005, 10, 31), 0), 5);
        assert_eq!(new_york_epoch(d(2005, 4, 1), 0, 0), 1_112_331_600);
    }
}
