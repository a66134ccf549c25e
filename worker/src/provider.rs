//! Builds the configured market-data provider.

use anyhow::bail;
use sigmasight_shared::config::MarketConfig;
use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
use sigmasight_shared::market_data::MarketDataProvider;
use std::sync::Arc;

/// The provider named by `SIGMASIGHT_MARKET_PROVIDER`.
pub fn build(config: &MarketConfig) -> anyhow::Result<Arc<dyn MarketDataProvider>> {
    match config.provider.as_str() {
        "synthetic" => Ok(Arc::new(SyntheticMarket::new(SyntheticConfig {
            seed: config.synthetic_seed,
            unavailable: config.unavailable_symbols(),
        }))),
        other => bail!("unknown SIGMASIGHT_MARKET_PROVIDER {other:?} (supported: synthetic)"),
    }
}
