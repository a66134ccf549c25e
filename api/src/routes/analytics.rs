//! Analytics read endpoints under `/api/v1/analytics/portfolio/{id}/` (SigmaSight's names):
//! `overview`, `snapshots?start=&end=` (the daily series, the status page's NAV chart),
//! `factor-exposures`, `volatility`, `correlation-matrix`, `stress-test`. Owner only; anyone
//! else gets 404. They answer from stored results only (never compute) and name the
//! `calculation_date` the results are for; `available: false` before the first run stored any.

use crate::error::ApiError;
use crate::extract::AppQuery;
use crate::extract::ReadablePortfolio;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sigmasight_shared::analytics::correlations;
use sigmasight_shared::analytics::factors::MARKET_BETA_FACTOR;
use sigmasight_shared::analytics::stress::Scenario;
use sigmasight_shared::db::risk::{self, RiskTable};
use sigmasight_shared::db::{positions, snapshots, tail_risk};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Analytics routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_snapshots))
        .routes(routes!(overview))
        .routes(routes!(factor_exposures))
        .routes(routes!(volatility))
        .routes(routes!(position_factor_exposures))
        .routes(routes!(correlation_matrix))
        .routes(routes!(stress_test))
        .routes(routes!(risk_metrics))
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

/// SigmaSight's overview (latest snapshot, exposures, P&L, counts) plus the phase 6 betas,
/// volatility, concentration and sector exposure.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/overview",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Latest snapshot, exposures, P&L, counts, concentration, betas, volatility", body = super::analytics_doc::Overview),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn overview(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<Json<Value>, ApiError> {
    let Some(date) = snapshots::latest_date(&state.db, portfolio.id).await? else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "portfolio_name": portfolio.name, "last_updated": null }),
        ));
    };
    let latest = snapshots::list(&state.db, portfolio.id, date, date)
        .await?
        .into_iter()
        .next();
    let (realized, ytd, mtd) = snapshots::pnl_totals(&state.db, portfolio.id, date).await?;
    let (option_count, unrealized) =
        positions::overview_counts(&state.db, portfolio.id, date).await?;
    let risk_date = risk::latest_date(&state.db, portfolio.id, RiskTable::Volatility).await?;
    let portfolio_vol = match risk_date {
        Some(d) => portfolio_volatility(
            &risk::stored(&state.db, portfolio.id, RiskTable::Volatility, d).await?,
        ),
        None => Value::Null,
    };
    let tail = tail_risk::latest(&state.db, portfolio.id, None).await?;
    let s = serde_json::to_value(&latest).unwrap_or(Value::Null);
    let equity = s["equity_balance"].as_f64().unwrap_or(0.0);
    let pct = |v: &Value| {
        let v = v.as_f64().unwrap_or(0.0);
        (equity > 0.0).then(|| (v / equity * 1000.0).round() / 10.0)
    };
    let gross = s["gross_exposure"].as_f64().unwrap_or(0.0);
    Ok(envelope(
        portfolio.id,
        Some(date),
        json!({
            "portfolio_name": portfolio.name,
            "equity_balance": s["equity_balance"],
            "total_value": s["total_value"],
            "net_asset_value": s["total_value"],
            "cash_balance": s["cash_value"],
            "leverage": if equity > 0.0 { (gross / equity * 100.0).round() / 100.0 } else { 0.0 },
            "exposures": {
                "long_exposure": s["long_value"],
                "short_exposure": s["short_value"],
                "gross_exposure": s["gross_exposure"],
                "net_exposure": s["net_exposure"],
                "long_percentage": pct(&s["long_value"]),
                "short_percentage": pct(&s["short_value"]),
                "gross_percentage": pct(&s["gross_exposure"]),
                "net_percentage": pct(&s["net_exposure"]),
            },
            "pnl": {
                "total_pnl": s["cumulative_pnl"],
                "unrealized_pnl": unrealized,
                "realized_pnl": realized,
                "ytd_pnl": ytd,
                "mtd_pnl": mtd,
                "daily_pnl": s["daily_pnl"],
                "daily_return": s["daily_return"],
                "cumulative_return": s["cumulative_return"],
            },
            "position_count": {
                "total_positions": s["num_positions"],
                "long_count": s["num_long"],
                "short_count": s["num_short"],
                "option_count": option_count,
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
            "volatility": portfolio_vol,
            "tail_risk": tail.map(|t| json!({
                "calculation_date": t.calculation_date,
                "var_95_dollars": t.var_hist_95_dollars,
                "max_drawdown": t.max_drawdown,
                "sharpe": t.sharpe,
            })),
            "last_updated": date,
        }),
    ))
}

/// The portfolio's row of the stored volatility rows (position_id null).
fn portfolio_volatility(rows: &Value) -> Value {
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["position_id"].is_null()))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The 13 portfolio factors (SigmaSight's `factors[{name, beta, exposure_dollar}]`) and every
/// position's betas.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/factor-exposures",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The portfolio's factor betas and every position's", body = super::analytics_doc::FactorExposures),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn factor_exposures(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<Json<Value>, ApiError> {
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Factors).await?;
    let Some(d) = date else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "factors": [], "positions": [], "data_quality": null,
                    "metadata": { "reason": "no_calculation_available" } }),
        ));
    };
    let stored = risk::stored(&state.db, portfolio.id, RiskTable::Factors, d).await?;
    let factors: Vec<Value> = stored
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut f| {
            f["name"] = f["factor"].clone();
            f
        })
        .collect();
    let calculated = factors.iter().filter(|f| !f["beta"].is_null()).count();
    let has_market = factors
        .iter()
        .any(|f| f["name"] == MARKET_BETA_FACTOR && !f["beta"].is_null());
    let (_, positions) =
        risk::position_factors(&state.db, portfolio.id, d, &[], i64::MAX, 0).await?;
    Ok(envelope(
        portfolio.id,
        date,
        json!({
            "factors": factors,
            "positions": positions,
            "data_quality": null,
            "metadata": {
                "factor_model": format!("{}-factor", factors.len()),
                "calculation_method": "exposure-weighted position betas (ETF-proxy regressions)",
                "completeness": if calculated == factors.len() { "complete" } else { "partial" },
                "total_active_factors": factors.len(),
                "factors_calculated": calculated,
                "has_market_beta": i32::from(has_market),
            },
        }),
    ))
}

/// `?limit=&offset=&symbols=A,B` of the per-position factor exposures.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionQuery {
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// ≥ 0 (default 0).
    pub offset: Option<i64>,
    /// Comma-separated symbols to keep.
    pub symbols: Option<String>,
}

/// SigmaSight's per-position factor exposures: `positions[{position_id, symbol,
/// exposures: {factor: beta}}]`, paged.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/positions/factor-exposures",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio"), PositionQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Per-position factor betas, paged", body = super::analytics_doc::PositionFactorExposures),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn position_factor_exposures(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
    AppQuery(query): AppQuery<PositionQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query;
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::query("limit", "limit must be between 1 and 200"));
    }
    if offset < 0 {
        return Err(ApiError::query("offset", "offset must be ≥ 0"));
    }
    let symbols: Vec<String> = q
        .symbols
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Factors).await?;
    let (total, positions) = match date {
        Some(d) => {
            risk::position_factors(&state.db, portfolio.id, d, &symbols, limit, offset).await?
        }
        None => (0, json!([])),
    };
    Ok(envelope(
        portfolio.id,
        date,
        json!({ "total": total, "limit": limit, "offset": offset, "positions": positions,
                "data_quality": null }),
    ))
}

/// SigmaSight's volatility (`data{realized_volatility_21d, …}` of the portfolio) plus every
/// position's.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/volatility",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Realised and forecast volatility of the portfolio and its positions", body = super::analytics_doc::Volatility),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn volatility(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<Json<Value>, ApiError> {
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Volatility).await?;
    let Some(d) = date else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "data": null, "positions": [],
                    "metadata": { "error": "No volatility data available" } }),
        ));
    };
    let rows = risk::stored(&state.db, portfolio.id, RiskTable::Volatility, d).await?;
    let p = portfolio_volatility(&rows);
    let positions: Vec<Value> = rows
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r["position_id"].is_null())
        .collect();
    Ok(envelope(
        portfolio.id,
        date,
        json!({
            "data": {
                "realized_volatility_21d": p["realized_vol_21d"],
                "realized_volatility_63d": p["realized_vol_63d"],
                "expected_volatility_1d": p["expected_vol_1d"],
                "expected_volatility_21d": p["expected_vol_21d"],
                "volatility_trend": p["vol_trend"],
                "volatility_trend_strength": p["vol_trend_strength"],
                "volatility_percentile": p["vol_percentile"],
                "har_coefficients": p["har_coefficients"],
                "model_r_squared": p["model_r_squared"],
                "observations": p["observations"],
            },
            "portfolio": p,
            "positions": positions,
            "metadata": { "forecast_model": "HAR", "trading_day_windows": "21d, 63d" },
        }),
    ))
}

/// SigmaSight's correlation matrix (`data.matrix{SYM:{SYM:ρ}}`, `average_correlation`) plus
/// the ordered form, the summaries and every pair.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/correlation-matrix",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The positions' correlation matrix", body = super::analytics_doc::CorrelationMatrix),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn correlation_matrix(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
) -> Result<Json<Value>, ApiError> {
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Correlation).await?;
    let Some(d) = date else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "data": null, "data_quality": null,
                    "metadata": { "reason": "no_calculation_available" } }),
        ));
    };
    let stored = risk::stored(&state.db, portfolio.id, RiskTable::Correlation, d).await?;
    let symbols: Vec<String> =
        serde_json::from_value(stored["symbols"].clone()).unwrap_or_default();
    let rows: Vec<Vec<f64>> = serde_json::from_value(stored["matrix"].clone()).unwrap_or_default();
    let mut matrix = serde_json::Map::new();
    for (i, a) in symbols.iter().enumerate() {
        let row: serde_json::Map<String, Value> = symbols
            .iter()
            .enumerate()
            .map(|(j, b)| (b.clone(), json!(rows.get(i).and_then(|r| r.get(j)))))
            .collect();
        matrix.insert(a.clone(), Value::Object(row));
    }
    let pairs = stored["pairs"].as_array().map_or(0, Vec::len);
    let valid = stored["pairs"]
        .as_array()
        .map_or(0, |p| p.iter().filter(|x| x["flagged"] == false).count());
    Ok(envelope(
        portfolio.id,
        date,
        json!({
            "data": {
                "matrix": matrix,
                "average_correlation": stored["overall_correlation"],
                "overall_correlation": stored["overall_correlation"],
                "effective_positions": stored["effective_positions"],
                "position_symbols": symbols,
                "correlation_matrix": rows,
                "symbols": stored["symbols"],
                "psd_repaired": stored["psd_repaired"],
                "min_eigenvalue": stored["min_eigenvalue"],
                "excluded": stored["excluded"],
                "pairs": stored["pairs"],
                "min_overlap": correlations::MIN_PAIR_POINTS,
                "data_quality": {
                    "total_pairs": pairs,
                    "valid_pairs": valid,
                    "coverage_percent": if pairs > 0 { valid as f64 / pairs as f64 * 100.0 } else { 100.0 },
                },
            },
            "data_quality": null,
            "metadata": {
                "calculation_date": d,
                "lookback_days": stored["lookback_returns"],
                "positions_included": symbols.len(),
                "symbols_included": symbols.len(),
                "min_overlap": correlations::MIN_PAIR_POINTS,
                "selection_method": "weight",
            },
        }),
    ))
}

/// `?scenarios=id,id` filters; `?include_inactive=true` adds the three historical ones.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StressQuery {
    /// Also the inactive (historical) scenarios.
    #[serde(default)]
    pub include_inactive: bool,
    /// Comma-separated scenario ids to keep.
    pub scenarios: Option<String>,
}

/// SigmaSight's stress test (`data.scenarios[{id, name, impact{dollar_impact, …}}]`, the
/// correlated P&L as the impact) plus direct/correlated P&L, the cap and factor impacts.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/stress-test",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio"), StressQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stress scenarios' impacts", body = super::analytics_doc::StressTest),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn stress_test(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
    AppQuery(query): AppQuery<StressQuery>,
) -> Result<Json<Value>, ApiError> {
    let requested: Vec<String> = query
        .scenarios
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let metadata = (!requested.is_empty()).then(|| json!({ "scenarios_requested": requested }));
    let date = risk::latest_date(&state.db, portfolio.id, RiskTable::Stress).await?;
    let Some(d) = date else {
        return Ok(envelope(
            portfolio.id,
            None,
            json!({ "data": null, "metadata": { "reason": "no_results" } }),
        ));
    };
    let stored = risk::stored(&state.db, portfolio.id, RiskTable::Stress, d).await?;
    let all = stored.as_array().cloned().unwrap_or_default();
    let value = all
        .first()
        .map_or(0.0, |s| s["metadata"]["equity"].as_f64().unwrap_or(0.0));
    let scenarios: Vec<Value> = all
        .into_iter()
        .filter(|s| {
            let id = s["scenario_id"].as_str().unwrap_or_default();
            if requested.is_empty() {
                query.include_inactive || s["active"] == true
            } else {
                requested.iter().any(|r| r == id)
            }
        })
        .map(|mut s| {
            let def = Scenario::by_id(s["scenario_id"].as_str().unwrap_or_default());
            let dollar = s["correlated_pnl"].as_f64().unwrap_or(0.0);
            s["id"] = s["scenario_id"].clone();
            s["name"] = s["scenario_name"].clone();
            s["description"] = json!(def.map(Scenario::description));
            s["severity"] = json!(def.map(Scenario::severity));
            s["impact_type"] = json!("correlated");
            s["impact"] = json!({
                "dollar_impact": dollar,
                "percentage_impact": if value > 0.0 { Some(dollar / value * 100.0) } else { None },
                "new_portfolio_value": value + dollar,
            });
            s
        })
        .collect();
    Ok(envelope(
        portfolio.id,
        date,
        json!({
            "data": { "scenarios": scenarios, "portfolio_value": value, "calculation_date": d },
            "data_quality": null,
            "metadata": metadata,
        }),
    ))
}

/// Date range, both ends included; defaults: everything up to the newest snapshot.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First date (default: the first snapshot).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub start: Option<NaiveDate>,
    /// Last date (default: the newest snapshot).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub end: Option<NaiveDate>,
}

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotsResponse {
    pub portfolio_id: Uuid,
    /// The newest snapshot date (None before the first one).
    pub calculation_date: Option<NaiveDate>,
    pub snapshots: Vec<snapshots::StoredSnapshot>,
}

#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/snapshots",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio"), Range),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Daily snapshots, oldest first", body = SnapshotsResponse),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn list_snapshots(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
    AppQuery(range): AppQuery<Range>,
) -> Result<Json<SnapshotsResponse>, ApiError> {
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

/// `?date=` (the newest stored date on or before it) or `?from=&to=` (every date in the
/// range); neither: the newest.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RiskMetricsQuery {
    /// The figures of the newest calculation date on or before this one.
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub date: Option<NaiveDate>,
    /// First date of the history (default: the first stored).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub from: Option<NaiveDate>,
    /// Last date of the history (default: the newest stored).
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub to: Option<NaiveDate>,
}

/// The answer of `…/risk-metrics`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RiskMetricsResponse {
    pub portfolio_id: Uuid,
    /// True when `metrics` (or `history`) holds anything.
    pub available: bool,
    /// The date of `metrics` (the newest of `history`).
    pub calculation_date: Option<NaiveDate>,
    /// The figures of one date (without `from`/`to`).
    pub metrics: Option<tail_risk::TailRiskRecord>,
    /// Every date of `from`…`to`, oldest first (with `from` or `to`).
    pub history: Option<Vec<tail_risk::TailRiskRecord>>,
}

/// Performance and tail risk (ANALYTICS §7b): VaR and CVaR, Sharpe, Sortino, Calmar,
/// drawdowns, tracking error and the market figures, per calculation date.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/portfolio/{id}/risk-metrics",
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The portfolio"), RiskMetricsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures of the newest (or a given) date, or their history", body = RiskMetricsResponse),
        (status = 400, description = "`date` with `from`/`to`, `from` after `to`, or a bad date (ERR_QUERY)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn risk_metrics(
    State(state): State<AppState>,
    ReadablePortfolio { portfolio, .. }: ReadablePortfolio,
    AppQuery(q): AppQuery<RiskMetricsQuery>,
) -> Result<Json<RiskMetricsResponse>, ApiError> {
    let ranged = q.from.is_some() || q.to.is_some();
    if ranged && q.date.is_some() {
        return Err(ApiError::query(
            "date",
            "give either date or from/to, not both",
        ));
    }
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(ApiError::query("from", "from is after to"));
        }
    }
    let (metrics, history) = if ranged {
        // Postgres holds neither NaiveDate::MIN nor MAX: the defaults are dates it can.
        let from = q.from.or_else(|| NaiveDate::from_ymd_opt(1900, 1, 1));
        let to = q.to.or_else(|| NaiveDate::from_ymd_opt(9999, 12, 31));
        let (Some(from), Some(to)) = (from, to) else {
            return Err(ApiError::query("from", "no such date"));
        };
        let rows = tail_risk::list(&state.db, portfolio.id, from, to).await?;
        (None, Some(rows))
    } else {
        (
            tail_risk::latest(&state.db, portfolio.id, q.date).await?,
            None,
        )
    };
    let calculation_date = metrics
        .as_ref()
        .or_else(|| history.as_ref().and_then(|h| h.last()))
        .map(|m| m.calculation_date);
    Ok(Json(RiskMetricsResponse {
        portfolio_id: portfolio.id,
        available: calculation_date.is_some(),
        calculation_date,
        metrics,
        history,
    }))
}
