//! One module per resource, each with its own `router()`.

pub mod admin;
pub mod analytics;
mod analytics_doc;
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
use utoipa_axum::router::OpenApiRouter;

/// Every route of the API with its OpenAPI description (each module registers its routes
/// through `utoipa_axum::routes!` only, so none is left out of the document); all but the
/// event stream answer within `request_timeout`.
pub fn router(request_timeout: std::time::Duration) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(admin::router())
        .merge(health::router())
        .merge(market_data::router())
        .merge(onboarding::router())
        .merge(portfolios::router())
        .merge(status::router())
        .merge(logs::router())
        .merge(retry::router())
        .merge(analytics::router())
        .merge(page::router())
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            crate::limits::request_timeout,
        ))
        .merge(events::router())
}
