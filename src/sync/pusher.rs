//! The outbox pusher: delivers committed attendance events to the hub.
//!
//! Owns the delivery rules of `docs/hub-api.md` on the kiosk side: one request in flight,
//! oldest first, batches of at most [`MAX_UPLOAD_BATCH`], rows deleted only on
//! `accepted`/`duplicate` (through [`OutboxPort::settle`]), `rejected` parked, whole-batch
//! retry with the same `event_id`s after a capped, jittered backoff, and a permanently
//! refused batch narrowed down to single events so one bad event cannot block the queue.
//!
//! [`Pusher::push_once`] is one attempt and reports a [`PushOutcome`]; [`Pusher::run`] is
//! the loop around it. Time goes through `tokio::time` only (tests pause the clock) and
//! randomness through the injected `StdRng`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::api::{ResultStatus, MAX_UPLOAD_BATCH};
use crate::kiosk::Trouble;
use crate::sanitize::{clean, MESSAGE_MAX};
use crate::sync::backoff::{Backoff, DEFAULT_BASE, DEFAULT_CAP};
use crate::sync::client::{HubClient, SyncError};
use crate::sync::health::{Failure, Health, Loop};
use crate::sync::OutboxPort;

/// While idle, look at the outbox this often even without a wake-up: covers a commit
/// whose notification was lost and a parked event that staff chose to retry.
pub const IDLE_TICK: Duration = Duration::from_secs(30);

/// Tuning of the pusher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PusherConfig {
    /// Events per upload; clamped to `1..=500` (the hub's limit).
    pub batch_max: usize,
    /// First backoff delay after a failure.
    pub base: Duration,
    /// Longest backoff delay (a hub's `Retry-After` may still be longer, up to an hour).
    pub cap: Duration,
}

impl Default for PusherConfig {
    fn default() -> Self {
        PusherConfig {
            batch_max: MAX_UPLOAD_BATCH,
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
        }
    }
}

/// What one [`Pusher::push_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The outbox has nothing pending.
    Idle,
    /// The hub answered 200 for a batch; every result was settled.
    Delivered {
        accepted: usize,
        duplicate: usize,
        rejected: usize,
    },
    /// The hub refused a single event with a 4xx; it was parked with the hub's message so
    /// the events behind it can go.
    Parked { event_id: String, reason: String },
    /// The hub refused a batch of several events with a 4xx: the next attempts send one
    /// event at a time until the refused ones are found and parked. Try again at once.
    Isolating { suspects: usize },
    /// Nothing was stored by the hub (network, 408/429/5xx, unusable answer) or the local
    /// store failed: the whole batch is kept and resent with the same ids after this delay.
    RetryLater(Duration),
    /// The hub refused the device token. The port was told; the pusher must stop.
    Unauthorized,
}

/// What staff and technicians see of the pusher (status bar, `cubby status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PusherStatus {
    /// The last call reached the hub and got an answer it could act on.
    pub online: bool,
    /// The last failure, in words, cleared by the next success.
    pub last_error: Option<String>,
    /// When in backoff: how long until the next attempt (serialized as whole seconds,
    /// rounded up).
    #[serde(serialize_with = "serialize_opt_secs")]
    pub next_retry_in: Option<Duration>,
    /// The hub refused the token: "device needs re-provisioning".
    pub unauthorized: bool,
    /// Wall-clock time of the last batch the hub answered.
    pub last_success_at: Option<DateTime<Utc>>,
}

fn serialize_opt_secs<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            serializer.serialize_some(&secs)
        }
        None => serializer.serialize_none(),
    }
}

/// Delivers the outbox to the hub. See the module docs for the rules it keeps.
pub struct Pusher<P: OutboxPort> {
    port: P,
    client: HubClient,
    rng: StdRng,
    batch_max: usize,
    backoff: Backoff,
    /// Ids of a batch the hub refused as a whole (4xx). While non-empty, events are sent
    /// one at a time so the refused one(s) can be parked and the others delivered.
    suspects: HashSet<String>,
    status: PusherStatus,
    /// Where failures are reported, and whose "hub is back" signal ends a backoff early.
    health: Option<Arc<Health>>,
}

impl<P: OutboxPort> Pusher<P> {
    /// A pusher over `port`. `rng` only jitters the backoff; seed it in tests for a
    /// reproducible schedule, from entropy in production so doors de-synchronise.
    pub fn new(port: P, client: HubClient, rng: StdRng, config: PusherConfig) -> Self {
        Pusher {
            port,
            client,
            rng,
            batch_max: config.batch_max.clamp(1, MAX_UPLOAD_BATCH),
            backoff: Backoff::new(config.base, config.cap),
            suspects: HashSet::new(),
            status: PusherStatus::default(),
            health: None,
        }
    }

    /// Report failures to `health` (upload and disk errors), and end a backoff wait as
    /// soon as another call to the hub succeeds ([`Health::hub_back`]).
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        self.health = Some(health);
        self
    }

    fn report_ok(&self) {
        if let Some(h) = &self.health {
            h.ok(Loop::Upload);
            h.ok(Loop::Disk);
        }
    }

    fn report_failed(&self, which: Loop, failure: Failure) {
        if let Some(h) = &self.health {
            h.failed(which, failure);
        }
    }

    /// The status as of the last attempt.
    pub fn status(&self) -> &PusherStatus {
        &self.status
    }

    /// The storage port (tests and shutdown code inspect it).
    pub fn port(&self) -> &P {
        &self.port
    }

    /// The storage port, to commit to it between deliveries (benchmarks, tests).
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// One delivery attempt: at most one upload request.
    ///
    /// Cancellation-safe at every await point: if the future is dropped mid-request the
    /// outbox is untouched and the same ids go again later (the hub is idempotent).
    pub async fn push_once(&mut self) -> PushOutcome {
        let batch = match self.next_batch() {
            Ok(batch) => batch,
            Err(e) => return self.store_failed("read the outbox", &e),
        };
        if batch.is_empty() {
            self.suspects.clear();
            self.status.next_retry_in = None;
            return PushOutcome::Idle;
        }
        let ids: Vec<String> = batch.iter().map(|e| e.event_id.clone()).collect();
        tracing::debug!(events = ids.len(), first = %ids[0], "uploading");

        match self.client.upload(&batch).await {
            Ok(response) => {
                let (mut accepted, mut duplicate, mut rejected) = (0, 0, 0);
                let verdicts: Vec<(String, ResultStatus, Option<String>)> = response
                    .results
                    .into_iter()
                    .map(|r| {
                        match r.status {
                            ResultStatus::Accepted => accepted += 1,
                            ResultStatus::Duplicate => duplicate += 1,
                            ResultStatus::Rejected => rejected += 1,
                        }
                        // The reason is shown to staff: cleaned and capped, never logged.
                        let reason = match r.status {
                            ResultStatus::Rejected => Some(
                                r.reason
                                    .map(|t| clean(&t, MESSAGE_MAX))
                                    .filter(|t| !t.is_empty())
                                    .unwrap_or_else(|| {
                                        "rejected by the hub (no reason given)".into()
                                    }),
                            ),
                            _ => r.reason.map(|t| clean(&t, MESSAGE_MAX)),
                        };
                        (r.event_id, r.status, reason)
                    })
                    .collect();
                if let Err(e) = self.port.settle(&verdicts) {
                    // The hub holds the events; resending them yields `duplicate`, so
                    // retrying after a store failure cannot lose or double anything.
                    return self.store_failed("record the hub's answer", &e);
                }
                if rejected > 0 {
                    tracing::warn!(rejected, "hub rejected events; parked for staff");
                }
                self.answered(&ids);
                self.report_ok();
                self.status.last_success_at = Some(Utc::now());
                PushOutcome::Delivered {
                    accepted,
                    duplicate,
                    rejected,
                }
            }
            Err(SyncError::Unauthorized) => {
                tracing::warn!("hub refused the device token; pusher stops");
                if let Err(e) = self.port.set_unauthorized(true) {
                    tracing::error!(error = %e, "could not record the refused token");
                }
                self.status.online = true;
                self.status.unauthorized = true;
                self.status.next_retry_in = None;
                self.status.last_error = Some(SyncError::Unauthorized.to_string());
                self.report_failed(Loop::Upload, Failure::of(&SyncError::Unauthorized));
                PushOutcome::Unauthorized
            }
            Err(SyncError::Permanent { status, .. }) if endpoint_missing(status) => {
                // A 404/405 on the upload endpoint says the URL is wrong, not that this
                // event is: parking every event one by one would bury staff in errors.
                let err = SyncError::Permanent {
                    status,
                    code: "endpoint_missing".into(),
                    message: "the hub has no upload endpoint at this URL; check the hub URL".into(),
                };
                self.retry_later(&ids, &err)
            }
            Err(SyncError::Permanent {
                status,
                code,
                message,
            }) if batch.len() == 1 => {
                // The code is logged; the message is for staff only (it may name people).
                let event_id = ids[0].clone();
                tracing::warn!(%event_id, status, %code, "hub refused an event; parked");
                let reason = if message.is_empty() {
                    code
                } else {
                    format!("{message} ({code})")
                };
                if let Err(e) = self.port.park(&event_id, &reason) {
                    return self.store_failed("park a refused event", &e);
                }
                self.answered(&ids);
                self.report_ok();
                PushOutcome::Parked { event_id, reason }
            }
            Err(err @ SyncError::Permanent { .. }) => {
                tracing::warn!(events = ids.len(), error = %err.log_text(), "hub refused a batch; isolating");
                self.report_failed(Loop::Upload, Failure::of(&err));
                if let Err(e) = self.port.note_failure(&ids, &err.to_string()) {
                    tracing::error!(error = %e, "could not note the failed attempt");
                }
                self.backoff.reset();
                self.status.online = true;
                self.status.next_retry_in = None;
                self.status.last_error = Some(err.to_string());
                self.suspects = ids.into_iter().collect();
                PushOutcome::Isolating {
                    suspects: self.suspects.len(),
                }
            }
            Err(err) => self.retry_later(&ids, &err),
        }
    }

    /// The next batch to send: the oldest `batch_max` events, or only the oldest one
    /// while isolating a refused batch.
    fn next_batch(&mut self) -> anyhow::Result<Vec<crate::api::Event>> {
        if self.suspects.is_empty() {
            return self.port.pending_batch(self.batch_max);
        }
        let head = self.port.pending_batch(1)?;
        match head.first() {
            Some(e) if self.suspects.contains(&e.event_id) => Ok(head),
            // The suspects left the queue by other means (staff dismissed them): back to
            // full batches.
            _ => {
                self.suspects.clear();
                self.port.pending_batch(self.batch_max)
            }
        }
    }

    /// Bookkeeping after the hub gave an answer we could act on.
    fn answered(&mut self, ids: &[String]) {
        for id in ids {
            self.suspects.remove(id);
        }
        self.backoff.reset();
        self.status.online = true;
        self.status.last_error = None;
        self.status.next_retry_in = None;
    }

    /// Nothing is known stored: keep every row, resend the same ids after backoff.
    fn retry_later(&mut self, ids: &[String], err: &SyncError) -> PushOutcome {
        let message = err.to_string();
        if let Err(e) = self.port.note_failure(ids, &message) {
            tracing::error!(error = %e, "could not note the failed attempt");
        }
        let delay = self
            .backoff
            .next_delay_honouring(err.retry_after(), &mut self.rng);
        tracing::debug!(error = %err.log_text(), retry_in = ?delay, events = ids.len(), "upload failed; will retry");
        self.report_failed(Loop::Upload, Failure::of(err));
        self.status.online = false;
        self.status.last_error = Some(message);
        self.status.next_retry_in = Some(delay);
        PushOutcome::RetryLater(delay)
    }

    /// Local storage failed: nothing to do but wait and try again.
    fn store_failed(&mut self, doing: &str, err: &anyhow::Error) -> PushOutcome {
        let delay = self.backoff.next_delay(&mut self.rng);
        let message = format!("could not {doing} in local storage: {err:#}");
        tracing::error!(error = %message, retry_in = ?delay, "outbox storage failed");
        self.report_failed(Loop::Disk, Failure::new(Trouble::Disk, message.clone()));
        self.status.last_error = Some(message);
        self.status.next_retry_in = Some(delay);
        PushOutcome::RetryLater(delay)
    }

    /// The pusher's loop, until shutdown or a refused token.
    ///
    /// - Work pending: push again at once (yielding between batches).
    /// - Idle: wait for `wake` (signal it with `notify_one` after each commit, so a commit
    ///   made while a request is in flight is not lost) or [`IDLE_TICK`].
    /// - Backoff: sleep the delay. A commit does not shorten it; shutdown does, and so
    ///   does any other successful call to the hub when [`with_health`](Self::with_health)
    ///   was given (the hub is back: no reason to sit out a long `Retry-After`).
    /// - Refused token: publish `unauthorized` and return.
    ///
    /// `shutdown` becoming `true`, or its sender being dropped, stops the loop, also in
    /// the middle of a request (see [`push_once`](Self::push_once) on cancellation).
    /// `status` is updated after every attempt.
    pub async fn run(
        mut self,
        wake: Arc<Notify>,
        status: watch::Sender<PusherStatus>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut hub_back = self.health.as_ref().map(|h| h.hub_back());
        loop {
            let outcome = tokio::select! {
                biased;
                () = shutdown_signalled(&mut shutdown) => break,
                outcome = self.push_once() => outcome,
            };
            status.send_replace(self.status.clone());
            match outcome {
                PushOutcome::Idle => {
                    tokio::select! {
                        biased;
                        () = shutdown_signalled(&mut shutdown) => break,
                        () = wake.notified() => {}
                        () = tokio::time::sleep(IDLE_TICK) => {}
                    }
                }
                PushOutcome::Delivered { .. }
                | PushOutcome::Parked { .. }
                | PushOutcome::Isolating { .. } => tokio::task::yield_now().await,
                PushOutcome::RetryLater(delay) => {
                    if let Some(rx) = hub_back.as_mut() {
                        rx.borrow_and_update();
                    }
                    tokio::select! {
                        biased;
                        () = shutdown_signalled(&mut shutdown) => break,
                        () = tokio::time::sleep(delay) => {}
                        () = hub_answers(hub_back.as_mut()) => {
                            tracing::debug!("the hub answers again; retrying now");
                        }
                    }
                }
                PushOutcome::Unauthorized => return,
            }
        }
        tracing::debug!("pusher stopped");
    }
}

/// Resolves when the "hub is back" counter changes; never without one (or once its
/// sender is gone).
async fn hub_answers(rx: Option<&mut watch::Receiver<u64>>) {
    if let Some(rx) = rx {
        if rx.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

/// 404/405 on the upload endpoint mean a wrong hub URL, never a bad event.
fn endpoint_missing(status: u16) -> bool {
    matches!(status, 404 | 405)
}

/// Resolves once shutdown is requested (`true`) or can no longer be requested because
/// the sender is gone; either way the owner is going away.
pub(crate) async fn shutdown_signalled(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_retry_delay_as_whole_seconds() {
        let status = PusherStatus {
            next_retry_in: Some(Duration::from_millis(2_100)),
            ..PusherStatus::default()
        };
        let v = serde_json::to_value(&status).unwrap();
        assert_eq!(v["next_retry_in"], 3);
        assert_eq!(v["online"], false);
        let v = serde_json::to_value(PusherStatus::default()).unwrap();
        assert!(v["next_retry_in"].is_null());
    }

    #[test]
    fn batch_size_is_clamped_to_the_hub_limit() {
        let client = HubClient::new("http://127.0.0.1:9", None, Duration::from_secs(1)).unwrap();
        struct Nothing;
        impl OutboxPort for Nothing {
            fn pending_batch(&mut self, _: usize) -> anyhow::Result<Vec<crate::api::Event>> {
                Ok(vec![])
            }
            fn settle(
                &mut self,
                _: &[(String, ResultStatus, Option<String>)],
            ) -> anyhow::Result<()> {
                Ok(())
            }
            fn park(&mut self, _: &str, _: &str) -> anyhow::Result<()> {
                Ok(())
            }
            fn note_failure(&mut self, _: &[String], _: &str) -> anyhow::Result<()> {
                Ok(())
            }
            fn set_unauthorized(&mut self, _: bool) -> anyhow::Result<()> {
                Ok(())
            }
        }
        let rng = <StdRng as rand::SeedableRng>::seed_from_u64(1);
        let config = PusherConfig {
            batch_max: 10_000,
            ..PusherConfig::default()
        };
        let p = Pusher::new(Nothing, client.clone(), rng.clone(), config);
        assert_eq!(p.batch_max, MAX_UPLOAD_BATCH);
        let config = PusherConfig {
            batch_max: 0,
            ..PusherConfig::default()
        };
        assert_eq!(Pusher::new(Nothing, client, rng, config).batch_max, 1);
    }

    #[tokio::test]
    async fn shutdown_resolves_on_true_or_dropped_sender() {
        let (tx, mut rx) = watch::channel(false);
        tx.send_replace(true);
        shutdown_signalled(&mut rx).await;
        let (tx, mut rx) = watch::channel(false);
        drop(tx);
        shutdown_signalled(&mut rx).await;
    }
}
