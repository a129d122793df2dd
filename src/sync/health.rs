//! What a technician needs to see of the kiosk's background loops: the last error of
//! each (upload, roster, peers, heartbeat, disk), and the "hub is back" signal.
//!
//! Every loop reports its outcome here. A failure is logged at WARN when it *changes*
//! (a new error, or a different one), not on every retry, so a hub that is down for a
//! day writes one line, not ten thousand; a recovery is logged at INFO. Each failure is
//! classified once ([`Failure`]): its [`Trouble`] ([`Health::troubles`]) is what the staff
//! and sync screens say, in the door's language; its technical text
//! ([`Health::snapshot`]) feeds `cubby status` (through the store's `meta` table, written
//! by the kiosk task), systemd's STATUS and the heartbeat.
//!
//! Any successful call to the hub (roster, peers, heartbeat, upload) bumps a counter the
//! pusher watches ([`Health::hub_back`]): a pusher waiting out a long backoff or
//! `Retry-After` goes at once when another loop proves the hub answers again.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::api::LastErrors;
use crate::kiosk::{LoopTroubles, Trouble};
use crate::sync::client::SyncError;

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

    fn trouble(self, t: &mut LoopTroubles) -> &mut Option<Trouble> {
        match self {
            Loop::Upload => &mut t.upload,
            Loop::Roster => &mut t.roster,
            Loop::Peers => &mut t.peers,
            Loop::Heartbeat => &mut t.heartbeat,
            Loop::Disk => &mut t.disk,
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

/// One failure of a loop, classified once: what the screens say ([`Trouble`], in the
/// door's language), the technical text of `cubby status` and the heartbeat (`shown`,
/// hub text cleaned), and what may go to the journal (`logged`: codes and ids only).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub trouble: Trouble,
    pub shown: String,
    pub logged: String,
}

impl Failure {
    /// A failure whose text may be shown and logged as it is.
    pub fn new(trouble: Trouble, text: impl Into<String>) -> Failure {
        let text = text.into();
        Failure {
            trouble,
            shown: text.clone(),
            logged: text,
        }
    }

    /// A failed call to the hub.
    pub fn of(e: &SyncError) -> Failure {
        Failure {
            trouble: e.trouble(),
            shown: e.to_string(),
            logged: e.log_text(),
        }
    }
}

/// Shared by every loop of one kiosk (`Arc<Health>`).
#[derive(Debug)]
pub struct Health {
    /// What the screens say of each loop.
    troubles: Mutex<LoopTroubles>,
    /// The technical text (hub text cleaned): `cubby status` and the heartbeat.
    shown: Mutex<LastErrors>,
    /// What was last logged per loop, to log only on change.
    logged: Mutex<LastErrors>,
    back: watch::Sender<u64>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            troubles: Mutex::new(LoopTroubles::NONE),
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
        lock(&self.troubles, |t| which.trouble(t).take());
        let had = lock(&self.shown, |e| which.slot(e).take());
        lock(&self.logged, |e| which.slot(e).take());
        if had.is_some() {
            tracing::info!(what = which.as_str(), "working again");
        }
        if which != Loop::Disk {
            self.back.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// `which` failed. Logged at WARN only when its `logged` text differs from the last
    /// logged error of that loop.
    pub fn failed(&self, which: Loop, failure: Failure) {
        self.record_failure(which, failure);
    }

    /// [`failed`](Self::failed), returning whether the failure was logged.
    fn record_failure(&self, which: Loop, failure: Failure) -> bool {
        let Failure {
            trouble,
            shown,
            logged,
        } = failure;
        lock(&self.troubles, |t| *which.trouble(t) = Some(trouble));
        lock(&self.shown, |e| *which.slot(e) = Some(shown));
        let changed = lock(&self.logged, |e| {
            let slot = which.slot(e);
            let changed = slot.as_deref() != Some(logged.as_str());
            if changed {
                tracing::warn!(what = which.as_str(), error = %logged, "failing");
            }
            *slot = Some(logged);
            changed
        });
        changed
    }

    /// The last error of every loop, as technical text (`cubby status`, heartbeat).
    pub fn snapshot(&self) -> LastErrors {
        lock(&self.shown, |e| e.clone())
    }

    /// The last failure of every loop, for the screens.
    pub fn troubles(&self) -> LoopTroubles {
        lock(&self.troubles, |t| t.clone())
    }

    /// Changes each time a call to the hub succeeds.
    pub fn hub_back(&self) -> watch::Receiver<u64> {
        self.back.subscribe()
    }
}

/// A poisoned lock still holds a valid report: use it rather than lose the report.
fn lock<S, T>(m: &Mutex<S>, f: impl FnOnce(&mut S) -> T) -> T {
    let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_kept_per_loop_and_cleared_by_success() {
        let h = Health::new();
        h.failed(
            Loop::Roster,
            Failure::of(&SyncError::Network("connection refused".into())),
        );
        h.failed(Loop::Disk, Failure::new(Trouble::Disk, "read-only"));
        let s = h.snapshot();
        assert_eq!(
            s.roster.as_deref(),
            Some("hub unreachable: connection refused")
        );
        assert_eq!(s.disk.as_deref(), Some("read-only"));
        assert_eq!(s.upload, None);
        assert_eq!(h.troubles().roster, Some(Trouble::HubUnreachable));
        assert_eq!(h.troubles().disk, Some(Trouble::Disk));
        h.ok(Loop::Roster);
        assert_eq!(h.snapshot().roster, None);
        assert_eq!(h.troubles().roster, None);
        assert_eq!(h.snapshot().disk.as_deref(), Some("read-only"));
    }

    fn fail(shown: &str, logged: &str) -> Failure {
        Failure {
            trouble: Trouble::HubUnreachable,
            shown: shown.into(),
            logged: logged.into(),
        }
    }

    #[test]
    fn a_failure_is_logged_when_it_changes_not_on_every_retry() {
        let h = Health::new();
        let mut logged = 0;
        for _ in 0..1000 {
            logged += usize::from(
                h.record_failure(Loop::Upload, fail("unreachable (shown)", "unreachable")),
            );
        }
        assert_eq!(logged, 1, "a hub down for 1000 retries logs once");
        assert!(h.record_failure(
            Loop::Upload,
            fail("503", "hub temporarily unavailable (HTTP 503)")
        ));
        assert!(
            h.record_failure(Loop::Roster, fail("unreachable", "unreachable")),
            "per loop"
        );
        h.ok(Loop::Upload);
        assert!(
            h.record_failure(Loop::Upload, fail("again", "unreachable")),
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
