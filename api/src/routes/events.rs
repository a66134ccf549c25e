//! `GET /api/v1/onboarding/status/{portfolio_id}/events`: the status document as Server-Sent
//! Events. The current status is sent at once, then again whenever the shared listener
//! reports a change of the portfolio's run (no polling per client); the stream ends after a
//! terminal status. Auth as status, plus `?access_token=` (EventSource sends no headers).

use crate::error::ApiError;
use crate::events::RunChange;
use crate::extract::{QueryReadablePortfolio, ReadablePortfolio};
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt as _};
use sigmasight_shared::status;
use sqlx::PgPool;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Changes arriving this close together are answered with one reload.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Event-stream routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status_events))
}

struct Watch {
    db: PgPool,
    portfolio_id: Uuid,
    run_id: Option<Uuid>,
    rx: broadcast::Receiver<RunChange>,
    first: bool,
    done: bool,
    /// The user's stream slot, freed when the stream ends.
    _slot: crate::limits::StreamSlot,
}

/// The document's status (a run status, or `not_found`) is one nothing follows.
fn is_terminal(status: &str) -> bool {
    status
        .parse::<sigmasight_shared::domain::RunStatus>()
        .is_ok_and(|s| s.is_terminal())
}

impl Watch {
    /// Waits for a change that concerns this portfolio; false when the channel closed.
    async fn changed(&mut self) -> bool {
        loop {
            match self.rx.recv().await {
                Ok(change) if change.concerns(self.portfolio_id, self.run_id) => break,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return false,
            }
        }
        // Fold the burst that usually follows (progress, activity, phase rows) into one load.
        tokio::time::sleep(DEBOUNCE).await;
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = self.rx.try_recv() {}
        true
    }

    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        if !self.first && !self.changed().await {
            return None;
        }
        self.first = false;
        let doc = match status::load(&self.db, self.portfolio_id).await {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(error = %e, "status stream could not load the status");
                self.done = true;
                return Some(Event::default().event("error").data("status unavailable"));
            }
        };
        self.run_id = doc.run_id;
        self.done = is_terminal(&doc.status);
        match Event::default().event("status").json_data(&doc) {
            Ok(event) => Some(event),
            Err(e) => {
                tracing::warn!(error = %e, "status stream could not encode the status");
                None
            }
        }
    }
}

/// The status document as Server-Sent Events: sent at once, then on every change of the
/// portfolio's run, ending after a terminal status (keep-alive comments every 15 s).
#[utoipa::path(
    get,
    path = "/api/v1/onboarding/status/{portfolio_id}/events",
    tag = "onboarding",
    params(("portfolio_id" = Uuid, Path, description = "The portfolio")),
    security(("bearer" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "`text/event-stream` of `status` events, each `data:` an OnboardingStatus document",
            content_type = "text/event-stream", body = sigmasight_shared::status::OnboardingStatus),
        (status = 404, description = "No such portfolio, or not the caller's (not_found)", body = crate::openapi::ErrorEnvelope),
        (status = 429, description = "Too many open streams for the user or the server (too_many_streams), with Retry-After", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn status_events(
    State(state): State<AppState>,
    QueryReadablePortfolio(ReadablePortfolio { portfolio, user }): QueryReadablePortfolio,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state.limits.open_stream(&user.sub)?;
    let mut closing = state.closing.subscribe();
    // Subscribe before the first load so no change between the two is missed.
    let watch = Watch {
        _slot: slot,
        rx: state.events.subscribe(),
        db: state.db.clone(),
        portfolio_id: portfolio.id,
        run_id: None,
        first: true,
        done: false,
    };
    let stream = stream::unfold(watch, |mut w| async move {
        let event = w.next_event().await?;
        Some((Ok(event), w))
    })
    // The server is stopping: end the stream (EventSource reconnects to another replica).
    .take_until(async move {
        if closing.wait_for(|c| *c).await.is_err() {
            // The state (and its sender) is gone without a stop: never end for that.
            std::future::pending::<()>().await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
