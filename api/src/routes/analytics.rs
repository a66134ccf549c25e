//! Analytics read endpoints under `/api/v1/analytics/portfolio/{id}/` (SigmaSight's names):
//! `overview`, `snapshots?start=&end=` (the daily series, the status page's NAV chart),
//! `factor-exposures`, `volatility`, `correlation-matrix`, `stress-test`. Owner only; anyone
//! else gets 404. They answer from stored results only (never compute) and name the
//! `calculation_date` the results are for; `available: false` before the first run stored any.

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sigmasight_shared::db::risk::{self, RiskTable};
use sigmasight_shared::db::{portfolios, snapshots};
use uuid::Uuid;

/// Analytics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/analytics/portfolio/{id}/snapshots",
            get(list_snapshots),
        )
        .route("/api/v1/analytics/portfolio/{id}/overview", get(overview))
        .route(
            "/api/v1/analytics/portfolio/{id}/factor-exposures",
            get(factor_exposures),
        )
        .route(
            "/api/v1/analytics/portfolio/{id}/volatility",
            get(volatility),
        )
        .route(
            "/api/v1/analytics/portfolio/{id}/correlation-matrix",
            get(correlation_matrix),
        )
        .route(
            "/api/v1/analytics/portfolio/{id}/stress-test",
            get(stress_test),
        )
}

/// The caller's portfolio, or 404 (also for a malformed id or someone else's portfolio).
async fn owned(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> Result<portfolios::Portfolio, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("portfolio"))?;
    portfolios::find_owned(&state.db, id, user.id)
        .await?
        .ok_or(ApiError::NotFound("portfolio"))
}

/// The common envelope: `{available, portfolio_id, calculation_date, …fields}`.
fn envelope(portfolio_id: Uuid, date: Option<NaiveDate>, fields: Value) -> Json<Value> {
    let mut body = json!({
        "available": date.is_some(),
        "portfolio_id": portfolio_id,
        "calculation_date": date,
    });
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), fields) {
        map.extend(extra);
    }
    Json(body)
}

/// Latest snapshot with its betas and volatility, the portfolio's volatility forecast.
async fn overview(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let portfolio = owned(&state, &user, &id).await?;
    let Some(date) = snapshots::latest_date(&state.db, portfolio.id).await? else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "portfolio_name": portfolio.name }),
        ));
    };
    let latest = snapshots::list(&state.db, portfolio.id, date, date)
        .await?
        .into_iter()
        .next();
    let risk_date = risk::latest_date(&state.db, portfolio.id, RiskTable::Volatility).await?;
    let vol = match risk_date {
        Some(d) => risk::volatility(&state.db, portfolio.id, d).await?,
        None => Value::Array(Vec::new()),
    };
    let portfolio_vol = vol
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["position_id"].is_null()))
        .cloned()
        .unwrap_or(Value::Null);
    let s = serde_json::to_value(&latest).unwrap_or(Value::Null);
    Ok(envelope(
        portfolio.id,
        Some(date),
        json!({
            "portfolio_name": portfolio.name,
            "equity_balance": s["equity_balance"],
            "total_value": s["total_value"],
            "pnl": {
                "daily_pnl": s["daily_pnl"],
                "daily_return": s["daily_return"],
                "cumulative_pnl": s["cumulative_pnl"],
                "cumulative_return": s["cumulative_return"],
            },
            "exposures": {
                "long_exposure": s["long_value"],
                "short_exposure": s["short_value"],
                "gross_exposure": s["gross_exposure"],
                "net_exposure": s["net_exposure"],
                "cash_balance": s["cash_value"],
            },
            "position_count": {
                "total_positions": s["num_positions"],
                "long_count": s["num_long"],
                "short_count": s["num_short"],
            },
            "concentration": {
                "hhi": s["hhi"],
                "effective_num_positions": s["effective_num_positions"],
                "top_3_concentration": s["top_3_concentration"],
                "top_10_concentration": s["top_10_concentration"],
            },
            "sector_exposure": s["sector_exposure"],
            "betas": {
                "beta_calculated_90d": s["beta_calculated_90d"],
                "beta_provider_1y": s["beta_provider_1y"],
            },
            "volatility": {
                "calculation_date": risk_date,
                "realized_vol_21d": portfolio_vol["realized_vol_21d"],
                "realized_vol_63d": portfolio_vol["realized_vol_63d"],
                "expected_vol_1d": portfolio_vol["expected_vol_1d"],
                "expected_vol_21d": portfolio_vol["expected_vol_21d"],
                "vol_trend": portfolio_vol["vol_trend"],
                "vol_percentile": portfolio_vol["vol_percentile"],
            },
        }),
    ))
}

/// The 13 portfolio factors (beta and dollar exposure) and every position's.
async fn factor_exposures(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let portfolio = owned(&state, &user, &id).await?;
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Factors).await?;
    let Some(d) = date else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "factors": [], "positions": [] }),
        ));
    };
    let factors = risk::portfolio_factors(&state.db, portfolio.id, d).await?;
    let positions = risk::position_factors(&state.db, portfolio.id, d).await?;
    Ok(envelope(
        portfolio.id,
        date,
        json!({ "factors": factors, "positions": positions }),
    ))
}

/// The portfolio's volatility and every position's.
async fn volatility(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let portfolio = owned(&state, &user, &id).await?;
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Volatility).await?;
    let Some(d) = date else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "portfolio": null, "positions": [] }),
        ));
    };
    let rows = risk::volatility(&state.db, portfolio.id, d).await?;
    let (portfolio_rows, positions): (Vec<Value>, Vec<Value>) = rows
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .partition(|r| r["position_id"].is_null());
    Ok(envelope(
        portfolio.id,
        date,
        json!({
            "portfolio": portfolio_rows.into_iter().next(),
            "positions": positions,
        }),
    ))
}

/// The correlation matrix, its summaries and every pair.
async fn correlation_matrix(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let portfolio = owned(&state, &user, &id).await?;
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Correlation).await?;
    let Some(d) = date else {
        return Ok(envelope(portfolio.id, None, json!({ "data": null })));
    };
    let data = risk::correlation(&state.db, portfolio.id, d).await?;
    Ok(envelope(portfolio.id, date, json!({ "data": data })))
}

/// Every stress scenario (active ones by default; `?include_inactive=true` adds the three
/// historical ones).
#[derive(Debug, Deserialize)]
pub struct StressQuery {
    #[serde(default)]
    pub include_inactive: bool,
}

async fn stress_test(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    query: Result<Query<StressQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let portfolio = owned(&state, &user, &id).await?;
    let Query(query) = query.map_err(bad_query)?;
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Stress).await?;
    let Some(d) = date else {
        return Ok(envelope(portfolio.id, None, json!({ "scenarios": [] })));
    };
    let all = risk::stress(&state.db, portfolio.id, d).await?;
    let scenarios: Vec<Value> = all
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| query.include_inactive || s["active"] == Value::Bool(true))
        .collect();
    Ok(envelope(
        portfolio.id,
        date,
        json!({
            "scenarios": scenarios,
            "metadata": all.get(0).map(|s| s["metadata"].clone()),
        }),
    ))
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::Invalid {
        status: StatusCode::BAD_REQUEST,
        code: "ERR_QUERY",
        message: e.body_text(),
        details: serde_json::Value::Null,
    }
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
    let portfolio = owned(&state, &user, &id).await?;
    let Query(range) = range.map_err(bad_query)?;
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
