//! The fingerprint reader: R30x-family modules (R503, R307, R305, AS608, ZFM-20) on a UART.
//!
//! Layout, one job per file:
//!
//! - [`codec`]: the packet format, checksums, a resyncing streaming decoder and every
//!   confirmation code with a human message. Pure.
//! - [`driver`]: [`R30x`], the blocking serial driver (`serialport`): password, system
//!   parameters, capture, search with a score threshold, enroll into a free slot, delete,
//!   empty, count, index table, ring LED.
//! - [`service`]: [`FingerprintService`], a dedicated thread that owns a reader, scans for
//!   fingers, reopens a disconnected port every few seconds and reports `ok` / `absent` /
//!   `fault: reason`. This is what the runtime holds.
//! - [`module`]: [`EmulatedModule`], a pure model of a module's firmware (library, buffers,
//!   password, parameters) answering packets byte for byte.
//! - [`emulator`]: that model served on a pseudo-terminal ([`spawn_emulator`]), with test
//!   hooks (place a finger, line noise, unplug/replug) and the `cubby fingerprint-emulator`
//!   command loop ([`run_emulator_cli`]).
//!
//! Privacy: templates never leave the sensor. The kiosk only ever learns slot numbers and
//! match scores; the slot → person mapping lives in the store.
//!
//! All I/O here is blocking and meant for a thread of its own (the service's): never call
//! the driver from the UI thread or from an async task without `spawn_blocking`.

pub mod codec;
pub mod driver;
pub mod emulator;
pub mod module;
pub mod service;

use std::fmt;
use std::time::Duration;

pub use codec::Confirmation;
pub use driver::{R30x, ReaderConfig, SystemParameters};
pub use emulator::{
    identity_from_str, run_emulator_cli, serve_command_pipe, spawn_emulator, EmulatorHandle,
    EmulatorOptions,
};
pub use module::EmulatedModule;
pub use service::{FingerprintEvent, FingerprintService, ServiceOptions};

/// A template slot (page id) in the sensor's library, 0-based.
pub type Slot = u16;

/// A successful 1:N search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Match {
    /// The library slot that matched.
    pub slot: Slot,
    /// The module's match score (higher is surer; compare with the configured threshold).
    pub score: u16,
}

/// The outcome of one capture-and-search attempt ([`FingerprintReader::scan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Nothing on the sensor.
    NoFinger,
    /// A finger was read but the image was unusable (smudged, too small…): ask again.
    BadImage(Confirmation),
    /// A finger was read and is not in the library.
    NoMatch,
    /// A slot matched but with a score under the configured threshold (treated as no match).
    BelowThreshold(Match),
    /// A slot matched with a score at or above the threshold.
    Match(Match),
}

/// Steps of an enrollment, reported through the progress callback (and, under the
/// service, as [`FingerprintEvent::Enroll`]). Captures are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollProgress {
    /// Put the finger on the sensor for capture `capture` of `of`.
    PlaceFinger {
        /// This capture (1-based).
        capture: usize,
        /// Total captures.
        of: usize,
    },
    /// Capture `capture` was read.
    Captured {
        /// This capture (1-based).
        capture: usize,
        /// Total captures.
        of: usize,
    },
    /// The image was unusable; the same capture is asked again.
    Retry {
        /// The capture being retried (1-based).
        capture: usize,
        /// Why, in words a person can act on.
        reason: String,
    },
    /// Lift the finger before the next capture.
    LiftFinger,
    /// The template was stored.
    Stored {
        /// The slot it went to.
        slot: Slot,
    },
}

/// The ring LED of modules that have one (R503 and similar); a no-op on others.
///
/// Colours stay within those every R503 firmware has (red, blue, purple).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedState {
    /// Waiting for a finger: blue, breathing.
    Idle,
    /// Reading / working: purple, steady.
    Busy,
    /// Recognized or stored: purple, three flashes.
    Success,
    /// Not recognized or failed: red, three flashes.
    Failure,
    /// Off.
    Off,
}

/// Why an absent reader is absent (heartbeat and self-test word).
pub const READER_DISCONNECTED: &str = "fingerprint reader disconnected";

/// A device's health, as shown in heartbeats and by `cubby selftest`.
/// Displays as `ok`, `absent` or `fault: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Answering.
    Ok,
    /// Not plugged in (or unplugged): the screen says "fingerprint reader disconnected".
    Absent,
    /// Present but not working, with the reason.
    Fault(String),
}

impl DeviceStatus {
    /// A sentence for the staff and device screens.
    pub fn screen_text(&self) -> String {
        match self {
            DeviceStatus::Ok => "fingerprint reader ready".into(),
            DeviceStatus::Absent => READER_DISCONNECTED.into(),
            DeviceStatus::Fault(reason) => format!("fingerprint reader fault: {reason}"),
        }
    }
}

impl DeviceStatus {
    /// As the self-test, the heartbeat and the device screen report a device.
    pub fn health(&self) -> crate::selftest::DeviceHealth {
        use crate::selftest::DeviceHealth;
        match self {
            DeviceStatus::Ok => DeviceHealth::ok(),
            DeviceStatus::Absent => DeviceHealth::absent(self.screen_text()),
            DeviceStatus::Fault(why) => DeviceHealth::fault(why.clone()),
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceStatus::Ok => f.write_str("ok"),
            DeviceStatus::Absent => f.write_str("absent"),
            DeviceStatus::Fault(reason) => write!(f, "fault: {reason}"),
        }
    }
}

/// Everything that can go wrong talking to a reader.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// The port could not be opened (missing device, permissions, busy).
    #[error("cannot open fingerprint reader {path}: {reason}")]
    Open {
        /// The configured device path.
        path: String,
        /// Why, from the OS.
        reason: String,
        /// True when the device simply is not there (reported as `absent`).
        missing: bool,
    },
    /// The port went away mid-conversation (USB unplugged, pty closed).
    #[error("fingerprint reader disconnected ({0})")]
    Disconnected(String),
    /// No valid reply before the deadline.
    #[error(
        "no reply from the fingerprint reader within {0:?} (check wiring, baud rate and address)"
    )]
    Timeout(Duration),
    /// The module answered with a failure code.
    #[error("fingerprint reader {instruction} failed: {code}")]
    Module {
        /// The instruction's name.
        instruction: &'static str,
        /// What the module said.
        code: Confirmation,
    },
    /// The module answered something that does not fit the protocol.
    #[error("unexpected reply from the fingerprint reader: {0}")]
    Protocol(String),
    /// Every slot of the library is used.
    #[error("the fingerprint library is full ({capacity} templates); delete unused ones first")]
    LibraryFull {
        /// The module's capacity.
        capacity: u16,
    },
    /// No finger was placed (or lifted) in time during enrollment.
    #[error("no finger within {0:?}; enrollment cancelled")]
    FingerTimeout(Duration),
    /// The enrolled finger is already stored.
    #[error("this finger is already enrolled (slot {slot})")]
    AlreadyEnrolled {
        /// Where it is stored.
        slot: Slot,
    },
    /// The caller asked for something impossible.
    #[error("invalid fingerprint request: {0}")]
    Invalid(String),
    /// Any other I/O failure on the port.
    #[error("fingerprint reader I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl FingerprintError {
    /// True when the connection is gone or unusable and should be reopened.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            FingerprintError::Open { .. }
                | FingerprintError::Disconnected(_)
                | FingerprintError::Timeout(_)
                | FingerprintError::Io(_)
        )
    }

    /// The status this error leaves the reader in.
    pub fn status(&self) -> DeviceStatus {
        match self {
            FingerprintError::Open { missing: true, .. } | FingerprintError::Disconnected(_) => {
                DeviceStatus::Absent
            }
            FingerprintError::Open { reason, .. } => DeviceStatus::Fault(reason.clone()),
            FingerprintError::Timeout(_) => DeviceStatus::Fault("no reply from the reader".into()),
            FingerprintError::Module { code, .. } => DeviceStatus::Fault(code.message().into()),
            other => DeviceStatus::Fault(other.to_string()),
        }
    }

    /// The module's confirmation code, if the module refused.
    pub fn confirmation(&self) -> Option<Confirmation> {
        match self {
            FingerprintError::Module { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A fingerprint reader as the runtime sees it. Blocking: call from a dedicated thread
/// (see [`FingerprintService`]). [`R30x`] implements it over a serial port.
pub trait FingerprintReader: Send {
    /// One capture-and-search attempt; returns at once with [`Scan::NoFinger`] when the
    /// sensor is empty.
    fn scan(&mut self) -> Result<Scan, FingerprintError>;

    /// Who is on the sensor: `None` for no finger, an unusable image, no match, or a match
    /// under the score threshold.
    fn identify(&mut self) -> Result<Option<Match>, FingerprintError> {
        Ok(match self.scan()? {
            Scan::Match(m) => Some(m),
            _ => None,
        })
    }

    /// Enrolls one finger from `captures` (≥ 2) captures into a free slot and returns it.
    /// Blocks until done, waiting for the finger to be placed and lifted between captures.
    fn enroll(
        &mut self,
        captures: usize,
        progress: &mut dyn FnMut(EnrollProgress),
    ) -> Result<Slot, FingerprintError>;

    /// Deletes the template in `slot` (deleting an empty slot succeeds).
    fn delete(&mut self, slot: Slot) -> Result<(), FingerprintError>;

    /// Deletes every template.
    fn empty(&mut self) -> Result<(), FingerprintError>;

    /// How many templates are stored.
    fn template_count(&mut self) -> Result<u16, FingerprintError>;

    /// The slots in use, ascending (from the index table).
    fn enrolled_slots(&mut self) -> Result<Vec<Slot>, FingerprintError>;

    /// Sets the ring LED (a no-op on modules without one).
    fn led(&mut self, state: LedState) -> Result<(), FingerprintError>;

    /// Probes the reader now.
    fn status(&mut self) -> DeviceStatus;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_are_the_heartbeat_words() {
        assert_eq!(DeviceStatus::Ok.to_string(), "ok");
        assert_eq!(DeviceStatus::Absent.to_string(), "absent");
        assert_eq!(
            DeviceStatus::Fault("wrong reader password".into()).to_string(),
            "fault: wrong reader password"
        );
        assert_eq!(
            DeviceStatus::Absent.screen_text(),
            "fingerprint reader disconnected"
        );
    }

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(
            FingerprintError::Disconnected("eof".into()).status(),
            DeviceStatus::Absent
        );
        let e = FingerprintError::Module {
            instruction: "VfyPwd",
            code: Confirmation::WrongPassword,
        };
        assert!(matches!(e.status(), DeviceStatus::Fault(r) if r.contains("password")));
        assert!(!e.is_connection_lost());
        assert!(FingerprintError::Timeout(Duration::from_secs(1)).is_connection_lost());
        assert!(e
            .to_string()
            .contains("VfyPwd failed: wrong reader password"));
    }
}
