//! Tap-to-screen speed with a 400-family center: one input through the kiosk
//! state machine to the next screen snapshot, and that snapshot copied into the Slint
//! window. Target: well under one 60 Hz frame (16 ms).
//!
//! `baseline/home_screen` (drawing the idle home screen's view model) is measured in the
//! same run; the report prints each case as a multiple of it, so a slower machine moves
//! both and a regression shows as a bigger ratio, not as a flaky absolute number.
//!
//! Run: `cargo bench --bench tap_to_screen`.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, BatchSize, Criterion};

use common::{median, taps, World, FAMILIES};
use cubby::kiosk::{Input, Kiosk, Tap};

fn bench(c: &mut Criterion) {
    let mut world = common::morning();
    let now = world.now;

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
