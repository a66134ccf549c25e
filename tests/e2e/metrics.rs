//! Both processes' Prometheus endpoints, scraped around a real onboarding through the
//! provider chain (fake FMP, Polygon and Yahoo on 127.0.0.1): every counter moves by what
//! the run did, as the fakes, the database and the status document count it.

use crate::providers::{chain_env, fakes_without_msft_at_fmp_nor_hznp};
use sigmasight_shared::metrics as m;
use sigmasight_tests::prometheus::Scrape;
use sigmasight_tests::{free_port, start_worker, Api, TestDb};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);

async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let r = client.get(url).send().await?;
    anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&r.text().await?)
}

/// Scrapes `url` until `ready` holds of the scrape (the worker records an attempt's end
/// just after writing it; the api reads the queue every 5 s), or fails at the deadline.
async fn scrape_until(
    client: &reqwest::Client,
    url: &str,
    within: Duration,
    ready: impl Fn(&Scrape) -> bool,
) -> anyhow::Result<Scrape> {
    let deadline = Instant::now() + within;
    loop {
        // Connection refused while the process is starting counts as not yet.
        let last = match scrape(client, url).await {
            Ok(s) if ready(&s) => return Ok(s),
            Ok(s) => format!("{s:?}"),
            Err(e) => format!("{e:#}"),
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "{url}: condition not met: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_onboarding_moves_every_counter_by_what_it_did() -> anyhow::Result<()> {
    let fakes = fakes_without_msft_at_fmp_nor_hznp().await;
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    let api = Api::start(&db.url, &[]).await?;
    let worker_port = free_port()?;
    let mut env = chain_env(&fakes);
    env.push((
        "SIGMASIGHT_METRICS_BIND",
        format!("127.0.0.1:{worker_port}"),
    ));
    let mut worker = start_worker(&db.url, &env)?;
    let worker_url = format!("http://127.0.0.1:{worker_port}/metrics");
    let api_url = format!("{}/metrics", api.base);
    let client = reqwest::Client::new();

    // The worker's endpoint is up once it listens; before any run it has no run series.
    let before = scrape_until(&client, &worker_url, Duration::from_secs(30), |_| true).await?;
    assert!(!before.has(m::RUNS_CLAIMED));

    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\nMSFT,5,300.00,2025-06-02\nHZNP,7,50.00,2025-06-02\n".to_vec();
    let (code, body) = api.upload("alice", "Metrics", "m.csv", csv).await?;
    anyhow::ensure!(code == 201, "{body}");
    let pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let status = api.wait_terminal("alice", &pid, TIMEOUT).await?;
    assert_eq!(status["status"], "partial", "{status}");

    // The worker: one claim, one partial end, nine phases, exactly the provider requests the
    // fakes received and the activity rows the database holds.
    let w = scrape_until(&client, &worker_url, Duration::from_secs(10), |s| {
        s.sum(m::RUNS_FINISHED, &[]) >= 1.0
    })
    .await?;
    let onboarding = [("kind", "onboarding")];
    assert_eq!(w.sum(m::RUNS_CLAIMED, &onboarding), 1.0);
    assert_eq!(w.sum(m::RUNS_CLAIMED, &[]), 1.0);
    let partial = [("kind", "onboarding"), ("outcome", "partial")];
    assert_eq!(w.sum(m::RUNS_FINISHED, &partial), 1.0);
    assert_eq!(w.sum(m::RUNS_FINISHED, &[]), 1.0);
    let run_count = format!("{}_count", m::RUN_DURATION);
    assert_eq!(w.sum(&run_count, &partial), 1.0);
    let run_secs = w.sum(&format!("{}_sum", m::RUN_DURATION), &partial);
    assert!(
        run_secs > 0.0 && run_secs < TIMEOUT.as_secs_f64(),
        "{run_secs}"
    );
    let phase_count = format!("{}_count", m::PHASE_DURATION);
    for phase in sigmasight_shared::domain::RunKind::Onboarding.plan() {
        assert_eq!(
            w.sum(
                &phase_count,
                &[("phase", phase.id), ("status", "completed")]
            ),
            1.0,
            "{}",
            phase.id
        );
    }
    assert_eq!(w.sum(&phase_count, &[]), 9.0);
    for provider in ["fmp", "polygon", "yahoo"] {
        let labels = [("provider", provider)];
        let requests = fakes.requests(provider) as f64;
        assert!(requests > 0.0, "{provider} was asked");
        assert_eq!(w.sum(m::PROVIDER_REQUESTS, &labels), requests, "{provider}");
        let timed = w.sum(&format!("{}_count", m::PROVIDER_DURATION), &labels);
        assert_eq!(timed, requests, "{provider} latencies");
    }
    // The fakes answer every request well (an unknown symbol is an empty 200 at FMP and
    // Polygon, as the real ones answer), so every request is `ok` or a Yahoo 404.
    let ok = w.sum(m::PROVIDER_REQUESTS, &[("outcome", "ok")]);
    let not_found = w.sum(m::PROVIDER_REQUESTS, &[("outcome", "not_found")]);
    assert_eq!(ok + not_found, w.sum(m::PROVIDER_REQUESTS, &[]));
    assert!(ok > 0.0);
    let rows: Vec<(String, bool, i64)> =
        sqlx::query_as("select level, debug, count(*) from run_activity group by level, debug")
            .fetch_all(&pool)
            .await?;
    let stored: i64 = rows.iter().map(|(_, _, n)| n).sum();
    assert_eq!(w.sum(m::ACTIVITY_ROWS, &[]), stored as f64);
    let warnings: i64 = rows
        .iter()
        .filter(|(l, d, _)| l == "warning" && !d)
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(
        w.sum(m::ACTIVITY_ROWS, &[("level", "warning")]),
        warnings as f64
    );
    assert_eq!(w.sum(m::TAKEOVERS, &[]), 0.0);
    assert_eq!(w.sum(m::PANICS, &[]), 0.0);
    assert_eq!(w.sum(m::LEASES_LOST, &[]), 0.0);

    // The api: the upload by its route pattern, a path no route has as `unmatched` (never
    // the raw path), status polls by pattern.
    for _ in 0..2 {
        let r = client
            .get(format!("{}/no/such/{}", api.base, pid))
            .send()
            .await?;
        assert_eq!(r.status(), 404);
    }
    let a = scrape(&client, &api_url).await?;
    let upload = [
        ("method", "POST"),
        ("route", "/api/v1/onboarding/create-portfolio"),
        ("status", "201"),
    ];
    assert_eq!(a.sum(m::HTTP_REQUESTS, &upload), 1.0);
    assert_eq!(a.sum(&format!("{}_count", m::HTTP_DURATION), &upload), 1.0);
    let polls = [
        ("method", "GET"),
        ("route", "/api/v1/onboarding/status/{portfolio_id}"),
        ("status", "200"),
    ];
    assert!(a.sum(m::HTTP_REQUESTS, &polls) >= 1.0);
    assert_eq!(
        a.sum(
            m::HTTP_REQUESTS,
            &[("route", "unmatched"), ("status", "404")]
        ),
        2.0
    );
    assert!(
        !a.series
            .iter()
            .any(|s| s.labels.get("route").is_some_and(|r| r.contains(&pid))),
        "no raw path in a label"
    );

    // With the worker gone, a second upload stays queued: the api's queue gauges show it
    // (within their 5 s refresh), and an open event stream on it is counted.
    assert!(worker.terminate(Duration::from_secs(20)), "worker stops");
    let (code, body) = api
        .upload(
            "alice",
            "Queued",
            "q.csv",
            b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,1,100.00,2025-06-02\n"
                .to_vec(),
        )
        .await?;
    anyhow::ensure!(code == 201, "{body}");
    let queued_pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    let mut stream = client
        .get(format!(
            "{}/api/v1/onboarding/status/{queued_pid}/events",
            api.base
        ))
        .bearer_auth(Api::token("alice"))
        .send()
        .await?;
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await?;
    assert!(first.is_some(), "the stream sends the current status");
    let a = scrape_until(&client, &api_url, Duration::from_secs(15), |s| {
        s.sum(m::QUEUE_DUE, &[]) == 1.0
    })
    .await?;
    assert_eq!(
        a.sum(m::RUNS, &[("kind", "onboarding"), ("status", "queued")]),
        1.0
    );
    assert_eq!(a.sum(m::RUNS, &[("status", "running")]), 0.0);
    assert!(a.sum(m::QUEUE_OLDEST_AGE, &[]) >= 0.0);
    assert_eq!(a.sum(m::SSE_OPEN, &[]), 1.0);
    drop(stream);
    // Every series the api exported is in the catalogue, described.
    for series in &a.series {
        let name = series
            .name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        let metric = m::by_name(name).or_else(|| m::by_name(&series.name));
        assert!(
            metric.is_some_and(|x| x.process == m::Process::Api),
            "{}",
            series.name
        );
        assert!(
            a.described.iter().any(|d| d == name || *d == series.name),
            "# HELP {name}"
        );
    }
    drop(api);
    db.drop_database().await;
    Ok(())
}
