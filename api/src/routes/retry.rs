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
use sigmasight_shared::db::{self, activity, runs};
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
    let latest = runs::latest_for_portfolio(&state.db, portfolio.id)
        .await?
        .ok_or(ApiError::NotFound("run"))?;
    if !latest.is_terminal() {
        return Err(run_active(latest.id));
    }
    let reopened = match runs::reopen(&state.db, latest.id).await {
        Ok(Some(run)) => run,
        // Someone reopened it a moment ago.
        Ok(None) => return Err(run_active(latest.id)),
        Err(e) if db::is_unique_violation(&e, runs::ONE_ACTIVE_PER_PORTFOLIO) => {
            let active = runs::active_for_portfolio(&state.db, portfolio.id).await?;
            return Err(run_active(active.map_or(latest.id, |r| r.id)));
        }
        Err(e) => return Err(e.into()),
    };
    let next_attempt = reopened.attempt + 1;
    activity::insert_unfenced(
        &state.db,
        reopened.id,
        next_attempt,
        sigmasight_shared::domain::ActivityLevel::Info,
        &format!("Retry requested: attempt {next_attempt} queued"),
    )
    .await?;
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
