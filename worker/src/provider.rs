//! Builds the configured market-data provider, with the optional latency and fault
//! injection used by benchmarks and fault tests.

use anyhow::bail;
use async_trait::async_trait;
use chrono::NaiveDate;
use sigmasight_shared::config::MarketConfig;
use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
use sigmasight_shared::market_data::{
    CompanyProfile, DailyBar, Fundamentals, MarketDataProvider, ProviderError,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// An injected fault for one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with a transient error (the attempt fails and is retried).
    Error,
    /// Panic inside the phase.
    Panic,
    /// Never answer (a hung phase).
    Hang,
}

/// Parses `SIGMASIGHT_SYNTHETIC_FAIL` (`AAPL:error,MSFT:panic`).
pub fn parse_faults(spec: &str) -> anyhow::Result<HashMap<String, Fault>> {
    let mut faults = HashMap::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((symbol, mode)) = item.split_once(':') else {
            bail!("SIGMASIGHT_SYNTHETIC_FAIL item {item:?} is not SYMBOL:MODE")
        };
        let fault = match mode {
            "error" => Fault::Error,
            "panic" => Fault::Panic,
            "hang" => Fault::Hang,
            other => bail!("SIGMASIGHT_SYNTHETIC_FAIL mode {other:?} is not error, panic or hang"),
        };
        faults.insert(symbol.trim().to_ascii_uppercase(), fault);
    }
    Ok(faults)
}

/// The provider named by `SIGMASIGHT_MARKET_PROVIDER`.
pub fn build(config: &MarketConfig) -> anyhow::Result<Arc<dyn MarketDataProvider>> {
    let base: Arc<dyn MarketDataProvider> = match config.provider.as_str() {
        "synthetic" => Arc::new(SyntheticMarket::new(SyntheticConfig {
            seed: config.synthetic_seed,
            unavailable: config.unavailable_symbols(),
        })),
        other => bail!("unknown SIGMASIGHT_MARKET_PROVIDER {other:?} (supported: synthetic)"),
    };
    let faults = parse_faults(&config.synthetic_fail)?;
    if config.synthetic_latency_ms == 0 && faults.is_empty() {
        return Ok(base);
    }
    Ok(Arc::new(Instrumented {
        inner: base,
        delay: Duration::from_millis(config.synthetic_latency_ms),
        faults,
    }))
}

/// A provider that answers after a fixed delay, like a remote one, and fails on request.
struct Instrumented {
    inner: Arc<dyn MarketDataProvider>,
    delay: Duration,
    faults: HashMap<String, Fault>,
}

#[async_trait]
impl MarketDataProvider for Instrumented {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn daily_history(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match self.faults.get(&symbol.to_ascii_uppercase()) {
            Some(Fault::Error) => Err(ProviderError::Transient(format!(
                "injected failure for {symbol}"
            ))),
            Some(Fault::Panic) => panic!("injected panic for {symbol}"),
            Some(Fault::Hang) => std::future::pending().await,
            None => self.inner.daily_history(symbol, start, end).await,
        }
    }

    async fn company_profile(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<CompanyProfile, ProviderError> {
        self.inner.company_profile(symbol, as_of).await
    }

    async fn fundamentals(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Fundamentals, ProviderError> {
        self.inner.fundamentals(symbol, as_of).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_bad_ones_are_refused() {
        let f = parse_faults("aapl:error, MSFT:panic,X:hang").unwrap_or_default();
        assert_eq!(f.get("AAPL"), Some(&Fault::Error));
        assert_eq!(f.get("MSFT"), Some(&Fault::Panic));
        assert_eq!(f.get("X"), Some(&Fault::Hang));
        assert!(parse_faults("AAPL").is_err());
        assert!(parse_faults("AAPL:explode").is_err());
        assert!(parse_faults("").unwrap_or_default().is_empty());
    }
}
