//! The heartbeat loop: tells the hub this door is alive and how its queue looks, so a
//! technician can spot a silent or stuck kiosk (`POST /devices/heartbeat`).
//!
//! Best-effort by design: a failed heartbeat is not resent; the next tick carries
//! fresher numbers anyway. A failure is reported to [`Health`] (logged at WARN when it
//! changes) and the next heartbeat that gets through carries it in `last_errors`, with
//! the last error of every other loop. Only a refused token stops it, because the
//! contract says a revoked kiosk stops calling.
//!
//! Also owns the heartbeat's `hardware` object ([`hardware_status`]): one status word per
//! device kind, from the same reports as `cubby selftest`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::api::{HardwareStatus, Heartbeat};
use crate::devices::selftest::{DeviceReport, DeviceState};
use crate::sync::client::{HubClient, SyncError};
use crate::sync::health::{Failure, Health, Loop};
use crate::sync::pusher::shutdown_signalled;

/// Shortest accepted interval: protects the hub from a misconfigured `0`.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Send a heartbeat at once, then every `interval` (ticks missed while a call was slow are
/// skipped, not bunched up), until `shutdown` turns `true` (or its sender is dropped) or
/// the hub refuses the token. `make` builds each heartbeat from the kiosk's current state;
/// `last_errors` is filled here from `health`.
pub async fn run_heartbeat(
    client: HubClient,
    interval: Duration,
    make: impl Fn() -> Heartbeat + Send,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval.max(MIN_INTERVAL));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            _ = ticker.tick() => {}
        }
        let mut heartbeat = make();
        let errors = health.snapshot();
        heartbeat.last_errors = (!errors.is_empty()).then_some(errors);
        let result = tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            result = client.heartbeat(&heartbeat) => result,
        };
        match result {
            Ok(()) => {
                tracing::trace!("heartbeat sent");
                health.ok(Loop::Heartbeat);
            }
            Err(SyncError::Unauthorized) => {
                tracing::warn!("hub refused the device token; heartbeat stops");
                health.failed(Loop::Heartbeat, Failure::of(&SyncError::Unauthorized));
                return;
            }
            Err(e) => health.failed(Loop::Heartbeat, Failure::of(&e)),
        }
    }
    tracing::debug!("heartbeat stopped");
}

/// The heartbeat's `hardware` object: `ok`, `absent: why` or `fault: why` for the
/// fingerprint reader, the scanner(s) and GPIO. Several scanners fold into one word: the
/// worst (fault, then ok, then absent), naming which one.
pub fn hardware_status(reports: &[DeviceReport]) -> HardwareStatus {
    let rank = |s: DeviceState| match s {
        DeviceState::Fault => 2,
        DeviceState::Ok => 1,
        DeviceState::Absent => 0,
    };
    let word = |prefix: &str| {
        let matching: Vec<&DeviceReport> = reports
            .iter()
            .filter(|r| r.name == prefix || r.name.starts_with(&format!("{prefix} ")))
            .collect();
        let worst = matching.iter().max_by_key(|r| rank(r.state))?;
        let status = worst.status();
        Some(if matching.len() > 1 && worst.state != DeviceState::Ok {
            format!("{status} ({})", worst.name)
        } else {
            status
        })
    };
    HardwareStatus {
        fingerprint: word("fingerprint"),
        scanner: word("scanner"),
        gpio: word("gpio"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::selftest::{build_reports, DeviceHealth};

    #[test]
    fn hardware_words_come_from_the_device_reports() {
        let hw = hardware_status(&build_reports([
            (
                "fingerprint",
                DeviceHealth::fault("fingerprint reader disconnected"),
            ),
            ("scanner 1", DeviceHealth::ok()),
            (
                "scanner 2",
                DeviceHealth::fault("no device at /dev/ttyACM0"),
            ),
            ("gpio", DeviceHealth::absent("not configured")),
        ]));
        assert_eq!(
            hw.fingerprint.as_deref(),
            Some("fault: fingerprint reader disconnected")
        );
        assert_eq!(
            hw.scanner.as_deref(),
            Some("fault: no device at /dev/ttyACM0 (scanner 2)")
        );
        assert_eq!(hw.gpio.as_deref(), Some("absent: not configured"));

        let hw = hardware_status(&build_reports([
            ("scanner", DeviceHealth::ok()),
            ("gpio", DeviceHealth::ok()),
        ]));
        assert_eq!(hw.scanner.as_deref(), Some("ok"));
        assert_eq!(
            hw.fingerprint, None,
            "a device not reported is not invented"
        );
    }
}
