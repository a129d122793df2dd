//! Everything that talks to the hub from the kiosk side.
//!
//! - `client`: one method per endpoint of `docs/hub-api.md`, every failure classified once
//!   into [`client::SyncError`] (network / transient with Retry-After / permanent / unauthorized).
//! - `backoff`: capped exponential backoff with jitter (pure, randomness injected).
//! - `pusher`: the outbox pusher. Wakes on every commit, one request in flight, oldest first,
//!   batches of at most 500, deletes rows only on `accepted`/`duplicate`, parks `rejected`.
//! - `heartbeat`: best-effort `POST /devices/heartbeat` loop; stops on a refused token.
//! - `puller`: roster puller (full then `since`) and peer-event puller.
//! - `health`: the last error of each loop (logged on change) and the "hub is back" signal.
//!
//! Hub text is cleaned by `cubby_core::sanitize` before it reaches a log line or a screen.

pub mod backoff;
pub mod client;
pub mod health;
pub mod heartbeat;
#[cfg(test)]
mod proptests;
pub mod puller;
pub mod pusher;

use crate::api::{Event, ResultStatus};

/// What the pusher needs from durable storage. Implemented by `store::Store` on a real
/// SQLite file; the pusher never sees SQL.
pub trait OutboxPort: Send {
    /// Up to `max` pending (not parked) events, oldest first (by local commit order).
    fn pending_batch(&mut self, max: usize) -> anyhow::Result<Vec<Event>>;
    /// Record the hub's verdict for each event. `Accepted`/`Duplicate` delete the outbox
    /// row; `Rejected` parks it with the reason (kept, visible, retryable).
    ///
    /// Must tolerate ids it already settled: if it fails, the pusher resends the batch
    /// and settles the hub's `duplicate` answers for the same ids.
    fn settle(&mut self, results: &[(String, ResultStatus, Option<String>)]) -> anyhow::Result<()>;
    /// Park one event with a reason (a permanent error for that single event).
    fn park(&mut self, event_id: &str, reason: &str) -> anyhow::Result<()>;
    /// Note a failed attempt on the batch (for status displays); does not park.
    fn note_failure(&mut self, event_ids: &[String], error: &str) -> anyhow::Result<()>;
    /// The device's token was refused (401): remember it so staff see "re-provision".
    fn set_unauthorized(&mut self, unauthorized: bool) -> anyhow::Result<()>;
}
