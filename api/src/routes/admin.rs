//! Admin control (admin claim in the token): run a batch, run history, one run, cancel.

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use sigmasight_shared::db::{phases, portfolios, runs};
use sigmasight_shared::domain::{RunKind, RunStatus};
use sigmasight_shared::queue::daily::{enqueue_daily, BatchParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_batch))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
}

/// 202 answer of `POST /api/v1/admin/batch/run` (built as JSON; its documented shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RunBatchResponse {
    run_id: Uuid,
    status: RunStatus,
    /// The batch's parameters as stored on the run.
    params: Value,
    run_url: String,
}

/// The run history.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RunList {
    runs: Vec<runs::Run>,
    count: usize,
}

/// One run with its current attempt's phases and, for a daily parent, its children by status.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RunDetail {
    run: runs::Run,
    phases: Vec<RunPhase>,
    /// Children by status, e.g. `{"completed": 998, "failed": 2}` (empty for other runs).
    children: std::collections::BTreeMap<String, i64>,
}

/// A phase of the current attempt.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RunPhase {
    phase_id: String,
    phase_name: String,
    status: sigmasight_shared::domain::PhaseStatus,
    current: i32,
    total: i32,
    unit: String,
    duration_seconds: Option<f64>,
}

/// The cancelled run.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CancelledRun {
    run: runs::Run,
}

fn require_admin(user: &AuthUser) -> Result<(), ApiError> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Body of `POST /api/v1/admin/batch/run`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBatchRequest {
    #[serde(default)]
    pub portfolio_ids: Option<Vec<Uuid>>,
    #[serde(default)]
    pub force_rerun: bool,
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::extract::bounded_date")]
    pub end_date: Option<NaiveDate>,
}

/// Checks the seed 004 rules: dates only with force_rerun, start ≤ end.
pub fn validate(req: &RunBatchRequest) -> Result<(), ApiError> {
    if (req.start_date.is_some() || req.end_date.is_some()) && !req.force_rerun {
        return Err(ApiError::field(
            "ERR_BATCH_001",
            "start_date",
            "start_date and end_date recompute existing data: they need force_rerun=true",
        ));
    }
    if let (Some(s), Some(e)) = (req.start_date, req.end_date) {
        if s > e {
            return Err(ApiError::field(
                "ERR_BATCH_002",
                "end_date",
                "end_date is before start_date",
            ));
        }
    }
    if req.portfolio_ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::field(
            "ERR_BATCH_003",
            "portfolio_ids",
            "portfolio_ids, when given, must name at least one portfolio",
        ));
    }
    Ok(())
}

/// Enqueues a daily batch (all portfolios, or the ones named) for the last trading day, or
/// recomputes a date range with `force_rerun`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/batch/run",
    tag = "admin",
    request_body(content = Option<RunBatchRequest>, description = "Optional: no body runs every portfolio for the last trading day"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The batch run, queued", body = RunBatchResponse),
        (status = 403, description = "The token has no admin claim (forbidden)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "The batch for that date already exists (not_found)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Dates without force_rerun, end before start, an empty or unknown portfolio list (ERR_BATCH_001 to 004), or a body of the wrong shape (ERR_JSON)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn run_batch(
    State(state): State<AppState>,
    user: AuthUser,
    body: Option<AppJson<RunBatchRequest>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&user)?;
    let req = body.map(|AppJson(b)| b).unwrap_or_default();
    validate(&req)?;
    if let Some(ids) = &req.portfolio_ids {
        let mut unknown = Vec::new();
        for id in ids {
            if portfolios::find(&state.db, *id).await?.is_none() {
                unknown.push(*id);
            }
        }
        if !unknown.is_empty() {
            return Err(ApiError::Invalid {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "ERR_BATCH_004",
                message: "unknown portfolio ids".into(),
                details: json!({ "unknown": unknown }),
            });
        }
    }
    let params = BatchParams {
        date: None,
        force_rerun: req.force_rerun,
        start_date: req.start_date,
        end_date: req.end_date,
        portfolio_ids: req.portfolio_ids,
    };
    let run = enqueue_daily(
        &state.db,
        &params,
        sigmasight_shared::domain::RunSource::Admin,
        None,
        state.config.max_attempts,
    )
    .await?
    .ok_or(ApiError::NotFound("run"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "run_id": run.id, "status": run.status, "params": run.params, "run_url": format!("/api/v1/admin/batch/runs/{}", run.id) }),
        ),
    ))
}

/// Filters of the run history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// queued, running, completed, partial, failed or cancelled.
    pub status: Option<String>,
    /// onboarding, daily, portfolio_daily, symbol or admin.
    pub kind: Option<String>,
    pub portfolio_id: Option<Uuid>,
    /// 1 to 500 (default 50); newest first.
    pub limit: Option<i64>,
}

/// The run history, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/batch/runs",
    tag = "admin",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The runs", body = RunList),
        (status = 403, description = "The token has no admin claim (forbidden)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn list_runs(
    State(state): State<AppState>,
    user: AuthUser,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&user)?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(|e| ApiError::query("status", e.to_string()))?;
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<RunKind>)
        .transpose()
        .map_err(|e| ApiError::query("kind", e.to_string()))?;
    let filter = runs::RunFilter {
        status,
        kind,
        portfolio_id: q.portfolio_id,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
    };
    let list = runs::list(&state.db, &filter).await?;
    Ok(Json(json!({ "runs": list, "count": list.len() })))
}

/// One run, its current attempt's phases and its children.
#[utoipa::path(
    get,
    path = "/api/v1/admin/batch/runs/{id}",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The run")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 403, description = "The token has no admin claim (forbidden)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "No such run (not_found)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn get_run(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&user)?;
    let run = runs::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("run"))?;
    let phase_rows = phases::list(&state.db, run.id, run.attempt).await?;
    let children: serde_json::Map<String, Value> = runs::children_counts(&state.db, run.id)
        .await?
        .into_iter()
        .map(|(status, n)| (status, json!(n)))
        .collect();
    let phases: Vec<Value> = phase_rows
        .iter()
        .map(|p| json!({ "phase_id": p.phase_id, "phase_name": p.phase_name, "status": p.status, "current": p.current, "total": p.total, "unit": p.unit, "duration_seconds": p.duration_seconds }))
        .collect();
    Ok(Json(
        json!({ "run": run, "phases": phases, "children": children }),
    ))
}

/// Cancels a queued or running run (and a daily parent's unfinished children).
#[utoipa::path(
    post,
    path = "/api/v1/admin/batch/runs/{id}/cancel",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The run")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled run", body = CancelledRun),
        (status = 403, description = "The token has no admin claim (forbidden)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "No such run (not_found)", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "The run already ended (ERR_RUN_ENDED)", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn cancel_run(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&user)?;
    match runs::cancel(&state.db, id).await? {
        Some(run) => Ok(Json(json!({ "run": run }))),
        None => match runs::find(&state.db, id).await? {
            Some(run) => Err(ApiError::Conflict {
                code: "ERR_RUN_ENDED",
                message: format!("run already ended ({})", run.status),
                details: json!({ "run_id": run.id, "status": run.status }),
            }),
            None => Err(ApiError::NotFound("run")),
        },
    }
}
