//! The accept loop: hyper connections with a header read timeout, an idle timeout (in
//! requests, for HTTP/1 and HTTP/2 alike), a cap on open connections and a lingering read
//! of refused bodies, drained on shutdown. (axum's `serve` has none of these knobs.)

use crate::limits::LimitsConfig;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt as _;
use hyper::body::Body as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// How long shutdown waits for open connections (event streams end at once; a stuck client
/// is cut after this).
const DRAIN: Duration = Duration::from_secs(10);
/// After an idle connection is asked to close, how long it may take before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long a refused connection's 503 may take to write.
const REFUSE_WRITE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves; `closing` is set then (event
/// streams watch it and end), and open connections get [`DRAIN`] to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: LimitsConfig,
    closing: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_open_connections as usize));
    let mut stop = closing.subscribe();
    stop.mark_unchanged();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tasks.spawn(connection(
                    stream,
                    router.clone(),
                    limits.clone(),
                    stop.clone(),
                    permit,
                ));
            }
            Err(_) => {
                tasks.spawn(refuse(stream));
            }
        }
    }
    let _ = closing.send(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "connections still open after the drain; cut"
        );
    }
    Ok(())
}

/// Answers a connection over the cap with a 503 envelope, then closes it.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    let body = r#"{"error":{"code":"too_many_connections","message":"The server has too many open connections; try again shortly","details":null}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nx-content-type-options: nosniff\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_WRITE, async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Most of a request body the server reads and drops after refusing it (nginx's "lingering
/// close"): a client that writes its whole upload before reading (urllib, a browser's form
/// post) then reads the answer instead of a connection reset. Counted from the body's first
/// byte; the body timeout bounds it too.
pub const LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// One connection: served until it ends, is idle too long, or the server stops.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: LimitsConfig,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    activity.touch();
    let io = TokioIo::new(stream);
    let in_flight = activity.clone();
    let body_timeout = limits.body_timeout;
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            let guard = InFlight::begin(in_flight.clone());
            let deadline = tokio::time::Instant::now() + body_timeout;
            let request = if request.version() <= hyper::Version::HTTP_11 {
                request.map(|body| Body::new(Lingering::new(body, deadline, in_flight.clone())))
            } else {
                // HTTP/2 ends an unread request stream on its own (RST_STREAM after the
                // answer); the connection and its other streams go on.
                request.map(Body::new)
            };
            async move {
                let response = router.oneshot(request).await;
                // The request stays open until its answer's last byte is handed over.
                response.map(|r| {
                    r.map(|body| Guarded {
                        body,
                        _guard: guard,
                    })
                })
            }
        });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(32);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let idle = limits.idle_timeout;
    let check = (idle / 4).clamp(Duration::from_millis(20), Duration::from_secs(5));
    let mut cut_at: Option<tokio::time::Instant> = None;
    loop {
        let closing = cut_at.is_some();
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                cut_at = Some(tokio::time::Instant::now() + DRAIN);
            }
            () = tokio::time::sleep(check), if !closing => {
                if activity.in_flight() == 0 && activity.idle_for() >= idle {
                    tracing::debug!(idle_secs = idle.as_secs_f64(), "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    cut_at = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
            }
            () = tokio::time::sleep_until(cut_at.unwrap_or_else(tokio::time::Instant::now)), if closing => {
                tracing::debug!("connection did not close in time; cut");
                return;
            }
        }
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// How many requests of a connection are open (from their headers to the last byte of
/// their answer, or of a refused body's drain), and when the last one began or ended.
/// Idleness is counted in requests, not bytes: HTTP/2 PINGs, or any traffic that is not a
/// request, never keep a connection open (a half-sent HTTP/1 request head is the header
/// timeout's).
#[derive(Debug, Default)]
struct Activity {
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// An open request (or a refused body being drained) of a connection.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// An answer's body that keeps its request open (an [`InFlight`]) until hyper drops it:
/// at its end, or when the client goes away. An event stream is a request for its lifetime.
struct Guarded {
    body: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Guarded {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// An HTTP/1 request body that, when dropped unread (a handler refused the request early),
/// goes on reading and dropping the rest in a task of its own, up to [`LINGER_BYTES`] in all
/// and the body deadline, so the answer reaches a client that writes before it reads. Past
/// either bound the body is dropped and hyper closes the connection.
struct Lingering {
    body: Option<hyper::body::Incoming>,
    read: u64,
    deadline: tokio::time::Instant,
    activity: Arc<Activity>,
}

impl Lingering {
    fn new(
        body: hyper::body::Incoming,
        deadline: tokio::time::Instant,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            body: Some(body),
            read: 0,
            deadline,
            activity,
        }
    }
}

impl hyper::body::Body for Lingering {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                self.read = self.read.saturating_add(n);
            }
            // Read to its end (or broken): nothing is left to drain.
            Poll::Ready(None | Some(Err(_))) => self.body = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body
            .as_ref()
            .is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.as_ref().map_or_else(
            || hyper::body::SizeHint::with_exact(0),
            hyper::body::Body::size_hint,
        )
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(body) = self.body.take() else {
            return;
        };
        if hyper::body::Body::is_end_stream(&body) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let budget = LINGER_BYTES.saturating_sub(self.read);
        let guard = InFlight::begin(self.activity.clone());
        runtime.spawn(discard(body, budget, self.deadline, guard));
    }
}

/// Reads and drops `body` until its end, `budget` bytes, or `deadline`, whichever first.
async fn discard(
    mut body: hyper::body::Incoming,
    budget: u64,
    deadline: tokio::time::Instant,
    _guard: InFlight,
) {
    let drain = async {
        let mut left = budget;
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
            let n = match frame {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => frame.data_ref().map_or(0, |d| d.len() as u64),
            };
            if n > left {
                return false;
            }
            left -= n;
        }
    };
    let drained = matches!(tokio::time::timeout_at(deadline, drain).await, Ok(true));
    tracing::debug!(drained, "the unread rest of a refused request body");
}

/// The body read timeout: a request body must arrive whole within `timeout` of the request's
/// start (a trickled upload is cut, however steadily it trickles). A cut body answers 408
/// `body_timeout`, whatever the handler made of the truncated read.
pub async fn body_deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let (parts, body) = request.into_parts();
    let stream =
        futures::stream::unfold((body.into_data_stream(), false), move |(mut data, done)| {
            let flag = flag.clone();
            async move {
                if done {
                    return None;
                }
                match tokio::time::timeout_at(deadline, data.next()).await {
                    Ok(Some(chunk)) => Some((chunk, (data, false))),
                    Ok(None) => None,
                    Err(_) => {
                        flag.store(true, Ordering::Relaxed);
                        Some((
                            Err(axum::Error::new(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "request body timeout",
                            ))),
                            (data, true),
                        ))
                    }
                }
            }
        });
    let request = Request::from_parts(parts, Body::from_stream(stream));
    let response = next.run(request).await;
    if timed_out.load(Ordering::Relaxed) {
        let message = format!(
            "The request body did not arrive within {} s",
            timeout.as_secs_f64()
        );
        let body = serde_json::json!({
            "error": { "code": "body_timeout", "message": message, "details": null }
        });
        let mut r = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
        r.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        return r;
    }
    response
}
