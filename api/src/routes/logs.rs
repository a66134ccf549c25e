//! `GET /api/v1/onboarding/status/{portfolio_id}/logs?format=txt|json&include_debug=false`:
//! the full log of the portfolio's latest run, every attempt, as a download (seed 000 §5).
//! Auth as status, plus `?access_token=` for plain download links.

use crate::error::ApiError;
use crate::extract::AppQuery;
use crate::extract::{QueryReadablePortfolio, ReadablePortfolio};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sigmasight_shared::status::log;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Log routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download_log))
}

/// Query parameters of the download.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// `txt` (default) or `json`.
    #[serde(default)]
    #[param(pattern = "^(txt|json)$")]
    pub format: Option<String>,
    /// Debug entries too (default false).
    #[serde(default)]
    pub include_debug: Option<bool>,
}

/// The full log of the portfolio's latest run, every attempt, as a download.
#[utoipa::path(
    get,
    path = "/api/v1/onboarding/status/{portfolio_id}/logs",
    tag = "onboarding",
    params(("portfolio_id" = uuid::Uuid, Path, description = "The portfolio"), LogQuery),
    security(("bearer" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The log (`Content-Disposition: attachment`)",
            content(
                (String = "text/plain; charset=utf-8"),
                (log::SetupLog = "application/json")
            )),
        (status = 404, description = "No such portfolio, not the caller's, or no run yet (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn download_log(
    State(state): State<AppState>,
    QueryReadablePortfolio(ReadablePortfolio { portfolio, .. }): QueryReadablePortfolio,
    AppQuery(query): AppQuery<LogQuery>,
) -> Result<Response, ApiError> {
    let format = query.format.as_deref().unwrap_or("txt");
    if !matches!(format, "txt" | "json") {
        return Err(ApiError::query("format", "format must be txt or json"));
    }
    let doc = log::load(
        &state.db,
        portfolio.id,
        &portfolio.name,
        query.include_debug.unwrap_or(false),
    )
    .await?
    .ok_or(ApiError::NotFound("run"))?;
    let (body, content_type) = if format == "json" {
        let body = serde_json::to_string_pretty(&doc)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
        (body, "application/json")
    } else {
        (log::render_txt(&doc), "text/plain; charset=utf-8")
    };
    let disposition = format!(
        "attachment; filename=\"{}\"",
        log::file_name(portfolio.id, doc.generated_at, format)
    );
    let disposition = HeaderValue::from_str(&disposition)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}
