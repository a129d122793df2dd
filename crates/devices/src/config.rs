//! The device sections of the kiosk configuration (`[fingerprint]`, `[[scanner]]`,
//! `[gpio]`): the TOML shapes, their defaults (nothing configured = absent, strike
//! disabled) and their validation. the kiosk's `Config` embeds them; the structs of the
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
