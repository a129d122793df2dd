//! An evaluation kept current by `Evaluator::update` is the evaluation built from
//! nothing: random sequences of changes to a small center (people moving between
//! families, pickups listing people who come and go, shared and malformed PINs, rooms
//! and days changing) compared after every step.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use proptest::prelude::*;

use super::*;
use crate::api::{
    Center, Child, Deleted, Family, Person, Room, RosterResponse, ScheduleBlock, Staff,
};

const PINS: [Option<&str>; 6] = [
    Some("1111111111111111111111111111111111111111111111111111111111111111"),
    Some("2222222222222222222222222222222222222222222222222222222222222222"),
    Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    Some("not-an-hmac"),
    None,
];
const FAMILIES: u64 = 6;
const PEOPLE: u64 = 12;
const CHILDREN: u64 = 12;
const STAFF: u64 = 4;

#[derive(Clone, PartialEq)]
struct World {
    today: NaiveDate,
    rooms: BTreeMap<String, Room>,
    staff: BTreeMap<String, Staff>,
    families: BTreeMap<String, Family>,
}

fn pick(r: &mut u64, n: u64) -> u64 {
    // xorshift: each call draws a fresh number from the op's seed.
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    *r % n
}

fn person(id: &str, r: &mut u64) -> Person {
    Person {
        id: id.into(),
        first_name: format!("P{}", pick(r, 3)),
        last_name: id.into(),
        email: None,
        text_message_phone: None,
        is_payer: pick(r, 2) == 0,
        pin_hmac: PINS[pick(r, PINS.len() as u64) as usize].map(String::from),
        pin_length: None,
        photo_url: None,
    }
}

fn child(id: &str, r: &mut u64) -> Child {
    Child {
        id: id.into(),
        first_name: format!("C{}", pick(r, 4)),
        last_name: id.into(),
        birth_date: None,
        enrollment_status: if pick(r, 4) == 0 {
            "withdrawn"
        } else {
            "enrolled"
        }
        .into(),
        enrollment_start: NaiveDate::from_ymd_opt(2026, 12, 1 + pick(r, 8) as u32),
        primary_room_id: [Some("r0"), Some("r1"), Some("r2"), None][pick(r, 4) as usize]
            .map(String::from),
        authorized_pickup_ids: (0..pick(r, 3))
            .map(|_| format!("p{}", pick(r, PEOPLE + 2)))
            .collect(),
        not_authorized_ids: Vec::new(),
        allergies: None,
        notes: None,
        schedule: vec![ScheduleBlock {
            days: vec!["mon".into(), "fri".into()],
            from: "08:00".into(),
            to: "12:00".into(),
            room_id: Some(format!("r{}", pick(r, 3))),
        }],
    }
}

fn staff(id: &str, r: &mut u64) -> Staff {
    Staff {
        id: id.into(),
        first_name: "S".into(),
        last_name: id.into(),
        email: None,
        employment_status: if pick(r, 3) == 0 {
            "terminated"
        } else {
            "currently_employed"
        }
        .into(),
        start_date: NaiveDate::from_ymd_opt(2026, 11, 28 + pick(r, 3) as u32),
        termination_date: None,
        primary_room_id: [Some("r0"), Some("r2"), None][pick(r, 3) as usize].map(String::from),
        role: None,
        pin_hmac: PINS[pick(r, PINS.len() as u64) as usize].map(String::from),
        pin_length: None,
    }
}

fn center() -> Center {
    Center {
        id: "center".into(),
        name: "Center".into(),
        timezone: "America/Chicago".into(),
        director: None,
        auto_sign_out: None,
        manual_sync_min_interval_s: None,
        min_pin_length: None,
    }
}

fn world() -> World {
    let mut r = 0x9e37_79b9_7f4a_7c15;
    let rooms = (0..3)
        .map(|i| {
            let id = format!("r{i}");
            let room = Room {
                id: id.clone(),
                name: format!("Room {i}"),
                children_per_staff: Some(4),
                capacity: None,
                active: i != 2,
            };
            (id, room)
        })
        .collect();
    let mut families = BTreeMap::new();
    for f in 0..FAMILIES {
        let id = format!("f{f}");
        let fam = Family {
            id: id.clone(),
            people: vec![
                person(&format!("p{}", 2 * f), &mut r),
                person(&format!("p{}", 2 * f + 1), &mut r),
            ],
            children: vec![
                child(&format!("c{}", 2 * f), &mut r),
                child(&format!("c{}", 2 * f + 1), &mut r),
            ],
        };
        families.insert(id, fam);
    }
    let staff = (0..STAFF)
        .map(|s| (format!("s{s}"), staff(&format!("s{s}"), &mut r)))
        .collect();
    World {
        today: NaiveDate::from_ymd_opt(2026, 12, 4).expect("date"),
        rooms,
        staff,
        families,
    }
}

/// One change to the world; a child removed for good may travel as `deleted.children`.
fn mutate(w: &mut World, mut r: u64) -> Option<String> {
    let r = &mut r;
    let fam = format!("f{}", pick(r, FAMILIES));
    match pick(r, 12) {
        0..=2 => {
            let id = format!("c{}", pick(r, CHILDREN));
            let c = child(&id, r);
            for f in w.families.values_mut() {
                if let Some(old) = f.children.iter_mut().find(|x| x.id == id) {
                    *old = c;
                    return None;
                }
            }
        }
        3 | 4 => {
            let id = format!("p{}", pick(r, PEOPLE));
            let p = person(&id, r);
            for f in w.families.values_mut() {
                if let Some(old) = f.people.iter_mut().find(|x| x.id == id) {
                    *old = p;
                    return None;
                }
            }
        }
        5 => {
            // A person moves to another family, joins one, or leaves.
            let id = format!("p{}", pick(r, PEOPLE));
            let p = person(&id, r);
            for f in w.families.values_mut() {
                f.people.retain(|x| x.id != id);
            }
            if pick(r, 3) != 0 {
                if let Some(f) = w.families.get_mut(&fam) {
                    f.people.push(p);
                }
            }
        }
        6 => {
            // A child moves, joins, or is deleted.
            let id = format!("c{}", pick(r, CHILDREN));
            let c = child(&id, r);
            let mut was_in = None;
            for f in w.families.values_mut() {
                let before = f.children.len();
                f.children.retain(|x| x.id != id);
                if f.children.len() != before {
                    was_in = Some(f.id.clone());
                }
            }
            if pick(r, 2) == 0 {
                if let Some(f) = w.families.get_mut(&fam) {
                    f.children.push(c);
                }
            } else if was_in.is_some() {
                return Some(id);
            }
        }
        7 | 8 => {
            let id = format!("s{}", pick(r, STAFF));
            if pick(r, 5) == 0 {
                w.staff.remove(&id);
            } else {
                w.staff.insert(id.clone(), staff(&id, r));
            }
        }
        9 => {
            if w.families.remove(&fam).is_none() {
                w.families.insert(
                    fam.clone(),
                    Family {
                        id: fam,
                        people: Vec::new(),
                        children: Vec::new(),
                    },
                );
            }
        }
        10 => {
            let id = format!("r{}", pick(r, 3));
            if let Some(room) = w.rooms.get_mut(&id) {
                room.active = !room.active;
            }
        }
        _ => {
            w.today = w.today.checked_add_days(Days::new(1)).unwrap_or(w.today);
        }
    }
    None
}

/// What a hub sends after `before` became `after`.
fn delta(before: &World, after: &World, deleted_child: Option<String>) -> RosterResponse {
    fn changed<T: Clone + PartialEq>(
        a: &BTreeMap<String, T>,
        b: &BTreeMap<String, T>,
    ) -> (Vec<T>, Vec<String>) {
        let up = b
            .iter()
            .filter(|(k, v)| a.get(*k) != Some(*v))
            .map(|(_, v)| v.clone())
            .collect();
        let gone = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
        (up, gone)
    }
    let (rooms, _) = changed(&before.rooms, &after.rooms);
    let (staff, gone_staff) = changed(&before.staff, &after.staff);
    let (mut families, gone_families) = changed(&before.families, &after.families);
    let mut deleted = Deleted {
        staff: gone_staff,
        families: gone_families,
        ..Deleted::default()
    };
    if let Some(id) = deleted_child {
        families.retain(|f| {
            before
                .families
                .get(&f.id)
                .is_none_or(|old| old.children.iter().all(|c| c.id != id))
        });
        deleted.children.push(id);
    }
    RosterResponse {
        cursor: "c".into(),
        full: false,
        center: center(),
        rooms,
        staff,
        families,
        deleted,
        qr_keys: None,
    }
}

fn full(w: &World) -> RosterResponse {
    RosterResponse {
        cursor: "c".into(),
        full: true,
        center: center(),
        rooms: w.rooms.values().cloned().collect(),
        staff: w.staff.values().cloned().collect(),
        families: w.families.values().cloned().collect(),
        deleted: Deleted::default(),
        qr_keys: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn an_updated_evaluation_is_the_evaluation_built_from_nothing(ops in proptest::collection::vec(any::<u64>(), 1..40)) {
        let mut w = world();
        let mut source = SourceRoster::default();
        source.merge(&full(&w));
        let (mut ev, _) = Evaluator::build(&source, w.today).expect("valid world");
        let mut door = ev.roster().clone();
        for op in ops {
            let before = w.clone();
            let deleted_child = mutate(&mut w, op | 1);
            let was = source.merge(&delta(&before, &w, deleted_child));
            let prev: BTreeMap<RecordKey, Verdict> =
                ev.verdicts().map(|v| ((v.kind, v.id.clone()), v.clone())).collect();
            let t = ev.update(&source, w.today, &was).expect("valid world");
            let (built, _) = Evaluator::build(&source, w.today).expect("valid world");
            prop_assert_eq!(ev.roster(), built.roster());
            prop_assert_eq!(ev.verdicts().collect::<Vec<_>>(), built.verdicts().collect::<Vec<_>>());
            prop_assert_eq!(ev.notes(), built.notes());
            for v in built.verdicts() {
                let key = (v.kind, v.id.clone());
                if prev.get(&key) != Some(v) {
                    prop_assert!(t.verdicts.contains(&key), "changed verdict {:?} not touched", key);
                }
            }
            for key in prev.keys() {
                if built.verdict(key).is_none() {
                    prop_assert!(t.verdicts.contains(key), "removed verdict {:?} not touched", key);
                }
            }
            if t.whole {
                door = ev.roster().clone();
            } else {
                door.apply(ev.patch(&t));
            }
            prop_assert_eq!(&door, built.roster());
        }
    }
}

#[test]
fn a_changed_family_touches_only_what_it_reaches() {
    let mut w = world();
    let mut source = SourceRoster::default();
    source.merge(&full(&w));
    let (mut ev, built) = Evaluator::build(&source, w.today).expect("valid world");
    assert!(built.whole);
    let before = w.clone();
    if let Some(f) = w.families.get_mut("f3") {
        f.children[0].first_name = "Renamed".into();
        f.children[0].authorized_pickup_ids.clear();
    }
    let was = source.merge(&delta(&before, &w, None));
    let t = ev.update(&source, w.today, &was).expect("valid");
    assert!(!t.whole);
    assert!(t.verdicts.contains(&(Kind::Child, "c6".to_string())));
    assert!(!t
        .verdicts
        .iter()
        .any(|(k, id)| *k == Kind::Child && id != "c6" && id != "c7"));
    let patch = ev.patch(&t);
    assert!(patch
        .children
        .iter()
        .any(|(id, c)| id == "c6" && c.as_ref().is_some_and(|c| c.first_name == "Renamed")));
    assert!(patch.staff.is_empty());
}
