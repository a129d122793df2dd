//! UI tests on Slint's testing backend: the real window and the real kiosk state
//! machine over the domain's fixture roster. Elements are found by their accessible id
//! (the element ids of docs/headless.md) and tapped like a screen reader or a finger
//! would; each test asserts what the kiosk recorded and what the window shows.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{DateTime, TimeZone, Utc};
use i_slint_backend_testing::{ElementHandle, ElementRoot};
use slint::platform::{PointerEventButton, WindowEvent};
use slint::ComponentHandle;

use super::Bridge;
use cubby_core::api::{Event, EventType};
use cubby_core::domain::presence::Presence;
use cubby_core::domain::roster::{Identity, Roster};
use cubby_core::domain::testdata::{roster, KEY};
use cubby_core::kiosk::frame::{Frame, StatusBar};
use cubby_core::kiosk::{Ctx, DoorInfo, Effect, Input, Kiosk, SyncInfo};

fn init_backend() {
    thread_local! {
        static READY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    READY.with(|r| {
        if !r.get() {
            i_slint_backend_testing::init_no_event_loop();
            r.set(true);
        }
    });
}

static NO_SYNC: SyncInfo = SyncInfo::EMPTY;

fn no_qr(_: &str, _: DateTime<Utc>) -> cubby_core::kiosk::QrCheck {
    cubby_core::kiosk::QrCheck::Invalid
}

/// What the kiosk reads: roster, presence and the device facts.
struct Facts {
    roster: Roster,
    presence: Presence,
    fingerprints: HashMap<u32, Identity>,
    device: DoorInfo,
}

impl Facts {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            roster: &self.roster,
            presence: &self.presence,
            pin_key: KEY,
            device_id: "dev_01",
            clock_synced: true,
            fingerprints: &self.fingerprints,
            qr: &no_qr,
            next_manual_sync_at: None,
            device: &self.device,
            sync: &NO_SYNC,
            technician_pin_hmac: None,
        }
    }
}

/// The door: a window, a kiosk and what it committed.
struct Door {
    bridge: Bridge,
    taps: Rc<RefCell<Vec<Vec<Input>>>>,
    facts: Facts,
    kiosk: Kiosk,
    now: DateTime<Utc>,
    recorded: Vec<Event>,
    next_id: u32,
}

impl Door {
    /// Monday 2026-11-23 08:30 in Chicago, at home.
    fn new() -> Door {
        init_backend();
        let roster = roster();
        let now = chrono_tz::America::Chicago
            .with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        let taps: Rc<RefCell<Vec<Vec<Input>>>> = Rc::default();
        let sink = taps.clone();
        let bridge = Bridge::new(move |inputs| sink.borrow_mut().push(inputs)).expect("window");
        let door = Door {
            bridge,
            taps,
            facts: Facts {
                roster,
                presence: Presence::default(),
                fingerprints: HashMap::new(),
                device: DoorInfo::default(),
            },
            kiosk: Kiosk::new(now),
            now,
            recorded: vec![],
            next_id: 0,
        };
        door.render();
        door
    }

    fn frame(&self) -> Frame {
        let ctx = self.facts.ctx();
        Frame {
            screen: self.kiosk.screen(&ctx, self.now),
            lang: self.kiosk.lang().as_str().to_string(),
            status: StatusBar {
                online: true,
                queue_text: String::new(),
                last_sync: Some("8:10".into()),
                clock_synced: true,
                ..StatusBar::default()
            },
        }
    }

    fn render(&self) {
        self.bridge.show(&self.frame());
    }

    /// Feed what the window sent to the kiosk, commit like the runtime, redraw.
    fn pump(&mut self) {
        loop {
            let batch: Vec<Vec<Input>> = self.taps.borrow_mut().drain(..).collect();
            if batch.is_empty() {
                break;
            }
            for input in batch.into_iter().flatten() {
                self.step(input);
            }
        }
        self.render();
    }

    fn step(&mut self, input: Input) {
        let mut n = self.next_id;
        let fx = {
            let ctx = self.facts.ctx();
            self.kiosk.step(&ctx, input, self.now, &mut |_| {
                n += 1;
                format!("ev-{n}")
            })
        };
        self.next_id = n;
        let mut saved = false;
        for e in fx {
            if let Effect::Record(events) = e {
                for ev in &events {
                    self.facts.presence.apply(ev);
                }
                self.recorded.extend(events);
                saved = true;
            }
        }
        if saved {
            self.render();
            assert_eq!(self.screen(), "saving", "never done before the commit");
            self.step(Input::Saved(Ok(())));
        }
    }

    fn screen(&self) -> String {
        self.bridge.window.get_screen().to_string()
    }

    /// Every element with this accessible id.
    fn all(&self, id: &str) -> Vec<ElementHandle> {
        let id = id.to_string();
        self.bridge
            .window
            .root_element()
            .query_descendants()
            .match_predicate(move |e| e.accessible_id().is_some_and(|a| a == id.as_str()))
            .find_all()
    }

    fn find(&self, id: &str) -> ElementHandle {
        let found = self.all(id);
        assert_eq!(
            found.len(),
            1,
            "expected one element {id:?} on {}",
            self.screen()
        );
        found.into_iter().next().unwrap()
    }

    /// Tap an element the way a screen reader does (its default action).
    fn tap(&mut self, id: &str) {
        let el = self.find(id);
        assert_ne!(el.accessible_enabled(), Some(false), "{id} is disabled");
        el.invoke_accessible_default_action();
        self.pump();
    }

    /// Tap with a finger: press and release at the element's centre.
    fn touch(&mut self, id: &str) {
        let el = self.find(id);
        let pos = el.absolute_position();
        let size = el.size();
        let position =
            slint::LogicalPosition::new(pos.x + size.width / 2.0, pos.y + size.height / 2.0);
        let w = self.bridge.window.window();
        w.dispatch_event(WindowEvent::PointerPressed {
            position,
            button: PointerEventButton::Left,
        });
        w.dispatch_event(WindowEvent::PointerReleased {
            position,
            button: PointerEventButton::Left,
        });
        self.pump();
    }

    /// The texts shown, by their accessible labels.
    fn labels(&self) -> Vec<String> {
        self.bridge
            .window
            .root_element()
            .query_descendants()
            .find_all()
            .into_iter()
            .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn shows(&self, text: &str) -> bool {
        self.labels().iter().any(|l| l.contains(text))
    }
}

#[test]
fn parent_checks_in_by_pin_through_the_window() {
    let mut door = Door::new();
    assert_eq!(door.screen(), "home");
    assert!(door.shows("Tap here to check in or out"));

    door.tap("start");
    assert_eq!(door.screen(), "pin");
    for d in ["1", "1", "1", "1"] {
        door.tap(&format!("digit_{d}"));
    }
    assert_eq!(door.bridge.window.get_pin().entered, 4, "four dots filled");
    door.tap("ok");
    assert_eq!(door.screen(), "family");
    assert!(door.shows("Dana"), "greets the parent: {:?}", door.labels());

    // Both children are preselected; the parent takes only Alex today.
    assert_eq!(door.find("child:child_a").accessible_checked(), Some(true));
    assert_eq!(door.bridge.window.get_family().check_in_count, 2);
    door.tap("child:child_b");
    assert_eq!(
        door.find("child:child_b").accessible_checked(),
        Some(false),
        "the card shows it is no longer selected"
    );
    assert_eq!(
        door.find("check_in").accessible_label().as_deref(),
        Some("Check in 1")
    );
    door.tap("check_in");

    assert_eq!(door.screen(), "done");
    assert!(door.shows("Alex"), "the confirmation names the child");
    assert_eq!(door.recorded.len(), 1, "one event committed");
    assert_eq!(door.recorded[0].kind, EventType::CheckIn);
    assert_eq!(door.recorded[0].child_id.as_deref(), Some("child_a"));
    assert!(door.facts.presence.is_in("child_a"));

    door.tap("home");
    assert_eq!(door.screen(), "home");
}

#[test]
fn a_finger_tap_hits_the_touch_area() {
    let mut door = Door::new();
    door.touch("start");
    assert_eq!(door.screen(), "pin");
    door.touch("digit_9");
    assert_eq!(door.bridge.window.get_pin().entered, 1);
    door.touch("back");
    assert_eq!(door.screen(), "home");
}

#[test]
fn a_wrong_pin_says_so_and_clears_the_dots() {
    let mut door = Door::new();
    door.tap("start");
    for _ in 0..4 {
        door.tap("digit_5");
    }
    door.tap("ok");
    assert_eq!(door.screen(), "pin");
    assert_eq!(door.bridge.window.get_pin().entered, 0);
    assert!(door.shows("didn't match"), "{:?}", door.labels());
}

#[test]
fn staff_checks_out_a_whole_room() {
    let mut door = Door::new();
    // Two children in Toddlers and Pre-K this morning, checked in by their parent.
    door.tap("start");
    for d in "1111".chars() {
        door.tap(&format!("digit_{d}"));
    }
    door.tap("ok");
    door.tap("child:child_b");
    door.tap("check_in");
    door.tap("home");
    assert!(door.facts.presence.is_in("child_a"));
    assert!(!door.facts.presence.is_in("child_b"));

    // Lee (teacher, PIN 9001) opens staff mode and the Toddlers room.
    door.tap("staff");
    for d in "9001".chars() {
        door.tap(&format!("digit_{d}"));
    }
    door.tap("ok");
    assert_eq!(door.screen(), "staff");
    assert!(door.shows("Toddlers"));
    door.tap("room:room_toddlers");
    assert_eq!(door.screen(), "staff_room");

    door.tap("select_present");
    let room = door.bridge.window.get_staff_room();
    assert!(room.selected >= 1, "select all ticks the room's children");
    assert_eq!(
        slint::Model::row_count(&room.present),
        1,
        "Alex, listed with those here"
    );
    assert!(room.all_present_selected);
    assert_eq!(door.find("child:child_a").accessible_checked(), Some(true));
    door.tap("check_out");
    // Staff stay on the room screen, with the result.
    assert_eq!(door.screen(), "staff_room");
    assert!(door.shows("Alex is checked out"));

    assert!(!door.facts.presence.is_in("child_a"), "Alex is checked out");
    let outs: Vec<_> = door
        .recorded
        .iter()
        .filter(|e| e.kind == EventType::CheckOut)
        .collect();
    assert_eq!(outs.len(), 1, "one check-out for the one child present");
    assert_eq!(outs[0].child_id.as_deref(), Some("child_a"));
}

#[test]
fn the_status_pill_tells_offline_and_sync_errors() {
    let door = Door::new();
    let mut frame = door.frame();
    frame.status = StatusBar {
        online: false,
        queue: 3,
        queue_text: "3 waiting to send".into(),
        ..StatusBar::default()
    };
    door.bridge.show(&frame);
    assert_eq!(
        door.find("status").accessible_label().as_deref(),
        Some("3 waiting to send")
    );
    frame.status.parked = 1;
    door.bridge.show(&frame);
    assert_eq!(
        door.find("status").accessible_label().as_deref(),
        Some("Sync errors")
    );
}

#[test]
fn first_boot_form_sends_the_provisioning_input() {
    use cubby_core::kiosk::screen::Screen;
    let door = Door::new();
    door.bridge.show(&Frame {
        screen: Screen::Provision {
            hub_url: "https://hub.example".into(),
            name: "Front door".into(),
            busy: false,
            error: None,
        },
        lang: "en".into(),
        status: StatusBar::default(),
    });
    assert_eq!(door.screen(), "provision");
    assert_eq!(door.find("connect").accessible_enabled(), Some(false));
    for k in ["k", "7", "q", "2"] {
        door.find(&format!("key:{k}"))
            .invoke_accessible_default_action();
    }
    assert_eq!(door.bridge.window.get_form_code(), "K7Q2");
    assert_eq!(door.find("connect").accessible_enabled(), Some(true));
    door.find("connect").invoke_accessible_default_action();
    let sent: Vec<Input> = door.taps.borrow_mut().drain(..).flatten().collect();
    assert_eq!(
        sent,
        vec![Input::Provision {
            hub_url: "https://hub.example".into(),
            code: "K7Q2".into(),
            name: "Front door".into(),
        }]
    );
}

#[test]
fn the_technician_screen_speaks_the_door_language() {
    use cubby_core::kiosk::screen::Screen;
    let door = Door::new();
    let show = |lang: &str| {
        door.bridge.show(&Frame {
            screen: Screen::NeedsTechnician {
                reason: "the disk is read-only".into(),
            },
            lang: lang.into(),
            status: StatusBar::default(),
        })
    };
    show("es");
    assert_eq!(door.screen(), "needs_technician");
    assert!(
        door.shows("Esta puerta necesita un técnico: the disk is read-only."),
        "{:?}",
        door.labels()
    );
    assert!(!door.shows("This door needs a technician"));
    show("en");
    assert!(
        door.shows("This door needs a technician: the disk is read-only."),
        "{:?}",
        door.labels()
    );
}

#[test]
fn every_letter_tab_on_the_device_screen_can_be_brought_into_view() {
    let mut door = Door::new();
    // People whose last names start with every letter of the alphabet.
    let mut resp = cubby_core::domain::testdata::roster_response();
    let dana = resp.families[0].people[0].clone();
    for (i, l) in ('A'..='Z').enumerate() {
        let mut p = dana.clone();
        p.id = format!("per_{l}");
        p.last_name = format!("{l}ander");
        p.pin_hmac = None;
        p.first_name = format!("P{i}");
        resp.families[0].people.push(p);
    }
    door.facts.roster = cubby_core::domain::testdata::roster_from(&resp);
    door.render();
    door.tap("staff");
    for d in "9000".chars() {
        door.tap(&format!("digit_{d}"));
    }
    door.tap("ok");
    door.tap("device");
    assert_eq!(door.screen(), "device");
    let right_edge = |door: &Door| {
        let next = door.find("letters_next");
        next.absolute_position().x
    };
    // A tab clipped away by the row is not found at all.
    let shown = |door: &Door, id: &str| {
        let Some(tab) = door.all(id).into_iter().next() else {
            return false;
        };
        let x = tab.absolute_position().x;
        let prev = door.find("letters_prev");
        x >= prev.absolute_position().x + prev.size().width
            && x + tab.size().width <= right_edge(door)
    };
    assert!(shown(&door, "letter:A"));
    assert!(
        !shown(&door, "letter:Z"),
        "26 tabs do not fit in one row at 800x480"
    );
    for _ in 0..26 {
        if shown(&door, "letter:Z") {
            break;
        }
        door.find("letters_next").invoke_accessible_default_action();
        door.pump();
    }
    assert!(
        shown(&door, "letter:Z"),
        "the arrow brings the last letter into view"
    );
    door.tap("letter:Z");
    assert!(door.shows("P25 Zander"));
}

/// Every element id written in ui/*.slint is one the kiosk reads: a typo there would be a
/// button that does nothing. Ids built with `"prefix:" + value` are checked with a value.
#[test]
fn every_id_the_slint_files_send_is_a_tap_the_kiosk_knows() {
    use cubby_core::kiosk::Tap;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    // Scroll the letter strip inside the UI; the kiosk never sees them.
    let ui_only = ["letters_prev", "letters_next"];
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("ui folder") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("slint") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("slint file");
        for key in ["Door.tap(\"", "tid: \"", "back-id: \""] {
            for (at, _) in text.match_indices(key) {
                let rest = &text[at + key.len()..];
                let Some(end) = rest.find('"') else { continue };
                let id = &rest[..end];
                if ui_only.contains(&id) {
                    continue;
                }
                let sample = if id.ends_with(':') {
                    let value = if id == "letter:" { "D" } else { "x1" };
                    format!("{id}{value}")
                } else {
                    id.to_string()
                };
                if let Err(e) = Tap::parse(&sample) {
                    panic!("{}: {e}", path.display());
                }
                seen += 1;
            }
        }
    }
    assert!(seen > 40, "only {seen} ids found in {}", dir.display());
}
