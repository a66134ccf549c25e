//! Shared handler state.

use crate::events::RunEvents;
use crate::ApiConfig;
use sqlx::PgPool;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<ApiConfig>,
    /// Run changes from the one shared Postgres listener (SSE).
    pub events: RunEvents,
}

impl AppState {
    /// The state over a pool (the run-change listener starts with the first event stream).
    pub fn new(db: PgPool, config: ApiConfig) -> Self {
        let events = RunEvents::new(db.clone());
        Self {
            db,
            config: Arc::new(config),
            events,
        }
    }
}
