//! `GET /onboarding/progress?portfolioId=…`: the status page (plain HTML/CSS/JS embedded in
//! the binary; no build step). The page reads its token from the URL fragment `#token=…`,
//! keeps it in sessionStorage and calls the JSON API; the HTML itself is public.

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const HTML: &str = include_str!("../../assets/progress.html");
const CSS: &str = include_str!("../../assets/progress.css");
const JS: &str = include_str!("../../assets/progress.js");

/// Page routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(progress_page))
        .routes(routes!(progress_css))
        .routes(routes!(progress_js))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // The token travels in the fragment; never leak the page URL to other origins.
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
}

/// The status page (public HTML; the token travels in the URL fragment, never to the server
/// in the page request).
#[utoipa::path(
    get,
    path = "/onboarding/progress",
    tag = "operations",
    params(("portfolioId" = uuid::Uuid, Query, description = "The portfolio to follow (read by the page's script)")),
    responses((status = 200, description = "The page", content_type = "text/html; charset=utf-8", body = String))
)]
async fn progress_page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", HTML)
}

/// The status page's style sheet.
#[utoipa::path(
    get,
    path = "/onboarding/assets/progress.css",
    tag = "operations",
    responses((status = 200, description = "CSS", content_type = "text/css; charset=utf-8", body = String))
)]
async fn progress_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS)
}

/// The status page's script.
#[utoipa::path(
    get,
    path = "/onboarding/assets/progress.js",
    tag = "operations",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript; charset=utf-8", body = String))
)]
async fn progress_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", JS)
}
