//! `POST /api/v1/onboarding/{portfolio_id}/retry`: a new attempt of the portfolio's latest run
//! (DESIGN §3: earlier attempts' phases and activity stay and appear in the log).

use crate::error::ApiError;
use crate::extract::ReadablePortfolio;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use sigmasight_shared::queue::lifecycle::{self, Retried};
use uuid::Uuid;

/// Retry routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/onboarding/{portfolio_id}/retry", post(retry_setup))
}

/// 202 body of a retry.
#[derive(Debug, Serialize)]
pub struct RetryResponse {
    pub portfolio_id: Uuid,
    pub run_id: Uuid,
    /// The attempt the worker will run next (the previous one + 1).
    pub attempt: i32,
    pub status: sigmasight_shared::domain::RunStatus,
    pub status_url: String,
}

fn run_active(run_id: Uuid) -> ApiError {
    ApiError::Conflict {
        code: "ERR_RUN_ACTIVE",
        message: "A run is already queued or running for this portfolio".into(),
        details: serde_json::json!({ "run_id": run_id }),
    }
}

async fn retry_setup(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<(StatusCode, Json<RetryResponse>), ApiError> {
    let reopened = match lifecycle::retry(&state.db, portfolio.id).await? {
        Retried::Reopened(run) => run,
        Retried::Active(run_id) => return Err(run_active(run_id)),
        Retried::NoRun => return Err(ApiError::NotFound("run")),
    };
    let next_attempt = reopened.attempt + 1;
    Ok((
        StatusCode::ACCEPTED,
        Json(RetryResponse {
            portfolio_id: portfolio.id,
            run_id: reopened.id,
            attempt: next_attempt,
            status: sigmasight_shared::domain::RunStatus::Queued,
            status_url: format!("/api/v1/onboarding/status/{}", portfolio.id),
        }),
    ))
}
