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
use axum::routing::get;
use axum::Router;
use futures::stream::{self, Stream};
use sigmasight_shared::status;
use sqlx::PgPool;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

/// Changes arriving this close together are answered with one reload.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Event-stream routes.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/onboarding/status/{portfolio_id}/events",
        get(status_events),
    )
}

struct Watch {
    db: PgPool,
    portfolio_id: Uuid,
    run_id: Option<Uuid>,
    rx: broadcast::Receiver<RunChange>,
    first: bool,
    done: bool,
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

async fn status_events(
    State(state): State<AppState>,
    QueryReadablePortfolio(ReadablePortfolio { portfolio, .. }): QueryReadablePortfolio,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe before the first load so no change between the two is missed.
    let watch = Watch {
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
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
