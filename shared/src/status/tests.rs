use super::*;
use crate::domain::{RunKind, RunSource};
use chrono::TimeZone;

fn run(status: &str) -> runs::Run {
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 2, 15, 0, 0)
        .single()
        .unwrap_or_default();
    runs::Run {
        id: Uuid::nil(),
        kind: RunKind::Onboarding,
        parent_id: None,
        portfolio_id: Some(Uuid::from_u128(7)),
        status: status.parse().expect("a status"),
        attempt: 1,
        max_attempts: 3,
        source: RunSource::Onboarding,
        params: serde_json::json!({}),
        priority: 10,
        run_at: t0,
        worker_id: None,
        lease_expires_at: None,
        previous_worker_id: None,
        idempotency_key: None,
        created_at: t0,
        started_at: Some(t0),
        finished_at: None,
        error: None,
        summary: serde_json::json!({}),
    }
}

fn phase(id: &str, ordinal: i32, status: &str, current: i32, total: i32) -> phases::PhaseRow {
    phases::PhaseRow {
        run_id: Uuid::nil(),
        attempt: 1,
        phase_id: id.into(),
        ordinal,
        phase_name: id.to_uppercase(),
        status: status.parse().expect("a status"),
        current,
        total,
        unit: "symbols".into(),
        started_at: None,
        finished_at: None,
        duration_seconds: None,
        carried_over: false,
        summary: serde_json::json!({}),
    }
}

#[test]
fn running_status_names_the_running_phase_and_counts_its_fraction() {
    let r = run("running");
    let rows = [
        phase("phase_1", 1, "completed", 10, 10),
        phase("phase_3", 2, "running", 50, 100),
        phase("phase_4", 3, "pending", 0, 0),
    ];
    let now = r.started_at.unwrap_or_default() + chrono::Duration::seconds(12);
    let s = build(&r, &rows, &[], now);
    let overall = s
        .overall_progress
        .clone()
        .unwrap_or_else(|| panic!("overall missing"));
    assert_eq!(overall.current_phase.as_deref(), Some("phase_3"));
    assert_eq!(overall.phases_completed, 1);
    assert_eq!(overall.phases_total, 3);
    assert_eq!(overall.percent_complete, 50.0);
    assert_eq!(
        s.current_phase_progress.map(|p| (p.current, p.total)),
        Some((50, 100))
    );
    assert_eq!(s.elapsed_seconds, 12.0);
}

#[test]
fn percent_is_capped_at_99_until_the_run_ends() {
    let rows = [
        phase("phase_1", 1, "completed", 1, 1),
        phase("phase_3", 2, "completed", 1, 1),
        phase("phase_4", 3, "running", 99, 100),
    ];
    let s = build(&run("running"), &rows, &[], Utc::now());
    assert_eq!(s.overall_progress.map(|o| o.percent_complete), Some(99.0));
    let done = build(&run("partial"), &rows, &[], Utc::now());
    assert_eq!(
        done.overall_progress.map(|o| o.percent_complete),
        Some(100.0)
    );
}

#[test]
fn a_failed_attempt_waiting_for_its_retry_keeps_its_progress() {
    let running = [
        phase("phase_1", 1, "running", 3, 10),
        phase("phase_3", 2, "pending", 0, 0),
    ];
    let before = build(&run("running"), &running, &[], Utc::now());
    let failed = [
        phase("phase_1", 1, "failed", 3, 10),
        phase("phase_3", 2, "pending", 0, 0),
    ];
    let after = build(&run("queued"), &failed, &[], Utc::now());
    let pct = |s: &OnboardingStatus| s.overall_progress.as_ref().map(|o| o.percent_complete);
    assert_eq!(pct(&before), Some(15.0));
    assert_eq!(pct(&after), pct(&before));
}

#[test]
fn queued_run_lists_its_planned_phases_as_pending() {
    let mut r = run("queued");
    r.attempt = 0;
    r.started_at = None;
    let s = build(&r, &[], &[], Utc::now());
    let phases = s.phases.unwrap_or_default();
    assert_eq!(phases.len(), crate::phases::ONBOARDING.len());
    assert!(phases
        .iter()
        .all(|p| p.status == crate::domain::PhaseStatus::Pending));
    assert_eq!(s.elapsed_seconds, 0.0);
    assert!(s.started_at.is_none());
}

#[test]
fn a_queued_run_of_every_kind_shows_the_phases_its_kind_runs() {
    for kind in RunKind::ALL {
        let mut r = run("queued");
        r.kind = *kind;
        let s = build(&r, &[], &[], Utc::now());
        let ids: Vec<String> = s
            .phases
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.phase_id)
            .collect();
        let planned: Vec<&str> = kind.plan().iter().map(|p| p.id).collect();
        assert_eq!(ids, planned, "{kind}");
    }
    let child: Vec<&str> = RunKind::PortfolioDaily
        .plan()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        child,
        ["phase_3", "phase_4", "phase_5", "phase_6"],
        "a nightly child's four"
    );
    assert_eq!(RunKind::Onboarding.plan().len(), 9);
}

#[test]
fn status_json_has_every_field_of_the_frontend_type() {
    let s = build(
        &run("running"),
        &[phase("phase_1", 1, "running", 1, 2)],
        &[],
        Utc::now(),
    );
    let v = serde_json::to_value(&s).unwrap_or_default();
    for key in [
        "portfolio_id",
        "status",
        "started_at",
        "elapsed_seconds",
        "overall_progress",
        "current_phase_progress",
        "activity_log",
        "phases",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in [
        "current_phase",
        "current_phase_name",
        "phases_completed",
        "phases_total",
        "percent_complete",
    ] {
        assert!(
            v["overall_progress"].get(key).is_some(),
            "missing overall_progress.{key}"
        );
    }
    for key in [
        "phase_id",
        "phase_name",
        "status",
        "current",
        "total",
        "unit",
        "duration_seconds",
    ] {
        assert!(v["phases"][0].get(key).is_some(), "missing phases[].{key}");
    }
    let nf = serde_json::to_value(OnboardingStatus::not_found(Uuid::nil())).unwrap_or_default();
    assert_eq!(nf["status"], "not_found");
    assert!(nf["overall_progress"].is_null());
}
