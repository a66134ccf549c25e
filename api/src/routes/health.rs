//! Liveness and readiness probes, and the Prometheus scrape.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The Prometheus text exposition of this api process. Unauthenticated, like the probes:
/// it names no user and no portfolio (restrict it at the network, as the manifests do).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Prometheus text exposition (sigmasight_* series; see the README's list)",
        content_type = "text/plain; version=0.0.4; charset=utf-8",
        body = String
    ))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    state.queue_gauges.refresh(&state.db).await;
    ::metrics::gauge!(sigmasight_shared::metrics::SSE_OPEN)
        .set(f64::from(state.limits.open_streams()));
    (
        [(
            header::CONTENT_TYPE,
            sigmasight_shared::telemetry::METRICS_CONTENT_TYPE,
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`ready`", content_type = "text/plain", body = String),
        (status = 503, description = "The database does not answer (database_unavailable)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    match sqlx::query("select 1").execute(&state.db).await {
        Ok(_) => Ok("ready"),
        Err(e) => {
            tracing::debug!(error = %e, "readiness: the database does not answer");
            Err(ApiError::Unavailable {
                code: "database_unavailable",
                message: "database unavailable".into(),
            })
        }
    }
}
