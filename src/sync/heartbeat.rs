//! The heartbeat loop: tells the hub this door is alive and how its queue looks, so a
//! technician can spot a silent or stuck kiosk (`POST /devices/heartbeat`).
//!
//! Best-effort by design: a failed heartbeat is logged at debug and simply not resent;
//! the next tick carries fresher numbers anyway. Only a refused token stops it, because
//! the contract says a revoked kiosk stops calling.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::api::Heartbeat;
use crate::sync::client::{HubClient, SyncError};
use crate::sync::pusher::shutdown_signalled;

/// Shortest accepted interval: protects the hub from a misconfigured `0`.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Send a heartbeat at once, then every `interval` (ticks missed while a call was slow are
/// skipped, not bunched up), until `shutdown` turns `true` (or its sender is dropped) or
/// the hub refuses the token. `make` builds each heartbeat from the kiosk's current state.
pub async fn run_heartbeat(
    client: HubClient,
    interval: Duration,
    make: impl Fn() -> Heartbeat + Send,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval.max(MIN_INTERVAL));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            _ = ticker.tick() => {}
        }
        let heartbeat = make();
        let result = tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            result = client.heartbeat(&heartbeat) => result,
        };
        match result {
            Ok(()) => tracing::trace!("heartbeat sent"),
            Err(SyncError::Unauthorized) => {
                tracing::warn!("hub refused the device token; heartbeat stops");
                return;
            }
            Err(e) => tracing::debug!(error = %e, "heartbeat failed (best-effort)"),
        }
    }
    tracing::debug!("heartbeat stopped");
}
