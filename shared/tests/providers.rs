//! The HTTP providers against fake servers on 127.0.0.1 answering in each provider's real
//! shapes (with call counts checked on drop), and the file provider against temp directories.

use chrono::NaiveDate;
use serde_json::json;
use sigmasight_shared::market_data::file::FileProvider;
use sigmasight_shared::market_data::fmp::FmpProvider;
use sigmasight_shared::market_data::polygon::PolygonProvider;
use sigmasight_shared::market_data::yahoo::YahooProvider;
use sigmasight_shared::market_data::{
    DailyBar, DataKind, FundamentalPeriod, MarketDataProvider, ProviderError,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sekret-key-123";

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_else(|| panic!("bad date {y}-{m}-{day}"))
}

fn bar(date: NaiveDate, close: f64, volume: i64) -> DailyBar {
    DailyBar {
        date,
        close,
        volume,
    }
}

fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

fn fmp(server: &MockServer) -> FmpProvider {
    FmpProvider::new(client(), &format!("{}/stable", server.uri()), KEY.into())
        .unwrap_or_else(|e| panic!("fmp: {e}"))
}

fn polygon(server: &MockServer) -> PolygonProvider {
    PolygonProvider::new(client(), &server.uri(), KEY.into())
        .unwrap_or_else(|e| panic!("polygon: {e}"))
}

fn yahoo(server: &MockServer) -> YahooProvider {
    YahooProvider::new(client(), &server.uri()).unwrap_or_else(|e| panic!("yahoo: {e}"))
}

/// The error of a call expected to fail.
fn err<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> ProviderError {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

fn ok<T>(result: Result<T, ProviderError>) -> T {
    result.unwrap_or_else(|e| panic!("expected success, got {e:?}"))
}

fn assert_not_found(e: &ProviderError) {
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
}

fn assert_transient(e: &ProviderError) {
    assert!(e.is_transient(), "{e:?}");
}

fn assert_no_key(e: &ProviderError) {
    assert!(!format!("{e:?}").contains(KEY), "key leaked: {e:?}");
}

// ---------------------------------------------------------------------------------------------
// FMP

fn fmp_bars_mock(symbol: &str, from: &str, to: &str, answer: ResponseTemplate) -> Mock {
    Mock::given(method("GET"))
        .and(path("/stable/historical-price-eod/full"))
        .and(query_param("symbol", symbol))
        .and(query_param("from", from))
        .and(query_param("to", to))
        .and(query_param("apikey", KEY))
        .respond_with(answer)
}

fn fmp_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "Error Message": message }))
}

async fn fmp_bars_error(answer: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    fmp_bars_mock("AAPL", "2024-02-26", "2024-02-28", answer)
        .expect(1)
        .mount(&server)
        .await;
    let e = err(fmp(&server)
        .daily_history("AAPL", d(2024, 2, 26), d(2024, 2, 28))
        .await);
    assert_no_key(&e);
    e
}

#[tokio::test]
async fn fmp_bars_newest_first_come_back_ascending_with_the_served_closes() {
    let server = MockServer::start().await;
    let body = json!([
        {"symbol":"AAPL","date":"2024-02-28","open":182.51,"high":183.12,"low":180.13,
         "close":181.42,"volume":48953939,"change":-1.09,"changePercent":-0.59723,"vwap":181.795},
        {"symbol":"AAPL","date":"2024-02-27","open":181.1,"high":183.92,"low":179.56,
         "close":182.63,"volume":54318851,"change":1.53,"changePercent":0.84,"vwap":182.03},
        {"symbol":"AAPL","date":"2024-02-27","close":999.0,"volume":1},
        {"symbol":"AAPL","date":"2024-02-26","close":null,"volume":40867421},
        {"symbol":"AAPL","date":"2024-02-23","close":182.52,"volume":45119677},
        {"symbol":"AAPL","date":"2024-02-22","close":-1.0,"volume":1}
    ]);
    fmp_bars_mock(
        "AAPL",
        "2024-02-22",
        "2024-02-28",
        ResponseTemplate::new(200).set_body_json(body),
    )
    .expect(1)
    .mount(&server)
    .await;
    let bars = ok(fmp(&server)
        .daily_history("AAPL", d(2024, 2, 22), d(2024, 2, 28))
        .await);
    assert_eq!(
        bars,
        vec![
            bar(d(2024, 2, 23), 182.52, 45119677),
            bar(d(2024, 2, 27), 182.63, 54318851),
            bar(d(2024, 2, 28), 181.42, 48953939),
        ]
    );
}

#[tokio::test]
async fn fmp_empty_array_is_not_found() {
    let e = fmp_bars_error(ResponseTemplate::new(200).set_body_json(json!([]))).await;
    assert_not_found(&e);
}

#[tokio::test]
async fn fmp_401_is_refused_and_never_shows_the_key() {
    let e = fmp_bars_error(fmp_error(
        401,
        &format!("Invalid API KEY {KEY}. Please retry or visit our documentation"),
    ))
    .await;
    assert!(
        matches!(&e, ProviderError::Refused(m) if m == "fmp: invalid API key"),
        "{e:?}"
    );
}

#[tokio::test]
async fn fmp_402_premium_query_parameter_is_not_found_for_the_symbol() {
    let e = fmp_bars_error(fmp_error(
        402,
        "Premium Query Parameter: 'symbol' is not available under your current subscription",
    ))
    .await;
    assert_not_found(&e);
    assert!(e.to_string().contains("Premium Query Parameter"), "{e}");
}

#[tokio::test]
async fn fmp_restricted_and_exclusive_endpoints_are_failing() {
    for (status, text) in [
        (
            402,
            "Restricted Endpoint: This endpoint is not available under your plan",
        ),
        (
            403,
            "Exclusive Endpoint: This endpoint is only for Ultimate subscribers",
        ),
    ] {
        let e = fmp_bars_error(fmp_error(status, text)).await;
        assert!(
            matches!(&e, ProviderError::Failing(m) if m.contains(text.split(':').next().unwrap_or(""))),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn fmp_limit_reach_with_http_200_is_transient() {
    let e = fmp_bars_error(fmp_error(
        200,
        "Limit Reach . Please upgrade your plan or visit our documentation for more details",
    ))
    .await;
    assert_transient(&e);
    assert!(e.to_string().contains("Limit Reach"), "{e}");
}

#[tokio::test]
async fn fmp_other_error_message_with_http_200_is_transient() {
    let e = fmp_bars_error(fmp_error(200, "Something went wrong")).await;
    assert_transient(&e);
}

#[tokio::test]
async fn fmp_malformed_json_is_transient() {
    let e = fmp_bars_error(
        ResponseTemplate::new(200)
            .set_body_raw(r#"[{"date":"2024-02-28","clo"#, "application/json"),
    )
    .await;
    assert_transient(&e);
}

#[tokio::test]
async fn fmp_429_is_transient_with_its_retry_after() {
    let e = fmp_bars_error(
        fmp_error(429, "Limit Reach . Please upgrade your plan").insert_header("Retry-After", "7"),
    )
    .await;
    assert!(
        matches!(
            e,
            ProviderError::Transient {
                retry_after: Some(wait),
                ..
            } if wait == Duration::from_secs(7)
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_503_with_an_http_date_retry_after_is_transient_with_a_wait() {
    let at = chrono::Utc::now() + chrono::Duration::seconds(120);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let e = fmp_bars_error(ResponseTemplate::new(503).insert_header("Retry-After", date.as_str()))
        .await;
    let ProviderError::Transient {
        retry_after: Some(wait),
        ..
    } = e
    else {
        panic!("expected a transient error with a wait, got {e:?}");
    };
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

#[tokio::test]
async fn fmp_500_is_transient_and_its_body_is_bounded() {
    let e = fmp_bars_error(ResponseTemplate::new(500).set_body_string("x".repeat(5000))).await;
    assert_transient(&e);
    assert!(e.to_string().len() < 300, "{e}");
}

#[tokio::test]
async fn a_body_over_32_mib_is_refused_as_transient() {
    let e = fmp_bars_error(
        ResponseTemplate::new(200)
            .set_body_raw(vec![b' '; 32 * 1024 * 1024 + 1], "application/json"),
    )
    .await;
    assert_transient(&e);
    assert!(e.to_string().contains("32 MiB"), "{e}");
}

#[tokio::test]
async fn a_response_slower_than_the_client_timeout_is_transient_without_the_key() {
    let server = MockServer::start().await;
    fmp_bars_mock(
        "AAPL",
        "2024-02-26",
        "2024-02-28",
        ResponseTemplate::new(200)
            .set_body_json(json!([]))
            .set_delay(Duration::from_secs(1)),
    )
    .expect(1)
    .mount(&server)
    .await;
    let provider = FmpProvider::new(
        client_with_timeout(Duration::from_millis(200)),
        &format!("{}/stable", server.uri()),
        KEY.into(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = err(provider
        .daily_history("AAPL", d(2024, 2, 26), d(2024, 2, 28))
        .await);
    assert_transient(&e);
    assert_no_key(&e);
}

#[tokio::test]
async fn a_refused_connection_is_transient_without_the_key() {
    let port = {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"))
            .port()
    };
    let provider = FmpProvider::new(
        client(),
        &format!("http://127.0.0.1:{port}/stable"),
        KEY.into(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = err(provider
        .daily_history("AAPL", d(2024, 2, 26), d(2024, 2, 28))
        .await);
    assert_transient(&e);
    assert_no_key(&e);
}

#[tokio::test]
async fn fmp_profile_maps_fields_and_takes_the_pe_from_ratios_ttm() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stable/profile"))
        .and(query_param("symbol", "AAPL"))
        .and(query_param("apikey", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "symbol": "AAPL", "price": 232.8, "marketCap": 3500823120000.0_f64, "beta": 1.24,
            "lastDividend": 0.99, "range": "164.08-237.49", "change": 4.79,
            "changePercentage": 2.1008, "volume": 0, "averageVolume": 50542058,
            "companyName": "Apple Inc.", "currency": "USD", "cik": "0000320193",
            "isin": "US0378331005", "cusip": "037833100", "exchangeFullName": "NASDAQ Global Select",
            "exchange": "NASDAQ", "industry": "Consumer Electronics", "website": "https://www.apple.com",
            "description": "Apple Inc. designs...", "ceo": "Mr. Timothy D. Cook", "sector": "Technology",
            "country": "US", "fullTimeEmployees": "164000", "phone": "(408) 996-1010",
            "ipoDate": "1980-12-12", "defaultImage": false, "isEtf": false,
            "isActivelyTrading": true, "isAdr": false, "isFund": false
        }])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/stable/ratios-ttm"))
        .and(query_param("symbol", "AAPL"))
        .and(query_param("apikey", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "symbol": "AAPL", "grossProfitMarginTTM": 0.4621, "priceToEarningsRatioTTM": 37.29,
            "dividendYieldTTM": 0.0043, "priceToBookRatioTTM": 52.1
        }])))
        .expect(1)
        .mount(&server)
        .await;
    let p = ok(fmp(&server).company_profile("AAPL", d(2025, 1, 10)).await);
    assert_eq!(p.symbol, "AAPL");
    assert_eq!(p.name, "Apple Inc.");
    assert_eq!(p.sector.as_deref(), Some("Technology"));
    assert_eq!(p.industry.as_deref(), Some("Consumer Electronics"));
    assert_eq!(p.exchange.as_deref(), Some("NASDAQ"));
    assert_eq!(p.country.as_deref(), Some("US"));
    assert_eq!(p.market_cap, Some(3500823120000.0));
    assert_eq!(p.beta, Some(1.24));
    assert_eq!(p.trailing_pe, Some(37.29));
    assert_eq!(p.dividend_yield, Some(0.0043));
    assert_eq!(
        (p.week_52_low, p.week_52_high),
        (Some(164.08), Some(237.49))
    );
    assert!(!p.is_etf && !p.is_fund);
}

#[tokio::test]
async fn fmp_profile_stands_when_ratios_fail_and_zero_beta_and_empty_sector_are_none() {
    let server = MockServer::start().await;
    Mock::given(path("/stable/profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "symbol": "SPY", "price": 600.0, "marketCap": 0, "beta": 0, "lastDividend": 6.0,
            "range": "", "companyName": "SPDR S&P 500 ETF Trust", "exchange": "AMEX",
            "industry": "", "sector": "", "country": null, "isEtf": true, "isFund": false
        }])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/stable/ratios-ttm"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let p = ok(fmp(&server).company_profile("SPY", d(2025, 1, 10)).await);
    assert_eq!((p.beta, p.trailing_pe, p.market_cap), (None, None, None));
    assert_eq!((p.sector, p.industry, p.country), (None, None, None));
    assert_eq!((p.week_52_low, p.week_52_high), (None, None));
    assert_eq!(p.dividend_yield, Some(0.01), "lastDividend / price");
    assert!(p.is_etf);
}

#[tokio::test]
async fn fmp_empty_profile_is_not_found_and_skips_ratios() {
    let server = MockServer::start().await;
    Mock::given(path("/stable/profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/stable/ratios-ttm"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0)
        .mount(&server)
        .await;
    assert_not_found(&err(fmp(&server)
        .company_profile("ZZZZ", d(2025, 1, 10))
        .await));
}

fn statement_mock(statement: &str, period: &str, limit: &str, rows: serde_json::Value) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!("/stable/{statement}")))
        .and(query_param("symbol", "MSFT"))
        .and(query_param("period", period))
        .and(query_param("limit", limit))
        .and(query_param("apikey", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows))
        .expect(1)
}

fn head(date: &str, filed: &str, year: &str, period: &str) -> serde_json::Value {
    json!({"date": date, "symbol": "MSFT", "reportedCurrency": "USD", "cik": "null",
           "filingDate": filed, "acceptedDate": format!("{filed} 16:05:00"),
           "fiscalYear": year, "period": period})
}

fn with(mut row: serde_json::Value, fields: serde_json::Value) -> serde_json::Value {
    if let (Some(row), Some(fields)) = (row.as_object_mut(), fields.as_object()) {
        row.extend(fields.clone());
    }
    row
}

async fn mount_msft_statements(server: &MockServer) {
    // Quarter ended 2024-12-31 but filed after as_of (2025-01-15): not yet reported.
    let late = head("2024-12-31", "2025-01-29", "2025", "Q2");
    let q1 = head("2024-09-30", "2024-10-30", "2025", "Q1");
    let q4 = head("2024-06-30", "2024-07-30", "2024", "Q4");
    let fy = head("2024-06-30", "2024-07-30", "2024", "FY");
    let income = |row: &serde_json::Value, rev: f64| {
        with(
            row.clone(),
            json!({"revenue": rev, "grossProfit": rev / 2.0,
            "operatingIncome": rev / 4.0, "ebitda": rev / 3.0, "netIncome": rev / 5.0,
            "eps": 3.3, "epsDiluted": 3.2}),
        )
    };
    let balance = |row: &serde_json::Value| {
        with(
            row.clone(),
            json!({"totalAssets": 500.0, "totalLiabilities": 250.0,
            "totalStockholdersEquity": 250.0, "totalDebt": 90.0, "netDebt": 10.0,
            "totalCurrentAssets": 150.0, "totalCurrentLiabilities": 120.0,
            "cashAndCashEquivalents": 80.0}),
        )
    };
    let cash = |row: &serde_json::Value, capex: f64| {
        with(
            row.clone(),
            json!({"operatingCashFlow": 40.0, "capitalExpenditure": capex,
            "freeCashFlow": 40.0 + capex}),
        )
    };
    let q1_no_diluted = with(income(&q1, 65.0), json!({"epsDiluted": null}));
    for (statement, quarter, annual) in [
        (
            "income-statement",
            json!([income(&late, 70.0), q1_no_diluted, income(&q4, 64.0)]),
            json!([income(&fy, 245.0)]),
        ),
        (
            "balance-sheet-statement",
            json!([balance(&late), balance(&q1), balance(&q4)]),
            json!([balance(&fy)]),
        ),
        (
            "cash-flow-statement",
            json!([cash(&late, -1.0), cash(&q1, -14.9), cash(&q4, -19.0)]),
            json!([cash(&fy, -55.7)]),
        ),
    ] {
        statement_mock(statement, "quarter", "8", quarter)
            .mount(server)
            .await;
        statement_mock(statement, "annual", "4", annual)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn fmp_fundamentals_merge_quarterly_and_annual_statements() {
    let server = MockServer::start().await;
    mount_msft_statements(&server).await;
    Mock::given(path("/stable/earnings"))
        .and(query_param("symbol", "MSFT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"symbol": "MSFT", "date": "2025-04-24", "epsActual": null, "epsEstimated": 3.2,
             "revenueActual": null, "revenueEstimated": 68.0, "lastUpdated": "2025-01-10"},
            {"symbol": "MSFT", "date": "2025-01-29", "epsActual": null, "epsEstimated": 3.1},
            {"symbol": "MSFT", "date": "2024-10-30", "epsActual": 3.3, "epsEstimated": 3.1}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let f = ok(fmp(&server).fundamentals("MSFT", d(2025, 1, 15)).await);
    assert_eq!(f.next_earnings_date, Some(d(2025, 1, 29)));
    let keys: Vec<(&str, NaiveDate, i32, Option<i32>)> = f
        .periods
        .iter()
        .map(|p| {
            (
                p.period_type.as_str(),
                p.period_end,
                p.fiscal_year,
                p.fiscal_quarter,
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("quarterly", d(2024, 9, 30), 2025, Some(1)),
            ("quarterly", d(2024, 6, 30), 2024, Some(4)),
            ("annual", d(2024, 6, 30), 2024, None),
        ]
    );
    let q1: &FundamentalPeriod = &f.periods[0];
    assert_eq!(q1.revenue, Some(65.0));
    assert_eq!(q1.gross_profit, Some(32.5));
    assert_eq!(q1.operating_income, Some(16.25));
    assert_eq!(q1.net_income, Some(13.0));
    assert_eq!(q1.diluted_eps, Some(3.3), "falls back to eps");
    assert_eq!(q1.total_assets, Some(500.0));
    assert_eq!(q1.total_equity, Some(250.0));
    assert_eq!(q1.current_assets, Some(150.0));
    assert_eq!(q1.current_liabilities, Some(120.0));
    assert_eq!(q1.total_debt, Some(90.0));
    assert_eq!(q1.cash, Some(80.0));
    assert_eq!(q1.operating_cash_flow, Some(40.0));
    assert_eq!(
        q1.capital_expenditure,
        Some(14.9),
        "stored as a positive amount"
    );
    assert_eq!(f.periods[1].diluted_eps, Some(3.2));
    assert_eq!(f.periods[2].revenue, Some(245.0));
    assert_eq!(f.periods[2].capital_expenditure, Some(55.7));
}

#[tokio::test]
async fn fmp_fundamentals_without_earnings_still_answer() {
    let server = MockServer::start().await;
    mount_msft_statements(&server).await;
    Mock::given(path("/stable/earnings"))
        .respond_with(fmp_error(403, "Restricted Endpoint"))
        .expect(1)
        .mount(&server)
        .await;
    let f = ok(fmp(&server).fundamentals("MSFT", d(2025, 1, 15)).await);
    assert_eq!(f.next_earnings_date, None);
    assert_eq!(f.periods.len(), 3);
}

#[tokio::test]
async fn fmp_fundamentals_with_six_empty_statements_are_not_found() {
    let server = MockServer::start().await;
    for statement in [
        "income-statement",
        "balance-sheet-statement",
        "cash-flow-statement",
    ] {
        statement_mock(statement, "quarter", "8", json!([]))
            .mount(&server)
            .await;
        statement_mock(statement, "annual", "4", json!([]))
            .mount(&server)
            .await;
    }
    Mock::given(path("/stable/earnings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0)
        .mount(&server)
        .await;
    assert_not_found(&err(fmp(&server)
        .fundamentals("MSFT", d(2025, 1, 15))
        .await));
}

#[tokio::test]
async fn fmp_serves_all_three_kinds() {
    let server = MockServer::start().await;
    let p = fmp(&server);
    assert_eq!(p.name(), "fmp");
    for kind in [DataKind::Prices, DataKind::Profiles, DataKind::Fundamentals] {
        assert!(p.serves(kind), "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Polygon

const AGGS_PATH: &str = "/v2/aggs/ticker/AAPL/range/1/day/2024-03-01/2024-03-15";

fn aggs(results: serde_json::Value, next_url: Option<String>) -> ResponseTemplate {
    let count = results.as_array().map_or(0, Vec::len);
    let mut body = json!({"ticker": "AAPL", "queryCount": count, "resultsCount": count,
        "adjusted": true, "results": results, "status": "OK",
        "request_id": "6a7e466379af0a71039d60cc78e72282", "count": count});
    if let (Some(next), Some(object)) = (next_url, body.as_object_mut()) {
        object.insert("next_url".into(), json!(next));
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn agg(t: i64, close: f64, volume: f64) -> serde_json::Value {
    json!({"v": volume, "vw": close, "o": close, "c": close, "h": close, "l": close, "t": t, "n": 1})
}

async fn polygon_error(answer: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(path(AGGS_PATH))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    let e = err(polygon(&server)
        .daily_history("AAPL", d(2024, 3, 1), d(2024, 3, 15))
        .await);
    assert_no_key(&e);
    e
}

#[tokio::test]
async fn polygon_follows_next_url_with_the_bearer_key_and_dates_bars_in_new_york() {
    let server = MockServer::start().await;
    let next = format!(
        "{}{AGGS_PATH}?cursor=YWN0aXZlPXRydWUmZGF0ZT0yMDI0",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path(AGGS_PATH))
        .and(query_param("adjusted", "true"))
        .and(query_param("sort", "asc"))
        .and(query_param("limit", "50000"))
        .and(query_param_is_missing("cursor"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(aggs(
            // Midnight EST (05:00 UTC) on 2024-03-07 and 03-08.
            json!([
                agg(1709787600000, 170.5, 4.1e7),
                agg(1709874000000, 171.0, 4.2e7)
            ]),
            Some(next),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(AGGS_PATH))
        .and(query_param("cursor", "YWN0aXZlPXRydWUmZGF0ZT0yMDI0"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(aggs(
            // Midnight EDT (04:00 UTC) after the 2024-03-10 change: 03-11 and 03-12.
            json!([
                agg(1710129600000, 172.0, 4.3e7),
                agg(1710216000000, 173.0, 4.4e7)
            ]),
            None,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let bars = ok(polygon(&server)
        .daily_history("AAPL", d(2024, 3, 1), d(2024, 3, 15))
        .await);
    assert_eq!(
        bars,
        vec![
            bar(d(2024, 3, 7), 170.5, 41_000_000),
            bar(d(2024, 3, 8), 171.0, 42_000_000),
            bar(d(2024, 3, 11), 172.0, 43_000_000),
            bar(d(2024, 3, 12), 173.0, 44_000_000),
        ]
    );
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| !r.url.as_str().contains(KEY)));
}

#[tokio::test]
async fn polygon_dates_the_documented_winter_bar_and_a_november_bar() {
    let server = MockServer::start().await;
    Mock::given(path(
        "/v2/aggs/ticker/AAPL/range/1/day/2005-03-30/2024-11-05",
    ))
    .respond_with(aggs(
        // The reference's example (2005-04-01 05:00 UTC, EST), then 2024-11-01 (EDT)
        // and 2024-11-04 (EST again).
        json!([
            agg(1112331600000, 40.0, 1.0),
            agg(1730433600000, 222.9, 2.0),
            agg(1730696400000, 222.0, 3.0)
        ]),
        None,
    ))
    .expect(1)
    .mount(&server)
    .await;
    let bars = ok(polygon(&server)
        .daily_history("AAPL", d(2005, 3, 30), d(2024, 11, 5))
        .await);
    let dates: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    assert_eq!(dates, vec![d(2005, 4, 1), d(2024, 11, 1), d(2024, 11, 4)]);
}

#[tokio::test]
async fn polygon_refuses_a_next_url_on_another_host() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(path(AGGS_PATH))
        .respond_with(aggs(
            json!([agg(1709787600000, 170.5, 1.0)]),
            Some(format!("{}{AGGS_PATH}?cursor=abc", elsewhere.uri())),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(aggs(json!([]), None))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let e = err(polygon(&server)
        .daily_history("AAPL", d(2024, 3, 1), d(2024, 3, 15))
        .await);
    assert_transient(&e);
    assert!(e.to_string().contains("unexpected next_url host"), "{e}");
}

#[tokio::test]
async fn polygon_stops_after_100_pages() {
    let server = MockServer::start().await;
    Mock::given(path(AGGS_PATH))
        .respond_with(aggs(
            json!([agg(1709787600000, 170.5, 1.0)]),
            Some(format!("{}{AGGS_PATH}?cursor=again", server.uri())),
        ))
        .expect(100)
        .mount(&server)
        .await;
    let e = err(polygon(&server)
        .daily_history("AAPL", d(2024, 3, 1), d(2024, 3, 15))
        .await);
    assert_transient(&e);
    assert!(e.to_string().contains("100 pages"), "{e}");
}

#[tokio::test]
async fn an_empty_range_answers_nothing_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let (start, end) = (d(2024, 3, 15), d(2024, 3, 1));
    assert!(ok(polygon(&server).daily_history("AAPL", start, end).await).is_empty());
    assert!(ok(fmp(&server).daily_history("AAPL", start, end).await).is_empty());
    assert!(ok(yahoo(&server).daily_history("AAPL", start, end).await).is_empty());
}

#[tokio::test]
async fn polygon_without_results_is_not_found() {
    let no_key = json!({"ticker": "AAPL", "queryCount": 0, "resultsCount": 0, "adjusted": true,
        "status": "OK", "request_id": "b5e3d8c0", "count": 0});
    assert_not_found(&polygon_error(ResponseTemplate::new(200).set_body_json(no_key)).await);
    assert_not_found(&polygon_error(aggs(json!([]), None)).await);
}

#[tokio::test]
async fn polygon_401_is_refused() {
    let e = polygon_error(ResponseTemplate::new(401).set_body_json(
        json!({"status": "ERROR", "request_id": "c0ffee", "error": "Unknown API Key"}),
    ))
    .await;
    assert!(
        matches!(&e, ProviderError::Refused(m) if m == "polygon: unknown API key"),
        "{e:?}"
    );
}

#[tokio::test]
async fn polygon_403_not_authorized_is_refused() {
    let e = polygon_error(ResponseTemplate::new(403).set_body_json(json!({
        "status": "NOT_AUTHORIZED", "request_id": "c0ffee",
        "message": "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"
    })))
    .await;
    assert!(
        matches!(&e, ProviderError::Refused(m) if m.starts_with("polygon: not authorized (plan)")
            && m.contains("not entitled")),
        "{e:?}"
    );
}

#[tokio::test]
async fn polygon_429_is_transient() {
    let e = polygon_error(ResponseTemplate::new(429).set_body_json(json!({
        "status": "ERROR", "request_id": "c0ffee",
        "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"
    })))
    .await;
    assert_transient(&e);
    assert!(e.to_string().contains("exceeded"), "{e}");
}

#[tokio::test]
async fn polygon_serves_prices_only() {
    let server = MockServer::start().await;
    let p = polygon(&server);
    assert_eq!(p.name(), "polygon");
    assert!(p.serves(DataKind::Prices));
    assert!(!p.serves(DataKind::Profiles) && !p.serves(DataKind::Fundamentals));
}

// ---------------------------------------------------------------------------------------------
// Symbols

#[tokio::test]
async fn share_classes_are_spelled_per_provider() {
    let server = MockServer::start().await;
    Mock::given(path(
        "/v2/aggs/ticker/BRK.B/range/1/day/2024-03-01/2024-03-15",
    ))
    .respond_with(aggs(json!([agg(1709787600000, 410.0, 1.0)]), None))
    .expect(2)
    .mount(&server)
    .await;
    fmp_bars_mock(
        "BRK-B",
        "2024-03-01",
        "2024-03-15",
        ResponseTemplate::new(200).set_body_json(json!([{"date": "2024-03-07", "close": 410.0}])),
    )
    .expect(1)
    .mount(&server)
    .await;
    let (start, end) = (d(2024, 3, 1), d(2024, 3, 15));
    for symbol in ["BRK.B", "BRK-B"] {
        assert_eq!(
            ok(polygon(&server).daily_history(symbol, start, end).await).len(),
            1
        );
    }
    assert_eq!(
        ok(fmp(&server).daily_history("BRK.B", start, end).await).len(),
        1
    );
}

#[tokio::test]
async fn odd_symbols_are_percent_encoded_and_dot_segments_never_sent() {
    let server = MockServer::start().await;
    Mock::given(path(
        "/v2/aggs/ticker/A%20B%2FC/range/1/day/2024-03-01/2024-03-15",
    ))
    .respond_with(aggs(json!([agg(1709787600000, 10.0, 1.0)]), None))
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(path("/v8/finance/chart/A%20B"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let (start, end) = (d(2024, 3, 1), d(2024, 3, 15));
    assert_eq!(
        ok(polygon(&server).daily_history("A B/C", start, end).await).len(),
        1
    );
    assert_not_found(&err(yahoo(&server).daily_history("A B", start, end).await));
    for symbol in ["..", ".", "", " "] {
        assert_not_found(&err(polygon(&server)
            .daily_history(symbol, start, end)
            .await));
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Yahoo

fn chart(
    tz: &str,
    timestamps: serde_json::Value,
    closes: serde_json::Value,
    volumes: serde_json::Value,
) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"chart": {"result": [{
        "meta": {"currency": "USD", "symbol": "AAPL", "exchangeName": "NMS",
                 "instrumentType": "EQUITY", "gmtoffset": -14400, "timezone": "EDT",
                 "exchangeTimezoneName": tz, "regularMarketPrice": 173.0},
        "timestamp": timestamps,
        "indicators": {"quote": [{"open": closes.clone(), "high": closes.clone(),
                                  "low": closes.clone(), "close": closes.clone(), "volume": volumes}],
                       "adjclose": [{"adjclose": [1.0, 1.0, 1.0, 1.0, 1.0]}]}
    }], "error": null}}))
}

async fn yahoo_error(answer: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(path("/v8/finance/chart/AAPL"))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    err(yahoo(&server)
        .daily_history("AAPL", d(2024, 3, 7), d(2024, 3, 12))
        .await)
}

#[tokio::test]
async fn yahoo_skips_null_closes_and_drops_the_live_bar_after_the_range() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v8/finance/chart/AAPL"))
        .and(query_param("period1", "1709769600"))
        .and(query_param("period2", "1710288000"))
        .and(query_param("interval", "1d"))
        .and(query_param("events", "div,splits"))
        .respond_with(chart(
            "America/New_York",
            // 09:30 New York on 03-07, 03-08 (EST), 03-11, 03-12 (EDT), and a live 03-13 bar.
            json!([1709821800, 1709908200, 1710163800, 1710250200, 1710336600]),
            json!([170.5, null, 172.0, 173.0, 174.0]),
            json!([41000000, 42000000, null, 44000000, 1000]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let bars = ok(yahoo(&server)
        .daily_history("AAPL", d(2024, 3, 7), d(2024, 3, 12))
        .await);
    assert_eq!(
        bars,
        vec![
            bar(d(2024, 3, 7), 170.5, 41_000_000),
            bar(d(2024, 3, 11), 172.0, 0),
            bar(d(2024, 3, 12), 173.0, 44_000_000),
        ]
    );
}

#[tokio::test]
async fn yahoo_dates_bars_in_the_exchange_time_zone() {
    let server = MockServer::start().await;
    Mock::given(path("/v8/finance/chart/BHP"))
        .respond_with(chart(
            "Australia/Sydney",
            // 10:00 Sydney on 03-11 and 03-12: 23:00 UTC the day before.
            json!([1710111600, 1710198000]),
            json!([45.1, 45.2]),
            json!([1, 2]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let bars = ok(yahoo(&server)
        .daily_history("BHP", d(2024, 3, 11), d(2024, 3, 12))
        .await);
    let dates: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    assert_eq!(dates, vec![d(2024, 3, 11), d(2024, 3, 12)]);
}

#[tokio::test]
async fn yahoo_404_is_not_found() {
    let e = yahoo_error(
        ResponseTemplate::new(404).set_body_json(json!({"chart": {"result": null,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}})),
    )
    .await;
    assert_not_found(&e);
    assert!(e.to_string().contains("delisted"), "{e}");
}

#[tokio::test]
async fn yahoo_200_with_an_error_is_not_found_only_for_not_found() {
    let not_found = json!({"chart": {"result": null,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}});
    assert_not_found(&yahoo_error(ResponseTemplate::new(200).set_body_json(not_found)).await);
    let other = json!({"chart": {"result": null,
        "error": {"code": "Internal Server Error", "description": "Timed out"}}});
    assert_transient(&yahoo_error(ResponseTemplate::new(200).set_body_json(other)).await);
}

#[tokio::test]
async fn yahoo_empty_timestamps_are_not_found() {
    let e = yahoo_error(chart("America/New_York", json!([]), json!([]), json!([]))).await;
    assert_not_found(&e);
}

#[tokio::test]
async fn yahoo_429_and_500_are_transient() {
    assert_transient(
        &yahoo_error(ResponseTemplate::new(429).set_body_string("Too Many Requests")).await,
    );
    assert_transient(&yahoo_error(ResponseTemplate::new(500)).await);
}

// ---------------------------------------------------------------------------------------------
// File

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("sigmasight-providers-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.0.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        self
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn file_reads_optional_columns_in_any_order() {
    let dir = TempDir::new();
    dir.write(
        "AAPL.csv",
        "Volume, close ,low,DATE,open,high\n\
         300,103.5,101,2024-01-04,102,104\n\
         \n\
         100,101.25,,2024-01-02,,\n\
         200,102,100,2024-01-03,101,103\n\
         ,104,,2024-01-05,,\n",
    );
    let p = FileProvider::new(dir.0.clone());
    let bars = ok(p.daily_history("AAPL", d(2024, 1, 3), d(2024, 1, 31)).await);
    assert_eq!(
        bars,
        vec![
            bar(d(2024, 1, 3), 102.0, 200),
            bar(d(2024, 1, 4), 103.5, 300),
            bar(d(2024, 1, 5), 104.0, 0),
        ]
    );
    assert_not_found(&err(p
        .daily_history("AAPL", d(2023, 1, 1), d(2023, 12, 31))
        .await));
    assert_eq!(p.name(), "file");
    assert!(p.serves(DataKind::Prices));
    assert!(!p.serves(DataKind::Profiles) && !p.serves(DataKind::Fundamentals));
}

#[tokio::test]
async fn file_missing_is_not_found() {
    let dir = TempDir::new();
    let p = FileProvider::new(dir.0.clone());
    assert_not_found(&err(p
        .daily_history("MSFT", d(2024, 1, 1), d(2024, 2, 1))
        .await));
    assert_not_found(&err(p.company_profile("MSFT", d(2024, 1, 1)).await));
    assert_not_found(&err(p.fundamentals("MSFT", d(2024, 1, 1)).await));
}

#[tokio::test]
async fn bad_price_files_are_invalid_with_file_line_and_column() {
    let cases = [
        (
            "date,close\n2024-01-02,100\n2024-01-03,abc\n",
            r#"AAPL.csv line 3, column 2 (close): "abc" is not a number"#,
        ),
        (
            "date,close\n2024-01-02,-1\n",
            r#"AAPL.csv line 2, column 2 (close): "-1" is not a positive price"#,
        ),
        (
            "date,close\n2024-01-02,0\n",
            r#"AAPL.csv line 2, column 2 (close): "0" is not a positive price"#,
        ),
        (
            "date,close\n2024-01-02,NaN\n",
            r#"AAPL.csv line 2, column 2 (close): "NaN" is not a positive price"#,
        ),
        (
            "close,date\n1,2024/01/02\n",
            r#"AAPL.csv line 2, column 2 (date): "2024/01/02" is not a date (YYYY-MM-DD)"#,
        ),
        (
            "date,close\n2024-02-30,1\n",
            r#"AAPL.csv line 2, column 1 (date): "2024-02-30" is not a date (YYYY-MM-DD)"#,
        ),
        (
            "date,close\n2024-01-02,1\n\n2024-01-02,2\n",
            "AAPL.csv line 4, column 1 (date): duplicate date 2024-01-02 (first on line 2)",
        ),
        (
            "date,open\n2024-01-02,1\n",
            "AAPL.csv line 1: no close column",
        ),
        ("close\n1\n", "AAPL.csv line 1: no date column"),
        (
            "date,close,adj close\n",
            "AAPL.csv line 1, column 3 (adj close): unknown column",
        ),
        (
            "date,close,Close\n",
            "AAPL.csv line 1, column 3 (Close): repeated column",
        ),
        (
            "date,close\n2024-01-02,1,2\n",
            "AAPL.csv line 2: 3 fields, the header has 2",
        ),
        (
            "date,close,volume\n2024-01-02,1,12x\n",
            r#"AAPL.csv line 2, column 3 (volume): "12x" is not a volume"#,
        ),
        (
            "date,close,volume\n2024-01-02,1,-5\n",
            r#"AAPL.csv line 2, column 3 (volume): "-5" is not a volume"#,
        ),
        (
            "date,close,high\n2024-01-02,1,x\n",
            r#"AAPL.csv line 2, column 3 (high): "x" is not a number"#,
        ),
        ("", "AAPL.csv line 1: no header"),
        (
            "date,close\r\n2024-01-02,1\r\n\r\n2024-01-03,x\r\n",
            r#"AAPL.csv line 4, column 2 (close): "x" is not a number"#,
        ),
        (
            "\n\ndate,close\n2024-01-02,abc\n",
            r#"AAPL.csv line 4, column 2 (close): "abc" is not a number"#,
        ),
    ];
    for (text, expected) in cases {
        let dir = TempDir::new();
        dir.write("AAPL.csv", text);
        let e = err(FileProvider::new(dir.0.clone())
            .daily_history("AAPL", d(2024, 1, 1), d(2024, 12, 31))
            .await);
        assert!(
            matches!(&e, ProviderError::Invalid(m) if m == expected),
            "{text:?}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_price_file_over_64_mib_is_invalid() {
    let dir = TempDir::new();
    let file = std::fs::File::create(dir.0.join("BIG.csv")).unwrap_or_else(|e| panic!("{e}"));
    file.set_len(64 * 1024 * 1024 + 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = err(FileProvider::new(dir.0.clone())
        .daily_history("BIG", d(2024, 1, 1), d(2024, 12, 31))
        .await);
    assert!(
        matches!(&e, ProviderError::Invalid(m) if m == "BIG.csv: larger than 64 MiB"),
        "{e:?}"
    );
}

#[tokio::test]
async fn path_like_symbols_are_not_found_without_reading_outside_the_dir() {
    let root = TempDir::new();
    root.write("x.csv", "date,close\n2024-01-02,1\n");
    root.write(".csv", "date,close\n2024-01-02,1\n");
    let prices = root.0.join("prices");
    std::fs::create_dir_all(&prices).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(prices.join(".hidden.csv"), "date,close\n2024-01-02,1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let p = FileProvider::new(prices);
    let outside = root.0.join("x").display().to_string();
    for symbol in [
        "../x", "..", ".", "", ".hidden", "a/b", "..\\x", "x y", "_", &outside,
    ] {
        let e = err(p
            .daily_history(symbol, d(2024, 1, 1), d(2024, 12, 31))
            .await);
        assert_not_found(&e);
    }
}

#[tokio::test]
async fn profiles_csv_maps_each_column() {
    let dir = TempDir::new();
    dir.write(
        "profiles.csv",
        "symbol,name,sector,industry,beta,market_cap,is_etf\n\
         AAPL,Apple Inc.,Technology,Consumer Electronics,1.24,3500000000000,false\n\
         SPY,SPDR S&P 500,,,,,yes\n\
         XYZ,Xyz Corp,,,0,,\n",
    );
    let p = FileProvider::new(dir.0.clone());
    assert!(p.serves(DataKind::Profiles));
    let aapl = ok(p.company_profile("AAPL", d(2024, 1, 1)).await);
    assert_eq!(aapl.name, "Apple Inc.");
    assert_eq!(aapl.sector.as_deref(), Some("Technology"));
    assert_eq!(aapl.industry.as_deref(), Some("Consumer Electronics"));
    assert_eq!((aapl.beta, aapl.market_cap), (Some(1.24), Some(3.5e12)));
    assert!(!aapl.is_etf);
    let spy = ok(p.company_profile("spy", d(2024, 1, 1)).await);
    assert!(spy.is_etf);
    assert_eq!(
        (spy.sector, spy.industry, spy.beta, spy.market_cap),
        (None, None, None, None)
    );
    let xyz = ok(p.company_profile("XYZ", d(2024, 1, 1)).await);
    assert_eq!(xyz.beta, None, "beta 0 means none");
    assert!(!xyz.is_etf);
    assert_not_found(&err(p.company_profile("MSFT", d(2024, 1, 1)).await));
    assert!(!p.serves(DataKind::Fundamentals));
}

#[tokio::test]
async fn bad_profiles_csv_is_invalid_with_file_line_and_column() {
    let header = "symbol,name,sector,industry,beta,market_cap,is_etf\n";
    let cases = [
        (
            "AAPL,Apple,,,1.2,,false\nMSFT,Microsoft,,,high,,false\n",
            r#"profiles.csv line 3, column 5 (beta): "high" is not a number"#,
        ),
        (
            "AAPL,Apple,,,,,maybe\n",
            r#"profiles.csv line 2, column 7 (is_etf): "maybe" is not true/false/1/0/yes/no"#,
        ),
        (
            "AAPL,Apple,,,,lots,no\n",
            r#"profiles.csv line 2, column 6 (market_cap): "lots" is not a number"#,
        ),
        (
            "AAPL,Apple,,,,,\naapl,Apple again,,,,,\n",
            "profiles.csv line 3, column 1 (symbol): duplicate symbol (first on line 2)",
        ),
        (
            ",Nobody,,,,,\n",
            "profiles.csv line 2, column 1 (symbol): empty symbol",
        ),
    ];
    for (rows, expected) in cases {
        let dir = TempDir::new();
        dir.write("profiles.csv", &format!("{header}{rows}"));
        let e = err(FileProvider::new(dir.0.clone())
            .company_profile("AAPL", d(2024, 1, 1))
            .await);
        assert!(
            matches!(&e, ProviderError::Invalid(m) if m == expected),
            "{rows:?}: {e:?}"
        );
    }
    let dir = TempDir::new();
    dir.write("profiles.csv", "symbol,name,ceo\n");
    let e = err(FileProvider::new(dir.0.clone())
        .company_profile("AAPL", d(2024, 1, 1))
        .await);
    assert!(
        matches!(&e, ProviderError::Invalid(m) if m == "profiles.csv line 1, column 3 (ceo): unknown column"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_404_from_fmp_or_polygon_is_a_wrong_base_url_not_an_unknown_symbol() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("Not Found"))
        .mount(&server)
        .await;
    let fmp_err = err(fmp(&server)
        .daily_history("AAPL", d(2024, 1, 2), d(2024, 1, 5))
        .await);
    assert!(
        matches!(fmp_err, ProviderError::Failing(ref m) if m.contains("base URL")),
        "{fmp_err:?}"
    );
    let polygon_err = err(polygon(&server)
        .daily_history("AAPL", d(2024, 1, 2), d(2024, 1, 5))
        .await);
    assert!(
        matches!(polygon_err, ProviderError::Failing(_)),
        "{polygon_err:?}"
    );
}

#[tokio::test]
async fn a_yahoo_400_for_a_range_without_data_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"chart": {"result": null,
            "error": {"code": "Bad Request", "description": "Data doesn't exist for startDate = 1, endDate = 2"}}})))
        .mount(&server)
        .await;
    let e = err(yahoo(&server)
        .daily_history("HZNP", d(2024, 1, 2), d(2024, 1, 5))
        .await);
    assert_not_found(&e);
}
