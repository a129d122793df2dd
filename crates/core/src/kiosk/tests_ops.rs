//! Language, ratios, roll call, sync errors, the device screen and the time clock,
//! through the state machine on the domain's fixture roster (`tests::World`).

use std::collections::BTreeMap;

use chrono::Duration;

use super::tests::World;
use super::*;
use crate::domain::eligibility::Kind;
use crate::domain::report::Counts;
use crate::domain::roster::PersonInfo;

fn home_greeting(s: &Screen) -> String {
    match s {
        Screen::Home { greeting, .. } => greeting.clone(),
        other => panic!("expected home, got {other:?}"),
    }
}

fn staff_alerts(s: &Screen) -> Vec<String> {
    match s {
        Screen::Staff { alerts, .. } => alerts.clone(),
        other => panic!("expected staff, got {other:?}"),
    }
}

fn room<'a>(s: &'a Screen, id: &str) -> &'a RoomCard {
    match s {
        Screen::Staff { rooms, .. } => rooms.iter().find(|r| r.id == id).expect("room card"),
        other => panic!("expected staff, got {other:?}"),
    }
}

// ---------------------------------------------------------------------- language

#[test]
fn a_family_checks_in_in_spanish_and_the_door_returns_to_english() {
    let mut w = World::new();
    assert_eq!(home_greeting(&w.screen()), "Good morning!");
    let s = w.tap("lang:es");
    assert_eq!(w.kiosk.lang(), Lang::Es);
    assert_eq!(home_greeting(&s), "¡Buenos días!");
    let s = w.pin("1111");
    let Screen::Family {
        greeting, children, ..
    } = &s
    else {
        panic!("{s:?}")
    };
    assert_eq!(greeting, "¡Hola, Dana!");
    assert_eq!(children[0].state, "No está aquí");
    let Screen::Done { lines } = w.tap("check_in") else {
        panic!()
    };
    assert_eq!(lines[0], "Entrada registrada: Alex, en Toddlers — 8:30");
    assert!(matches!(w.wait(DONE_S), Screen::Home { .. }));
    assert_eq!(w.kiosk.lang(), Lang::En, "reset after the transaction");
    assert_eq!(home_greeting(&w.screen()), "Good morning!");
    // Present children say since when, in the chosen language.
    w.tap("lang:es");
    let Screen::Family { children, .. } = w.pin("1111") else {
        panic!()
    };
    assert_eq!(children[0].state, "Aquí desde las 8:30");
}

#[test]
fn language_resets_after_cancel_message_and_timeout() {
    let mut w = World::new();
    // Cancel.
    w.tap("lang:es");
    w.pin("1111");
    w.tap("cancel");
    assert_eq!(w.kiosk.lang(), Lang::En);
    // A message, tapped away.
    w.tap("lang:es");
    let s = w.send(Input::Fingerprint(42));
    assert!(
        matches!(&s, Screen::Message { text, .. } if text.starts_with("No reconocimos la huella")),
        "{s:?}"
    );
    w.tap("ok");
    assert_eq!(w.kiosk.lang(), Lang::En);
    // A keypad left open.
    w.tap("lang:es");
    w.tap("start");
    assert!(matches!(w.wait(INACTIVITY_S), Screen::Home { .. }));
    assert_eq!(w.kiosk.lang(), Lang::En);
    // Spanish chosen on the home screen and walked away from.
    w.tap("lang:es");
    w.wait(INACTIVITY_S - 1);
    assert_eq!(w.kiosk.lang(), Lang::Es, "not before 30 s");
    w.wait(1);
    assert_eq!(w.kiosk.lang(), Lang::En);
    // A language the door does not speak is not an element at all.
    assert!(Tap::parse("lang:fr").is_err());
    assert_eq!(w.kiosk.lang(), Lang::En);
}

#[test]
fn a_spanish_center_starts_and_returns_in_spanish() {
    let mut w = World::new();
    w.kiosk = Kiosk::new(w.now).with_lang(Lang::Es);
    assert_eq!(home_greeting(&w.screen()), "¡Buenos días!");
    w.tap("lang:en");
    let s = w.pin("1111");
    assert!(matches!(&s, Screen::Family { greeting, .. } if greeting == "Hi Dana!"));
    w.tap("cancel");
    assert_eq!(w.kiosk.lang(), Lang::Es);
    let s = w.pin("0000");
    assert!(
        matches!(&s, Screen::Pin { message: Some(m), .. } if m == "Ese PIN no coincide. Intente de nuevo, por favor."),
        "{s:?}"
    );
}

#[test]
fn refusal_is_calm_in_spanish_and_the_staff_alert_follows_the_staff_language() {
    let mut w = World::new();
    w.tap("lang:es");
    let Screen::Family { children, .. } = w.pin("3333") else {
        panic!()
    };
    let mia = children.iter().find(|c| c.id == "child_b").expect("Mia");
    assert_eq!(
        mia.refused.as_deref(),
        Some("Chris no puede registrar la entrada de Mia — por favor, pase a la recepción")
    );
    w.tap("cancel");
    let alerts = staff_alerts(&w.pin("9001"));
    assert!(
        alerts
            .iter()
            .any(|a| a == "8:30 Chris Rivera is not authorized for Mia"),
        "{alerts:?}"
    );
    // The next day the alert is gone.
    w.tap("exit");
    w.now += Duration::days(1);
    assert!(staff_alerts(&w.pin("9001")).is_empty());
}

// ---------------------------------------------------------------------- ratios and time clock

#[test]
fn room_cards_take_their_state_from_the_ratios_and_clock_in_feeds_them() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in");
    w.wait(DONE_S);
    let s = w.pin("9001");
    let t = room(&s, "room_toddlers");
    assert_eq!(
        (t.ratio_state.as_str(), t.over_ratio, t.staff_on_duty),
        ("over", true, 0)
    );
    assert_eq!(t.summary, "1 in · 0 staff · 1:6");
    assert!(matches!(w.screen(), Screen::Staff { on_duty: false, .. }));
    w.tap("clock_in");
    w.wait(DONE_S);
    let s = w.pin("9001");
    let t = room(&s, "room_toddlers");
    assert_eq!(
        (t.ratio_state.as_str(), t.over_ratio, t.staff_on_duty),
        ("ok", false, 1)
    );
    assert!(matches!(s, Screen::Staff { on_duty: true, .. }));
    // Five more children in Toddlers: at the limit minus one is "near".
    for i in 0..5 {
        w.presence.children.insert(
            format!("extra_{i}"),
            crate::domain::presence::Here {
                room_id: "room_toddlers".into(),
                since: w.recorded[0].occurred_at,
                unscheduled: false,
            },
        );
    }
    assert_eq!(
        room(&w.screen(), "room_toddlers").ratio_state,
        "near",
        "6 children, 1 staff, 1:6"
    );
}

#[test]
fn a_staff_fingerprint_opens_staff_mode_and_clocks_in_by_fingerprint() {
    let mut w = World::new();
    w.fingerprints
        .insert(4, Identity::Staff("staff_lee".into()));
    let s = w.send(Input::Fingerprint(4));
    assert!(
        matches!(&s, Screen::Staff { name, .. } if name == "Lee Chen"),
        "{s:?}"
    );
    let s = w.tap("clock_in");
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), on_duty: true, .. } if n == "Lee is clocked in — 8:30"),
        "{s:?}"
    );
    let e = w.recorded.last().expect("clock-in event");
    assert_eq!(
        (e.kind, e.method, e.staff_id.as_deref()),
        (
            EventType::StaffClockIn,
            Method::Fingerprint,
            Some("staff_lee")
        )
    );
    assert_eq!(e.room_id.as_deref(), Some("room_toddlers"));
    // Clocking in twice is refused with a notice, nothing recorded.
    w.wait(DONE_S);
    w.send(Input::Fingerprint(4));
    let s = w.tap("clock_in");
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), .. } if n == "You are already clocked in."),
        "{s:?}"
    );
    assert_eq!(w.recorded.len(), 1);
}

#[test]
fn late_pickup_and_unscheduled_children_are_flagged_for_staff() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in"); // 8:30: Alex is scheduled 12:00–18:00 only
    w.wait(DONE_S);
    w.pin("9001");
    let s = w.tap("room:room_toddlers");
    let Screen::StaffRoom { children, .. } = &s else {
        panic!("{s:?}")
    };
    let alex = &children[0];
    assert_eq!(alex.name, "Alex R.");
    assert!(alex.unscheduled && !alex.late_pickup);
    assert_eq!(alex.flags, vec!["Not on today's schedule now".to_string()]);
    w.tap("exit");
    // 18:30: still here after the end of the schedule.
    w.now += Duration::hours(10);
    let s = w.pin("9001");
    let alerts = staff_alerts(&s);
    assert!(
        alerts
            .iter()
            .any(|a| a == "Alex R. (Toddlers) is still here after 18:00"),
        "{alerts:?}"
    );
    assert_eq!(room(&s, "room_toddlers").late_pickups, 1);
    let Screen::StaffRoom { children, .. } = w.tap("room:room_toddlers") else {
        panic!()
    };
    assert!(children[0].late_pickup && !children[0].unscheduled);
    assert_eq!(children[0].flags, vec!["Late pick-up".to_string()]);
}

// ---------------------------------------------------------------------- roll call

fn roll_call_counts(s: &Screen) -> (usize, usize) {
    match s {
        Screen::RollCall {
            accounted, total, ..
        } => (*accounted, *total),
        other => panic!("expected roll call, got {other:?}"),
    }
}

#[test]
fn roll_call_lists_everyone_on_site_ticks_and_summarises() {
    let mut w = World::new();
    w.pin("1111");
    w.tap("check_in");
    w.wait(DONE_S);
    w.pin("9001");
    w.tap("clock_in");
    w.wait(DONE_S);
    w.pin("9001");
    let s = w.tap("roll_call");
    let Screen::RollCall {
        rooms,
        progress,
        started_at,
        ..
    } = &s
    else {
        panic!("{s:?}")
    };
    assert_eq!(progress, "0 of 3 accounted for");
    assert_eq!(started_at, "8:30");
    let names: Vec<(&str, Vec<(&str, &str)>)> = rooms
        .iter()
        .map(|r| {
            (
                r.room_name.as_str(),
                r.people
                    .iter()
                    .map(|p| (p.name.as_str(), p.who.as_str()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("Pre-K", vec![("Mia Rivera", "child")]),
            (
                "Toddlers",
                vec![("Alex Rivera", "child"), ("Lee Chen", "staff")]
            ),
        ]
    );
    assert_eq!(rooms[1].people[1].initials, "LC");
    w.tap("account:child_a");
    w.tap("account:staff_lee");
    assert_eq!(
        roll_call_counts(&w.tap("account:staff_lee")),
        (1, 3),
        "untick"
    );
    assert_eq!(roll_call_counts(&w.tap("account:staff_lee")), (2, 3));
    // A drill is slow: half a minute without a tap does not end it.
    assert_eq!(roll_call_counts(&w.wait(INACTIVITY_S * 2)), (2, 3));
    let s = w.tap("finish_roll_call");
    let Screen::RollCallSummary {
        all_accounted,
        text,
        missing,
        accounted,
        total,
    } = &s
    else {
        panic!("{s:?}")
    };
    assert!(!all_accounted);
    assert_eq!(text, "1 of 3 not accounted for.");
    assert_eq!((*accounted, *total), (2, 3));
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].name, "Mia Rivera");
    // Back to the list keeps the ticks; finish again when everyone is found.
    assert_eq!(roll_call_counts(&w.tap("back")), (2, 3));
    w.tap("account:child_b");
    let s = w.tap("finish_roll_call");
    assert!(
        matches!(&s, Screen::RollCallSummary { all_accounted: true, text, .. } if text == "Everyone is accounted for (3)."),
        "{s:?}"
    );
    assert!(matches!(w.tap("done"), Screen::Staff { .. }));
    // Audited with ids only.
    let kinds: Vec<&str> = w
        .audit_details
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| k.starts_with("roll_call"))
        .collect();
    assert_eq!(
        kinds,
        [
            "roll_call_started",
            "roll_call_finished",
            "roll_call_finished"
        ]
    );
    let (_, first_finish) = w
        .audit_details
        .iter()
        .find(|(k, _)| *k == "roll_call_finished")
        .expect("finish audited");
    assert_eq!(first_finish["missing_ids"], serde_json::json!(["child_b"]));
    assert_eq!(first_finish["staff_id"], "staff_lee");
    assert!(!first_finish.to_string().contains("Mia"));
}

#[test]
fn roll_call_with_nobody_on_site_says_so_in_the_staff_language() {
    let mut w = World::new();
    w.tap("lang:es");
    w.pin("9001");
    let s = w.tap("roll_call");
    assert!(
        matches!(&s, Screen::RollCall { total: 0, notice: Some(n), progress, .. }
            if n == "Ahora no hay nadie registrado ni en turno." && progress == "0 de 0 contados"),
        "{s:?}"
    );
    let s = w.tap("finish_roll_call");
    assert!(matches!(
        s,
        Screen::RollCallSummary {
            all_accounted: true,
            ..
        }
    ));
}

// ---------------------------------------------------------------------- sync errors

fn parked_check_in(w: &World) -> ParkedItem {
    let mut event = crate::domain::testdata::event(
        "ev_parked",
        EventType::CheckIn,
        "child_a",
        "2026-11-23T08:00:00-06:00",
    );
    event.device_id = "dev_01".into();
    ParkedItem {
        event_id: "ev_parked".into(),
        reason: "unknown child".into(),
        parked_at: Some(w.now - Duration::minutes(20)),
        event,
    }
}

#[test]
fn parked_events_can_be_retried_and_dismissed_after_one_confirmation() {
    let mut w = World::new();
    w.sync.parked = vec![parked_check_in(&w)];
    let s = w.pin("9001");
    assert!(matches!(s, Screen::Staff { parked: 1, .. }), "{s:?}");
    assert!(staff_alerts(&s).contains(&"1 event the hub refused — see Sync errors".to_string()));
    let s = w.tap("sync_errors");
    let Screen::SyncErrors { parked, .. } = &s else {
        panic!("{s:?}")
    };
    assert_eq!(parked[0].what, "Check-in · Alex R. · Toddlers · 8:00");
    assert_eq!(parked[0].reason, "The hub doesn't know this child.");
    assert_eq!(parked[0].parked_at.as_deref(), Some("8:10"));
    assert!(!parked[0].confirm_dismiss);

    w.tap("retry:ev_parked");
    assert_eq!(
        w.effects,
        vec![Effect::RetryParked {
            event_id: "ev_parked".into()
        }]
    );
    let (kind, detail) = w.audit_details.last().expect("audited");
    assert_eq!(*kind, "parked_retry");
    assert_eq!(
        detail,
        &serde_json::json!({"staff_id": "staff_lee", "event_id": "ev_parked"})
    );

    // Dismiss asks once.
    let s = w.tap("dismiss:ev_parked");
    let Screen::SyncErrors { parked, notice, .. } = &s else {
        panic!()
    };
    assert!(parked[0].confirm_dismiss);
    assert!(notice
        .as_deref()
        .unwrap_or_default()
        .starts_with("Tap Dismiss again"));
    assert_eq!(w.effects.len(), 1, "nothing dismissed yet");
    // Another tap takes the question back.
    w.tap("page_next");
    let s = w.tap("dismiss:ev_parked");
    assert!(matches!(&s, Screen::SyncErrors { parked, .. } if parked[0].confirm_dismiss));
    w.tap("dismiss:ev_parked");
    assert_eq!(
        w.effects.last(),
        Some(&Effect::DismissParked {
            event_id: "ev_parked".into()
        })
    );
    assert_eq!(w.audits.last(), Some(&"parked_dismissed"));
    // The runtime reloads the list; a stale id does nothing.
    w.sync.parked.clear();
    let s = w.tap("retry:ev_parked");
    assert!(
        matches!(&s, Screen::SyncErrors { notice: Some(n), .. } if n == "That one is no longer waiting."),
        "{s:?}"
    );
    assert_eq!(w.effects.len(), 2);
    assert!(matches!(w.tap("back"), Screen::Staff { .. }));
}

#[test]
fn sync_reports_show_counts_problems_and_the_last_failure() {
    let mut w = World::new();
    let mut counts = BTreeMap::new();
    counts.insert(
        Kind::Child,
        Counts {
            added: 2,
            updated: 1,
            archived: 1,
            unchanged: 40,
        },
    );
    counts.insert(
        Kind::Person,
        Counts {
            added: 1,
            ..Counts::default()
        },
    );
    w.sync.reports = vec![crate::domain::report::SyncReport {
        at: w.now - Duration::minutes(20),
        cursor: "r_9".into(),
        full: true,
        counts,
        lines: vec!["Sam Lee (child child_9): no primary room in the management system".into()],
    }];
    w.sync.last_error = Some(Trouble::RosterRefused);
    w.pin("9001");
    let Screen::SyncErrors {
        reports, parked, ..
    } = w.tap("sync_errors")
    else {
        panic!()
    };
    assert!(parked.is_empty());
    assert_eq!(reports.len(), 2);
    assert!(!reports[0].ok);
    assert_eq!(reports[0].state, ReportState::Failed);
    assert_eq!(
        reports[0].text,
        "The last sync failed: the hub sent a roster this door refused; the previous roster stays in use"
    );
    let r = &reports[1];
    assert_eq!(r.at, "11/23 8:10");
    assert!(r.ok, "the sync worked");
    assert_eq!(r.state, ReportState::ToFix, "a record needs fixing");
    assert_eq!(r.kind, "Full sync");
    assert_eq!(r.text, "3 added · 1 updated · 1 archived");
    assert_eq!(
        r.problems_text.as_deref(),
        Some("1 record to fix in the management system")
    );
    assert_eq!(r.problems.len(), 1);
}

// ---------------------------------------------------------------------- device screen

fn device(s: &Screen) -> &Screen {
    assert!(
        matches!(s, Screen::Device { .. }),
        "expected device, got {s:?}"
    );
    s
}

#[test]
fn a_teacher_is_refused_the_device_screen_calmly_and_it_is_audited() {
    let mut w = World::new();
    let s = w.pin("9001");
    assert!(matches!(
        s,
        Screen::Staff {
            device_allowed: false,
            ..
        }
    ));
    let s = w.tap("device");
    assert!(
        matches!(&s, Screen::Staff { notice: Some(n), .. } if n == "Only a director or administrator can open the device screen."),
        "{s:?}"
    );
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "device_screen",
            serde_json::json!({"staff_id": "staff_lee", "allowed": false})
        ))
    );
}

#[test]
fn a_director_sees_the_device_and_its_hardware() {
    let mut w = World::new();
    w.device = DoorInfo {
        version: "0.4.0".into(),
        device_id: "dev_01".into(),
        hub_url: "https://hub.example".into(),
        address: Some("192.168.1.20".into()),
        hardware: vec![
            HardwareReport {
                device: Hardware::Fingerprint,
                state: HardwareState::Fault,
                detail: HardwareDetail::Disconnected,
            },
            HardwareReport {
                device: Hardware::Scanner(Some(2)),
                state: HardwareState::Fault,
                detail: HardwareDetail::Technical("no device at /dev/ttyACM0".into()),
            },
            HardwareReport {
                device: Hardware::Gpio,
                state: HardwareState::Absent,
                detail: HardwareDetail::NotConfigured,
            },
        ],
        revoked: false,
    };
    w.sync.queue_depth = 3;
    let s = w.pin("9000");
    assert!(matches!(
        s,
        Screen::Staff {
            device_allowed: true,
            ..
        }
    ));
    assert!(
        staff_alerts(&s)
            .contains(&"Fingerprint reader disconnected — PINs and QR codes still work.".into()),
        "{s:?}"
    );
    let s = w.tap("device");
    let Screen::Device {
        version,
        hub_url,
        address,
        clock_text,
        queue_text,
        hardware,
        ..
    } = device(&s)
    else {
        unreachable!()
    };
    assert_eq!(
        (version.as_str(), hub_url.as_str(), address.as_str()),
        ("0.4.0", "https://hub.example", "192.168.1.20")
    );
    assert_eq!(clock_text, "Clock synchronized");
    assert_eq!(queue_text, "3 waiting to send · 0 refused by the hub");
    assert_eq!(hardware[0].state, "fault");
    let lines: Vec<(&str, &str)> = hardware
        .iter()
        .map(|h| (h.name.as_str(), h.detail.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("Fingerprint reader", "Disconnected: check its cable"),
            ("QR scanner 2", "Not working: no device at /dev/ttyACM0"),
            ("Door strike, lights and buzzer", "Not set up on this door"),
        ]
    );
    assert!(
        staff_alerts(&w.tap("back"))
            .contains(&"QR scanner 2: Not working: no device at /dev/ttyACM0".to_string()),
        "the staff screen names a broken scanner in words"
    );
    // A Spanish door says all of it in Spanish; only the driver's own words stay.
    w.tap("exit");
    w.tap("lang:es");
    w.pin("9000");
    let s = w.tap("device");
    let Screen::Device { hardware, .. } = device(&s) else {
        unreachable!()
    };
    assert_eq!(
        (hardware[0].name.as_str(), hardware[0].detail.as_str()),
        ("Lector de huellas", "Desconectado: revise el cable")
    );
    assert_eq!(hardware[1].detail, "No funciona: no device at /dev/ttyACM0");
    assert_eq!(hardware[2].name, "Cerradura, luces y zumbador");
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "device_screen",
            serde_json::json!({"staff_id": "staff_pat", "allowed": true})
        ))
    );
    assert!(matches!(w.tap("back"), Screen::Staff { .. }));
}

#[test]
fn enrollment_needs_a_person_and_consent_and_shows_progress() {
    let mut w = World::new();
    w.pin("9000");
    let s = w.tap("device");
    let Screen::Device {
        letters, people, ..
    } = device(&s)
    else {
        unreachable!()
    };
    let tabs: Vec<(&str, usize)> = letters
        .iter()
        .map(|l| (l.letter.as_str(), l.count))
        .collect();
    assert_eq!(
        tabs,
        [("C", 2), ("D", 1), ("R", 2)],
        "Chen×2, Diaz, Rivera×2"
    );
    assert!(people.is_empty(), "choose a letter first");
    let s = w.tap("letter:r");
    let Screen::Device { people, letter, .. } = device(&s) else {
        unreachable!()
    };
    assert_eq!(letter.as_deref(), Some("R"));
    let names: Vec<&str> = people.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Chris Rivera", "Dana Rivera"]);
    assert_eq!(people[1].kind_text, "Guardian");
    // Nothing happens without a person, then without consent.
    let s = w.tap("enroll_finger");
    assert!(matches!(&s, Screen::Device { notice: Some(n), .. } if n == "Choose a person first."));
    let s = w.tap("person:per_dana");
    assert!(matches!(
        &s,
        Screen::Device {
            can_enroll: false,
            consent: false,
            ..
        }
    ));
    let s = w.tap("enroll_finger");
    assert!(
        matches!(&s, Screen::Device { notice: Some(n), .. } if n == "Tick the consent box first.")
    );
    assert!(w.effects.is_empty());
    let s = w.tap("consent");
    assert!(matches!(
        &s,
        Screen::Device {
            can_enroll: true,
            ..
        }
    ));
    // The person confirms they are here with their own PIN.
    let s = w.tap("enroll_finger");
    assert!(
        matches!(&s, Screen::Pin { message: Some(m), .. } if m == "Dana, please type your own PIN to confirm it's you."),
        "{s:?}"
    );
    assert!(w.effects.is_empty());
    // Someone else's PIN (Chris's) is refused, audited and counted as a miss.
    let s = w.pin("3333");
    assert!(
        matches!(&s, Screen::Pin { message: Some(m), .. } if m.starts_with("That isn't Dana's PIN")),
        "{s:?}"
    );
    assert!(w.effects.is_empty());
    assert!(w.audits.contains(&"fingerprint_enroll_refused"));
    assert_eq!(w.kiosk.guard().misses(w.now), 1);
    let s = w.pin("1111");
    assert_eq!(
        w.effects,
        vec![Effect::EnrollFingerprint {
            person_id: "per_dana".into()
        }]
    );
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "fingerprint_enroll",
            serde_json::json!({"staff_id": "staff_pat", "person_id": "per_dana",
                               "consent": true, "confirmed_by": "person_pin"})
        ))
    );
    assert!(
        matches!(&s, Screen::Device { enroll: Some(e), can_enroll: false, .. } if e.busy && e.state == "starting")
    );
    // Taps that would change the person are ignored while the reader works.
    w.tap("person:per_chris");
    let enroll_text = |w: &World| match w.screen() {
        Screen::Device {
            enroll: Some(e),
            person: Some(p),
            ..
        } => (e.text, p.id),
        other => panic!("{other:?}"),
    };
    w.send(Input::Enroll(EnrollProgress::PlaceFinger {
        capture: 2,
        of: 3,
    }));
    assert_eq!(
        enroll_text(&w),
        (
            "Place your finger (2 of 3)".to_string(),
            "per_dana".to_string()
        )
    );
    // Progress counts as activity: no timeout mid-enrollment.
    w.wait(INACTIVITY_S - 5);
    w.send(Input::Enroll(EnrollProgress::LiftFinger));
    w.wait(INACTIVITY_S - 5);
    assert_eq!(enroll_text(&w).0, "Lift your finger");
    w.send(Input::Enroll(EnrollProgress::Stored { slot: 5 }));
    w.fingerprints
        .insert(5, Identity::Person("per_dana".into()));
    let s = w.screen();
    let Screen::Device {
        enroll: Some(e),
        person: Some(p),
        can_delete,
        consent,
        ..
    } = &s
    else {
        panic!("{s:?}")
    };
    assert_eq!(
        (e.state.as_str(), e.text.as_str(), e.busy),
        ("saved", "Saved", false)
    );
    assert_eq!(
        (p.fingers, p.fingers_text.as_str()),
        (1, "1 finger enrolled")
    );
    assert!(
        *can_delete && !*consent,
        "consent is asked again for another finger"
    );
}

#[test]
fn deleting_fingerprints_asks_once_and_failures_are_shown() {
    let mut w = World::new();
    w.fingerprints
        .insert(7, Identity::Staff("staff_lee".into()));
    w.pin("9000");
    w.tap("device");
    w.tap("letter:C");
    let s = w.tap("person:staff_lee");
    assert!(matches!(
        &s,
        Screen::Device {
            can_delete: true,
            ..
        }
    ));
    let s = w.tap("delete_fingers");
    assert!(
        matches!(&s, Screen::Device { confirm_delete: true, notice: Some(n), .. } if n == "Tap Delete again to delete Lee's fingerprints."),
        "{s:?}"
    );
    assert!(w.effects.is_empty());
    w.tap("delete_fingers");
    assert_eq!(
        w.effects,
        vec![Effect::DeleteFingerprints {
            person_id: "staff_lee".into()
        }]
    );
    w.send(Input::Enroll(EnrollProgress::Deleted { count: 1 }));
    assert!(
        matches!(w.screen(), Screen::Device { enroll: Some(e), .. } if e.text == "1 fingerprint deleted")
    );
    // A failed enrollment says why, in words.
    w.tap("consent");
    w.tap("enroll_finger");
    w.pin("9001");
    w.send(Input::Enroll(EnrollProgress::Failed(
        EnrollFailure::CapturesDiffer,
    )));
    assert!(matches!(w.screen(), Screen::Device { enroll: Some(e), .. }
            if e.state == "failed" && e.text == "That didn't work: The captures did not look like the same finger. Please start again." && !e.busy));
    // Progress outside the device screen is ignored.
    w.tap("back");
    let before = w.screen();
    w.send(Input::Enroll(EnrollProgress::LiftFinger));
    assert_eq!(w.screen(), before);
}

#[test]
fn a_spanish_door_explains_a_failed_enrollment_in_spanish() {
    let mut w = World::new();
    w.kiosk = Kiosk::new(w.now).with_lang(Lang::Es);
    w.pin("9000");
    w.tap("device");
    w.tap("letter:C");
    w.tap("person:staff_lee");
    w.tap("consent");
    w.tap("enroll_finger");
    w.pin("9001");
    assert!(
        matches!(w.effects.last(), Some(Effect::EnrollFingerprint { .. })),
        "{:?}",
        w.effects
    );
    w.send(Input::Enroll(EnrollProgress::Failed(
        EnrollFailure::FingerTimeout,
    )));
    let s = w.screen();
    assert!(
        matches!(&s, Screen::Device { enroll: Some(e), .. }
            if e.state == "failed"
                && e.text == "No funcionó: No se puso el dedo a tiempo. Por favor, empiece de nuevo."
                && !e.busy),
        "{s:?}"
    );
    // Every failure has Spanish words on the Spanish door, none of the English ones.
    for f in [
        EnrollFailure::ReaderDisconnected,
        EnrollFailure::NoReader,
        EnrollFailure::NotSaved,
    ] {
        w.tap("consent");
        w.tap("enroll_finger");
        w.pin("9001");
        w.send(Input::Enroll(EnrollProgress::Failed(f)));
        let s = w.screen();
        let Screen::Device {
            enroll: Some(e), ..
        } = &s
        else {
            panic!("{s:?}")
        };
        assert_eq!(e.text, format!("No funcionó: {}", f.text(Lang::Es)));
        assert_ne!(f.text(Lang::Es), f.text(Lang::En));
    }
}

// ---------------------------------------------------------------------- technician PIN

/// A world whose store holds a technician PIN.
fn with_technician(pin: &str) -> World {
    let mut w = World::new();
    w.technician_pin_hmac = Some(crate::domain::pin::pin_hmac(
        crate::domain::testdata::KEY,
        pin,
    ));
    w
}

#[test]
fn the_technician_pin_opens_the_device_screen_and_back_goes_home() {
    let mut w = with_technician("4826");
    let s = w.pin("4826");
    assert!(matches!(s, Screen::Device { .. }), "{s:?}");
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "device_screen",
            serde_json::json!({"who": "technician", "allowed": true})
        ))
    );
    assert!(
        !w.audits.contains(&"technician_pin_collision"),
        "{:?}",
        w.audits
    );
    assert!(w.recorded.is_empty(), "no staff identity, nothing recorded");
    // No staff screen behind it: back goes home.
    assert!(matches!(w.tap("back"), Screen::Home { .. }));
    assert!(w.kiosk.is_home());
    // It times out home like every screen.
    assert!(matches!(w.pin("4826"), Screen::Device { .. }));
    assert!(matches!(w.wait(INACTIVITY_S), Screen::Home { .. }));
}

#[test]
fn the_technician_enrolls_and_deletes_fingerprints_audited_as_technician() {
    let mut w = with_technician("4826");
    w.pin("4826");
    w.tap("letter:R");
    w.tap("person:per_dana");
    w.tap("consent");
    w.tap("enroll_finger");
    w.pin("1111");
    assert_eq!(
        w.effects,
        vec![Effect::EnrollFingerprint {
            person_id: "per_dana".into()
        }]
    );
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "fingerprint_enroll",
            serde_json::json!({"by": "technician", "person_id": "per_dana", "consent": true, "confirmed_by": "person_pin"})
        ))
    );
    w.send(Input::Enroll(EnrollProgress::Stored { slot: 5 }));
    w.fingerprints
        .insert(5, Identity::Person("per_dana".into()));
    w.tap("delete_fingers");
    w.tap("delete_fingers");
    assert_eq!(
        w.effects.last(),
        Some(&Effect::DeleteFingerprints {
            person_id: "per_dana".into()
        })
    );
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "fingerprint_delete",
            serde_json::json!({"by": "technician", "person_id": "per_dana"})
        ))
    );
    w.send(Input::Enroll(EnrollProgress::Deleted { count: 1 }));
    assert!(matches!(w.tap("back"), Screen::Home { .. }));
}

#[test]
fn guardian_and_staff_pins_behave_as_before_with_a_technician_pin_set() {
    let mut w = with_technician("4826");
    let s = w.pin("1111");
    assert!(
        matches!(&s, Screen::Family { greeting, .. } if greeting == "Hi Dana!"),
        "{s:?}"
    );
    w.tap("cancel");
    // A teacher is still refused the device screen.
    w.pin("9001");
    let s = w.tap("device");
    assert!(
        matches!(
            s,
            Screen::Staff {
                notice: Some(_),
                ..
            }
        ),
        "{s:?}"
    );
    w.tap("exit");
    // A director's device screen still goes back to the staff screen.
    w.pin("9000");
    assert!(matches!(w.tap("device"), Screen::Device { .. }));
    assert_eq!(
        w.audit_details.last(),
        Some(&(
            "device_screen",
            serde_json::json!({"staff_id": "staff_pat", "allowed": true})
        ))
    );
    assert!(matches!(w.tap("back"), Screen::Staff { .. }));
    assert!(
        w.audit_details
            .iter()
            .all(|(_, d)| d.get("who").is_none() && d.get("by").is_none()),
        "{:?}",
        w.audit_details
    );
    // Without a technician PIN set, the technician's digits are just a miss.
    let mut w = World::new();
    let s = w.pin("4826");
    assert!(
        matches!(&s, Screen::Pin { message: Some(m), .. } if m.starts_with("That PIN")),
        "{s:?}"
    );
    assert_eq!(w.kiosk.guard.misses(w.now), 1);
}

#[test]
fn wrong_technician_pins_count_toward_the_keypad_lockout() {
    let mut w = with_technician("4826");
    for _ in 0..4 {
        let s = w.pin("4827");
        assert!(
            matches!(
                s,
                Screen::Pin {
                    locked_for_s: None,
                    ..
                }
            ),
            "{s:?}"
        );
    }
    let s = w.pin("4827");
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
    // The right technician PIN is refused while locked.
    let s = w.pin("4826");
    assert!(
        matches!(&s, Screen::Pin { message: Some(m), .. } if m.starts_with("Keypad locked")),
        "{s:?}"
    );
    w.now += Duration::seconds(30);
    assert!(matches!(w.pin("4826"), Screen::Device { .. }));
    assert_eq!(
        w.kiosk.guard.misses(w.now),
        5,
        "a good PIN erases no miss: knowing one PIN buys no guesses"
    );
}

#[test]
fn a_roster_pin_equal_to_the_technician_pin_keeps_its_person_and_is_audited() {
    // `cubby technician-pin` refuses roster PINs; a later roster sync could still clash.
    let mut w = with_technician("1111");
    let s = w.pin("1111");
    assert!(matches!(&s, Screen::Family { .. }), "{s:?}");
    assert!(w.audits.contains(&"technician_pin_collision"));
    assert!(!w.audits.contains(&"device_screen"));
    // The technician PIN never opens staff mode either.
    let mut w = with_technician("9000");
    let s = w.pin("9000");
    assert!(
        matches!(&s, Screen::Staff { name, .. } if name == "Pat Chen"),
        "{s:?}"
    );
    assert!(!w.audits.contains(&"device_screen"));
}

#[test]
fn four_hundred_families_are_reachable_by_letter_and_page() {
    let mut w = World::new();
    for i in 0..400 {
        let last = format!("{}{:03}", (b'A' + (i % 26) as u8) as char, i);
        w.roster.people.insert(
            format!("per_{i}"),
            PersonInfo {
                id: format!("per_{i}"),
                first_name: "Sam".into(),
                last_name: last,
                family_id: format!("fam_{i}"),
                is_payer: true,
                guardian: true,
                pickup: false,
            },
        );
    }
    w.pin("9000");
    w.tap("device");
    let s = w.tap("letter:D");
    let Screen::Device {
        people,
        page,
        pages,
        letters,
        ..
    } = device(&s)
    else {
        unreachable!()
    };
    let d = letters.iter().find(|l| l.letter == "D").expect("D tab");
    assert_eq!(d.count, 17, "16 of the 400 families, and Rosa Diaz");
    assert!(d.selected);
    assert_eq!(people.len(), 6);
    assert_eq!((*page, *pages), (0, 3));
    w.tap("page_next");
    w.tap("page_next");
    let s = w.tap("page_next"); // past the end: stays on the last page
    let Screen::Device { people, page, .. } = device(&s) else {
        unreachable!()
    };
    assert_eq!(*page, 2);
    assert_eq!(people.len(), 5);
    assert_eq!(people[4].name, "Rosa Diaz");
    let s = w.tap("page_prev");
    assert!(matches!(s, Screen::Device { page: 1, .. }));
    let last = people.first().expect("a person").id.clone();
    let s = w.tap(&format!("person:{last}"));
    assert!(matches!(&s, Screen::Device { person: Some(p), .. } if p.id == last));
    // Unknown or archived people cannot be chosen.
    let s = w.tap("person:per_nobody");
    assert!(matches!(&s, Screen::Device { person: Some(p), .. } if p.id == last));
}

// ---------------------------------------------------------------------- the view contract

#[test]
fn new_screens_serialise_flat_with_their_names() {
    let mut w = World::new();
    w.pin("9000");
    let mut seen = Vec::new();
    for (tap, name) in [
        ("roll_call", "roll_call"),
        ("finish_roll_call", "roll_call_summary"),
        ("done", "staff"),
        ("sync_errors", "sync_errors"),
        ("back", "staff"),
        ("device", "device"),
    ] {
        let s = w.tap(tap);
        assert_eq!(s.name(), name, "after {tap}");
        let v = serde_json::to_value(&s).expect("serialisable");
        assert_eq!(v["screen"], name, "{v}");
        seen.push(v);
    }
    assert!(seen[0]["rooms"].is_array() && seen[0]["progress"].is_string());
    assert!(seen[1]["missing"].is_array() && seen[1]["all_accounted"].is_boolean());
    assert!(seen[3]["parked"].is_array() && seen[3]["reports"].is_array());
    assert!(seen[5]["letters"].is_array() && seen[5]["can_enroll"] == false);
    assert!(seen[2]["rooms"][0]["ratio_state"].is_string());
}

#[test]
fn each_failing_loop_shows_on_the_sync_screen_in_plain_words() {
    let mut w = World::new();
    w.sync.loop_errors = LoopTroubles {
        upload: Some(Trouble::HubUnreachable),
        disk: Some(Trouble::Disk),
        peers: Some(Trouble::FeedDamaged { skipped: 2 }),
        ..LoopTroubles::NONE
    };
    w.pin("9001");
    let Screen::SyncErrors { reports, .. } = w.tap("sync_errors") else {
        panic!()
    };
    let texts: Vec<&str> = reports.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Saving on this door is failing: this door cannot save to its storage; see the technician",
            "Sending attendance to the hub is failing: the hub does not answer (is the network down?)",
            "Fetching other doors' check-ins is failing: 2 events from other doors could not be read and were skipped",
        ]
    );
    assert!(reports.iter().all(|r| !r.ok));
    // On a Spanish door, every word of it is Spanish.
    w.tap("back");
    w.tap("exit");
    w.tap("lang:es");
    w.pin("9001");
    let Screen::SyncErrors { reports, .. } = w.tap("sync_errors") else {
        panic!()
    };
    assert_eq!(
        reports[1].text,
        "El envío de asistencia al hub está fallando: el hub no responde (¿no hay red?)"
    );
}
