//! The staff tools behind the staff screen: emergency roll call, sync errors (parked
//! events and sync reports) and the device screen with fingerprint enrollment.
//!
//! Same rules as the rest of the kiosk: pure, time injected, words from `i18n`, and the
//! audit log gets ids only. Each tool keeps the staff member's id and method so `back`
//! returns to their staff screen; the device screen opened by the technician PIN has no
//! staff member and `back` goes home.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::api::{EventType, Method};
use crate::domain::pin::{is_complete, pin_hmac, MAX_PIN_LEN};
use crate::domain::rollcall::{RollCall, RollCallEntry, Who};
use crate::domain::roster::{initials, Identity};

use super::screen::*;
use super::{
    may_open_device, short_name, tz, Ctx, Effect, EnrollFailure, EnrollProgress, Kiosk, Mode, Msg,
    SyncInfo,
};
use super::{AuditKind, Tap};

/// People per page in the device screen's list (fits 800×480 with 64 px rows).
pub const PEOPLE_PER_PAGE: usize = 6;
/// Problem lines shown per report.
pub const REPORT_LINES_SHOWN: usize = 8;

/// The device screen's own state.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct DeviceScreenState {
    letter: Option<char>,
    page: usize,
    /// The chosen person (a person id, or a staff id).
    person: Option<String>,
    consent: bool,
    confirm_delete: bool,
    enroll: Option<Step>,
    notice: Option<String>,
    /// The chosen person is typing their own PIN to confirm they are here (the digits so
    /// far); the screen is then the PIN pad.
    person_pin: Option<String>,
}

/// Where an enrollment or deletion is.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Starting,
    Place { capture: u8, of: u8 },
    Lift,
    Saved,
    Deleting,
    Deleted(usize),
    Failed(EnrollFailure),
}

impl Step {
    fn busy(&self) -> bool {
        matches!(
            self,
            Step::Starting | Step::Place { .. } | Step::Lift | Step::Deleting
        )
    }
}

impl DeviceScreenState {
    fn busy(&self) -> bool {
        self.enroll.as_ref().is_some_and(Step::busy)
    }
}

/// Someone who can have a fingerprint: an active guardian or pickup, or active staff.
struct Enrollable {
    id: String,
    first: String,
    last: String,
    kind: &'static str,
}

fn enrollable(ctx: &Ctx) -> Vec<Enrollable> {
    let mut out: Vec<Enrollable> = ctx
        .roster
        .people
        .values()
        .filter(|p| p.active())
        .map(|p| Enrollable {
            id: p.id.clone(),
            first: p.first_name.clone(),
            last: p.last_name.clone(),
            kind: if p.guardian { "guardian" } else { "pickup" },
        })
        .chain(
            ctx.roster
                .staff
                .values()
                .filter(|s| s.active)
                .map(|s| Enrollable {
                    id: s.id.clone(),
                    first: s.first_name.clone(),
                    last: s.last_name.clone(),
                    kind: "staff",
                }),
        )
        .collect();
    out.sort_by(|a, b| (&a.last, &a.first, &a.id).cmp(&(&b.last, &b.first, &b.id)));
    out
}

/// The letter tab a person is under: the initial of the last name (else the first).
fn letter_of(e: &Enrollable) -> char {
    e.last
        .chars()
        .chain(e.first.chars())
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().next().unwrap_or(c))
        .unwrap_or('#')
}

/// How many sensor slots name this person (person or staff id).
fn fingers(ctx: &Ctx, id: &str) -> usize {
    ctx.fingerprints
        .values()
        .filter(|i| match i {
            Identity::Person(p) | Identity::Staff(p) => p == id,
        })
        .count()
}

impl Kiosk {
    /// Back to this staff member's screen, with a notice.
    fn back_to_staff(&mut self, staff_id: String, method: Method, notice: Option<String>) {
        self.mode = Mode::Staff {
            staff_id,
            method,
            room: None,
            selected: Default::default(),
            notice,
            confirm: false,
        };
    }

    // ------------------------------------------------------------------ roll call

    pub(super) fn start_roll_call(
        &mut self,
        ctx: &Ctx,
        staff_id: String,
        method: Method,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        let call = RollCall::start(ctx.roster, ctx.presence, now);
        fx.push(Effect::Audit {
            kind: AuditKind::RollCallStarted,
            detail: json!({ "staff_id": staff_id, "total": call.summary().total }),
        });
        self.mode = Mode::RollCall {
            staff_id,
            method,
            call,
            summary: false,
        };
    }

    pub(super) fn tap_roll_call(&mut self, _ctx: &Ctx, tap: Tap, fx: &mut Vec<Effect>) {
        let Mode::RollCall {
            staff_id,
            call,
            summary,
            ..
        } = &mut self.mode
        else {
            return;
        };
        match (tap, *summary) {
            (Tap::FinishRollCall, false) => {
                let s = call.summary();
                fx.push(Effect::Audit {
                    kind: AuditKind::RollCallFinished,
                    detail: json!({
                        "staff_id": staff_id,
                        "total": s.total,
                        "accounted": s.accounted.len(),
                        "missing_ids": s.missing.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                    }),
                });
                *summary = true;
            }
            (Tap::Back, true) => *summary = false,
            (Tap::Done | Tap::Exit, true) => {
                let Mode::RollCall {
                    staff_id, method, ..
                } = std::mem::replace(&mut self.mode, Mode::Home)
                else {
                    return;
                };
                self.back_to_staff(staff_id, method, None);
            }
            (Tap::Account(pid), false) => {
                let accounted = call.summary().accounted.iter().any(|e| e.id == pid);
                if accounted {
                    call.untick(&pid);
                } else {
                    call.tick(&pid);
                }
            }
            _ => {}
        }
    }

    fn roll_call_person(&self, ctx: &Ctx, e: &RollCallEntry) -> RollCallPerson {
        let ini = match e.who {
            Who::Child => ctx.roster.children.get(&e.id).map(|c| c.initials()),
            Who::Staff => ctx
                .roster
                .staff
                .get(&e.id)
                .map(|s| initials(&s.first_name, &s.last_name)),
        };
        RollCallPerson {
            id: e.id.clone(),
            name: e.name.clone(),
            initials: ini
                .unwrap_or_else(|| e.name.chars().take(2).collect::<String>().to_uppercase()),
            who: match e.who {
                Who::Child => "child",
                Who::Staff => "staff",
            }
            .to_string(),
            room_name: self.room_label(e.room_id.as_deref(), &e.room_name),
            accounted: e.accounted,
        }
    }

    /// The domain names staff without a room "Unassigned": say it in the door's language.
    fn room_label(&self, room_id: Option<&str>, name: &str) -> String {
        match room_id {
            Some(_) => name.to_string(),
            None => self.say(Msg::Unassigned),
        }
    }

    pub(super) fn roll_call_screen(&self, ctx: &Ctx, call: &RollCall, summary: bool) -> Screen {
        let s = call.summary();
        if summary {
            let missing = s.missing.len();
            return Screen::RollCallSummary {
                all_accounted: s.all_accounted(),
                text: if s.all_accounted() {
                    self.say(Msg::RollCallAllAccounted { total: s.total })
                } else {
                    self.say(Msg::RollCallMissing {
                        missing,
                        total: s.total,
                    })
                },
                accounted: s.accounted.len(),
                total: s.total,
                missing: s
                    .missing
                    .iter()
                    .map(|e| self.roll_call_person(ctx, e))
                    .collect(),
            };
        }
        let rooms = call
            .rooms()
            .into_iter()
            .map(|g| RollCallRoom {
                room_name: self.room_label(g.room_id.as_deref(), &g.room_name),
                room_id: g.room_id,
                people: g
                    .entries
                    .iter()
                    .map(|e| self.roll_call_person(ctx, e))
                    .collect(),
            })
            .collect();
        Screen::RollCall {
            progress: self.say(Msg::RollCallProgress {
                accounted: s.accounted.len(),
                total: s.total,
            }),
            accounted: s.accounted.len(),
            total: s.total,
            rooms,
            started_at: s
                .started_at
                .with_timezone(&tz(ctx))
                .format("%-H:%M")
                .to_string(),
            notice: (s.total == 0).then(|| self.say(Msg::RollCallEmpty)),
        }
    }

    /// A device in the door's words.
    pub(super) fn hardware_line(&self, h: &super::HardwareReport) -> super::HardwareLine {
        super::HardwareLine {
            name: self.say(Msg::HardwareName(h.device)),
            state: h.state.as_str().to_string(),
            detail: match &h.detail {
                super::HardwareDetail::Nothing => self.say(Msg::HardwareState(h.state)),
                // The driver's words, after the state in the door's language.
                super::HardwareDetail::Technical(t) => {
                    format!("{}: {t}", self.say(Msg::HardwareState(h.state)))
                }
                other => self.say(Msg::HardwareDetail(other)),
            },
        }
    }

    // ------------------------------------------------------------------ sync errors

    pub(super) fn tap_sync_errors(&mut self, ctx: &Ctx, tap: Tap, fx: &mut Vec<Effect>) {
        let lang = self.lang;
        let Mode::SyncErrors {
            staff_id,
            confirm,
            notice,
            ..
        } = &mut self.mode
        else {
            return;
        };
        let parked = |eid: &str| ctx.sync.parked.iter().any(|p| p.event_id == eid);
        match tap {
            Tap::Retry(eid) => {
                *confirm = None;
                if !parked(&eid) {
                    *notice = Some(Msg::NoLongerParked.text(lang));
                    return;
                }
                fx.push(Effect::Audit {
                    kind: AuditKind::ParkedRetry,
                    detail: json!({ "staff_id": staff_id, "event_id": eid }),
                });
                fx.push(Effect::RetryParked { event_id: eid });
                *notice = Some(Msg::WillRetry.text(lang));
            }
            Tap::Dismiss(eid) => {
                if !parked(&eid) {
                    *confirm = None;
                    *notice = Some(Msg::NoLongerParked.text(lang));
                } else if confirm.as_deref() == Some(eid.as_str()) {
                    *confirm = None;
                    fx.push(Effect::Audit {
                        kind: AuditKind::ParkedDismissed,
                        detail: json!({ "staff_id": staff_id, "event_id": eid }),
                    });
                    fx.push(Effect::DismissParked { event_id: eid });
                    *notice = Some(Msg::Dismissed.text(lang));
                } else {
                    *confirm = Some(eid);
                    *notice = Some(Msg::ConfirmDismiss.text(lang));
                }
            }
            Tap::Back | Tap::Cancel => {
                let Mode::SyncErrors {
                    staff_id, method, ..
                } = std::mem::replace(&mut self.mode, Mode::Home)
                else {
                    return;
                };
                self.back_to_staff(staff_id, method, None);
            }
            // Any other tap takes back a pending "dismiss?" question.
            _ => *confirm = None,
        }
    }

    pub(super) fn sync_errors_screen(
        &self,
        ctx: &Ctx,
        confirm: Option<&str>,
        notice: &Option<String>,
    ) -> Screen {
        let tzz = tz(ctx);
        let parked = ctx
            .sync
            .parked
            .iter()
            .map(|p| ParkedRow {
                event_id: p.event_id.clone(),
                what: self.parked_what(ctx, &p.event),
                reason: self.say(reason(&p.reason)),
                parked_at: p
                    .parked_at
                    .map(|t| t.with_timezone(&tzz).format("%-H:%M").to_string()),
                confirm_dismiss: confirm == Some(p.event_id.as_str()),
            })
            .collect();
        let mut reports = Vec::new();
        if let Some(err) = &ctx.sync.last_error {
            reports.push(ReportRow {
                at: String::new(),
                ok: false,
                state: ReportState::Failed,
                kind: String::new(),
                text: self.say(Msg::SyncFailed {
                    error: &self.say(Msg::Trouble(err)),
                }),
                problems_text: None,
                problems: Vec::new(),
            });
        }
        let loops = &ctx.sync.loop_errors;
        for (what, trouble) in [
            ("disk", &loops.disk),
            ("upload", &loops.upload),
            ("peers", &loops.peers),
            ("heartbeat", &loops.heartbeat),
        ] {
            if let Some(trouble) = trouble {
                let error = &self.say(Msg::Trouble(trouble));
                reports.push(ReportRow {
                    at: String::new(),
                    ok: false,
                    state: ReportState::Failed,
                    kind: String::new(),
                    text: self.say(Msg::LoopFailed { what, error }),
                    problems_text: None,
                    problems: Vec::new(),
                });
            }
        }
        for r in ctx.sync.reports.iter().take(super::REPORTS_KEPT) {
            let (mut added, mut updated, mut archived) = (0, 0, 0);
            for c in r.counts.values() {
                added += c.added;
                updated += c.updated;
                archived += c.archived;
            }
            let problems = r.lines.len();
            reports.push(ReportRow {
                at: r
                    .at
                    .with_timezone(&tzz)
                    .format(match self.lang {
                        super::Lang::En => "%-m/%-d %-H:%M",
                        super::Lang::Es => "%-d/%-m %-H:%M",
                    })
                    .to_string(),
                // The sync worked; records the management system must fix are not a failure.
                ok: true,
                state: if problems == 0 {
                    ReportState::Ok
                } else {
                    ReportState::ToFix
                },
                kind: self.say(if r.full {
                    Msg::ReportFull
                } else {
                    Msg::ReportChanges
                }),
                text: self.say(Msg::ReportCounts {
                    added,
                    updated,
                    archived,
                }),
                problems_text: Some(if problems == 0 {
                    self.say(Msg::ReportOk)
                } else {
                    self.say(Msg::ReportProblems { n: problems })
                }),
                problems: r.lines.iter().take(REPORT_LINES_SHOWN).cloned().collect(),
            });
        }
        Screen::SyncErrors {
            parked,
            reports,
            notice: notice.clone(),
        }
    }

    /// "Check-in · Alex R. · Toddlers · 8:32": kind, who, room, time. No health details.
    fn parked_what(&self, ctx: &Ctx, e: &crate::api::Event) -> String {
        let kind = self.say(match e.kind {
            EventType::CheckIn => Msg::KindCheckIn,
            EventType::CheckOut => Msg::KindCheckOut,
            EventType::Transfer => Msg::KindTransfer,
            EventType::StaffClockIn => Msg::KindClockIn,
            EventType::StaffClockOut => Msg::KindClockOut,
        });
        let who = match (&e.child_id, &e.staff_id) {
            (Some(c), _) => ctx
                .roster
                .children
                .get(c)
                .map(|c| short_name(&c.first_name, &c.last_name))
                .unwrap_or_else(|| c.clone()),
            (None, Some(s)) => ctx
                .roster
                .staff
                .get(s)
                .map(|s| short_name(&s.first_name, &s.last_name))
                .unwrap_or_else(|| s.clone()),
            (None, None) => String::new(),
        };
        let mut parts = vec![kind];
        if !who.is_empty() {
            parts.push(who);
        }
        if let Some(room) = e.to_room_id.as_deref().or(e.room_id.as_deref()) {
            parts.push(ctx.roster.room_name(room).to_string());
        }
        parts.push(
            e.occurred_at
                .with_timezone(&tz(ctx))
                .format("%-H:%M")
                .to_string(),
        );
        parts.join(" · ")
    }

    // ------------------------------------------------------------------ device

    /// `device` tap on the staff screen: directors and admins only; audited either way.
    pub(super) fn open_device(
        &mut self,
        ctx: &Ctx,
        staff_id: String,
        method: Method,
        fx: &mut Vec<Effect>,
    ) {
        let allowed = may_open_device(ctx, &staff_id);
        fx.push(Effect::Audit {
            kind: AuditKind::DeviceScreen,
            detail: json!({ "staff_id": staff_id, "allowed": allowed }),
        });
        if allowed {
            self.mode = Mode::Device {
                staff_id: Some(staff_id),
                method,
                dev: DeviceScreenState::default(),
            };
        } else if let Mode::Staff { notice, .. } = &mut self.mode {
            *notice = Some(Msg::DeviceRefused.text(self.lang));
        }
    }

    /// The technician PIN: the device screen directly, with no staff identity (`back`
    /// goes home). Audited as `device_screen` with `"who": "technician"`.
    pub(super) fn open_device_as_technician(&mut self, fx: &mut Vec<Effect>) {
        fx.push(Effect::Audit {
            kind: AuditKind::DeviceScreen,
            detail: json!({ "who": "technician", "allowed": true }),
        });
        self.mode = Mode::Device {
            staff_id: None,
            method: Method::Pin,
            dev: DeviceScreenState::default(),
        };
    }

    pub(super) fn tap_device(
        &mut self,
        ctx: &Ctx,
        tap: Tap,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        if matches!(&self.mode, Mode::Device { dev, .. } if dev.person_pin.is_some()) {
            return self.tap_person_pin(ctx, tap, now, fx);
        }
        let lang = self.lang;
        let Mode::Device { staff_id, dev, .. } = &mut self.mode else {
            return;
        };
        let busy = dev.busy();
        if tap != Tap::DeleteFingers {
            dev.confirm_delete = false;
        }
        dev.notice = None;
        match tap {
            Tap::Back | Tap::Cancel if !busy => {
                let Mode::Device {
                    staff_id, method, ..
                } = std::mem::replace(&mut self.mode, Mode::Home)
                else {
                    return;
                };
                match staff_id {
                    Some(staff_id) => self.back_to_staff(staff_id, method, None),
                    // The technician has no staff screen.
                    None => self.go_home(),
                }
            }
            Tap::PageNext => {
                let under = match dev.letter {
                    Some(l) => enrollable(ctx).iter().filter(|p| letter_of(p) == l).count(),
                    None => 0,
                };
                let pages = under.div_ceil(PEOPLE_PER_PAGE).max(1);
                dev.page = (dev.page + 1).min(pages - 1);
            }
            Tap::PagePrev => dev.page = dev.page.saturating_sub(1),
            Tap::Consent if !busy => dev.consent = !dev.consent,
            Tap::EnrollFinger if !busy => match (&dev.person, dev.consent) {
                (None, _) => dev.notice = Some(Msg::ChoosePersonFirst.text(lang)),
                (Some(_), false) => dev.notice = Some(Msg::ConsentFirst.text(lang)),
                // The person must be here: they confirm with their own PIN first.
                (Some(pid), true) => {
                    let name = first_name(ctx, pid);
                    if has_pin(ctx, pid) {
                        dev.person_pin = Some(String::new());
                        dev.notice = Some(Msg::EnrollTypePin { name: &name }.text(lang));
                    } else {
                        dev.notice = Some(Msg::EnrollNoPin { name: &name }.text(lang));
                    }
                }
            },
            Tap::DeleteFingers if !busy => match &dev.person {
                None => dev.notice = Some(Msg::ChoosePersonFirst.text(lang)),
                Some(pid) if fingers(ctx, pid) == 0 => {
                    dev.notice = Some(Msg::NothingToDelete.text(lang))
                }
                Some(pid) if dev.confirm_delete => {
                    let mut detail = by(staff_id);
                    detail["person_id"] = json!(pid);
                    fx.push(Effect::Audit {
                        kind: AuditKind::FingerprintDelete,
                        detail,
                    });
                    fx.push(Effect::DeleteFingerprints {
                        person_id: pid.clone(),
                    });
                    dev.confirm_delete = false;
                    dev.enroll = Some(Step::Deleting);
                }
                Some(pid) => {
                    let name = enrollable(ctx)
                        .into_iter()
                        .find(|e| &e.id == pid)
                        .map(|e| e.first)
                        .unwrap_or_else(|| pid.clone());
                    dev.confirm_delete = true;
                    dev.notice = Some(Msg::ConfirmDelete { name: &name }.text(lang));
                }
            },
            Tap::Letter(c) if !busy => {
                dev.letter = Some(c);
                dev.page = 0;
            }
            Tap::Person(pid) if !busy && enrollable(ctx).iter().any(|e| e.id == pid) => {
                if dev.person.as_deref() != Some(pid.as_str()) {
                    dev.consent = false;
                    dev.enroll = None;
                }
                dev.person = Some(pid);
            }
            _ => {}
        }
    }

    /// The PIN pad shown while the chosen person confirms with their own PIN. A wrong
    /// complete PIN counts towards the door's lockout like any other guess.
    fn tap_person_pin(&mut self, ctx: &Ctx, tap: Tap, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let lang = self.lang;
        let Mode::Device { staff_id, dev, .. } = &mut self.mode else {
            return;
        };
        let Some(digits) = dev.person_pin.as_mut() else {
            return;
        };
        let Some(pid) = dev.person.clone() else {
            dev.person_pin = None;
            return;
        };
        let name = first_name(ctx, &pid);
        match tap {
            Tap::Back | Tap::Cancel => {
                dev.person_pin = None;
                dev.notice = None;
            }
            Tap::Clear => digits.clear(),
            Tap::Backspace => {
                digits.pop();
            }
            Tap::Ok => {
                let typed = std::mem::take(digits);
                if let Some(secs) = self.guard.locked_for(now) {
                    dev.notice = Some(Msg::KeypadLocked { secs }.text(lang));
                    return;
                }
                if !is_complete(&typed) {
                    dev.notice = Some(Msg::PinIncomplete.text(lang));
                    return;
                }
                let hash = pin_hmac(ctx.pin_key, &typed);
                let is_them = ctx
                    .roster
                    .lookup_pin(&hash)
                    .is_some_and(|who| identity_id(who) == pid);
                if is_them {
                    let mut detail = by(staff_id);
                    detail["person_id"] = json!(pid);
                    detail["consent"] = json!(true);
                    detail["confirmed_by"] = json!("person_pin");
                    fx.push(Effect::Audit {
                        kind: AuditKind::FingerprintEnroll,
                        detail,
                    });
                    fx.push(Effect::EnrollFingerprint {
                        person_id: pid.clone(),
                    });
                    dev.person_pin = None;
                    dev.notice = None;
                    dev.enroll = Some(Step::Starting);
                } else {
                    let mut detail = by(staff_id);
                    detail["person_id"] = json!(pid);
                    fx.push(Effect::Audit {
                        kind: AuditKind::FingerprintEnrollRefused,
                        detail,
                    });
                    let said = self.count_miss(now, fx);
                    if let Mode::Device { dev, .. } = &mut self.mode {
                        let locked = self.guard.locked_for(now).is_some();
                        dev.notice = Some(if locked {
                            said
                        } else {
                            Msg::EnrollPinWrong { name: &name }.text(lang)
                        });
                    }
                }
            }
            Tap::Digit(d) if digits.len() < MAX_PIN_LEN => digits.push(d),
            _ => {}
        }
    }

    /// Progress from the runtime while the device screen waits for the reader.
    pub(super) fn enroll_progress(&mut self, progress: EnrollProgress, now: DateTime<Utc>) {
        let Mode::Device { dev, .. } = &mut self.mode else {
            return;
        };
        if dev.enroll.is_none() {
            return;
        }
        // The person is at the reader: that counts as a touch.
        self.last_touch = now;
        dev.enroll = Some(match progress {
            EnrollProgress::PlaceFinger { capture, of } => Step::Place { capture, of },
            EnrollProgress::LiftFinger => Step::Lift,
            EnrollProgress::Stored { .. } => Step::Saved,
            EnrollProgress::Deleted { count } => Step::Deleted(count),
            EnrollProgress::Failed(reason) => Step::Failed(reason),
        });
        if matches!(dev.enroll, Some(Step::Saved)) {
            // Consent is asked again for another finger.
            dev.consent = false;
        }
    }

    pub(super) fn device_screen(
        &self,
        ctx: &Ctx,
        dev: &DeviceScreenState,
        now: DateTime<Utc>,
    ) -> Screen {
        if let Some(digits) = &dev.person_pin {
            return Screen::Pin {
                entered: digits.len(),
                locked_for_s: self.guard.locked_for(now),
                message: dev.notice.clone(),
            };
        }
        let people = enrollable(ctx);
        let mut counts: BTreeMap<char, usize> = BTreeMap::new();
        for p in &people {
            *counts.entry(letter_of(p)).or_default() += 1;
        }
        let letters = counts
            .iter()
            .map(|(l, n)| LetterTab {
                letter: l.to_string(),
                count: *n,
                selected: dev.letter == Some(*l),
            })
            .collect();
        let row = |p: &Enrollable| {
            let n = fingers(ctx, &p.id);
            PersonRow {
                id: p.id.clone(),
                name: format!("{} {}", p.first, p.last),
                initials: initials(&p.first, &p.last),
                kind: p.kind.to_string(),
                kind_text: self.say(match p.kind {
                    "guardian" => Msg::PersonGuardian,
                    "pickup" => Msg::PersonPickup,
                    _ => Msg::PersonStaff,
                }),
                fingers: n,
                fingers_text: self.say(Msg::Fingers { n }),
                selected: dev.person.as_deref() == Some(p.id.as_str()),
            }
        };
        let under: Vec<&Enrollable> = match dev.letter {
            Some(l) => people.iter().filter(|p| letter_of(p) == l).collect(),
            None => Vec::new(),
        };
        let pages = under.len().div_ceil(PEOPLE_PER_PAGE).max(1);
        let page = dev.page.min(pages - 1);
        let shown = under
            .iter()
            .skip(page * PEOPLE_PER_PAGE)
            .take(PEOPLE_PER_PAGE)
            .map(|p| row(p))
            .collect();
        let person = dev
            .person
            .as_deref()
            .and_then(|pid| people.iter().find(|p| p.id == pid))
            .map(row);
        let busy = dev.busy();
        let has_fingers = person.as_ref().is_some_and(|p| p.fingers > 0);
        let enroll = dev.enroll.as_ref().map(|s| {
            let (state, msg) = match s {
                Step::Starting => ("starting", Msg::EnrollStarting),
                Step::Place { capture, of } => (
                    "place",
                    Msg::PlaceFinger {
                        capture: *capture,
                        of: *of,
                    },
                ),
                Step::Lift => ("lift", Msg::LiftFinger),
                Step::Saved => ("saved", Msg::EnrollSaved),
                Step::Deleting => ("deleting", Msg::DeleteStarting),
                Step::Deleted(n) => ("deleted", Msg::FingersDeleted { n: *n }),
                Step::Failed(r) => ("failed", Msg::EnrollFailed { reason: *r }),
            };
            EnrollView {
                state: state.to_string(),
                text: self.say(msg),
                busy: s.busy(),
            }
        });
        let info = ctx.device;
        Screen::Device {
            version: info.version.clone(),
            device_id: if info.device_id.is_empty() {
                ctx.device_id.to_string()
            } else {
                info.device_id.clone()
            },
            hub_url: info.hub_url.clone(),
            address: info
                .address
                .clone()
                .unwrap_or_else(|| self.say(Msg::NoAddress)),
            clock_synced: ctx.clock_synced,
            clock_text: self.say(if ctx.clock_synced {
                Msg::ClockSynced
            } else {
                Msg::ClockNotSynced
            }),
            queue_text: self.say(queue_msg(ctx.sync)),
            hardware: info
                .hardware
                .iter()
                .map(|h| self.hardware_line(h))
                .collect(),
            letters,
            letter: dev.letter.map(|c| c.to_string()),
            people: shown,
            page,
            pages,
            can_enroll: person.is_some() && dev.consent && !busy,
            can_delete: has_fingers && !busy,
            person,
            consent: dev.consent,
            consent_text: self.say(Msg::ConsentText),
            confirm_delete: dev.confirm_delete,
            enroll,
            notice: dev.notice.clone(),
            revoked: info.revoked.then(|| self.say(Msg::DeviceRevoked)),
        }
    }
}

/// The id behind an identity (a person id or a staff id).
fn identity_id(who: &Identity) -> &str {
    match who {
        Identity::Person(id) | Identity::Staff(id) => id,
    }
}

/// Does this person (or staff member) have a PIN on the roster?
fn has_pin(ctx: &Ctx, id: &str) -> bool {
    ctx.roster
        .pin_index
        .values()
        .any(|who| identity_id(who) == id)
}

/// First name of an enrollable person or staff member (the id when unknown).
fn first_name(ctx: &Ctx, id: &str) -> String {
    ctx.roster
        .people
        .get(id)
        .map(|p| p.first_name.clone())
        .or_else(|| ctx.roster.staff.get(id).map(|s| s.first_name.clone()))
        .unwrap_or_else(|| id.to_string())
}

/// Who acts on the device screen, for its audit entries: `{"staff_id": …}`, or
/// `{"by": "technician"}` for the technician PIN.
fn by(staff_id: &Option<String>) -> serde_json::Value {
    match staff_id {
        Some(id) => json!({ "staff_id": id }),
        None => json!({ "by": "technician" }),
    }
}

fn queue_msg(sync: &SyncInfo) -> Msg<'static> {
    Msg::Queue {
        depth: sync.queue_depth,
        parked: sync.parked.len(),
    }
}

/// The hub's rejection reason in plain words (the hub's own text when unknown).
fn reason(hub: &str) -> Msg<'_> {
    match hub {
        "unknown child" => Msg::ReasonUnknownChild,
        "unknown staff" => Msg::ReasonUnknownStaff,
        "unknown device" => Msg::ReasonUnknownDevice,
        r if r.starts_with("missing ") => Msg::ReasonMissingData,
        r => Msg::ReasonOther { reason: r },
    }
}
