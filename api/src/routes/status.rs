//! `GET /api/v1/onboarding/status/{portfolio_id}`: the status document of DESIGN §3.

use crate::error::ApiError;
use crate::extract::AppPath;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sigmasight_shared::db::portfolios;
use sigmasight_shared::status::{self, OnboardingStatus};
use uuid::Uuid;

/// Status routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/onboarding/status/{portfolio_id}", get(get_status))
}

/// Resolves a portfolio the caller may read: the owner, or an admin. Others get 404.
pub async fn readable_portfolio(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> Result<portfolios::Portfolio, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("portfolio"))?;
    let found = if user.is_admin {
        portfolios::find(&state.db, id).await?
    } else {
        portfolios::find_owned(&state.db, id, user.id).await?
    };
    found.ok_or(ApiError::NotFound("portfolio"))
}

async fn get_status(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<OnboardingStatus>, ApiError> {
    let portfolio = readable_portfolio(&state, &user, &id).await?;
    Ok(Json(status::load(&state.db, portfolio.id).await?))
}
