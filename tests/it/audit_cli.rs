//! `cubby audit` as a director runs it: a real binary over a real kiosk database,
//! filtered by day, as text or JSON, ids only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use serde_json::json;

use cubby::config::Config;
use cubby::store::Store;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

/// A config in `dir` and a kiosk database with three audit entries on three days
/// (no roster yet, so days are UTC).
fn kiosk(dir: &Path) -> PathBuf {
    let cfg = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    let path = dir.join("cubby.toml");
    cfg.save(&path).expect("config written");
    std::fs::create_dir_all(&cfg.data_dir).expect("data dir");
    let store = Store::open(&cfg.db_path()).expect("store");
    store
        .audit(
            utc("2026-11-22T15:00:00Z"),
            "pin_lockout",
            &json!({"misses": 5, "locked_s": 30}),
        )
        .expect("audit");
    store
        .audit(
            utc("2026-11-23T09:00:00Z"),
            "device_screen",
            &json!({"staff_id": "staff_pat", "allowed": true}),
        )
        .expect("audit");
    store
        .audit(
            utc("2026-11-24T23:59:00Z"),
            "manual_sync",
            &json!({"staff_id": "staff_lee"}),
        )
        .expect("audit");
    path
}

fn cubby(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cubby"))
        .args(args)
        .env("CUBBY_LOG", "error")
        .output()
        .expect("run cubby")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "cubby failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn json_for_one_day_lists_only_that_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kiosk(dir.path());
    let cfg = config.to_str().expect("utf-8 path");
    let out = stdout(&cubby(&[
        "audit",
        "--config",
        cfg,
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-23",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON array");
    let list = v.as_array().expect("array");
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["kind"], "device_screen");
    assert_eq!(list[0]["detail"]["staff_id"], "staff_pat");
    assert_eq!(list[0]["detail"]["allowed"], true);
    assert!(list[0]["at"]
        .as_str()
        .expect("time")
        .starts_with("2026-11-23T09:00:00"));
}

#[test]
fn text_without_range_is_everything_newest_first_and_open_ranges_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kiosk(dir.path());
    let cfg = config.to_str().expect("utf-8 path");
    let out = stdout(&cubby(&["audit", "--config", cfg]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("2026-11-24 23:59:00  manual_sync"),
        "{out}"
    );
    assert!(lines[0].contains("staff_id=staff_lee"), "{out}");
    assert!(lines[2].contains("pin_lockout"), "{out}");
    // --from alone: that day and after; --to alone: up to the end of that day.
    let out = stdout(&cubby(&["audit", "--config", cfg, "--from", "2026-11-23"]));
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = stdout(&cubby(&["audit", "--config", cfg, "--to", "2026-11-22"]));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("pin_lockout"), "{out}");
    let out = stdout(&cubby(&["audit", "--config", cfg, "--from", "2026-12-01"]));
    assert_eq!(out.trim(), "No audit entries in that range.");
}

#[test]
fn a_reversed_range_or_a_missing_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kiosk(dir.path());
    let cfg = config.to_str().expect("utf-8 path");
    let out = cubby(&[
        "audit",
        "--config",
        cfg,
        "--from",
        "2026-11-24",
        "--to",
        "2026-11-23",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--from 2026-11-24 is after --to 2026-11-23"),
        "{err}"
    );
    let missing = dir.path().join("nope.toml");
    let out = cubby(&["audit", "--config", missing.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.toml"), "{err}");
    let out = cubby(&["audit", "--config", cfg, "--from", "23/11/2026"]);
    assert!(!out.status.success(), "a bad date is refused by the parser");
}
