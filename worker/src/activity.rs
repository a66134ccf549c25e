//! Batched activity entries: pushed in memory, written in one fenced statement at most every
//! 250 ms and at every phase end, so progress costs little.

use chrono::Utc;
use sigmasight_shared::db::activity::{self, NewEntry};
use sqlx::PgPool;
use std::sync::Mutex;
use uuid::Uuid;

/// How often the background flusher writes.
pub const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// The pending entries of one attempt.
pub struct ActivityBuffer {
    pool: PgPool,
    run_id: Uuid,
    attempt: i32,
    pending: Mutex<Vec<NewEntry>>,
}

impl ActivityBuffer {
    /// A buffer for one attempt.
    pub fn new(pool: PgPool, run_id: Uuid, attempt: i32) -> Self {
        Self {
            pool,
            run_id,
            attempt,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Adds an entry stamped now; written at the next flush.
    pub fn push(
        &self,
        level: sigmasight_shared::domain::ActivityLevel,
        phase_id: Option<&'static str>,
        message: String,
        debug: bool,
    ) {
        let entry = NewEntry {
            ts: Utc::now(),
            level,
            phase_id,
            message,
            debug,
        };
        match self.pending.lock() {
            Ok(mut pending) => pending.push(entry),
            Err(poisoned) => poisoned.into_inner().push(entry),
        }
    }

    /// Takes what is pending, to be written by the caller (the end of a nightly child);
    /// [`count_written`] once written.
    pub fn take(&self) -> Vec<NewEntry> {
        match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Writes what is pending. Ok(false) when the attempt no longer holds its lease.
    pub async fn flush(&self) -> Result<bool, sqlx::Error> {
        let entries = self.take();
        if entries.is_empty() {
            return Ok(true);
        }
        let written =
            activity::insert_batch(&self.pool, self.run_id, self.attempt, &entries).await?;
        if written {
            count_written(&entries);
        }
        Ok(written)
    }
}

/// Adds written entries to the activity counter, by level (`debug` for debug entries).
pub fn count_written(entries: &[NewEntry]) {
    let mut by_level: Vec<(&'static str, u64)> = Vec::new();
    for entry in entries {
        let level = if entry.debug {
            "debug"
        } else {
            entry.level.as_str()
        };
        match by_level.iter_mut().find(|(l, _)| *l == level) {
            Some((_, n)) => *n += 1,
            None => by_level.push((level, 1)),
        }
    }
    for (level, n) in by_level {
        metrics::counter!(sigmasight_shared::metrics::ACTIVITY_ROWS, "level" => level).increment(n);
    }
}
