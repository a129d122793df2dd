//! The bench center shared by the UI benchmarks: 400 families, a staff member, four
//! rooms, and a morning in which 300 families checked their children in, driven through
//! the kiosk state machine as the runtime drives it.

#![allow(dead_code)]

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use cubby::api::{Event, RosterResponse};
use cubby::domain::eligibility::evaluate;
use cubby::domain::pin::pin_hmac;
use cubby::domain::presence::Presence;
use cubby::domain::roster::{Identity, Roster};
use cubby::domain::source::SourceRoster;
use cubby::kiosk::{Ctx, DoorInfo, Effect, Input, Kiosk, SyncInfo, Tap};

pub const KEY: &[u8] = b"bench-pin-key-32-bytes-long.....";
pub const FAMILIES: usize = 400;
pub const ROOMS: [&str; 4] = ["room_infants", "room_toddlers", "room_prek", "room_school"];

/// 400 families, each a payer (PIN 1000+i) with two children spread over four rooms.
pub fn roster() -> Roster {
    let mut families = Vec::new();
    for i in 0..FAMILIES {
        let child = |n: usize| {
            json!({
                "id": format!("child_{i:03}_{n}"),
                "first_name": format!("Kid{i}{n}"),
                "last_name": format!("Family{i}"),
                "enrollment_status": "enrolled",
                "enrollment_start": "2024-01-08",
                "primary_room_id": ROOMS[(i + n) % ROOMS.len()],
            })
        };
        families.push(json!({
            "id": format!("fam_{i:03}"),
            "people": [{
                "id": format!("per_{i:03}"),
                "first_name": format!("Parent{i}"),
                "last_name": format!("Family{i}"),
                "is_payer": true,
                "pin_hmac": pin_hmac(KEY, &format!("{}", 1000 + i)),
            }],
            "children": [child(0), child(1)],
        }));
    }
    let rooms: Vec<Value> = ROOMS
        .iter()
        .map(|r| json!({"id": r, "name": r.trim_start_matches("room_"), "children_per_staff": 10, "capacity": 300, "active": true}))
        .collect();
    let doc = json!({
        "cursor": "r_1",
        "full": true,
        "center": {"id": "center_b", "name": "Bench Center", "timezone": "America/Chicago",
                   "auto_sign_out": "18:00", "manual_sync_min_interval_s": 3600},
        "rooms": rooms,
        "staff": [{"id": "staff_lee", "first_name": "Lee", "last_name": "Chen",
                   "employment_status": "currently_employed", "start_date": "2024-01-08",
                   "primary_room_id": "room_toddlers", "role": "teacher",
                   "pin_hmac": pin_hmac(KEY, "9001")}],
        "families": families,
    });
    let resp: RosterResponse = serde_json::from_value(doc).expect("bench roster is valid");
    let src = SourceRoster::default().merged(&resp);
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
    evaluate(&src, today)
        .expect("bench roster evaluates")
        .roster
}

pub static NO_SYNC: SyncInfo = SyncInfo::EMPTY;

pub fn no_qr(_: &str, _: DateTime<Utc>) -> cubby::kiosk::QrCheck {
    cubby::kiosk::QrCheck::Invalid
}

pub struct World {
    pub roster: Roster,
    pub presence: Presence,
    pub fingerprints: HashMap<u32, Identity>,
    pub device: DoorInfo,
    pub now: DateTime<Utc>,
}

impl World {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            roster: &self.roster,
            presence: &self.presence,
            pin_key: KEY,
            device_id: "dev_bench",
            clock_synced: true,
            fingerprints: &self.fingerprints,
            qr: &no_qr,
            next_manual_sync_at: None,
            device: &self.device,
            sync: &NO_SYNC,
            technician_pin_hmac: None,
        }
    }

    /// Step and commit like the runtime (events applied to presence, then Saved).
    pub fn drive(&mut self, kiosk: &mut Kiosk, input: Input) {
        let mut n = 0u64;
        let fx = kiosk.step(&self.ctx(), input, self.now, &mut |_| {
            n += 1;
            format!("ev-{n}")
        });
        let mut events: Vec<Event> = Vec::new();
        for e in fx {
            if let Effect::Record(ev) = e {
                events.extend(ev);
            }
        }
        if !events.is_empty() {
            for e in &events {
                self.presence.apply(e);
            }
            kiosk.step(&self.ctx(), Input::Saved(Ok(())), self.now, &mut |_| {
                String::new()
            });
        }
    }
}

pub fn taps(world: &mut World, kiosk: &mut Kiosk, ids: &[&str]) {
    for id in ids {
        world.drive(kiosk, Input::Tap(Tap::parse(id).expect("a known id")));
    }
}

/// 08:30 at the bench center, after 300 families checked both children in.
pub fn morning() -> World {
    let now = chrono_tz::America::Chicago
        .with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
        .single()
        .expect("time")
        .with_timezone(&Utc);
    let mut world = World {
        roster: roster(),
        presence: Presence::default(),
        fingerprints: HashMap::new(),
        device: DoorInfo::default(),
        now,
    };
    // Morning: 300 families have checked both children in.
    for i in 0..300 {
        let mut k = Kiosk::new(now);
        let pin = format!("{}", 1000 + i);
        let mut ids: Vec<String> = vec!["start".into()];
        ids.extend(pin.chars().map(|d| format!("digit_{d}")));
        ids.push("ok".into());
        // both children are preselected
        ids.push("check_in".into());
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        taps(&mut world, &mut k, &ids);
    }
    assert!(
        world.presence.is_in("child_299_1"),
        "bench setup checked children in"
    );
    world
}

/// A kiosk after `ids` were tapped, from the home screen.
pub fn after(world: &mut World, ids: &[&str]) -> Kiosk {
    let mut k = Kiosk::new(world.now);
    taps(world, &mut k, ids);
    k
}

/// Median of `n` runs of `f`.
pub fn median(n: usize, mut f: impl FnMut()) -> std::time::Duration {
    let mut v: Vec<std::time::Duration> = (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[n / 2]
}
