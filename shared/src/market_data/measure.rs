//! Counting and timing of market-data provider requests (`sigmasight_provider_requests_total`
//! and `sigmasight_provider_request_duration_seconds`): the one function every request is
//! recorded through, the closed set of its `outcome` label, and [`Measured`], the wrapper
//! that records the requests of a provider that does not speak HTTP (the synthetic market,
//! the file provider). The HTTP clients record each HTTP request in [`super::http::fetch`],
//! by its status; a provider is either wrapped or fetches over HTTP, never both, so no
//! request is counted twice.

use super::{CompanyProfile, DailyBar, DataKind, Fundamentals, MarketDataProvider, ProviderError};
use crate::metrics as m;
use chrono::NaiveDate;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one provider request ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// An answer (HTTP 2xx, or data from a local provider).
    Ok,
    /// The provider does not have the symbol (HTTP 404, or a local provider's "no such
    /// symbol").
    NotFound,
    /// HTTP 429.
    RateLimited,
    /// HTTP 401 or 403: the key or the plan.
    Refused,
    /// 5xx, 408, a timeout or a connection error (or a local provider's transient failure).
    Transient,
    /// Anything else (another 4xx; a local provider failing or with unusable data).
    Error,
}

impl RequestOutcome {
    /// Every outcome, for registering the series at 0.
    pub const ALL: &'static [RequestOutcome] = &[
        Self::Ok,
        Self::NotFound,
        Self::RateLimited,
        Self::Refused,
        Self::Transient,
        Self::Error,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Refused => "refused",
            Self::Transient => "transient",
            Self::Error => "error",
        }
    }

    /// The outcome of a local provider's answer (an HTTP client judges by the status, see
    /// [`super::http::fetch`]).
    pub fn of<T>(answer: &Result<T, ProviderError>) -> Self {
        match answer {
            Ok(_) => Self::Ok,
            Err(ProviderError::NotFound { .. }) => Self::NotFound,
            Err(ProviderError::Transient {
                rate_limited: true, ..
            }) => Self::RateLimited,
            Err(ProviderError::Transient { .. }) => Self::Transient,
            Err(ProviderError::Refused(_)) => Self::Refused,
            Err(
                ProviderError::Failing(_)
                | ProviderError::Invalid(_)
                | ProviderError::Exhausted { .. },
            ) => Self::Error,
        }
    }
}

/// Records one request of `provider`: its count by outcome and its latency.
pub fn record(provider: &'static str, outcome: RequestOutcome, elapsed: Duration) {
    metrics::counter!(m::PROVIDER_REQUESTS, "provider" => provider, "outcome" => outcome.as_str())
        .increment(1);
    metrics::histogram!(m::PROVIDER_DURATION, "provider" => provider).record(elapsed.as_secs_f64());
}

/// Registers `provider`'s series at 0 (every outcome, and its latency histogram), so they
/// exist before its first request: an absent series breaks `rate()` and alerts.
pub fn register(provider: &'static str) {
    for outcome in RequestOutcome::ALL {
        let _ = metrics::counter!(m::PROVIDER_REQUESTS, "provider" => provider, "outcome" => outcome.as_str());
    }
    let _ = metrics::histogram!(m::PROVIDER_DURATION, "provider" => provider);
}

/// A local provider whose every call is recorded as one request.
pub struct Measured {
    inner: Arc<dyn MarketDataProvider>,
}

impl Measured {
    /// Wraps `inner`; never wrap an HTTP client (its requests are recorded as they are sent).
    pub fn new(inner: Arc<dyn MarketDataProvider>) -> Self {
        Self { inner }
    }

    async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let started = Instant::now();
        let answer = call.await;
        record(
            self.inner.name(),
            RequestOutcome::of(&answer),
            started.elapsed(),
        );
        answer
    }
}

#[async_trait::async_trait]
impl MarketDataProvider for Measured {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn serves(&self, kind: DataKind) -> bool {
        self.inner.serves(kind)
    }

    async fn daily_history(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError> {
        self.timed(self.inner.daily_history(symbol, start, end))
            .await
    }

    async fn company_profile(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<CompanyProfile, ProviderError> {
        self.timed(self.inner.company_profile(symbol, as_of)).await
    }

    async fn fundamentals(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Fundamentals, ProviderError> {
        self.timed(self.inner.fundamentals(symbol, as_of)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_providers_errors_map_to_the_label_vocabulary() {
        let err = |e: ProviderError| RequestOutcome::of::<()>(&Err(e));
        assert_eq!(RequestOutcome::of(&Ok(())), RequestOutcome::Ok);
        let missing = ProviderError::NotFound {
            symbol: "X".into(),
            reason: "no file".into(),
        };
        assert_eq!(err(missing), RequestOutcome::NotFound);
        assert_eq!(
            err(ProviderError::transient("busy")),
            RequestOutcome::Transient
        );
        assert_eq!(
            err(ProviderError::Invalid("bad row".into())),
            RequestOutcome::Error
        );
        let labels: Vec<&str> = RequestOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            labels,
            [
                "ok",
                "not_found",
                "rate_limited",
                "refused",
                "transient",
                "error"
            ]
        );
    }
}
