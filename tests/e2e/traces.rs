//! Traceable logs: with `LOG_FORMAT=json`, every api line of a request carries its request
//! id, route and (once signed in) user, the id is returned in `x-request-id`; every worker
//! line of a run carries run id, portfolio id and attempt, and a phase's lines its phase.

use serde_json::{Map, Value};
use sigmasight_tests::{start_worker_logged, Api, TestDb};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Each JSON line of a log, with the fields of all its spans merged (inner spans last).
fn lines(log: &str) -> anyhow::Result<Vec<(Value, Map<String, Value>)>> {
    let mut out = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("not a JSON log line ({e}): {line}"))?;
        let mut fields = Map::new();
        for span in v["spans"].as_array().into_iter().flatten() {
            if let Some(obj) = span.as_object() {
                fields.extend(obj.clone());
            }
        }
        out.push((v, fields));
    }
    Ok(out)
}

fn in_span(fields: &Map<String, Value>, name: &str) -> bool {
    fields.get("name").and_then(Value::as_str) == Some(name)
        || fields.contains_key(match name {
            "request" => "request_id",
            "run" => "run.id",
            _ => name,
        })
}

fn text<'a>(fields: &'a Map<String, Value>, key: &str) -> &'a str {
    fields.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[tokio::test]
async fn json_logs_tie_each_line_to_its_request_and_its_run() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let json = [("LOG_FORMAT", "json".to_owned())];
    let api = Api::start_logged(&db.url, &json).await?;
    let mut worker_env = json.to_vec();
    worker_env.push(("RUST_LOG", "debug,sqlx=warn,hyper=info,reqwest=info".into()));
    let worker = start_worker_logged(&db.url, &worker_env)?;

    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\nMSFT,5,300.00,2025-06-02\n".to_vec();
    let (code, body) = api.upload("alice", "Traced", "t.csv", csv).await?;
    anyhow::ensure!(code == 201, "{body}");
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let status = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(status["status"], "completed", "{status}");

    // A client's id is kept and returned; a hostile one is replaced, never echoed.
    let status_url = format!("{}/api/v1/onboarding/status/{pid}", api.base);
    let mine = "trace-42.abc";
    let r = api
        .client
        .get(&status_url)
        .bearer_auth(Api::token("alice"))
        .header("x-request-id", mine)
        .send()
        .await?;
    assert_eq!(r.headers()["x-request-id"], mine);
    let r = api
        .client
        .get(&status_url)
        .bearer_auth(Api::token("alice"))
        .header("x-request-id", "<b>".repeat(50))
        .send()
        .await?;
    let given = r.headers()["x-request-id"].to_str()?.to_owned();
    assert!(uuid::Uuid::parse_str(&given).is_ok(), "{given}");

    // Give the api a moment to write the last lines (each request logs as it is answered).
    api.process
        .wait_for_log(mine, Duration::from_secs(10))
        .await?;
    let api_lines = lines(&api.process.log_text())?;
    let requests: Vec<_> = api_lines
        .iter()
        .filter(|(_, f)| in_span(f, "request"))
        .collect();
    assert!(requests.len() >= 4, "{} request lines", requests.len());
    for (line, f) in &requests {
        assert!(!text(f, "request_id").is_empty(), "{line}");
        assert!(!text(f, "route").is_empty(), "{line}");
        assert!(!text(f, "method").is_empty(), "{line}");
    }
    let upload: Vec<_> = requests
        .iter()
        .filter(|(_, f)| text(f, "route") == "/api/v1/onboarding/create-portfolio")
        .collect();
    assert!(!upload.is_empty());
    for (line, f) in &upload {
        assert_eq!(text(f, "user"), "alice", "{line}");
        assert_eq!(text(f, "method"), "POST", "{line}");
    }
    let traced: Vec<_> = requests
        .iter()
        .filter(|(_, f)| text(f, "request_id") == mine)
        .collect();
    assert!(!traced.is_empty(), "the client's id is in the log");
    for (line, f) in &traced {
        assert_eq!(
            text(f, "route"),
            "/api/v1/onboarding/status/{portfolio_id}",
            "{line}"
        );
        assert_eq!(text(f, "user"), "alice", "{line}");
    }
    assert!(
        !api.process.log_text().contains("<b>"),
        "a refused id is not logged"
    );

    // The worker: every line inside the run carries its ids; phase lines their phase.
    let worker_lines = lines(&worker.log_text())?;
    let run_lines: Vec<_> = worker_lines
        .iter()
        .filter(|(_, f)| text(f, "run.id") == run_id)
        .collect();
    assert!(!run_lines.is_empty(), "the run logged");
    for (line, f) in &run_lines {
        assert_eq!(text(f, "portfolio.id"), pid, "{line}");
        assert_eq!(f.get("run.attempt"), Some(&Value::from(1)), "{line}");
        assert_eq!(text(f, "run.kind"), "onboarding", "{line}");
    }
    let phases_seen: std::collections::BTreeSet<&str> = run_lines
        .iter()
        .map(|(_, f)| text(f, "phase"))
        .filter(|p| !p.is_empty())
        .collect();
    let planned: std::collections::BTreeSet<&str> = sigmasight_shared::domain::RunKind::Onboarding
        .plan()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(phases_seen, planned, "a line from inside each phase");
    // Nothing of the run is logged without its span.
    for (line, f) in &worker_lines {
        let message = line["message"].as_str().unwrap_or_default();
        if message.contains(&run_id) {
            assert!(in_span(f, "run"), "{line}");
        }
    }
    drop(api);
    db.drop_database().await;
    Ok(())
}
