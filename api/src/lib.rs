//! The SigmaSight HTTP API: validates, writes, enqueues and reads. It never computes
//! analytics: the worker does.

pub mod error;
pub mod events;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod state;
pub mod status_cache;

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
    /// HS256 secret that verifies bearer tokens (dev, tests, `sigmasight-api token`). Optional
    /// when `SIGMASIGHT_JWKS_URL` is set; at least one of the two is required.
    #[arg(long, env = "SIGMASIGHT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    #[command(flatten)]
    pub auth: sigmasight_shared::auth::AuthConfig,
    /// Attempts a run gets (first run + retries and takeovers).
    #[arg(long, env = "SIGMASIGHT_MAX_ATTEMPTS", default_value_t = sigmasight_shared::queue::MAX_ATTEMPTS_DEFAULT)]
    pub max_attempts: i32,
    #[command(flatten)]
    pub clock: sigmasight_shared::config::ClockConfig,
    #[command(flatten)]
    pub limits: limits::LimitsConfig,
    /// Limits of an upload: positions, errors reported, echoed characters, numeric bounds.
    #[command(flatten)]
    pub upload_limits: sigmasight_shared::onboarding::UploadLimits,
}

/// Builds the router over a state (tests call this with `oneshot`): every route, the 404 and
/// 405 answers in the error envelope, the body read deadline, the security headers, the metrics, the request trace and the request id.
pub fn app(state: AppState) -> Router {
    let limits = &state.limits.config;
    let (router, document) = routes::router(limits.request_timeout).split_for_parts();
    metrics::register_known(&document);
    router
        .merge(openapi::docs(document))
        // After every route: the 405 fallback is set on the routes registered so far.
        .method_not_allowed_fallback(error::no_method)
        .fallback(error::no_route)
        .layer(axum::middleware::from_fn_with_state(
            limits.body_timeout,
            server::body_deadline,
        ))
        .layer(axum::middleware::from_fn(limits::refuse_control_characters))
        .layer(axum::middleware::from_fn(limits::security_headers))
        .layer(axum::middleware::from_fn(metrics::track_http))
        .layer(
            // One info line per answered request (status, latency), in the request's span.
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_id::span)
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// The OpenAPI document of every route (what `GET /api/openapi.json` serves).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, document) = routes::router(std::time::Duration::from_secs(1)).split_for_parts();
    openapi::document(document)
}

/// A bound, ready-to-serve API.
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: limits::LimitsConfig,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Connects, migrates and binds.
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let pool = sigmasight_shared::db::connect_and_migrate(
            &config.database,
            sigmasight_shared::db::Session::Api,
        )
        .await?;
        Self::with_pool(config, pool).await
    }

    /// Binds over an existing (migrated) pool.
    pub async fn with_pool(config: ApiConfig, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let limits = config.limits.clone();
        let state = AppState::new(pool, config)?;
        let closing = state.closing.clone();
        sigmasight_shared::telemetry::spawn_metrics_upkeep(state.metrics.clone());
        let router = app(state);
        Ok(Self {
            listener,
            router,
            limits,
            closing,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests (event streams end).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "api listening");
        server::serve(
            self.listener,
            self.router,
            self.limits,
            self.closing,
            shutdown,
        )
        .await?;
        Ok(())
    }
}

pub use sigmasight_shared::shutdown::shutdown_signal;
