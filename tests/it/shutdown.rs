//! Stopping: systemd stops the kiosk with SIGTERM, a terminal with Ctrl-C (SIGINT). Either
//! ends the process cleanly (exit 0, not death by signal), and what the door recorded
//! before is kept and delivered on the next start.

use crate::common::*;

/// A kiosk whose hub is down records two events offline, then gets `signal`: it exits
/// with status 0, and after a restart with the hub back both events arrive once.
fn stops_cleanly_and_keeps_what_it_recorded(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
    let config = provision(dir.path(), &hub, "Front door");
    let mut k = Kiosk::start(&config);
    k.wait_roster();
    let (db, port) = hub.stop();
    let done = k.door("2222", "check_in"); // Rosa: Alex and Kim
    assert_eq!(done["screen"], "done");
    k.wait_for("2 queued", |v| v["status"]["queue"] == 2);

    let status = k.stop_with(signal);
    assert!(
        status.success(),
        "signal {signal} must end the kiosk cleanly, got {status:?}"
    );

    let hub = Hub::start(&db, port, None);
    let mut k = Kiosk::start(&config);
    k.wait_for("queue drained", |v| v["status"]["queue"] == 0);
    let events = hub.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(counts(&events).values().all(|n| *n == 1), "each event once");
}

#[test]
fn sigterm_stops_the_headless_kiosk_cleanly() {
    stops_cleanly_and_keeps_what_it_recorded(libc::SIGTERM);
}

#[test]
fn sigint_stops_the_headless_kiosk_cleanly() {
    stops_cleanly_and_keeps_what_it_recorded(libc::SIGINT);
}

#[test]
fn sigterm_and_sigint_stop_the_hub_cleanly() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
        let status = hub.stop_with(signal);
        assert!(status.success(), "signal {signal}: {status:?}");
    }
}
