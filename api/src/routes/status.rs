//! `GET /api/v1/onboarding/status/{portfolio_id}`: the status document of DESIGN §3.

use crate::error::ApiError;
use crate::extract::PortfolioAccess;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use sigmasight_shared::status::OnboardingStatus;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Status routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_status))
}

/// The status document of the portfolio's current run (the active one, else the latest);
/// `status: not_found` when it has none. The status page polls it every 2 s.
#[utoipa::path(
    get,
    path = "/api/v1/onboarding/status/{portfolio_id}",
    tag = "onboarding",
    params(("portfolio_id" = uuid::Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The status document", body = OnboardingStatus),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn get_status(
    State(state): State<AppState>,
    access: PortfolioAccess,
) -> Result<Json<OnboardingStatus>, ApiError> {
    // From memory when nothing changed since the last poll; else one statement, which also
    // checks the right to read (see status_cache).
    state
        .status
        .load(&state.db, access.portfolio_id, access.owner())
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("portfolio"))
}
