use super::*;
use crate::domain::{RunKind, RunSource, RunStatus};
use chrono::TimeZone;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 9, h, m, s)
        .single()
        .unwrap_or_default()
}

fn run() -> runs::Run {
    runs::Run {
        id: Uuid::from_u128(0xabc),
        kind: RunKind::Onboarding,
        parent_id: None,
        portfolio_id: Some(Uuid::from_u128(7)),
        status: RunStatus::Partial,
        attempt: 2,
        max_attempts: 3,
        source: RunSource::Retry,
        params: serde_json::json!({}),
        priority: 10,
        run_at: at(12, 0, 0),
        worker_id: None,
        lease_expires_at: None,
        previous_worker_id: None,
        idempotency_key: None,
        created_at: at(12, 0, 0),
        started_at: Some(at(12, 0, 0)),
        finished_at: Some(at(12, 14, 32)),
        error: None,
        summary: serde_json::json!({
            "positions_total": 20, "positions_analyzed": 19,
            "unavailable_symbols": ["HZNP"], "trading_days": 254
        }),
    }
}

fn phase(attempt: i32, id: &str, name: &str, status: &str, n: i32, secs: f64) -> phases::PhaseRow {
    phases::PhaseRow {
        run_id: Uuid::from_u128(0xabc),
        attempt,
        phase_id: id.into(),
        ordinal: 1,
        phase_name: name.into(),
        status: status.parse().expect("a status"),
        current: n,
        total: 23,
        unit: "symbols".into(),
        started_at: None,
        finished_at: None,
        duration_seconds: Some(secs),
        carried_over: attempt == 2 && status == "warning",
        summary: if status == "failed" {
            serde_json::json!({ "error": "provider error for AAPL" })
        } else {
            serde_json::json!({})
        },
    }
}

fn entry(
    id: i64,
    attempt: i32,
    ts: DateTime<Utc>,
    level: &str,
    message: &str,
    debug: bool,
) -> activity::Entry {
    activity::Entry {
        id,
        run_id: Uuid::from_u128(0xabc),
        attempt,
        ts,
        level: level.parse().expect("a level"),
        phase_id: None,
        message: message.into(),
        debug,
    }
}

fn sample() -> SetupLog {
    let phases = [
        phase(1, "phase_1", "Market Data Collection", "failed", 3, 45.0),
        phase(2, "phase_1", "Market Data Collection", "warning", 23, 872.4),
        phase(
            2,
            "phase_3",
            "P&L Calculation & Snapshots",
            "completed",
            23,
            3725.0,
        ),
    ];
    let entries = vec![
        entry(1, 1, at(12, 0, 1), "info", "Starting attempt 1 of 3", false),
        entry(
            2,
            1,
            at(12, 0, 2),
            "error",
            "Run failed on attempt 1: boom",
            false,
        ),
        entry(
            3,
            1,
            at(12, 0, 2),
            "error",
            "Run failed on attempt 1: boom",
            false,
        ),
        entry(4, 2, at(12, 1, 0), "info", "Starting attempt 2 of 3", false),
        entry(
            5,
            2,
            at(12, 1, 1),
            "info",
            "Creating snapshot for 2025-01-16... (2/254)",
            true,
        ),
        entry(
            6,
            2,
            at(12, 1, 5),
            "warning",
            "No market data for HZNP: delisted",
            false,
        ),
    ];
    build("Growth Portfolio", &run(), &phases, entries, at(13, 0, 0))
}

/// Reviewed by eye against seed 000 §5.2; fixed timestamps, so no redaction needed.
const EXPECTED_TXT: &str = r#"================================================================================
SIGMASIGHT PORTFOLIO SETUP LOG
================================================================================
Portfolio ID: 00000000-0000-0000-0000-000000000007
Portfolio Name: Growth Portfolio
Run ID: 00000000-0000-0000-0000-000000000abc
Attempts: 2
Started: 2026-01-09 12:00:00 UTC
Completed: 2026-01-09 12:14:32 UTC
Total Duration: 14m 32s
Final Status: partial
Generated: 2026-01-09 13:00:00 UTC

================================================================================
SUMMARY
================================================================================
Positions Analyzed: 19/20 (1 unavailable)
Unavailable Symbols: HZNP
Trading Days Processed: 254
Phases Completed: 2/2

================================================================================
PHASE DETAILS
================================================================================
--- Attempt 1 ---

Phase 1 - Market Data Collection (phase_1)
  Status: failed
  Duration: 45s
  Symbols: 3/23
  Error: provider error for AAPL

--- Attempt 2 ---

Phase 1 - Market Data Collection (phase_1)
  Status: warning (carried over from an earlier attempt)
  Duration: 14m 32s
  Symbols: 23/23

Phase 2 - P&L Calculation & Snapshots (phase_3)
  Status: completed
  Duration: 1h 02m 05s
  Symbols: 23/23

================================================================================
ACTIVITY LOG
================================================================================
--- Attempt 1 ---
2026-01-09 12:00:01 [INFO] Starting attempt 1 of 3
2026-01-09 12:00:02 [ERROR] Run failed on attempt 1: boom
--- Attempt 2 ---
2026-01-09 12:01:00 [INFO] Starting attempt 2 of 3
2026-01-09 12:01:01 [DEBUG] Creating snapshot for 2025-01-16... (2/254)
2026-01-09 12:01:05 [WARN] No market data for HZNP: delisted

================================================================================
END OF LOG
================================================================================
"#;

#[test]
fn txt_log_has_the_seed_layout_with_every_attempt() {
    let txt = render_txt(&sample());
    assert_eq!(txt, EXPECTED_TXT);
}

#[test]
fn summary_and_duplicates_come_from_the_rows() {
    let log = sample();
    assert_eq!(log.summary.positions_unavailable, 1);
    assert_eq!(log.summary.phases_completed, 2, "latest attempt only");
    assert_eq!(log.summary.phases_total, 2);
    assert_eq!(log.duration_seconds, Some(872.0));
    assert_eq!(
        log.activity_log.len(),
        5,
        "the repeated failure line is collapsed"
    );
    assert_eq!(log.phases.len(), 3, "phases of both attempts");
}

#[test]
fn durations_and_file_names_read_well() {
    assert_eq!(format_duration(45.2), "45s");
    assert_eq!(format_duration(872.0), "14m 32s");
    assert_eq!(format_duration(3723.0), "1h 02m 03s");
    assert_eq!(
        file_name(Uuid::from_u128(7), at(12, 14, 32), "txt"),
        "portfolio_setup_log_00000000-0000-0000-0000-000000000007_20260109T121432Z.txt"
    );
}
