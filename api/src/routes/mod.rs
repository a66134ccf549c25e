//! One module per resource, each with its own `router()`.

pub mod admin;
pub mod health;
pub mod onboarding;
pub mod portfolios;
pub mod status;

use crate::state::AppState;
use axum::Router;

/// Every route of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(admin::router())
        .merge(health::router())
        .merge(onboarding::router())
        .merge(portfolios::router())
        .merge(status::router())
}
