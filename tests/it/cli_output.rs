//! What the command line prints, as the real binary prints it: times in one local form
//! (RFC 3339 UTC with `--json`), a closed stdout ending a command quietly, logs without
//! colour codes when stderr is not a terminal, and a missing config file named once.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use crate::common::{cubby, provision, Hub, BIN};
use serde_json::Value;

/// `2026-12-02 16:46:05` somewhere in `text`.
fn has_local_time(text: &str) -> bool {
    text.as_bytes().windows(19).any(|w| {
        w.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        })
    })
}

/// RFC 3339, UTC, whole seconds: `2026-12-02T22:46:05Z`.
fn is_json_time(v: &Value) -> bool {
    v.as_str().is_some_and(|t| {
        t.len() == 20 && t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok()
    })
}

#[test]
fn times_are_local_for_people_and_rfc3339_utc_for_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = provision(dir.path(), &hub, "Front door");
    let cfg = config.to_str().expect("utf-8 path");

    let sync = cubby(&["sync", "--config", cfg]);
    let first = sync.lines().next().expect("a report line");
    assert!(first.starts_with("Roster sync "), "{sync}");
    assert!(has_local_time(first), "{sync}");
    assert!(!first.contains("UTC") && !first.contains('T'), "{sync}");

    let status = cubby(&["status", "--config", cfg]);
    let last_sync = status
        .lines()
        .find(|l| l.starts_with("last sync"))
        .expect("a last sync line");
    assert!(has_local_time(last_sync), "{status}");
    for mixed in ["Z ", "+00:00", "-06:00", "-05:00"] {
        assert!(!last_sync.contains(mixed), "{mixed} in {status}");
    }

    let json: Value =
        serde_json::from_str(cubby(&["status", "--config", cfg, "--json"]).trim()).expect("json");
    assert!(is_json_time(&json["last_sync_at"]), "{json}");

    let db = hub.db.to_str().expect("utf-8 path");
    let devices: Value =
        serde_json::from_str(cubby(&["hub", "devices", "--db", db, "--json"]).trim())
            .expect("json");
    assert!(is_json_time(&devices[0]["enrolled_at"]), "{devices}");
    let table = cubby(&["hub", "devices", "--db", db]);
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("dev_01")),
        "{table}"
    );
    let audit = cubby(&["hub", "audit", "--db", db]);
    let enrolled = audit
        .lines()
        .find(|l| l.contains("enrolled"))
        .expect("the enrollment is audited");
    assert!(
        has_local_time(enrolled) && !enrolled.contains('T'),
        "{audit}"
    );
}

#[test]
fn a_closed_stdout_ends_each_printing_command_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = provision(dir.path(), &hub, "Front door");
    let cfg = config.to_str().expect("utf-8 path");
    let db = hub.db.to_str().expect("utf-8 path");
    let commands: [&[&str]; 6] = [
        &["sync", "--config", cfg],
        &["status", "--config", cfg],
        &["status", "--config", cfg, "--json"],
        &["audit", "--config", cfg],
        &["hub", "devices", "--db", db],
        &["hub", "audit", "--db", db],
    ];
    for args in commands {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cubby");
        // The reader goes away before the command has printed anything (`| head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("cubby ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "cubby {args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "cubby {args:?}: {stderr}");
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "cubby {args:?} ended with {:?}: {stderr}",
            out.status
        );
    }
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.sqlite");
    let mut child = Command::new(BIN)
        .args(["hub", "--listen", "127.0.0.1:0", "--seed", "demo", "--db"])
        .arg(&db)
        .env("CUBBY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hub");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("hub banner");
    assert!(banner.starts_with("cubby hub listening on"), "{banner}");
    child.kill().expect("stop the hub");
    let out = child.wait_with_output().expect("hub ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("seeded the demo center"),
        "a log line: {stderr}"
    );
    assert!(!stderr.contains("\x1b["), "colour codes in {stderr:?}");
}

#[test]
fn a_missing_config_file_is_named_once_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("etc").join("cubby.toml");
    let path = missing.to_str().expect("utf-8 path");
    for command in ["status", "sync", "run"] {
        let out = Command::new(BIN)
            .args([command, "--config", path])
            .env("CUBBY_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .expect("run cubby");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("cannot read {path}: ")),
            "{command}: {stderr}"
        );
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{command}: {stderr}"
        );
        assert!(stderr.contains("--config"), "{command}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
    }
}
