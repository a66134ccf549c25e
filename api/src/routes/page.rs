//! `GET /onboarding/progress?portfolioId=…`: the status page (plain HTML/CSS/JS embedded in
//! the binary; no build step). The page reads its token from the URL fragment `#token=…`,
//! keeps it in sessionStorage and calls the JSON API; the HTML itself is public.

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const HTML: &str = include_str!("../../assets/progress.html");
const CSS: &str = include_str!("../../assets/progress.css");
const JS: &str = include_str!("../../assets/progress.js");

/// Page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/onboarding/progress", get(progress_page))
        .route("/onboarding/assets/progress.css", get(progress_css))
        .route("/onboarding/assets/progress.js", get(progress_js))
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

async fn progress_page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", HTML)
}

async fn progress_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS)
}

async fn progress_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", JS)
}
