//! Shared handler state.

use crate::events::RunEvents;
use crate::limits::Limits;
use crate::metrics::QueueGauges;
use crate::ApiConfig;
use metrics_exporter_prometheus::PrometheusHandle;
use sigmasight_shared::auth::{AuthError, Verifier};
use sqlx::PgPool;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<ApiConfig>,
    /// Run changes from the one shared Postgres listener (SSE).
    pub events: RunEvents,
    /// Per-user rates and stream caps.
    pub limits: Limits,
    /// Set when the server stops: event streams end.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// Bearer token verification (HS256 secret and/or JWKS keys).
    pub verifier: Verifier,
    /// The process's Prometheus recorder (`GET /metrics` renders it).
    pub metrics: PrometheusHandle,
    /// The queue gauges' last reading time (read at most every 5 s).
    pub queue_gauges: Arc<QueueGauges>,
}

impl AppState {
    /// The state over a pool (the run-change listener starts with the first event stream).
    /// Fails when the sign-in settings are inconsistent (the error names the variable).
    pub fn new(db: PgPool, config: ApiConfig) -> Result<Self, AuthError> {
        let verifier = Verifier::new(&config.auth, config.jwt_secret.as_ref().map(|s| s.expose()))?;
        let events = RunEvents::new(db.clone());
        let limits = Limits::new(config.limits.clone());
        Ok(Self {
            db,
            config: Arc::new(config),
            events,
            limits,
            closing: tokio::sync::watch::Sender::new(false),
            verifier,
            metrics: sigmasight_shared::telemetry::metrics_handle(),
            queue_gauges: Arc::new(QueueGauges::default()),
        })
    }
}
