//! What a technician needs to see of the kiosk's background loops: the last error of
//! each (upload, roster, peers, heartbeat, disk), and the "hub is back" signal.
//!
//! Every loop reports its outcome here. A failure is logged at WARN when it *changes*
//! (a new error, or a different one), not on every retry, so a hub that is down for a
//! day writes one line, not ten thousand; a recovery is logged at INFO. The snapshot
//! ([`Health::snapshot`]) feeds the staff screen, `cubby status` (through the store's
//! `meta` table, written by the kiosk task) and the heartbeat.
//!
//! Any successful call to the hub (roster, peers, heartbeat, upload) bumps a counter the
//! pusher watches ([`Health::hub_back`]): a pusher waiting out a long backoff or
//! `Retry-After` goes at once when another loop proves the hub answers again.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::api::LastErrors;

/// One of the kiosk's loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    Upload,
    Roster,
    Peers,
    Heartbeat,
    Disk,
}

impl Loop {
    pub fn as_str(self) -> &'static str {
        match self {
            Loop::Upload => "upload",
            Loop::Roster => "roster",
            Loop::Peers => "peers",
            Loop::Heartbeat => "heartbeat",
            Loop::Disk => "disk",
        }
    }

    fn slot(self, errors: &mut LastErrors) -> &mut Option<String> {
        match self {
            Loop::Upload => &mut errors.upload,
            Loop::Roster => &mut errors.roster,
            Loop::Peers => &mut errors.peers,
            Loop::Heartbeat => &mut errors.heartbeat,
            Loop::Disk => &mut errors.disk,
        }
    }
}

/// Shared by every loop of one kiosk (`Arc<Health>`).
#[derive(Debug)]
pub struct Health {
    /// What staff see: the error in plain words (hub text cleaned).
    shown: Mutex<LastErrors>,
    /// What was last logged per loop, to log only on change.
    logged: Mutex<LastErrors>,
    back: watch::Sender<u64>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            shown: Mutex::new(LastErrors::NONE),
            logged: Mutex::new(LastErrors::NONE),
            back: watch::channel(0).0,
        }
    }
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// `which` worked: its error is cleared (logged once at INFO). A loop that talks to
    /// the hub also tells a waiting pusher that the hub answers again.
    pub fn ok(&self, which: Loop) {
        let had = lock(&self.shown, |e| which.slot(e).take());
        lock(&self.logged, |e| which.slot(e).take());
        if had.is_some() {
            tracing::info!(what = which.as_str(), "working again");
        }
        if which != Loop::Disk {
            self.back.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// `which` failed: `shown` is what staff read (already cleaned), `logged` what may
    /// go to the journal (codes and ids only, no hub prose). Logged at WARN only when
    /// it differs from the last logged error of that loop.
    pub fn failed(&self, which: Loop, shown: &str, logged: &str) {
        self.record_failure(which, shown, logged);
    }

    /// [`failed`](Self::failed), returning whether the failure was logged.
    fn record_failure(&self, which: Loop, shown: &str, logged: &str) -> bool {
        lock(&self.shown, |e| *which.slot(e) = Some(shown.to_string()));
        let changed = lock(&self.logged, |e| {
            let slot = which.slot(e);
            let changed = slot.as_deref() != Some(logged);
            *slot = Some(logged.to_string());
            changed
        });
        if changed {
            tracing::warn!(what = which.as_str(), error = %logged, "failing");
        }
        changed
    }

    /// The last error of every loop.
    pub fn snapshot(&self) -> LastErrors {
        lock(&self.shown, |e| e.clone())
    }

    /// Changes each time a call to the hub succeeds.
    pub fn hub_back(&self) -> watch::Receiver<u64> {
        self.back.subscribe()
    }
}

/// A poisoned lock still holds valid text: use it rather than lose the report.
fn lock<T>(m: &Mutex<LastErrors>, f: impl FnOnce(&mut LastErrors) -> T) -> T {
    let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_kept_per_loop_and_cleared_by_success() {
        let h = Health::new();
        h.failed(Loop::Roster, "hub unreachable: connection refused", "x");
        h.failed(Loop::Disk, "read-only", "read-only");
        let s = h.snapshot();
        assert_eq!(
            s.roster.as_deref(),
            Some("hub unreachable: connection refused")
        );
        assert_eq!(s.disk.as_deref(), Some("read-only"));
        assert_eq!(s.upload, None);
        h.ok(Loop::Roster);
        assert_eq!(h.snapshot().roster, None);
        assert_eq!(h.snapshot().disk.as_deref(), Some("read-only"));
    }

    #[test]
    fn a_failure_is_logged_when_it_changes_not_on_every_retry() {
        let h = Health::new();
        let mut logged = 0;
        for _ in 0..1000 {
            logged +=
                usize::from(h.record_failure(Loop::Upload, "unreachable (shown)", "unreachable"));
        }
        assert_eq!(logged, 1, "a hub down for 1000 retries logs once");
        assert!(h.record_failure(
            Loop::Upload,
            "503",
            "hub temporarily unavailable (HTTP 503)"
        ));
        assert!(
            h.record_failure(Loop::Roster, "unreachable", "unreachable"),
            "per loop"
        );
        h.ok(Loop::Upload);
        assert!(
            h.record_failure(Loop::Upload, "again", "unreachable"),
            "after a recovery"
        );
    }

    #[test]
    fn a_hub_success_bumps_hub_back_but_a_disk_success_does_not() {
        let h = Health::new();
        let mut rx = h.hub_back();
        rx.borrow_and_update();
        h.ok(Loop::Disk);
        assert!(!rx.has_changed().unwrap());
        h.ok(Loop::Heartbeat);
        assert!(rx.has_changed().unwrap());
    }
}
