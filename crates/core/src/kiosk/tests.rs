//! Door flows through the state machine, on the domain's fixture roster.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::domain::testdata::{roster_from, roster_response, KEY};

pub(super) struct World {
    pub roster: Roster,
    pub presence: Presence,
    pub fingerprints: HashMap<u32, Identity>,
    pub device: DoorInfo,
    pub sync: SyncInfo,
    pub kiosk: Kiosk,
    pub now: DateTime<Utc>,
    pub recorded: Vec<Event>,
    pub audits: Vec<&'static str>,
    /// Every audit entry with its detail, in order.
    pub audit_details: Vec<(&'static str, serde_json::Value)>,
    /// Effects other than Record/Audit, in order.
    pub effects: Vec<Effect>,
    /// What the door signalled (strike, LEDs, buzzer), in order.
    pub feedback: Vec<DoorOutcome>,
    pub next_id: u32,
    /// The technician PIN's HMAC, as the runtime reads it from the store.
    pub technician_pin_hmac: Option<String>,
    /// The QR hook (default: every code is invalid).
    pub qr: fn(&str, DateTime<Utc>) -> QrCheck,
    /// How often the kiosk asked to persist its lockout, and the last state it saved.
    pub lockout_saves: usize,
    pub saved_guard: Option<PinGuard>,
}

fn no_qr(_: &str, _: DateTime<Utc>) -> crate::kiosk::QrCheck {
    crate::kiosk::QrCheck::Invalid
}

/// The context the runtime would pass, over a world's roster and presence.
fn ctx<'a>(
    roster: &'a Roster,
    presence: &'a Presence,
    fingerprints: &'a HashMap<u32, Identity>,
) -> Ctx<'a> {
    Ctx {
        roster,
        presence,
        pin_key: KEY,
        device_id: "dev_01",
        clock_synced: true,
        fingerprints,
        qr: &no_qr,
        next_manual_sync_at: None,
        device: &NO_DEVICE,
        sync: &NO_SYNC,
        technician_pin_hmac: None,
    }
}

static NO_DEVICE: DoorInfo = DoorInfo {
    version: String::new(),
    device_id: String::new(),
    hub_url: String::new(),
    address: None,
    hardware: Vec::new(),
    revoked: false,
};

impl World {
    /// Monday 2026-11-23 08:30 in Chicago.
    pub fn new() -> World {
        let roster = crate::domain::testdata::roster();
        let now = chrono_tz::America::Chicago
            .with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        World {
            roster,
            presence: Presence::default(),
            fingerprints: HashMap::new(),
            device: DoorInfo::default(),
            sync: SyncInfo::default(),
            kiosk: Kiosk::new(now),
            now,
            recorded: vec![],
            audits: vec![],
            audit_details: vec![],
            effects: vec![],
            feedback: vec![],
            next_id: 0,
            technician_pin_hmac: None,
            qr: no_qr,
            lockout_saves: 0,
            saved_guard: None,
        }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            qr: &self.qr,
            device: &self.device,
            sync: &self.sync,
            technician_pin_hmac: self.technician_pin_hmac.as_deref(),
            ..ctx(&self.roster, &self.presence, &self.fingerprints)
        }
    }

    /// Feed an input; commit Record effects like the runtime does (store = presence here).
    pub fn send(&mut self, input: Input) -> Screen {
        let ctx = Ctx {
            qr: &self.qr,
            device: &self.device,
            sync: &self.sync,
            technician_pin_hmac: self.technician_pin_hmac.as_deref(),
            ..ctx(&self.roster, &self.presence, &self.fingerprints)
        };
        let mut n = self.next_id;
        let fx = self.kiosk.step(&ctx, input, self.now, &mut |_| {
            n += 1;
            format!("ev-{n}")
        });
        self.next_id = n;
        let mut saved = false;
        for e in fx {
            match e {
                Effect::Record(events) => {
                    for ev in &events {
                        self.presence.apply(ev);
                    }
                    self.recorded.extend(events);
                    saved = true;
                }
                Effect::Audit { kind, detail } => {
                    self.audits.push(kind.as_str());
                    self.audit_details.push((kind.as_str(), detail));
                }
                Effect::SaveLockout(guard) => {
                    self.lockout_saves += 1;
                    self.saved_guard = Some(guard);
                }
                Effect::Feedback(outcome) => self.feedback.push(outcome),
                other => self.effects.push(other),
            }
        }
        if saved {
            assert_eq!(self.screen(), Screen::Saving, "not done before the commit");
            return self.send(Input::Saved(Ok(())));
        }
        self.screen()
    }

    pub fn tap(&mut self, id: &str) -> Screen {
        let tap = Tap::parse(id).unwrap_or_else(|e| panic!("{e}"));
        self.send(Input::Tap(tap))
    }

    pub fn pin(&mut self, pin: &str) -> Screen {
        if self.kiosk.is_home() {
            self.tap("start");
        }
        for d in pin.chars() {
            self.tap(&format!("digit_{d}"));
        }
        self.tap("ok")
    }

    pub fn screen(&self) -> Screen {
        let ctx = self.ctx();
        self.kiosk.screen(&ctx, self.now)
    }

    pub fn wait(&mut self, secs: i64) -> Screen {
        self.now += Duration::seconds(secs);
        self.send(Input::Tick)
    }
}

fn family_children(s: &Screen) -> Vec<(String, bool, Option<String>)> {
    match s {
        Screen::Family { children, .. } => children
            .iter()
            .map(|c| (c.id.clone(), c.selected, c.refused.clone()))
            .collect(),
        other => panic!("expected family screen, got {other:?}"),
    }
}

#[test]
fn guardian_checks_in_two_children() {
    let mut w = World::new();
    let s = w.pin("1111");
    assert!(
        matches!(&s, Screen::Family { greeting, check_in_count: 2, .. } if greeting == "Hi Dana!")
    );
    let s = w.tap("check_in");
    let Screen::Done { lines } = s else {
        panic!("expected done, got {s:?}")
    };
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("Alex is checked in to Toddlers"),
        "{lines:?}"
    );
    assert_eq!(w.recorded.len(), 2);
    assert!(w.recorded.iter().all(|e| e.kind == EventType::CheckIn
        && e.actor.kind == ActorKind::Guardian
        && e.method == Method::Pin
        && e.actor.person_id.as_deref() == Some("per_dana")));
    assert_eq!(
        w.recorded[0].occurred_at.to_rfc3339(),
        "2026-11-23T08:30:00-06:00"
    );
    assert!(w.presence.is_in("child_a") && w.presence.is_in("child_b"));
    // The confirmation returns home by itself.
    assert!(matches!(w.wait(DONE_S), Screen::Home { .. }));
}

#[test]
fn check_in_during_schedule_block_goes_to_scheduled_room() {
    let mut w = World::new();
    w.now += Duration::hours(4); // 12:30
    w.pin("1111");
    w.tap("child:child_b"); // deselect Mia
    let Screen::Done { lines } = w.tap("check_in") else {
        panic!()
    };
    assert!(
        lines[0].starts_with("Alex is checked in to Pre-K (scheduled there 12:00–18:00)"),
        "{lines:?}"
    );
    assert_eq!(w.recorded[0].room_id.as_deref(), Some("room_prek"));
}

#[test]
fn authorized_pickup_may_check_out_only_their_listed_child() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in");
    w.wait(DONE_S);
    let s = w.pin("2222");
    let kids = family_children(&s);
    assert_eq!(
        kids,
        vec![("child_a".to_string(), true, None)],
        "Rosa sees only Alex"
    );
    // Tapping a child she may not act for changes nothing.
    let s2 = w.tap("child:child_b");
    assert_eq!(family_children(&s2), kids);
    w.tap("check_out");
    let last = w.recorded.last().unwrap();
    assert_eq!(last.kind, EventType::CheckOut);
    assert_eq!(last.child_id.as_deref(), Some("child_a"));
    assert_eq!(last.actor.kind, ActorKind::Pickup);
    assert!(w.presence.is_in("child_b"), "Mia is still in");
}

#[test]
fn not_authorized_person_is_refused_for_that_child() {
    let mut w = World::new();
    let s = w.pin("3333");
    let kids = family_children(&s);
    let mia = kids.iter().find(|k| k.0 == "child_b").unwrap();
    assert!(!mia.1, "refused child is not selected");
    assert_eq!(
        mia.2.as_deref(),
        Some("Chris can't check in Mia — please see the front desk")
    );
    assert!(w.audits.contains(&"refused_not_authorized"));
    w.tap("child:child_b"); // cannot select
    w.tap("check_in");
    assert_eq!(w.recorded.len(), 1, "only Alex");
    assert_eq!(w.recorded[0].child_id.as_deref(), Some("child_a"));
    // The staff screen shows the alert.
    w.wait(DONE_S);
    let Screen::Staff { alerts, .. } = w.pin("9001") else {
        panic!()
    };
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("Chris Rivera is not authorized for Mia")),
        "{alerts:?}"
    );
    assert!(
        w.audit_details
            .iter()
            .all(|(_, d)| !d.to_string().contains("Mia")),
        "the audit log has ids, never names"
    );
}

#[test]
fn archived_child_is_invisible_to_family() {
    let mut r = roster_response();
    r.families[0].children[1].enrollment_status = "withdrawn".into();
    let mut w = World::new();
    w.roster = roster_from(&r);
    let kids = family_children(&w.pin("1111"));
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0].0, "child_a");
}

#[test]
fn five_wrong_pins_lock_the_keypad_doubling() {
    let mut w = World::new();
    for _ in 0..4 {
        let s = w.pin("0000");
        assert!(matches!(
            s,
            Screen::Pin {
                locked_for_s: None,
                ..
            }
        ));
    }
    let s = w.pin("0000");
    assert!(
        matches!(
            s,
            Screen::Pin {
                locked_for_s: Some(30),
                ..
            }
        ),
        "{s:?}"
    );
    assert_eq!(w.audits, vec!["pin_lockout"]);
    // Even the right PIN is refused while locked.
    let s = w.pin("1111");
    assert!(
        matches!(s, Screen::Pin { message: Some(ref m), .. } if m.starts_with("Keypad locked")),
        "{s:?}"
    );
    w.now += Duration::seconds(30);
    let s = w.pin("0000");
    assert!(
        matches!(
            s,
            Screen::Pin {
                locked_for_s: Some(60),
                ..
            }
        ),
        "doubles: {s:?}"
    );
    w.now += Duration::seconds(60);
    assert!(matches!(w.pin("1111"), Screen::Family { .. }));
}

#[test]
fn staff_lift_the_lockout_with_a_fingerprint_never_with_a_typed_pin() {
    let mut w = World::new();
    w.fingerprints
        .insert(7, Identity::Staff("staff_lee".into()));
    for _ in 0..5 {
        w.pin("0000");
    }
    // Locked: even a staff PIN is refused, and not looked up.
    let s = w.pin("9001");
    assert!(
        matches!(&s, Screen::Pin { locked_for_s: Some(_), message: Some(m), .. } if m.starts_with("Keypad locked")),
        "{s:?}"
    );
    w.tap("back");
    // A staff fingerprint is a person at the door: it lifts the lock, audited.
    let s = w.send(Input::Fingerprint(7));
    assert!(
        matches!(&s, Screen::Staff { keypad_locked: false, notice: Some(n), .. } if n == "The keypad is unlocked."),
        "{s:?}"
    );
    assert!(w.audits.contains(&"lockout_lifted"));
    w.tap("exit");
    let s = w.pin("0000");
    assert!(
        matches!(
            s,
            Screen::Pin {
                locked_for_s: None,
                ..
            }
        ),
        "misses forgotten after staff lifted the lock: {s:?}"
    );
}

#[test]
fn a_staff_pin_cannot_lift_the_lockout_or_erase_misses() {
    let mut w = World::new();
    for _ in 0..4 {
        w.pin("0000");
    }
    assert!(matches!(w.pin("9001"), Screen::Staff { .. }));
    let s = w.tap("lift_lockout");
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), .. } if n.contains("badge or fingerprint")),
        "{s:?}"
    );
    assert!(!w.audits.contains(&"lockout_lifted"));
    w.tap("exit");
    // The fifth miss still locks: the staff PIN bought nothing.
    assert!(matches!(
        w.pin("0000"),
        Screen::Pin {
            locked_for_s: Some(30),
            ..
        }
    ));
}

#[test]
fn a_known_pin_interleaved_with_guesses_does_not_reset_the_count() {
    // The attack: four wrong guesses, then one's own PIN, again and again.
    let mut w = World::new();
    for _ in 0..4 {
        assert!(matches!(
            w.pin("0000"),
            Screen::Pin {
                locked_for_s: None,
                ..
            }
        ));
    }
    assert!(matches!(w.pin("1111"), Screen::Family { .. }));
    w.tap("cancel");
    let s = w.pin("0001");
    assert!(
        matches!(
            s,
            Screen::Pin {
                locked_for_s: Some(30),
                ..
            }
        ),
        "the fifth miss in ten minutes locks, whatever came between: {s:?}"
    );
    assert_eq!(w.audits.iter().filter(|a| **a == "pin_lockout").count(), 1);
    // Every miss asked the runtime to persist the guard.
    assert_eq!(w.lockout_saves, 5);
}

#[test]
fn empty_or_short_entries_are_not_guesses() {
    let mut w = World::new();
    for _ in 0..20 {
        let s = w.pin("");
        assert!(
            matches!(&s, Screen::Pin { locked_for_s: None, message: Some(m), .. } if m.starts_with("Type your whole PIN")),
            "{s:?}"
        );
        w.pin("12");
    }
    assert!(!w.audits.contains(&"pin_lockout"));
    assert_eq!(w.kiosk.guard().misses(w.now), 0);
    assert!(matches!(w.pin("1111"), Screen::Family { .. }));
}

#[test]
fn a_restored_guard_keeps_the_lock_after_a_restart() {
    let mut w = World::new();
    for _ in 0..5 {
        w.pin("0000");
    }
    let saved = w.saved_guard.clone().unwrap_or_default();
    assert!(saved.locked_for(w.now).is_some());
    // A new kiosk (the process restarted) built from what was saved.
    w.kiosk = Kiosk::new(w.now).with_guard(saved, w.now);
    let s = w.pin("1111");
    assert!(
        matches!(
            s,
            Screen::Pin {
                locked_for_s: Some(30),
                ..
            }
        ),
        "still locked after the restart: {s:?}"
    );
}

#[test]
fn the_staff_screen_alerts_on_a_lockout() {
    let mut w = World::new();
    w.fingerprints
        .insert(7, Identity::Staff("staff_lee".into()));
    for _ in 0..5 {
        w.pin("0000");
    }
    w.tap("back");
    w.now += Duration::seconds(31);
    let Screen::Staff { alerts, .. } = w.pin("9001") else {
        panic!("staff screen expected")
    };
    assert!(
        alerts.iter().any(|a| a.contains("Keypad locked for 30 s")),
        "{alerts:?}"
    );
}

#[test]
fn a_staff_badge_opens_staff_mode_and_lifts_the_lock() {
    let mut w = World::new();
    w.qr = |text: &str, _| match text {
        "badge-lee" => QrCheck::Staff("staff_lee".into()),
        "expired" => QrCheck::Expired,
        _ => QrCheck::Invalid,
    };
    for _ in 0..5 {
        w.pin("0000");
    }
    w.tap("back");
    let s = w.send(Input::Qr("badge-lee".into()));
    assert!(
        matches!(&s, Screen::Staff { name, keypad_locked: false, .. } if name == "Lee Chen"),
        "{s:?}"
    );
    assert!(w.audits.contains(&"lockout_lifted"));
    w.tap("exit");
    let s = w.send(Input::Qr("expired".into()));
    assert!(
        matches!(&s, Screen::Message { text, .. } if text.contains("expired")),
        "{s:?}"
    );
}

#[test]
fn inactivity_returns_home_and_clears_the_pin() {
    let mut w = World::new();
    w.tap("start");
    w.tap("digit_1");
    assert!(matches!(w.wait(29), Screen::Pin { entered: 1, .. }));
    assert!(matches!(w.wait(1), Screen::Home { .. }));
    w.pin("1111");
    assert!(
        matches!(w.wait(INACTIVITY_S), Screen::Home { .. }),
        "family screen is never left open"
    );
}

#[test]
fn staff_batch_check_out_of_a_room() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in");
    w.wait(DONE_S);
    let s = w.pin("9001");
    let Screen::Staff { rooms, .. } = s else {
        panic!("{s:?}")
    };
    let toddlers = rooms.iter().find(|r| r.id == "room_toddlers").unwrap();
    assert_eq!(toddlers.present, 1);
    assert!(toddlers.over_ratio, "1 child, nobody clocked in");
    w.tap("room:room_prek");
    let s = w.tap("select_all");
    assert!(
        matches!(
            s,
            Screen::StaffRoom {
                check_out_count: 1,
                ..
            }
        ),
        "{s:?}"
    );
    // Staff stay on the room screen, with the result and the selection cleared.
    let s = w.tap("check_out");
    assert!(
        matches!(&s, Screen::StaffRoom { notice: Some(n), selected: 0, .. } if n == "Mia is checked out — 8:30"),
        "{s:?}"
    );
    let e = w.recorded.last().unwrap();
    assert_eq!(
        (e.kind, e.method, e.actor.kind),
        (EventType::CheckOut, Method::StaffBatch, ActorKind::Staff)
    );
    assert_eq!(e.actor.name, "Lee Chen");
    assert!(!w.presence.is_in("child_b"));
}

#[test]
fn staff_clock_in_and_transfer() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in");
    w.wait(DONE_S);
    w.pin("9001");
    let s = w.tap("clock_in");
    assert_eq!(w.recorded.last().unwrap().kind, EventType::StaffClockIn);
    assert!(w.presence.staff.contains_key("staff_lee"));
    // Still in staff mode: the result shows on the staff screen, no PIN again.
    assert!(
        matches!(&s, Screen::Staff { on_duty: true, notice: Some(n), .. } if n == "Lee is clocked in — 8:30"),
        "{s:?}"
    );
    w.wait(DONE_S);
    w.tap("room:room_toddlers");
    w.tap("child:child_a");
    let s = w.tap("transfer:room_prek");
    assert!(
        matches!(&s, Screen::StaffRoom { room_id, notice: Some(n), .. }
            if room_id == "room_toddlers" && n == "Alex moved to Pre-K — 8:30"),
        "{s:?}"
    );
    let e = w.recorded.last().unwrap();
    assert_eq!(e.kind, EventType::Transfer);
    assert_eq!(e.to_room_id.as_deref(), Some("room_prek"));
    assert_eq!(w.presence.children["child_a"].room_id, "room_prek");
}

#[test]
fn failed_commit_never_says_done() {
    let mut w = World::new();
    w.pin("1111");
    let mut ctx = ctx(&w.roster, &w.presence, &w.fingerprints);
    ctx.clock_synced = false;
    let fx = w
        .kiosk
        .step(&ctx, Input::Tap(Tap::CheckIn), w.now, &mut |_| "x".into());
    let Some(Effect::Record(events)) = fx.first() else {
        panic!("{fx:?}")
    };
    assert!(events
        .iter()
        .all(|e| !e.clock_synced && e.flags.contains(&"clock_unsynced".to_string())));
    let fx = w.kiosk.step(
        &ctx,
        Input::Saved(Err("disk full".into())),
        w.now,
        &mut |_| "x".into(),
    );
    let s = w.kiosk.screen(&ctx, w.now);
    assert!(
        matches!(s, Screen::Message { tone: Tone::Caution, ref text } if text.contains("Nothing was recorded")),
        "{s:?}"
    );
    // Nothing saved: the door stays shut and says so.
    assert_eq!(fx, vec![Effect::Feedback(DoorOutcome::Refused)]);
}

#[test]
fn the_door_signals_committed_arrivals_and_departures_and_every_refusal_once() {
    let mut w = World::new();
    // Refused: an unknown finger (a caution message), once, however often it is drawn.
    w.send(Input::Fingerprint(7));
    w.wait(1);
    assert_eq!(w.feedback, [DoorOutcome::Refused]);
    w.wait(60);
    assert!(w.kiosk.is_home());
    // Refused while the family screen stays up: Chris may not take Mia (audited).
    w.feedback.clear();
    let s = w.pin("3333");
    assert!(matches!(s, Screen::Family { .. }), "{s:?}");
    assert_eq!(w.feedback, [DoorOutcome::Refused]);
    w.tap("cancel");
    // Signalled only after the commit, not when the check-in is tapped.
    w.feedback.clear();
    w.pin("1111");
    assert!(w.feedback.is_empty(), "{:?}", w.feedback);
    let s = w.tap("check_in");
    assert!(matches!(s, Screen::Done { .. }), "{s:?}");
    assert_eq!(w.feedback, [DoorOutcome::CheckedIn]);
    // The done screen ticking away is not another transaction.
    w.wait(1);
    assert_eq!(w.feedback, [DoorOutcome::CheckedIn]);
    w.wait(60);
    w.feedback.clear();
    w.pin("1111");
    w.tap("check_out");
    assert_eq!(w.feedback, [DoorOutcome::CheckedOut]);
}

#[test]
fn arrivals_and_departures_open_the_door_and_transfers_do_not() {
    use crate::domain::testdata::event;
    let ev = |kind| event("e", kind, "child_a", "2026-11-23T08:30:00-06:00");
    assert_eq!(
        door_outcome(&[ev(EventType::CheckIn)]),
        Some(DoorOutcome::CheckedIn)
    );
    assert_eq!(
        door_outcome(&[ev(EventType::StaffClockIn)]),
        Some(DoorOutcome::CheckedIn)
    );
    assert_eq!(
        door_outcome(&[ev(EventType::CheckOut)]),
        Some(DoorOutcome::CheckedOut)
    );
    assert_eq!(
        door_outcome(&[ev(EventType::StaffClockOut)]),
        Some(DoorOutcome::CheckedOut)
    );
    assert_eq!(door_outcome(&[ev(EventType::Transfer)]), None);
    assert_eq!(door_outcome(&[]), None);
}

#[test]
fn a_transfer_inside_the_center_opens_no_door() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in");
    w.wait(60);
    w.feedback.clear();
    w.pin("9001");
    w.tap("room:room_toddlers");
    w.tap("child:child_a");
    w.tap("transfer:room_prek");
    assert_eq!(w.recorded.last().map(|e| e.kind), Some(EventType::Transfer));
    assert!(w.feedback.is_empty(), "{:?}", w.feedback);
}

#[test]
fn unknown_fingerprint_and_bad_qr_get_calm_messages() {
    let mut w = World::new();
    let s = w.send(Input::Fingerprint(7));
    assert!(
        matches!(s, Screen::Message { ref text, .. } if text.contains("Fingerprint not recognized"))
    );
    w.tap("ok");
    let s = w.send(Input::Qr("CUBBY1.junk".into()));
    assert!(
        matches!(s, Screen::Message { ref text, .. } if text == "This code can't be used here. Please use your PIN.")
    );
    w.fingerprints
        .insert(3, Identity::Person("per_dana".into()));
    w.tap("ok");
    assert!(matches!(
        w.send(Input::Fingerprint(3)),
        Screen::Family { .. }
    ));
    w.tap("check_in");
    assert_eq!(w.recorded[0].method, Method::Fingerprint);
}

/// The fixture roster with `extra` more children in Pre-K ("Kid 01"…).
fn roster_with_prek(extra: usize) -> Roster {
    let mut src = roster_response();
    let mia = src.families[0].children[1].clone();
    for i in 1..=extra {
        let mut c = mia.clone();
        c.id = format!("child_x{i:02}");
        c.first_name = format!("Kid {i:02}");
        c.not_authorized_ids.clear();
        src.families[0].children.push(c);
    }
    roster_from(&src)
}

fn here(w: &World, room: &str) -> crate::domain::presence::Here {
    crate::domain::presence::Here {
        room_id: room.into(),
        since: w
            .now
            .with_timezone(&chrono_tz::America::Chicago)
            .fixed_offset(),
        unscheduled: false,
    }
}

fn staff_room_screen(s: &Screen) -> (usize, usize, usize, usize, bool, Option<String>) {
    match s {
        Screen::StaffRoom {
            present_count,
            absent_count,
            check_in_count,
            check_out_count,
            confirm_check_in,
            notice,
            ..
        } => (
            *present_count,
            *absent_count,
            *check_in_count,
            *check_out_count,
            *confirm_check_in,
            notice.clone(),
        ),
        other => panic!("expected the room screen, got {other:?}"),
    }
}

#[test]
fn select_all_acts_on_one_group_and_a_big_check_in_asks_once() {
    let mut w = World::new();
    w.roster = roster_with_prek(18); // Mia + 18 in Pre-K
    for id in ["child_b", "child_x01", "child_x02"] {
        let h = here(&w, "room_prek");
        w.presence.children.insert(id.into(), h);
    }
    w.pin("9001");
    let s = w.tap("room:room_prek");
    assert_eq!(staff_room_screen(&s), (3, 16, 0, 0, false, None));
    let Screen::StaffRoom { children, .. } = &s else {
        unreachable!()
    };
    assert!(
        children[..3].iter().all(|c| c.present) && children[3..].iter().all(|c| !c.present),
        "the children here are listed apart from those not here"
    );
    // "Select all" of the present group never offers a check-in.
    let s = w.tap("select_present");
    assert_eq!((staff_room_screen(&s).2, staff_room_screen(&s).3), (0, 3));
    assert!(matches!(
        s,
        Screen::StaffRoom {
            all_present_selected: true,
            all_absent_selected: false,
            ..
        }
    ));
    w.tap("check_in");
    assert!(w.recorded.is_empty());
    // The absent group: a check-out never includes an absent child.
    let s = w.tap("select_absent");
    assert_eq!((staff_room_screen(&s).2, staff_room_screen(&s).3), (16, 0));
    let s = w.tap("check_out");
    assert!(w.recorded.is_empty(), "{:?}", w.recorded);
    assert_eq!(
        staff_room_screen(&s).5.as_deref(),
        Some("Select children first.")
    );
    // Sixteen at once asks once; any other tap forgets the question.
    let s = w.tap("check_in");
    assert!(w.recorded.is_empty());
    let (.., confirm, notice) = staff_room_screen(&s);
    assert!(confirm, "{s:?}");
    assert_eq!(
        notice.as_deref(),
        Some("Check in 16 children? Tap “Check in 16” again to confirm.")
    );
    w.tap("child:child_x03");
    let s = w.tap("child:child_x03");
    assert!(
        !staff_room_screen(&s).4,
        "a tap in between cancels the question"
    );
    w.tap("check_in");
    assert!(w.recorded.is_empty());
    let s = w.tap("check_in");
    assert_eq!(w.recorded.len(), 16);
    assert!(w.recorded.iter().all(|e| e.kind == EventType::CheckIn));
    assert_eq!(
        staff_room_screen(&s),
        (
            19,
            0,
            0,
            0,
            false,
            Some("16 children checked in — 8:30".into())
        )
    );
    // A few at once need no confirmation.
    w.tap("select_present");
    w.tap("child:child_b");
    w.tap("check_out");
    assert_eq!(w.recorded.len(), 16 + 18);
}

#[test]
fn a_staff_session_ends_on_done_or_after_30_idle_seconds() {
    let mut w = World::new();
    w.pin("9001");
    w.tap("clock_in");
    assert!(matches!(w.wait(INACTIVITY_S - 1), Screen::Staff { .. }));
    let s = w.tap("room:room_prek");
    assert!(matches!(s, Screen::StaffRoom { .. }));
    assert!(matches!(w.wait(INACTIVITY_S - 1), Screen::StaffRoom { .. }));
    assert!(
        matches!(w.wait(1), Screen::Home { .. }),
        "30 s without a touch"
    );
    w.pin("9001");
    assert!(matches!(w.tap("done"), Screen::Home { .. }));
    w.pin("9001");
    assert!(matches!(w.tap("exit"), Screen::Home { .. }));
}

#[test]
fn a_staff_action_that_did_not_save_says_so_and_keeps_the_selection() {
    let mut w = World::new();
    w.presence
        .children
        .insert("child_b".into(), here(&w, "room_prek"));
    w.pin("9001");
    w.tap("room:room_prek");
    w.tap("child:child_b");
    let ctx = ctx(&w.roster, &w.presence, &w.fingerprints);
    let fx = w
        .kiosk
        .step(&ctx, Input::Tap(Tap::CheckOut), w.now, &mut |_| "x".into());
    assert!(matches!(fx.first(), Some(Effect::Record(_))));
    w.kiosk.step(
        &ctx,
        Input::Saved(Err("disk full".into())),
        w.now,
        &mut |_| "x".into(),
    );
    let s = w.kiosk.screen(&ctx, w.now);
    assert!(
        matches!(&s, Screen::StaffRoom { selected: 1, notice: Some(n), .. } if n.contains("Nothing was recorded")),
        "{s:?}"
    );
}

#[test]
fn sync_now_says_how_the_sync_went_and_when() {
    use crate::domain::eligibility::Kind;
    use crate::domain::report::{Counts, SyncReport};
    let mut w = World::new();
    w.pin("9001");
    let s = w.tap("sync_now");
    assert!(matches!(&s, Screen::Staff { notice: Some(n), .. } if n == "Syncing the roster…"));
    assert!(matches!(w.effects.last(), Some(Effect::ManualSync { .. })));
    let mut counts = std::collections::BTreeMap::new();
    counts.insert(
        Kind::Child,
        Counts {
            added: 1,
            updated: 2,
            archived: 0,
            unchanged: 40,
        },
    );
    let report = SyncReport {
        at: w.now,
        cursor: "r_2".into(),
        full: true,
        counts,
        lines: vec!["Alex Rivera (child child_a): no primary room".into()],
    };
    w.now += Duration::minutes(1);
    let s = w.send(Input::ManualSyncDone(Ok(report)));
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), .. }
            if n == "Roster synced at 8:31: 3 changes, 1 to fix (see Sync)."),
        "{s:?}"
    );
    let s = w.send(Input::ManualSyncDone(Err(Trouble::HubUnreachable)));
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), .. }
            if n == "Sync at 8:31 failed: the hub does not answer (is the network down?). The door keeps working."),
        "{s:?}"
    );
    // A Spanish door says why in Spanish.
    w.tap("exit");
    w.tap("lang:es");
    w.pin("9001");
    let s = w.send(Input::ManualSyncDone(Err(Trouble::HubBusy { status: 503 })));
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), .. }
            if n.contains("falló: el hub está ocupado o no disponible (HTTP 503)")),
        "{s:?}"
    );
    // Nobody at the staff screen: nothing changes on the home screen.
    w.tap("exit");
    let s = w.send(Input::ManualSyncDone(Err(Trouble::Revoked)));
    assert!(matches!(s, Screen::Home { .. }));
}

#[test]
fn a_refused_person_reads_pick_up_or_drop_off_by_where_the_child_is() {
    let mut w = World::new();
    let s = w.pin("3333");
    let mia = family_children(&s)
        .into_iter()
        .find(|k| k.0 == "child_b")
        .unwrap();
    assert_eq!(
        mia.2.as_deref(),
        Some("Chris can't check in Mia — please see the front desk"),
        "Mia is not here: Chris is dropping off"
    );
    w.tap("cancel");
    w.presence
        .children
        .insert("child_b".into(), here(&w, "room_prek"));
    let s = w.pin("3333");
    let mia = family_children(&s)
        .into_iter()
        .find(|k| k.0 == "child_b")
        .unwrap();
    assert_eq!(
        mia.2.as_deref(),
        Some("Chris can't pick up Mia — please see the front desk")
    );
}

#[test]
fn the_family_screen_shows_the_room_the_check_in_will_use() {
    let mut w = World::new();
    w.now += Duration::hours(4); // 12:30: Alex's schedule puts him in Pre-K
    let s = w.pin("1111");
    let Screen::Family { children, .. } = &s else {
        panic!("{s:?}")
    };
    let alex = children.iter().find(|c| c.id == "child_a").unwrap();
    assert_eq!(alex.room, "Pre-K");
    w.tap("child:child_b");
    let Screen::Done { lines } = w.tap("check_in") else {
        panic!()
    };
    assert!(lines[0].contains("Pre-K"), "{lines:?}");
}

#[test]
fn the_room_screen_shows_unscheduled_as_the_check_in_recorded_it() {
    let mut w = World::new();
    // 8:30: Alex is scheduled 12:00–18:00 only, so this check-in is unscheduled.
    w.pin("1111");
    w.tap("child:child_b");
    w.tap("check_in");
    let flags = &w.recorded[0].flags;
    assert!(flags.contains(&"unscheduled".to_string()), "{flags:?}");
    // 12:30: the schedule now covers him, but the check-in was unscheduled.
    w.now += Duration::hours(4);
    w.send(Input::Tick);
    w.pin("9001");
    let Screen::StaffRoom { children, .. } = w.tap("room:room_toddlers") else {
        panic!()
    };
    let alex = children.iter().find(|c| c.id == "child_a").unwrap();
    assert!(alex.unscheduled, "{alex:?}");
}

#[test]
fn an_archived_persons_pin_is_refused_in_plain_words_and_audited() {
    let mut w = World::new();
    let mut src = roster_response();
    src.staff[0].employment_status = "terminated".into();
    src.families[0].people[2].pin_hmac = Some(crate::domain::testdata::pin("2222"));
    src.families[0].children[0].authorized_pickup_ids.clear(); // Rosa picks up nobody now
    w.roster = roster_from(&src);
    let s = w.pin("9001");
    assert!(
        matches!(&s, Screen::Message { text, .. } if text == "This staff PIN is not active. Please see the director."),
        "{s:?}"
    );
    assert_eq!(w.audits.last(), Some(&"refused_inactive_staff"));
    assert_eq!(
        w.audit_details.last().unwrap().1["staff_id"],
        serde_json::json!("staff_lee")
    );
    // It still counts as a try.
    assert_eq!(w.kiosk.guard().misses(w.now), 1);
    w.tap("ok");
    let s = w.pin("4444");
    assert!(
        matches!(&s, Screen::Pin { message: Some(m), .. } if m.contains("didn't match")),
        "{s:?}"
    );
}

#[test]
fn a_revoked_door_alerts_staff_and_the_device_screen_says_what_to_do() {
    let mut w = World::new();
    w.device.revoked = true;
    let s = w.pin("9000");
    let Screen::Staff { alerts, .. } = &s else {
        panic!("{s:?}")
    };
    assert!(
        alerts[0].starts_with("The hub no longer accepts this door"),
        "{alerts:?}"
    );
    let s = w.tap("device");
    assert!(
        matches!(&s, Screen::Device { revoked: Some(t), .. } if t.contains("cubby provision")),
        "{s:?}"
    );
    w.device.revoked = false;
    assert!(matches!(w.screen(), Screen::Device { revoked: None, .. }));
}
