//! Small fixtures for tests: a roster, its PIN key, events. Compiled for this crate's
//! unit tests and, with the `testing` feature, for the other crates' tests.

use chrono::{DateTime, NaiveDate};

use crate::api::*;

use super::pin::pin_hmac;

pub const KEY: &[u8] = b"test-pin-key-32-bytes-long......";

pub fn pin(p: &str) -> String {
    pin_hmac(KEY, p)
}

/// A Monday.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn d(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// One family (Dana payer PIN 1111, Chris payer PIN 3333 not authorized for Mia,
/// Rosa pickup of Alex PIN 2222), children Alex (Toddlers, afternoons in Pre-K) and Mia
/// (Pre-K); staff Lee (PIN 9001, Toddlers) and Pat (director, PIN 9000).
pub fn roster_response() -> RosterResponse {
    let person = |id: &str, first: &str, last: &str, payer: bool, p: &str| Person {
        id: id.into(),
        first_name: first.into(),
        last_name: last.into(),
        email: None,
        text_message_phone: None,
        is_payer: payer,
        pin_hmac: Some(pin(p)),
        pin_length: Some(p.len() as u8),
        photo_url: None,
    };
    let child = |id: &str, first: &str, room: &str| Child {
        id: id.into(),
        first_name: first.into(),
        last_name: "Rivera".into(),
        birth_date: d("2023-04-02"),
        enrollment_status: "enrolled".into(),
        enrollment_start: d("2024-01-08"),
        primary_room_id: Some(room.into()),
        authorized_pickup_ids: vec![],
        not_authorized_ids: vec![],
        allergies: None,
        notes: None,
        schedule: vec![],
    };
    let mut alex = child("child_a", "Alex", "room_toddlers");
    alex.authorized_pickup_ids = vec!["per_rosa".into()];
    alex.schedule = vec![ScheduleBlock {
        days: vec![
            "mon".into(),
            "tue".into(),
            "wed".into(),
            "thu".into(),
            "fri".into(),
        ],
        from: "12:00".into(),
        to: "18:00".into(),
        room_id: Some("room_prek".into()),
    }];
    let mut mia = child("child_b", "Mia", "room_prek");
    mia.not_authorized_ids = vec!["per_chris".into()];
    let room = |id: &str, name: &str, active: bool| Room {
        id: id.into(),
        name: name.into(),
        children_per_staff: Some(6),
        capacity: Some(12),
        active,
    };
    let staff = |id: &str, first: &str, role: &str, p: &str| Staff {
        id: id.into(),
        first_name: first.into(),
        last_name: "Chen".into(),
        email: None,
        employment_status: "currently_employed".into(),
        start_date: d("2024-01-08"),
        termination_date: None,
        primary_room_id: Some("room_toddlers".into()),
        role: Some(role.into()),
        pin_hmac: Some(pin(p)),
        pin_length: Some(p.len() as u8),
    };
    RosterResponse {
        cursor: "r_1".into(),
        full: true,
        center: Center {
            id: "center_001".into(),
            name: "Maple Street Early Learning".into(),
            timezone: "America/Chicago".into(),
            director: None,
            auto_sign_out: Some("18:00".into()),
            manual_sync_min_interval_s: Some(3600),
            min_pin_length: None,
        },
        rooms: vec![
            room("room_toddlers", "Toddlers", true),
            room("room_prek", "Pre-K", true),
            room("room_old", "Old Annex", false),
        ],
        staff: vec![
            staff("staff_lee", "Lee", "teacher", "9001"),
            staff("staff_pat", "Pat", "director", "9000"),
        ],
        families: vec![Family {
            id: "fam_1".into(),
            people: vec![
                person("per_dana", "Dana", "Rivera", true, "1111"),
                person("per_chris", "Chris", "Rivera", true, "3333"),
                person("per_rosa", "Rosa", "Diaz", false, "2222"),
            ],
            children: vec![alex, mia],
        }],
        deleted: Deleted::default(),
        qr_keys: None,
    }
}

/// The fixture roster as the door sees it on [`today`].
pub fn roster() -> crate::domain::roster::Roster {
    roster_from(&roster_response())
}

/// A (changed) fixture response as the door sees it on [`today`].
pub fn roster_from(resp: &RosterResponse) -> crate::domain::roster::Roster {
    let src = crate::domain::source::SourceRoster::default().merged(resp);
    crate::domain::eligibility::evaluate(&src, today())
        .expect("the fixture roster evaluates")
        .roster
}

/// A child's event at the Toddlers room, made by Dana with her PIN at `dev_01`; change the
/// fields a test cares about.
pub fn event(id: &str, kind: EventType, child: &str, at: &str) -> Event {
    Event {
        event_id: id.into(),
        kind,
        child_id: Some(child.into()),
        staff_id: None,
        room_id: Some("room_toddlers".into()),
        to_room_id: None,
        occurred_at: DateTime::parse_from_rfc3339(at).unwrap(),
        clock_synced: true,
        device_id: "dev_01".into(),
        actor: Actor {
            person_id: Some("per_dana".into()),
            kind: ActorKind::Guardian,
            name: "Dana Rivera".into(),
        },
        method: Method::Pin,
        flags: vec![],
    }
}

/// A staff member's event (clock-in/out), made by themselves; otherwise as [`event`].
pub fn staff_event(id: &str, kind: EventType, staff: &str, at: &str) -> Event {
    Event {
        child_id: None,
        staff_id: Some(staff.into()),
        actor: Actor {
            person_id: Some(staff.into()),
            kind: ActorKind::Staff,
            name: "Lee Chen".into(),
        },
        ..event(id, kind, "x", at)
    }
}

/// A center with `children` children (one family of two payers per two children, 40
/// rooms): the cached roster, its verdicts and its report, as a sync would store them.
pub fn large_cache(
    children: usize,
) -> (
    crate::domain::source::SourceRoster,
    Vec<crate::domain::eligibility::Verdict>,
    crate::domain::report::SyncReport,
) {
    let resp = large_response(children);
    let src = crate::domain::source::SourceRoster::default().merged(&resp);
    let eval = crate::domain::eligibility::evaluate(&src, today()).expect("large roster");
    let report = crate::domain::report::build_report(
        chrono::Utc::now(),
        "r_1",
        true,
        &std::collections::HashMap::new(),
        &eval.verdicts,
        &eval.notes,
    );
    (src, eval.verdicts, report)
}

/// The hub's full roster answer for a center with `children` children (see
/// [`large_cache`]): PINs `000000`, `000001`, … for the payers.
pub fn large_response(children: usize) -> RosterResponse {
    let mut resp = roster_response();
    let template = resp.families[0].clone();
    resp.rooms = (0..40)
        .map(|r| Room {
            id: format!("room_{r}"),
            name: format!("Room {r}"),
            children_per_staff: Some(6),
            capacity: Some(30),
            active: true,
        })
        .collect();
    for s in &mut resp.staff {
        s.primary_room_id = Some("room_0".into());
    }
    resp.families = (0..children.div_ceil(2))
        .map(|f| {
            let mut fam = template.clone();
            fam.id = format!("fam_{f}");
            fam.people.truncate(2);
            for (i, p) in fam.people.iter_mut().enumerate() {
                p.id = format!("per_{f}_{i}");
                p.pin_hmac = Some(pin(&format!("{:06}", f * 2 + i)));
            }
            for (i, c) in fam.children.iter_mut().enumerate() {
                c.id = format!("child_{}", f * 2 + i);
                c.primary_room_id = Some(format!("room_{}", f % 40));
                c.authorized_pickup_ids.clear();
                c.not_authorized_ids.clear();
                for b in &mut c.schedule {
                    b.room_id = Some(format!("room_{}", (f + 1) % 40));
                }
                c.allergies = Some("peanuts".into());
            }
            fam
        })
        .collect();
    resp
}
