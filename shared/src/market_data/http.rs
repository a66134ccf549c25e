//! Plumbing shared by the HTTP providers ([`super::fmp`], [`super::polygon`], [`super::yahoo`]).
//!
//! It owns: endpoint URLs (symbols only ever reach a URL as one percent-encoded path segment
//! or query value), one bounded GET ([`fetch`]), the classification of non-2xx answers
//! ([`classify_status`]) and of transport errors ([`transport_error`]), `Retry-After`, lenient
//! reading of JSON values, the final clean-up of bars ([`finish_bars`]) and how each provider
//! spells a symbol ([`map_symbol`]). It must not know any provider's response shapes beyond
//! where their error texts live, and never puts a secret or an unbounded body in a message.

use super::measure::RequestOutcome;
use super::{DailyBar, ProviderError};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use std::time::Duration;

/// Largest response body read, in bytes; a larger one is refused as transient.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Longest provider text (body, error message) echoed into an error, in characters.
pub const MAX_ECHO_CHARS: usize = 200;

/// Longest symbol sent to a provider, in characters.
const MAX_SYMBOL_CHARS: usize = 32;

/// The HTTP providers, for the rules that differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Financial Modeling Prep (`/stable`).
    Fmp,
    /// Polygon.io (Massive).
    Polygon,
    /// Yahoo chart v8.
    Yahoo,
}

impl Provider {
    /// The provider's stable name, as in [`super::MarketDataProvider::name`].
    pub fn name(self) -> &'static str {
        match self {
            Provider::Fmp => "fmp",
            Provider::Polygon => "polygon",
            Provider::Yahoo => "yahoo",
        }
    }

    /// What a 401 means, in the provider's terms.
    fn unauthorized(self) -> &'static str {
        match self {
            Provider::Fmp => "invalid API key",
            Provider::Polygon => "unknown API key",
            Provider::Yahoo => "unauthorized",
        }
    }

    /// What a 403 means, in the provider's terms.
    fn forbidden(self) -> &'static str {
        match self {
            Provider::Polygon => "not authorized (plan)",
            Provider::Fmp | Provider::Yahoo => "forbidden",
        }
    }
}

/// Why a provider client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The base URL does not parse, is not http(s), or carries a query or fragment.
    #[error("{provider}: invalid base URL: {reason}")]
    InvalidBaseUrl {
        /// The provider's name.
        provider: &'static str,
        /// What is wrong with it (the URL itself is not echoed).
        reason: String,
    },
    /// The API key is empty.
    #[error("{provider}: the API key is empty")]
    EmptyApiKey {
        /// The provider's name.
        provider: &'static str,
    },
}

/// A keyed provider's base URL (see [`parse_base_url`]) and its key, which must not be blank.
pub fn parse_keyed(provider: Provider, base: &str, api_key: &str) -> Result<Url, ConfigError> {
    let url = parse_base_url(provider, base)?;
    if api_key.trim().is_empty() {
        return Err(ConfigError::EmptyApiKey {
            provider: provider.name(),
        });
    }
    Ok(url)
}

/// Parses and checks a provider's base URL: http or https, with a host, no query, no fragment.
pub fn parse_base_url(provider: Provider, base: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidBaseUrl {
        provider: provider.name(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(base.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none() || url.cannot_be_a_base() {
        return Err(invalid("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not carry a query or a fragment"));
    }
    Ok(url)
}

/// `base` plus `segments` (each pushed as one percent-encoded path segment) plus `query`.
pub fn endpoint(
    base: &Url,
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| ProviderError::Failing("base URL cannot take a path".into()))?;
        path.pop_if_empty();
        for segment in segments {
            path.push(segment);
        }
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

/// Refuses a symbol no provider can have, before any request: empty, longer than 32
/// characters, with a control character, or without a letter or digit (`.` and `..` would
/// otherwise vanish from a URL path).
pub fn check_symbol(provider: Provider, symbol: &str) -> Result<(), ProviderError> {
    let s = symbol.trim();
    let sendable = !s.is_empty()
        && s.chars().count() <= MAX_SYMBOL_CHARS
        && !s.chars().any(char::is_control)
        && s.chars().any(char::is_alphanumeric);
    if sendable {
        Ok(())
    } else {
        Err(ProviderError::NotFound {
            symbol: symbol.to_owned(),
            reason: format!("{}: not a valid symbol", provider.name()),
        })
    }
}

/// How `provider` spells `symbol`: trimmed and upper-case; Polygon writes share classes with a
/// dot (`BRK-B` → `BRK.B`), FMP and Yahoo with a dash (`BRK.B` → `BRK-B`).
pub fn map_symbol(provider: Provider, symbol: &str) -> String {
    let s = symbol.trim().to_uppercase();
    match provider {
        Provider::Polygon => s.replace('-', "."),
        Provider::Fmp | Provider::Yahoo => s.replace('.', "-"),
    }
}

/// Of a bulk answer's bars (keyed as `provider` spells symbols), those of `symbols`, each
/// under the symbol as asked (`BRK-B` and `BRK.B` are one ticker to Polygon: only the caller
/// knows which spelling it holds).
pub fn bars_of(
    provider: Provider,
    bars: Vec<(String, DailyBar)>,
    symbols: &[String],
) -> Vec<(String, DailyBar)> {
    let bars: std::collections::HashMap<String, DailyBar> = bars.into_iter().collect();
    symbols
        .iter()
        .filter_map(|s| Some((s.clone(), *bars.get(&map_symbol(provider, s))?)))
        .collect()
}

/// A provider's answer: status, headers and the whole (bounded) body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// Sends one request and reads its body, refusing bodies over [`MAX_BODY_BYTES`].
///
/// Transport errors and timeouts (also while reading the body) are transient, with the URL
/// stripped from the message.
pub async fn fetch(
    provider: Provider,
    request: reqwest::RequestBuilder,
) -> Result<Answer, ProviderError> {
    let started = std::time::Instant::now();
    let answer = fetch_unmeasured(provider, request).await;
    super::measure::record(provider.name(), request_outcome(&answer), started.elapsed());
    answer
}

/// The `outcome` label of a provider request, from its HTTP answer (what the body then says,
/// e.g. FMP's "Limit Reach" under a 200, is the chain's to judge).
fn request_outcome(answer: &Result<Answer, ProviderError>) -> RequestOutcome {
    match answer {
        Err(_) => RequestOutcome::Transient,
        Ok(a) if a.status.is_success() => RequestOutcome::Ok,
        Ok(a) => match a.status.as_u16() {
            404 => RequestOutcome::NotFound,
            429 => RequestOutcome::RateLimited,
            401 | 403 => RequestOutcome::Refused,
            408 | 500..=599 => RequestOutcome::Transient,
            _ => RequestOutcome::Error,
        },
    }
}

async fn fetch_unmeasured(
    provider: Provider,
    request: reqwest::RequestBuilder,
) -> Result<Answer, ProviderError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, e))?;
    let too_large =
        || ProviderError::transient(format!("{}: response body over 32 MiB", provider.name()));
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(provider, e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A transport error or timeout as a transient failure, never with the request URL (it may
/// carry an API key).
pub fn transport_error(provider: Provider, err: reqwest::Error) -> ProviderError {
    let name = provider.name();
    if err.is_timeout() {
        return ProviderError::transient(format!("{name}: request timed out"));
    }
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::transient(format!("{name}: {}", bounded(&text)))
}

/// Classifies a non-2xx answer: 408, 429 and 5xx are transient (with `Retry-After`), 401 and
/// 403 that the provider refuses us (skipped for everything for the rest of the run), 404
/// that it does not have `symbol`, any other status that the provider is failing.
pub fn classify_status(
    provider: Provider,
    symbol: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ProviderError {
    let name = provider.name();
    let text = provider_message(body);
    let detail = if text.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {text}", status.as_u16())
    };
    match status.as_u16() {
        408 | 429 | 500..=599 => ProviderError::Transient {
            reason: format!("{name}: {detail}"),
            retry_after: retry_after(headers, Utc::now()),
            rate_limited: status.as_u16() == 429,
        },
        401 => ProviderError::Refused(format!("{name}: {}", provider.unauthorized())),
        403 => ProviderError::Refused(format!("{name}: {}: {detail}", provider.forbidden())),
        // Yahoo answers an unknown symbol (404) or a range it has no data for (400) itself.
        404 | 400 if provider == Provider::Yahoo => ProviderError::NotFound {
            symbol: symbol.to_owned(),
            reason: format!("{name}: {detail}"),
        },
        // FMP and Polygon answer an unknown symbol with an empty body: a 404 means a wrong
        // base URL, and every symbol would look unknown.
        404 => ProviderError::Failing(format!("{name}: {detail} (is the base URL right?)")),
        _ => ProviderError::Failing(format!("{name}: {detail}")),
    }
}

/// The `Retry-After` header as a wait from `now` (see [`parse_retry_after`]).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// Parses a `Retry-After` value: delta-seconds (`7`) or an HTTP-date (IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 850 and asctime forms). A date in the
/// past gives zero.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    const FORMATS: [&str; 3] = [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ];
    let at = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())?
        .and_utc();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The provider's own error text in `body` (FMP `Error Message`, Polygon `error`/`message`,
/// Yahoo `chart.error.description`), else the body itself; bounded by [`bounded`].
pub fn provider_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return bounded(&String::from_utf8_lossy(body));
    };
    let candidates = [
        value.get("Error Message"),
        value.get("error"),
        value.get("message"),
        value.pointer("/chart/error/description"),
        value.pointer("/chart/error/code"),
        value.pointer("/finance/error/description"),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().filter(|s| !s.trim().is_empty()));
    match found {
        Some(text) => bounded(text),
        None => bounded(&value.to_string()),
    }
}

/// `text` with runs of whitespace collapsed, cut to at most [`MAX_ECHO_CHARS`] characters
/// (the last one an ellipsis when cut).
pub fn bounded(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_ECHO_CHARS {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(MAX_ECHO_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Parses a JSON body; a malformed one is transient (a cut or garbled answer).
pub fn parse_json(provider: Provider, body: &[u8]) -> Result<Value, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::transient(format!("{}: malformed JSON: {e}", provider.name())))
}

/// `err` with every occurrence of `secret` in its texts replaced by `***`.
pub fn redact(err: ProviderError, secret: &str) -> ProviderError {
    if secret.is_empty() {
        return err;
    }
    let clean = |s: String| s.replace(secret, "***");
    match err {
        ProviderError::NotFound { symbol, reason } => ProviderError::NotFound {
            symbol,
            reason: clean(reason),
        },
        ProviderError::Transient {
            reason,
            retry_after,
            rate_limited,
        } => ProviderError::Transient {
            reason: clean(reason),
            retry_after,
            rate_limited,
        },
        ProviderError::Exhausted { reason, resets_at } => ProviderError::Exhausted {
            reason: clean(reason),
            resets_at,
        },
        ProviderError::Refused(s) => ProviderError::Refused(clean(s)),
        ProviderError::Failing(s) => ProviderError::Failing(clean(s)),
        ProviderError::Invalid(s) => ProviderError::Invalid(clean(s)),
    }
}

/// A JSON number (or a numeric string) under `key`, when finite.
pub fn json_f64(value: &Value, key: &str) -> Option<f64> {
    let v = value.get(key)?;
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

/// A non-empty trimmed string (or a number, as text) under `key`; `"null"` counts as absent.
pub fn json_str(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s != "null").then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean (or `"true"`/`"false"`, `1`/`0`) under `key`.
pub fn json_bool(value: &Value, key: &str) -> Option<bool> {
    match value.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// A `YYYY-MM-DD` date at the start of `text` (a time after it is ignored).
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let day = text.trim().get(..10)?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// A traded volume from a JSON number: rounded, negative or non-finite as 0.
pub fn volume(v: Option<f64>) -> i64 {
    match v {
        // `as` saturates, so an absurd volume cannot wrap.
        Some(v) if v.is_finite() && v > 0.0 => v.round() as i64,
        _ => 0,
    }
}

/// The bars of one answer, cleaned: within `[start, end]`, closes finite and positive,
/// ascending, one per date (the first in the provider's order wins). None left → not found.
pub fn finish_bars(
    provider: Provider,
    symbol: &str,
    mut bars: Vec<DailyBar>,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<DailyBar>, ProviderError> {
    bars.retain(|b| (start..=end).contains(&b.date) && b.close.is_finite() && b.close > 0.0);
    // Stable: among equal dates the provider's first stays first.
    bars.sort_by_key(|b| b.date);
    bars.dedup_by_key(|b| b.date);
    if bars.is_empty() {
        return Err(ProviderError::NotFound {
            symbol: symbol.to_owned(),
            reason: format!("{}: no bars between {start} and {end}", provider.name()),
        });
    }
    Ok(bars)
}

/// "No data for this symbol" from `provider`.
pub fn no_data(provider: Provider, symbol: &str, what: &str) -> ProviderError {
    ProviderError::NotFound {
        symbol: symbol.to_owned(),
        reason: format!("{}: {what}", provider.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn retry_after_reads_seconds_and_the_three_http_date_forms() {
        let seven = Some(Duration::from_secs(7));
        assert_eq!(parse_retry_after(" 7 ", now()), seven);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now()),
            seven
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now()),
            seven
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now()), seven);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "soon", "1.5", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad}");
        }
    }

    #[test]
    fn symbols_are_spelled_per_provider() {
        assert_eq!(map_symbol(Provider::Polygon, "brk-b"), "BRK.B");
        assert_eq!(map_symbol(Provider::Polygon, "BRK.B"), "BRK.B");
        assert_eq!(map_symbol(Provider::Fmp, "BRK.B"), "BRK-B");
        assert_eq!(map_symbol(Provider::Yahoo, " brk.b "), "BRK-B");
        assert_eq!(map_symbol(Provider::Yahoo, "AAPL"), "AAPL");
    }

    #[test]
    fn unsendable_symbols_are_refused() {
        for bad in ["", " ", ".", "..", "-", "A\tB", &"A".repeat(33)] {
            assert!(
                matches!(
                    check_symbol(Provider::Fmp, bad),
                    Err(ProviderError::NotFound { .. })
                ),
                "{bad:?}"
            );
        }
        for good in ["AAPL", "BRK.B", "A B", "^GSPC", "../x"] {
            assert!(check_symbol(Provider::Fmp, good).is_ok(), "{good}");
        }
    }

    #[test]
    fn endpoint_encodes_segments_and_keeps_the_base_path() {
        let base = parse_base_url(Provider::Fmp, "https://example.com/stable/")
            .unwrap_or_else(|e| panic!("{e}"));
        let url = endpoint(&base, &["x", "A B/%2e"], &[("symbol", "A&B")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url.as_str(),
            "https://example.com/stable/x/A%20B%2F%252e?symbol=A%26B"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        for bad in [
            "",
            "ftp://x.org",
            "mailto:a@b.c",
            "https://x.org/?a=1",
            "https://x.org/#f",
        ] {
            assert!(parse_base_url(Provider::Yahoo, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(bounded(&long).chars().count(), MAX_ECHO_CHARS);
        assert_eq!(bounded("  a \n b  "), "a b");
        let body = format!("{{\"Error Message\": \"{long}\"}}");
        assert_eq!(
            provider_message(body.as_bytes()).chars().count(),
            MAX_ECHO_CHARS
        );
        assert_eq!(
            provider_message(br#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found"}}}"#),
            "No data found"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let err = redact(ProviderError::Failing("bad key SECRET1".into()), "SECRET1");
        assert_eq!(err.to_string(), "bad key ***");
    }
}
