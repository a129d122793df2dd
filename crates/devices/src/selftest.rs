//! Hardware self-test report for `cubby selftest [--json]` and the device screen: one
//! [`DeviceReport`] per device (ok / absent / fault with the reason), text and JSON
//! rendering, and the exit-code rule (non-zero when any device is at fault).
//!
//! Drivers report a status string (`ok`, `absent`, `absent: why`, `fault: why`), the same
//! text the heartbeat sends; [`DeviceReport::from_status`] reads it back.

use serde::{Deserialize, Serialize};

/// The state of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Present and answering.
    Ok,
    /// Not configured, not plugged in, or not on this machine: the kiosk works without it.
    Absent,
    /// Present or configured but broken (permission, wrong answers, busy): needs a technician.
    Fault,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Ok => "ok",
            DeviceState::Absent => "absent",
            DeviceState::Fault => "fault",
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
    pub fn new(name: &str, state: DeviceState, reason: impl Into<String>) -> DeviceReport {
        DeviceReport {
            name: name.to_string(),
            state,
            reason: reason.into(),
        }
    }

    /// Read a driver's status string: `ok`, `absent`, `absent: reason`, `fault: reason`.
    /// Anything else is a fault quoting the string (a driver should not say it).
    pub fn from_status(name: &str, status: &str) -> DeviceReport {
        let status = status.trim();
        let (head, reason) = match status.split_once(':') {
            Some((h, r)) => (h.trim(), r.trim()),
            None => (status, ""),
        };
        match head {
            "ok" => DeviceReport::new(name, DeviceState::Ok, reason),
            "absent" => DeviceReport::new(name, DeviceState::Absent, reason),
            "fault" => DeviceReport::new(name, DeviceState::Fault, reason),
            _ => DeviceReport::new(
                name,
                DeviceState::Fault,
                format!("unexpected status `{status}`"),
            ),
        }
    }

    /// The status string again (`ok`, `absent`, `absent: why`, `fault: why`).
    pub fn status(&self) -> String {
        if self.reason.is_empty() {
            self.state.as_str().to_string()
        } else {
            format!("{}: {}", self.state.as_str(), self.reason)
        }
    }
}

/// The rule of `cubby selftest`, the heartbeat and the device screen: a device that is not
/// configured is `absent: not configured` (fine); a configured device that is missing or
/// unplugged is a **fault** (a technician expected it there).
pub fn configured_report(name: &str, configured: bool, status: &str) -> DeviceReport {
    if !configured {
        return DeviceReport::new(name, DeviceState::Absent, "not configured");
    }
    let mut report = DeviceReport::from_status(name, status);
    if report.state == DeviceState::Absent {
        report.state = DeviceState::Fault;
        if report.reason.is_empty() {
            report.reason = "configured but not found".into();
        }
    }
    report
}

/// Build the report list from `(device name, status string)` pairs, in the given order.
pub fn build_reports<'a>(
    statuses: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<DeviceReport> {
    statuses
        .into_iter()
        .map(|(name, status)| DeviceReport::from_status(name, status))
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
        let r = configured_report("fingerprint", false, "absent");
        assert_eq!(
            (r.state, r.reason.as_str()),
            (DeviceState::Absent, "not configured")
        );
        let r = configured_report("fingerprint", true, "absent");
        assert_eq!(r.state, DeviceState::Fault);
        assert_eq!(r.reason, "configured but not found");
        let r = configured_report("scanner", true, "absent: no device at /dev/x");
        assert_eq!(r.status(), "fault: no device at /dev/x");
        let r = configured_report("gpio", true, "ok: 3 pins");
        assert_eq!((r.state, r.reason.as_str()), (DeviceState::Ok, "3 pins"));
        assert_eq!(
            exit_code(&[r, configured_report("x", false, "fault: y")]),
            0
        );
    }

    #[test]
    fn parses_statuses_and_applies_exit_rule() {
        let reports = build_reports([
            ("fingerprint", "ok"),
            ("scanner", "absent: no device at /dev/input/cubby-scanner"),
            ("gpio", "absent"),
        ]);
        assert_eq!(reports[0].state, DeviceState::Ok);
        assert_eq!(reports[1].state, DeviceState::Absent);
        assert_eq!(reports[1].reason, "no device at /dev/input/cubby-scanner");
        assert_eq!(reports[2].reason, "");
        assert_eq!(exit_code(&reports), 0);
        assert!(render_text(&reports).ends_with("self-test passed\n"));

        let mut with_fault = reports.clone();
        with_fault.push(DeviceReport::from_status(
            "gpio",
            "fault: permission denied on /dev/gpiochip0: add the user to group gpio",
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

        let odd = DeviceReport::from_status("x", "weird");
        assert_eq!(odd.state, DeviceState::Fault);
        assert_eq!(DeviceReport::from_status("s", "fault: a: b").reason, "a: b");
        assert_eq!(
            with_fault[1].status(),
            "absent: no device at /dev/input/cubby-scanner"
        );
    }
}
