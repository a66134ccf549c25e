//! The worker: claims runs from the `runs` table, holds their leases and executes their
//! phases, writing progress and activity to the database as it goes. Stateless: run as many
//! processes as you like.

mod activity;
pub mod budget;
mod config;
mod context;
mod lease;
mod metrics;
pub mod phases;
pub mod provider;
mod reaper;
mod runner;
pub mod scheduler;

pub use config::WorkerConfig;

use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;

/// A worker process: pool, provider, identity.
pub struct Worker {
    pool: PgPool,
    config: Arc<WorkerConfig>,
    chain: Arc<sigmasight_shared::market_data::chain::ProviderChain>,
    id: String,
}

impl Worker {
    /// Connects (waiting up to 30 s for Postgres), migrates and builds the provider.
    pub async fn build(config: WorkerConfig) -> anyhow::Result<Self> {
        let pool = sigmasight_shared::db::connect_and_migrate(
            &config.database,
            sigmasight_shared::db::Session::Worker,
        )
        .await?;
        Self::with_pool(config, pool)
    }

    /// Builds a worker over an existing pool (already migrated).
    pub fn with_pool(config: WorkerConfig, pool: PgPool) -> anyhow::Result<Self> {
        let budget: std::sync::Arc<dyn sigmasight_shared::market_data::budget::Budget> =
            std::sync::Arc::new(budget::PgBudget::new(pool.clone()));
        let chain = provider::build_with(&config.market, Some(budget))?;
        Ok(Self {
            pool,
            config: Arc::new(config),
            chain,
            id: sigmasight_shared::queue::worker_id(),
        })
    }

    /// This process's worker id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims and executes runs until `shutdown` resolves, then waits for the runs in hand.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let metrics_server = match self.config.metrics_bind {
            Some(bind) => Some(metrics::serve(bind, &self.chain.names()).await?),
            None => None,
        };
        let scheduler = if self.config.scheduler == "on" {
            let cron = scheduler::parse(&self.config.daily_cron)?;
            let pool = self.pool.clone();
            Some(tokio::spawn(scheduler::run(
                pool,
                cron,
                self.config.max_attempts,
            )))
        } else {
            None
        };
        let gauges = tokio::spawn(budget::export_gauges(self.pool.clone(), self.chain.clone()));
        let result = runner::run(self.pool, self.config, self.chain, self.id, shutdown).await;
        gauges.abort();
        if let Some(s) = scheduler {
            s.abort();
        }
        if let Some(m) = metrics_server {
            m.abort();
        }
        result
    }
}

pub use sigmasight_shared::shutdown::shutdown_signal;
