//! The demo's door hardware (`cubby demo`, docs/demo-center.md): an emulated fingerprint
//! reader on a pty with two people enrolled and a control pipe to "place" a finger, and
//! simulated GPIO with the strike enabled, so every door feature can be tried on a laptop.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::config::Config;
use crate::devices::config::FingerprintConfig;
use crate::devices::fingerprint::{self as fp, Slot};
use crate::devices::gpio::{GpioConfig, StrikeConfig};
use crate::domain::roster::Identity;
use crate::store::Store;

/// The demo people enrolled on the emulated sensor: (slot, who).
pub const DEMO_FINGERS: [(Slot, &str, bool); 2] = [(0, "per_01a", false), (1, "staff_lee", true)];

/// What the demo keeps alive while it runs (the emulated reader).
pub struct DemoHardware {
    pub emulator: Option<Arc<fp::EmulatorHandle>>,
}

/// The demo's hardware: an emulated fingerprint reader on a pty (link
/// `<dir>/fingerprint-reader`) with Dana (`per_01a`, slot 0) and Lee (`staff_lee`, slot 1)
/// enrolled, its control pipe `<dir>/finger` (`echo "finger per_01a" > <dir>/finger`), and
/// simulated GPIO with the strike enabled. Writes the `[fingerprint]` and `[gpio]`
/// sections into `cfg`. Never fails: without a pty the demo runs without a reader.
pub fn demo_setup(dir: &Path, cfg: &mut Config) -> DemoHardware {
    cfg.gpio = GpioConfig {
        simulate: true,
        led_green: Some(27),
        led_red: Some(22),
        buzzer: Some(23),
        strike: StrikeConfig {
            enabled: true,
            pin: Some(17),
            ..StrikeConfig::default()
        },
        ..GpioConfig::default()
    };
    let link = dir.join("fingerprint-reader");
    let emu = match fp::spawn_emulator(fp::EmulatorOptions {
        link_path: Some(link.clone()),
        ..fp::EmulatorOptions::default()
    }) {
        Ok(emu) => Arc::new(emu),
        Err(e) => {
            eprintln!("cubby: no emulated fingerprint reader for the demo ({e})");
            cfg.fingerprint = None;
            return DemoHardware { emulator: None };
        }
    };
    for (slot, who, _) in DEMO_FINGERS {
        emu.store_template(slot, fp::identity_from_str(who));
    }
    if let Err(e) = demo_mappings(cfg) {
        eprintln!("cubby: cannot record the demo fingerprints: {e}");
    }
    if let Err(e) = fp::serve_command_pipe(Arc::clone(&emu), &dir.join("finger")) {
        eprintln!("cubby: no fingerprint control pipe for the demo ({e})");
    }
    cfg.fingerprint = Some(FingerprintConfig::at(link));
    DemoHardware {
        emulator: Some(emu),
    }
}

/// The emulated sensor starts empty but for the demo fingers each run: make the table say
/// exactly that.
fn demo_mappings(cfg: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let mut store = Store::open(&cfg.db_path())?;
    let old: Vec<Slot> = store.fingerprint_rows()?.iter().map(|r| r.slot).collect();
    store.remove_fingerprints(&old)?;
    let now = Utc::now();
    for (slot, who, staff) in DEMO_FINGERS {
        let identity = if staff {
            Identity::Staff(who.into())
        } else {
            Identity::Person(who.into())
        };
        store.add_fingerprint(slot, &identity, now, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_enrolls_dana_and_lee_and_simulates_gpio() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data_dir: dir.path().join("kiosk"),
            ..Config::default()
        };
        let demo = demo_setup(dir.path(), &mut cfg);
        let emu = demo.emulator.as_ref().expect("a pty on this machine");
        assert!(cfg.gpio.simulate && cfg.gpio.strike.enabled);
        assert!(crate::devices::config::validate(
            cfg.fingerprint.as_ref(),
            &cfg.scanner,
            &cfg.gpio
        )
        .is_ok());
        assert_eq!(
            cfg.fingerprint.as_ref().map(|f| f.device.clone()),
            Some(emu.path().to_path_buf())
        );
        assert_eq!(emu.templates().len(), 2);
        let store = Store::open(&cfg.db_path()).unwrap();
        let map = store.fingerprint_map().unwrap();
        assert_eq!(map.get(&0), Some(&Identity::Person("per_01a".into())));
        assert_eq!(map.get(&1), Some(&Identity::Staff("staff_lee".into())));
        assert!(dir.path().join("finger").exists(), "control pipe");
    }
}
