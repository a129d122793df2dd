//! The touch UI in Spanish: the window's static labels follow `Frame.lang`, and every
//! `@tr` label in ui/*.slint has a Spanish translation. (Its own test binary: the
//! selected translation is process-wide.)
#![cfg(feature = "ui")]

use i_slint_backend_testing::ElementRoot;

use cubby::kiosk::frame::{Frame, StatusBar};
use cubby::kiosk::screen::Screen;

fn home(lang: &str) -> Frame {
    Frame {
        screen: Screen::Home {
            center: "Maple Street Early Learning".into(),
            clock: "8:30".into(),
            greeting: "Good morning!".into(),
        },
        lang: lang.into(),
        status: StatusBar::default(),
    }
}

fn label_of(bridge: &cubby::ui::Bridge, id: &str) -> Option<String> {
    let id = id.to_string();
    bridge
        .window
        .root_element()
        .query_descendants()
        .match_predicate(move |e| e.accessible_id().is_some_and(|a| a == id.as_str()))
        .find_first()
        .and_then(|e| e.accessible_label())
        .map(|l| l.to_string())
}

#[test]
fn labels_follow_the_frame_language() {
    i_slint_backend_testing::init_no_event_loop();
    let bridge = cubby::ui::Bridge::new(|_| {}).expect("window");
    bridge.show(&home("en"));
    assert_eq!(
        label_of(&bridge, "start").as_deref(),
        Some("Tap here to check in or out")
    );
    bridge.show(&home("es"));
    assert_eq!(
        label_of(&bridge, "start").as_deref(),
        Some("Toque aquí: entrada o salida")
    );
    assert_eq!(label_of(&bridge, "staff").as_deref(), Some("Personal ▸"));
    // back to English after the transaction
    bridge.show(&home("en"));
    assert_eq!(label_of(&bridge, "staff").as_deref(), Some("Staff ▸"));
}

#[test]
fn every_label_has_a_spanish_translation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let po = std::fs::read_to_string(root.join("ui/lang/es/LC_MESSAGES/cubby-ui.po"))
        .expect("the Spanish catalogue");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("ui")).expect("ui/") {
        let path = entry.expect("ui entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("slint") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a .slint file");
        for part in text.split("@tr(\"").skip(1) {
            let Some(end) = part.find('"') else { continue };
            let msgid = &part[..end];
            let needle = format!("msgid \"{msgid}\"\nmsgstr \"");
            let translated = po
                .split(&needle)
                .nth(1)
                .is_some_and(|rest| !rest.starts_with('"'));
            if !translated {
                missing.push(format!("{}: {msgid}", path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "labels without Spanish: {missing:#?}");
}

/// The status bar's "Synced 16:46" is "synchronized" in Spanish, not "sent".
#[test]
fn the_spanish_status_bar_says_synchronized() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let po = std::fs::read_to_string(root.join("ui/lang/es/LC_MESSAGES/cubby-ui.po"))
        .expect("the Spanish catalogue");
    assert!(
        po.contains("msgid \"Synced {}\"\nmsgstr \"Sincronizado {}\""),
        "Synced {{}} must read Sincronizado {{}}"
    );
}
