//! Builds the configured market-data chain (`SIGMASIGHT_MARKET_PROVIDER`), with the optional
//! latency and fault injection of the synthetic market used by benchmarks and fault tests.

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use chrono::NaiveDate;
use sigmasight_shared::config::{MarketConfig, Secret};
use sigmasight_shared::market_data::budget::Budget;
use sigmasight_shared::market_data::chain::{Member, ProviderChain, RetryPolicy};
use sigmasight_shared::market_data::file::FileProvider;
use sigmasight_shared::market_data::fmp::FmpProvider;
use sigmasight_shared::market_data::measure::Measured;
use sigmasight_shared::market_data::polygon::PolygonProvider;
use sigmasight_shared::market_data::synthetic::{SyntheticConfig, SyntheticMarket};
use sigmasight_shared::market_data::yahoo::YahooProvider;
use sigmasight_shared::market_data::{
    CompanyProfile, DailyBar, DataKind, Fundamentals, MarketDataProvider, ProviderError,
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

/// The names `SIGMASIGHT_MARKET_PROVIDER` may list.
pub const PROVIDERS: [&str; 5] = ["synthetic", "fmp", "polygon", "yahoo", "file"];

/// The chain named by `SIGMASIGHT_MARKET_PROVIDER`, its remote members' budgets held in
/// `budget` (the deployment's; `None`: this process's). A chain naming a provider without its
/// key (or the file provider without its directory) is refused, naming the variable.
pub fn build_with(
    config: &MarketConfig,
    budget: Option<Arc<dyn Budget>>,
) -> anyhow::Result<Arc<ProviderChain>> {
    let chain = chain(config)?;
    Ok(Arc::new(match budget {
        Some(b) => chain.with_budget(b),
        None => chain,
    }))
}

/// [`build_with`] this process's budget (tests, tools without a database).
pub fn build(config: &MarketConfig) -> anyhow::Result<Arc<ProviderChain>> {
    build_with(config, None)
}

fn chain(config: &MarketConfig) -> anyhow::Result<ProviderChain> {
    let names = config.chain();
    if names.is_empty() {
        bail!(
            "SIGMASIGHT_MARKET_PROVIDER is empty (supported: {})",
            PROVIDERS.join(", ")
        );
    }
    let client = reqwest::Client::builder()
        .timeout(config.provider_timeout)
        .connect_timeout(config.provider_timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sigmasight/", env!("CARGO_PKG_VERSION")))
        // FMP's key travels in the query string: never follow it to another host.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let mut members = Vec::new();
    for name in &names {
        if names.iter().filter(|n| *n == name).count() > 1 {
            bail!("SIGMASIGHT_MARKET_PROVIDER names {name} twice");
        }
        members.push(member(name, config, &client)?);
    }
    Ok(ProviderChain::new(
        members,
        RetryPolicy {
            retries: config.provider_retries,
            base: Duration::from_millis(config.provider_backoff_ms.max(1)),
            cap: Duration::from_secs(30),
            breaker_failures: config.provider_breaker_failures.max(1),
        },
    ))
}

fn member(name: &str, config: &MarketConfig, client: &reqwest::Client) -> anyhow::Result<Member> {
    let key = |secret: &Option<Secret>, var: &str| -> anyhow::Result<String> {
        match secret {
            Some(s) if !s.expose().trim().is_empty() => Ok(s.expose().trim().to_owned()),
            _ => bail!("SIGMASIGHT_MARKET_PROVIDER names {name} but {var} is not set"),
        }
    };
    let rate = |n: u32| (n > 0).then_some(n);
    Ok(match name {
        // The local providers' calls are counted here, the HTTP clients' requests as they
        // are sent (`http::fetch`).
        "synthetic" => Member::new(Arc::new(Measured::new(synthetic(config)?)), None),
        "fmp" => Member::new(
            Arc::new(FmpProvider::new(
                client.clone(),
                &config.fmp_base_url,
                key(&config.fmp_api_key, "FMP_API_KEY")?,
            )?),
            rate(config.fmp_rate_per_min),
        )
        .per_day(config.fmp_requests_per_day),
        "polygon" => Member::new(
            Arc::new(PolygonProvider::new(
                client.clone(),
                &config.polygon_base_url,
                key(&config.polygon_api_key, "POLYGON_API_KEY")?,
            )?),
            rate(config.polygon_rate_per_min),
        )
        .per_day(config.polygon_requests_per_day),
        "yahoo" => Member::new(
            Arc::new(YahooProvider::new(client.clone(), &config.yahoo_base_url)?),
            rate(config.yahoo_rate_per_min),
        )
        .per_day(config.yahoo_requests_per_day),
        "file" => {
            let Some(dir) = &config.prices_dir else {
                bail!("SIGMASIGHT_MARKET_PROVIDER names file but SIGMASIGHT_PRICES_DIR is not set")
            };
            if !dir.is_dir() {
                bail!("SIGMASIGHT_PRICES_DIR {} is not a directory", dir.display());
            }
            let file: Arc<dyn MarketDataProvider> = Arc::new(FileProvider::new(dir.clone()));
            Member::new(Arc::new(Measured::new(file)), None)
        }
        other => bail!(
            "unknown provider {:?} in SIGMASIGHT_MARKET_PROVIDER (supported: {})",
            other.chars().take(40).collect::<String>(),
            PROVIDERS.join(", ")
        ),
    })
}

/// The synthetic market, with the optional latency and faults of benchmarks and fault tests.
fn synthetic(config: &MarketConfig) -> anyhow::Result<Arc<dyn MarketDataProvider>> {
    let base: Arc<dyn MarketDataProvider> = Arc::new(SyntheticMarket::new(SyntheticConfig {
        seed: config.synthetic_seed,
        unavailable: config.unavailable_symbols(),
    }));
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

/// One line of `sigmasight-worker providers check`.
#[derive(Debug, Clone)]
pub struct CheckLine {
    pub provider: &'static str,
    pub symbol: String,
    /// The answer: bars with first and last date, or why it failed.
    pub outcome: Result<String, String>,
    pub latency: Duration,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (verdict, text) = match &self.outcome {
            Ok(t) => ("ok", t.as_str()),
            Err(t) => ("FAILED", t.as_str()),
        };
        write!(
            f,
            "{:<10} {:<8} {:<6} {} ({} ms)",
            self.provider,
            self.symbol,
            verdict,
            text,
            self.latency.as_millis()
        )
    }
}

/// The operator's check: asks every provider of the chain ONCE per symbol for its last ten
/// days of bars (no retries, no fallback) and says what each answered.
pub async fn check(config: &MarketConfig, symbols: &[String]) -> anyhow::Result<Vec<CheckLine>> {
    let chain = build(config)?;
    let end = sigmasight_shared::clock::last_trading_day();
    let start = end - chrono::Duration::days(14);
    let mut lines = Vec::new();
    for member in chain.members() {
        for symbol in symbols {
            let started = std::time::Instant::now();
            let answer = member.provider().daily_history(symbol, start, end).await;
            let outcome = match answer {
                Ok(bars) => match (bars.first(), bars.last()) {
                    (Some(a), Some(b)) => Ok(format!(
                        "{} bars, {} to {}, last close {}",
                        bars.len(),
                        a.date,
                        b.date,
                        b.close
                    )),
                    _ => Ok("0 bars".to_owned()),
                },
                Err(ProviderError::NotFound { reason, .. }) => {
                    Err(format!("does not have {symbol}: {reason}"))
                }
                Err(ProviderError::Transient { reason, .. }) => {
                    Err(format!("transient failure: {reason}"))
                }
                Err(ProviderError::Refused(reason)) => Err(format!("provider refused: {reason}")),
                Err(ProviderError::Exhausted { reason, .. }) => {
                    Err(format!("quota spent: {reason}"))
                }
                Err(ProviderError::Failing(reason)) => Err(format!("provider failing: {reason}")),
                Err(ProviderError::Invalid(reason)) => Err(format!("unusable data: {reason}")),
            };
            lines.push(CheckLine {
                provider: member.name(),
                symbol: symbol.clone(),
                outcome,
                latency: started.elapsed(),
            });
        }
    }
    Ok(lines)
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

    fn serves(&self, kind: DataKind) -> bool {
        self.inner.serves(kind)
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
            Some(Fault::Error) => Err(ProviderError::transient(format!(
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

    async fn grouped_daily(
        &self,
        date: NaiveDate,
        symbols: &[String],
    ) -> Result<Vec<(String, DailyBar)>, ProviderError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.grouped_daily(date, symbols).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> MarketConfig {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            market: MarketConfig,
        }
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        Cli::parse_from(all).market
    }

    fn refusal(args: &[&str]) -> String {
        match build(&config(args)) {
            Ok(_) => panic!("{args:?} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_chain_naming_a_provider_without_its_key_is_refused_naming_the_variable() {
        assert!(refusal(&["--market-provider", "fmp,polygon"]).contains("FMP_API_KEY"));
        assert!(
            refusal(&["--market-provider", "polygon", "--fmp-api-key", "k"])
                .contains("POLYGON_API_KEY")
        );
        assert!(refusal(&["--market-provider", "file"]).contains("SIGMASIGHT_PRICES_DIR"));
        assert!(
            refusal(&["--market-provider", "fmp,bloomberg", "--fmp-api-key", "k"])
                .contains("unknown provider \"bloomberg\"")
        );
        assert!(refusal(&["--market-provider", "yahoo,yahoo"]).contains("twice"));
        assert!(refusal(&["--market-provider", " , "]).contains("empty"));
    }

    #[test]
    fn a_chain_is_built_in_the_order_given() {
        let chain = build(&config(&[
            "--market-provider",
            "FMP, polygon ,yahoo,synthetic",
            "--fmp-api-key",
            "k1",
            "--polygon-api-key",
            "k2",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chain.names(), ["fmp", "polygon", "yahoo", "synthetic"]);
        assert!(chain.serves(DataKind::Fundamentals));
        let only_prices =
            build(&config(&["--market-provider", "yahoo"])).unwrap_or_else(|e| panic!("{e}"));
        assert!(!only_prices.serves(DataKind::Profiles));
    }

    #[tokio::test]
    async fn the_check_asks_every_provider_once_and_says_what_it_answered() {
        let lines = check(
            &config(&["--synthetic-unavailable", "HZNP"]),
            &["SPY".to_owned(), "HZNP".to_owned()],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines.len(), 2);
        let spy = lines[0].to_string();
        assert!(spy.starts_with("synthetic  SPY      ok "), "{spy}");
        assert!(spy.contains("bars,"), "{spy}");
        let hznp = lines[1].to_string();
        assert!(
            hznp.contains("FAILED") && hznp.contains("does not have HZNP"),
            "{hznp}"
        );
    }

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
