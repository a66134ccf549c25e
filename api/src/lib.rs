//! The SigmaSight HTTP API: validates, writes, enqueues and reads. It never computes
//! analytics: the worker does.

pub mod error;
pub mod events;
pub mod extract;
pub mod routes;
pub mod state;

use anyhow::Context as _;
use axum::Router;
use clap::Args;
use sigmasight_shared::config::{DatabaseConfig, Secret};
use sqlx::PgPool;
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// API configuration, from the environment.
#[derive(Debug, Clone, Args)]
pub struct ApiConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SIGMASIGHT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// HS256 secret that signs and verifies bearer tokens.
    #[arg(long, env = "SIGMASIGHT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Secret,
    /// Attempts a run gets (first run + retries and takeovers).
    #[arg(long, env = "SIGMASIGHT_MAX_ATTEMPTS", default_value_t = sigmasight_shared::queue::MAX_ATTEMPTS_DEFAULT)]
    pub max_attempts: i32,
    #[command(flatten)]
    pub clock: sigmasight_shared::config::ClockConfig,
}

/// Builds the router over a state (tests call this with `oneshot`).
pub fn app(state: AppState) -> Router {
    routes::router()
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// A bound, ready-to-serve API.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Connects, migrates and binds.
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let pool = sigmasight_shared::db::connect_and_migrate(&config.database).await?;
        Self::with_pool(config, pool).await
    }

    /// Binds over an existing (migrated) pool.
    pub async fn with_pool(config: ApiConfig, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let router = app(AppState::new(pool, config));
        Ok(Self { listener, router })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "api listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

pub use sigmasight_shared::shutdown::shutdown_signal;
