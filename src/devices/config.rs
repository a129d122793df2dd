//! The device sections of the kiosk configuration (`[fingerprint]`, `[[scanner]]`,
//! `[gpio]`): the TOML shapes, their defaults (nothing configured = absent, strike
//! disabled) and their validation. `crate::config::Config` embeds them; the structs of the
//! drivers ([`ReaderConfig`], [`ScannerConfig`], [`GpioConfig`]) are what they become.
//!
//! Pure: no device is touched here (see `devices::probe` and `runtime::devices`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::fingerprint::ReaderConfig;
use super::gpio::GpioConfig;
use super::scanner::ScannerConfig;

/// Baud rates an R30x module accepts (9600 × N, N = 1…12).
const R30X_BAUDS: [u32; 5] = [9_600, 19_200, 38_400, 57_600, 115_200];

/// `[fingerprint]`: the R30x reader. No section: no reader (absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintConfig {
    /// Serial device: a udev name (`/dev/cubby-fingerprint`), `/dev/serial0` for the Pi's
    /// GPIO UART, `/dev/ttyUSB0`, or the link `cubby fingerprint-emulator` prints.
    pub device: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Module address (factory `0xFFFFFFFF`).
    #[serde(default = "default_address")]
    pub address: u32,
    /// Module password checked at open (factory 0).
    #[serde(default)]
    pub password: u32,
    /// Search scores below this are not a match.
    #[serde(default = "default_min_score")]
    pub min_score: u16,
    /// How long to wait for each reply of the module.
    #[serde(default = "default_reply_timeout_ms")]
    pub reply_timeout_ms: u64,
    /// How long an enrollment waits for the finger to be placed or lifted.
    #[serde(default = "default_finger_timeout_s")]
    pub finger_timeout_s: u64,
    /// Captures merged into one template at enrollment (2…6; more than 2 needs an R503).
    #[serde(default = "default_captures")]
    pub captures: u8,
    /// Character buffers of the module: 2 (R30x, AS608, ZFM) or 6 (R503).
    #[serde(default = "default_char_buffers")]
    pub char_buffers: u8,
    /// Refuse to enroll a finger that is already stored.
    #[serde(default = "yes")]
    pub reject_duplicates: bool,
    /// Drive the ring LED (modules without one are detected and skipped).
    #[serde(default = "yes")]
    pub ring_led: bool,
}

fn default_baud() -> u32 {
    57_600
}
fn default_address() -> u32 {
    0xFFFF_FFFF
}
fn default_min_score() -> u16 {
    50
}
fn default_reply_timeout_ms() -> u64 {
    2_000
}
fn default_finger_timeout_s() -> u64 {
    20
}
fn default_captures() -> u8 {
    2
}
fn default_char_buffers() -> u8 {
    2
}
fn yes() -> bool {
    true
}

impl FingerprintConfig {
    /// A reader at `device` with every other value at its default.
    pub fn at(device: impl Into<PathBuf>) -> FingerprintConfig {
        FingerprintConfig {
            device: device.into(),
            baud: default_baud(),
            address: default_address(),
            password: 0,
            min_score: default_min_score(),
            reply_timeout_ms: default_reply_timeout_ms(),
            finger_timeout_s: default_finger_timeout_s(),
            captures: default_captures(),
            char_buffers: default_char_buffers(),
            reject_duplicates: true,
            ring_led: true,
        }
    }

    /// The driver's configuration.
    pub fn reader(&self) -> ReaderConfig {
        ReaderConfig {
            path: self.device.clone(),
            baud: self.baud,
            address: self.address,
            password: self.password,
            reply_timeout: Duration::from_millis(self.reply_timeout_ms),
            min_score: self.min_score,
            finger_timeout: Duration::from_secs(self.finger_timeout_s),
            char_buffers: self.char_buffers,
            reject_duplicates: self.reject_duplicates,
            ring_led: self.ring_led,
            ..ReaderConfig::default()
        }
    }

    /// Check values: `Err((key, problem))` naming the offending key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.device.as_os_str().is_empty() {
            return Err((
                "fingerprint.device",
                "is empty (remove the [fingerprint] section when there is no reader)".into(),
            ));
        }
        if !R30X_BAUDS.contains(&self.baud) {
            return Err((
                "fingerprint.baud",
                format!(
                    "{} is not a rate the reader supports ({R30X_BAUDS:?})",
                    self.baud
                ),
            ));
        }
        if !(100..=30_000).contains(&self.reply_timeout_ms) {
            return Err((
                "fingerprint.reply_timeout_ms",
                "must be between 100 and 30000".into(),
            ));
        }
        if !(1..=120).contains(&self.finger_timeout_s) {
            return Err((
                "fingerprint.finger_timeout_s",
                "must be between 1 and 120".into(),
            ));
        }
        if !(2..=6).contains(&self.char_buffers) {
            return Err((
                "fingerprint.char_buffers",
                "must be 2 (R30x, AS608, ZFM) or up to 6 (R503)".into(),
            ));
        }
        if !(2..=6).contains(&self.captures) {
            return Err(("fingerprint.captures", "must be between 2 and 6".into()));
        }
        if self.min_score == 0 {
            return Err((
                "fingerprint.min_score",
                "must be at least 1 (0 would accept any finger)".into(),
            ));
        }
        Ok(())
    }
}

/// Validate every device section: `Err((key, problem))` for the first bad value.
pub fn validate(
    fingerprint: Option<&FingerprintConfig>,
    scanners: &[ScannerConfig],
    gpio: &GpioConfig,
) -> Result<(), (&'static str, String)> {
    if let Some(fp) = fingerprint {
        fp.validate()?;
    }
    for (i, s) in scanners.iter().enumerate() {
        let which = if scanners.len() > 1 {
            format!(" (scanner #{})", i + 1)
        } else {
            String::new()
        };
        if s.device.is_none() {
            return Err((
                "scanner.device",
                format!("is missing{which}: every [[scanner]] needs its device path"),
            ));
        }
        s.validate()
            .map_err(|(key, p)| (key, format!("{p}{which}")))?;
    }
    for (i, s) in scanners.iter().enumerate() {
        if let Some(dev) = s.device.as_deref() {
            if scanners[..i]
                .iter()
                .any(|o| o.device.as_deref() == Some(dev))
            {
                return Err((
                    "scanner.device",
                    format!("{} is configured twice", dev.display()),
                ));
            }
        }
    }
    gpio.validate()
}

/// `[gpio]` left at its defaults (for `skip_serializing_if`).
pub fn gpio_is_default(gpio: &GpioConfig) -> bool {
    *gpio == GpioConfig::default()
}

/// Reads `[[scanner]]` (a list of tables, the documented form) and also a single
/// `[scanner]` table (what a technician may write for one scanner).
pub fn one_or_many<'de, D>(d: D) -> Result<Vec<ScannerConfig>, D::Error>
where
    D: Deserializer<'de>,
{
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<ScannerConfig>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("[[scanner]] tables (or one [scanner] table)")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            ScannerConfig::deserialize(de::value::MapAccessDeserializer::new(map)).map(|s| vec![s])
        }
    }
    d.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const SHIPPED: &str = include_str!("../../assets/cubby.toml");

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/cubby/cubby.toml")).map_err(|e| e.to_string())
    }

    /// The shipped file with every commented device example (`# key = value`, `# [table]`,
    /// `# [[table]]` between the Hardware and Logging headings) uncommented.
    fn hardware_uncommented(text: &str) -> (String, usize) {
        let mut in_hw = false;
        let mut n = 0;
        let out = text
            .lines()
            .map(|line| {
                if line.starts_with("# ----") {
                    in_hw = line.contains("Hardware");
                    return line.to_string();
                }
                let body = line.strip_prefix("# ").unwrap_or("");
                let is_table = body.starts_with('[') && body.ends_with(']');
                let is_key = body.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                if in_hw && (is_table || is_key) {
                    n += 1;
                    body.to_string()
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        (out, n)
    }

    #[test]
    fn shipped_config_parses_as_shipped_and_with_device_examples_uncommented() {
        let shipped = parse(SHIPPED).unwrap();
        assert_eq!(shipped.fingerprint, None, "nothing configured = no reader");
        assert!(shipped.scanner.is_empty());
        assert_eq!(shipped.gpio, GpioConfig::default());
        assert!(!shipped.gpio.strike.enabled);

        let (text, n) = hardware_uncommented(SHIPPED);
        assert!(n >= 15, "only {n} device example lines found:\n{text}");
        let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        let fp = cfg.fingerprint.expect("[fingerprint] example");
        assert_eq!(fp.device, PathBuf::from("/dev/cubby-fingerprint"));
        assert_eq!(fp.reader().baud, 57_600);
        assert_eq!(
            cfg.scanner.len(),
            2,
            "one HID and one serial scanner example"
        );
        assert_eq!(
            cfg.scanner[0].device.as_deref(),
            Some(Path::new("/dev/input/cubby-scanner"))
        );
        assert_eq!(cfg.gpio.strike.pin, Some(17));
        assert_eq!(cfg.gpio.led_green, Some(27));
        assert_eq!(cfg.gpio.led_red, Some(22));
        assert_eq!(cfg.gpio.buzzer, Some(23));
        // The example leaves the strike off until the relay is wired and tested.
        assert!(!cfg.gpio.strike.enabled);
    }

    #[test]
    fn shipped_general_settings_are_real_keys() {
        // Uncomment every `# key = value` line above the hardware block: each must be a
        // key the kiosk accepts (Config denies unknown keys).
        let mut before_hw = true;
        let text: String = SHIPPED
            .lines()
            .map(|line| {
                if line.starts_with("# ---- Hardware") {
                    before_hw = false;
                }
                let body = line.strip_prefix("# ").unwrap_or("");
                let is_key = body.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                if before_hw && is_key {
                    format!("{body}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert_eq!(cfg.hub_url.as_deref(), Some("https://hub.example.org"));
        assert_eq!(cfg.device_name, "Front door");
        assert_eq!(cfg.language, "en");
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/cubby"));
        assert!(!cfg.allow_insecure_http);
    }

    #[test]
    fn a_single_scanner_table_is_accepted_too() {
        let cfg = parse("[scanner]\ndevice = \"/dev/ttyACM0\"\nbaud = 115200\n").unwrap();
        assert_eq!(cfg.scanner.len(), 1);
        assert_eq!(cfg.scanner[0].baud, 115_200);
        let err = parse("[scanner]\ndevice = \"/dev/ttyACM0\"\nbaud = \"fast\"\n").unwrap_err();
        assert!(err.contains("baud"), "{err}");
    }

    #[test]
    fn bad_device_values_name_the_key_and_file() {
        for (text, key) in [
            ("[fingerprint]\nbaud = 57600\n", "device"),
            (
                "[fingerprint]\ndevice = \"/dev/x\"\nbaud = 1234\n",
                "fingerprint.baud",
            ),
            (
                "[fingerprint]\ndevice = \"/dev/x\"\ncaptures = 9\n",
                "fingerprint.captures",
            ),
            (
                "[fingerprint]\ndevice = \"/dev/x\"\nmin_score = 0\n",
                "fingerprint.min_score",
            ),
            ("[fingerprint]\ndevice = \"/dev/x\"\nspeed = 1\n", "speed"),
            ("[[scanner]]\nmode = \"hid\"\n", "scanner.device"),
            (
                "[[scanner]]\ndevice = \"/dev/a\"\n[[scanner]]\ndevice = \"/dev/a\"\n",
                "configured twice",
            ),
            ("[gpio.strike]\nenabled = true\n", "gpio.strike.enabled"),
            ("[gpio]\nled_red = 5\nbuzzer = 5\n", "gpio.buzzer"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text:?} → {err}");
            assert!(err.contains("/etc/cubby/cubby.toml"), "{err}");
        }
    }

    #[test]
    fn device_sections_round_trip_through_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cubby.toml");
        let mut c = Config::default();
        c.save(&path).unwrap();
        let plain = std::fs::read_to_string(&path).unwrap();
        assert!(
            !plain.contains("[gpio"),
            "defaults are not written: {plain}"
        );
        c.fingerprint = Some(FingerprintConfig::at("/dev/ttyUSB0"));
        c.scanner = vec![ScannerConfig {
            device: Some("/dev/input/event3".into()),
            ..ScannerConfig::default()
        }];
        c.gpio.simulate = true;
        c.gpio.strike.enabled = true;
        c.gpio.strike.pin = Some(17);
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
    }

    #[test]
    fn reader_config_carries_every_value() {
        let mut fp = FingerprintConfig::at("/dev/ttyUSB0");
        fp.password = 7;
        fp.reply_timeout_ms = 500;
        fp.finger_timeout_s = 9;
        fp.char_buffers = 6;
        let r = fp.reader();
        assert_eq!(r.path, PathBuf::from("/dev/ttyUSB0"));
        assert_eq!(r.password, 7);
        assert_eq!(r.reply_timeout, Duration::from_millis(500));
        assert_eq!(r.finger_timeout, Duration::from_secs(9));
        assert_eq!(r.char_buffers, 6);
        assert_eq!(r.address, 0xFFFF_FFFF);
    }
}
