//! Yahoo Finance chart v8 client (no key): daily bars only.
//!
//! One call is one chart request for `[start 00:00 UTC, end + 1 day 00:00 UTC)`. Bar dates
//! are the timestamps' dates in the exchange's time zone (`meta.exchangeTimezoneName`,
//! New York when absent). Null closes are skipped, and a live bar Yahoo appends after the
//! range is dropped. `close` is split-adjusted; `adjclose` (dividend-adjusted) is not used.

use super::http::{self, ConfigError, Provider};
use super::{DailyBar, MarketDataProvider, ProviderError};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use reqwest::{Client, Url};
use serde_json::Value;

/// The production base URL.
pub const YAHOO_BASE_URL_DEFAULT: &str = "https://query1.finance.yahoo.com";

const P: Provider = Provider::Yahoo;

/// Yahoo chart v8: daily bars.
#[derive(Debug)]
pub struct YahooProvider {
    client: Client,
    base: Url,
}

impl YahooProvider {
    /// A client on `base_url` (normally [`YAHOO_BASE_URL_DEFAULT`]).
    pub fn new(client: Client, base_url: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            client,
            base: http::parse_base_url(P, base_url)?,
        })
    }

    fn url(&self, symbol: &str, start: NaiveDate, end: NaiveDate) -> Result<Url, ProviderError> {
        let period1 = epoch_seconds(start).to_string();
        let period2 = end.succ_opt().map_or(i64::MAX, epoch_seconds).to_string();
        let query = [
            ("period1", period1.as_str()),
            ("period2", period2.as_str()),
            ("interval", "1d"),
            ("events", "div,splits"),
        ];
        http::endpoint(&self.base, &["v8", "finance", "chart", symbol], &query)
    }
}

/// Midnight UTC of `day`, in epoch seconds.
fn epoch_seconds(day: NaiveDate) -> i64 {
    day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

/// The chart's first result, or why there is none: Yahoo's "Not Found" is this symbol
/// missing, any other error transient.
fn chart_result<'a>(symbol: &str, body: &'a Value) -> Result<&'a Value, ProviderError> {
    if let Some(result) = body.pointer("/chart/result/0") {
        return Ok(result);
    }
    let error = body.pointer("/chart/error").filter(|e| !e.is_null());
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let text = http::provider_message(body.to_string().as_bytes());
    match (error, code) {
        (Some(_), Some("Not Found")) => Err(http::no_data(P, symbol, &text)),
        (Some(_), _) => Err(ProviderError::transient(format!("yahoo: {text}"))),
        (None, _) if body.pointer("/chart/result").is_some() => {
            Err(http::no_data(P, symbol, "no chart result"))
        }
        (None, _) => Err(ProviderError::transient(
            "yahoo: unexpected response (no chart)",
        )),
    }
}

/// The bars of one chart result, dated in the exchange's time zone.
fn bars(symbol: &str, result: &Value) -> Result<Vec<DailyBar>, ProviderError> {
    let timestamps = result
        .get("timestamp")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| http::no_data(P, symbol, "no timestamps"))?;
    let tz: Tz = result
        .pointer("/meta/exchangeTimezoneName")
        .and_then(Value::as_str)
        .and_then(|name| name.parse().ok())
        .unwrap_or(chrono_tz::America::New_York);
    let quote = result.pointer("/indicators/quote/0");
    let series = |key: &str| quote.and_then(|q| q.get(key)).and_then(Value::as_array);
    let (closes, volumes) = (series("close"), series("volume"));
    let at = |column: Option<&Vec<Value>>, i: usize| column.and_then(|c| c.get(i)?.as_f64());
    let bars = timestamps
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let date = DateTime::from_timestamp(t.as_i64()?, 0)?
                .with_timezone(&tz)
                .date_naive();
            Some(DailyBar {
                date,
                close: at(closes, i)?,
                volume: http::volume(at(volumes, i)),
            })
        })
        .collect();
    Ok(bars)
}

#[async_trait::async_trait]
impl MarketDataProvider for YahooProvider {
    fn name(&self) -> &'static str {
        P.name()
    }

    fn remote(&self) -> bool {
        true
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
        let url = self.url(&http::map_symbol(P, symbol), start, end)?;
        tracing::debug!(provider = P.name(), path = url.path(), symbol, "request");
        let answer = http::fetch(P, self.client.get(url)).await?;
        if !answer.status.is_success() {
            return Err(http::classify_status(
                P,
                symbol,
                answer.status,
                &answer.headers,
                &answer.body,
            ));
        }
        let body = http::parse_json(P, &answer.body)?;
        let bars = bars(symbol, chart_result(symbol, &body)?)?;
        http::finish_bars(P, symbol, bars, start, end)
    }
}
