//! The SSE status stream through the real processes: the current status at once, updates as
//! the worker progresses (LISTEN/NOTIFY), the terminal status last, then the stream ends.

use serde_json::Value;
use sigmasight_tests::{example_csv, start_worker, Api, TestDb};
use std::time::Duration;

/// Reads `status` events from an SSE response until the server ends the stream.
async fn read_events(mut response: reqwest::Response) -> anyhow::Result<Vec<Value>> {
    let mut buf = String::new();
    let mut events = Vec::new();
    while let Some(chunk) =
        tokio::time::timeout(Duration::from_secs(60), response.chunk()).await??
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.contains("event: status") {
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    events.push(serde_json::from_str(data)?);
                }
            }
        }
    }
    Ok(events)
}

#[tokio::test]
async fn the_event_stream_pushes_progress_then_the_terminal_status_and_ends() -> anyhow::Result<()>
{
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let (code, created) = api
        .upload("alice", "Live", "demo_portfolio.csv", example_csv())
        .await?;
    assert_eq!(code, 201, "{created}");
    let pid = created["portfolio_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Token in the query, as EventSource sends it.
    let response = api
        .client
        .get(format!(
            "{}/api/v1/onboarding/status/{pid}/events?access_token={}",
            api.base,
            Api::token("alice")
        ))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    // The worker starts only now, so every change after `queued` must arrive by NOTIFY.
    let worker = start_worker(
        &db.url,
        &[("SIGMASIGHT_SYNTHETIC_LATENCY_MS", "100".to_owned())],
    )?;
    let events = read_events(response).await?;

    let statuses: Vec<&str> = events.iter().filter_map(|e| e["status"].as_str()).collect();
    assert_eq!(statuses.first(), Some(&"queued"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"partial"), "{statuses:?}");
    assert!(
        statuses.contains(&"running"),
        "at least one progress update between queued and the end: {statuses:?}"
    );
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["overall_progress"]["percent_complete"], 100.0);
    assert_eq!(
        last["summary"]["unavailable_symbols"],
        serde_json::json!(["HZNP"])
    );
    // The stream agrees with polling.
    let polled = api.status("alice", &pid).await?;
    assert_eq!(polled["status"], "partial");
    drop(worker);
    drop(api);
    db.drop_database().await;
    Ok(())
}
