//! The worker's settings, from the environment (`--help` lists every one).

use clap::Parser;
use sigmasight_shared::config::{parse_secs, DatabaseConfig, MarketConfig};
use std::time::Duration;

/// Worker configuration, from the environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sigmasight-worker",
    about = "Claims SigmaSight runs and executes their phases",
    after_help = "Also: `sigmasight-worker providers check [SYMBOL...]` asks each provider of SIGMASIGHT_MARKET_PROVIDER once and prints what it answered."
)]
pub struct WorkerConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub market: MarketConfig,
    #[command(flatten)]
    pub clock: sigmasight_shared::config::ClockConfig,
    /// Address of the Prometheus scrape endpoint (`GET /metrics`, and `/healthz`), e.g.
    /// `0.0.0.0:9464`; unset, the worker serves no metrics.
    #[arg(long, env = "SIGMASIGHT_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Lease length; renewed every third of it.
    #[arg(long, env = "SIGMASIGHT_LEASE_TTL_SECS", default_value = "30", value_parser = parse_secs)]
    pub lease_ttl: Duration,
    /// Runs one worker process executes at once.
    #[arg(long, env = "SIGMASIGHT_WORKER_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Of those, the nightly batch's runs (its portfolio children, and its parent) at once;
    /// unset, as many as the worker has cores. A child is CPU work (the worker's and its
    /// Postgres backend's) with nothing to wait for: more of them than cores only queue behind
    /// each other and behind everything else on the machine, while a user's run (which waits
    /// on market-data providers) still finds the other slots free.
    #[arg(long, env = "SIGMASIGHT_WORKER_BATCH_CONCURRENCY")]
    pub batch_concurrency: Option<usize>,
    /// Fallback poll interval when no notification arrives.
    #[arg(long, env = "SIGMASIGHT_POLL_INTERVAL_SECS", default_value = "1", value_parser = parse_secs)]
    pub poll_interval: Duration,
    /// First retry delay after a failed attempt (doubles each attempt).
    #[arg(long, env = "SIGMASIGHT_RETRY_BASE_SECS", default_value = "5", value_parser = parse_secs)]
    pub retry_base: Duration,
    /// Longest retry delay.
    #[arg(long, env = "SIGMASIGHT_RETRY_CAP_SECS", default_value = "300", value_parser = parse_secs)]
    pub retry_cap: Duration,
    /// A phase with no progress for this long fails its attempt (retried like a lost lease).
    #[arg(long, env = "SIGMASIGHT_PHASE_STALL_SECS", default_value = "300", value_parser = parse_secs)]
    pub phase_stall: Duration,
    /// On SIGTERM, how long runs in hand may take to finish before they are handed back.
    #[arg(long, env = "SIGMASIGHT_SHUTDOWN_GRACE_SECS", default_value = "20", value_parser = parse_secs)]
    pub shutdown_grace: Duration,
    /// Days debug activity entries are kept (info, warnings and errors are kept forever);
    /// 0 keeps them forever too.
    #[arg(
        long,
        env = "SIGMASIGHT_DEBUG_ACTIVITY_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub debug_activity_retention_days: u32,
    /// Cron expression (UTC) of the nightly batch.
    #[arg(long, env = "SIGMASIGHT_DAILY_CRON", default_value = "30 23 * * 1-5")]
    pub daily_cron: String,
    /// Run the nightly scheduler in this process (`on` or `off`).
    #[arg(long, env = "SIGMASIGHT_SCHEDULER", default_value = "on", value_parser = ["on", "off"])]
    pub scheduler: String,
    /// Attempts a nightly batch run gets.
    #[arg(long, env = "SIGMASIGHT_MAX_ATTEMPTS", default_value_t = sigmasight_shared::queue::MAX_ATTEMPTS_DEFAULT)]
    pub max_attempts: i32,
    /// Concurrent provider requests in phase 1.
    #[arg(long, env = "SIGMASIGHT_PROVIDER_CONCURRENCY", default_value_t = 8)]
    pub provider_concurrency: usize,
    /// A nightly batch asks each provider with a bulk endpoint (Polygon's grouped daily) for
    /// the new date's bars of the whole universe in one request (`on` or `off`: every symbol
    /// per symbol).
    #[arg(long, env = "SIGMASIGHT_NIGHT_BULK", default_value = "on", value_parser = ["on", "off"])]
    pub night_bulk: String,
    /// Risk-free rate for option pricing (continuous).
    #[arg(long, env = "SIGMASIGHT_RISK_FREE_RATE", default_value_t = 0.04)]
    pub risk_free_rate: f64,
    /// Option volatility when the underlying has fewer than 20 returns.
    #[arg(long, env = "SIGMASIGHT_DEFAULT_OPTION_VOL", default_value_t = 0.30)]
    pub default_option_vol: f64,
    /// Modified duration that converts a rate shock into the rate proxy's return (stress tests).
    #[arg(long, env = "SIGMASIGHT_TLT_DURATION", default_value_t = 16.5)]
    pub tlt_duration: f64,
}

impl WorkerConfig {
    /// The batch slots: [`Self::batch_concurrency`], else the cores this process may use,
    /// between 1 and [`Self::concurrency`].
    pub fn batch_slots(&self) -> usize {
        let all = self.concurrency.max(1);
        self.batch_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .clamp(1, all)
    }

    /// Settings for tests: everything default except the database URL.
    pub fn for_database(url: &str) -> Self {
        Self::parse_from(["sigmasight-worker", "--database-url", url])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(args: &[&str]) -> usize {
        let mut all = vec!["sigmasight-worker", "--database-url", "postgres://x"];
        all.extend_from_slice(args);
        WorkerConfig::parse_from(all).batch_slots()
    }

    #[test]
    fn batch_slots_are_the_cores_unless_set_and_never_more_than_the_slots() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(slots(&[]), cores.min(4));
        assert_eq!(slots(&["--concurrency", "1"]), 1);
        assert_eq!(slots(&["--batch-concurrency", "3"]), 3);
        assert_eq!(slots(&["--batch-concurrency", "9"]), 4);
        assert_eq!(slots(&["--batch-concurrency", "0"]), 1);
    }
}
