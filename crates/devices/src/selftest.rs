//! Hardware self-test report for `cubby selftest [--json]` and the device screen: one
//! [`DeviceReport`] per device (ok / absent / fault with the reason), text and JSON
//! rendering, and the exit-code rule (non-zero when any device is at fault).
//!
//! Drivers report a [`DeviceHealth`] (a state and why); its `Display` is the word the
//! heartbeat sends (`ok`, `absent`, `absent: why`, `fault: why`), never read back.

use serde::{Deserialize, Serialize};

/// The state of one device: the core's, which the device screen puts in words.
pub use cubby_core::kiosk::HardwareState as DeviceState;

/// What a driver says of its device now: its state and why (for `ok`, what was checked;
/// may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceHealth {
    pub state: DeviceState,
    pub reason: String,
}

impl DeviceHealth {
    pub fn ok() -> DeviceHealth {
        DeviceHealth::new(DeviceState::Ok, "")
    }
    /// Ok, with what was checked ("3 of 200 templates used").
    pub fn ok_seen(seen: impl Into<String>) -> DeviceHealth {
        DeviceHealth::new(DeviceState::Ok, seen)
    }
    pub fn absent(why: impl Into<String>) -> DeviceHealth {
        DeviceHealth::new(DeviceState::Absent, why)
    }
    pub fn fault(why: impl Into<String>) -> DeviceHealth {
        DeviceHealth::new(DeviceState::Fault, why)
    }
    pub fn new(state: DeviceState, reason: impl Into<String>) -> DeviceHealth {
        DeviceHealth {
            state,
            reason: reason.into(),
        }
    }
    pub fn is_ok(&self) -> bool {
        self.state == DeviceState::Ok
    }
}

/// The heartbeat's word: `ok`, `absent`, `absent: why`, `fault: why`.
impl std::fmt::Display for DeviceHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.reason.is_empty() {
            f.write_str(self.state.as_str())
        } else {
            write!(f, "{}: {}", self.state.as_str(), self.reason)
        }
    }
}

/// One line of the self-test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// `fingerprint`, `scanner`, `gpio`, …
    pub name: String,
    pub state: DeviceState,
    /// Why it is absent or at fault, in plain words; when ok, what was checked (may be
    /// empty).
    #[serde(default)]
    pub reason: String,
}

impl DeviceReport {
    pub fn new(name: &str, health: DeviceHealth) -> DeviceReport {
        DeviceReport {
            name: name.to_string(),
            state: health.state,
            reason: health.reason,
        }
    }

    /// The heartbeat's word for it (`ok`, `absent`, `absent: why`, `fault: why`).
    pub fn status(&self) -> String {
        DeviceHealth::new(self.state, self.reason.clone()).to_string()
    }
}

/// The rule of `cubby selftest`, the heartbeat and the device screen: a device that is not
/// configured is `absent: not configured` (fine); a configured device that is missing or
/// unplugged is a **fault** (a technician expected it there).
pub fn configured_report(name: &str, configured: bool, health: DeviceHealth) -> DeviceReport {
    if !configured {
        return DeviceReport::new(name, DeviceHealth::absent(NOT_CONFIGURED));
    }
    let mut report = DeviceReport::new(name, health);
    if report.state == DeviceState::Absent {
        report.state = DeviceState::Fault;
        if report.reason.is_empty() {
            report.reason = NOT_FOUND.into();
        }
    }
    report
}

/// The reason of a device the configuration does not mention.
pub const NOT_CONFIGURED: &str = "not configured";
/// The reason of a configured device that is missing, when its driver gave none.
pub const NOT_FOUND: &str = "configured but not found";

/// Build the report list from `(device name, health)` pairs, in the given order.
pub fn build_reports<'a>(
    healths: impl IntoIterator<Item = (&'a str, DeviceHealth)>,
) -> Vec<DeviceReport> {
    healths
        .into_iter()
        .map(|(name, health)| DeviceReport::new(name, health))
        .collect()
}

/// Process exit code of `cubby selftest`: 0 unless a device is at fault (absent is fine:
/// a door without a fingerprint reader is a valid setup), then 1.
pub fn exit_code(reports: &[DeviceReport]) -> i32 {
    if reports.iter().any(|r| r.state == DeviceState::Fault) {
        1
    } else {
        0
    }
}

/// Human text, one aligned line per device, then a summary line.
pub fn render_text(reports: &[DeviceReport]) -> String {
    let width = reports.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in reports {
        let state = match r.state {
            DeviceState::Ok => "ok",
            DeviceState::Absent => "absent",
            DeviceState::Fault => "FAULT",
        };
        if r.reason.is_empty() {
            out.push_str(&format!("{:<width$}  {state}\n", r.name));
        } else {
            out.push_str(&format!("{:<width$}  {state:<6}  {}\n", r.name, r.reason));
        }
    }
    let faults = reports
        .iter()
        .filter(|r| r.state == DeviceState::Fault)
        .count();
    if faults == 0 {
        out.push_str("self-test passed\n");
    } else {
        out.push_str(&format!("self-test FAILED: {faults} device(s) at fault\n"));
    }
    out
}

/// JSON: `{"ok": bool, "devices": [{"name", "state", "reason"}]}` on one line.
pub fn render_json(reports: &[DeviceReport]) -> String {
    serde_json::json!({
        "ok": exit_code(reports) == 0,
        "devices": reports,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_but_missing_is_a_fault_unconfigured_is_absent() {
        let r = configured_report("fingerprint", false, DeviceHealth::absent(""));
        assert_eq!(
            (r.state, r.reason.as_str()),
            (DeviceState::Absent, "not configured")
        );
        let r = configured_report("fingerprint", true, DeviceHealth::absent(""));
        assert_eq!(r.state, DeviceState::Fault);
        assert_eq!(r.reason, "configured but not found");
        let r = configured_report("scanner", true, DeviceHealth::absent("no device at /dev/x"));
        assert_eq!(r.status(), "fault: no device at /dev/x");
        let r = configured_report("gpio", true, DeviceHealth::ok_seen("3 pins"));
        assert_eq!((r.state, r.reason.as_str()), (DeviceState::Ok, "3 pins"));
        assert_eq!(
            exit_code(&[r, configured_report("x", false, DeviceHealth::fault("y"))]),
            0
        );
    }

    #[test]
    fn health_words_are_the_heartbeat_words() {
        assert_eq!(DeviceHealth::ok().to_string(), "ok");
        assert_eq!(DeviceHealth::absent("").to_string(), "absent");
        assert_eq!(
            DeviceHealth::absent("no device at /dev/x").to_string(),
            "absent: no device at /dev/x"
        );
        // A reason with a colon stays whole: nothing is parsed back.
        let r = DeviceReport::new("s", DeviceHealth::fault("a: b"));
        assert_eq!((r.state, r.reason.as_str()), (DeviceState::Fault, "a: b"));
        assert_eq!(r.status(), "fault: a: b");
    }

    #[test]
    fn reports_render_and_apply_the_exit_rule() {
        let reports = build_reports([
            ("fingerprint", DeviceHealth::ok()),
            (
                "scanner",
                DeviceHealth::absent("no device at /dev/input/cubby-scanner"),
            ),
            ("gpio", DeviceHealth::absent("")),
        ]);
        assert_eq!(exit_code(&reports), 0);
        assert!(render_text(&reports).ends_with("self-test passed\n"));

        let mut with_fault = reports.clone();
        with_fault.push(DeviceReport::new(
            "gpio",
            DeviceHealth::fault("permission denied on /dev/gpiochip0: add the user to group gpio"),
        ));
        assert_eq!(exit_code(&with_fault), 1);
        let text = render_text(&with_fault);
        assert!(text.contains("FAULT"), "{text}");
        assert!(
            text.contains("permission denied on /dev/gpiochip0"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&render_json(&with_fault)).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["devices"][3]["state"], "fault");
        assert_eq!(v["devices"][0]["state"], "ok");
        assert_eq!(
            with_fault[1].status(),
            "absent: no device at /dev/input/cubby-scanner"
        );
    }
}
