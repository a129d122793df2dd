//! Tap-to-screen speed with a 400-family center: one input through the kiosk
//! state machine to the next screen snapshot, and that snapshot copied into the Slint
//! window. Target: well under one 60 Hz frame (16 ms).
//!
//! `baseline/home_screen` (drawing the idle home screen's view model) is measured in the
//! same run; the report prints each case as a multiple of it, so a slower machine moves
//! both and a regression shows as a bigger ratio, not as a flaky absolute number.
//!
//! Run: `cargo bench --bench tap_to_screen`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use criterion::{criterion_group, BatchSize, Criterion};
use serde_json::{json, Value};

use cubby::api::{Event, RosterResponse};
use cubby::domain::eligibility::evaluate;
use cubby::domain::pin::pin_hmac;
use cubby::domain::presence::Presence;
use cubby::domain::roster::{Identity, Roster};
use cubby::domain::source::SourceRoster;
use cubby::kiosk::{Ctx, DoorInfo, Effect, Input, Kiosk, SyncInfo, Tap};

const KEY: &[u8] = b"bench-pin-key-32-bytes-long.....";
const FAMILIES: usize = 400;
const ROOMS: [&str; 4] = ["room_infants", "room_toddlers", "room_prek", "room_school"];

/// 400 families, each a payer (PIN 1000+i) with two children spread over four rooms.
fn roster() -> Roster {
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

static NO_SYNC: SyncInfo = SyncInfo::EMPTY;

fn no_qr(_: &str, _: DateTime<Utc>) -> cubby::kiosk::QrCheck {
    cubby::kiosk::QrCheck::Invalid
}

struct World {
    roster: Roster,
    presence: Presence,
    fingerprints: HashMap<u32, Identity>,
    device: DoorInfo,
    now: DateTime<Utc>,
}

impl World {
    fn ctx(&self) -> Ctx<'_> {
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
    fn drive(&mut self, kiosk: &mut Kiosk, input: Input) {
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

fn taps(world: &mut World, kiosk: &mut Kiosk, ids: &[&str]) {
    for id in ids {
        world.drive(kiosk, Input::Tap(Tap::parse(id).expect("a known id")));
    }
}

fn bench(c: &mut Criterion) {
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

    let home = Kiosk::new(now);
    let mut pin_typed = Kiosk::new(now);
    taps(
        &mut world,
        &mut pin_typed,
        &["start", "digit_1", "digit_2", "digit_3", "digit_4"],
    );
    let mut staff_room = Kiosk::new(now);
    taps(
        &mut world,
        &mut staff_room,
        &[
            "start",
            "digit_9",
            "digit_0",
            "digit_0",
            "digit_1",
            "ok",
            "room:room_toddlers",
        ],
    );
    let room_size = match staff_room.screen(&world.ctx(), now) {
        cubby::kiosk::screen::Screen::StaffRoom { children, .. } => children.len(),
        other => panic!("bench setup: expected the staff room, got {}", other.name()),
    };
    assert!(room_size >= 150, "a big room: {room_size} children");

    let mut g = c.benchmark_group("tap_to_screen");
    g.bench_function("baseline/home_screen", |b| {
        b.iter(|| home.screen(&world.ctx(), now))
    });
    g.bench_function("pin_ok_to_family", |b| {
        b.iter_batched(
            || pin_typed.clone(),
            |mut k| {
                k.step(&world.ctx(), Input::Tap(Tap::Ok), now, &mut |_| {
                    String::new()
                });
                k.screen(&world.ctx(), now)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("staff_room_select_all", |b| {
        b.iter_batched(
            || staff_room.clone(),
            |mut k| {
                k.step(
                    &world.ctx(),
                    Input::Tap(Tap::SelectPresent),
                    now,
                    &mut |_| String::new(),
                );
                k.screen(&world.ctx(), now)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // The same snapshots drawn into the real window (Slint testing backend, no display).
    i_slint_backend_testing::init_no_event_loop();
    let bridge = cubby::ui::Bridge::new(|_| {}).expect("window");
    let frame = |k: &Kiosk| cubby::kiosk::frame::Frame {
        screen: k.screen(&world.ctx(), now),
        lang: "en".into(),
        status: Default::default(),
    };
    let room_frame = frame(&staff_room);
    let home_frame = frame(&home);
    let mut g = c.benchmark_group("screen_to_window");
    g.bench_function("baseline/home", |b| b.iter(|| bridge.show(&home_frame)));
    g.bench_function("staff_room", |b| b.iter(|| bridge.show(&room_frame)));
    g.finish();

    report(
        &world,
        &home,
        &pin_typed,
        &staff_room,
        &bridge,
        &room_frame,
        now,
    );
}

/// Median of `n` runs of `f`.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[n / 2]
}

/// One line per case: median, multiple of the baseline, and the 16 ms frame budget.
fn report(
    world: &World,
    home: &Kiosk,
    pin_typed: &Kiosk,
    staff_room: &Kiosk,
    bridge: &cubby::ui::Bridge,
    room_frame: &cubby::kiosk::frame::Frame,
    now: DateTime<Utc>,
) {
    let base = median(201, || {
        std::hint::black_box(home.screen(&world.ctx(), now));
    });
    let cases: Vec<(&str, Duration)> = vec![
        (
            "PIN ok → family",
            median(201, || {
                let mut k = pin_typed.clone();
                k.step(&world.ctx(), Input::Tap(Tap::Ok), now, &mut |_| {
                    String::new()
                });
                std::hint::black_box(k.screen(&world.ctx(), now));
            }),
        ),
        (
            "staff room select all",
            median(201, || {
                let mut k = staff_room.clone();
                k.step(
                    &world.ctx(),
                    Input::Tap(Tap::SelectPresent),
                    now,
                    &mut |_| String::new(),
                );
                std::hint::black_box(k.screen(&world.ctx(), now));
            }),
        ),
        (
            "select all + draw into window",
            median(51, || {
                let mut k = staff_room.clone();
                k.step(
                    &world.ctx(),
                    Input::Tap(Tap::SelectPresent),
                    now,
                    &mut |_| String::new(),
                );
                bridge.show(&cubby::kiosk::frame::Frame {
                    screen: k.screen(&world.ctx(), now),
                    lang: "en".into(),
                    status: room_frame.status.clone(),
                });
            }),
        ),
    ];
    println!("\ntap → screen, {FAMILIES} families (baseline: home screen {base:?})");
    let budget = Duration::from_millis(16);
    for (name, t) in cases {
        let ratio = t.as_secs_f64() / base.as_secs_f64().max(1e-9);
        let verdict = if t < budget / 4 {
            "well under a frame"
        } else if t < budget {
            "under a frame"
        } else {
            "OVER the 16 ms frame"
        };
        println!("  {name:<32} {t:>12?}  {ratio:>8.1}× baseline  {verdict}");
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
