//! The full log of a portfolio's latest run, every attempt (seed 000 §5.2): a document built
//! from rows by a pure function, rendered as JSON (serde) or as the txt download. Loading it
//! is the only I/O here; the HTTP layer only picks the format and the file name.

use super::feed::collapse_duplicates;
use crate::db::{activity, phases, runs};
use crate::domain::{ActivityLevel, PhaseStatus, RunStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::fmt::Write as _;
use uuid::Uuid;

/// The downloadable log (the json format is this document as is).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SetupLog {
    pub portfolio_id: Uuid,
    pub portfolio_name: String,
    pub run_id: Uuid,
    /// Attempts made so far (all appear below).
    pub attempts: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub final_status: RunStatus,
    pub error: Option<String>,
    pub summary: LogSummary,
    pub phases: Vec<phases::PhaseRow>,
    pub activity_log: Vec<LogEntry>,
    pub generated_at: DateTime<Utc>,
}

/// The summary block.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LogSummary {
    pub positions_analyzed: Option<i64>,
    pub positions_total: Option<i64>,
    /// Positions left unanalyzed (their symbol had no market data).
    pub positions_unavailable: usize,
    /// Held symbols without market data.
    pub unavailable_symbols: Vec<String>,
    /// Factor ETFs without prices (their factors are left empty); not positions.
    pub factor_etfs_without_prices: Vec<String>,
    /// Data no provider could serve in this run (e.g. company profiles behind a refused key).
    pub data_gaps: Vec<String>,
    pub trading_days: Option<i64>,
    /// Of the latest attempt.
    pub phases_completed: usize,
    pub phases_total: usize,
}

/// One activity entry.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LogEntry {
    pub timestamp: DateTime<Utc>,
    pub attempt: i32,
    pub level: ActivityLevel,
    pub phase_id: Option<String>,
    pub message: String,
    pub debug: bool,
}

fn is_done(status: PhaseStatus) -> bool {
    status.is_done() || status == PhaseStatus::Skipped
}

/// Builds the log from a run's rows: `phase_rows` of every attempt, `entries` oldest first
/// (consecutive duplicates are collapsed here).
pub fn build(
    portfolio_name: &str,
    run: &runs::Run,
    phase_rows: &[phases::PhaseRow],
    entries: Vec<activity::Entry>,
    generated_at: DateTime<Utc>,
) -> SetupLog {
    let latest: Vec<&phases::PhaseRow> = phase_rows
        .iter()
        .filter(|p| p.attempt == run.attempt)
        .collect();
    let strings = |key: &str| -> Vec<String> {
        run.summary[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let unavailable = strings("unavailable_symbols");
    let analyzed = run.summary["positions_analyzed"].as_i64();
    let total = run.summary["positions_total"].as_i64();
    // Counted as positions; a run of an older build stored no counts beside its symbols.
    let positions_unavailable = match (analyzed, total) {
        (Some(a), Some(t)) => usize::try_from(t.saturating_sub(a)).unwrap_or(0),
        _ => unavailable.len(),
    };
    let duration_seconds = match (run.started_at, run.finished_at) {
        (Some(s), Some(f)) => Some((f - s).num_milliseconds().max(0) as f64 / 1000.0),
        _ => None,
    };
    SetupLog {
        portfolio_id: run.portfolio_id.unwrap_or_default(),
        portfolio_name: portfolio_name.to_owned(),
        run_id: run.id,
        attempts: run.attempt,
        started_at: run.started_at,
        completed_at: run.finished_at,
        duration_seconds,
        final_status: run.status,
        error: run.error.clone(),
        summary: LogSummary {
            positions_analyzed: analyzed,
            positions_total: total,
            positions_unavailable,
            unavailable_symbols: unavailable,
            factor_etfs_without_prices: strings("factor_etfs_without_prices"),
            data_gaps: strings("data_gaps"),
            trading_days: run.summary["trading_days"].as_i64(),
            phases_completed: latest.iter().filter(|p| is_done(p.status)).count(),
            phases_total: latest.len(),
        },
        phases: phase_rows.to_vec(),
        activity_log: collapse_duplicates(entries)
            .into_iter()
            .map(|e| LogEntry {
                timestamp: e.ts,
                attempt: e.attempt,
                level: e.level,
                phase_id: e.phase_id,
                message: e.message,
                debug: e.debug,
            })
            .collect(),
        generated_at,
    }
}

/// `14m 32s`, `45s`, `1h 02m 03s`.
pub fn format_duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as i64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

fn utc(ts: Option<DateTime<Utc>>) -> String {
    ts.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

fn level_tag(level: ActivityLevel, debug: bool) -> &'static str {
    match (level, debug) {
        (_, true) => "DEBUG",
        (ActivityLevel::Warning, _) => "WARN",
        (ActivityLevel::Error, _) => "ERROR",
        (ActivityLevel::Info, _) => "INFO",
    }
}

const RULE: &str =
    "================================================================================";

fn section(out: &mut String, title: &str) {
    let _ = write!(out, "{RULE}\n{title}\n{RULE}\n");
}

fn opt_num(n: Option<i64>) -> String {
    n.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn render_phases(out: &mut String, log: &SetupLog) {
    let mut attempt = 0;
    let mut n = 0;
    for p in &log.phases {
        if p.attempt != attempt {
            attempt = p.attempt;
            n = 0;
            let _ = writeln!(out, "--- Attempt {attempt} ---\n");
        }
        n += 1;
        let _ = writeln!(out, "Phase {n} - {} ({})", p.phase_name, p.phase_id);
        let carried = if p.carried_over {
            " (carried over from an earlier attempt)"
        } else {
            ""
        };
        let _ = writeln!(out, "  Status: {}{carried}", p.status);
        if let Some(d) = p.duration_seconds {
            let _ = writeln!(out, "  Duration: {}", format_duration(d));
        }
        let mut unit = p.unit.clone();
        if let Some(first) = unit.get(..1) {
            unit = first.to_uppercase() + unit.get(1..).unwrap_or("");
        }
        let _ = writeln!(out, "  {unit}: {}/{}", p.current, p.total);
        if let Some(e) = p.summary["error"].as_str() {
            let _ = writeln!(out, "  Error: {e}");
        }
        out.push('\n');
    }
}

/// The txt download (seed 000 §5.2): header, summary, phase details of every attempt,
/// activity log, END OF LOG. All timestamps UTC.
pub fn render_txt(log: &SetupLog) -> String {
    let mut out = String::new();
    section(&mut out, "SIGMASIGHT PORTFOLIO SETUP LOG");
    let _ = writeln!(out, "Portfolio ID: {}", log.portfolio_id);
    let _ = writeln!(out, "Portfolio Name: {}", log.portfolio_name);
    let _ = writeln!(out, "Run ID: {}", log.run_id);
    let _ = writeln!(out, "Attempts: {}", log.attempts);
    let _ = writeln!(out, "Started: {}", utc(log.started_at));
    let _ = writeln!(out, "Completed: {}", utc(log.completed_at));
    let duration = log.duration_seconds.map(format_duration);
    let _ = writeln!(
        out,
        "Total Duration: {}",
        duration.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "Final Status: {}", log.final_status);
    if let Some(e) = &log.error {
        let _ = writeln!(out, "Error: {e}");
    }
    let _ = writeln!(out, "Generated: {}\n", utc(Some(log.generated_at)));

    section(&mut out, "SUMMARY");
    let s = &log.summary;
    let _ = writeln!(
        out,
        "Positions Analyzed: {}/{} ({} unavailable)",
        opt_num(s.positions_analyzed),
        opt_num(s.positions_total),
        s.positions_unavailable
    );
    if !s.unavailable_symbols.is_empty() {
        let _ = writeln!(
            out,
            "Unavailable Symbols: {}",
            s.unavailable_symbols.join(", ")
        );
    }
    if !s.factor_etfs_without_prices.is_empty() {
        let _ = writeln!(
            out,
            "Factor ETFs Without Prices: {} (their factors are left empty)",
            s.factor_etfs_without_prices.join(", ")
        );
    }
    for gap in &s.data_gaps {
        let _ = writeln!(out, "Not To Be Had Now: {gap}");
    }
    let _ = writeln!(out, "Trading Days Processed: {}", opt_num(s.trading_days));
    let _ = writeln!(
        out,
        "Phases Completed: {}/{}\n",
        s.phases_completed, s.phases_total
    );

    section(&mut out, "PHASE DETAILS");
    render_phases(&mut out, log);

    section(&mut out, "ACTIVITY LOG");
    let mut attempt = 0;
    for e in &log.activity_log {
        if e.attempt != attempt {
            attempt = e.attempt;
            let _ = writeln!(out, "--- Attempt {attempt} ---");
        }
        let _ = writeln!(
            out,
            "{} [{}] {}",
            e.timestamp.format("%Y-%m-%d %H:%M:%S"),
            level_tag(e.level, e.debug),
            e.message
        );
    }
    out.push('\n');
    section(&mut out, "END OF LOG");
    out
}

/// The download's file name: `portfolio_setup_log_<id>_<YYYYMMDDTHHMMSSZ>.<ext>`.
pub fn file_name(portfolio_id: Uuid, at: DateTime<Utc>, ext: &str) -> String {
    format!(
        "portfolio_setup_log_{portfolio_id}_{}.{ext}",
        at.format("%Y%m%dT%H%M%SZ")
    )
}

/// Loads the log of a portfolio's latest run; None when it has no run.
pub async fn load(
    db: &PgPool,
    portfolio_id: Uuid,
    portfolio_name: &str,
    include_debug: bool,
) -> Result<Option<SetupLog>, sqlx::Error> {
    let Some(run) = runs::latest_for_portfolio(db, portfolio_id).await? else {
        return Ok(None);
    };
    let phase_rows = phases::list_all_attempts(db, run.id).await?;
    let entries = activity::all(db, run.id, include_debug).await?;
    Ok(Some(build(
        portfolio_name,
        &run,
        &phase_rows,
        entries,
        Utc::now(),
    )))
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
