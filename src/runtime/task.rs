//! The kiosk task's state and its effect interpreter.
//!
//! [`KioskTask`] owns, between two inputs, everything the door state machine reads
//! ([`DoorFacts`]: the roster, today's presence, the fingerprint map, the sync info, the QR
//! verifier, from which its context is built in one place) and what
//! its effects touch (the store, the door's devices, the pusher's wake-up, the manual-sync
//! request). [`KioskTask::handle`] runs a batch of inputs through [`Kiosk::step`] and
//! interprets every [`Effect`] with [`KioskTask::apply`], one function with one arm per
//! effect, tested here against a real SQLite store. `runtime::run_kiosk` only selects the
//! next batch, keeps the timers and sends the frames.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use super::devices::DoorHardware;
use super::{load_sync_info, load_technician_pin, new_event_id, start_of_day, DeviceIdentity};
use crate::api::Event;
use crate::config::Config;
use crate::domain::presence::Presence;
use crate::domain::roster::{Identity, Roster};
use crate::kiosk::{Ctx, DoorInfo, Effect, Input, Kiosk, QrCheck, SyncInfo, Trouble};
use crate::qr::{Dedup, QrSubject, QrVerifier};
use crate::store::{keys, ts, Store};
use crate::sync::health::{Failure, Health, Loop};
use crate::sync::puller::load_roster;

/// What one effect asks of the rest of the batch.
#[derive(Debug, Default, PartialEq)]
pub struct FollowUp {
    /// Handled before anything else queued (the answer to a commit: `Saved`).
    pub first: Option<Input>,
    /// Handled after the inputs already queued.
    pub later: Vec<Input>,
    /// Today's events changed under presence (a parked event dismissed): fold them again.
    pub refold: bool,
}

/// What the door state machine reads on every input (its [`Ctx`]), kept apart from the
/// state machine itself so both can be borrowed at once.
pub struct DoorFacts {
    pub device: DeviceIdentity,
    pub roster: Roster,
    pub presence: Presence,
    pub fingerprints: HashMap<u32, Identity>,
    pub sync_info: SyncInfo,
    pub technician_pin: Option<String>,
    pub device_info: DoorInfo,
    pub qr_verifier: QrVerifier,
}

impl DoorFacts {
    /// Run `f` with the state machine's context built from these facts.
    fn with_ctx<R>(
        &self,
        clock_synced: bool,
        next_manual_sync_at: Option<DateTime<Utc>>,
        f: impl FnOnce(&Ctx<'_>) -> R,
    ) -> R {
        let qr =
            |text: &str, at: DateTime<Utc>| qr_check(&self.qr_verifier, &self.roster, text, at);
        f(&Ctx {
            roster: &self.roster,
            presence: &self.presence,
            pin_key: &self.device.pin_key,
            device_id: &self.device.device_id,
            clock_synced,
            fingerprints: &self.fingerprints,
            qr: &qr,
            next_manual_sync_at,
            device: &self.device_info,
            sync: &self.sync_info,
            technician_pin_hmac: self.technician_pin.as_deref(),
        })
    }
}

/// The kiosk task's state between inputs (see the module header).
pub struct KioskTask {
    pub cfg: Config,
    pub facts: DoorFacts,
    pub store: Store,
    pub health: Arc<Health>,
    /// Wakes the pusher after a commit.
    pub wake: Arc<Notify>,
    /// Asks the roster loop for a sync now; closed when there is no roster loop (the hub
    /// refused this door's token).
    pub manual_sync: mpsc::UnboundedSender<()>,
    pub devices: DoorHardware,
    pub kiosk: Kiosk,
    /// Start of the center's current day, in UTC.
    pub day: DateTime<Utc>,
    pub qr_dedup: Dedup,
    /// Presence changed since the ratios were last audited.
    pub presence_dirty: bool,
    /// The parked events or reports changed: reload [`SyncInfo`].
    pub sync_dirty: bool,
}

impl KioskTask {
    /// The QR keys from enrollment, replaced by those a roster sync brings, with this
    /// door's lifetime limits.
    pub fn load_qr_verifier(&self) -> QrVerifier {
        let qr_keys = self
            .store
            .meta(keys::QR_KEYS)
            .ok()
            .flatten()
            .unwrap_or_else(|| "[]".into());
        QrVerifier::from_json(&qr_keys).with_lifetimes(
            self.cfg.qr.max_lifetime_s,
            self.cfg.qr.max_long_lived_days * 86_400,
        )
    }

    /// Run `batch` through the state machine at `now`, interpreting every effect; inputs
    /// the effects produce (a commit's answer, enrollment progress) are handled in the same
    /// batch. Returns true when today's events must be folded again.
    pub fn handle(
        &mut self,
        batch: Vec<Input>,
        now: DateTime<Utc>,
        clock_synced: bool,
        next_manual_sync_at: Option<DateTime<Utc>>,
    ) -> bool {
        let mut refold = false;
        let mut pending: VecDeque<Input> = batch.into();
        while let Some(input) = pending.pop_front() {
            // The same code scanned twice within 3 s counts once.
            if let Input::Qr(text) = &input {
                if !self.qr_dedup.accept(text, now) {
                    continue;
                }
            }
            let effects = self.step(input, now, clock_synced, next_manual_sync_at);
            for effect in effects {
                let follow = self.apply(effect, now);
                if let Some(first) = follow.first {
                    pending.push_front(first);
                }
                pending.extend(follow.later);
                refold |= follow.refold;
            }
        }
        refold
    }

    /// One input through [`Kiosk::step`] with the context built from this task's facts.
    fn step(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
        clock_synced: bool,
        next_manual_sync_at: Option<DateTime<Utc>>,
    ) -> Vec<Effect> {
        let kiosk = &mut self.kiosk;
        self.facts
            .with_ctx(clock_synced, next_manual_sync_at, |ctx| {
                kiosk.step(ctx, input, now, &mut new_event_id)
            })
    }

    /// The screen the state machine shows now (for the frame).
    pub fn screen(
        &self,
        now: DateTime<Utc>,
        clock_synced: bool,
        next_manual_sync_at: Option<DateTime<Utc>>,
    ) -> crate::kiosk::screen::Screen {
        self.facts
            .with_ctx(clock_synced, next_manual_sync_at, |ctx| {
                self.kiosk.screen(ctx, now)
            })
    }

    /// Events committed to the store (by the door or the auto sign-out) now count: presence
    /// follows them and the pusher is woken.
    pub fn committed(&mut self, events: &[Event]) {
        for e in events {
            self.facts.presence.apply(e);
        }
        self.presence_dirty = true;
        self.wake.notify_one();
    }

    /// Carry out one effect of the state machine at `now`.
    pub fn apply(&mut self, effect: Effect, now: DateTime<Utc>) -> FollowUp {
        let mut follow = FollowUp::default();
        match effect {
            Effect::Record(events) => {
                // Events and outbox rows in one transaction, before the door says "done".
                let result = self.store.record_local(&events, now);
                match &result {
                    Ok(()) => {
                        self.committed(&events);
                        self.health.ok(Loop::Disk);
                    }
                    Err(e) => {
                        tracing::error!("could not commit {} event(s): {e}", events.len());
                        let text = format!("could not save attendance: {e}");
                        self.health
                            .failed(Loop::Disk, Failure::new(Trouble::Disk, text));
                    }
                }
                follow.first = Some(Input::Saved(result.map_err(|e| e.to_string())));
            }
            Effect::Audit { kind, detail } => {
                if let Err(e) = self.store.audit(now, kind.as_str(), &detail) {
                    tracing::warn!("audit log write failed: {e}");
                }
            }
            Effect::Feedback(outcome) => self.devices.feedback(outcome),
            Effect::EnrollFingerprint { person_id } => {
                follow
                    .later
                    .extend(self.devices.enroll(&self.facts.roster, &person_id, now));
            }
            Effect::DeleteFingerprints { person_id } => {
                follow
                    .later
                    .extend(self.devices.delete_person(&self.store, &person_id));
            }
            Effect::ManualSync { staff_id } => {
                if let Err(e) = self.store.set_meta(keys::LAST_MANUAL_SYNC_AT, &ts(now)) {
                    tracing::warn!("cannot note the manual sync time: {e}");
                }
                if let Err(e) =
                    self.store
                        .audit(now, "manual_sync", &json!({ "staff_id": staff_id }))
                {
                    tracing::warn!("audit log write failed: {e}");
                }
                if self.manual_sync.send(()).is_err() {
                    // No roster loop: the hub refused this door's token.
                    follow
                        .later
                        .push(Input::ManualSyncDone(Err(Trouble::Revoked)));
                }
            }
            Effect::SaveLockout(guard) => {
                let saved = serde_json::to_string(&guard)
                    .map_err(|e| e.to_string())
                    .and_then(|j| {
                        self.store
                            .set_meta(keys::PIN_GUARD, &j)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = saved {
                    tracing::error!("could not save the keypad lockout: {e}");
                }
            }
            // The kiosk already audited who asked (ids only).
            Effect::RetryParked { event_id } => {
                match self.store.retry_parked(&event_id) {
                    Ok(true) => self.wake.notify_one(),
                    Ok(false) => tracing::info!("{event_id} was no longer parked"),
                    Err(e) => tracing::error!("cannot retry {event_id}: {e}"),
                }
                self.sync_dirty = true;
            }
            Effect::DismissParked { event_id } => {
                match self.store.dismiss_parked(&event_id, now) {
                    // It no longer counts: the day is folded again without it.
                    Ok(true) => follow.refold = true,
                    Ok(false) => tracing::info!("{event_id} was no longer parked"),
                    Err(e) => tracing::error!("cannot dismiss {event_id}: {e}"),
                }
                self.sync_dirty = true;
            }
        }
        follow
    }

    /// Re-read what the background tasks or the calendar changed: the roster when
    /// `with_roster` (re-evaluated for today), then today's events folded into presence
    /// again (also after a dismissal changed what counts). Errors are logged and the door
    /// keeps what it had: a failed read must never stop the kiosk.
    pub fn reload(&mut self, with_roster: bool, now: DateTime<Utc>) {
        if with_roster {
            self.load_roster(now);
        }
        self.day = start_of_day(&self.facts.roster, now);
        match self.store.events_since(self.day) {
            Ok(ev) => self.facts.presence = Presence::from_events(&ev),
            Err(e) => tracing::warn!("cannot load today's events: {e}"),
        }
        self.presence_dirty = true;
    }

    /// Read the roster from the store and evaluate it for today; on an error the door
    /// keeps the roster it has.
    pub fn load_roster(&mut self, now: DateTime<Utc>) {
        match load_roster(&self.store, now) {
            Ok(Some(e)) => self.facts.roster = e.roster,
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot load the roster: {e}"),
        }
    }

    /// Reload the sync info and the technician PIN from the store.
    pub fn reload_sync_info(&mut self) {
        self.facts.sync_info = load_sync_info(&self.store, &self.health);
        self.facts.technician_pin = load_technician_pin(&self.store);
        self.sync_dirty = false;
    }
}

/// A scanned code checked against the verifier and the roster (who may use a code).
fn qr_check(verifier: &QrVerifier, roster: &Roster, text: &str, at: DateTime<Utc>) -> QrCheck {
    let checked = verifier.verify_logged(
        text,
        at,
        |pid| {
            roster
                .people
                .get(pid)
                .is_some_and(|p| p.guardian && p.is_payer)
        },
        |sid| roster.staff.get(sid).is_some_and(|s| s.active),
    );
    match checked {
        Ok(QrSubject::Person(pid)) => QrCheck::Person(pid),
        Ok(QrSubject::Staff(sid)) => QrCheck::Staff(sid),
        Err(r) if r.is_expired() => QrCheck::Expired,
        Err(_) => QrCheck::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use chrono::TimeZone;

    use super::*;
    use crate::api::EventType;
    use crate::domain::testdata::{event, roster, KEY};
    use crate::kiosk::screen::Screen;
    use crate::kiosk::Tap;

    /// A task over a real SQLite file with no devices and no roster loop (its manual-sync
    /// receiver is dropped, as when the hub refused the token).
    fn task(dir: &std::path::Path) -> KioskTask {
        let cfg = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        let store = Store::open(&cfg.db_path()).unwrap();
        let (dev_tx, _dev_rx) = mpsc::unbounded_channel();
        let devices = DoorHardware::start(&cfg, dev_tx);
        let (manual_sync, _) = mpsc::unbounded_channel();
        let now = at(8, 0);
        let health = Arc::new(Health::new());
        KioskTask {
            facts: DoorFacts {
                sync_info: load_sync_info(&store, &health),
                technician_pin: None,
                fingerprints: HashMap::new(),
                qr_verifier: QrVerifier::default(),
                device: DeviceIdentity {
                    device_id: "dev_front".into(),
                    center: None,
                    hub_url: "http://127.0.0.1:9".into(),
                    token: "t".into(),
                    pin_key: KEY.to_vec(),
                },
                roster: roster(),
                presence: Presence::default(),
                device_info: DoorInfo::default(),
            },
            qr_dedup: Dedup::default(),
            cfg,
            store,
            health,
            wake: Arc::new(Notify::new()),
            manual_sync,
            devices,
            kiosk: Kiosk::new(now),
            day: super::super::start_of_day(&roster(), now),
            presence_dirty: false,
            sync_dirty: false,
        }
    }

    /// A time on the fixture roster's day (its center runs on Chicago time).
    fn at(h: u32, m: u32) -> DateTime<Utc> {
        let date = crate::domain::testdata::today();
        chrono_tz::America::Chicago
            .from_local_datetime(&date.and_hms_opt(h, m, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    async fn woken(wake: &Notify) -> bool {
        tokio::time::timeout(StdDuration::from_millis(50), wake.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_record_is_committed_with_its_outbox_row_before_saved_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = task(dir.path());
        let e = event(
            "ev1",
            EventType::CheckIn,
            "child_alex",
            "2026-11-23T08:30:00-06:00",
        );
        let follow = t.apply(Effect::Record(vec![e]), at(8, 30));
        assert_eq!(follow.first, Some(Input::Saved(Ok(()))));
        assert!(follow.later.is_empty() && !follow.refold);
        assert_eq!(
            t.store.queue_stats().unwrap().depth,
            1,
            "outbox row committed"
        );
        assert!(
            t.facts.presence.is_in("child_alex"),
            "presence follows the commit"
        );
        assert!(t.presence_dirty);
        assert!(woken(&t.wake).await, "the pusher is woken");
    }

    #[tokio::test]
    async fn a_manual_sync_without_a_roster_loop_answers_that_the_token_was_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = task(dir.path());
        let follow = t.apply(
            Effect::ManualSync {
                staff_id: "staff_pat".into(),
            },
            at(9, 0),
        );
        assert_eq!(follow.later, [Input::ManualSyncDone(Err(Trouble::Revoked))]);
        assert!(t.store.meta(keys::LAST_MANUAL_SYNC_AT).unwrap().is_some());
        let audit = t.store.audit_log(10).unwrap();
        assert!(
            audit
                .iter()
                .any(|(_, kind, detail)| kind == "manual_sync" && detail.contains("staff_pat")),
            "{audit:?}"
        );
    }

    #[tokio::test]
    async fn the_keypad_lockout_is_saved_where_a_restart_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = task(dir.path());
        let guard = crate::domain::pin::PinGuard::default();
        let follow = t.apply(Effect::SaveLockout(guard.clone()), at(9, 0));
        assert_eq!(follow, FollowUp::default());
        assert_eq!(super::super::load_pin_guard(&t.store), guard);
    }

    #[tokio::test]
    async fn a_pin_and_check_in_through_handle_commit_and_show_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = task(dir.path());
        let now = at(8, 15);
        let taps = ["start", "digit_1", "digit_1", "digit_1", "digit_1", "ok"];
        let batch = taps
            .iter()
            .map(|s| Input::Tap(Tap::parse(s).expect("a known id")))
            .collect();
        assert!(!t.handle(batch, now, true, None));
        assert!(
            matches!(t.screen(now, true, None), Screen::Family { .. }),
            "{:?}",
            t.screen(now, true, None)
        );
        assert!(!t.handle(vec![Input::Tap(Tap::CheckIn)], now, true, None));
        // The commit's answer was handled in the same batch: the door says done.
        assert!(
            matches!(t.screen(now, true, None), Screen::Done { .. }),
            "{:?}",
            t.screen(now, true, None)
        );
        assert_eq!(t.store.queue_stats().unwrap().depth, 2, "Alex and Mia");
    }
}
