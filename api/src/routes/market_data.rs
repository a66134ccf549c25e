//! Market-data read endpoints (any authenticated user): the exact price series the analytics
//! used, a symbol's factor betas and its metrics. They read stored results only.

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::extract::{AppPath, AppQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use sigmasight_shared::db::{factors, metrics, prices};

/// Market-data routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/market-data/symbols/{symbol}/prices",
            get(get_prices),
        )
        .route(
            "/api/v1/market-data/symbols/{symbol}/factors",
            get(get_factors),
        )
        .route(
            "/api/v1/market-data/symbols/{symbol}/metrics",
            get(get_metrics),
        )
}

/// `?start=&end=`.
#[derive(Debug, Deserialize)]
pub struct Range {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

/// `?date=`.
#[derive(Debug, Deserialize)]
pub struct AsOf {
    pub date: Option<NaiveDate>,
}

fn normalize(symbol: &str) -> String {
    symbol.trim().to_ascii_uppercase()
}

async fn get_prices(
    State(state): State<AppState>,
    _user: AuthUser,
    AppPath(symbol): AppPath<String>,
    AppQuery(range): AppQuery<Range>,
) -> Result<Json<Value>, ApiError> {
    let symbol = normalize(&symbol);
    let coverage = prices::coverage(&state.db, std::slice::from_ref(&symbol)).await?;
    let cov = coverage.first().ok_or(ApiError::NotFound("symbol"))?;
    let end = range.end.unwrap_or(cov.last_date);
    let start = range.start.unwrap_or(cov.first_date);
    if start > end {
        return Err(ApiError::field(
            "ERR_RANGE_001",
            "start",
            "start is after end",
        ));
    }
    let rows = prices::closes(&state.db, std::slice::from_ref(&symbol), start, end).await?;
    let series: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "date": r.price_date, "close": r.close }))
        .collect();
    // A symbol's history comes from one provider (phase 1 refetches it whole otherwise).
    Ok(Json(
        json!({ "symbol": symbol, "start": start, "end": end, "source": cov.source, "prices": series }),
    ))
}

async fn get_factors(
    State(state): State<AppState>,
    _user: AuthUser,
    AppPath(symbol): AppPath<String>,
    AppQuery(q): AppQuery<AsOf>,
) -> Result<Json<Value>, ApiError> {
    let symbol = normalize(&symbol);
    let rows = factors::latest_for_symbol(&state.db, &symbol, q.date).await?;
    let date = rows
        .first()
        .map(|r| r.calculation_date)
        .ok_or(ApiError::NotFound("symbol"))?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({ "factor": r.factor, "method": r.method, "beta": r.beta, "r_squared": r.r_squared,
                    "observations": r.observations, "window": r.window_returns, "t_stat": r.t_stat,
                    "p_value": r.p_value, "std_error": r.std_error, "alpha": r.alpha, "label": r.label,
                    "reason": r.reason })
        })
        .collect();
    Ok(Json(
        json!({ "symbol": symbol, "calculation_date": date, "factors": items }),
    ))
}

async fn get_metrics(
    State(state): State<AppState>,
    _user: AuthUser,
    AppPath(symbol): AppPath<String>,
    AppQuery(q): AppQuery<AsOf>,
) -> Result<Json<Value>, ApiError> {
    let symbol = normalize(&symbol);
    let m = metrics::latest_with_profile(&state.db, &symbol, q.date)
        .await?
        .ok_or(ApiError::NotFound("symbol"))?;
    let mut body = serde_json::to_value(&m).map_err(|e| ApiError::Internal(e.into()))?;
    body["calculation_date"] = json!(m.metric_date);
    Ok(Json(body))
}
