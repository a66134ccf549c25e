//! The status model of DESIGN §3 (seed 003 §9.1 field names) built from the runs, phases and
//! activity tables. `build` is pure so the rules are unit-tested; `load` reads the database.

pub mod feed;
pub mod log;

use crate::db::{self, activity, phases, runs};
use crate::domain::{ActivityLevel, PhaseStatus, RunStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// Activity entries the feed shows.
pub const FEED_ENTRIES: i64 = 50;

/// `overall_progress`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct OverallProgress {
    pub current_phase: Option<String>,
    pub current_phase_name: Option<String>,
    pub phases_completed: i32,
    pub phases_total: i32,
    pub percent_complete: f64,
}

/// `current_phase_progress`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CurrentPhaseProgress {
    pub current: i32,
    pub total: i32,
    pub unit: String,
}

/// One `activity_log` item.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ActivityItem {
    pub timestamp: DateTime<Utc>,
    pub message: String,
    pub level: ActivityLevel,
    pub attempt: i32,
    pub phase_id: Option<String>,
}

/// One `phases` item.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PhaseItem {
    pub phase_id: String,
    pub phase_name: String,
    pub status: PhaseStatus,
    pub current: i32,
    pub total: i32,
    pub unit: String,
    pub duration_seconds: Option<f64>,
    /// Completed in an earlier attempt and not run again.
    pub carried_over: bool,
    pub summary: serde_json::Value,
}

/// The status document of `GET /api/v1/onboarding/status/{portfolio_id}`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct OnboardingStatus {
    pub portfolio_id: Uuid,
    /// queued | running | completed | partial | failed | cancelled | not_found
    #[schema(example = "running")]
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub elapsed_seconds: f64,
    pub overall_progress: Option<OverallProgress>,
    pub current_phase_progress: Option<CurrentPhaseProgress>,
    pub activity_log: Vec<ActivityItem>,
    pub phases: Option<Vec<PhaseItem>>,
    pub run_id: Option<Uuid>,
    pub attempt: i32,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub summary: serde_json::Value,
}

impl OnboardingStatus {
    /// The answer when the portfolio has no run.
    pub fn not_found(portfolio_id: Uuid) -> Self {
        Self {
            portfolio_id,
            status: "not_found".into(),
            started_at: None,
            elapsed_seconds: 0.0,
            overall_progress: None,
            current_phase_progress: None,
            activity_log: Vec::new(),
            phases: None,
            run_id: None,
            attempt: 0,
            finished_at: None,
            error: None,
            summary: serde_json::json!({}),
        }
    }
}

fn phase_items(run: &runs::Run, rows: &[phases::PhaseRow]) -> Vec<PhaseItem> {
    if rows.is_empty() {
        return run
            .kind
            .plan()
            .iter()
            .map(|p| PhaseItem {
                phase_id: p.id.into(),
                phase_name: p.name.into(),
                status: PhaseStatus::Pending,
                current: 0,
                total: 0,
                unit: p.unit.into(),
                duration_seconds: None,
                carried_over: false,
                summary: serde_json::json!({}),
            })
            .collect();
    }
    rows.iter()
        .map(|r| PhaseItem {
            phase_id: r.phase_id.clone(),
            phase_name: r.phase_name.clone(),
            status: r.status,
            current: r.current,
            total: r.total,
            unit: r.unit.clone(),
            duration_seconds: r.duration_seconds,
            carried_over: r.carried_over,
            summary: r.summary.clone(),
        })
        .collect()
}

fn is_done(status: PhaseStatus) -> bool {
    status.is_done() || status == PhaseStatus::Skipped
}

/// Percent complete: finished phases plus the fraction reached by the running phase (or by
/// the phase that failed, so a failed attempt waiting for its retry keeps its progress),
/// capped at 99 until the run has ended well. Monotonic within an attempt because `current`
/// never decreases and a phase's fraction is kept when it fails.
fn percent(run_status: RunStatus, items: &[PhaseItem]) -> f64 {
    if matches!(run_status, RunStatus::Completed | RunStatus::Partial) {
        return 100.0;
    }
    if items.is_empty() {
        return 0.0;
    }
    let done = items.iter().filter(|p| is_done(p.status)).count() as f64;
    let running: f64 = items
        .iter()
        .filter(|p| matches!(p.status, PhaseStatus::Running | PhaseStatus::Failed) && p.total > 0)
        .map(|p| (f64::from(p.current) / f64::from(p.total)).clamp(0.0, 1.0))
        .sum();
    let pct = (done + running) / items.len() as f64 * 100.0;
    (pct * 10.0).round().min(990.0) / 10.0
}

/// Builds the status document of a run from its rows, as of `now`.
pub fn build(
    run: &runs::Run,
    phase_rows: &[phases::PhaseRow],
    feed: &[activity::Entry],
    now: DateTime<Utc>,
) -> OnboardingStatus {
    let items = phase_items(run, phase_rows);
    let current = items
        .iter()
        .find(|p| p.status == PhaseStatus::Running)
        .or_else(|| items.iter().find(|p| p.status == PhaseStatus::Failed))
        .or_else(|| items.iter().find(|p| p.status == PhaseStatus::Pending));
    let end = run.finished_at.unwrap_or(now);
    let elapsed = run
        .started_at
        .map(|s| ((end - s).num_milliseconds().max(0) as f64) / 1000.0)
        .unwrap_or(0.0);
    OnboardingStatus {
        portfolio_id: run.portfolio_id.unwrap_or_default(),
        status: run.status.to_string(),
        started_at: run.started_at,
        elapsed_seconds: elapsed,
        overall_progress: Some(OverallProgress {
            current_phase: current.map(|p| p.phase_id.clone()),
            current_phase_name: current.map(|p| p.phase_name.clone()),
            phases_completed: items.iter().filter(|p| is_done(p.status)).count() as i32,
            phases_total: items.len() as i32,
            percent_complete: percent(run.status, &items),
        }),
        current_phase_progress: current.map(|p| CurrentPhaseProgress {
            current: p.current,
            total: p.total,
            unit: p.unit.clone(),
        }),
        activity_log: feed
            .iter()
            .map(|e| ActivityItem {
                timestamp: e.ts,
                message: e.message.clone(),
                level: e.level,
                attempt: e.attempt,
                phase_id: e.phase_id.clone(),
            })
            .collect(),
        phases: Some(items),
        run_id: Some(run.id),
        attempt: run.attempt,
        finished_at: run.finished_at,
        error: run.error.clone(),
        summary: run.summary.clone(),
    }
}

/// Reads the status of a portfolio's newest run (or `not_found`), whoever owns it.
pub async fn load(db: &PgPool, portfolio_id: Uuid) -> Result<OnboardingStatus, sqlx::Error> {
    Ok(load_visible(db, portfolio_id, None)
        .await?
        .unwrap_or_else(|| OnboardingStatus::not_found(portfolio_id)))
}

/// Reads the status of a portfolio's newest run as `owner` sees it (`None`: an admin, who
/// sees every portfolio): `None` when the portfolio does not exist or is someone else's,
/// `not_found` when it has no run. One statement (see [`db::status::latest`]).
pub async fn load_visible(
    db: &PgPool,
    portfolio_id: Uuid,
    owner: Option<Uuid>,
) -> Result<Option<OnboardingStatus>, sqlx::Error> {
    Ok(
        match db::status::latest(db, portfolio_id, owner, FEED_ENTRIES).await? {
            db::status::Latest::Hidden => None,
            db::status::Latest::NoRun => Some(OnboardingStatus::not_found(portfolio_id)),
            db::status::Latest::Run {
                run, phases, feed, ..
            } => Some(build(
                &run,
                &phases,
                &feed::collapse_duplicates(feed),
                Utc::now(),
            )),
        },
    )
}

#[cfg(test)]
mod tests;
