//! Polygon.io (Massive) client: daily aggregates only, key as `Authorization: Bearer`.
//!
//! One call is one aggregates request plus the pages its `next_url` points at. The key is sent
//! again with every page, and only to the base URL's scheme, host and port. Bar timestamps are
//! the bar's start, midnight America/New_York, in epoch ms: dates are New York dates. The
//! grouped daily (`/v2/aggs/grouped/locale/us/market/stocks/{date}`) answers one date's bar
//! of every US ticker in one request: a night's closes of the whole universe.

use super::http::{self, json_f64, ConfigError, Provider};
use super::{DailyBar, DataKind, MarketDataProvider, ProviderError};
use chrono::{DateTime, NaiveDate};
use chrono_tz::America::New_York;
use reqwest::{Client, Url};
use serde_json::Value;

/// The production base URL.
pub const POLYGON_BASE_URL_DEFAULT: &str = "https://api.polygon.io";

/// Most pages followed in one call.
pub const MAX_PAGES: usize = 100;

const P: Provider = Provider::Polygon;

/// Polygon.io: daily bars.
pub struct PolygonProvider {
    client: Client,
    base: Url,
    api_key: String,
}

impl std::fmt::Debug for PolygonProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolygonProvider")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// One page: its bars and where the next one is.
struct Page {
    bars: Vec<DailyBar>,
    /// Whether the page had a non-empty `results` array.
    had_results: bool,
    next: Option<Url>,
}

impl PolygonProvider {
    /// A client on `base_url` (normally [`POLYGON_BASE_URL_DEFAULT`]) with `api_key`.
    pub fn new(client: Client, base_url: &str, api_key: String) -> Result<Self, ConfigError> {
        let base = http::parse_keyed(P, base_url, &api_key)?;
        Ok(Self {
            client,
            base,
            api_key,
        })
    }

    fn first_url(
        &self,
        ticker: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Url, ProviderError> {
        let (from, to) = (start.to_string(), end.to_string());
        let path = [
            "v2", "aggs", "ticker", ticker, "range", "1", "day", &from, &to,
        ];
        let query = [("adjusted", "true"), ("sort", "asc"), ("limit", "50000")];
        http::endpoint(&self.base, &path, &query)
    }

    fn grouped_url(&self, date: NaiveDate) -> Result<Url, ProviderError> {
        let day = date.to_string();
        let path = [
            "v2", "aggs", "grouped", "locale", "us", "market", "stocks", &day,
        ];
        http::endpoint(&self.base, &path, &[("adjusted", "true")])
    }

    /// The grouped daily of `date`: every ticker's bar of that date, by Polygon's spelling
    /// (bars of another date are left out). No `results`: no bars (not a trading day).
    async fn grouped(&self, date: NaiveDate) -> Result<Vec<(String, DailyBar)>, ProviderError> {
        let url = self.grouped_url(date)?;
        tracing::debug!(provider = P.name(), path = url.path(), "request");
        let request = self.client.get(url).bearer_auth(&self.api_key);
        let answer = http::fetch(P, request).await?;
        if !answer.status.is_success() {
            let e = http::classify_status(P, "", answer.status, &answer.headers, &answer.body);
            return Err(match e {
                // The plan lacks the endpoint (403 NOT_AUTHORIZED): the key is good for the
                // per-symbol aggregates, so only the bulk endpoint is failing.
                ProviderError::Refused(reason) if answer.status.as_u16() == 403 => {
                    ProviderError::Failing(reason)
                }
                e => e,
            });
        }
        let body = http::parse_json(P, &answer.body)?;
        refuse_status(&body)?;
        let results = body.get("results").and_then(Value::as_array);
        Ok(results
            .into_iter()
            .flatten()
            .filter_map(|r| Some((http::json_str(r, "T")?, bar(r)?)))
            .filter(|(_, b)| b.date == date && b.close.is_finite() && b.close > 0.0)
            .collect())
    }

    /// Whether `url` is on the base's scheme, host and port (the only place the key may go).
    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// One page: GET with the Bearer key, classified and parsed.
    async fn page(&self, symbol: &str, url: Url) -> Result<Page, ProviderError> {
        tracing::debug!(provider = P.name(), path = url.path(), symbol, "request");
        let request = self.client.get(url).bearer_auth(&self.api_key);
        let answer = http::fetch(P, request).await?;
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
        refuse_status(&body)?;
        let results = body.get("results").and_then(Value::as_array);
        let next = match body.get("next_url").and_then(Value::as_str) {
            Some(next) if !next.trim().is_empty() => Some(self.next_url(next)?),
            _ => None,
        };
        Ok(Page {
            bars: results
                .map(|r| r.iter().filter_map(bar).collect())
                .unwrap_or_default(),
            had_results: results.is_some_and(|r| !r.is_empty()),
            next,
        })
    }

    fn next_url(&self, next: &str) -> Result<Url, ProviderError> {
        match Url::parse(next) {
            Ok(url) if self.same_origin(&url) => Ok(url),
            Ok(_) => Err(ProviderError::transient(
                "polygon: unexpected next_url host",
            )),
            Err(_) => Err(ProviderError::transient("polygon: malformed next_url")),
        }
    }

    /// The first page and every page after it, at most [`MAX_PAGES`].
    async fn all_pages(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError> {
        let ticker = http::map_symbol(P, symbol);
        let mut url = Some(self.first_url(&ticker, start, end)?);
        let mut bars = Vec::new();
        for n in 0..MAX_PAGES {
            let Some(current) = url.take() else {
                return Ok(bars);
            };
            let page = self.page(symbol, current).await?;
            if n == 0 && !page.had_results {
                return Err(http::no_data(P, symbol, "no results"));
            }
            bars.extend(page.bars);
            url = page.next;
        }
        match url {
            None => Ok(bars),
            Some(_) => Err(ProviderError::transient(format!(
                "polygon: more than {MAX_PAGES} pages"
            ))),
        }
    }
}

/// A 200 whose `status` says the request failed: `NOT_AUTHORIZED` is the plan (failing),
/// `ERROR` transient.
fn refuse_status(body: &Value) -> Result<(), ProviderError> {
    let text = || {
        let message = ["error", "message"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str));
        http::bounded(message.unwrap_or("no message"))
    };
    match body.get("status").and_then(Value::as_str) {
        Some("NOT_AUTHORIZED") => Err(ProviderError::Failing(format!(
            "polygon: not authorized (plan): {}",
            text()
        ))),
        Some("ERROR") => Err(ProviderError::transient(format!("polygon: {}", text()))),
        _ => Ok(()),
    }
}

/// One aggregate; its `t` (epoch ms of midnight New York) gives the New York date.
fn bar(result: &Value) -> Option<DailyBar> {
    let t = result.get("t")?;
    let ms = t.as_i64().or_else(|| t.as_f64().map(|f| f as i64))?;
    let date = DateTime::from_timestamp_millis(ms)?
        .with_timezone(&New_York)
        .date_naive();
    Some(DailyBar {
        date,
        close: json_f64(result, "c")?,
        volume: http::volume(json_f64(result, "v")),
    })
}

#[async_trait::async_trait]
impl MarketDataProvider for PolygonProvider {
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
        let bars = self.all_pages(symbol, start, end).await;
        let bars = bars.map_err(|e| http::redact(e, &self.api_key))?;
        http::finish_bars(P, symbol, bars, start, end)
    }

    fn serves(&self, kind: DataKind) -> bool {
        matches!(kind, DataKind::Prices | DataKind::DailyBulk)
    }

    async fn grouped_daily(
        &self,
        date: NaiveDate,
        symbols: &[String],
    ) -> Result<Vec<(String, DailyBar)>, ProviderError> {
        let bars = self
            .grouped(date)
            .await
            .map_err(|e| http::redact(e, &self.api_key))?;
        Ok(http::bars_of(P, bars, symbols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_dates_are_new_york_dates() {
        // 2024-03-10 23:30 New York (EDT) is 2024-03-11 03:30 UTC.
        let late = serde_json::json!({"t": 1_710_127_800_000_i64, "c": 1.0});
        assert_eq!(
            bar(&late).map(|b| b.date),
            NaiveDate::from_ymd_opt(2024, 3, 10)
        );
    }
}
