//! Black-box tests of `cubby selftest` and `cubby fingerprint-emulator`: the real binary,
//! a config file on disk, and the fingerprint emulator on a real pty.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cubby::devices::fingerprint::{identity_from_str, spawn_emulator, EmulatorOptions};

fn cubby() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cubby"))
}

/// A config in `dir` with `extra` appended (data_dir inside `dir`).
fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("cubby.toml");
    let text = format!(
        "data_dir = {:?}\n{extra}",
        dir.join("data").to_string_lossy()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn selftest(config: &Path, json: bool) -> Output {
    let mut cmd = cubby();
    cmd.arg("selftest").arg("--config").arg(config);
    if json {
        cmd.arg("--json");
    }
    cmd.env("CUBBY_LOG", "off").output().unwrap()
}

fn json_of(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

#[test]
fn selftest_against_the_emulated_reader_is_ok() {
    let emu = spawn_emulator(EmulatorOptions::default()).unwrap();
    emu.store_template(4, identity_from_str("per_01a"));
    emu.store_template(9, identity_from_str("staff_lee"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "[fingerprint]\ndevice = {:?}\n",
            emu.path().to_string_lossy()
        ),
    );

    let out = selftest(&cfg, true);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["ok"], true);
    let devices = v["devices"].as_array().unwrap();
    let names: Vec<&str> = devices.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["fingerprint", "scanner", "gpio"]);
    assert_eq!(devices[0]["state"], "ok");
    let reason = devices[0]["reason"].as_str().unwrap();
    assert!(reason.contains("2 of 200 templates"), "{reason}");
    for d in &devices[1..] {
        assert_eq!(d["state"], "absent", "{d}");
        assert_eq!(d["reason"], "not configured");
    }
    // Every device object has exactly these keys.
    for d in devices {
        let mut keys: Vec<&String> = d.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["name", "reason", "state"]);
    }

    let out = selftest(&cfg, false);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fingerprint"), "{text}");
    assert!(text.ends_with("self-test passed\n"), "{text}");
}

#[test]
fn a_configured_reader_that_is_missing_or_silent_is_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-reader");
    let cfg = config(
        dir.path(),
        &format!(
            "[fingerprint]\ndevice = {:?}\n[[scanner]]\ndevice = {:?}\n",
            missing.to_string_lossy(),
            dir.path().join("no-such-scanner").to_string_lossy()
        ),
    );
    let out = selftest(&cfg, true);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["devices"][0]["state"], "fault");
    let reason = v["devices"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("no-such-reader"), "{reason}");
    assert_eq!(v["devices"][1]["state"], "fault");
    assert_eq!(v["devices"][2]["state"], "absent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("self-test failed"), "{stderr}");

    let out = selftest(&cfg, false);
    assert_ne!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAULT"), "{text}");
    assert!(
        text.contains("self-test FAILED: 2 device(s) at fault"),
        "{text}"
    );

    // Present but not answering (wrong module password): a fault with the reason.
    let emu = spawn_emulator(EmulatorOptions {
        password: 0x1234,
        ..EmulatorOptions::default()
    })
    .unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "[fingerprint]\ndevice = {:?}\nreply_timeout_ms = 300\n",
            emu.path().to_string_lossy()
        ),
    );
    let out = selftest(&cfg, true);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    let reason = v["devices"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("password"), "{reason}");
}

#[test]
fn a_bad_device_key_is_refused_with_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[gpio.strike]\nenabled = true\n");
    let out = selftest(&cfg, false);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gpio.strike.enabled"), "{stderr}");
    assert!(stderr.contains("cubby.toml"), "{stderr}");
}

#[test]
fn fingerprint_emulator_subcommand_prints_a_path_the_selftest_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyFP");
    let mut child = cubby()
        .arg("fingerprint-emulator")
        .arg("--link")
        .arg(&link)
        .arg("--capacity")
        .arg("300")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with(&format!("fingerprint emulator ready: {}", link.display())),
        "{first}"
    );
    assert!(first.contains("/dev/pts/"), "{first}");

    let cfg = config(
        dir.path(),
        &format!("[fingerprint]\ndevice = {:?}\n", link.to_string_lossy()),
    );
    let out = selftest(&cfg, true);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json_of(&out);
    let reason = v["devices"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("0 of 300 templates"), "{reason}");
}
