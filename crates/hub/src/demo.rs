//! The demo center (`cubby hub --seed demo`): Maple Street Early Learning, its rooms,
//! staff and families, with fixtures for every eligibility case of `domain-rules.md`.
//! `docs/demo-center.md` lists the PINs and what each fixture demonstrates; tests across
//! the crate rely on these exact ids and PINs.
//!
//! The document is built with plain `"pin"` fields; `roster import` hashes them with the
//! center's `pin_key`, so plain PINs are never stored.

use serde_json::{json, Value};

use super::db::HubDb;
use super::error::HubError;

const INFANTS: &str = "room_infants";
const TODDLERS: &str = "room_toddlers";
const PREK: &str = "room_prek";

const GUARDIAN_FIRST: [&str; 38] = [
    "Aisha", "Ben", "Carmen", "Derek", "Elena", "Farid", "Grace", "Hiro", "Imani", "Jonah",
    "Keisha", "Luis", "Maya", "Nikhil", "Olivia", "Pedro", "Quinn", "Rachel", "Sofia", "Tariq",
    "Uma", "Victor", "Wendy", "Xavier", "Yara", "Zach", "Amara", "Brandon", "Chloe", "Diego",
    "Erin", "Femi", "Gwen", "Hassan", "Isla", "Jamal", "Kira", "Liam",
];

const FAMILY_NAMES: [&str; 38] = [
    "Johnson",
    "Nguyen",
    "Garcia",
    "Thompson",
    "Kowalski",
    "Haddad",
    "Murphy",
    "Tanaka",
    "Mensah",
    "Goldberg",
    "Washington",
    "Hernandez",
    "Lindqvist",
    "Sharma",
    "Bennett",
    "Alves",
    "O'Brien",
    "Cohen",
    "Rossi",
    "Rahman",
    "Iyer",
    "Petrov",
    "Clarke",
    "Dubois",
    "Hakimi",
    "Miller",
    "Adeyemi",
    "Scott",
    "Park",
    "Morales",
    "Fitzgerald",
    "Okonkwo",
    "Jensen",
    "Ali",
    "MacLeod",
    "Brooks",
    "Novak",
    "Sullivan",
];

const CHILD_FIRST: [&str; 52] = [
    "Aiden", "Bella", "Caleb", "Daisy", "Eli", "Freya", "Gabriel", "Hazel", "Isaac", "Jade", "Kai",
    "Luna", "Mateo", "Nora", "Oscar", "Piper", "Quentin", "Ruby", "Silas", "Thea", "Uriel",
    "Violet", "Wyatt", "Ximena", "Yusuf", "Zoe", "Arlo", "Beatrix", "Cyrus", "Delia", "Ezra",
    "Fiona", "Gus", "Hana", "Ian", "Juniper", "Kofi", "Lila", "Milo", "Nia", "Otto", "Priya",
    "Reuben", "Sadie", "Tobias", "Uma", "Vera", "Wren", "Yosef", "Zara", "Rafael", "Ines",
];

const ALLERGIES: [&str; 4] = ["peanuts", "dairy", "eggs", "tree nuts"];

const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

fn person(id: &str, first: &str, last: &str, payer: bool, pin: Option<&str>, phone: &str) -> Value {
    let email = format!(
        "{}.{}@example.com",
        first.to_lowercase(),
        last.to_lowercase().replace('\'', "")
    );
    let mut p = json!({
        "id": id, "first_name": first, "last_name": last, "email": email,
        "text_message_phone": phone, "is_payer": payer, "pin_hmac": null, "photo_url": null,
    });
    if let Some(pin) = pin {
        p["pin"] = json!(pin);
    }
    p
}

struct ChildSpec<'a> {
    id: &'a str,
    first: &'a str,
    last: &'a str,
    birth: &'a str,
    status: &'a str,
    start: Option<&'a str>,
    room: Option<&'a str>,
}

fn child(c: ChildSpec<'_>) -> Value {
    json!({
        "id": c.id, "first_name": c.first, "last_name": c.last, "birth_date": c.birth,
        "enrollment_status": c.status, "enrollment_start": c.start, "primary_room_id": c.room,
        "authorized_pickup_ids": [], "not_authorized_ids": [], "allergies": null, "notes": null,
        "schedule": [],
    })
}

/// Staff: id, first, last, employment status, start date, primary room, role, PIN.
type StaffRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const STAFF: [StaffRow; 9] = [
    ("staff_pat", "Pat", "Moore", "currently_employed", "2023-03-01", Some(TODDLERS), "director", "9000"),
    ("staff_lee", "Lee", "Chen", "currently_employed", "2024-01-08", Some(TODDLERS), "teacher", "9001"),
    ("staff_ana", "Ana", "Silva", "currently_employed", "2023-08-14", Some(INFANTS), "teacher", "9003"),
    ("staff_raj", "Raj", "Patel", "currently_employed", "2024-05-20", Some(PREK), "teacher", "9004"),
    ("staff_term", "Jordan", "Blake", "terminated", "2023-02-01", Some(PREK), "teacher", "9002"),
    ("staff_leave", "Maria", "Gomez", "family_leave", "2023-10-02", Some(INFANTS), "teacher", "9005"),
    ("staff_future", "Tom", "Becker", "currently_employed", "2099-01-01", Some(TODDLERS), "teacher", "9006"),
    ("staff_noroom", "Priya", "Shah", "currently_employed", "2024-02-12", None, "teacher", "9007"),
    ("staff_admin", "Morgan", "Hale", "currently_employed", "2023-01-09", Some(PREK), "admin", "9009"),
];

fn all_staff() -> Value {
    let rows = STAFF
        .iter()
        .map(|&(id, first, last, status, start, room, role, pin)| {
            let termination = (status == "terminated").then_some("2025-06-30");
            json!({
                "id": id, "first_name": first, "last_name": last,
                "email": format!("{}@maple.example", first.to_lowercase()),
                "employment_status": status, "start_date": start, "termination_date": termination,
                "primary_room_id": room, "role": role, "pin": pin,
            })
        });
    Value::Array(rows.collect())
}

fn rooms() -> Value {
    json!([
        {"id": INFANTS, "name": "Infants", "children_per_staff": 4, "capacity": 8, "active": true},
        {"id": TODDLERS, "name": "Toddlers", "children_per_staff": 6, "capacity": 12, "active": true},
        {"id": PREK, "name": "Pre-K", "children_per_staff": 10, "capacity": 20, "active": true},
        {"id": "room_old", "name": "Old Annex", "children_per_staff": 6, "capacity": 10, "active": false},
    ])
}

fn full_day(room: &str) -> Value {
    json!([{"days": WEEKDAYS, "from": "07:30", "to": "18:00", "room_id": room}])
}

/// The two hand-made families (fam_01, fam_02).
fn core_families() -> Vec<Value> {
    let mut alex = child(ChildSpec {
        id: "child_01a",
        first: "Alex",
        last: "Rivera",
        birth: "2024-04-02",
        status: "enrolled",
        start: Some("2024-01-08"),
        room: Some(TODDLERS),
    });
    alex["authorized_pickup_ids"] = json!(["per_01p"]);
    alex["allergies"] = json!("peanuts");
    alex["schedule"] = json!([{"days": WEEKDAYS, "from": "12:00", "to": "18:00", "room_id": PREK}]);
    let mut mia = child(ChildSpec {
        id: "child_01b",
        first: "Mia",
        last: "Rivera",
        birth: "2021-09-15",
        status: "enrolled",
        start: Some("2023-09-05"),
        room: Some(PREK),
    });
    mia["not_authorized_ids"] = json!(["per_01x"]);
    let fam_01 = json!({
        "id": "fam_01",
        "people": [
            person("per_01a", "Dana", "Rivera", true, Some("1111"), "+15125550101"),
            person("per_01x", "Chris", "Rivera", true, Some("3333"), "+15125550102"),
            person("per_01p", "Rosa", "Diaz", false, Some("2222"), "+15125550103"),
        ],
        "children": [alex, mia],
    });
    let mut kim = child(ChildSpec {
        id: "child_02a",
        first: "Kim",
        last: "Okafor",
        birth: "2026-01-20",
        status: "enrolled",
        start: Some("2026-05-04"),
        room: Some(INFANTS),
    });
    kim["authorized_pickup_ids"] = json!(["per_02a", "per_01p"]);
    kim["schedule"] = full_day(INFANTS);
    let fam_02 = json!({
        "id": "fam_02",
        "people": [person("per_02a", "Sam", "Okafor", true, Some("5002"), "+15125550201")],
        "children": [kim],
    });
    vec![fam_01, fam_02]
}

/// fam_03 … fam_40: one payer `per_NNa` (PIN 50NN), one or two enrolled children.
fn generated_families() -> Vec<Value> {
    let room_cycle = [PREK, TODDLERS, PREK, INFANTS, TODDLERS, PREK];
    let mut out = Vec::new();
    let mut k = 0usize; // running child counter
    for (i, n) in (3..=40usize).enumerate() {
        let last = FAMILY_NAMES[i];
        let mut people = vec![person(
            &format!("per_{n:02}a"),
            GUARDIAN_FIRST[i],
            last,
            true,
            Some(&format!("50{n:02}")),
            &format!("+1512555{:04}", 1000 + n),
        )];
        if n % 4 == 0 {
            // A second payer without a kiosk PIN (fingerprint or QR only).
            let first = GUARDIAN_FIRST[(i + 19) % GUARDIAN_FIRST.len()];
            people.push(person(
                &format!("per_{n:02}b"),
                first,
                last,
                true,
                None,
                &format!("+1512555{:04}", 2000 + n),
            ));
        }
        let count = if n % 3 == 0 { 2 } else { 1 };
        let mut children = Vec::new();
        for j in 0..count {
            let room = room_cycle[k % room_cycle.len()];
            let birth = match room {
                INFANTS => format!("2026-{:02}-{:02}", 1 + k % 6, 1 + k % 27),
                TODDLERS => format!("2024-{:02}-{:02}", 6 + k % 7, 1 + k % 27),
                _ => format!("{}-{:02}-{:02}", 2021 + k % 2, 1 + k % 12, 1 + k % 27),
            };
            let start = match room {
                INFANTS => format!("2026-{:02}-{:02}", 7 + k % 4, 1 + k % 27),
                _ => format!("{}-{:02}-{:02}", 2024 + k % 2, 1 + k % 12, 1 + k % 27),
            };
            let id = format!("child_{n:02}{}", if j == 0 { 'a' } else { 'b' });
            let mut c = child(ChildSpec {
                id: &id,
                first: CHILD_FIRST[k % CHILD_FIRST.len()],
                last,
                birth: &birth,
                status: "enrolled",
                start: Some(&start),
                room: Some(room),
            });
            if k.is_multiple_of(3) {
                c["schedule"] = full_day(room);
            }
            if k % 6 == 2 {
                c["allergies"] = json!(ALLERGIES[(k / 6) % ALLERGIES.len()]);
            }
            children.push(c);
            k += 1;
        }
        out.push(json!({"id": format!("fam_{n:02}"), "people": people, "children": children}));
    }
    out
}

/// fam_90: children of every non-active status, and a payer who is therefore no guardian.
fn status_family() -> Value {
    let spec = |id, first, birth, status, start, room| {
        child(ChildSpec {
            id,
            first,
            last: "Whitfield",
            birth,
            status,
            start,
            room,
        })
    };
    json!({
        "id": "fam_90",
        "people": [person("per_90a", "Jamie", "Whitfield", true, Some("9090"), "+15125550901")],
        "children": [
            spec("child_wd", "Noah", "2022-03-11", "withdrawn", Some("2023-09-05"), Some(TODDLERS)),
            spec("child_wait", "Ivy", "2022-07-30", "waitlist", None, Some(PREK)),
            spec("child_pre", "Leo", "2026-02-14", "pre_registered", None, Some(INFANTS)),
            spec("child_future", "Ada", "2022-05-05", "enrolled", Some("2099-09-01"), Some(PREK)),
            spec("child_noroom", "Finn", "2023-01-19", "enrolled", Some("2024-02-01"), None),
            spec("child_oldroom", "Rosie", "2022-11-02", "enrolled", Some("2024-03-04"), Some("room_old")),
        ],
    })
}

/// The whole demo roster as an import document (plain `"pin"` fields, hashed on import).
pub fn demo_document() -> Value {
    let mut families = core_families();
    families.extend(generated_families());
    families.push(status_family());
    json!({
        "center": {
            "id": "center_001", "name": "Maple Street Early Learning",
            "timezone": "America/Chicago",
            "director": {"name": "Pat Moore", "email": "pat@maple.example"},
            "auto_sign_out": "18:00", "manual_sync_min_interval_s": 3600,
        },
        "rooms": rooms(),
        "staff": all_staff(),
        "families": families,
    })
}

/// Seed the demo center when the roster is empty; `Ok(false)` when there was already data.
pub fn seed_if_empty(db: &mut HubDb) -> Result<bool, HubError> {
    if !db.roster_is_empty()? {
        return Ok(false);
    }
    db.import_roster(demo_document())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn seeds_once_with_hashed_pins_and_unique_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        assert!(seed_if_empty(&mut db).unwrap());
        let rev = db.current_rev().unwrap();
        assert!(!seed_if_empty(&mut db).unwrap());
        assert_eq!(db.current_rev().unwrap(), rev);

        let r = db.roster(None).unwrap();
        assert_eq!(r.center.name, "Maple Street Early Learning");
        assert_eq!(r.rooms.len(), 4);
        assert_eq!(r.staff.len(), 9);
        assert_eq!(r.families.len(), 2 + 38 + 1);
        let key = db.pin_key().unwrap();
        let mut ids = HashSet::new();
        let mut hmacs = HashSet::new();
        for f in &r.families {
            for p in &f.people {
                assert!(ids.insert(p.id.clone()), "duplicate {}", p.id);
                if let Some(h) = &p.pin_hmac {
                    assert!(hmacs.insert(h.clone()), "PIN shared by {}", p.id);
                }
            }
            for c in &f.children {
                assert!(ids.insert(c.id.clone()), "duplicate {}", c.id);
            }
        }
        for s in &r.staff {
            let h = s.pin_hmac.clone().unwrap();
            assert!(hmacs.insert(h), "PIN shared by {}", s.id);
        }
        let fam07 = r.families.iter().find(|f| f.id == "fam_07").unwrap();
        assert_eq!(
            fam07.people[0].pin_hmac.as_deref(),
            Some(cubby_core::domain::pin::pin_hmac(&key, "5007").as_str())
        );
        let stored: String = db
            .conn
            .query_row("SELECT group_concat(json) FROM records", [], |r| r.get(0))
            .unwrap();
        assert!(!stored.contains("\"pin\""));
        let rooms: HashSet<_> = r
            .families
            .iter()
            .filter(|f| f.id.as_str() < "fam_90")
            .flat_map(|f| f.children.iter())
            .filter_map(|c| c.primary_room_id.clone())
            .collect();
        assert_eq!(rooms.len(), 3);
    }
}
