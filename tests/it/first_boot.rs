//! First boot, black-box: an unprovisioned `cubby run --headless` shows the
//! provisioning screen instead of failing, answers bad attempts in plain words and keeps
//! running, and once enrolled (from the screen, or by `cubby provision` meanwhile) runs
//! the door without a restart. The config file (a dpkg conffile) is never rewritten.

use crate::common::*;
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

/// `cubby setup` with a card's setup file (under a test root instead of `/`): host name
/// and time zone written, then the kiosk enrolls by itself with the file's hub, code,
/// door name and technician PIN, with nobody at the screen; the card keeps the file
/// renamed and without its secrets.
#[test]
fn a_setup_file_enrolls_the_door_with_nobody_at_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = kiosk_config(dir.path());
    let root = dir.path().join("root");
    let boot = dir.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let file = boot.join("cubby-setup.toml");
    let code = hub.code();
    std::fs::write(
        &file,
        format!(
            "hostname = \"front-door\"\ntimezone = \"America/Chicago\"\n\n[hub]\nurl = \"{}\"\ncode = \"{code}\"\ndoor_name = \"Front door\"\n\n[technician]\npin = \"482913\"\n",
            hub.url
        ),
    )
    .unwrap();

    let out = cubby(&[
        "setup",
        "--file",
        file.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    assert!(out.contains("setup applied"), "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "front-door\n"
    );
    assert!(!file.exists(), "the one-time file is gone from the card");
    let applied = std::fs::read_to_string(boot.join("cubby-setup.applied.toml")).unwrap();
    assert!(!applied.contains(&code), "{applied}");
    assert!(!applied.contains("482913"), "{applied}");
    let pending = dir.path().join("data/setup-enrollment.toml");
    assert!(pending.exists());

    // The kiosk starts and enrolls by itself: no provisioning form is submitted.
    let mut k = Kiosk::start(&config);
    k.wait_for("home", |v| v["screen"] == "home");
    assert!(
        !pending.exists(),
        "the enrollment is used once, then removed"
    );
    let used = std::process::Command::new(BIN)
        .args(["hub", "devices", "--db", hub.db.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let devices: Value = serde_json::from_slice(&used.stdout).unwrap();
    assert_eq!(devices[0]["name"], "Front door", "{devices}");
    // The technician PIN from the file opens the device screen.
    k.wait_roster();
    k.act(r#"{"pin":"482913"}"#, "device");
}

/// A setup file with a bad key changes nothing, says which key, and the provisioning
/// screen shows the same reason.
#[test]
fn a_bad_setup_file_names_the_key_and_the_screen_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = kiosk_config(dir.path());
    let root = dir.path().join("root");
    let file = dir.path().join("cubby-setup.toml");
    std::fs::write(
        &file,
        "hostname = \"front door!\"\n[hub]\nurl = \"http://127.0.0.1:1\"\ncode = \"ABCD-EFGH\"\ndoor_name = \"Front door\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["setup", "--file", file.to_str().unwrap()])
        .args(["--config", config.to_str().unwrap()])
        .args(["--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hostname"), "{err}");
    assert!(file.exists(), "a file that was not used stays for fixing");
    assert!(!root.join("etc/hostname").exists());

    let k = Kiosk::start(&config);
    assert_eq!(k.last["screen"], "provision", "{}", k.last);
    let shown = k.last["error"].as_str().unwrap_or_default().to_string();
    assert!(shown.contains("hostname"), "{}", k.last);
}
