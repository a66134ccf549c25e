//! `GET /api/v1/onboarding/status/{portfolio_id}`: the status document of DESIGN §3.

use crate::error::ApiError;
use crate::extract::ReadablePortfolio;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sigmasight_shared::status::{self, OnboardingStatus};

/// Status routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/onboarding/status/{portfolio_id}", get(get_status))
}

async fn get_status(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<Json<OnboardingStatus>, ApiError> {
    Ok(Json(status::load(&state.db, portfolio.id).await?))
}
