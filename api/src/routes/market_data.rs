//! Market-data read endpoints (any authenticated user): the exact price series the analytics
//! used, a symbol's factor betas and its metrics. They read stored results only.

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::extract::{AppPath, AppQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use sigmasight_shared::db::{factors, metrics, prices};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Market-data routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_prices))
        .routes(routes!(get_factors))
        .routes(routes!(get_metrics))
}

/// `?start=&end=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First date (default: the first stored).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub start: Option<NaiveDate>,
    /// Last date (default: the last stored).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub end: Option<NaiveDate>,
}

/// `?date=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The newest result on or before this date (default: the newest).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub date: Option<NaiveDate>,
}

/// Answer of the prices endpoint (built as JSON; this is its documented shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PricesResponse {
    symbol: String,
    start: NaiveDate,
    end: NaiveDate,
    /// The provider that served the stored history (`synthetic`, `fmp`, `polygon`, …).
    source: Option<String>,
    prices: Vec<PricePoint>,
}

/// One close.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PricePoint {
    date: NaiveDate,
    close: f64,
}

/// Answer of the factors endpoint.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SymbolFactorsResponse {
    symbol: String,
    calculation_date: NaiveDate,
    factors: Vec<SymbolFactor>,
}

/// One factor beta of a symbol (null beta with a `reason` when it could not be computed).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SymbolFactor {
    factor: String,
    method: String,
    beta: Option<f64>,
    r_squared: Option<f64>,
    observations: Option<i32>,
    window: Option<i32>,
    t_stat: Option<f64>,
    p_value: Option<f64>,
    std_error: Option<f64>,
    alpha: Option<f64>,
    label: Option<String>,
    reason: Option<String>,
}

/// Answer of the metrics endpoint: the stored metrics and profile, and their date.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SymbolMetricsResponse {
    #[serde(flatten)]
    metrics: sigmasight_shared::db::metrics::MetricsWithProfile,
    calculation_date: NaiveDate,
}

fn normalize(symbol: &str) -> String {
    symbol.trim().to_ascii_uppercase()
}

/// The exact closes the analytics used, from the one provider that served the symbol.
#[utoipa::path(
    get,
    path = "/api/v1/market-data/symbols/{symbol}/prices",
    tag = "market-data",
    params(("symbol" = String, Path, description = "The symbol (case-insensitive)"), Range),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stored closes in the range", body = PricesResponse),
        (status = 404, description = "No stored prices for the symbol (not_found)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "start is after end (ERR_RANGE_001)", body = crate::openapi::ErrorEnvelope)
    )
)]
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

/// The symbol's factor betas of its newest calculation (on or before `date`).
#[utoipa::path(
    get,
    path = "/api/v1/market-data/symbols/{symbol}/factors",
    tag = "market-data",
    params(("symbol" = String, Path, description = "The symbol (case-insensitive)"), AsOf),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The betas", body = SymbolFactorsResponse),
        (status = 404, description = "No betas for the symbol (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
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

/// The symbol's returns, volatility and profile of its newest calculation.
#[utoipa::path(
    get,
    path = "/api/v1/market-data/symbols/{symbol}/metrics",
    tag = "market-data",
    params(("symbol" = String, Path, description = "The symbol (case-insensitive)"), AsOf),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metrics", body = SymbolMetricsResponse),
        (status = 404, description = "No metrics for the symbol (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
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
