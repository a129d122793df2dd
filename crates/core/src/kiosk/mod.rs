//! The door's state machine: `(state, input, now) -> (state, effects)`, and the screen.
//!
//! Pure: the roster, presence, PIN key and clock state come in through [`Ctx`]; time is
//! the `now` argument; event ids come from an injected generator. Side effects leave as
//! [`Effect`]s for the runtime to execute. A check-in is only "done" after the runtime
//! reports `Input::Saved(Ok)`: the store commit happens between `Saving` and `Done`.
//!
//! Taps arrive typed ([`Tap`], read at the edge); the door's feedback (strike, LEDs,
//! buzzer) leaves as [`Effect::Feedback`], decided here, not guessed by the runtime.
//! Every word shown comes from [`i18n`] in the current [`Lang`], including why a
//! background job failed ([`Trouble`]), what a device is doing ([`HardwareReport`]) and
//! why enrolling failed ([`ProvisionError`]); a family may switch to Spanish on the home
//! screen and the door returns to the center's language when it goes home. The staff
//! tools (roll call, sync errors, device screen) live in `ops`.

pub mod audit;
pub mod frame;
pub mod i18n;

pub use audit::AuditKind;
mod ops;
pub mod provision;
pub mod screen;
pub mod tap;
pub mod trouble;
pub use provision::ProvisionError;
pub use tap::{Tap, TapError};
pub use trouble::{LoopTroubles, Trouble};

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{Actor, ActorKind, Event, EventType, Method};
use crate::domain::pin::{is_complete, pin_hmac, PinGuard, MAX_PIN_LEN};
use crate::domain::presence::Presence;
use crate::domain::ratios::{ratios, RatioState};
use crate::domain::report::SyncReport;
use crate::domain::rollcall::RollCall;
use crate::domain::roster::StaffRole;
use crate::domain::roster::{initials, Identity, Permission, Roster};
use crate::domain::schedule;

pub use i18n::{Lang, Msg};
use ops::DeviceScreenState;
use screen::*;

/// Seconds without a touch before any screen returns home.
pub const INACTIVITY_S: i64 = 30;
/// Seconds the confirmation stays before returning home by itself.
pub const DONE_S: i64 = 4;
/// Sync reports the sync-errors screen shows (newest first).
pub const REPORTS_KEPT: usize = 5;
/// Seconds without a touch before a roll call is given up (a drill is slow; never 30 s).
pub const ROLL_CALL_IDLE_S: i64 = 15 * 60;
/// A staff batch check-in of more children than this asks once to confirm.
pub const BATCH_CONFIRM_OVER: usize = 5;

/// Everything the state machine reads but does not own.
pub struct Ctx<'a> {
    pub roster: &'a Roster,
    pub presence: &'a Presence,
    pub pin_key: &'a [u8],
    pub device_id: &'a str,
    pub clock_synced: bool,
    /// Fingerprint slot → identity (from the store).
    pub fingerprints: &'a HashMap<u32, Identity>,
    /// Verifies a scanned QR text: a family code of an active payer, a badge of active
    /// staff, or why it was refused.
    pub qr: &'a dyn Fn(&str, DateTime<Utc>) -> QrCheck,
    /// When staff may next ask for a manual roster sync (None = now).
    pub next_manual_sync_at: Option<DateTime<Utc>>,
    /// What the device screen shows about this kiosk and its hardware (filled by the runtime).
    pub device: &'a DoorInfo,
    /// Parked events, sync reports and the queue (reloaded by the runtime when they change).
    pub sync: &'a SyncInfo,
    /// HMAC (hex, like roster PINs) of the technician PIN (`cubby technician-pin`): it
    /// opens the device screen only, with no staff identity.
    pub technician_pin_hmac: Option<&'a str>,
}

/// What the QR hook says about a scanned code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrCheck {
    /// A valid family code of this active payer.
    Person(String),
    /// A valid staff badge of this active staff member.
    Staff(String),
    /// A genuine code that has run out: the person needs a fresh one.
    Expired,
    /// Anything else: forged, unknown key, not for this center, not an active person.
    Invalid,
}

/// What the sync-errors and device screens show about sending and syncing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncInfo {
    /// Events the hub rejected, oldest first (`Store::parked_events`).
    pub parked: Vec<ParkedItem>,
    /// Recent roster sync reports, newest first (`Store::reports`).
    pub reports: Vec<SyncReport>,
    /// Events waiting to be sent (not parked).
    pub queue_depth: u64,
    /// Why the last roster sync failed, if it did (`keys::LAST_SYNC_TROUBLE`).
    pub last_error: Option<Trouble>,
    /// The last failure of each background loop (upload, roster, peers, heartbeat,
    /// disk) (`sync::health`); shown beside the roster's on the sync screen.
    pub loop_errors: LoopTroubles,
}

impl SyncInfo {
    /// Nothing parked, no reports, nothing queued.
    pub const EMPTY: SyncInfo = SyncInfo {
        parked: Vec::new(),
        reports: Vec::new(),
        queue_depth: 0,
        last_error: None,
        loop_errors: LoopTroubles::NONE,
    };
}

/// Nothing parked, no reports, nothing queued: `sync: &NO_SYNC` for views and tests
/// without a store.
pub static NO_SYNC: SyncInfo = SyncInfo::EMPTY;

/// One event the hub refused, waiting for staff to retry or dismiss it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedItem {
    pub event_id: String,
    /// The hub's reason, as it sent it ("unknown child").
    pub reason: String,
    pub parked_at: Option<DateTime<Utc>>,
    pub event: Event,
}

/// Facts about this kiosk for the device screen and staff alerts; the runtime keeps it
/// current (hardware lines come from the device services / self-test).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoorInfo {
    pub version: String,
    pub device_id: String,
    pub hub_url: String,
    /// The kiosk's network address, when it has one.
    pub address: Option<String>,
    pub hardware: Vec<HardwareReport>,
    /// The hub refused this door's token: it records, but nothing reaches the hub until
    /// it is enrolled again.
    pub revoked: bool,
}

/// One device as the runtime found it; the device screen and the staff alerts say it in
/// the door's language.
#[derive(Debug, Clone, PartialEq)]
pub struct HardwareReport {
    pub device: Hardware,
    pub state: HardwareState,
    pub detail: HardwareDetail,
}

/// Which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hardware {
    Fingerprint,
    /// A QR scanner; numbered from 1 when the door has several.
    Scanner(Option<u8>),
    /// The strike, LEDs and buzzer.
    Gpio,
}

/// The state of one device (also the self-test's and the heartbeat's word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HardwareState {
    /// Present and answering.
    Ok,
    /// Not configured, not plugged in, or not on this machine: the kiosk works without it.
    Absent,
    /// Present or configured but broken (permission, wrong answers, busy): needs a
    /// technician.
    Fault,
}

impl HardwareState {
    /// `ok` / `absent` / `fault`, as the screen model and the UI's colours have it.
    pub fn as_str(self) -> &'static str {
        match self {
            HardwareState::Ok => "ok",
            HardwareState::Absent => "absent",
            HardwareState::Fault => "fault",
        }
    }
}

/// What more there is to say of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HardwareDetail {
    Nothing,
    /// The configuration does not mention it.
    NotConfigured,
    /// Configured, but not found.
    NotFound,
    /// The fingerprint reader was unplugged or does not answer.
    Disconnected,
    /// A driver's own words for the technician (a path, an OS error), shown as they are.
    Technical(String),
}

/// One line of the device screen, in words: `name`, `state` (`ok`/`absent`/`fault`, which
/// the UI colours) and `detail`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HardwareLine {
    pub name: String,
    pub state: String,
    pub detail: String,
}

/// Progress of a fingerprint enrollment or deletion, reported by the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum EnrollProgress {
    /// Place the finger for capture `capture` of `of`.
    PlaceFinger { capture: u8, of: u8 },
    /// Lift the finger before the next capture.
    LiftFinger,
    /// The template is stored in this sensor slot and mapped to the person.
    Stored { slot: u32 },
    /// This many templates of the person were deleted.
    Deleted { count: usize },
    /// Enrollment or deletion failed, and why (in words by [`i18n`]).
    Failed(EnrollFailure),
}

/// Why an enrollment or deletion failed, as the device screen says it (the words are in
/// [`i18n`]). The reader's own error text stays in the log, never on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollFailure {
    /// No finger was placed (or lifted) in time.
    FingerTimeout,
    /// This finger is already stored on the reader.
    AlreadyEnrolled,
    /// Every slot of the reader is used.
    ReaderFull,
    /// The captures did not look like the same finger.
    CapturesDiffer,
    /// The reader is unplugged or does not answer.
    ReaderDisconnected,
    /// The reader answered with another failure.
    ReaderFault,
    /// This kiosk has no fingerprint reader configured.
    NoReader,
    /// The person is not active on this kiosk's roster.
    NotOnRoster,
    /// The kiosk's slot → person list could not be read.
    ListUnreadable,
    /// Enrolled on the reader, but the slot could not be saved (the template is dropped).
    NotSaved,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A tap on an element (its id read at the edge: [`Tap::parse`]).
    Tap(Tap),
    Fingerprint(u32),
    Qr(String),
    /// Time passes (the runtime sends one every second).
    Tick,
    /// The runtime's answer to `Effect::Record`.
    Saved(Result<(), String>),
    /// Progress of `Effect::EnrollFingerprint` / `Effect::DeleteFingerprints`.
    Enroll(EnrollProgress),
    /// The runtime's answer to `Effect::ManualSync`: what the sync changed, or why it
    /// failed.
    ManualSyncDone(Result<SyncReport, Trouble>),
    /// First boot: the provisioning form was submitted (handled by the runtime before the
    /// kiosk starts; the kiosk itself ignores it).
    Provision {
        hub_url: String,
        code: String,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Commit these events (and their outbox rows) durably, then answer `Input::Saved`.
    Record(Vec<Event>),
    /// Append to the audit log (ids only).
    Audit {
        kind: AuditKind,
        detail: serde_json::Value,
    },
    /// Staff asked for a roster sync now.
    ManualSync { staff_id: String },
    /// Enroll a finger for this person (consent was ticked on the device screen); the
    /// runtime answers with `Input::Enroll` progress.
    EnrollFingerprint { person_id: String },
    /// Delete every template of this person from the sensor and the slot table.
    DeleteFingerprints { person_id: String },
    /// Persist the keypad lockout state (misses, lock, recent lockouts) so a restart
    /// keeps it. Emitted whenever it changes.
    SaveLockout(PinGuard),
    /// Staff: send this parked event again (`Store::retry_parked`).
    RetryParked { event_id: String },
    /// Staff confirmed: stop sending this parked event (`Store::dismiss_parked`).
    DismissParked { event_id: String },
    /// Tell the person at the door how it went: the strike, LEDs and buzzer.
    Feedback(DoorOutcome),
}

/// What the door signals with its strike, LEDs and buzzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorOutcome {
    /// A committed arrival (child check-in, staff clock-in): the door opens.
    CheckedIn,
    /// A committed departure (child check-out, staff clock-out): the door opens.
    CheckedOut,
    /// A refusal: something not recognized, not authorized or not saved. The door stays
    /// locked.
    Refused,
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Home,
    Pin {
        digits: String,
        message: Option<String>,
    },
    Family {
        person_id: String,
        method: Method,
        selected: BTreeSet<String>,
        notice: Option<String>,
    },
    Saving {
        lines: Vec<String>,
        /// A staff action returns to the staff screen it came from, with `summary` as its
        /// notice; a family's goes to the done screen.
        back: Option<Box<Mode>>,
        summary: String,
        /// What the door signals once the events are committed (None for a transfer,
        /// which happens inside).
        outcome: Option<DoorOutcome>,
    },
    Done {
        lines: Vec<String>,
        since: DateTime<Utc>,
    },
    Message {
        tone: Tone,
        text: String,
    },
    Staff {
        staff_id: String,
        method: Method,
        room: Option<String>,
        selected: BTreeSet<String>,
        notice: Option<String>,
        /// A batch check-in of more than [`BATCH_CONFIRM_OVER`] children was tapped once:
        /// the next `check_in` records it, any other tap forgets it.
        confirm: bool,
    },
    RollCall {
        staff_id: String,
        method: Method,
        call: RollCall,
        /// Showing the summary (after `finish_roll_call`).
        summary: bool,
    },
    SyncErrors {
        staff_id: String,
        method: Method,
        /// The parked event whose dismiss was tapped once.
        confirm: Option<String>,
        notice: Option<String>,
    },
    Device {
        /// Who opened it: a director/admin's staff id, or None for the technician PIN
        /// (`back` then goes home).
        staff_id: Option<String>,
        method: Method,
        dev: DeviceScreenState,
    },
}

/// A refusal at the door, for the staff screen (rendered in the staff's language).
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    at: DateTime<Utc>,
    person_id: String,
    child_id: String,
}

/// The kiosk's state.
#[derive(Debug, Clone)]
pub struct Kiosk {
    mode: Mode,
    guard: PinGuard,
    last_touch: DateTime<Utc>,
    /// Refusals at the door, newest last, for the staff screen (today's are shown).
    alerts: Vec<Refusal>,
    /// The language of the current transaction.
    lang: Lang,
    /// The center's language, restored whenever the door goes home.
    default_lang: Lang,
}

type IdGen<'a> = &'a mut dyn FnMut(DateTime<Utc>) -> String;

impl Kiosk {
    pub fn new(now: DateTime<Utc>) -> Kiosk {
        Kiosk {
            mode: Mode::Home,
            guard: PinGuard::default(),
            last_touch: now,
            alerts: Vec::new(),
            lang: Lang::En,
            default_lang: Lang::En,
        }
    }

    /// Set the center's language (config `language`); the door starts in it and returns
    /// to it after every transaction.
    pub fn with_lang(mut self, lang: Lang) -> Kiosk {
        self.lang = lang;
        self.default_lang = lang;
        self
    }

    /// Start from a persisted keypad lockout (`Effect::SaveLockout`), made consistent with
    /// `now`: a restart never clears a lock or the misses that count towards one.
    pub fn with_guard(mut self, guard: PinGuard, now: DateTime<Utc>) -> Kiosk {
        self.guard = guard.restored(now);
        self
    }

    /// The keypad lockout state (for the heartbeat and status).
    pub fn guard(&self) -> &PinGuard {
        &self.guard
    }

    /// The language the door speaks right now (`Frame.lang`).
    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn is_home(&self) -> bool {
        self.mode == Mode::Home
    }

    fn say(&self, msg: Msg) -> String {
        msg.text(self.lang)
    }

    /// Handle one input. Returns the effects the runtime must carry out.
    pub fn step(&mut self, ctx: &Ctx, input: Input, now: DateTime<Utc>, ids: IdGen) -> Vec<Effect> {
        let before = self.caution_shown().map(str::to_owned);
        let mut fx = self.handle(ctx, input, now, ids);
        // A refusal is signalled once, whether it was audited, shown, or both.
        let refused = fx
            .iter()
            .any(|e| matches!(e, Effect::Audit { kind, .. } if kind.is_refusal()))
            || self
                .caution_shown()
                .is_some_and(|now_shown| before.as_deref() != Some(now_shown));
        if refused && !fx.iter().any(|e| matches!(e, Effect::Feedback(_))) {
            fx.push(Effect::Feedback(DoorOutcome::Refused));
        }
        fx
    }

    /// The caution message on screen, if one is.
    fn caution_shown(&self) -> Option<&str> {
        match &self.mode {
            Mode::Message {
                tone: Tone::Caution,
                text,
            } => Some(text),
            _ => None,
        }
    }

    fn handle(&mut self, ctx: &Ctx, input: Input, now: DateTime<Utc>, ids: IdGen) -> Vec<Effect> {
        let mut fx = Vec::new();
        match input {
            Input::Tick => self.tick(now),
            Input::Saved(result) => self.saved(result, now, &mut fx),
            Input::Enroll(progress) => self.enroll_progress(progress, now),
            Input::ManualSyncDone(result) => self.manual_sync_done(ctx, result, now),
            // Provisioning happens before the kiosk runs.
            Input::Provision { .. } => {}
            Input::Tap(id) => {
                self.last_touch = now;
                self.tap(ctx, id, now, ids, &mut fx);
            }
            Input::Fingerprint(slot) => {
                self.last_touch = now;
                if matches!(self.mode, Mode::Home | Mode::Pin { .. }) {
                    match ctx.fingerprints.get(&slot).cloned() {
                        Some(identity) => {
                            self.identified(ctx, identity, Method::Fingerprint, now, &mut fx)
                        }
                        None => {
                            self.mode = Mode::Message {
                                tone: Tone::Caution,
                                text: self.say(Msg::FingerprintUnknown),
                            }
                        }
                    }
                }
            }
            Input::Qr(text) => {
                self.last_touch = now;
                if matches!(self.mode, Mode::Home | Mode::Pin { .. }) {
                    match (ctx.qr)(&text, now) {
                        QrCheck::Person(pid) => {
                            self.identified(ctx, Identity::Person(pid), Method::Qr, now, &mut fx)
                        }
                        QrCheck::Staff(sid) => {
                            self.identified(ctx, Identity::Staff(sid), Method::Qr, now, &mut fx)
                        }
                        QrCheck::Expired => {
                            self.mode = Mode::Message {
                                tone: Tone::Caution,
                                text: self.say(Msg::QrExpired),
                            }
                        }
                        QrCheck::Invalid => {
                            self.mode = Mode::Message {
                                tone: Tone::Caution,
                                text: self.say(Msg::QrInvalid),
                            }
                        }
                    }
                }
            }
        }
        fx
    }

    fn tick(&mut self, now: DateTime<Utc>) {
        let idle = now - self.last_touch;
        match &self.mode {
            // A language chosen and walked away from goes back to the center's.
            Mode::Home if idle >= Duration::seconds(INACTIVITY_S) => {
                self.lang = self.default_lang;
            }
            Mode::Home | Mode::Saving { .. } => {}
            Mode::Done { since, .. } if now - *since >= Duration::seconds(DONE_S) => self.go_home(),
            Mode::RollCall { .. } if idle >= Duration::seconds(ROLL_CALL_IDLE_S) => self.go_home(),
            Mode::RollCall { .. } => {}
            _ if idle >= Duration::seconds(INACTIVITY_S) => self.go_home(),
            _ => {}
        }
    }

    /// A manual sync finished: the staff screen says how it went, with the time. Staff who
    /// have left by then see it on the sync screen instead.
    fn manual_sync_done(
        &mut self,
        ctx: &Ctx,
        result: Result<SyncReport, Trouble>,
        now: DateTime<Utc>,
    ) {
        let time = now.with_timezone(&tz(ctx)).format("%-H:%M").to_string();
        let text = match &result {
            Ok(report) => {
                let changed = report
                    .counts
                    .values()
                    .map(|c| c.added + c.updated + c.archived)
                    .sum();
                self.say(Msg::ManualSyncDone {
                    time: &time,
                    changed,
                    to_fix: report.lines.len(),
                })
            }
            Err(trouble) => {
                let error = self.say(Msg::Trouble(trouble));
                self.say(Msg::ManualSyncFailed {
                    time: &time,
                    error: &error,
                })
            }
        };
        if let Mode::Staff { notice, .. } = &mut self.mode {
            *notice = Some(text);
        }
    }

    /// End of a transaction: home, in the center's language.
    fn go_home(&mut self) {
        self.mode = Mode::Home;
        self.lang = self.default_lang;
    }

    fn saved(&mut self, result: Result<(), String>, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let Mode::Saving {
            lines,
            back,
            summary,
            outcome,
        } = &self.mode
        else {
            return;
        };
        if let (Ok(()), Some(outcome)) = (&result, outcome) {
            fx.push(Effect::Feedback(*outcome));
        }
        self.mode = match (result, back.clone()) {
            (Ok(()), None) => Mode::Done {
                lines: lines.clone(),
                since: now,
            },
            (Err(_), None) => Mode::Message {
                tone: Tone::Caution,
                text: self.say(Msg::NotSaved),
            },
            (result, Some(mut back)) => {
                if let Mode::Staff {
                    selected, notice, ..
                } = back.as_mut()
                {
                    *notice = Some(match result {
                        Ok(()) => {
                            selected.clear();
                            summary.clone()
                        }
                        // The selection stays, so staff can try again.
                        Err(_) => self.say(Msg::NotSaved),
                    });
                }
                *back
            }
        };
    }

    fn tap(&mut self, ctx: &Ctx, tap: Tap, now: DateTime<Utc>, ids: IdGen, fx: &mut Vec<Effect>) {
        match &self.mode {
            Mode::RollCall { .. } => return self.tap_roll_call(ctx, tap, fx),
            Mode::SyncErrors { .. } => return self.tap_sync_errors(ctx, tap, fx),
            Mode::Device { .. } => return self.tap_device(ctx, tap, now, fx),
            _ => {}
        }
        let lang = self.lang;
        match &mut self.mode {
            Mode::Home => match tap {
                Tap::Lang(l) => self.lang = l,
                Tap::Digit(d) => {
                    self.mode = Mode::Pin {
                        digits: d.to_string(),
                        message: None,
                    };
                }
                Tap::Start | Tap::Staff => {
                    self.mode = Mode::Pin {
                        digits: String::new(),
                        message: None,
                    };
                }
                _ => {}
            },
            Mode::Pin { digits, message } => match tap {
                Tap::Back | Tap::Cancel => self.go_home(),
                Tap::Clear => digits.clear(),
                Tap::Backspace => {
                    digits.pop();
                }
                Tap::Ok => {
                    let typed = std::mem::take(digits);
                    *message = None;
                    self.submit_pin(ctx, &typed, now, fx);
                }
                Tap::Digit(d) if digits.len() < MAX_PIN_LEN => {
                    digits.push(d);
                    *message = None;
                }
                _ => {}
            },
            Mode::Family {
                person_id,
                method,
                selected,
                notice,
            } => match tap {
                Tap::Cancel | Tap::Back => self.go_home(),
                Tap::CheckIn | Tap::CheckOut => {
                    let person_id = person_id.clone();
                    let method = *method;
                    let chosen = selected.clone();
                    let out = tap == Tap::CheckOut;
                    let drafts = family_drafts(ctx, lang, &person_id, &chosen, out, now);
                    if drafts.is_empty() {
                        *notice = Some(if out {
                            Msg::ChooseChildOut.text(lang)
                        } else {
                            Msg::ChooseChildIn.text(lang)
                        });
                        return;
                    }
                    self.record(
                        ctx,
                        drafts,
                        &person_id_actor(ctx, &person_id),
                        method,
                        now,
                        ids,
                        fx,
                    );
                }
                Tap::Child(cid) => {
                    let allowed = ctx
                        .roster
                        .children_for(person_id)
                        .iter()
                        .any(|(c, p)| c.id == cid && matches!(p, Permission::Allowed(_)));
                    if allowed {
                        toggle(selected, cid);
                    }
                    *notice = None;
                }
                _ => {}
            },
            // Handled above.
            Mode::RollCall { .. } | Mode::SyncErrors { .. } | Mode::Device { .. } => {}
            Mode::Saving { .. } => {}
            Mode::Done { .. } | Mode::Message { .. } => self.go_home(),
            Mode::Staff {
                staff_id,
                method,
                room,
                selected,
                notice,
                confirm,
            } => {
                *notice = None;
                // A confirmation holds for the very next tap only.
                let confirmed = std::mem::take(confirm) && tap == Tap::CheckIn;
                let staff_id = staff_id.clone();
                let method = *method;
                match (tap, room.clone()) {
                    (Tap::Exit | Tap::Done | Tap::Cancel, _) => self.go_home(),
                    (Tap::Back, Some(_)) => {
                        *room = None;
                        selected.clear();
                    }
                    (Tap::Back, None) => self.go_home(),
                    (tap @ (Tap::ClockIn | Tap::ClockOut), _) => {
                        let on = ctx.presence.staff.contains_key(&staff_id);
                        let want_in = tap == Tap::ClockIn;
                        if on == want_in {
                            *notice = Some(if on {
                                Msg::AlreadyClockedIn.text(lang)
                            } else {
                                Msg::NotClockedIn.text(lang)
                            });
                            return;
                        }
                        let kind = if want_in {
                            EventType::StaffClockIn
                        } else {
                            EventType::StaffClockOut
                        };
                        let s = ctx.roster.staff.get(&staff_id);
                        let name = s.map(|s| s.first_name.as_str()).unwrap_or(&staff_id);
                        let draft = Draft {
                            kind,
                            child_id: None,
                            staff_id: Some(staff_id.clone()),
                            room_id: s.and_then(|s| s.room_id.clone()),
                            to_room_id: None,
                            flags: vec![],
                            line: if want_in {
                                Msg::ClockedIn { name }.text(lang)
                            } else {
                                Msg::ClockedOut { name }.text(lang)
                            },
                        };
                        let actor = staff_actor(ctx, &staff_id);
                        self.record(ctx, vec![draft], &actor, method, now, ids, fx);
                    }
                    (Tap::SyncNow, _) => {
                        if let Some(t) = ctx.next_manual_sync_at.filter(|t| *t > now) {
                            let at = t.with_timezone(&tz(ctx)).format("%-H:%M").to_string();
                            *notice = Some(Msg::SyncTooSoon { at: Some(&at) }.text(lang));
                        } else {
                            fx.push(Effect::ManualSync { staff_id });
                            *notice = Some(Msg::Syncing.text(lang));
                        }
                    }
                    (Tap::RollCall, _) => self.start_roll_call(ctx, staff_id, method, now, fx),
                    (Tap::SyncErrors, _) => {
                        self.mode = Mode::SyncErrors {
                            staff_id,
                            method,
                            confirm: None,
                            notice: None,
                        };
                    }
                    (Tap::Device, _) => self.open_device(ctx, staff_id, method, fx),
                    // A typed PIN never lifts the lock: someone who knows one PIN must not
                    // buy more guesses with it.
                    (Tap::LiftLockout, _) if method == Method::Pin => {
                        *notice = Some(Msg::UnlockWithBadge.text(lang));
                    }
                    (Tap::LiftLockout, _) => {
                        self.lift_lock(&staff_id, method, now, fx);
                        if let Mode::Staff { notice, .. } = &mut self.mode {
                            *notice = Some(Msg::KeypadUnlocked.text(lang));
                        }
                    }
                    // "Select all" acts on one group: the children here, or those not here.
                    (tap @ (Tap::SelectPresent | Tap::SelectAbsent), Some(r)) => {
                        let want_present = tap == Tap::SelectPresent;
                        let group: BTreeSet<String> = room_children(ctx, &r)
                            .into_iter()
                            .filter(|c| ctx.presence.is_in(c) == want_present)
                            .collect();
                        if *selected == group {
                            selected.clear();
                        } else {
                            *selected = group;
                        }
                    }
                    (tap @ (Tap::CheckIn | Tap::CheckOut), Some(r)) => {
                        let out = tap == Tap::CheckOut;
                        let drafts = staff_drafts(ctx, lang, &r, selected, out, now);
                        if drafts.is_empty() {
                            *notice = Some(Msg::SelectChildrenFirst.text(lang));
                            return;
                        }
                        if !out && drafts.len() > BATCH_CONFIRM_OVER && !confirmed {
                            *confirm = true;
                            *notice = Some(Msg::ConfirmBatchCheckIn { n: drafts.len() }.text(lang));
                            return;
                        }
                        let actor = staff_actor(ctx, &staff_id);
                        self.record(ctx, drafts, &actor, Method::StaffBatch, now, ids, fx);
                    }
                    (Tap::Room(r), _) => {
                        let known = ctx.roster.rooms.get(&r).is_some_and(|x| x.active)
                            || ctx.presence.count_in_room(&r) > 0;
                        if known {
                            *room = Some(r);
                            selected.clear();
                        }
                    }
                    (Tap::Child(cid), Some(_)) => toggle(selected, cid),
                    (Tap::Transfer(to), Some(from)) => {
                        let drafts = transfer_drafts(ctx, lang, &from, &to, selected);
                        if drafts.is_empty() {
                            *notice = Some(Msg::SelectPresentToMove.text(lang));
                            return;
                        }
                        let actor = staff_actor(ctx, &staff_id);
                        self.record(ctx, drafts, &actor, Method::StaffBatch, now, ids, fx);
                    }
                    _ => {}
                }
            }
        }
    }

    fn submit_pin(&mut self, ctx: &Ctx, typed: &str, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        if let Some(left) = self.guard.locked_for(now) {
            // Closed to everyone, staff included: nothing typed is even looked up.
            self.mode = Mode::Pin {
                digits: String::new(),
                message: Some(self.say(Msg::KeypadLocked { secs: left })),
            };
            return;
        }
        if !is_complete(typed) {
            // An empty or short entry is not a guess: it neither counts nor locks.
            self.mode = Mode::Pin {
                digits: String::new(),
                message: Some(self.say(Msg::PinIncomplete)),
            };
            return;
        }
        let hash = pin_hmac(ctx.pin_key, typed);
        let found = ctx.roster.lookup_pin(&hash).cloned();
        let technician = ctx.technician_pin_hmac.is_some_and(|t| same_hash(&hash, t));
        match found {
            Some(identity) => {
                if technician {
                    // The roster keeps its PIN; the technician PIN is off until it is reset.
                    fx.push(Effect::Audit {
                        kind: AuditKind::TechnicianPinCollision,
                        detail: json!({}),
                    });
                }
                // A correct PIN erases no earlier miss.
                self.identified(ctx, identity, Method::Pin, now, fx);
            }
            None if technician => self.open_device_as_technician(fx),
            None => match ctx.roster.lookup_inactive_pin(&hash).cloned() {
                Some(who) => self.refuse_inactive(who, now, fx),
                None => {
                    let message = self.count_miss(now, fx);
                    self.mode = Mode::Pin {
                        digits: String::new(),
                        message: Some(message),
                    };
                }
            },
        }
    }

    /// An archived person's or staff member's PIN opens nothing. It counts as a try like
    /// any other miss, but the door says why and the audit log keeps it.
    fn refuse_inactive(&mut self, who: Identity, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let (kind, detail, words) = match &who {
            Identity::Staff(id) => (
                AuditKind::RefusedInactiveStaff,
                json!({ "staff_id": id, "method": Method::Pin }),
                Msg::StaffPinInactive,
            ),
            Identity::Person(id) => (
                AuditKind::RefusedInactivePerson,
                json!({ "person_id": id, "method": Method::Pin }),
                Msg::PersonPinInactive,
            ),
        };
        fx.push(Effect::Audit { kind, detail });
        // `submit_pin` never gets here while locked: a lock now is this miss's.
        let said = self.count_miss(now, fx);
        if self.guard.locked_for(now).is_some() {
            self.mode = Mode::Pin {
                digits: String::new(),
                message: Some(said),
            };
        } else {
            self.mode = Mode::Message {
                tone: Tone::Caution,
                text: self.say(words),
            };
        }
    }

    /// A wrong complete PIN at the keypad (or on the enrollment screen): counted, saved,
    /// and audited when it locks. Returns what the door says.
    fn count_miss(&mut self, now: DateTime<Utc>, fx: &mut Vec<Effect>) -> String {
        let lock = self.guard.miss(now);
        fx.push(Effect::SaveLockout(self.guard.clone()));
        match lock {
            Some(d) => {
                fx.push(Effect::Audit {
                    kind: AuditKind::PinLockout,
                    detail: json!({
                        "misses": self.guard.misses(now),
                        "locked_s": d.num_seconds(),
                    }),
                });
                self.say(Msg::TooManyTries {
                    secs: d.num_seconds(),
                })
            }
            None => self.say(Msg::PinNoMatch),
        }
    }

    /// Staff at the door (badge or fingerprint) lift the keypad lock. Audited with who.
    fn lift_lock(
        &mut self,
        staff_id: &str,
        method: Method,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        let was_locked = self.guard.locked_for(now).is_some();
        self.guard.lift();
        fx.push(Effect::SaveLockout(self.guard.clone()));
        fx.push(Effect::Audit {
            kind: AuditKind::LockoutLifted,
            detail: json!({ "staff_id": staff_id, "method": method, "was_locked": was_locked }),
        });
    }

    fn identified(
        &mut self,
        ctx: &Ctx,
        identity: Identity,
        method: Method,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        match identity {
            Identity::Staff(staff_id)
                if ctx.roster.staff.get(&staff_id).is_some_and(|s| s.active) =>
            {
                // A badge or a fingerprint is a member of staff in person: it lifts a lock.
                let mut notice = None;
                if method != Method::Pin && self.guard.locked_for(now).is_some() {
                    self.lift_lock(&staff_id, method, now, fx);
                    notice = Some(self.say(Msg::KeypadUnlocked));
                }
                self.mode = Mode::Staff {
                    staff_id,
                    method,
                    room: None,
                    selected: BTreeSet::new(),
                    notice,
                    confirm: false,
                };
            }
            Identity::Person(person_id) => {
                let kids = ctx.roster.children_for(&person_id);
                if kids.is_empty() {
                    self.mode = Mode::Message {
                        tone: Tone::Caution,
                        text: self.say(Msg::NoChildren),
                    };
                    return;
                }
                let mut selected = BTreeSet::new();
                for (child, perm) in &kids {
                    match perm {
                        Permission::Allowed(_) => {
                            selected.insert(child.id.clone());
                        }
                        Permission::Refused(_) => {
                            fx.push(Effect::Audit {
                                kind: AuditKind::RefusedNotAuthorized,
                                detail: json!({ "person_id": person_id, "child_id": child.id }),
                            });
                            self.alerts.push(Refusal {
                                at: now,
                                person_id: person_id.clone(),
                                child_id: child.id.clone(),
                            });
                            // Keep a day's worth at most.
                            if self.alerts.len() > 100 {
                                self.alerts.remove(0);
                            }
                        }
                    }
                }
                self.mode = Mode::Family {
                    person_id,
                    method,
                    selected,
                    notice: None,
                };
            }
            Identity::Staff(staff_id) => {
                fx.push(Effect::Audit {
                    kind: AuditKind::RefusedInactiveStaff,
                    detail: json!({ "staff_id": staff_id, "method": method }),
                });
                self.mode = Mode::Message {
                    tone: Tone::Caution,
                    text: self.say(Msg::StaffPinInactive),
                };
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        ctx: &Ctx,
        drafts: Vec<Draft>,
        actor: &Actor,
        method: Method,
        now: DateTime<Utc>,
        ids: IdGen,
        fx: &mut Vec<Effect>,
    ) {
        let local = now.with_timezone(&tz(ctx)).fixed_offset();
        let time = local.format("%-H:%M").to_string();
        let summary = self.batch_summary(ctx, &drafts, &time);
        let mut lines = Vec::new();
        let mut events = Vec::new();
        for d in drafts {
            let mut flags = d.flags;
            if !ctx.clock_synced {
                flags.push("clock_unsynced".into());
            }
            lines.push(self.say(Msg::WithTime {
                line: &d.line,
                time: &time,
            }));
            events.push(Event {
                event_id: ids(now),
                kind: d.kind,
                child_id: d.child_id,
                staff_id: d.staff_id,
                room_id: d.room_id,
                to_room_id: d.to_room_id,
                occurred_at: local,
                clock_synced: ctx.clock_synced,
                device_id: ctx.device_id.to_string(),
                actor: actor.clone(),
                method,
                flags,
            });
        }
        let outcome = door_outcome(&events);
        fx.push(Effect::Record(events));
        // Staff stay in staff mode: the result shows on the screen they acted from.
        let back = match &self.mode {
            Mode::Staff { .. } => Some(Box::new(self.mode.clone())),
            _ => None,
        };
        self.mode = Mode::Saving {
            lines,
            back,
            summary,
            outcome,
        };
    }

    /// One line for the staff screen about a saved action: the draft's own line for one
    /// event, a count for a batch ("12 children checked out — 18:02").
    fn batch_summary(&self, ctx: &Ctx, drafts: &[Draft], time: &str) -> String {
        let n = drafts.len();
        let line = match drafts {
            [one] => one.line.clone(),
            [first, ..] => match first.kind {
                EventType::CheckIn => self.say(Msg::BatchCheckedIn { n }),
                EventType::CheckOut => self.say(Msg::BatchCheckedOut { n }),
                EventType::Transfer => self.say(Msg::BatchMoved {
                    n,
                    room: ctx
                        .roster
                        .room_name(first.to_room_id.as_deref().unwrap_or_default()),
                }),
                _ => first.line.clone(),
            },
            [] => String::new(),
        };
        self.say(Msg::WithTime { line: &line, time })
    }

    /// The screen for the current state.
    pub fn screen(&self, ctx: &Ctx, now: DateTime<Utc>) -> Screen {
        let local = now.with_timezone(&tz(ctx));
        match &self.mode {
            Mode::Home => Screen::Home {
                center: ctx
                    .roster
                    .center
                    .as_ref()
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                clock: local.format("%-H:%M").to_string(),
                greeting: self.say(greeting(local.hour())),
            },
            Mode::Pin { digits, message } => Screen::Pin {
                entered: digits.len(),
                locked_for_s: self.guard.locked_for(now),
                message: message.clone(),
            },
            Mode::Family {
                person_id,
                selected,
                notice,
                ..
            } => {
                let kids = ctx.roster.children_for(person_id);
                let person = ctx.roster.people.get(person_id);
                let first = person.map(|p| p.first_name.as_str()).unwrap_or_default();
                let children: Vec<ChildCard> = kids
                    .iter()
                    .map(|(c, perm)| {
                        let here = ctx.presence.children.get(&c.id);
                        ChildCard {
                            id: c.id.clone(),
                            first_name: c.first_name.clone(),
                            initials: c.initials(),
                            // Where the child is, or the room a check-in now would use.
                            room: ctx
                                .roster
                                .room_name(match here {
                                    Some(h) => h.room_id.as_str(),
                                    None => {
                                        schedule::room_for_check_in(
                                            &c.room_id,
                                            &c.schedule,
                                            local.naive_local(),
                                        )
                                        .0
                                    }
                                })
                                .to_string(),
                            state: match here {
                                Some(h) => {
                                    let time = h
                                        .since
                                        .with_timezone(&tz(ctx))
                                        .format("%-H:%M")
                                        .to_string();
                                    self.say(Msg::InSince { time: &time })
                                }
                                None => self.say(Msg::NotHere),
                            },
                            present: here.is_some(),
                            selected: selected.contains(&c.id),
                            refused: match perm {
                                Permission::Refused(_) if here.is_some() => {
                                    Some(self.say(Msg::CantPickUp {
                                        who: first,
                                        child: &c.first_name,
                                    }))
                                }
                                Permission::Refused(_) => Some(self.say(Msg::CantDropOff {
                                    who: first,
                                    child: &c.first_name,
                                })),
                                Permission::Allowed(_) => None,
                            },
                        }
                    })
                    .collect();
                let check_in_count = children.iter().filter(|c| c.selected && !c.present).count();
                let check_out_count = children.iter().filter(|c| c.selected && c.present).count();
                Screen::Family {
                    greeting: self.say(Msg::Hi { name: first }),
                    children,
                    check_in_count,
                    check_out_count,
                    notice: notice.clone(),
                }
            }
            Mode::Saving { .. } => Screen::Saving,
            Mode::Done { lines, .. } => Screen::Done {
                lines: lines.clone(),
            },
            Mode::Message { tone, text } => Screen::Message {
                tone: *tone,
                text: text.clone(),
            },
            Mode::Staff {
                staff_id,
                room,
                selected,
                notice,
                confirm,
                ..
            } => match room {
                None => self.staff_home(ctx, staff_id, notice, now),
                Some(r) => staff_room(ctx, self.lang, r, selected, notice, *confirm, now),
            },
            Mode::RollCall { call, summary, .. } => self.roll_call_screen(ctx, call, *summary),
            Mode::SyncErrors {
                confirm, notice, ..
            } => self.sync_errors_screen(ctx, confirm.as_deref(), notice),
            Mode::Device { dev, .. } => self.device_screen(ctx, dev, now),
        }
    }

    fn staff_home(
        &self,
        ctx: &Ctx,
        staff_id: &str,
        notice: &Option<String>,
        now: DateTime<Utc>,
    ) -> Screen {
        let tzz = tz(ctx);
        let local = now.with_timezone(&tzz).naive_local();
        let late = late_pickups(ctx, now);
        let rooms: Vec<RoomCard> = ratios(ctx.roster, ctx.presence)
            .into_iter()
            .map(|r| {
                let present = r.children as usize;
                let staff_on_duty = r.staff as usize;
                RoomCard {
                    summary: self.say(Msg::RoomSummary {
                        present,
                        staff: staff_on_duty,
                        ratio: r.children_per_staff,
                    }),
                    late_pickups: late.iter().filter(|l| l.room_id == r.room_id).count(),
                    id: r.room_id,
                    name: r.room_name,
                    present,
                    staff_on_duty,
                    ratio: r.children_per_staff,
                    over_ratio: r.state == RatioState::Over,
                    ratio_state: r.state.as_str().to_string(),
                }
            })
            .collect();
        let mut alerts = Vec::new();
        if ctx.device.revoked {
            alerts.push(self.say(Msg::AlertRevoked));
        }
        for h in ctx
            .device
            .hardware
            .iter()
            .filter(|h| h.state == HardwareState::Fault)
        {
            alerts.push(if h.device == Hardware::Fingerprint {
                self.say(Msg::AlertFingerprintFault)
            } else {
                let line = self.hardware_line(h);
                self.say(Msg::AlertHardware {
                    name: &line.name,
                    detail: &line.detail,
                })
            });
        }
        if !ctx.sync.parked.is_empty() {
            alerts.push(self.say(Msg::AlertParked {
                n: ctx.sync.parked.len(),
            }));
        }
        for l in &late {
            let until = l.until.format("%-H:%M").to_string();
            alerts.push(self.say(Msg::AlertLatePickup {
                child: &l.name,
                room: ctx.roster.room_name(&l.room_id),
                until: &until,
            }));
        }
        let today = local.date();
        if let Some(until) = self.guard.locked_until(now) {
            let until = until.with_timezone(&tzz).format("%-H:%M").to_string();
            alerts.push(self.say(Msg::AlertKeypadLocked { until: &until }));
        }
        let day_start = now - Duration::hours(24);
        let lockouts: Vec<_> = self.guard.lockouts_since(day_start).collect();
        for (at, secs) in lockouts.iter().rev().take(5) {
            if at.with_timezone(&tzz).date_naive() != today {
                continue;
            }
            let time = at.with_timezone(&tzz).format("%-H:%M").to_string();
            alerts.push(self.say(Msg::AlertLockout {
                time: &time,
                secs: *secs,
            }));
        }
        for r in self
            .alerts
            .iter()
            .rev()
            .filter(|r| r.at.with_timezone(&tzz).date_naive() == today)
            .take(10)
        {
            let time = r.at.with_timezone(&tzz).format("%-H:%M").to_string();
            let who = ctx
                .roster
                .people
                .get(&r.person_id)
                .map(|p| p.full_name())
                .unwrap_or_else(|| r.person_id.clone());
            let child = ctx
                .roster
                .children
                .get(&r.child_id)
                .map(|c| c.first_name.as_str())
                .unwrap_or(&r.child_id);
            alerts.push(self.say(Msg::AlertNotAuthorized {
                time: &time,
                who: &who,
                child,
            }));
        }
        Screen::Staff {
            name: ctx
                .roster
                .staff
                .get(staff_id)
                .map(|s| s.full_name())
                .unwrap_or_default(),
            on_duty: ctx.presence.staff.contains_key(staff_id),
            rooms,
            alerts,
            keypad_locked: self.guard.locked_for(now).is_some(),
            manual_sync: ManualSync {
                allowed: ctx.next_manual_sync_at.is_none_or(|t| t <= now),
                next_at: ctx
                    .next_manual_sync_at
                    .filter(|t| *t > now)
                    .map(|t| t.with_timezone(&tzz).format("%-H:%M").to_string()),
            },
            notice: notice.clone(),
            parked: ctx.sync.parked.len(),
            device_allowed: may_open_device(ctx, staff_id),
        }
    }
}

/// Two hex HMACs are equal, compared in constant time.
/// Select `id`, or unselect it when it was selected.
fn toggle(selected: &mut BTreeSet<String>, id: String) {
    if !selected.remove(&id) {
        selected.insert(id);
    }
}

/// What the door signals once these events are committed: arrivals and departures open
/// it; transfers happen inside and do not.
fn door_outcome(events: &[Event]) -> Option<DoorOutcome> {
    let any = |kinds: &[EventType]| events.iter().any(|e| kinds.contains(&e.kind));
    if any(&[EventType::CheckIn, EventType::StaffClockIn]) {
        Some(DoorOutcome::CheckedIn)
    } else if any(&[EventType::CheckOut, EventType::StaffClockOut]) {
        Some(DoorOutcome::CheckedOut)
    } else {
        None
    }
}

fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Directors and administrators may open the device screen (domain-rules.md).
fn may_open_device(ctx: &Ctx, staff_id: &str) -> bool {
    ctx.roster
        .staff
        .get(staff_id)
        .is_some_and(|s| s.active && matches!(s.role, StaffRole::Director | StaffRole::Admin))
}

/// A child still here after the end of today's schedule.
struct LatePickup {
    name: String,
    room_id: String,
    until: chrono::NaiveTime,
}

/// Children present now whose last scheduled block of today has ended, by name.
fn late_pickups(ctx: &Ctx, now: DateTime<Utc>) -> Vec<LatePickup> {
    let local = now.with_timezone(&tz(ctx)).naive_local();
    let mut out: Vec<LatePickup> = ctx
        .presence
        .children
        .iter()
        .filter_map(|(id, here)| {
            let c = ctx.roster.children.get(id)?;
            if !schedule::is_late_pickup(&c.schedule, local) {
                return None;
            }
            let until = c
                .schedule
                .iter()
                .filter(|b| b.days.contains(&local.weekday()))
                .map(|b| b.to)
                .max()?;
            Some(LatePickup {
                name: short_name(&c.first_name, &c.last_name),
                room_id: here.room_id.clone(),
                until,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// "Alex R."
fn short_name(first: &str, last: &str) -> String {
    match last.chars().next() {
        Some(l) => format!("{first} {l}."),
        None => first.to_string(),
    }
}

fn tz(ctx: &Ctx) -> chrono_tz::Tz {
    ctx.roster
        .center
        .as_ref()
        .map(|c| c.tz)
        .unwrap_or(chrono_tz::UTC)
}

fn greeting(hour: u32) -> Msg<'static> {
    match hour {
        0..=11 => Msg::GoodMorning,
        12..=16 => Msg::GoodAfternoon,
        _ => Msg::GoodEvening,
    }
}

/// An event before it gets its id, time and actor.
struct Draft {
    kind: EventType,
    child_id: Option<String>,
    staff_id: Option<String>,
    room_id: Option<String>,
    to_room_id: Option<String>,
    flags: Vec<String>,
    /// What the confirmation screen says about it.
    line: String,
}

fn person_id_actor(ctx: &Ctx, person_id: &str) -> Actor {
    let p = ctx.roster.people.get(person_id);
    Actor {
        person_id: Some(person_id.to_string()),
        kind: if p.is_some_and(|p| p.guardian) {
            ActorKind::Guardian
        } else {
            ActorKind::Pickup
        },
        name: p.map(|p| p.full_name()).unwrap_or_default(),
    }
}

fn staff_actor(ctx: &Ctx, staff_id: &str) -> Actor {
    Actor {
        person_id: Some(staff_id.to_string()),
        kind: ActorKind::Staff,
        name: ctx
            .roster
            .staff
            .get(staff_id)
            .map(|s| s.full_name())
            .unwrap_or_default(),
    }
}

fn check_in_draft(ctx: &Ctx, lang: Lang, child_id: &str, now: DateTime<Utc>) -> Option<Draft> {
    let c = ctx.roster.children.get(child_id).filter(|c| c.active)?;
    let local = now.with_timezone(&tz(ctx)).naive_local();
    let (room, why) = schedule::room_for_check_in(&c.room_id, &c.schedule, local);
    let mut flags = Vec::new();
    if schedule::is_unscheduled(&c.schedule, local) {
        flags.push(crate::domain::presence::UNSCHEDULED.to_string());
    }
    let reason = why
        .map(|b| {
            Msg::ScheduledThere {
                from: &b.from.format("%-H:%M").to_string(),
                to: &b.to.format("%-H:%M").to_string(),
            }
            .text(lang)
        })
        .unwrap_or_default();
    Some(Draft {
        kind: EventType::CheckIn,
        child_id: Some(c.id.clone()),
        staff_id: None,
        room_id: Some(room.to_string()),
        to_room_id: None,
        flags,
        line: format!(
            "{}{reason}",
            Msg::CheckedIn {
                child: &c.first_name,
                room: ctx.roster.room_name(room)
            }
            .text(lang)
        ),
    })
}

fn check_out_draft(ctx: &Ctx, lang: Lang, child_id: &str, now: DateTime<Utc>) -> Option<Draft> {
    let c = ctx.roster.children.get(child_id)?;
    let here = ctx.presence.children.get(child_id)?;
    let local = now.with_timezone(&tz(ctx)).naive_local();
    let mut flags = Vec::new();
    if schedule::is_late_pickup(&c.schedule, local) {
        flags.push("late_pickup".to_string());
    }
    Some(Draft {
        kind: EventType::CheckOut,
        child_id: Some(c.id.clone()),
        staff_id: None,
        room_id: Some(here.room_id.clone()),
        to_room_id: None,
        flags,
        line: Msg::CheckedOut {
            child: &c.first_name,
        }
        .text(lang),
    })
}

/// Events for a family's selection: only children this person may act for.
fn family_drafts(
    ctx: &Ctx,
    lang: Lang,
    person_id: &str,
    selected: &BTreeSet<String>,
    out: bool,
    now: DateTime<Utc>,
) -> Vec<Draft> {
    ctx.roster
        .children_for(person_id)
        .into_iter()
        .filter(|(c, p)| selected.contains(&c.id) && matches!(p, Permission::Allowed(_)))
        .filter(|(c, _)| ctx.presence.is_in(&c.id) == out)
        .filter_map(|(c, _)| {
            if out {
                check_out_draft(ctx, lang, &c.id, now)
            } else {
                check_in_draft(ctx, lang, &c.id, now)
            }
        })
        .collect()
}

fn room_children(ctx: &Ctx, room: &str) -> Vec<String> {
    let mut ids: Vec<&crate::domain::roster::ChildInfo> = ctx
        .roster
        .active_children()
        .filter(|c| match ctx.presence.children.get(&c.id) {
            Some(h) => h.room_id == room,
            None => c.room_id == room,
        })
        .collect();
    ids.sort_by(|a, b| {
        (&a.first_name, &a.last_name, &a.id).cmp(&(&b.first_name, &b.last_name, &b.id))
    });
    ids.into_iter().map(|c| c.id.clone()).collect()
}

fn staff_drafts(
    ctx: &Ctx,
    lang: Lang,
    room: &str,
    selected: &BTreeSet<String>,
    out: bool,
    now: DateTime<Utc>,
) -> Vec<Draft> {
    room_children(ctx, room)
        .into_iter()
        .filter(|id| selected.contains(id) && ctx.presence.is_in(id) == out)
        .filter_map(|id| {
            if out {
                check_out_draft(ctx, lang, &id, now)
            } else {
                check_in_draft(ctx, lang, &id, now)
            }
        })
        .collect()
}

fn transfer_drafts(
    ctx: &Ctx,
    lang: Lang,
    from: &str,
    to: &str,
    selected: &BTreeSet<String>,
) -> Vec<Draft> {
    if !ctx.roster.rooms.get(to).is_some_and(|r| r.active) || from == to {
        return Vec::new();
    }
    room_children(ctx, from)
        .into_iter()
        .filter(|id| selected.contains(id) && ctx.presence.is_in(id))
        .filter_map(|id| {
            let c = ctx.roster.children.get(&id)?;
            Some(Draft {
                kind: EventType::Transfer,
                child_id: Some(id.clone()),
                staff_id: None,
                room_id: Some(from.to_string()),
                to_room_id: Some(to.to_string()),
                flags: vec![],
                line: Msg::Moved {
                    child: &c.first_name,
                    room: ctx.roster.room_name(to),
                }
                .text(lang),
            })
        })
        .collect()
}

fn staff_room(
    ctx: &Ctx,
    lang: Lang,
    room: &str,
    selected: &BTreeSet<String>,
    notice: &Option<String>,
    confirm: bool,
    now: DateTime<Utc>,
) -> Screen {
    let local = now.with_timezone(&tz(ctx)).naive_local();
    let mut children: Vec<RosterRow> = room_children(ctx, room)
        .into_iter()
        .filter_map(|id| {
            let c = ctx.roster.children.get(&id)?;
            let here = ctx.presence.children.get(&id);
            let late_pickup = here.is_some() && schedule::is_late_pickup(&c.schedule, local);
            // What the check-in event said, not what the schedule says now.
            let unscheduled = here.is_some_and(|h| h.unscheduled) && !late_pickup;
            let mut flags = Vec::new();
            if late_pickup {
                flags.push(Msg::FlagLatePickup.text(lang));
            }
            if unscheduled {
                flags.push(Msg::FlagUnscheduled.text(lang));
            }
            Some(RosterRow {
                id: id.clone(),
                name: short_name(&c.first_name, &c.last_name),
                initials: initials(&c.first_name, &c.last_name),
                present: here.is_some(),
                since: here.map(|h| h.since.with_timezone(&tz(ctx)).format("%-H:%M").to_string()),
                selected: selected.contains(&id),
                late_pickup,
                unscheduled,
                flags,
            })
        })
        .collect();
    // The children here first, then those not here: two groups, never mixed up.
    children.sort_by_key(|c| !c.present);
    let present_count = children.iter().filter(|c| c.present).count();
    let mut transfer_to: Vec<RoomRef> = ctx
        .roster
        .rooms
        .values()
        .filter(|r| r.active && r.id != room)
        .map(|r| RoomRef {
            id: r.id.clone(),
            name: r.name.clone(),
        })
        .collect();
    transfer_to.sort_by(|a, b| a.name.cmp(&b.name));
    Screen::StaffRoom {
        room_id: room.to_string(),
        room_name: ctx.roster.room_name(room).to_string(),
        selected: children.iter().filter(|c| c.selected).count(),
        check_in_count: children.iter().filter(|c| c.selected && !c.present).count(),
        check_out_count: children.iter().filter(|c| c.selected && c.present).count(),
        present_count,
        absent_count: children.len() - present_count,
        all_present_selected: present_count > 0
            && children.iter().filter(|c| c.present).all(|c| c.selected),
        all_absent_selected: children.len() > present_count
            && children.iter().filter(|c| !c.present).all(|c| c.selected),
        confirm_check_in: confirm,
        children,
        transfer_to,
        notice: notice.clone(),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ops;
