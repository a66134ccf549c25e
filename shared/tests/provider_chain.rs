//! The fallback chain over real HTTP clients against fake providers on 127.0.0.1, in their
//! real shapes: which provider serves, how many requests each scenario costs (checked by
//! wiremock on drop), retries with backoff and `Retry-After`, and the circuit breaker.

use chrono::NaiveDate;
use serde_json::json;
use sigmasight_shared::market_data::chain::{
    ChainError, ChainSession, Member, ProviderChain, RetryPolicy,
};
use sigmasight_shared::market_data::fmp::FmpProvider;
use sigmasight_shared::market_data::polygon::PolygonProvider;
use sigmasight_shared::market_data::yahoo::YahooProvider;
use sigmasight_shared::market_data::{DailyBar, DataKind, MarketDataProvider};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "chain-test-key";

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_else(|| panic!("bad date"))
}

/// 2024-02-26 .. 2024-02-28: the range every scenario asks for.
fn range() -> (NaiveDate, NaiveDate) {
    (d(2024, 2, 26), d(2024, 2, 28))
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

struct Fakes {
    fmp: MockServer,
    polygon: MockServer,
    yahoo: MockServer,
}

impl Fakes {
    async fn start() -> Self {
        Self {
            fmp: MockServer::start().await,
            polygon: MockServer::start().await,
            yahoo: MockServer::start().await,
        }
    }

    /// The chain fmp → polygon → yahoo with `policy` and a client timeout.
    fn chain(&self, policy: RetryPolicy, timeout: Duration) -> Arc<ProviderChain> {
        let c = client(timeout);
        let fmp = FmpProvider::new(c.clone(), &format!("{}/stable", self.fmp.uri()), KEY.into())
            .unwrap_or_else(|e| panic!("{e}"));
        let polygon = PolygonProvider::new(c.clone(), &self.polygon.uri(), KEY.into())
            .unwrap_or_else(|e| panic!("{e}"));
        let yahoo = YahooProvider::new(c, &self.yahoo.uri()).unwrap_or_else(|e| panic!("{e}"));
        let members: Vec<Member> = [
            Arc::new(fmp) as Arc<dyn MarketDataProvider>,
            Arc::new(polygon),
            Arc::new(yahoo),
        ]
        .into_iter()
        .map(|p| Member::new(p, None))
        .collect();
        Arc::new(ProviderChain::new(members, policy))
    }

    /// A chain of the fake FMP alone as `member` makes it (its rate, its quota).
    fn fmp_alone(
        &self,
        policy: RetryPolicy,
        member: impl Fn(Arc<dyn MarketDataProvider>) -> Member,
    ) -> Arc<ProviderChain> {
        let fmp = FmpProvider::new(
            client(Duration::from_secs(5)),
            &format!("{}/stable", self.fmp.uri()),
            KEY.into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(ProviderChain::new(vec![member(Arc::new(fmp))], policy))
    }

    fn session(&self, policy: RetryPolicy) -> ChainSession {
        self.chain(policy, Duration::from_secs(10)).session()
    }
}

/// Fast retries so the scenarios run in milliseconds (a `Retry-After` still wins).
fn fast(retries: usize) -> RetryPolicy {
    RetryPolicy {
        retries,
        base: Duration::from_millis(5),
        cap: Duration::from_secs(5),
        breaker_failures: 10,
    }
}

fn fmp_bars(symbol: &str) -> ResponseTemplate {
    // FMP answers newest first.
    ResponseTemplate::new(200).set_body_json(json!([
        {"symbol": symbol, "date": "2024-02-28", "open": 182.51, "high": 183.12, "low": 180.13,
         "close": 181.42, "volume": 48953939, "change": -1.09, "changePercent": -0.59723, "vwap": 181.795},
        {"symbol": symbol, "date": "2024-02-27", "open": 181.1, "high": 183.9, "low": 179.56,
         "close": 182.63, "volume": 54318852, "change": 1.53, "changePercent": 0.84, "vwap": 182.0},
        {"symbol": symbol, "date": "2024-02-26", "open": 182.24, "high": 182.76, "low": 180.65,
         "close": 181.16, "volume": 40867421, "change": -1.08, "changePercent": -0.59, "vwap": 181.5}
    ]))
}

fn fmp_mock(symbol: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/stable/historical-price-eod/full"))
        .and(query_param("symbol", symbol))
}

/// New York midnight of 2024-02-26/27/28 in epoch ms (EST, UTC−5).
const T26: i64 = 1_708_923_600_000;

fn polygon_bars(symbol: &str) -> ResponseTemplate {
    let day = 86_400_000;
    ResponseTemplate::new(200).set_body_json(json!({
        "ticker": symbol, "queryCount": 3, "resultsCount": 3, "adjusted": true,
        "results": [
            {"v": 40867421.0, "vw": 181.5, "o": 182.24, "c": 181.16, "h": 182.76, "l": 180.65, "t": T26, "n": 1},
            {"v": 54318852.0, "vw": 182.0, "o": 181.1, "c": 182.63, "h": 183.9, "l": 179.56, "t": T26 + day, "n": 1},
            {"v": 48953939.0, "vw": 181.8, "o": 182.51, "c": 181.42, "h": 183.12, "l": 180.13, "t": T26 + 2 * day, "n": 1}
        ],
        "status": "OK", "request_id": "x", "count": 3
    }))
}

fn polygon_mock(symbol: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET")).and(path(format!(
        "/v2/aggs/ticker/{symbol}/range/1/day/2024-02-26/2024-02-28"
    )))
}

fn polygon_empty(symbol: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "ticker": symbol, "queryCount": 0, "resultsCount": 0, "adjusted": true,
        "status": "OK", "request_id": "y", "count": 0
    }))
}

fn yahoo_404() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"chart": {"result": null, "error": {
        "code": "Not Found", "description": "No data found, symbol may be delisted"}}}))
}

fn closes(bars: &[DailyBar]) -> Vec<f64> {
    bars.iter().map(|b| b.close).collect()
}

async fn history(session: &ChainSession, symbol: &str) -> Result<(String, Vec<f64>), ChainError> {
    let (start, end) = range();
    session
        .history(symbol, move |_| (start, end))
        .await
        .map(|s| (s.provider.to_owned(), closes(&s.value)))
}

#[tokio::test]
async fn the_first_provider_serves_and_the_others_are_not_asked() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(fmp_bars("AAPL"))
        .expect(1)
        .mount(&f.fmp)
        .await;
    Mock::given(method("GET"))
        .respond_with(polygon_bars("AAPL"))
        .expect(0)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    let (provider, c) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "fmp");
    assert_eq!(
        c,
        vec![181.16, 182.63, 181.42],
        "ascending, the served closes"
    );
    assert_eq!(s.requests().get("fmp"), Some(&1));
    assert!(s.take_notices().is_empty());
}

#[tokio::test]
async fn a_symbol_unknown_to_the_first_is_served_by_the_second() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&f.fmp)
        .await;
    polygon_mock("AAPL")
        .respond_with(polygon_bars("AAPL"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    let (provider, c) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "polygon");
    assert_eq!(c, vec![181.16, 182.63, 181.42]);
}

#[tokio::test]
async fn a_symbol_unknown_everywhere_is_unavailable_after_one_request_each() {
    let f = Fakes::start().await;
    fmp_mock("HZNP")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&f.fmp)
        .await;
    polygon_mock("HZNP")
        .respond_with(polygon_empty("HZNP"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    Mock::given(path("/v8/finance/chart/HZNP"))
        .respond_with(yahoo_404())
        .expect(1)
        .mount(&f.yahoo)
        .await;
    let s = f.session(fast(3));
    match history(&s, "HZNP").await {
        Err(ChainError::Unavailable { asked, reason }) => {
            assert_eq!(asked, vec!["fmp", "polygon", "yahoo"]);
            assert!(reason.contains("delisted"), "{reason}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_for_then_served() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"Error Message": "Limit Reach . Please upgrade your plan"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&f.fmp)
        .await;
    fmp_mock("AAPL")
        .respond_with(fmp_bars("AAPL"))
        .expect(1)
        .mount(&f.fmp)
        .await;
    let s = f.session(fast(3));
    let started = Instant::now();
    let (provider, _) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "fmp");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was honoured over the 5 ms backoff ({:?})",
        started.elapsed()
    );
    assert_eq!(s.requests().get("fmp"), Some(&2));
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_moves_on_to_the_next_provider() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&f.fmp)
        .await;
    polygon_mock("AAPL")
        .respond_with(polygon_bars("AAPL"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    let started = Instant::now();
    let (provider, _) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "polygon");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn two_500s_then_success_cost_three_requests() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream error"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&f.fmp)
        .await;
    fmp_mock("AAPL")
        .respond_with(fmp_bars("AAPL"))
        .expect(1)
        .mount(&f.fmp)
        .await;
    Mock::given(method("GET"))
        .respond_with(polygon_bars("AAPL"))
        .expect(0)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    let (provider, _) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "fmp");
    assert_eq!(s.requests().get("fmp"), Some(&3));
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_retried_then_the_next_provider_serves() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(fmp_bars("AAPL").set_delay(Duration::from_secs(2)))
        .expect(2)
        .mount(&f.fmp)
        .await;
    polygon_mock("AAPL")
        .respond_with(polygon_bars("AAPL"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.chain(fast(1), Duration::from_millis(250)).session();
    let (provider, _) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        provider, "polygon",
        "two timeouts (one retry), then polygon"
    );
}

#[tokio::test]
async fn malformed_json_is_transient_retried_then_handed_on() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .respond_with(
            ResponseTemplate::new(200).set_body_string("[{\"symbol\": \"AAPL\", \"date\":"),
        )
        .expect(3)
        .mount(&f.fmp)
        .await;
    polygon_mock("AAPL")
        .respond_with(polygon_bars("AAPL"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(2));
    let (provider, _) = history(&s, "AAPL").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "polygon");
}

#[tokio::test]
async fn a_bad_key_opens_the_breaker_with_one_notice_and_costs_one_request() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"Error Message": "Invalid API KEY. Feel free to create a Free API Key or visit https://site.financialmodelingprep.com/faqs?search=why-is-my-api-key-invalid for more information."})),
        )
        .expect(1)
        .mount(&f.fmp)
        .await;
    Mock::given(path_regex(r"^/v2/aggs/ticker/[A-Z]+/range/1/day/"))
        .respond_with(polygon_bars("X"))
        .expect(3)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    for symbol in ["AAPL", "MSFT", "NVDA"] {
        let (provider, _) = history(&s, symbol).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(provider, "polygon", "{symbol}");
    }
    let notices = s.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("fmp") && notices[0].contains("API key"),
        "{notices:?}"
    );
    assert!(!notices[0].contains(KEY));
    assert!(s.open_reason("fmp", DataKind::Prices).is_some());
    assert!(s.take_notices().is_empty(), "announced once");
}

#[tokio::test]
async fn a_refused_key_skips_the_provider_for_every_kind_of_data_after_one_request() {
    let f = Fakes::start().await;
    // FMP refuses the key for everything; it is asked once, for the first prices.
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"Error Message": "Invalid API KEY."})),
        )
        .expect(1)
        .mount(&f.fmp)
        .await;
    Mock::given(path_regex(r"^/v2/aggs/ticker/[A-Z]+/range/1/day/"))
        .respond_with(polygon_bars("X"))
        .expect(2)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    for symbol in ["AAPL", "MSFT"] {
        let (provider, _) = history(&s, symbol).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(provider, "polygon", "{symbol}");
    }
    // Only FMP serves profiles and fundamentals: not to be had in this run, and not
    // unavailable (the next run asks again).
    for result in [
        s.profile("AAPL", d(2024, 2, 28)).await.map(|_| ()),
        s.fundamentals("AAPL", d(2024, 2, 28)).await.map(|_| ()),
    ] {
        match result {
            Err(ChainError::Refused { reason, skipped }) => {
                assert_eq!(reason, "fmp: invalid API key", "{reason}");
                assert_eq!(skipped, ["fmp"]);
            }
            other => panic!("expected refused, got {other:?}"),
        }
    }
    assert_eq!(
        s.take_notices(),
        ["fmp: invalid API key \u{2014} skipped for the rest of this run"]
    );
    for kind in [DataKind::Prices, DataKind::Profiles, DataKind::Fundamentals] {
        assert!(s.open_reason("fmp", kind).is_some(), "{kind:?}");
    }
    assert_eq!(s.requests().get("fmp"), Some(&1), "never retried");
}

#[tokio::test]
async fn transient_failures_in_a_row_open_the_breaker() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&f.fmp)
        .await;
    Mock::given(path_regex(r"^/v2/aggs/ticker/[A-Z]+/range/1/day/"))
        .respond_with(polygon_bars("X"))
        .expect(5)
        .mount(&f.polygon)
        .await;
    let policy = RetryPolicy {
        breaker_failures: 3,
        ..fast(0)
    };
    let s = f.session(policy);
    for symbol in ["A", "B", "C", "D", "E"] {
        let (provider, _) = history(&s, symbol).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(provider, "polygon");
    }
    let notices = s.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].starts_with("fmp: 3 failures in a row"),
        "{notices:?}"
    );
}

#[tokio::test]
async fn when_every_provider_fails_transiently_the_symbol_is_undecided_not_unavailable() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&f.fmp)
        .await;
    polygon_mock("AAPL")
        .respond_with(ResponseTemplate::new(502))
        .expect(2)
        .mount(&f.polygon)
        .await;
    Mock::given(path("/v8/finance/chart/AAPL"))
        .respond_with(ResponseTemplate::new(429))
        .expect(2)
        .mount(&f.yahoo)
        .await;
    let s = f.session(fast(1));
    match history(&s, "AAPL").await {
        Err(ChainError::Undecided(reason)) => {
            for p in ["fmp", "polygon", "yahoo"] {
                assert!(reason.contains(p), "{reason}");
            }
        }
        other => panic!("expected undecided, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gap_asks_its_own_provider_from_the_last_stored_date_and_another_for_everything() {
    let f = Fakes::start().await;
    fmp_mock("AAPL")
        .and(query_param("from", "2024-02-27"))
        .and(query_param("to", "2024-02-28"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&f.fmp)
        .await;
    polygon_mock("AAPL")
        .respond_with(polygon_bars("AAPL"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(0));
    let (start, end) = range();
    let served = s
        .history("AAPL", move |p| {
            if p == "fmp" {
                (d(2024, 2, 27), end)
            } else {
                (start, end)
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.provider, "polygon");
    assert_eq!(
        served.value.len(),
        3,
        "the whole range from the new provider"
    );
}

#[tokio::test]
async fn profiles_come_from_the_first_provider_that_serves_them() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "symbol": "AAPL", "price": 181.42, "marketCap": 2.8e12, "beta": 1.24,
            "companyName": "Apple Inc.", "exchange": "NASDAQ", "industry": "Consumer Electronics",
            "sector": "Technology", "country": "US", "currency": "USD", "isEtf": false, "isFund": false
        }])))
        .expect(1)
        .mount(&f.fmp)
        .await;
    Mock::given(path("/stable/ratios-ttm"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"priceToEarningsRatioTTM": 28.5}])),
        )
        .mount(&f.fmp)
        .await;
    let s = f.session(fast(0));
    let served = s
        .profile("AAPL", d(2024, 2, 28))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.provider, "fmp");
    assert_eq!(served.value.sector.as_deref(), Some("Technology"));
    let polygon_only = ProviderChain::new(
        vec![Member::new(
            Arc::new(
                PolygonProvider::new(client(Duration::from_secs(1)), &f.polygon.uri(), KEY.into())
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            None,
        )],
        fast(0),
    );
    assert!(!polygon_only.serves(DataKind::Profiles));
    let session = Arc::new(polygon_only).session();
    assert!(matches!(
        session.profile("AAPL", d(2024, 2, 28)).await,
        Err(ChainError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn a_rate_limit_spaces_every_request_with_no_burst() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(fmp_bars("X"))
        .expect(5)
        .mount(&f.fmp)
        .await;
    // 600 a minute: one every 0.102 s (2 % margin), from the first request on — a bucket
    // holding a minute's worth would have let all five through at once.
    let chain = f.fmp_alone(fast(0), |p| Member::new(p, Some(600)));
    let s = chain.session();
    let started = Instant::now();
    for i in 0..5 {
        history(&s, &format!("S{i}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4 * 102),
        "four waits of 0.102 s after the first: {took:?}"
    );
    assert_eq!(s.requests().get("fmp"), Some(&5));
}

#[tokio::test]
async fn a_429_pauses_the_provider_for_every_session_sharing_the_budget() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"Error Message": "Limit Reach"}))
                .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&f.fmp)
        .await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(fmp_bars("X"))
        .expect(1)
        .mount(&f.fmp)
        .await;
    // One chain (one budget), two sessions: two runs on two workers of a deployment. The
    // first asks once and collects the 429; the second's request then waits out the pause
    // instead of collecting its own.
    let chain = f.chain(fast(0), Duration::from_secs(5));
    let (a, b) = (chain.session(), chain.session());
    assert!(matches!(
        history(&a, "AAPL").await,
        Err(ChainError::Undecided(_))
    ));
    let started = Instant::now();
    let (provider, _) = history(&b, "MSFT").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(provider, "fmp");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for the pause: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_spent_daily_quota_skips_the_provider_and_defers_what_no_other_serves() {
    let f = Fakes::start().await;
    Mock::given(path("/stable/historical-price-eod/full"))
        .respond_with(fmp_bars("X"))
        .expect(2)
        .mount(&f.fmp)
        .await;
    let chain = f.fmp_alone(fast(3), |p| Member::new(p, None).per_day(2));
    let s = chain.session();
    for symbol in ["A", "B"] {
        history(&s, symbol).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let tomorrow =
        sigmasight_shared::market_data::budget::quota_resets_at(chrono::Utc::now().date_naive());
    for symbol in ["C", "D"] {
        match history(&s, symbol).await {
            Err(ChainError::Deferred { reason, resets_at }) => {
                assert_eq!(reason, "fmp: daily quota of 2 requests spent");
                assert_eq!(resets_at, tomorrow);
            }
            other => panic!("expected deferred, got {other:?}"),
        }
    }
    let notices = s.take_notices();
    assert_eq!(notices.len(), 1, "said once: {notices:?}");
    assert!(notices[0].starts_with("fmp: daily quota of 2 requests spent \u{2014} skipped until "));
    assert_eq!(s.requests().get("fmp"), Some(&2));
}

fn grouped_mock() -> wiremock::MockBuilder {
    Mock::given(method("GET")).and(path("/v2/aggs/grouped/locale/us/market/stocks/2024-02-28"))
}

#[tokio::test]
async fn polygons_grouped_daily_is_retried_like_any_request_and_spelled_back_as_asked() {
    let f = Fakes::start().await;
    grouped_mock()
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .mount(&f.polygon)
        .await;
    let bar = |t: &str, c: f64, ms: i64| json!({"T": t, "v": 1000.0, "vw": c, "o": c, "c": c, "h": c, "l": c, "t": ms, "n": 1});
    let t28 = T26 + 2 * 86_400_000;
    grouped_mock()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "queryCount": 3, "resultsCount": 3, "adjusted": true, "status": "OK", "request_id": "g",
            // A bar of another date is not the date's.
            "results": [bar("AAPL", 181.42, t28), bar("BRK.B", 410.5, t28), bar("MSFT", 1.0, T26)]
        })))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    let asked: Arc<[String]> = ["AAPL", "BRK-B", "MSFT", "ZZZQ"].map(String::from).into();
    let served = s
        .grouped_daily("polygon", d(2024, 2, 28), asked)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.provider, "polygon");
    let got: Vec<(&str, f64)> = served
        .value
        .iter()
        .map(|(s, b)| (s.as_str(), b.close))
        .collect();
    assert_eq!(got, [("AAPL", 181.42), ("BRK-B", 410.5)]);
    assert_eq!(s.requests().get("polygon"), Some(&2), "one 500, one answer");
    assert!(matches!(
        s.grouped_daily("yahoo", d(2024, 2, 28), Arc::from(Vec::new()))
            .await,
        Err(ChainError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn a_plan_without_the_grouped_daily_skips_only_the_bulk_and_still_serves_per_symbol() {
    let f = Fakes::start().await;
    grouped_mock()
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "status": "NOT_AUTHORIZED", "request_id": "g",
            "message": "You are not entitled to this data. Please upgrade your plan."
        })))
        .expect(1)
        .mount(&f.polygon)
        .await;
    polygon_mock("AAPL")
        .respond_with(polygon_bars("AAPL"))
        .expect(1)
        .mount(&f.polygon)
        .await;
    let s = f.session(fast(3));
    let day = d(2024, 2, 28);
    for _ in 0..2 {
        let bulk = s
            .grouped_daily("polygon", day, Arc::from(vec!["AAPL".to_owned()]))
            .await;
        assert!(matches!(bulk, Err(ChainError::Refused { .. })), "{bulk:?}");
    }
    assert!(s.open_reason("polygon", DataKind::DailyBulk).is_some());
    assert!(s.open_reason("polygon", DataKind::Prices).is_none());
    let (start, end) = range();
    let served = s
        .history_from("polygon", "AAPL", start, end)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(closes(&served.value), vec![181.16, 182.63, 181.42]);
    assert_eq!(
        s.take_notices().len(),
        1,
        "the bulk's breaker, announced once"
    );
}
