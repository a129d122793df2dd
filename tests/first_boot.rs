//! First boot, black-box: an unprovisioned `cubby run --headless` shows the
//! provisioning screen instead of failing, answers bad attempts in plain words and keeps
//! running, and once enrolled (from the screen, or by `cubby provision` meanwhile) runs
//! the door without a restart. The config file (a dpkg conffile) is never rewritten.

mod common;

use common::*;
use serde_json::{json, Value};

/// Submit the provisioning form; returns the frame that ends the attempt with an error
/// (after checking that a `busy` frame came first).
fn failed_attempt(k: &mut Kiosk, hub_url: &str, code: &str, name: &str) -> Value {
    k.last = Value::Null;
    k.send(&json!({"provision": {"hub_url": hub_url, "code": code, "name": name}}).to_string());
    let busy = k.wait_for("a busy provisioning frame", |v| {
        v["screen"] == "provision" && v["busy"] == true
    });
    assert!(busy["error"].is_null(), "{busy}");
    k.wait_for("the attempt's error", |v| {
        v["screen"] == "provision" && v["busy"] == false && v["error"].is_string()
    })
}

fn error_of(frame: &Value) -> String {
    frame["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn first_boot_shows_provisioning_refuses_bad_attempts_then_runs_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = kiosk_config(dir.path());
    let conffile = std::fs::read_to_string(&config).unwrap();

    // An empty data dir: the kiosk starts and shows the form, it does not exit.
    let mut k = Kiosk::start(&config);
    let first = k.last.clone();
    assert_eq!(first["screen"], "provision", "{first}");
    assert_eq!(first["busy"], false, "{first}");
    assert!(first["error"].is_null(), "{first}");
    assert_eq!(first["hub_url"], "", "{first}");
    assert_eq!(first["name"], "Front door", "{first}");

    // Plain http to a host that is not on loopback: refused before any connection.
    let f = failed_attempt(&mut k, "http://hub.invalid:8700", "ABCD-EFGH", "Side door");
    assert!(error_of(&f).contains("use https"), "{f}");

    // A hub nobody answers at (a loopback port just freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let f = failed_attempt(&mut k, &dead, "ABCD-EFGH", "Side door");
    assert!(
        error_of(&f).starts_with(&format!("Cannot reach the hub at {dead}")),
        "{f}"
    );

    // A wrong code: the hub does not know it. The form keeps what was typed (not the code).
    let f = failed_attempt(&mut k, &hub.url, "WRNG-CODE", "Side door");
    assert!(
        error_of(&f).contains("does not know this enrollment code"),
        "{f}"
    );
    assert_eq!(f["hub_url"], hub.url.as_str(), "{f}");
    assert_eq!(f["name"], "Side door", "{f}");
    assert!(!f.to_string().contains("WRNG-CODE"), "{f}");

    // Nothing else works before provisioning, but every command gets an answer.
    let f = k.act(r#"{"pin":"1111"}"#, "provision");
    assert!(f["error"].is_string(), "the last error stays shown: {f}");
    assert!(!dir.path().join("data/device.toml").exists());

    // The right code: busy, then the door's home screen, without a restart.
    let pid = k.pid();
    let code = hub.code();
    k.last = Value::Null;
    k.send(
        &json!({"provision": {"hub_url": hub.url, "code": code, "name": "Side door"}}).to_string(),
    );
    k.wait_for("busy", |v| v["screen"] == "provision" && v["busy"] == true);
    k.wait_for("home", |v| v["screen"] == "home");
    assert_eq!(k.pid(), pid);

    // A check-in by PIN arrives at the hub, from the device just enrolled.
    k.wait_roster();
    k.door("1111", "check_in");
    let events = eventually(30, "the check-ins at the hub", || {
        let events = hub.events();
        (events.len() == 2).then_some(events)
    });
    assert!(
        events
            .iter()
            .all(|e| e["type"] == "check_in" && e["device_id"] == "dev_01"),
        "{events:?}"
    );
    // One device was enrolled, under the name typed on the form.
    let used = std::process::Command::new(BIN)
        .args(["hub", "devices", "--db", hub.db.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let devices: Value = serde_json::from_slice(&used.stdout).unwrap();
    assert_eq!(devices.as_array().map(Vec::len), Some(1), "{devices}");
    assert_eq!(devices[0]["name"], "Side door", "{devices}");

    // The conffile is untouched; hub and name went to the data dir.
    assert_eq!(std::fs::read_to_string(&config).unwrap(), conffile);
    let device_toml = std::fs::read_to_string(dir.path().join("data/device.toml")).unwrap();
    assert!(
        device_toml.contains(&format!("hub_url = \"{}\"", hub.url)),
        "{device_toml}"
    );
    assert!(
        device_toml.contains("device_name = \"Side door\""),
        "{device_toml}"
    );
}

#[test]
fn provisioned_by_the_command_line_while_the_screen_waits_the_door_starts() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = kiosk_config(dir.path());
    let mut k = Kiosk::start(&config);
    assert_eq!(k.last["screen"], "provision", "{}", k.last);

    let code = hub.code();
    let out = cubby(&[
        "provision",
        "--hub",
        &hub.url,
        "--code",
        &code,
        "--name",
        "Gym door",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.contains("device.toml"), "{out}");
    k.wait_for("home", |v| v["screen"] == "home");
    k.wait_roster();
    let family = k.act(r#"{"pin":"1111"}"#, "family");
    assert_eq!(family["greeting"], "Hi Dana!");
}
