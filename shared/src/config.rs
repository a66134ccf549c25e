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

/// Market-data settings.
#[derive(Debug, Clone, Args)]
pub struct MarketConfig {
    /// Market-data provider: `synthetic` (offline, deterministic; the default).
    #[arg(
        long = "market-provider",
        env = "SIGMASIGHT_MARKET_PROVIDER",
        default_value = "synthetic"
    )]
    pub provider: String,
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
    /// Delay added to every provider request, in milliseconds (simulates a remote provider).
    #[arg(
        long = "synthetic-latency-ms",
        env = "SIGMASIGHT_SYNTHETIC_LATENCY_MS",
        default_value_t = 0
    )]
    pub synthetic_latency_ms: u64,
    /// Test-only fault injection: `SYMBOL:error`, `SYMBOL:panic` or `SYMBOL:hang` makes every
    /// request for SYMBOL fail transiently, panic, or never answer. Comma-separated.
    #[arg(
        long = "synthetic-fail",
        env = "SIGMASIGHT_SYNTHETIC_FAIL",
        default_value = ""
    )]
    pub synthetic_fail: String,
}

impl MarketConfig {
    /// The unavailable list, upper-cased, empty entries dropped.
    pub fn unavailable_symbols(&self) -> Vec<String> {
        self.synthetic_unavailable
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The JWT secret: `Debug` never prints it.
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
