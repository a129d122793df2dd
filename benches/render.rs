//! The door's screens drawn by Slint's software renderer into a pixel buffer: the real
//! draw (layout, text, every pixel of the frame), as a Pi without a GPU draws them, at
//! 800×480 (the official 7" panel) and 1280×800 (a 10" HDMI screen), for the 400-family
//! bench center after a busy morning.
//!
//! Each case redraws the whole frame (a new buffer each time, as after a screen change).
//! The budget is the 16 ms of a 60 Hz frame; `baseline/fill_*` (writing every pixel of
//! the same buffer once) is measured in the same run, so the report reads as a multiple
//! of what merely touching the frame costs on this machine.
//!
//! Run: `cargo bench --bench render`.

mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use slint::platform::software_renderer::{
    MinimalSoftwareWindow, PremultipliedRgbaColor, RepaintBufferType,
};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize};

use common::{after, median, World};
use cubby::kiosk::frame::Frame;
use cubby::kiosk::Kiosk;

/// A platform whose only window is a software-rendered one, drawn on demand.
struct Offscreen {
    window: Rc<MinimalSoftwareWindow>,
    start: Instant,
}

impl Platform for Offscreen {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

const SIZES: [(u32, u32); 2] = [(800, 480), (1280, 800)];

/// The screens a door shows, each reached by tapping as a user would.
fn screens(world: &mut World) -> Vec<(&'static str, Kiosk)> {
    let staff = ["start", "digit_9", "digit_0", "digit_0", "digit_1", "ok"];
    let with = |rest: &[&'static str]| -> Vec<&'static str> {
        staff.iter().copied().chain(rest.iter().copied()).collect()
    };
    let cases: Vec<(&'static str, Vec<&'static str>)> = vec![
        ("home", vec![]),
        ("pin", vec!["start", "digit_1", "digit_0", "digit_0"]),
        (
            "family",
            vec!["start", "digit_1", "digit_3", "digit_5", "digit_0", "ok"],
        ),
        (
            "done",
            vec![
                "start", "digit_1", "digit_3", "digit_5", "digit_1", "ok", "check_in",
            ],
        ),
        ("staff", with(&[])),
        ("staff_room", with(&["room:room_toddlers"])),
        ("roll_call", with(&["roll_call"])),
        ("sync_errors", with(&["sync_errors"])),
    ];
    cases
        .into_iter()
        .map(|(name, ids)| (name, after(world, &ids)))
        .collect()
}

fn render(c: &mut Criterion) {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    slint::platform::set_platform(Box::new(Offscreen {
        window: window.clone(),
        start: Instant::now(),
    }))
    .expect("the bench's platform is the first");
    let bridge = cubby::ui::Bridge::new(|_| {}).expect("window");
    bridge.window.show().expect("show");

    let mut world = common::morning();
    let now = world.now;
    let screens = screens(&mut world);
    let frames: Vec<(&str, Frame)> = screens
        .iter()
        .map(|(name, k)| {
            let screen = k.screen(&world.ctx(), now);
            (
                *name,
                Frame {
                    screen,
                    lang: "en".into(),
                    status: Default::default(),
                },
            )
        })
        .collect();
    let names: Vec<String> = frames
        .iter()
        .map(|(n, f)| format!("{n}={}", f.screen.name()))
        .collect();
    for (name, frame) in &frames {
        assert_eq!(
            *name,
            frame.screen.name(),
            "the taps reach the screen: {names:?}"
        );
    }

    let mut g = c.benchmark_group("render");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let mut summary = Vec::new();
    for (w, h) in SIZES {
        window.set_size(PhysicalSize::new(w, h));
        let mut buffer = vec![PremultipliedRgbaColor::default(); (w * h) as usize];
        let stride = w as usize;
        g.bench_function(format!("baseline/fill_{w}x{h}"), |b| {
            b.iter(|| fill(&mut buffer))
        });
        let base = median(51, || fill(&mut buffer));
        for (name, frame) in &frames {
            bridge.show(frame);
            draw(&window, &mut buffer, stride);
            assert!(
                buffer.iter().any(|p| rgba(p) != rgba(&buffer[0])),
                "{name} drew more than one colour"
            );
            g.bench_function(format!("{name}_{w}x{h}"), |b| {
                b.iter(|| draw(&window, &mut buffer, stride))
            });
            let t = median(21, || draw(&window, &mut buffer, stride));
            summary.push((format!("{name} {w}×{h}"), t, base));
        }
    }
    g.finish();
    println!("\nsoftware renderer, whole frame (budget 16 ms; baseline: filling the frame)");
    let budget = Duration::from_millis(16);
    for (name, t, base) in summary {
        let ratio = t.as_secs_f64() / base.as_secs_f64().max(1e-9);
        let verdict = if t < budget {
            "under a frame"
        } else {
            "OVER the 16 ms frame"
        };
        println!(
            "  {name:<24} {t:>12?}  {ratio:>7.1}× fill  {:>5.1} % of 16 ms  {verdict}",
            100.0 * t.as_secs_f64() / budget.as_secs_f64()
        );
    }
}

fn rgba(p: &PremultipliedRgbaColor) -> [u8; 4] {
    [p.red, p.green, p.blue, p.alpha]
}

/// Every pixel of the frame written once.
fn fill(buffer: &mut [PremultipliedRgbaColor]) {
    buffer.fill(PremultipliedRgbaColor {
        red: 1,
        green: 2,
        blue: 3,
        alpha: 255,
    });
    std::hint::black_box(buffer);
}

/// The whole frame drawn again.
fn draw(window: &MinimalSoftwareWindow, buffer: &mut [PremultipliedRgbaColor], stride: usize) {
    slint::platform::update_timers_and_animations();
    window.request_redraw();
    let drawn = window.draw_if_needed(|renderer| {
        renderer.render(buffer, stride);
    });
    assert!(drawn, "a redraw was asked for");
}

criterion_group!(benches, render);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
