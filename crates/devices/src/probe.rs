//! One-shot checks of the configured devices for `cubby selftest`: open each device, ask
//! it something, release it, and say how it is ([`DeviceHealth`]: ok with what was seen,
//! absent or at fault with why).
//! The verdict rule (configured + missing = fault) and the rendering live in
//! [`super::selftest`]; this module only talks to hardware.
//!
//! Run it while the kiosk is stopped: a running kiosk holds the serial ports.

use super::config::FingerprintConfig;
use super::fingerprint::{DeviceStatus, FingerprintError, FingerprintReader, R30x};
use super::gpio::{CdevIo, DoorIo, GpioConfig, GpioOpenError};
use super::scanner::{self, ScannerConfig};
use super::selftest::{configured_report, DeviceHealth, DeviceReport};

/// Fingerprint reader: open (VfyPwd with the configured password, ReadSysPara for the
/// capacity), HandShake, TemplateNum.
pub fn fingerprint_status(cfg: &FingerprintConfig) -> DeviceHealth {
    let reader_cfg = cfg.reader();
    let path = cfg.device.display();
    let failed = |e: &FingerprintError| match e.status() {
        DeviceStatus::Absent => DeviceHealth::absent(format!("no reader at {path} ({e})")),
        DeviceStatus::Fault(why) => DeviceHealth::fault(format!("{why} ({path})")),
        DeviceStatus::Ok => DeviceHealth::ok(),
    };
    let mut reader = match R30x::open(&reader_cfg) {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    if let Err(e) = reader.handshake() {
        return failed(&e);
    }
    let p = *reader.parameters();
    match reader.template_count() {
        Ok(n) => DeviceHealth::ok_seen(format!(
            "{path}: {n} of {} templates used, security level {}, {} baud",
            p.capacity, p.security_level, reader_cfg.baud
        )),
        Err(e) => failed(&e),
    }
}

/// GPIO: claim the configured lines (strike locked, outputs off) and release them.
pub fn gpio_status(cfg: &GpioConfig) -> DeviceHealth {
    if cfg.simulate {
        return DeviceHealth::ok_seen("simulated (gpio.simulate = true): no pin is driven");
    }
    if !cfg.any_pin() {
        return DeviceHealth::absent("no GPIO pin configured");
    }
    match CdevIo::open(cfg) {
        Ok(io) => {
            let status = io.status();
            if status.is_ok() {
                let strike = if cfg.strike.enabled {
                    "strike enabled"
                } else {
                    "strike disabled (held locked)"
                };
                DeviceHealth::ok_seen(format!("{io:?}: lines claimed, {strike}"))
            } else {
                status
            }
        }
        Err(GpioOpenError::Absent(why)) => DeviceHealth::absent(why),
        Err(GpioOpenError::Fault(why)) => DeviceHealth::fault(why),
    }
}

/// Every configured device, in a fixed order: fingerprint, scanner(s), gpio. Unconfigured
/// devices are `absent: not configured`; configured ones that are missing are faults.
pub fn check_all(
    fingerprint: Option<&FingerprintConfig>,
    scanners: &[ScannerConfig],
    gpio: &GpioConfig,
) -> Vec<DeviceReport> {
    let mut out = Vec::new();
    out.push(match fingerprint {
        Some(fp) => configured_report("fingerprint", true, fingerprint_status(fp)),
        None => configured_report("fingerprint", false, DeviceHealth::absent("")),
    });
    if scanners.is_empty() {
        out.push(configured_report(
            "scanner",
            false,
            DeviceHealth::absent(""),
        ));
    }
    for (i, s) in scanners.iter().enumerate() {
        let name = if scanners.len() == 1 {
            "scanner".to_string()
        } else {
            format!("scanner {}", i + 1)
        };
        out.push(configured_report(&name, true, scanner::probe(s)));
    }
    let configured = cfg_gpio_configured(gpio);
    out.push(configured_report("gpio", configured, gpio_status(gpio)));
    out
}

/// GPIO counts as configured when a pin is set or simulation is on.
pub fn cfg_gpio_configured(gpio: &GpioConfig) -> bool {
    gpio.simulate || gpio.any_pin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::DeviceState;

    #[test]
    fn nothing_configured_is_all_absent_and_passes() {
        let reports = check_all(None, &[], &GpioConfig::default());
        let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["fingerprint", "scanner", "gpio"]);
        assert!(reports.iter().all(|r| r.state == DeviceState::Absent));
        assert_eq!(crate::selftest::exit_code(&reports), 0);
    }

    #[test]
    fn configured_but_missing_devices_are_faults_naming_the_path() {
        let fp = FingerprintConfig::at("/dev/cubby-no-such-reader");
        let scanners = [
            ScannerConfig {
                device: Some("/dev/input/cubby-no-such-scanner".into()),
                ..ScannerConfig::default()
            },
            ScannerConfig {
                device: Some("/dev/cubby-no-such-tty".into()),
                ..ScannerConfig::default()
            },
        ];
        let gpio = GpioConfig {
            chip: Some("/nonexistent/gpiochip9".into()),
            led_green: Some(27),
            ..GpioConfig::default()
        };
        let reports = check_all(Some(&fp), &scanners, &gpio);
        assert_eq!(reports.len(), 4);
        assert_eq!(reports[1].name, "scanner 1");
        for r in &reports {
            assert_eq!(r.state, DeviceState::Fault, "{r:?}");
        }
        assert!(
            reports[0].reason.contains("/dev/cubby-no-such-reader"),
            "{:?}",
            reports[0]
        );
        assert!(
            reports[2].reason.contains("/dev/cubby-no-such-tty"),
            "{:?}",
            reports[2]
        );
        assert!(reports[3].reason.contains("gpiochip9"), "{:?}", reports[3]);
        assert_eq!(crate::selftest::exit_code(&reports), 1);
    }

    #[test]
    fn simulated_gpio_is_ok() {
        let gpio = GpioConfig {
            simulate: true,
            ..GpioConfig::default()
        };
        let r = &check_all(None, &[], &gpio)[2];
        assert_eq!(r.state, DeviceState::Ok);
        assert!(r.reason.contains("simulated"), "{r:?}");
    }
}
