//! What one client may take of the running api: timeouts on slow headers, trickled bodies
//! and idle connections, the connection cap, event-stream caps, per-user rates and the
//! security headers — over real sockets.

use serde_json::Value;
use sigmasight_tests::{example_csv, Api, TestDb};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn env(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

async fn connect(api: &Api) -> anyhow::Result<TcpStream> {
    let addr = api.base.trim_start_matches("http://");
    Ok(TcpStream::connect(addr).await?)
}

/// Reads until the server closes the connection (or `within` passes); returns what arrived
/// and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn slow_headers_idle_connections_and_trickled_bodies_are_cut() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(
        &db.url,
        &env(&[
            ("SIGMASIGHT_HEADER_TIMEOUT_SECS", "1"),
            ("SIGMASIGHT_IDLE_TIMEOUT_SECS", "1"),
            ("SIGMASIGHT_BODY_TIMEOUT_SECS", "1"),
        ]),
    )
    .await?;

    // Half a request line, then nothing: closed after the header timeout, not held.
    let mut slow = connect(&api).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(8)).await;
    assert!(closed, "a slow-header client is cut");
    eprintln!("slow headers cut after {:?}", started.elapsed());

    // One request answered, then silence: the keep-alive connection is closed when idle.
    let mut idle = connect(&api).await?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection is closed");
    eprintln!("idle connection closed after {:?}", started.elapsed());

    // An upload that trickles a byte every 200 ms: 408 body_timeout after the body timeout.
    let mut trickle = connect(&api).await?;
    let head = format!(
        "POST /api/v1/onboarding/create-portfolio HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n",
        Api::token("alice")
    );
    trickle.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    let mut answer = String::new();
    for _ in 0..50 {
        if trickle.write_all(b"-").await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), trickle.read(&mut buf)).await
        {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            if n == 0 || answer.contains("\r\n\r\n") {
                break;
            }
        }
    }
    let (rest, _) = read_until_closed(&mut trickle, Duration::from_secs(3)).await;
    answer.push_str(&rest);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut near the body timeout, not after the whole trickle"
    );
    let pool = db.pool().await?;
    let portfolios: i64 = sqlx::query_scalar("select count(*) from portfolios")
        .fetch_one(&pool)
        .await?;
    assert_eq!(portfolios, 0, "nothing written");
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

/// A multipart upload whose CSV is `csv_bytes` long (valid rows, far over the 10 MiB limit).
fn oversize_upload(csv_bytes: usize) -> (String, Vec<u8>) {
    let boundary = "sigmasightOversizeBoundary";
    let mut body = Vec::with_capacity(csv_bytes + 1024);
    for (name, value) in [("portfolio_name", "Big"), ("account_name", "big-1")] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"big.csv\"\r\n\
             Content-Type: text/csv\r\n\r\nSymbol,Quantity,Entry Price Per Share,Entry Date\n"
        )
        .as_bytes(),
    );
    let row = b"AAPL,1,100.00,2024-01-02\n";
    while body.len() < csv_bytes {
        body.extend_from_slice(row);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn an_oversize_upload_written_whole_before_reading_gets_its_413_envelope(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let (content_type, body) = oversize_upload(21 * 1024 * 1024);
    let mut request = format!(
        "POST /api/v1/onboarding/create-portfolio HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        Api::token("alice"),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    // As urllib or a browser's form post: the whole request first, then the answer.
    let mut stream = connect(&api).await?;
    let wrote = stream.write_all(&request).await;
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(
        wrote.is_ok(),
        "the whole body was taken, not reset: {wrote:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default())?;
    assert_eq!(json["error"]["code"], "ERR_CSV_001", "{answer}");
    assert!(closed, "closed after the answer (the request asked for it)");
    let pool = db.pool().await?;
    let portfolios: i64 = sqlx::query_scalar("select count(*) from portfolios")
        .fetch_one(&pool)
        .await?;
    assert_eq!(portfolios, 0, "nothing written");
    pool.close().await;
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn an_http2_connection_kept_open_by_pings_alone_is_closed_at_the_idle_timeout(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &env(&[("SIGMASIGHT_IDLE_TIMEOUT_SECS", "1")])).await?;
    // HTTP/2 with prior knowledge over plain TCP; a PING every 200 ms and no request.
    let (send_request, mut connection) = h2::client::handshake(connect(&api).await?).await?;
    let mut pings = connection
        .ping_pong()
        .ok_or_else(|| anyhow::anyhow!("no ping_pong handle"))?;
    let started = Instant::now();
    let mut ended = tokio::spawn(connection);
    let mut pongs = 0;
    let closed_after = loop {
        tokio::select! {
            _ = &mut ended => break Some(started.elapsed()),
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if started.elapsed() > Duration::from_secs(12) {
                    break None;
                }
                let pong = tokio::time::timeout(
                    Duration::from_secs(1),
                    pings.ping(h2::Ping::opaque()),
                )
                .await;
                if matches!(pong, Ok(Ok(_))) {
                    pongs += 1;
                }
            }
        }
    };
    drop(send_request);
    assert!(pongs >= 3, "the server answered the pings ({pongs})");
    let closed_after = closed_after.ok_or_else(|| {
        anyhow::anyhow!("an h2 connection with pings and no request was still open after 12 s")
    })?;
    // Idle timeout 1 s, checked every 250 ms, plus a 5 s grace at most to close.
    assert!(closed_after < Duration::from_secs(7), "{closed_after:?}");
    drop(api);
    db.drop_database().await;
    Ok(())
}

/// Sends `request` on a fresh connection; the status line's code and the rest of the answer.
async fn raw(api: &Api, request: &[u8]) -> anyhow::Result<(u16, String)> {
    let mut stream = connect(api).await?;
    let _ = stream.write_all(request).await;
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, answer))
}

#[tokio::test]
async fn requests_hyper_refuses_before_any_handler_get_its_bare_400_or_431() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..101)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("a 70 KB header", big.into_bytes(), 431),
        ("more than 100 headers", many.into_bytes(), 431),
        (
            "a bad Content-Length",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a NUL in a header",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let (got, answer) = raw(&api, &request).await?;
        // The README's Limits table says so: hyper answers these itself, without the envelope.
        assert_eq!(got, status, "{what}: {answer}");
        assert!(!answer.contains("\"error\""), "{what}: {answer}");
    }
    // The connection cap and the server are unharmed.
    let (ok, _) = raw(
        &api,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await?;
    assert_eq!(ok, 200);
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn connections_over_the_cap_get_a_503_envelope() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &env(&[("SIGMASIGHT_MAX_CONNECTIONS", "3")])).await?;
    // The readiness probe's pooled connection may still be open: fill the cap with our own.
    let _held: Vec<TcpStream> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(connect(&api).await?);
        }
        v
    };
    let mut over = connect(&api).await?;
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(closed);
    drop(_held);
    // Once the held connections are gone, service resumes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = reqwest::Client::new()
            .get(format!("{}/healthz", api.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn event_streams_are_capped_per_user_and_rates_per_user() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(
        &db.url,
        &env(&[
            ("SIGMASIGHT_SSE_MAX_PER_USER", "2"),
            ("SIGMASIGHT_SSE_MAX", "3"),
            ("SIGMASIGHT_REQUESTS_PER_MINUTE", "20"),
            ("SIGMASIGHT_UPLOADS_PER_MINUTE", "2"),
        ]),
    )
    .await?;
    // Uploads: two a minute for alice, the third is 429 with Retry-After; bob is unaffected.
    let mut pids = Vec::new();
    for account in ["One", "Two"] {
        let (code, body) = api.upload("alice", account, "p.csv", example_csv()).await?;
        assert_eq!(code, 201, "{body}");
        pids.push(body["portfolio_id"].as_str().unwrap_or_default().to_owned());
    }
    let (code, body) = api.upload("alice", "Three", "p.csv", example_csv()).await?;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    let (code, body) = api.upload("bob", "Acct", "p.csv", example_csv()).await?;
    assert_eq!(code, 201, "{body}");
    let bob_pid = body["portfolio_id"].as_str().unwrap_or_default().to_owned();

    // Streams: two open for alice; the third is 429 too_many_streams.
    let open = |sub: &'static str, pid: String| {
        let client = api.client.clone();
        let url = format!("{}/api/v1/onboarding/status/{pid}/events", api.base);
        async move { client.get(url).bearer_auth(Api::token(sub)).send().await }
    };
    let s1 = open("alice", pids[0].clone()).await?;
    let s2 = open("alice", pids[1].clone()).await?;
    assert_eq!((s1.status().as_u16(), s2.status().as_u16()), (200, 200));
    let third = open("alice", pids[0].clone()).await?;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await?;
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    // Bob has his own two, but the server's total is three.
    let b1 = open("bob", bob_pid.clone()).await?;
    assert_eq!(b1.status(), 200);
    let b2 = open("bob", bob_pid.clone()).await?;
    assert_eq!(b2.status(), 429, "total cap of 3");
    drop(s1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = open("bob", bob_pid.clone()).await?;
        if again.status() == 200 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "a closed stream's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Requests: carol's 21st request within the minute is 429 with Retry-After; dave is fine.
    let get = |sub: &'static str| {
        let client = api.client.clone();
        let url = format!(
            "{}/api/v1/onboarding/status/{}",
            api.base,
            uuid::Uuid::nil()
        );
        async move { client.get(url).bearer_auth(Api::token(sub)).send().await }
    };
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(get("carol").await?.status().as_u16());
    }
    assert!(codes[..20].iter().all(|c| *c == 404), "{codes:?}");
    let over = get("carol").await?;
    assert_eq!(over.status(), 429);
    let retry_after: u64 = over
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        get("dave").await?.status(),
        404,
        "another user is unaffected"
    );
    drop((s2, b1));
    drop(api);
    db.drop_database().await;
    Ok(())
}

#[tokio::test]
async fn every_answer_is_nosniff_and_the_page_has_a_strict_policy() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = Api::start(&db.url, &[]).await?;
    let page = api
        .client
        .get(format!("{}/onboarding/progress?portfolioId=x", api.base))
        .send()
        .await?;
    let h = page.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        h.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..])
    );
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    for path in [
        "/healthz",
        "/api/v1/onboarding/csv-template",
        "/no/such/route",
    ] {
        let r = api.client.get(format!("{}{path}", api.base)).send().await?;
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
    }
    drop(api);
    db.drop_database().await;
    Ok(())
}
