//! The business clock: which day it is in New York, and so which trading day's closes are
//! final. `SIGMASIGHT_AS_OF=YYYY-MM-DD` pins it (the day, after its close) so that tests and
//! reruns are reproducible; unset or empty, it is the real date. Only business dates follow
//! it: timestamps (leases, `started_at`, elapsed times) are always the real time.

use crate::calendar;
use chrono::{NaiveDate, Utc};
use std::sync::OnceLock;

/// The variable that pins the business date.
pub const AS_OF_ENV: &str = "SIGMASIGHT_AS_OF";

/// Parses an as-of value: empty means "the real date".
pub fn parse_as_of(value: &str) -> Result<Option<NaiveDate>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("{AS_OF_ENV} must be YYYY-MM-DD, got {:?}", cut(value)))
}

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The pinned date, read once from the environment (a malformed value is refused by the
/// binaries' argument parsing before anything runs; here it counts as unset).
pub fn as_of() -> Option<NaiveDate> {
    static AS_OF: OnceLock<Option<NaiveDate>> = OnceLock::new();
    *AS_OF.get_or_init(|| {
        std::env::var(AS_OF_ENV)
            .ok()
            .and_then(|v| parse_as_of(&v).ok().flatten())
    })
}

/// Today's date in New York (the pinned date when set).
pub fn today_ny() -> NaiveDate {
    as_of().unwrap_or_else(|| {
        Utc::now()
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive()
    })
}

/// The most recent trading day whose closes are final (see
/// [`calendar::last_trading_day`]); with a pinned date, that date if it is a trading day,
/// else the trading day before it.
pub fn last_trading_day() -> NaiveDate {
    match as_of() {
        Some(d) if calendar::is_trading_day(d) => d,
        Some(d) => calendar::previous_trading_day(d),
        None => calendar::last_trading_day(Utc::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_values_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_as_of(""), Ok(None));
        assert_eq!(parse_as_of("  "), Ok(None));
        assert_eq!(
            parse_as_of("2026-11-27"),
            Ok(NaiveDate::from_ymd_opt(2026, 11, 27))
        );
        let err = parse_as_of("27/11/2026").err().unwrap_or_default();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        assert!(
            parse_as_of(&"9".repeat(10_000))
                .err()
                .unwrap_or_default()
                .len()
                < 120
        );
    }

    #[test]
    fn the_real_clock_is_within_a_day_of_utc() {
        if as_of().is_some() {
            return; // pinned by the environment: covered by the e2e real-date test
        }
        let utc = Utc::now().date_naive();
        let ny = today_ny();
        assert!(
            ny <= utc && ny >= utc - chrono::Days::new(1),
            "{ny} vs {utc}"
        );
        assert!(last_trading_day() <= ny);
    }
}
