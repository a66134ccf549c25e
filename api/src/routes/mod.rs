//! One module per resource, each with its own `router()`.

pub mod admin;
pub mod analytics;
pub mod events;
pub mod health;
pub mod logs;
pub mod market_data;
pub mod onboarding;
pub mod page;
pub mod portfolios;
pub mod retry;
pub mod status;

use crate::state::AppState;
use axum::Router;

/// Every route of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(admin::router())
        .merge(health::router())
        .merge(market_data::router())
        .merge(onboarding::router())
        .merge(portfolios::router())
        .merge(status::router())
        .merge(logs::router())
        .merge(events::router())
        .merge(retry::router())
        .merge(analytics::router())
        .merge(page::router())
}
