//! The door's devices inside the running kiosk. Owns: starting what `[fingerprint]`,
//! `[[scanner]]` and `[gpio]` configure; turning their events into kiosk [`Input`]s on
//! one internal channel ([`HardwareMsg`]) that the kiosk task selects beside the view's;
//! the fingerprint effects (enroll into a free slot + store the slot → person mapping with
//! the consent date, delete a person's templates, drop archived people's templates after a
//! roster sync); carrying out the state machine's door feedback (strike, LEDs, buzzer:
//! `Effect::Feedback`); and the hardware status the device screen and the heartbeat show.
//! The demo's devices are in `runtime::demo`.
//!
//! The decisions are plain functions tested here ([`stale_rows`], [`enroll_progress`],
//! [`enroll_failure`], [`unready`], [`identity_for`]); [`DoorHardware`] does the I/O. Serial and evdev I/O never runs on the kiosk task: the fingerprint
//! service and the scanners have their own threads, and requests are awaited in spawned
//! tasks that answer through the channel.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::mpsc;

use crate::api::HardwareStatus;
use crate::config::Config;
use crate::devices::config::FingerprintConfig;
use crate::devices::fingerprint::READER_DISCONNECTED;
use crate::devices::fingerprint::{
    self as fp, Confirmation, DeviceStatus, FingerprintError, FingerprintEvent, FingerprintService,
    ServiceOptions, Slot,
};
use crate::devices::gpio::{
    door_feedback, open_door_io, AbsentIo, DoorIo, DoorOutcome, GpioConfig, SimulatedIo,
};
use crate::devices::probe::cfg_gpio_configured;
use crate::devices::scanner::{ScanSink, Scanner};
use crate::devices::selftest::{
    configured_report, DeviceHealth, DeviceReport, NOT_CONFIGURED, NOT_FOUND,
};
use crate::domain::roster::{Identity, Roster};
use crate::kiosk::{
    EnrollFailure, EnrollProgress, Hardware, HardwareDetail, HardwareReport, Input,
};
use crate::store::{FingerprintRow, Store};

/// The slot sent to the kiosk for "a finger was read but is not enrolled": never a real
/// slot (slots are `u16`), so the kiosk shows its "not recognized" message.
pub const UNKNOWN_SLOT: u32 = u32::MAX;

/// What the device threads and request tasks tell the kiosk task.
#[derive(Debug)]
pub enum HardwareMsg {
    /// Straight into the kiosk (a QR scan).
    Input(Input),
    /// From the fingerprint service.
    Fingerprint(FingerprintEvent),
    /// An enrollment ended on the sensor.
    Enrolled {
        identity: Identity,
        consent_at: DateTime<Utc>,
        result: Result<Slot, EnrollFailure>,
    },
    /// Deletions ended on the sensor: `deleted` went, `error` says why the rest did not.
    Deleted {
        rows: Vec<(Slot, Identity)>,
        deleted: Vec<Slot>,
        error: Option<EnrollFailure>,
        reason: &'static str,
        /// Answer the device screen with `EnrollProgress::Deleted`/`Failed`.
        reply: bool,
    },
}

/// Scans from a scanner thread become `Input::Qr` (the kiosk task verifies and dedups).
struct QrSink(mpsc::UnboundedSender<HardwareMsg>);

impl ScanSink for QrSink {
    fn deliver(&self, scan: String) -> bool {
        self.0.send(HardwareMsg::Input(Input::Qr(scan))).is_ok()
    }
}

/// The latest hardware status, shared with the heartbeat task.
#[derive(Debug, Clone, Default)]
pub struct HardwareSnapshot(Arc<Mutex<HardwareStatus>>);

impl HardwareSnapshot {
    pub fn get(&self) -> HardwareStatus {
        match self.0.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, status: HardwareStatus) {
        match self.0.lock() {
            Ok(mut s) => *s = status,
            Err(p) => *p.into_inner() = status,
        }
    }
}

// ---------------------------------------------------------------- pure decisions

/// Who `person_id` is on the roster, when active: staff first, then family people.
pub fn identity_for(roster: &Roster, person_id: &str) -> Option<Identity> {
    if roster.staff.get(person_id).is_some_and(|s| s.active) {
        Some(Identity::Staff(person_id.to_string()))
    } else if roster.people.get(person_id).is_some_and(|p| p.active()) {
        Some(Identity::Person(person_id.to_string()))
    } else {
        None
    }
}

/// Mappings of people no longer active on the roster (archived, left, not a guardian or
/// pickup any more). An empty roster (never synced) names nobody: it proves nothing.
pub fn stale_rows<'a>(rows: &'a [FingerprintRow], roster: &Roster) -> Vec<&'a FingerprintRow> {
    if roster.center.is_none() || (roster.people.is_empty() && roster.staff.is_empty()) {
        return Vec::new();
    }
    rows.iter()
        .filter(|r| match &r.identity {
            Identity::Person(id) => !roster.people.get(id).is_some_and(|p| p.active()),
            Identity::Staff(id) => !roster.staff.get(id).is_some_and(|s| s.active),
        })
        .collect()
}

/// The sensor's enrollment steps the device screen shows (`Stored` is sent by the
/// runtime once the mapping is saved; captures and retries are not shown).
pub fn enroll_progress(p: &fp::EnrollProgress) -> Option<EnrollProgress> {
    let small = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    match p {
        fp::EnrollProgress::PlaceFinger { capture, of } => Some(EnrollProgress::PlaceFinger {
            capture: small(*capture),
            of: small(*of),
        }),
        fp::EnrollProgress::LiftFinger => Some(EnrollProgress::LiftFinger),
        _ => None,
    }
}

/// Why an enrollment or deletion failed, for the device screen (the error itself is
/// logged by the caller, never shown).
pub fn enroll_failure(e: &FingerprintError) -> EnrollFailure {
    match e {
        FingerprintError::FingerTimeout(_) => EnrollFailure::FingerTimeout,
        FingerprintError::AlreadyEnrolled { .. } => EnrollFailure::AlreadyEnrolled,
        FingerprintError::LibraryFull { .. } => EnrollFailure::ReaderFull,
        FingerprintError::Module {
            code: Confirmation::EnrollFailed,
            ..
        } => EnrollFailure::CapturesDiffer,
        e if e.is_connection_lost() => EnrollFailure::ReaderDisconnected,
        _ => EnrollFailure::ReaderFault,
    }
}

/// Why an enrollment cannot start with the reader in this state (`None` when it is ready).
pub fn unready(status: &DeviceStatus) -> Option<EnrollFailure> {
    match status {
        DeviceStatus::Ok => None,
        DeviceStatus::Absent => Some(EnrollFailure::ReaderDisconnected),
        DeviceStatus::Fault(_) => Some(EnrollFailure::ReaderFault),
    }
}

/// What the device screen says of a device (the kiosk puts it in words).
pub fn hardware_report(device: Hardware, r: &DeviceReport) -> HardwareReport {
    let state = r.state;
    let detail = match r.reason.as_str() {
        "" => HardwareDetail::Nothing,
        NOT_CONFIGURED => HardwareDetail::NotConfigured,
        NOT_FOUND => HardwareDetail::NotFound,
        READER_DISCONNECTED => HardwareDetail::Disconnected,
        other => {
            HardwareDetail::Technical(crate::sanitize::clean(other, crate::sanitize::MESSAGE_MAX))
        }
    };
    HardwareReport {
        device,
        state,
        detail,
    }
}

// ---------------------------------------------------------------- the devices

/// The GPIO driver `cfg` asks for: simulated, the character device, or absent (never an
/// error: a kiosk without GPIO still works). Every choice starts with the strike locked.
pub fn door_io(cfg: &GpioConfig) -> Box<dyn DoorIo> {
    if cfg.simulate {
        Box::new(SimulatedIo::new(cfg.strike.pulse_ms))
    } else if cfg.any_pin() {
        open_door_io(cfg)
    } else {
        Box::new(AbsentIo::new("not configured"))
    }
}

/// Load the slot → person map; an unreadable table leaves fingerprints unusable (logged),
/// never the door.
pub fn load_fingerprints(store: &Store) -> HashMap<u32, Identity> {
    store.fingerprint_map().unwrap_or_else(|e| {
        tracing::error!("cannot read the fingerprint slots: {e}");
        HashMap::new()
    })
}

/// The running devices of one kiosk. Dropping it locks the strike first, then stops the
/// reader and scanner threads.
pub struct DoorHardware {
    // Declared first: dropped first, so the strike is locked before anything else stops.
    door: Box<dyn DoorIo>,
    gpio_configured: bool,
    strike_enabled: bool,
    fingerprint: Option<FingerprintService>,
    fp_configured: bool,
    fp_start_error: Option<String>,
    captures: usize,
    scanners: Vec<Scanner>,
    tx: mpsc::UnboundedSender<HardwareMsg>,
    /// Slots with a deletion under way (not queued twice).
    deleting: HashSet<Slot>,
    snapshot: HardwareSnapshot,
}

impl DoorHardware {
    /// Start every configured device; events arrive on `tx`. Must run inside the tokio
    /// runtime (the fingerprint events are forwarded by a task).
    pub fn start(cfg: &Config, tx: mpsc::UnboundedSender<HardwareMsg>) -> DoorHardware {
        DoorHardware::with_door(cfg, tx, door_io(&cfg.gpio))
    }

    /// [`DoorHardware::start`] with a given GPIO driver (tests hand in a simulator).
    pub fn with_door(
        cfg: &Config,
        tx: mpsc::UnboundedSender<HardwareMsg>,
        door: Box<dyn DoorIo>,
    ) -> DoorHardware {
        let mut fp_start_error = None;
        let fingerprint = cfg.fingerprint.as_ref().and_then(|fc| {
            start_fingerprint(fc, tx.clone())
                .map_err(|e| {
                    tracing::error!("cannot start the fingerprint reader thread: {e}");
                    fp_start_error = Some(format!("cannot start the reader thread: {e}"));
                })
                .ok()
        });
        let scanners = cfg
            .scanner
            .iter()
            .map(|s| Scanner::spawn(s, QrSink(tx.clone())))
            .collect();
        tracing::info!(door = %door.status(), strike_enabled = cfg.gpio.strike.enabled, "door outputs ready, strike locked");
        let devices = DoorHardware {
            door,
            gpio_configured: cfg_gpio_configured(&cfg.gpio),
            strike_enabled: cfg.gpio.strike.enabled,
            fingerprint,
            fp_configured: cfg.fingerprint.is_some(),
            fp_start_error,
            captures: cfg
                .fingerprint
                .as_ref()
                .map(|f| usize::from(f.captures))
                .unwrap_or(2),
            scanners,
            tx,
            deleting: HashSet::new(),
            snapshot: HardwareSnapshot::default(),
        };
        devices.snapshot.set(hardware_status(&devices.reports()));
        devices
    }

    /// A handle the heartbeat reads.
    pub fn snapshot(&self) -> HardwareSnapshot {
        self.snapshot.clone()
    }

    /// Every device's state now (fingerprint, scanner(s), gpio), with the self-test rule:
    /// configured but missing is a fault.
    pub fn reports(&self) -> Vec<DeviceReport> {
        self.devices().into_iter().map(|(_, r)| r).collect()
    }

    /// [`reports`](Self::reports), each with which device it is.
    fn devices(&self) -> Vec<(Hardware, DeviceReport)> {
        let mut out = Vec::new();
        let fp_status = match (&self.fingerprint, &self.fp_start_error) {
            (Some(s), _) => s.status().health(),
            (None, Some(e)) => DeviceHealth::fault(e.clone()),
            (None, None) => DeviceHealth::absent(""),
        };
        out.push((
            Hardware::Fingerprint,
            configured_report("fingerprint", self.fp_configured, fp_status),
        ));
        if self.scanners.is_empty() {
            let none = configured_report("scanner", false, DeviceHealth::absent(""));
            out.push((Hardware::Scanner(None), none));
        }
        for (i, s) in self.scanners.iter().enumerate() {
            let (name, device) = if self.scanners.len() == 1 {
                ("scanner".to_string(), Hardware::Scanner(None))
            } else {
                let n = u8::try_from(i + 1).unwrap_or(u8::MAX);
                (format!("scanner {n}"), Hardware::Scanner(Some(n)))
            };
            out.push((device, configured_report(&name, true, s.status())));
        }
        out.push((
            Hardware::Gpio,
            configured_report("gpio", self.gpio_configured, self.door.status()),
        ));
        out
    }

    /// Refresh the device screen's hardware lines and the heartbeat's snapshot (cheap:
    /// reads statuses the device threads keep).
    pub fn refresh(&self, info: &mut crate::kiosk::DoorInfo) {
        let devices = self.devices();
        info.hardware = devices
            .iter()
            .map(|(device, r)| hardware_report(*device, r))
            .collect();
        let reports: Vec<DeviceReport> = devices.into_iter().map(|(_, r)| r).collect();
        self.snapshot.set(hardware_status(&reports));
    }

    /// `Effect::Feedback`: the strike (when enabled), the LEDs and the buzzer.
    pub fn feedback(&mut self, outcome: DoorOutcome) {
        tracing::info!(
            ?outcome,
            strike = self.strike_enabled && outcome != DoorOutcome::Refused,
            "door feedback"
        );
        door_feedback(self.door.as_mut(), outcome, self.strike_enabled);
    }

    /// `Effect::EnrollFingerprint`: start an enrollment on the sensor. Returns an answer
    /// for the device screen when it cannot start.
    pub fn enroll(
        &mut self,
        roster: &Roster,
        person_id: &str,
        now: DateTime<Utc>,
    ) -> Option<Input> {
        let failed = |why| Some(Input::Enroll(EnrollProgress::Failed(why)));
        let Some(identity) = identity_for(roster, person_id) else {
            return failed(EnrollFailure::NotOnRoster);
        };
        let Some(service) = &self.fingerprint else {
            return failed(EnrollFailure::NoReader);
        };
        let status = service.status();
        if let Some(why) = unready(&status) {
            tracing::warn!(%status, "fingerprint enrollment not started: the reader is not ready");
            return failed(why);
        }
        let pending = service.enroll(self.captures);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = pending.wait().await.map_err(|e| {
                tracing::warn!(error = %e, "fingerprint enrollment failed");
                enroll_failure(&e)
            });
            let _ = tx.send(HardwareMsg::Enrolled {
                identity,
                consent_at: now,
                result,
            });
        });
        None
    }

    /// `Effect::DeleteFingerprints`: delete every template of the person from the sensor,
    /// then (on the answer) from the table.
    pub fn delete_person(&mut self, store: &Store, person_id: &str) -> Option<Input> {
        let rows: Vec<(Slot, Identity)> = match store.fingerprint_rows() {
            Ok(rows) => rows
                .into_iter()
                .filter(|r| match &r.identity {
                    Identity::Person(id) | Identity::Staff(id) => id == person_id,
                })
                .map(|r| (r.slot, r.identity))
                .collect(),
            Err(e) => {
                tracing::error!("cannot read the fingerprint slots: {e}");
                return Some(Input::Enroll(EnrollProgress::Failed(
                    EnrollFailure::ListUnreadable,
                )));
            }
        };
        if rows.is_empty() {
            return Some(Input::Enroll(EnrollProgress::Deleted { count: 0 }));
        }
        if self.fingerprint.is_none() {
            return Some(Input::Enroll(EnrollProgress::Failed(
                EnrollFailure::NoReader,
            )));
        }
        self.delete_rows(rows, "requested", true);
        None
    }

    /// After a successful roster sync: delete the templates of people no longer active.
    pub fn after_roster_sync(&mut self, store: &Store, roster: &Roster) {
        if self.fingerprint.is_none() {
            return;
        }
        let rows = match store.fingerprint_rows() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!("cannot read the fingerprint slots: {e}");
                return;
            }
        };
        let stale: Vec<(Slot, Identity)> = stale_rows(&rows, roster)
            .into_iter()
            .filter(|r| !self.deleting.contains(&r.slot))
            .map(|r| (r.slot, r.identity.clone()))
            .collect();
        if !stale.is_empty() {
            tracing::info!(
                "deleting {} fingerprint(s) of people no longer active",
                stale.len()
            );
            self.delete_rows(stale, "archived", false);
        }
    }

    fn delete_rows(&mut self, rows: Vec<(Slot, Identity)>, reason: &'static str, reply: bool) {
        let Some(service) = &self.fingerprint else {
            return;
        };
        let pending: Vec<_> = rows.iter().map(|(s, _)| (*s, service.delete(*s))).collect();
        self.deleting.extend(rows.iter().map(|(s, _)| *s));
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut deleted = Vec::new();
            let mut error = None;
            for (slot, p) in pending {
                match p.wait().await {
                    Ok(()) => deleted.push(slot),
                    Err(e) => {
                        tracing::warn!(slot, error = %e, "fingerprint delete failed");
                        error.get_or_insert_with(|| enroll_failure(&e));
                    }
                }
            }
            let _ = tx.send(HardwareMsg::Deleted {
                rows,
                deleted,
                error,
                reason,
                reply,
            });
        });
    }

    /// Handle one message; returns the inputs for the kiosk.
    pub fn on_message(
        &mut self,
        msg: HardwareMsg,
        store: &mut Store,
        fingerprints: &mut HashMap<u32, Identity>,
        now: DateTime<Utc>,
    ) -> Vec<Input> {
        match msg {
            HardwareMsg::Input(input) => vec![input],
            HardwareMsg::Fingerprint(event) => match event {
                FingerprintEvent::Identified(m) => vec![Input::Fingerprint(u32::from(m.slot))],
                FingerprintEvent::NotRecognized => vec![Input::Fingerprint(UNKNOWN_SLOT)],
                FingerprintEvent::BadImage(code) => {
                    tracing::debug!(%code, "fingerprint image unusable");
                    Vec::new()
                }
                FingerprintEvent::Enroll(p) => enroll_progress(&p)
                    .map(|p| vec![Input::Enroll(p)])
                    .unwrap_or_default(),
                FingerprintEvent::Status(_) => Vec::new(),
            },
            HardwareMsg::Enrolled {
                identity,
                consent_at,
                result,
            } => {
                let progress = match result {
                    Ok(slot) => {
                        self.enrolled(store, fingerprints, slot, &identity, consent_at, now)
                    }
                    Err(why) => EnrollProgress::Failed(why),
                };
                vec![Input::Enroll(progress)]
            }
            HardwareMsg::Deleted {
                rows,
                deleted,
                error,
                reason,
                reply,
            } => {
                for (slot, _) in &rows {
                    self.deleting.remove(slot);
                }
                if !deleted.is_empty() {
                    if let Err(e) = store.remove_fingerprints(&deleted) {
                        tracing::error!(
                            "fingerprints deleted from the sensor but not the table: {e}"
                        );
                    }
                    audit_deleted(store, &rows, &deleted, reason, now);
                    *fingerprints = load_fingerprints(store);
                }
                if !reply {
                    return Vec::new();
                }
                vec![Input::Enroll(match error {
                    Some(why) => EnrollProgress::Failed(why),
                    None => EnrollProgress::Deleted {
                        count: deleted.len(),
                    },
                })]
            }
        }
    }

    fn enrolled(
        &mut self,
        store: &Store,
        fingerprints: &mut HashMap<u32, Identity>,
        slot: Slot,
        identity: &Identity,
        consent_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> EnrollProgress {
        if let Err(e) = store.add_fingerprint(slot, identity, consent_at, now) {
            tracing::error!(slot, "enrolled but the slot could not be saved: {e}");
            // A template nobody maps to must not stay in the sensor.
            if let Some(service) = &self.fingerprint {
                drop(service.delete(slot));
            }
            return EnrollProgress::Failed(EnrollFailure::NotSaved);
        }
        let (kind, id) = identity_words(identity);
        if let Err(e) = store.audit(
            now,
            "fingerprint_enrolled",
            &json!({ "person_kind": kind, "person_id": id, "slot": slot }),
        ) {
            tracing::warn!("audit log write failed: {e}");
        }
        *fingerprints = load_fingerprints(store);
        EnrollProgress::Stored {
            slot: u32::from(slot),
        }
    }
}

fn identity_words(identity: &Identity) -> (&'static str, &str) {
    match identity {
        Identity::Person(id) => ("person", id),
        Identity::Staff(id) => ("staff", id),
    }
}

/// One `fingerprint_deleted` audit entry per person, ids and slots only.
fn audit_deleted(
    store: &Store,
    rows: &[(Slot, Identity)],
    deleted: &[Slot],
    reason: &str,
    now: DateTime<Utc>,
) {
    let mut by_person: Vec<(&Identity, Vec<Slot>)> = Vec::new();
    for (slot, identity) in rows.iter().filter(|(s, _)| deleted.contains(s)) {
        match by_person.iter_mut().find(|(i, _)| *i == identity) {
            Some((_, slots)) => slots.push(*slot),
            None => by_person.push((identity, vec![*slot])),
        }
    }
    for (identity, slots) in by_person {
        let (kind, id) = identity_words(identity);
        let detail =
            json!({ "person_kind": kind, "person_id": id, "slots": slots, "reason": reason });
        if let Err(e) = store.audit(now, "fingerprint_deleted", &detail) {
            tracing::warn!("audit log write failed: {e}");
        }
    }
}

fn start_fingerprint(
    cfg: &FingerprintConfig,
    tx: mpsc::UnboundedSender<HardwareMsg>,
) -> std::io::Result<FingerprintService> {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let service = FingerprintService::serial(cfg.reader(), ServiceOptions::default(), ev_tx)?;
    tokio::spawn(async move {
        while let Some(event) = ev_rx.recv().await {
            if tx.send(HardwareMsg::Fingerprint(event)).is_err() {
                break;
            }
        }
    });
    Ok(service)
}

/// The heartbeat's `hardware` object from the device reports.
pub fn hardware_status(reports: &[DeviceReport]) -> HardwareStatus {
    crate::sync::heartbeat::hardware_status(reports)
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::devices::gpio::{Buzz, IoAction, Led, SimLog};
    use crate::domain::presence::Presence;
    use crate::domain::testdata::{roster, KEY};
    use crate::kiosk::screen::{Screen, Tone};
    use crate::kiosk::{Ctx, DoorInfo, Effect, Kiosk, SyncInfo, Tap};

    fn monday_0830() -> DateTime<Utc> {
        chrono_tz::America::Chicago
            .with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn no_qr(_: &str, _: DateTime<Utc>) -> crate::kiosk::QrCheck {
        crate::kiosk::QrCheck::Invalid
    }

    fn config(strike_enabled: bool) -> Config {
        let mut cfg = Config::default();
        cfg.gpio.simulate = true;
        cfg.gpio.strike.enabled = strike_enabled;
        cfg.gpio.strike.pin = Some(17);
        cfg
    }

    /// The context `run_kiosk` would pass, over a door's fields.
    macro_rules! door_ctx {
        ($d:expr) => {
            Ctx {
                roster: &$d.roster,
                presence: &$d.presence,
                pin_key: KEY,
                device_id: "dev_01",
                clock_synced: true,
                fingerprints: &$d.fingerprints,
                qr: &no_qr,
                next_manual_sync_at: None,
                device: &$d.info,
                sync: &$d.sync,
                technician_pin_hmac: None,
            }
        };
    }

    /// A door: the real kiosk state machine, its commits and feedback carried out like
    /// the kiosk task does, and the GPIO simulator behind `DoorHardware`.
    struct Door {
        roster: Roster,
        presence: Presence,
        fingerprints: HashMap<u32, Identity>,
        info: DoorInfo,
        sync: SyncInfo,
        kiosk: Kiosk,
        now: DateTime<Utc>,
        devices: DoorHardware,
        log: SimLog,
        commits_fail: bool,
        n: u32,
    }

    impl Door {
        fn new(strike_enabled: bool) -> Door {
            let cfg = config(strike_enabled);
            let sim = SimulatedIo::new(cfg.gpio.strike.pulse_ms);
            let log = sim.log();
            let (tx, _rx) = mpsc::unbounded_channel();
            let now = monday_0830();
            Door {
                roster: roster(),
                presence: Presence::default(),
                fingerprints: HashMap::new(),
                info: DoorInfo::default(),
                sync: SyncInfo::EMPTY,
                kiosk: Kiosk::new(now),
                now,
                devices: DoorHardware::with_door(&cfg, tx, Box::new(sim)),
                log,
                commits_fail: false,
                n: 0,
            }
        }

        fn send(&mut self, input: Input) -> Screen {
            let ctx = door_ctx!(self);
            let mut n = self.n;
            let fx = self.kiosk.step(&ctx, input, self.now, &mut |_| {
                n += 1;
                format!("ev-{n}")
            });
            self.n = n;
            let mut follow = Vec::new();
            for effect in fx {
                match effect {
                    Effect::Record(events) => {
                        let ok = !self.commits_fail;
                        if ok {
                            for e in &events {
                                self.presence.apply(e);
                            }
                        }
                        follow.push(Input::Saved(if ok {
                            Ok(())
                        } else {
                            Err("disk I/O error".into())
                        }));
                    }
                    Effect::Feedback(outcome) => self.devices.feedback(outcome),
                    _ => {}
                }
            }
            let ctx = door_ctx!(self);
            let screen = self.kiosk.screen(&ctx, self.now);
            follow.into_iter().fold(screen, |_, i| self.send(i))
        }

        fn pin(&mut self, pin: &str) -> Screen {
            self.send(Input::Tap(Tap::Start));
            for d in pin.chars() {
                self.send(Input::Tap(Tap::Digit(d)));
            }
            self.send(Input::Tap(Tap::Ok))
        }

        fn home(&mut self) {
            self.now += Duration::seconds(60);
            self.send(Input::Tick);
            assert!(self.kiosk.is_home());
        }

        fn actions(&self) -> Vec<IoAction> {
            self.log.actions()
        }
    }

    fn refusal_feedback() -> [IoAction; 3] {
        [
            IoAction::Led {
                led: Led::Green,
                on: false,
            },
            IoAction::LedFlash {
                led: Led::Red,
                ms: crate::devices::gpio::FEEDBACK_LED_MS,
            },
            IoAction::Buzz {
                pattern: Buzz::Refusal,
            },
        ]
    }

    #[test]
    fn the_strike_pulses_after_a_committed_check_in_and_never_on_a_refusal() {
        let mut door = Door::new(true);
        assert_eq!(
            door.actions(),
            vec![IoAction::StrikeLocked],
            "locked at start"
        );

        // Refusals first: an unknown finger, then a family action refused for Mia.
        let s = door.send(Input::Fingerprint(UNKNOWN_SLOT));
        assert!(
            matches!(
                s,
                Screen::Message {
                    tone: Tone::Caution,
                    ..
                }
            ),
            "{s:?}"
        );
        assert_eq!(door.actions()[1..], refusal_feedback());
        door.home();
        door.log.clear();
        let s = door.pin("3333"); // Chris: not authorized for Mia
        assert!(matches!(s, Screen::Family { .. }), "{s:?}");
        assert_eq!(door.actions(), refusal_feedback());
        door.send(Input::Tap(Tap::Cancel));
        door.log.clear();
        // A check-in that fails to commit never opens the door.
        door.commits_fail = true;
        door.pin("1111");
        let s = door.send(Input::Tap(Tap::CheckIn));
        assert!(
            matches!(
                s,
                Screen::Message {
                    tone: Tone::Caution,
                    ..
                }
            ),
            "{s:?}"
        );
        assert!(door.log.strike_pulses().is_empty(), "{:?}", door.actions());
        assert_eq!(door.actions(), refusal_feedback());
        door.home();
        door.log.clear();

        // Dana checks Alex and Mia in: committed → strike pulse, green, success buzz.
        door.commits_fail = false;
        door.pin("1111");
        let s = door.send(Input::Tap(Tap::CheckIn));
        assert!(matches!(s, Screen::Done { .. }), "{s:?}");
        assert_eq!(door.log.strike_pulses(), vec![3000]);
        assert!(door.actions().contains(&IoAction::LedFlash {
            led: Led::Green,
            ms: crate::devices::gpio::FEEDBACK_LED_MS
        }));
        assert!(door.actions().contains(&IoAction::Buzz {
            pattern: Buzz::Success
        }));
        // The same Done screen drawn again is not another transaction.
        door.send(Input::Tick);
        assert_eq!(door.log.strike_pulses().len(), 1);

        drop(door.devices);
        assert_eq!(
            door.log.actions().last(),
            Some(&IoAction::StrikeLocked),
            "locked on exit"
        );
    }

    #[test]
    fn a_disabled_strike_never_pulses_but_the_lights_still_say_done() {
        let mut door = Door::new(false);
        door.pin("1111");
        let s = door.send(Input::Tap(Tap::CheckIn));
        assert!(matches!(s, Screen::Done { .. }), "{s:?}");
        assert!(door.log.strike_pulses().is_empty());
        assert!(door.actions().contains(&IoAction::Buzz {
            pattern: Buzz::Success
        }));
    }

    #[test]
    fn identities_staleness_and_progress() {
        let roster = roster();
        assert_eq!(
            identity_for(&roster, "staff_lee"),
            Some(Identity::Staff("staff_lee".into()))
        );
        assert_eq!(
            identity_for(&roster, "per_dana"),
            Some(Identity::Person("per_dana".into()))
        );
        assert_eq!(identity_for(&roster, "per_nobody"), None);

        let t = monday_0830();
        let row = |slot, identity| FingerprintRow {
            slot,
            identity,
            consent_at: t,
            enrolled_at: t,
        };
        let rows = [
            row(0, Identity::Person("per_dana".into())),
            row(1, Identity::Staff("staff_lee".into())),
            row(2, Identity::Person("per_gone".into())),
            row(3, Identity::Staff("per_dana".into())), // wrong kind: not active staff
        ];
        let stale: Vec<u16> = stale_rows(&rows, &roster).iter().map(|r| r.slot).collect();
        assert_eq!(stale, vec![2, 3]);
        assert!(
            stale_rows(&rows, &Roster::default()).is_empty(),
            "an empty roster deletes nothing"
        );

        assert_eq!(
            enroll_progress(&fp::EnrollProgress::PlaceFinger { capture: 2, of: 3 }),
            Some(EnrollProgress::PlaceFinger { capture: 2, of: 3 })
        );
        assert_eq!(
            enroll_progress(&fp::EnrollProgress::LiftFinger),
            Some(EnrollProgress::LiftFinger)
        );
        assert_eq!(
            enroll_progress(&fp::EnrollProgress::Stored { slot: 4 }),
            None
        );
    }

    #[test]
    fn reader_errors_become_typed_failures_without_their_text() {
        let cases = [
            (
                FingerprintError::FingerTimeout(StdDuration::from_secs(20)),
                EnrollFailure::FingerTimeout,
            ),
            (
                FingerprintError::AlreadyEnrolled { slot: 3 },
                EnrollFailure::AlreadyEnrolled,
            ),
            (
                FingerprintError::LibraryFull { capacity: 200 },
                EnrollFailure::ReaderFull,
            ),
            (
                FingerprintError::Module {
                    instruction: "RegModel",
                    code: Confirmation::EnrollFailed,
                },
                EnrollFailure::CapturesDiffer,
            ),
            (
                FingerprintError::Disconnected("eof".into()),
                EnrollFailure::ReaderDisconnected,
            ),
            (
                FingerprintError::Timeout(StdDuration::from_secs(1)),
                EnrollFailure::ReaderDisconnected,
            ),
            (
                FingerprintError::Module {
                    instruction: "Store",
                    code: Confirmation::CommandFailed,
                },
                EnrollFailure::ReaderFault,
            ),
            (
                FingerprintError::Protocol("<garbage \u{202e} from the wire>".into()),
                EnrollFailure::ReaderFault,
            ),
        ];
        for (error, want) in cases {
            assert_eq!(enroll_failure(&error), want, "{error}");
        }
        assert_eq!(unready(&DeviceStatus::Ok), None);
        assert_eq!(
            unready(&DeviceStatus::Absent),
            Some(EnrollFailure::ReaderDisconnected)
        );
        assert_eq!(
            unready(&DeviceStatus::Fault("bad <wire> text".into())),
            Some(EnrollFailure::ReaderFault)
        );
    }

    /// Waits for the next message and hands it to `devices`; returns the kiosk inputs.
    async fn next_inputs(
        rx: &mut mpsc::UnboundedReceiver<HardwareMsg>,
        devices: &mut DoorHardware,
        store: &mut Store,
        map: &mut HashMap<u32, Identity>,
        emu: &fp::EmulatorHandle,
        finger: u64,
    ) -> Vec<Input> {
        let msg = tokio::time::timeout(StdDuration::from_secs(30), rx.recv())
            .await
            .expect("no device message within 30 s")
            .expect("channel open");
        if let HardwareMsg::Fingerprint(FingerprintEvent::Enroll(
            fp::EnrollProgress::PlaceFinger { .. },
        )) = &msg
        {
            emu.tap_finger(finger);
        }
        devices.on_message(msg, store, map, monday_0830())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enroll_identify_delete_and_purge_through_the_emulated_reader() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("k.sqlite")).unwrap();
        let emu = fp::spawn_emulator(fp::EmulatorOptions::default()).unwrap();
        let mut cfg = config(true);
        cfg.fingerprint = Some(FingerprintConfig::at(emu.path()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut devices = DoorHardware::with_door(&cfg, tx, Box::new(AbsentIo::new("test")));
        let mut map = load_fingerprints(&store);
        let roster = roster();
        let dana = fp::identity_from_str("dana");
        let now = monday_0830();

        // Wait for the reader.
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while devices.reports()[0].state != crate::devices::selftest::DeviceState::Ok {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                devices.reports()
            );
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }

        // Enroll Dana: progress to the screen, then Stored once the slot is saved.
        assert_eq!(devices.enroll(&roster, "per_dana", now), None);
        let mut seen = Vec::new();
        let slot = loop {
            for input in next_inputs(&mut rx, &mut devices, &mut store, &mut map, &emu, dana).await
            {
                match input {
                    Input::Enroll(EnrollProgress::Stored { .. }) => {
                        seen.push("stored");
                        break;
                    }
                    Input::Enroll(EnrollProgress::Failed(why)) => panic!("enroll failed: {why:?}"),
                    Input::Enroll(EnrollProgress::PlaceFinger { capture, of }) => {
                        assert_eq!(of, 2);
                        seen.push(if capture == 1 { "place 1" } else { "place 2" });
                    }
                    Input::Enroll(EnrollProgress::LiftFinger) => seen.push("lift"),
                    _ => {}
                }
            }
            if let Some(slot) = map
                .iter()
                .find(|(_, i)| **i == Identity::Person("per_dana".into()))
            {
                break *slot.0;
            }
        };
        assert!(
            seen.starts_with(&["place 1", "lift", "place 2"]),
            "{seen:?}"
        );
        let rows = store.fingerprint_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].consent_at, now, "consent date recorded");
        assert_eq!(u32::from(rows[0].slot), slot);
        assert_eq!(emu.templates(), vec![(rows[0].slot, dana)]);
        let audit = store.audit_log(5).unwrap();
        assert_eq!(audit[0].1, "fingerprint_enrolled");
        assert!(
            audit[0].2.contains("per_dana") && !audit[0].2.contains("Dana"),
            "{}",
            audit[0].2
        );

        // Her finger on the sensor becomes Input::Fingerprint(slot); a stranger's is unknown.
        // (After an enrollment the service waits for one empty scan: the finger was lifted.)
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        emu.place_finger(Some(dana));
        let got = loop {
            let inputs = next_inputs(&mut rx, &mut devices, &mut store, &mut map, &emu, dana).await;
            if let Some(i) = inputs
                .into_iter()
                .find(|i| matches!(i, Input::Fingerprint(_)))
            {
                break i;
            }
        };
        assert_eq!(got, Input::Fingerprint(slot));
        emu.remove_finger();
        tokio::time::sleep(StdDuration::from_millis(400)).await;
        emu.place_finger(Some(fp::identity_from_str("stranger")));
        let got = loop {
            let inputs = next_inputs(&mut rx, &mut devices, &mut store, &mut map, &emu, dana).await;
            if let Some(i) = inputs
                .into_iter()
                .find(|i| matches!(i, Input::Fingerprint(_)))
            {
                break i;
            }
        };
        assert_eq!(got, Input::Fingerprint(UNKNOWN_SLOT));
        emu.remove_finger();

        // A person who left: purged from the sensor and the table at the next sync.
        emu.store_template(150, fp::identity_from_str("gone"));
        store
            .add_fingerprint(150, &Identity::Person("per_gone".into()), now, now)
            .unwrap();
        devices.after_roster_sync(&store, &roster);
        devices.after_roster_sync(&store, &roster); // not queued twice
        loop {
            let inputs = next_inputs(&mut rx, &mut devices, &mut store, &mut map, &emu, dana).await;
            assert!(
                inputs.iter().all(|i| !matches!(i, Input::Enroll(_))),
                "{inputs:?}"
            );
            if store.fingerprint_slots_of("per_gone").unwrap().is_empty() {
                break;
            }
        }
        assert_eq!(emu.templates().len(), 1, "only Dana's template is left");
        let audit = store.audit_log(1).unwrap();
        assert_eq!(audit[0].1, "fingerprint_deleted");
        assert!(audit[0].2.contains("archived") && audit[0].2.contains("per_gone"));

        // Deleting Dana's fingerprints at the device screen's request.
        assert_eq!(devices.delete_person(&store, "per_dana"), None);
        let answer = loop {
            let inputs = next_inputs(&mut rx, &mut devices, &mut store, &mut map, &emu, dana).await;
            if let Some(i) = inputs.into_iter().find(|i| matches!(i, Input::Enroll(_))) {
                break i;
            }
        };
        assert_eq!(answer, Input::Enroll(EnrollProgress::Deleted { count: 1 }));
        assert!(emu.templates().is_empty());
        assert!(map.is_empty() && store.fingerprint_rows().unwrap().is_empty());
        assert_eq!(
            devices.delete_person(&store, "per_dana"),
            Some(Input::Enroll(EnrollProgress::Deleted { count: 0 }))
        );

        // Unplugged: the device screen says so, and the reader comes back by itself.
        emu.unplug();
        let mut info = DoorInfo::default();
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        loop {
            devices.refresh(&mut info);
            if info.hardware[0].detail == HardwareDetail::Disconnected {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{:?}", info.hardware);
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        assert_eq!(info.hardware[0].state, crate::kiosk::HardwareState::Fault);
        assert_eq!(
            devices.snapshot().get().fingerprint.as_deref(),
            Some("fault: fingerprint reader disconnected")
        );
        assert_eq!(
            devices.enroll(&roster, "per_dana", now),
            Some(Input::Enroll(EnrollProgress::Failed(
                EnrollFailure::ReaderDisconnected
            )))
        );
        emu.replug().unwrap();
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        loop {
            devices.refresh(&mut info);
            if info.hardware[0].state == crate::kiosk::HardwareState::Ok {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{:?}", info.hardware);
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_configured_scanner_feeds_qr_inputs() {
        use std::io::Write;
        let crate::devices::pty::PtyPair {
            master,
            slave,
            slave_path,
        } = crate::devices::pty::open().unwrap();
        drop(slave);

        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("k.sqlite")).unwrap();
        let cfg = Config {
            scanner: vec![
                crate::devices::scanner::ScannerConfig {
                    device: Some(slave_path),
                    mode: crate::devices::scanner::ScannerMode::Serial,
                    ..Default::default()
                },
                crate::devices::scanner::ScannerConfig {
                    device: Some(dir.path().join("unplugged-scanner")),
                    mode: crate::devices::scanner::ScannerMode::Serial,
                    ..Default::default()
                },
            ],
            ..Config::default()
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut devices = DoorHardware::with_door(&cfg, tx, door_io(&cfg.gpio));
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while devices.reports()[1].state != crate::devices::selftest::DeviceState::Ok {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                devices.reports()
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        let reports = devices.reports();
        assert_eq!(reports[1].name, "scanner 1");
        assert_eq!(reports[2].name, "scanner 2");
        assert_eq!(
            reports[2].state,
            crate::devices::selftest::DeviceState::Fault,
            "configured but missing: {:?}",
            reports[2]
        );

        // Write through a clone: the master must stay open (closing it unplugs the pty).
        std::fs::File::from(master.try_clone().unwrap())
            .write_all(b"CUBBY1.payload.sig\r\n")
            .unwrap();
        let msg = tokio::time::timeout(StdDuration::from_secs(5), rx.recv())
            .await
            .expect("a scan within 5 s")
            .expect("channel open");
        let mut map = HashMap::new();
        let inputs = devices.on_message(msg, &mut store, &mut map, monday_0830());
        assert_eq!(inputs, vec![Input::Qr("CUBBY1.payload.sig".into())]);
        drop(master);
    }

    #[test]
    fn without_a_reader_the_effects_answer_calmly() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut devices =
            DoorHardware::with_door(&Config::default(), tx, door_io(&GpioConfig::default()));
        let roster = roster();
        assert_eq!(
            devices.enroll(&roster, "per_dana", monday_0830()),
            Some(Input::Enroll(EnrollProgress::Failed(
                EnrollFailure::NoReader
            )))
        );
        assert_eq!(
            devices.enroll(&roster, "per_nobody", monday_0830()),
            Some(Input::Enroll(EnrollProgress::Failed(
                EnrollFailure::NotOnRoster
            )))
        );
        let reports = devices.reports();
        assert!(reports
            .iter()
            .all(|r| r.state == crate::devices::selftest::DeviceState::Absent));
        let hw = devices.snapshot().get();
        assert_eq!(hw.gpio.as_deref(), Some("absent: not configured"));
        assert_eq!(hw.fingerprint.as_deref(), Some("absent: not configured"));
    }
}
