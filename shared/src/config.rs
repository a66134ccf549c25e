//! Configuration groups shared by both binaries, read from the environment (clap derive, so
//! `--help` lists every knob).

use clap::Args;
use std::fmt;
use std::time::Duration;

/// Database connection settings.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Postgres URL, e.g. postgres://postgres@127.0.0.1:5432/sigmasight
    #[arg(long = "database-url", env = "DATABASE_URL")]
    pub url: String,
    /// Maximum connections in the pool.
    #[arg(
        long = "db-max-connections",
        env = "SIGMASIGHT_DB_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub max_connections: u32,
}

/// The business clock (see [`crate::clock`]).
#[derive(Debug, Clone, Args)]
pub struct ClockConfig {
    /// Pin the business date (YYYY-MM-DD: that day, after its close) for reproducible tests
    /// and reruns; unset = the real date in New York.
    #[arg(long = "as-of", env = crate::clock::AS_OF_ENV, value_parser = parse_as_of_arg)]
    pub as_of: Option<chrono::NaiveDate>,
}

fn parse_as_of_arg(s: &str) -> Result<chrono::NaiveDate, String> {
    crate::clock::parse_as_of(s)?.ok_or_else(|| "empty date".to_owned())
}

/// Market-data settings.
#[derive(Debug, Clone, Args)]
pub struct MarketConfig {
    /// Market-data provider: `synthetic` (offline, deterministic; the default), one of
    /// `fmp`, `polygon`, `yahoo`, `file`, or a comma-separated chain tried in that order per
    /// symbol, e.g. `fmp,polygon,yahoo`.
    #[arg(
        long = "market-provider",
        env = "SIGMASIGHT_MARKET_PROVIDER",
        default_value = "synthetic"
    )]
    pub provider: String,
    /// Financial Modeling Prep API key (required when the chain names `fmp`).
    #[arg(long = "fmp-api-key", env = "FMP_API_KEY", hide_env_values = true)]
    pub fmp_api_key: Option<Secret>,
    /// Polygon (Massive) API key (required when the chain names `polygon`).
    #[arg(
        long = "polygon-api-key",
        env = "POLYGON_API_KEY",
        hide_env_values = true
    )]
    pub polygon_api_key: Option<Secret>,
    /// FMP base URL (its `/stable` API).
    #[arg(
        long = "fmp-base-url",
        env = "SIGMASIGHT_FMP_BASE_URL",
        default_value = "https://financialmodelingprep.com/stable"
    )]
    pub fmp_base_url: String,
    /// Polygon base URL.
    #[arg(
        long = "polygon-base-url",
        env = "SIGMASIGHT_POLYGON_BASE_URL",
        default_value = "https://api.polygon.io"
    )]
    pub polygon_base_url: String,
    /// Yahoo chart API base URL.
    #[arg(
        long = "yahoo-base-url",
        env = "SIGMASIGHT_YAHOO_BASE_URL",
        default_value = "https://query1.finance.yahoo.com"
    )]
    pub yahoo_base_url: String,
    /// Directory of the `file` provider: `<SYMBOL>.csv` (`date,close` [,open,high,low,volume])
    /// and an optional `profiles.csv`.
    #[arg(long = "prices-dir", env = "SIGMASIGHT_PRICES_DIR")]
    pub prices_dir: Option<std::path::PathBuf>,
    /// Timeout of one provider request (connect to last byte).
    #[arg(long = "provider-timeout", env = "SIGMASIGHT_PROVIDER_TIMEOUT_SECS", default_value = "20", value_parser = parse_secs)]
    pub provider_timeout: Duration,
    /// Retries of a transient provider failure (timeout, 5xx, 429, malformed body).
    #[arg(
        long = "provider-retries",
        env = "SIGMASIGHT_PROVIDER_RETRIES",
        default_value_t = 3
    )]
    pub provider_retries: usize,
    /// First retry delay in milliseconds (doubles per retry, with jitter; `Retry-After` wins).
    #[arg(
        long = "provider-backoff-ms",
        env = "SIGMASIGHT_PROVIDER_BACKOFF_MS",
        default_value_t = 500
    )]
    pub provider_backoff_ms: u64,
    /// Transient failures in a row that make a provider skipped for the rest of a run.
    #[arg(
        long = "provider-breaker-failures",
        env = "SIGMASIGHT_PROVIDER_BREAKER_FAILURES",
        default_value_t = 10
    )]
    pub provider_breaker_failures: u32,
    /// FMP requests in any rolling minute, for the whole deployment (0 = unlimited).
    #[arg(
        long = "fmp-rate-per-min",
        env = "SIGMASIGHT_FMP_RATE_PER_MIN",
        default_value_t = 300
    )]
    pub fmp_rate_per_min: u32,
    /// Polygon requests in any rolling minute, for the whole deployment (5: the free plan;
    /// 0 = unlimited).
    #[arg(
        long = "polygon-rate-per-min",
        env = "SIGMASIGHT_POLYGON_RATE_PER_MIN",
        default_value_t = 5
    )]
    pub polygon_rate_per_min: u32,
    /// Yahoo requests in any rolling minute, for the whole deployment (0 = unlimited).
    #[arg(
        long = "yahoo-rate-per-min",
        env = "SIGMASIGHT_YAHOO_RATE_PER_MIN",
        default_value_t = 60
    )]
    pub yahoo_rate_per_min: u32,
    /// FMP requests per UTC day, for the whole deployment (0 = no quota; the free plan: 250).
    #[arg(
        long = "fmp-requests-per-day",
        env = "SIGMASIGHT_FMP_REQUESTS_PER_DAY",
        default_value_t = 0
    )]
    pub fmp_requests_per_day: u32,
    /// Polygon requests per UTC day, for the whole deployment (0 = no quota).
    #[arg(
        long = "polygon-requests-per-day",
        env = "SIGMASIGHT_POLYGON_REQUESTS_PER_DAY",
        default_value_t = 0
    )]
    pub polygon_requests_per_day: u32,
    /// Yahoo requests per UTC day, for the whole deployment (0 = no quota).
    #[arg(
        long = "yahoo-requests-per-day",
        env = "SIGMASIGHT_YAHOO_REQUESTS_PER_DAY",
        default_value_t = 0
    )]
    pub yahoo_requests_per_day: u32,
    /// Hours a symbol no provider has stays remembered as unavailable (not asked again).
    #[arg(
        long = "unavailable-ttl-hours",
        env = "SIGMASIGHT_UNAVAILABLE_TTL_HOURS",
        default_value_t = 24.0
    )]
    pub unavailable_ttl_hours: f64,
    /// Seed of the synthetic market.
    #[arg(
        long = "synthetic-seed",
        env = "SIGMASIGHT_SYNTHETIC_SEED",
        default_value_t = 42
    )]
    pub synthetic_seed: u64,
    /// Comma-separated symbols the synthetic market reports as unavailable (delisted).
    #[arg(
        long = "synthetic-unavailable",
        env = "SIGMASIGHT_SYNTHETIC_UNAVAILABLE",
        default_value = "HZNP,SGEN"
    )]
    pub synthetic_unavailable: String,
    /// Delay added to every synthetic request, in milliseconds (simulates a remote provider).
    #[arg(
        long = "synthetic-latency-ms",
        env = "SIGMASIGHT_SYNTHETIC_LATENCY_MS",
        default_value_t = 0
    )]
    pub synthetic_latency_ms: u64,
    /// Test-only fault injection: `SYMBOL:error`, `SYMBOL:panic` or `SYMBOL:hang` makes every
    /// synthetic request for SYMBOL fail transiently, panic, or never answer. Comma-separated.
    #[arg(
        long = "synthetic-fail",
        env = "SIGMASIGHT_SYNTHETIC_FAIL",
        default_value = ""
    )]
    pub synthetic_fail: String,
}

impl MarketConfig {
    /// The chain's provider names, in order, trimmed and lower-cased.
    pub fn chain(&self) -> Vec<String> {
        self.provider
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// How long an unavailable verdict is trusted.
    pub fn unavailable_ttl(&self) -> Duration {
        Duration::from_secs_f64((self.unavailable_ttl_hours * 3600.0).clamp(0.0, 1e9))
    }

    /// The unavailable list, upper-cased, empty entries dropped.
    pub fn unavailable_symbols(&self) -> Vec<String> {
        self.synthetic_unavailable
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A secret (JWT secret, API key): `Debug` never prints it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for signing and verifying.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Parses a number of seconds into a `Duration` (for `*_SECS` variables).
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|e| format!("not a number of seconds: {e}"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err("must be a positive number of seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}
