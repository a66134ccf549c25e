//! Shared handler state.

use crate::events::RunEvents;
use crate::limits::Limits;
use crate::metrics::QueueGauges;
use crate::status_cache::StatusCache;
use crate::ApiConfig;
use metrics_exporter_prometheus::PrometheusHandle;
use sigmasight_shared::auth::{AuthError, Verifier};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

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
    /// Users' ids by token subject, so a known caller costs no query.
    pub users: Arc<UserIds>,
    /// The status poll's rows, kept until a change notification drops them.
    pub status: StatusCache,
}

/// Users' ids by their token's subject. A user row is created once and never deleted or
/// re-keyed, so a remembered id stays true; the map is bounded (cleared when full) because
/// every valid token may name a new subject.
#[derive(Debug, Default)]
pub struct UserIds(Mutex<HashMap<String, Uuid>>);

impl UserIds {
    /// Subjects remembered at most.
    pub const CAPACITY: usize = 100_000;

    /// The id of a subject seen before.
    pub fn get(&self, sub: &str) -> Option<Uuid> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sub)
            .copied()
    }

    /// Remembers a subject's id.
    pub fn remember(&self, sub: &str, id: Uuid) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(sub.to_owned(), id);
    }

    /// Subjects remembered now.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AppState {
    /// The state over a pool (the run-change listener starts with the first event stream).
    /// Fails when the sign-in settings are inconsistent (the error names the variable).
    pub fn new(db: PgPool, config: ApiConfig) -> Result<Self, AuthError> {
        let verifier = Verifier::new(&config.auth, config.jwt_secret.as_ref().map(|s| s.expose()))?;
        let events = RunEvents::new(db.clone());
        let status = StatusCache::new(db.clone(), events.clone());
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
            users: Arc::new(UserIds::default()),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::UserIds;
    use uuid::Uuid;

    #[test]
    fn user_ids_remember_and_stay_bounded() {
        let ids = UserIds::default();
        let alice = Uuid::new_v4();
        assert_eq!(ids.get("alice"), None);
        ids.remember("alice", alice);
        assert_eq!(ids.get("alice"), Some(alice));
        for i in 1..UserIds::CAPACITY {
            ids.remember(&format!("user-{i}"), Uuid::new_v4());
        }
        assert_eq!(ids.len(), UserIds::CAPACITY);
        // Full: the next subject starts a new map rather than growing it.
        ids.remember("bob", Uuid::new_v4());
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.get("alice"), None);
        assert!(ids.get("bob").is_some());
    }
}
