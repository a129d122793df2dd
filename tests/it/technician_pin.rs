//! `cubby technician-pin` as a technician runs it: a kiosk provisioned against the real
//! `cubby hub` (demo center), the PIN typed on stdin, then the headless kiosk opens the
//! device screen for it. Roster PINs and non-digits are refused; nothing is echoed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::{provision, Hub, Kiosk, BIN};
use serde_json::Value;

/// `cubby technician-pin --config CONFIG [extra]` with `stdin` as its input.
fn technician_pin(config: &Path, extra: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["technician-pin", "--config"])
        .arg(config)
        .args(extra)
        .env("CUBBY_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cubby technician-pin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write the PIN");
    child.wait_with_output().expect("cubby technician-pin")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn audit(config: &Path) -> Vec<Value> {
    let out = crate::common::cubby(&[
        "audit",
        "--json",
        "--config",
        config.to_str().expect("path"),
    ]);
    match serde_json::from_str(&out) {
        Ok(Value::Array(list)) => list,
        other => panic!("audit --json: {other:?}"),
    }
}

#[test]
fn a_technician_pin_opens_the_device_screen_and_roster_pins_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = provision(dir.path(), &hub, "Front door");

    // Refused: a demo guardian's PIN (Dana, 1111), non-digits, too short, too long.
    let out = technician_pin(&config, &[], "1111\n");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("already a roster PIN"),
        "{}",
        text(&out)
    );
    for bad in ["12ab\n", "123\n", "123456789\n", "\n"] {
        let out = technician_pin(&config, &[], bad);
        assert!(!out.status.success(), "{bad:?}: {}", text(&out));
        assert!(text(&out).contains("4 to 8 digits"), "{}", text(&out));
    }

    // Set: the PIN is neither printed nor logged (trace logging on).
    let out = technician_pin(&config, &[], "4826\n");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("technician PIN set"), "{}", text(&out));
    assert!(!text(&out).contains("4826"), "{}", text(&out));

    let mut kiosk = Kiosk::start(&config);
    let s = kiosk.act(r#"{"pin":"4826"}"#, "device");
    assert_eq!(s["screen"], "device");
    // No staff screen behind it.
    kiosk.act(r#"{"tap":"back"}"#, "home");
    // A guardian's PIN still opens the family screen.
    let s = kiosk.act(r#"{"pin":"1111"}"#, "family");
    assert_eq!(s["greeting"], "Hi Dana!");
    drop(kiosk);

    let log = audit(&config);
    let kinds: Vec<&str> = log.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"technician_pin_set"), "{kinds:?}");
    assert!(
        log.iter().any(|e| e["kind"] == "device_screen"
            && e["detail"]["who"] == "technician"
            && e["detail"]["allowed"] == true),
        "{log:?}"
    );
    let all = serde_json::to_string(&log).expect("json");
    assert!(!all.contains("4826"), "{all}");

    // Cleared: the same digits are just a wrong PIN.
    let out = technician_pin(&config, &["--clear"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("removed"), "{}", text(&out));
    assert!(audit(&config)
        .iter()
        .any(|e| e["kind"] == "technician_pin_cleared"));
    let mut kiosk = Kiosk::start(&config);
    let s = kiosk.act(r#"{"pin":"4826"}"#, "pin");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("That PIN")),
        "{s}"
    );
}

#[test]
fn an_unprovisioned_kiosk_refuses_a_technician_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::common::kiosk_config(dir.path());
    let out = technician_pin(&config, &[], "4826\n");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not provisioned"), "{}", text(&out));
    assert!(!dir.path().join("data").join("kiosk.sqlite").exists());
}
