//! Both processes' Prometheus endpoints: before any run, every series the Grafana dashboard
//! queries is there at 0; around a real onboarding through the provider chain (fake FMP,
//! Polygon and Yahoo on 127.0.0.1, or the synthetic market) every counter moves by what the
//! run did, as the fakes, the database and the status document count it.

use crate::providers::{chain_env, fakes_without_msft_at_fmp_nor_hznp};
use serde_json::Value;
use sigmasight_shared::domain::RunKind;
use sigmasight_shared::metrics as m;
use sigmasight_tests::prometheus::{metric_names, Scrape};
use sigmasight_tests::{free_port, start_worker, Api, Process, TestDb};
use std::collections::BTreeSet;
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

    // The worker's endpoint is up once it listens; before any run its run series are at 0.
    let before = scrape_until(&client, &worker_url, Duration::from_secs(30), |_| true).await?;
    assert!(before.has(m::RUNS_CLAIMED));
    assert_eq!(before.sum(m::RUNS_CLAIMED, &[]), 0.0);

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

/// The `sigmasight_…` series the Grafana dashboard's expressions query.
fn dashboard_series() -> anyhow::Result<BTreeSet<String>> {
    fn exprs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("expr", Some(e)) => out.push(e),
                        _ => exprs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/sigmasight.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut found = Vec::new();
    exprs(&dashboard, &mut found);
    Ok(found.into_iter().flat_map(metric_names).collect())
}

/// A worker with its metrics endpoint on a free port, and that endpoint's URL.
fn worker_with_metrics(
    db: &TestDb,
    env: &[(&'static str, String)],
) -> anyhow::Result<(Process, String)> {
    let port = free_port()?;
    let mut all = env.to_vec();
    all.push(("SIGMASIGHT_METRICS_BIND", format!("127.0.0.1:{port}")));
    let worker = start_worker(&db.url, &all)?;
    Ok((worker, format!("http://127.0.0.1:{port}/metrics")))
}

#[tokio::test]
async fn a_fresh_api_and_worker_export_every_series_the_dashboard_queries_at_zero(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    // The synthetic market, and a Yahoo never asked (no run) whose budget the gauges show.
    let (_worker, worker_url) = worker_with_metrics(
        &db,
        &[
            ("SIGMASIGHT_MARKET_PROVIDER", "synthetic,yahoo".into()),
            ("SIGMASIGHT_YAHOO_BASE_URL", "http://127.0.0.1:9".into()),
            ("SIGMASIGHT_YAHOO_RATE_PER_MIN", "60".into()),
            ("SIGMASIGHT_YAHOO_REQUESTS_PER_DAY", "1000".into()),
        ],
    )?;
    let client = reqwest::Client::new();
    let w = scrape_until(&client, &worker_url, Duration::from_secs(30), |s| {
        s.has(m::PROVIDER_BUDGET_REMAINING)
    })
    .await?;
    let budget = |window| {
        w.matching(
            m::PROVIDER_BUDGET_REMAINING,
            &[("provider", "yahoo"), ("window", window)],
        )
        .map(|s| s.value)
        .collect::<Vec<f64>>()
    };
    // 60 a minute, spaced 2 % wider than the rate: 59 fit in any 60 s.
    assert_eq!(budget("minute"), [59.0], "a whole minute left");
    assert_eq!(budget("day"), [1000.0], "the whole day left");
    let a = scrape(&client, &format!("{}/metrics", api.base)).await?;

    let queried = dashboard_series()?;
    assert!(queried.len() >= 15, "the dashboard's queries: {queried:?}");
    for series in &queried {
        assert!(
            a.has(series) || w.has(series),
            "{series} is not exported before the first event"
        );
    }
    // No run has happened: every worker series is 0 (a histogram's buckets, sum and count too).
    for s in w
        .series
        .iter()
        .filter(|s| s.name != m::PROVIDER_BUDGET_REMAINING)
    {
        assert_eq!(s.value, 0.0, "{s:?}");
    }
    // With its known label values: every run kind, every outcome an attempt can end with,
    // every phase of the plans, every outcome of the configured provider (the synthetic market).
    for kind in RunKind::ALL {
        let labels = [("kind", kind.as_str())];
        assert_eq!(w.matching(m::RUNS_CLAIMED, &labels).count(), 1, "{kind}");
    }
    let finished = |outcome| {
        w.matching(
            m::RUNS_FINISHED,
            &[("kind", "onboarding"), ("outcome", outcome)],
        )
        .count()
    };
    for outcome in [
        "completed",
        "partial",
        "failed",
        "retried",
        "lease_lost",
        "cancelled",
    ] {
        assert_eq!(finished(outcome), 1, "{outcome}");
    }
    let phase_count = format!("{}_count", m::PHASE_DURATION);
    for phase in sigmasight_shared::phases::ALL {
        let labels = [("phase", phase.id), ("status", "failed")];
        assert_eq!(w.matching(&phase_count, &labels).count(), 1, "{}", phase.id);
    }
    let synthetic = [("provider", "synthetic")];
    assert_eq!(w.matching(m::PROVIDER_REQUESTS, &synthetic).count(), 6);
    let le_inf = [("provider", "synthetic"), ("le", "+Inf")];
    let buckets = format!("{}_bucket", m::PROVIDER_DURATION);
    assert_eq!(w.matching(&buckets, &le_inf).count(), 1);
    // The api's routes, by their patterns: the upload's success and its 500 at 0.
    for status in ["201", "500"] {
        let upload = [
            ("method", "POST"),
            ("route", "/api/v1/onboarding/create-portfolio"),
            ("status", status),
        ];
        assert_eq!(a.matching(m::HTTP_REQUESTS, &upload).count(), 1, "{status}");
        assert_eq!(a.sum(m::HTTP_REQUESTS, &upload), 0.0);
    }
    assert_eq!(a.matching(m::STATUS_CACHE, &[]).count(), 3);
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn the_synthetic_markets_requests_are_counted_like_an_http_providers() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    let api = Api::start(&db.url, &[]).await?;
    let unavailable = [("SIGMASIGHT_SYNTHETIC_UNAVAILABLE", "HZNP".to_owned())];
    let (_worker, worker_url) = worker_with_metrics(&db, &unavailable)?;
    let csv = b"Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,10,100.00,2025-06-02\nHZNP,7,50.00,2025-06-02\n";
    let (_, status) = api.onboard("alice", "Synthetic", csv.to_vec()).await?;
    assert_eq!(status["status"], "partial", "{status}");

    let client = reqwest::Client::new();
    let w = scrape_until(&client, &worker_url, Duration::from_secs(10), |s| {
        s.sum(m::RUNS_FINISHED, &[]) >= 1.0
    })
    .await?;
    let synthetic = [("provider", "synthetic")];
    let requests = w.sum(m::PROVIDER_REQUESTS, &synthetic);
    // Phase 1 counts the requests it sent; the later phases (profiles, fundamentals) ask too.
    let phase_1: i64 = sqlx::query_scalar(
        "select (summary->'requests_by_provider'->>'synthetic')::bigint from run_phases where phase_id = 'phase_1'",
    )
    .fetch_one(&pool)
    .await?;
    assert!(phase_1 > 0, "phase 1 asked the synthetic market");
    assert!(requests >= phase_1 as f64, "{requests} < {phase_1}");
    let timed = w.sum(&format!("{}_count", m::PROVIDER_DURATION), &synthetic);
    assert_eq!(timed, requests, "every request timed");
    let not_found = [("provider", "synthetic"), ("outcome", "not_found")];
    assert!(w.sum(m::PROVIDER_REQUESTS, &not_found) >= 1.0, "HZNP");
    let ok = [("provider", "synthetic"), ("outcome", "ok")];
    assert!(w.sum(m::PROVIDER_REQUESTS, &ok) >= 1.0);
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}
