//! Builds the configured market-data provider.

use anyhow::bail;
use async_trait::async_trait;
use chrono::NaiveDate;
use sigmasight_shared::config::MarketConfig;
use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
use sigmasight_shared::market_data::{DailyBar, MarketDataProvider, ProviderError};
use std::sync::Arc;
use std::time::Duration;

/// The provider named by `SIGMASIGHT_MARKET_PROVIDER`, slowed by
/// `SIGMASIGHT_SYNTHETIC_LATENCY_MS` per request when set (benchmarks and fault tests).
pub fn build(config: &MarketConfig) -> anyhow::Result<Arc<dyn MarketDataProvider>> {
    let base: Arc<dyn MarketDataProvider> = match config.provider.as_str() {
        "synthetic" => Arc::new(SyntheticMarket::new(SyntheticConfig {
            seed: config.synthetic_seed,
            unavailable: config.unavailable_symbols(),
        })),
        other => bail!("unknown SIGMASIGHT_MARKET_PROVIDER {other:?} (supported: synthetic)"),
    };
    if config.synthetic_latency_ms == 0 {
        return Ok(base);
    }
    Ok(Arc::new(Delayed {
        inner: base,
        delay: Duration::from_millis(config.synthetic_latency_ms),
    }))
}

/// A provider that answers after a fixed delay, like a remote one.
struct Delayed {
    inner: Arc<dyn MarketDataProvider>,
    delay: Duration,
}

#[async_trait]
impl MarketDataProvider for Delayed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn daily_history(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError> {
        tokio::time::sleep(self.delay).await;
        self.inner.daily_history(symbol, start, end).await
    }
}
