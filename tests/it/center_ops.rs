//! Center operations against a real SQLite file: auto sign-out exactly once across
//! restarts and concurrent connections, ratio changes audited once, two doors (one
//! offline) merging into one presence, and the attendance export (CSV and JSON) with
//! conflicts kept and flagged, nothing dropped.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use cubby::api::*;
use cubby::domain::autosignout;
use cubby::domain::eligibility::evaluate;
use cubby::domain::presence::Presence;
use cubby::domain::ratios::{self, RatioState};
use cubby::domain::roster::Roster;
use cubby::domain::source::SourceRoster;
use cubby::export::{self, Format};
use cubby::store::Store;

const FRONT: &str = "dev_front";
const SIDE: &str = "dev_side";

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Maple Street, America/Chicago, auto sign-out 18:00. Alex (Toddlers; Pre-K 12–18 on
/// weekdays), Mia (Pre-K, no schedule); Dana guardian; Lee teacher in Toddlers.
fn roster() -> Roster {
    let child = |id: &str, first: &str, room: &str| Child {
        id: id.into(),
        first_name: first.into(),
        last_name: "Rivera".into(),
        birth_date: None,
        enrollment_status: "enrolled".into(),
        enrollment_start: Some(d("2024-01-08")),
        primary_room_id: Some(room.into()),
        authorized_pickup_ids: vec![],
        not_authorized_ids: vec![],
        allergies: None,
        notes: None,
        schedule: vec![],
    };
    let mut alex = child("child_a", "Alex", "room_toddlers");
    alex.schedule = vec![ScheduleBlock {
        days: ["mon", "tue", "wed", "thu", "fri"]
            .map(String::from)
            .to_vec(),
        from: "12:00".into(),
        to: "18:00".into(),
        room_id: Some("room_prek".into()),
    }];
    let room = |id: &str, name: &str| Room {
        id: id.into(),
        name: name.into(),
        children_per_staff: Some(1),
        capacity: Some(12),
        active: true,
    };
    let resp = RosterResponse {
        cursor: "r_1".into(),
        full: true,
        center: Center {
            id: "center_001".into(),
            name: "Maple Street".into(),
            timezone: "America/Chicago".into(),
            director: None,
            auto_sign_out: Some("18:00".into()),
            manual_sync_min_interval_s: None,
            min_pin_length: None,
        },
        rooms: vec![
            room("room_toddlers", "Toddlers"),
            room("room_prek", "Pre-K"),
        ],
        staff: vec![Staff {
            id: "staff_lee".into(),
            first_name: "Lee".into(),
            last_name: "Chen".into(),
            email: None,
            employment_status: "currently_employed".into(),
            start_date: Some(d("2024-01-08")),
            termination_date: None,
            primary_room_id: Some("room_toddlers".into()),
            role: Some("teacher".into()),
            pin_hmac: None,
            pin_length: None,
        }],
        families: vec![Family {
            id: "fam_1".into(),
            people: vec![Person {
                id: "per_dana".into(),
                first_name: "Dana".into(),
                last_name: "Rivera".into(),
                email: None,
                text_message_phone: None,
                is_payer: true,
                pin_hmac: None,
                pin_length: None,
                photo_url: None,
            }],
            children: vec![alex, child("child_b", "Mia", "room_prek")],
        }],
        deleted: Deleted::default(),
        qr_keys: None,
    };
    let src = SourceRoster::default().merged(&resp);
    evaluate(&src, d("2026-11-23")).unwrap().roster
}

fn ev(id: &str, kind: EventType, who: &str, room: &str, at: &str, device: &str) -> Event {
    use cubby::domain::testdata::{event, staff_event};
    let staff = matches!(kind, EventType::StaffClockIn | EventType::StaffClockOut);
    let base = if staff {
        Event {
            method: Method::StaffBatch,
            ..staff_event(id, kind, who, at)
        }
    } else {
        event(id, kind, who, at)
    };
    Event {
        room_id: Some(room.into()),
        device_id: device.into(),
        ..base
    }
}

fn morning(store: &mut Store, date: &str) {
    store
        .record_local(
            &[
                ev(
                    &format!("in_a_{date}"),
                    EventType::CheckIn,
                    "child_a",
                    "room_toddlers",
                    &format!("{date}T08:00:00-06:00"),
                    FRONT,
                ),
                ev(
                    &format!("in_b_{date}"),
                    EventType::CheckIn,
                    "child_b",
                    "room_prek",
                    &format!("{date}T08:10:00-06:00"),
                    FRONT,
                ),
            ],
            utc(&format!("{date}T08:10:00-06:00")),
        )
        .unwrap();
}

fn open(path: &Path) -> Store {
    Store::open(path).unwrap()
}

#[test]
fn auto_sign_out_exactly_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    let r = roster();
    let mut store = open(&path);
    morning(&mut store, "2026-11-23");

    // 17:59: nobody yet.
    let none = store
        .run_auto_sign_out(&r, FRONT, true, utc("2026-11-23T17:59:59-06:00"))
        .unwrap();
    assert!(none.is_empty());

    // 18:00: both children, recorded with outbox rows.
    let first = store
        .run_auto_sign_out(&r, FRONT, true, utc("2026-11-23T18:00:02-06:00"))
        .unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|e| e.method == Method::AutoSignOut
        && e.actor.kind == ActorKind::System
        && e.flags.contains(&"auto".to_string())
        && e.occurred_at.to_rfc3339() == "2026-11-23T18:00:00-06:00"));
    assert_eq!(store.queue_stats().unwrap().depth, 4);

    // The kiosk restarts within the same minute: nothing more.
    drop(store);
    let mut store = open(&path);
    let again = store
        .run_auto_sign_out(&r, FRONT, true, utc("2026-11-23T18:00:40-06:00"))
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(store.event_count().unwrap(), 4);

    // The pure path the runtime may use agrees: today's events, folded, nobody due.
    let today = store
        .events_since(utc("2026-11-23T00:00:00-06:00"))
        .unwrap();
    let p = Presence::from_events(&today);
    assert!(p.children.is_empty());
    assert!(autosignout::due(&r, &p, &today, utc("2026-11-23T18:01:00-06:00")).is_empty());
    // A stale presence (from before the sign-out) is still guarded by the stored events.
    let stale = Presence::from_events(&today[..2]);
    assert!(autosignout::due(&r, &stale, &today, utc("2026-11-23T18:01:00-06:00")).is_empty());
}

#[test]
fn two_connections_at_the_same_minute_sign_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    let r = roster();
    morning(&mut open(&path), "2026-11-23");
    let now = utc("2026-11-23T18:00:00-06:00");
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            let r = r.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                s.run_auto_sign_out(&r, FRONT, true, now).unwrap().len()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 2);
    assert_eq!(open(&path).event_count().unwrap(), 4);
}

#[test]
fn two_doors_sign_out_each_child_once_online_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster();
    let mut front = open(&dir.path().join("front.db"));
    let mut side = open(&dir.path().join("side.db"));
    // Both doors know the morning (the side door received it from the front door).
    morning(&mut front, "2026-11-23");
    let mine = front
        .events_since(utc("2026-11-23T00:00:00-06:00"))
        .unwrap();
    side.merge_peer_events(&mine, "e_2", utc("2026-11-23T09:00:00-06:00"))
        .unwrap();

    // Offline from each other at 18:00: each signs out both children, with the same ids.
    let now = utc("2026-11-23T18:00:01-06:00");
    let a = front.run_auto_sign_out(&r, FRONT, true, now).unwrap();
    let b = side.run_auto_sign_out(&r, SIDE, true, now).unwrap();
    let ids = |v: &[Event]| {
        let mut ids: Vec<String> = v.iter().map(|e| e.event_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(a.len(), 2);
    assert_eq!(ids(&a), ids(&b));
    assert!(a.iter().all(|e| e.device_id == FRONT));
    assert!(b.iter().all(|e| e.device_id == SIDE));
    // Each door later receives the other's copies: nothing new, one check-out per child.
    assert_eq!(
        side.merge_peer_events(&a, "e_4", utc("2026-11-23T18:01:00-06:00"))
            .unwrap(),
        0
    );
    assert_eq!(side.event_count().unwrap(), 4);

    // A third door that received the front door's sign-outs first makes none.
    let mut third = open(&dir.path().join("third.db"));
    third
        .merge_peer_events(&mine, "e_2", utc("2026-11-23T09:00:00-06:00"))
        .unwrap();
    third
        .merge_peer_events(&a, "e_4", utc("2026-11-23T18:00:30-06:00"))
        .unwrap();
    assert!(third
        .run_auto_sign_out(&r, "dev_third", true, utc("2026-11-23T18:00:40-06:00"))
        .unwrap()
        .is_empty());
    assert_eq!(third.event_count().unwrap(), 4);
}

#[test]
fn a_dismissed_check_in_no_longer_counts_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster();
    let mut store = open(&dir.path().join("kiosk.db"));
    morning(&mut store, "2026-11-23");
    // The hub refused Mia's check-in; staff dismissed it.
    let mia_in = "in_b_2026-11-23";
    cubby::sync::OutboxPort::park(&mut store, mia_in, "unknown child").unwrap();
    assert!(store
        .dismiss_parked(mia_in, utc("2026-11-23T10:00:00-06:00"))
        .unwrap());
    let day = store
        .events_since(utc("2026-11-23T00:00:00-06:00"))
        .unwrap();
    let p = Presence::from_events(&day);
    assert!(p.is_in("child_a"));
    assert!(!p.is_in("child_b"), "Mia no longer counts as present");
    // The auto sign-out signs out only Alex, once.
    let out = store
        .run_auto_sign_out(&r, FRONT, true, utc("2026-11-23T18:00:01-06:00"))
        .unwrap();
    assert_eq!(
        out.iter()
            .map(|e| e.child_id.as_deref())
            .collect::<Vec<_>>(),
        [Some("child_a")]
    );
    // The export has Mia's day empty: no minutes, nothing to flag.
    let rows = export::report(&store, &r, d("2026-11-23"), d("2026-11-23")).unwrap();
    assert!(rows
        .children
        .iter()
        .filter(|c| c.child_id == "child_b")
        .all(|c| c.minutes_in_care == 0));
    assert!(rows
        .children
        .iter()
        .any(|c| c.child_id == "child_a" && c.minutes_in_care == 600));
    assert_eq!(store.event_count().unwrap(), 3, "the history keeps it");
}

#[test]
fn a_kiosk_off_at_six_catches_up_after_midnight_with_an_unsynced_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    let r = roster();
    let mut store = open(&path);
    morning(&mut store, "2026-11-23");
    // Off from 17:00; back at 07:00 the next day, clock not NTP-synced yet.
    let got = store
        .run_auto_sign_out(&r, FRONT, false, utc("2026-11-24T07:00:00-06:00"))
        .unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(
        |e| e.occurred_at.to_rfc3339() == "2026-11-23T18:00:00-06:00"
            && !e.clock_synced
            && e.flags.contains(&"clock_unsynced".to_string())
    ));
    let alex = got
        .iter()
        .find(|e| e.child_id.as_deref() == Some("child_a"))
        .unwrap();
    assert!(alex.flags.contains(&"late_pickup".to_string()));
    drop(store);
    let mut store = open(&path);
    assert!(store
        .run_auto_sign_out(&r, FRONT, true, utc("2026-11-24T07:00:05-06:00"))
        .unwrap()
        .is_empty());
    // The export shows the day closed by the auto sign-out, flagged.
    let rows = export::report(&store, &r, d("2026-11-23"), d("2026-11-23")).unwrap();
    let alex = rows
        .children
        .iter()
        .find(|c| c.child_id == "child_a")
        .unwrap();
    assert_eq!(alex.minutes_in_care, 600);
    assert_eq!(alex.picked_up_by.as_deref(), Some("Auto sign-out (system)"));
    assert_eq!(
        alex.flags,
        ["auto", "clock_unsynced", "late_pickup"].map(String::from)
    );
    assert_eq!(alex.methods, ["pin", "auto_sign_out"].map(String::from));
}

#[test]
fn ratio_changes_are_audited_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    let r = roster();
    let mut store = open(&path);
    morning(&mut store, "2026-11-23");
    let p = Presence::from_events(
        &store
            .events_since(utc("2026-11-23T00:00:00-06:00"))
            .unwrap(),
    );
    // No staff on duty, a child in each room: both over.
    let now = utc("2026-11-23T08:11:00-06:00");
    let ch = store
        .record_ratio_changes(&ratios::ratios(&r, &p), now)
        .unwrap();
    assert_eq!(ch.len(), 2);
    assert!(ch.iter().all(|c| c.to == RatioState::Over));
    drop(store);
    let mut store = open(&path);
    assert!(store
        .record_ratio_changes(&ratios::ratios(&r, &p), now)
        .unwrap()
        .is_empty());
    // Lee clocks in for Toddlers (1 per staff): Toddlers becomes near (at the limit).
    store
        .record_local(
            &[ev(
                "clk_1",
                EventType::StaffClockIn,
                "staff_lee",
                "room_toddlers",
                "2026-11-23T08:15:00-06:00",
                FRONT,
            )],
            now,
        )
        .unwrap();
    let p = Presence::from_events(
        &store
            .events_since(utc("2026-11-23T00:00:00-06:00"))
            .unwrap(),
    );
    let ch = store
        .record_ratio_changes(&ratios::ratios(&r, &p), now)
        .unwrap();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].room_id, "room_toddlers");
    assert_eq!((ch[0].from, ch[0].to), (RatioState::Over, RatioState::Near));
    let audit = store.audit_log(10).unwrap();
    assert_eq!(audit.iter().filter(|a| a.1 == "ratio_change").count(), 3);
    assert!(audit[0].2.contains("\"room_toddlers\""));
    assert_eq!(
        store.ratio_states().unwrap().get("room_toddlers"),
        Some(&RatioState::Near)
    );
}

/// Front door online all day; the side door was offline in the afternoon and its
/// events arrive through the peer puller after the front door acted on stale state.
fn two_doors(store: &mut Store) {
    morning(store, "2026-11-23");
    // Side door (offline): Dana picks Alex up at 16:00.
    // Front door, not knowing: Lee batch-checks Alex out at 17:30.
    let mut batch = ev(
        "front_out_a",
        EventType::CheckOut,
        "child_a",
        "room_prek",
        "2026-11-23T17:30:00-06:00",
        FRONT,
    );
    batch.method = Method::StaffBatch;
    batch.actor = Actor {
        person_id: Some("staff_lee".into()),
        kind: ActorKind::Staff,
        name: "Lee Chen".into(),
    };
    store
        .record_local(&[batch], utc("2026-11-23T17:30:00-06:00"))
        .unwrap();
    let mut side_out = ev(
        "side_out_a",
        EventType::CheckOut,
        "child_a",
        "room_prek",
        "2026-11-23T16:00:00-06:00",
        SIDE,
    );
    side_out.flags = vec!["clock_unsynced".into()];
    side_out.clock_synced = false;
    let side_in_b = ev(
        "side_in_b",
        EventType::CheckIn,
        "child_b",
        "room_prek",
        "2026-11-23T08:09:00-06:00",
        SIDE,
    );
    let side_out_b = ev(
        "side_out_b",
        EventType::CheckOut,
        "child_b",
        "room_prek",
        "2026-11-23T17:00:00-06:00",
        SIDE,
    );
    let n = store
        .merge_peer_events(
            &[side_out.clone(), side_in_b, side_out_b],
            "p_1",
            utc("2026-11-23T17:45:00-06:00"),
        )
        .unwrap();
    assert_eq!(n, 3);
    // Re-delivered by the puller: idempotent.
    assert_eq!(
        store
            .merge_peer_events(&[side_out], "p_1", utc("2026-11-23T17:46:00-06:00"))
            .unwrap(),
        0
    );
    // Staff clock.
    store
        .record_local(
            &[
                ev(
                    "clk_in",
                    EventType::StaffClockIn,
                    "staff_lee",
                    "room_toddlers",
                    "2026-11-23T07:00:00-06:00",
                    FRONT,
                ),
                ev(
                    "clk_out",
                    EventType::StaffClockOut,
                    "staff_lee",
                    "room_toddlers",
                    "2026-11-23T15:30:00-06:00",
                    FRONT,
                ),
            ],
            utc("2026-11-23T17:50:00-06:00"),
        )
        .unwrap();
}

#[test]
fn two_doors_one_offline_merge_into_one_presence() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("kiosk.db"));
    two_doors(&mut store);
    let today = store
        .events_since(utc("2026-11-23T00:00:00-06:00"))
        .unwrap();
    assert_eq!(today.len(), 8, "every event of both doors is kept");
    let p = Presence::from_events(&today);
    assert!(p.children.is_empty(), "both children are out");
    assert!(p.staff.is_empty());
    // Mia checked in at both doors, Alex checked out at both: two contradictions.
    assert_eq!(p.conflicts.len(), 2);
    assert!(p.conflicts.iter().any(|c| c.contains("front_out_a")));
    assert!(p.conflicts.iter().any(|c| c.contains("in_b_2026-11-23")));
    // Nobody is left for the auto sign-out.
    let r = roster();
    assert!(autosignout::due(&r, &p, &today, utc("2026-11-23T18:00:00-06:00")).is_empty());
}

#[test]
fn export_keeps_and_flags_conflicts_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("kiosk.db"));
    two_doors(&mut store);
    let r = roster();
    let rep = export::report(&store, &r, d("2026-11-23"), d("2026-11-23")).unwrap();
    assert_eq!(rep.timezone, "America/Chicago");
    assert_eq!(rep.children.len(), 2);
    let counted: usize = rep
        .children
        .iter()
        .map(|c| c.event_ids.len())
        .sum::<usize>()
        + rep.staff.iter().map(|s| s.event_ids.len()).sum::<usize>();
    assert_eq!(counted as i64, store.event_count().unwrap());

    let alex = &rep.children[0];
    assert_eq!(alex.child_name, "Alex Rivera");
    // Resolved by time: the side door's 16:00 pick-up ended the stay.
    assert_eq!(alex.minutes_in_care, 8 * 60);
    assert_eq!(
        alex.check_out.unwrap().to_rfc3339(),
        "2026-11-23T16:00:00-06:00"
    );
    assert_eq!(alex.picked_up_by.as_deref(), Some("Dana Rivera (guardian)"));
    assert_eq!(alex.flags, ["clock_unsynced", "conflict"].map(String::from));
    assert!(alex.notes.iter().any(|n| n.contains("front_out_a")));
    assert_eq!(alex.methods, ["pin", "staff_batch"].map(String::from));

    let mia = &rep.children[1];
    // Checked in 08:09 at the side door, again 08:10 at the front: the first counts.
    assert_eq!(mia.minutes_in_care, 8 * 60 + 51);
    assert!(mia.flags.contains(&"conflict".to_string()));
    assert_eq!(mia.rooms, ["Pre-K"]);

    assert_eq!(rep.staff.len(), 1);
    assert_eq!(rep.staff[0].staff_name, "Lee Chen");
    assert_eq!(rep.staff[0].minutes_worked, 8 * 60 + 30);

    // CSV: header, two child rows, one staff row; RFC 4180 line ends.
    let csv = export::export(&store, &r, d("2026-11-23"), d("2026-11-23"), Format::Csv).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("record,date,id,name,rooms,in,out,minutes,hours"));
    assert_eq!(
        lines[1],
        "child,2026-11-23,child_a,Alex Rivera,Toddlers,08:00,16:00,480,8.00,\
         Dana Rivera (guardian),Dana Rivera (guardian),pin; staff_batch,\
         clock_unsynced; conflict,checked out while not in (front_out_a),3"
    );
    assert!(lines[3].starts_with("staff,2026-11-23,staff_lee,Lee Chen,,07:00,15:30,510,8.50,"));

    // JSON: the same report.
    let json = export::export(&store, &r, d("2026-11-23"), d("2026-11-23"), Format::Json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["children"][0]["child_id"], "child_a");
    assert_eq!(v["children"][0]["check_out"], "2026-11-23T16:00:00-06:00");
    assert_eq!(v["children"][0]["minutes_in_care"], 480);
    assert_eq!(v["staff"][0]["minutes_worked"], 510);

    // Another range: nothing; a reversed one: an error.
    let empty = export::report(&store, &r, d("2026-11-24"), d("2026-11-30")).unwrap();
    assert!(empty.children.is_empty() && empty.staff.is_empty());
    assert!(export::report(&store, &r, d("2026-11-24"), d("2026-11-23")).is_err());
    assert!(export::report(&store, &Roster::default(), d("2026-11-23"), d("2026-11-23")).is_err());
}

#[test]
fn export_range_follows_local_days_across_dst() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("kiosk.db"));
    // 2026-11-01 (fall back, a 25-hour day): 23:30 CDT on Oct 31 is the 31st; 00:15 CDT
    // and 23:50 CST on Nov 1 are the 1st; 00:10 CST on Nov 2 is the 2nd.
    let e = |id: &str, at: &str| ev(id, EventType::CheckIn, "child_b", "room_prek", at, FRONT);
    store
        .record_local(
            &[
                e("a", "2026-10-31T23:30:00-05:00"),
                e("b", "2026-11-01T00:15:00-05:00"),
                e("c", "2026-11-01T23:50:00-06:00"),
                e("d", "2026-11-02T00:10:00-06:00"),
            ],
            utc("2026-11-02T01:00:00-06:00"),
        )
        .unwrap();
    let r = roster();
    let rep = export::report(&store, &r, d("2026-11-01"), d("2026-11-01")).unwrap();
    assert_eq!(rep.children.len(), 1);
    assert_eq!(rep.children[0].event_ids, ["b", "c"]);
    assert!(rep.children[0].flags.contains(&"no_check_out".to_string()));
}
