//! `POST /api/v1/portfolios/{id}/calculate` and `GET …/batch-status/{run_id}`: the original
//! frontend's calls, answered from the runs table.

use crate::error::ApiError;
use crate::extract::AppPath;
use crate::extract::ReadablePortfolio;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sigmasight_shared::db::runs;
use sigmasight_shared::domain::RunStatus;
use sigmasight_shared::queue::lifecycle::{self, Started};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Portfolio run routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(calculate))
        .routes(routes!(batch_status))
}

/// 202 body of calculate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalculateResponse {
    pub portfolio_id: Uuid,
    pub batch_run_id: Uuid,
    pub status: &'static str,
    pub message: String,
    pub poll_url: String,
}

/// Returns the active run, or starts one: the next attempt of a failed run, else a new run.
#[utoipa::path(
    post,
    path = "/api/v1/portfolios/{id}/calculate",
    tag = "portfolios",
    params(("id" = uuid::Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The run that is (now) active", body = CalculateResponse),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn calculate(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<(StatusCode, Json<CalculateResponse>), ApiError> {
    let started =
        lifecycle::start_or_join(&state.db, portfolio.id, state.config.max_attempts).await?;
    // The next poll reads the (new) active run, whether or not its notification has arrived.
    state.status.forget(portfolio.id);
    let message = match &started {
        Started::Joined(_) => "A run is already in progress for this portfolio".to_owned(),
        Started::Reopened(r) => format!("Retrying the failed run as attempt {}", r.attempt + 1),
        Started::New(_) => "Portfolio calculations started".to_owned(),
    };
    let run = started.run();
    Ok((
        StatusCode::ACCEPTED,
        Json(CalculateResponse {
            portfolio_id: portfolio.id,
            batch_run_id: run.id,
            status: "started",
            message,
            poll_url: format!("/api/v1/onboarding/status/{}", portfolio.id),
        }),
    ))
}

/// Body of batch-status (the original frontend's `BatchStatusResponse`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchStatusResponse {
    pub status: &'static str,
    pub batch_run_id: String,
    pub portfolio_id: Uuid,
    /// When the run started (queued: when it was enqueued; unknown run: when the portfolio
    /// was created): always a timestamp, as the frontend's type declares.
    pub started_at: DateTime<Utc>,
    pub triggered_by: String,
    pub elapsed_seconds: f64,
    /// Our own status name (queued, partial …) beside the frontend's four.
    pub run_status: Option<RunStatus>,
}

/// Maps our statuses on the frontend's four: queued → running, partial → completed.
fn frontend_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued | RunStatus::Running => "running",
        RunStatus::Completed | RunStatus::Partial => "completed",
        RunStatus::Failed | RunStatus::Cancelled => "failed",
    }
}

/// One run of the portfolio in the original frontend's four statuses (`idle` for a run id
/// it does not have).
#[utoipa::path(
    get,
    path = "/api/v1/portfolios/{id}/batch-status/{run_id}",
    tag = "portfolios",
    params(
        ("id" = uuid::Uuid, Path, description = "The portfolio"),
        ("run_id" = String, Path, description = "A run of the portfolio (any other value answers `idle`)")
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run's status", body = BatchStatusResponse),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn batch_status(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
    AppPath(ids): AppPath<(String, String)>,
) -> Result<Json<BatchStatusResponse>, ApiError> {
    let run_id = ids.1;
    let run = match Uuid::parse_str(&run_id) {
        Ok(rid) => runs::find(&state.db, rid)
            .await?
            .filter(|r| r.portfolio_id == Some(portfolio.id)),
        Err(_) => None,
    };
    let Some(run) = run else {
        return Ok(Json(BatchStatusResponse {
            status: "idle",
            batch_run_id: run_id,
            portfolio_id: portfolio.id,
            started_at: portfolio.created_at,
            triggered_by: String::new(),
            elapsed_seconds: 0.0,
            run_status: None,
        }));
    };
    let end = run.finished_at.unwrap_or_else(Utc::now);
    let elapsed = run
        .started_at
        .map(|s| (end - s).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(Json(BatchStatusResponse {
        status: frontend_status(run.status),
        batch_run_id: run.id.to_string(),
        portfolio_id: portfolio.id,
        started_at: run.started_at.unwrap_or(run.created_at),
        triggered_by: run.source.to_string(),
        elapsed_seconds: elapsed,
        run_status: Some(run.status),
    }))
}

#[cfg(test)]
mod tests {
    use super::frontend_status;
    use sigmasight_shared::domain::RunStatus;

    #[test]
    fn statuses_map_onto_the_frontend_four() {
        assert_eq!(frontend_status(RunStatus::Queued), "running");
        assert_eq!(frontend_status(RunStatus::Partial), "completed");
        assert_eq!(frontend_status(RunStatus::Cancelled), "failed");
        assert_eq!(frontend_status(RunStatus::Failed), "failed");
    }
}
