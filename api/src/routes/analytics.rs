//! `GET /api/v1/analytics/portfolio/{id}/snapshots?start=&end=`: the portfolio's daily
//! snapshots (the status page's NAV chart). Owner only; anyone else gets 404.

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sigmasight_shared::db::{portfolios, snapshots};
use uuid::Uuid;

/// Analytics routes.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/analytics/portfolio/{id}/snapshots",
        get(list_snapshots),
    )
}

/// Date range, both ends included; defaults: everything up to the newest snapshot.
#[derive(Debug, Deserialize)]
pub struct Range {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct SnapshotsResponse {
    pub portfolio_id: Uuid,
    /// The newest snapshot date (None before the first one).
    pub calculation_date: Option<NaiveDate>,
    pub snapshots: Vec<snapshots::StoredSnapshot>,
}

async fn list_snapshots(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SnapshotsResponse>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("portfolio"))?;
    let portfolio = portfolios::find_owned(&state.db, id, user.id)
        .await?
        .ok_or(ApiError::NotFound("portfolio"))?;
    let Query(range) = range.map_err(|e| ApiError::Invalid {
        status: StatusCode::BAD_REQUEST,
        code: "ERR_QUERY",
        message: e.body_text(),
        details: serde_json::Value::Null,
    })?;
    let latest = snapshots::latest_date(&state.db, portfolio.id).await?;
    let rows = match latest {
        Some(latest) => {
            let end = range.end.unwrap_or(latest);
            let start = range
                .start
                .or_else(|| NaiveDate::from_ymd_opt(1900, 1, 1))
                .unwrap_or_default();
            snapshots::list(&state.db, portfolio.id, start, end).await?
        }
        None => Vec::new(),
    };
    Ok(Json(SnapshotsResponse {
        portfolio_id: portfolio.id,
        calculation_date: latest,
        snapshots: rows,
    }))
}
