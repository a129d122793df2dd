//! The door's state machine: `(state, input, now) -> (state, effects)`, and the screen.
//!
//! Pure: the roster, presence, PIN key and clock state come in through [`Ctx`]; time is
//! the `now` argument; event ids come from an injected generator. Side effects leave as
//! [`Effect`]s for the runtime to execute. A check-in is only "done" after the runtime
//! reports `Input::Saved(Ok)`: the store commit happens between `Saving` and `Done`.

pub mod screen;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::api::{Actor, ActorKind, Event, EventType, Method};
use crate::domain::pin::{pin_hmac, PinGuard, MAX_PIN_LEN, MIN_PIN_LEN};
use crate::domain::presence::Presence;
use crate::domain::roster::{initials, Identity, Permission, Roster};
use crate::domain::schedule;

use screen::*;

/// Seconds without a touch before any screen returns home.
pub const INACTIVITY_S: i64 = 30;
/// Seconds the confirmation stays before returning home by itself.
pub const DONE_S: i64 = 4;

/// Everything the state machine reads but does not own.
pub struct Ctx<'a> {
    pub roster: &'a Roster,
    pub presence: &'a Presence,
    pub pin_key: &'a [u8],
    pub device_id: &'a str,
    pub clock_synced: bool,
    /// Fingerprint slot → identity (from the store).
    pub fingerprints: &'a HashMap<u32, Identity>,
    /// Verifies a scanned QR text; `Some(person_id)` for a valid code of an active payer.
    pub qr: &'a dyn Fn(&str, DateTime<Utc>) -> Option<String>,
    /// When staff may next ask for a manual roster sync (None = now).
    pub next_manual_sync_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A tap on an element, by id (see `docs/headless.md`).
    Tap(String),
    Fingerprint(u32),
    Qr(String),
    /// Time passes (the runtime sends one every second).
    Tick,
    /// The runtime's answer to `Effect::Record`.
    Saved(Result<(), String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Commit these events (and their outbox rows) durably, then answer `Input::Saved`.
    Record(Vec<Event>),
    /// Append to the audit log (ids only).
    Audit {
        kind: &'static str,
        detail: serde_json::Value,
    },
    /// Staff asked for a roster sync now.
    ManualSync { staff_id: String },
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
    },
}

/// The kiosk's state.
#[derive(Debug, Clone)]
pub struct Kiosk {
    mode: Mode,
    guard: PinGuard,
    last_touch: DateTime<Utc>,
    /// Refusals at the door today, newest last, for the staff screen.
    alerts: Vec<String>,
}

type IdGen<'a> = &'a mut dyn FnMut(DateTime<Utc>) -> String;

impl Kiosk {
    pub fn new(now: DateTime<Utc>) -> Kiosk {
        Kiosk {
            mode: Mode::Home,
            guard: PinGuard::default(),
            last_touch: now,
            alerts: Vec::new(),
        }
    }

    pub fn is_home(&self) -> bool {
        self.mode == Mode::Home
    }

    /// Handle one input. Returns the effects the runtime must carry out.
    pub fn step(&mut self, ctx: &Ctx, input: Input, now: DateTime<Utc>, ids: IdGen) -> Vec<Effect> {
        let mut fx = Vec::new();
        match input {
            Input::Tick => self.tick(now),
            Input::Saved(result) => self.saved(result, now),
            Input::Tap(id) => {
                self.last_touch = now;
                self.tap(ctx, &id, now, ids, &mut fx);
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
                                text: "Fingerprint not recognized. Please use your PIN.".into(),
                            }
                        }
                    }
                }
            }
            Input::Qr(text) => {
                self.last_touch = now;
                if matches!(self.mode, Mode::Home | Mode::Pin { .. }) {
                    match (ctx.qr)(&text, now) {
                        Some(pid) => {
                            self.identified(ctx, Identity::Person(pid), Method::Qr, now, &mut fx)
                        }
                        None => {
                            self.mode = Mode::Message {
                                tone: Tone::Caution,
                                text: "This code can't be used here. Please use your PIN.".into(),
                            }
                        }
                    }
                }
            }
        }
        fx
    }

    fn tick(&mut self, now: DateTime<Utc>) {
        match &self.mode {
            Mode::Home | Mode::Saving { .. } => {}
            Mode::Done { since, .. } if now - *since >= Duration::seconds(DONE_S) => self.go_home(),
            _ if now - self.last_touch >= Duration::seconds(INACTIVITY_S) => self.go_home(),
            _ => {}
        }
    }

    fn go_home(&mut self) {
        self.mode = Mode::Home;
    }

    fn saved(&mut self, result: Result<(), String>, now: DateTime<Utc>) {
        let Mode::Saving { lines, .. } = &self.mode else {
            return;
        };
        self.mode = match result {
            Ok(()) => Mode::Done {
                lines: lines.clone(),
                since: now,
            },
            Err(_) => Mode::Message {
                tone: Tone::Caution,
                text: "That didn't save. Nothing was recorded — please try again or see the front desk."
                    .into(),
            },
        };
    }

    fn tap(&mut self, ctx: &Ctx, id: &str, now: DateTime<Utc>, ids: IdGen, fx: &mut Vec<Effect>) {
        match &mut self.mode {
            Mode::Home => {
                if let Some(d) = id.strip_prefix("digit_") {
                    self.mode = Mode::Pin {
                        digits: d.chars().take(1).filter(char::is_ascii_digit).collect(),
                        message: None,
                    };
                } else if id == "start" || id == "staff" {
                    self.mode = Mode::Pin {
                        digits: String::new(),
                        message: None,
                    };
                }
            }
            Mode::Pin { digits, message } => match id {
                "back" | "cancel" => self.go_home(),
                "clear" => digits.clear(),
                "backspace" => {
                    digits.pop();
                }
                "ok" => {
                    let typed = std::mem::take(digits);
                    *message = None;
                    self.submit_pin(ctx, &typed, now, fx);
                }
                _ => {
                    if let Some(d) = id.strip_prefix("digit_").and_then(|d| d.chars().next()) {
                        if d.is_ascii_digit() && digits.len() < MAX_PIN_LEN {
                            digits.push(d);
                            *message = None;
                        }
                    }
                }
            },
            Mode::Family {
                person_id,
                method,
                selected,
                notice,
            } => match id {
                "cancel" | "back" => self.go_home(),
                "check_in" | "check_out" => {
                    let person_id = person_id.clone();
                    let method = *method;
                    let chosen = selected.clone();
                    let out = id == "check_out";
                    let drafts = family_drafts(ctx, &person_id, &chosen, out, now);
                    if drafts.is_empty() {
                        *notice = Some(if out {
                            "Choose a child who is here to check out.".into()
                        } else {
                            "Choose a child who is not here yet to check in.".into()
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
                _ => {
                    if let Some(cid) = id.strip_prefix("child:") {
                        let allowed = ctx
                            .roster
                            .children_for(person_id)
                            .iter()
                            .any(|(c, p)| c.id == cid && matches!(p, Permission::Allowed(_)));
                        if allowed && !selected.remove(cid) {
                            selected.insert(cid.to_string());
                        }
                        *notice = None;
                    }
                }
            },
            Mode::Saving { .. } => {}
            Mode::Done { .. } | Mode::Message { .. } => self.go_home(),
            Mode::Staff {
                staff_id,
                method,
                room,
                selected,
                notice,
            } => {
                *notice = None;
                let staff_id = staff_id.clone();
                let method = *method;
                match (id, room.clone()) {
                    ("exit", _) | ("cancel", _) => self.go_home(),
                    ("back", Some(_)) => {
                        *room = None;
                        selected.clear();
                    }
                    ("back", None) => self.go_home(),
                    ("clock_in", _) | ("clock_out", _) => {
                        let on = ctx.presence.staff.contains_key(&staff_id);
                        let want_in = id == "clock_in";
                        if on == want_in {
                            *notice = Some(if on {
                                "You are already clocked in.".into()
                            } else {
                                "You are not clocked in.".into()
                            });
                            return;
                        }
                        let kind = if want_in {
                            EventType::StaffClockIn
                        } else {
                            EventType::StaffClockOut
                        };
                        let s = ctx.roster.staff.get(&staff_id);
                        let draft = Draft {
                            kind,
                            child_id: None,
                            staff_id: Some(staff_id.clone()),
                            room_id: s.and_then(|s| s.room_id.clone()),
                            to_room_id: None,
                            flags: vec![],
                            line: format!(
                                "{} is clocked {}",
                                s.map(|s| s.first_name.as_str()).unwrap_or("You"),
                                if want_in { "in" } else { "out" }
                            ),
                        };
                        let actor = staff_actor(ctx, &staff_id);
                        self.record(ctx, vec![draft], &actor, method, now, ids, fx);
                    }
                    ("sync_now", _) => {
                        if ctx.next_manual_sync_at.is_some_and(|t| t > now) {
                            *notice =
                                Some("A sync ran recently; the next one is allowed later.".into());
                        } else {
                            fx.push(Effect::ManualSync { staff_id });
                            *notice = Some("Syncing the roster…".into());
                        }
                    }
                    ("lift_lockout", _) => {
                        self.guard.lift();
                        fx.push(Effect::Audit {
                            kind: "lockout_lifted",
                            detail: json!({ "staff_id": staff_id }),
                        });
                        if let Mode::Staff { notice, .. } = &mut self.mode {
                            *notice = Some("The keypad is unlocked.".into());
                        }
                    }
                    ("select_all", Some(r)) => {
                        let all: BTreeSet<String> = room_children(ctx, &r).into_iter().collect();
                        if selected.len() == all.len() {
                            selected.clear();
                        } else {
                            *selected = all;
                        }
                    }
                    ("check_in", Some(r)) | ("check_out", Some(r)) => {
                        let out = id == "check_out";
                        let drafts = staff_drafts(ctx, &r, selected, out, now);
                        if drafts.is_empty() {
                            *notice = Some("Select children first.".into());
                            return;
                        }
                        let actor = staff_actor(ctx, &staff_id);
                        self.record(ctx, drafts, &actor, Method::StaffBatch, now, ids, fx);
                    }
                    (other, current) => {
                        if let Some(r) = other.strip_prefix("room:") {
                            if ctx.roster.rooms.get(r).is_some_and(|x| x.active) {
                                *room = Some(r.to_string());
                                selected.clear();
                            }
                        } else if let (Some(cid), Some(_)) =
                            (other.strip_prefix("child:"), &current)
                        {
                            if !selected.remove(cid) {
                                selected.insert(cid.to_string());
                            }
                        } else if let (Some(to), Some(from)) =
                            (other.strip_prefix("transfer:"), current)
                        {
                            let drafts = transfer_drafts(ctx, &from, to, selected);
                            if drafts.is_empty() {
                                *notice = Some("Select children who are here to move them.".into());
                                return;
                            }
                            let actor = staff_actor(ctx, &staff_id);
                            self.record(ctx, drafts, &actor, Method::StaffBatch, now, ids, fx);
                        }
                    }
                }
            }
        }
    }

    fn submit_pin(&mut self, ctx: &Ctx, typed: &str, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        if let Some(left) = self.guard.locked_for(now) {
            self.mode = Mode::Pin {
                digits: String::new(),
                message: Some(format!("Keypad locked. Try again in {left} s.")),
            };
            return;
        }
        let found = if typed.len() >= MIN_PIN_LEN {
            ctx.roster
                .lookup_pin(&pin_hmac(ctx.pin_key, typed))
                .cloned()
        } else {
            None
        };
        match found {
            Some(identity) => {
                self.guard.success();
                self.identified(ctx, identity, Method::Pin, now, fx);
            }
            None => {
                let lock = self.guard.miss(now);
                let message = match lock {
                    Some(d) => {
                        fx.push(Effect::Audit {
                            kind: "pin_lockout",
                            detail: json!({ "misses": self.guard.misses(), "locked_s": d.num_seconds() }),
                        });
                        format!("Too many tries. Keypad locked for {} s.", d.num_seconds())
                    }
                    None => "That PIN didn't match. Please try again.".into(),
                };
                self.mode = Mode::Pin {
                    digits: String::new(),
                    message: Some(message),
                };
            }
        }
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
                self.mode = Mode::Staff {
                    staff_id,
                    method,
                    room: None,
                    selected: BTreeSet::new(),
                    notice: None,
                };
            }
            Identity::Person(person_id) => {
                let kids = ctx.roster.children_for(&person_id);
                if kids.is_empty() {
                    self.mode = Mode::Message {
                        tone: Tone::Caution,
                        text: "We couldn't find any children for you today. Please see the front desk.".into(),
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
                                kind: "refused_not_authorized",
                                detail: json!({ "person_id": person_id, "child_id": child.id }),
                            });
                            let who = ctx
                                .roster
                                .people
                                .get(&person_id)
                                .map(|p| p.full_name())
                                .unwrap_or_default();
                            self.alerts.push(format!(
                                "{} {}: {who} is not authorized for {}",
                                now.with_timezone(&tz(ctx)).format("%-H:%M"),
                                child.id,
                                child.first_name
                            ));
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
            Identity::Staff(_) => {
                self.mode = Mode::Message {
                    tone: Tone::Caution,
                    text: "This staff PIN is not active. Please see the director.".into(),
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
        let mut lines = Vec::new();
        let mut events = Vec::new();
        for d in drafts {
            let mut flags = d.flags;
            if !ctx.clock_synced {
                flags.push("clock_unsynced".into());
            }
            lines.push(format!("{} — {}", d.line, local.format("%-H:%M")));
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
        fx.push(Effect::Record(events));
        self.mode = Mode::Saving { lines };
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
                greeting: greeting(local.format("%H").to_string().parse().unwrap_or(12)).into(),
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
                let children: Vec<ChildCard> = kids
                    .iter()
                    .map(|(c, perm)| {
                        let here = ctx.presence.children.get(&c.id);
                        ChildCard {
                            id: c.id.clone(),
                            first_name: c.first_name.clone(),
                            initials: c.initials(),
                            room: ctx
                                .roster
                                .room_name(here.map(|h| h.room_id.as_str()).unwrap_or(&c.room_id))
                                .to_string(),
                            state: match here {
                                Some(h) => format!(
                                    "In since {}",
                                    h.since.with_timezone(&tz(ctx)).format("%-H:%M")
                                ),
                                None => "Not here".into(),
                            },
                            present: here.is_some(),
                            selected: selected.contains(&c.id),
                            refused: match perm {
                                Permission::Refused(r) => Some(r.clone()),
                                Permission::Allowed(_) => None,
                            },
                        }
                    })
                    .collect();
                let check_in_count = children.iter().filter(|c| c.selected && !c.present).count();
                let check_out_count = children.iter().filter(|c| c.selected && c.present).count();
                let first = ctx
                    .roster
                    .people
                    .get(person_id)
                    .map(|p| p.first_name.clone())
                    .unwrap_or_default();
                Screen::Family {
                    greeting: format!("Hi {first}!"),
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
                ..
            } => match room {
                None => self.staff_home(ctx, staff_id, notice, now),
                Some(r) => staff_room(ctx, r, selected, notice),
            },
        }
    }

    fn staff_home(
        &self,
        ctx: &Ctx,
        staff_id: &str,
        notice: &Option<String>,
        now: DateTime<Utc>,
    ) -> Screen {
        let mut rooms: Vec<RoomCard> = ctx
            .roster
            .rooms
            .values()
            .filter(|r| r.active)
            .map(|r| {
                let present = ctx.presence.count_in_room(&r.id);
                let staff_on_duty = ctx
                    .presence
                    .staff
                    .keys()
                    .filter(|s| {
                        ctx.roster.staff.get(*s).and_then(|s| s.room_id.as_deref())
                            == Some(r.id.as_str())
                    })
                    .count();
                let over_ratio = match r.children_per_staff {
                    Some(ratio) => present > ratio as usize * staff_on_duty,
                    None => false,
                };
                RoomCard {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    present,
                    staff_on_duty,
                    ratio: r.children_per_staff,
                    over_ratio,
                }
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        let tzz = tz(ctx);
        Screen::Staff {
            name: ctx
                .roster
                .staff
                .get(staff_id)
                .map(|s| s.full_name())
                .unwrap_or_default(),
            on_duty: ctx.presence.staff.contains_key(staff_id),
            rooms,
            alerts: self.alerts.iter().rev().take(10).cloned().collect(),
            keypad_locked: self.guard.locked_for(now).is_some(),
            manual_sync: ManualSync {
                allowed: ctx.next_manual_sync_at.is_none_or(|t| t <= now),
                next_at: ctx
                    .next_manual_sync_at
                    .filter(|t| *t > now)
                    .map(|t| t.with_timezone(&tzz).format("%-H:%M").to_string()),
            },
            notice: notice.clone(),
        }
    }
}

fn tz(ctx: &Ctx) -> chrono_tz::Tz {
    ctx.roster
        .center
        .as_ref()
        .map(|c| c.tz)
        .unwrap_or(chrono_tz::UTC)
}

fn greeting(hour: u32) -> &'static str {
    match hour {
        0..=11 => "Good morning!",
        12..=16 => "Good afternoon!",
        _ => "Good evening!",
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

fn check_in_draft(ctx: &Ctx, child_id: &str, now: DateTime<Utc>) -> Option<Draft> {
    let c = ctx.roster.children.get(child_id).filter(|c| c.active)?;
    let local = now.with_timezone(&tz(ctx)).naive_local();
    let (room, why) = schedule::room_for_check_in(&c.room_id, &c.schedule, local);
    let mut flags = Vec::new();
    if schedule::is_unscheduled(&c.schedule, local) {
        flags.push("unscheduled".to_string());
    }
    let reason = why
        .map(|b| {
            format!(
                " (scheduled there {}–{})",
                b.from.format("%-H:%M"),
                b.to.format("%-H:%M")
            )
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
            "{} is checked in to {}{reason}",
            c.first_name,
            ctx.roster.room_name(room)
        ),
    })
}

fn check_out_draft(ctx: &Ctx, child_id: &str, now: DateTime<Utc>) -> Option<Draft> {
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
        line: format!("{} is checked out", c.first_name),
    })
}

/// Events for a family's selection: only children this person may act for.
fn family_drafts(
    ctx: &Ctx,
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
                check_out_draft(ctx, &c.id, now)
            } else {
                check_in_draft(ctx, &c.id, now)
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
                check_out_draft(ctx, &id, now)
            } else {
                check_in_draft(ctx, &id, now)
            }
        })
        .collect()
}

fn transfer_drafts(ctx: &Ctx, from: &str, to: &str, selected: &BTreeSet<String>) -> Vec<Draft> {
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
                line: format!("{} moved to {}", c.first_name, ctx.roster.room_name(to)),
            })
        })
        .collect()
}

fn staff_room(
    ctx: &Ctx,
    room: &str,
    selected: &BTreeSet<String>,
    notice: &Option<String>,
) -> Screen {
    let children: Vec<RosterRow> = room_children(ctx, room)
        .into_iter()
        .filter_map(|id| {
            let c = ctx.roster.children.get(&id)?;
            let here = ctx.presence.children.get(&id);
            Some(RosterRow {
                id: id.clone(),
                name: format!(
                    "{} {}.",
                    c.first_name,
                    c.last_name.chars().next().unwrap_or(' ')
                ),
                initials: initials(&c.first_name, &c.last_name),
                present: here.is_some(),
                since: here.map(|h| h.since.with_timezone(&tz(ctx)).format("%-H:%M").to_string()),
                selected: selected.contains(&id),
            })
        })
        .collect();
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
        children,
        transfer_to,
        notice: notice.clone(),
    }
}

#[cfg(test)]
mod tests;
