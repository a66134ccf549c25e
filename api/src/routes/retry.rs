//! `POST /api/v1/onboarding/{portfolio_id}/retry`: a new attempt of the portfolio's latest run
//! (DESIGN §3: earlier attempts' phases and activity stay and appear in the log).

use crate::error::ApiError;
use crate::extract::ReadablePortfolio;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use sigmasight_shared::queue::lifecycle::{self, Retried};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Retry routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(retry_setup))
}

/// 202 body of a retry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// A new attempt of the portfolio's latest onboarding or calculate run (never a nightly
/// child); earlier attempts' phases and activity stay in the log.
#[utoipa::path(
    post,
    path = "/api/v1/onboarding/{portfolio_id}/retry",
    tag = "onboarding",
    params(("portfolio_id" = uuid::Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Requeued as the next attempt", body = RetryResponse),
        (status = 404, description = "No such portfolio, not the caller's, or no run to retry (not_found)", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "A run is already queued or running (ERR_RUN_ACTIVE; details.run_id)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn retry_setup(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<(StatusCode, Json<RetryResponse>), ApiError> {
    let reopened = match lifecycle::retry(&state.db, portfolio.id).await? {
        Retried::Reopened(run) => run,
        Retried::Active(run_id) => return Err(run_active(run_id)),
        Retried::NoRun => return Err(ApiError::NotFound("run")),
    };
    // The next poll reads the reopened run, whether or not its notification has arrived.
    state.status.forget(portfolio.id);
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
