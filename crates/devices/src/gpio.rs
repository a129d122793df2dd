//! Door outputs on GPIO: the door strike relay, green and red LEDs and the buzzer, behind
//! the [`DoorIo`] trait, with three implementations:
//!
//! - [`CdevIo`]: the real driver, on the Linux GPIO character device (`/dev/gpiochipN`,
//!   uAPI v2, kernel 5.10+) through the `gpiocdev` crate. Works on every Pi (4:
//!   `pinctrl-bcm2711`, 5: RP1); lines are driven by a worker thread so pulses and buzzer
//!   patterns never block the caller.
//! - [`SimulatedIo`]: records every action with a timestamp ([`SimLog`]); tests and
//!   `cubby demo` use it.
//! - [`AbsentIo`]: off a Pi, without permission, or with nothing configured: does nothing and
//!   reports `absent: <why>`, so everything else keeps working.
//!
//! Safety rule of the strike: the relay is forced to the locked (inactive) level when the
//! driver starts and again when it is dropped, and [`door_feedback`] pulses it only after a
//! completed check-in or check-out, only when enabled, never on a refusal.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::selftest::DeviceHealth;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Default length of a strike pulse.
pub const DEFAULT_PULSE_MS: u32 = 3000;
/// Longest strike pulse the configuration accepts.
pub const MAX_PULSE_MS: u32 = 30_000;
/// How long the green or red LED stays lit after a transaction.
pub const FEEDBACK_LED_MS: u32 = 2000;

// ---------------------------------------------------------------- configuration

/// `[gpio]` in the kiosk configuration. Pins are BCM numbers (line offsets of the chip),
/// not header pin numbers. An omitted pin leaves that output unused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GpioConfig {
    /// GPIO character device; default: the chip of the Pi's 40-pin header, found by label.
    pub chip: Option<PathBuf>,
    pub led_green: Option<u32>,
    pub led_red: Option<u32>,
    /// An active buzzer (on while the pin is high).
    pub buzzer: Option<u32>,
    /// `[gpio.strike]`: the door strike relay.
    pub strike: StrikeConfig,
    /// Drive no pin: record every output in the log instead ([`SimulatedIo`]). The demo
    /// sets it; also handy on a bench without relays.
    pub simulate: bool,
}

/// `[gpio.strike]`: the door strike relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrikeConfig {
    /// Pulse the strike after a completed check-in/out. Off by default: a center turns it on
    /// once the relay is wired and tested.
    pub enabled: bool,
    /// BCM pin of the relay input. With a pin but `enabled = false` the relay is still held
    /// locked.
    pub pin: Option<u32>,
    /// The relay opens the door when the pin is high (true) or low (false).
    pub active_high: bool,
    /// How long the door stays unlocked.
    pub pulse_ms: u32,
}

impl Default for StrikeConfig {
    fn default() -> Self {
        StrikeConfig {
            enabled: false,
            pin: None,
            active_high: true,
            pulse_ms: DEFAULT_PULSE_MS,
        }
    }
}

impl GpioConfig {
    /// Any output configured at all?
    pub fn any_pin(&self) -> bool {
        self.led_green.is_some()
            || self.led_red.is_some()
            || self.buzzer.is_some()
            || self.strike.pin.is_some()
    }

    /// Check values: `Err((key, problem))` naming the offending key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.strike.enabled && self.strike.pin.is_none() {
            return Err((
                "gpio.strike.enabled",
                "is true but gpio.strike.pin is not set".into(),
            ));
        }
        if self.strike.pulse_ms == 0 || self.strike.pulse_ms > MAX_PULSE_MS {
            return Err((
                "gpio.strike.pulse_ms",
                format!("must be between 1 and {MAX_PULSE_MS}"),
            ));
        }
        let pins = [
            ("gpio.strike.pin", self.strike.pin),
            ("gpio.led_green", self.led_green),
            ("gpio.led_red", self.led_red),
            ("gpio.buzzer", self.buzzer),
        ];
        for (i, (key, pin)) in pins.iter().enumerate() {
            let Some(pin) = pin else { continue };
            if *pin >= 64 {
                return Err((key, format!("pin {pin} is not a GPIO line of a Pi (0-63)")));
            }
            if let Some((other, _)) = pins[..i].iter().find(|(_, p)| *p == Some(*pin)) {
                return Err((key, format!("pin {pin} is already used by {other}")));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- the trait

/// The two feedback LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Led {
    Green,
    Red,
}

/// Buzzer patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Buzz {
    /// One short beep.
    Success,
    /// Three short beeps.
    Refusal,
}

impl Buzz {
    /// `(on ms, off ms)` steps of the pattern.
    pub fn steps(self) -> &'static [(u32, u32)] {
        match self {
            Buzz::Success => &[(120, 0)],
            Buzz::Refusal => &[(90, 90), (90, 90), (90, 0)],
        }
    }
}

/// What happened at the door, for [`door_feedback`] (the state machine's
/// `Effect::Feedback`).
pub use cubby_core::kiosk::DoorOutcome;

/// The door's outputs. Calls never block for the length of a pulse or a pattern.
pub trait DoorIo: Send {
    /// Unlock the door for `ms`, then lock it again.
    fn pulse_strike(&mut self, ms: u32);
    /// Switch an LED on or off (cancels a running flash of that LED).
    fn set_led(&mut self, led: Led, on: bool);
    /// Light an LED for `ms`, then switch it off.
    fn flash_led(&mut self, led: Led, ms: u32);
    /// Play a buzzer pattern (replaces one still playing).
    fn buzz(&mut self, pattern: Buzz);
    /// Its health now (heartbeat, self-test, device screen).
    fn status(&self) -> DeviceHealth;
    /// The configured strike pulse length.
    fn strike_pulse_ms(&self) -> u32 {
        DEFAULT_PULSE_MS
    }
}

/// LEDs, buzzer and (when `strike_enabled`) the strike after a transaction: the strike
/// pulses only on a completed check-in or check-out, never on a refusal.
pub fn door_feedback(io: &mut dyn DoorIo, outcome: DoorOutcome, strike_enabled: bool) {
    match outcome {
        DoorOutcome::CheckedIn | DoorOutcome::CheckedOut => {
            io.set_led(Led::Red, false);
            io.flash_led(Led::Green, FEEDBACK_LED_MS);
            io.buzz(Buzz::Success);
            if strike_enabled {
                let ms = io.strike_pulse_ms();
                io.pulse_strike(ms);
            }
        }
        DoorOutcome::Refused => {
            io.set_led(Led::Green, false);
            io.flash_led(Led::Red, FEEDBACK_LED_MS);
            io.buzz(Buzz::Refusal);
        }
    }
}

/// Open the real driver for `cfg`, or an [`AbsentIo`] saying why not (logged).
pub fn open_door_io(cfg: &GpioConfig) -> Box<dyn DoorIo> {
    match CdevIo::open(cfg) {
        Ok(io) => Box::new(io),
        Err(GpioOpenError::Absent(reason)) => {
            tracing::info!("GPIO absent: {reason}");
            Box::new(AbsentIo::new(reason))
        }
        Err(GpioOpenError::Fault(reason)) => {
            tracing::error!("GPIO fault: {reason}");
            Box::new(AbsentIo::fault(reason))
        }
    }
}

// ---------------------------------------------------------------- absent

/// No GPIO: every action is ignored; the status says why.
#[derive(Debug, Clone)]
pub struct AbsentIo {
    status: DeviceHealth,
}

impl AbsentIo {
    /// Absent (off a Pi, no permission, nothing configured).
    pub fn new(reason: impl Into<String>) -> AbsentIo {
        AbsentIo {
            status: DeviceHealth::absent(reason),
        }
    }

    /// Configured but unusable (pin busy or out of range): a fault for the self-test, yet
    /// the kiosk keeps working without GPIO.
    pub fn fault(reason: impl Into<String>) -> AbsentIo {
        AbsentIo {
            status: DeviceHealth::fault(reason),
        }
    }
}

impl DoorIo for AbsentIo {
    fn pulse_strike(&mut self, _ms: u32) {}
    fn set_led(&mut self, _led: Led, _on: bool) {}
    fn flash_led(&mut self, _led: Led, _ms: u32) {}
    fn buzz(&mut self, _pattern: Buzz) {}
    fn status(&self) -> DeviceHealth {
        self.status.clone()
    }
}

// ---------------------------------------------------------------- simulator

/// One action of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IoAction {
    /// Relay forced to locked (at start and on drop).
    StrikeLocked,
    StrikePulse {
        ms: u32,
    },
    Led {
        led: Led,
        on: bool,
    },
    LedFlash {
        led: Led,
        ms: u32,
    },
    Buzz {
        pattern: Buzz,
    },
}

/// A recorded action and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SimEntry {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub action: IoAction,
}

/// Shared view of a simulator's record; stays readable after the simulator is dropped.
#[derive(Debug, Clone, Default)]
pub struct SimLog(Arc<Mutex<Vec<SimEntry>>>);

impl SimLog {
    fn push(&self, action: IoAction) {
        tracing::debug!(?action, "simulated GPIO");
        let entry = SimEntry {
            at: Utc::now(),
            action,
        };
        match self.0.lock() {
            Ok(mut v) => v.push(entry),
            Err(poisoned) => poisoned.into_inner().push(entry),
        }
    }

    /// Every entry so far, oldest first.
    pub fn entries(&self) -> Vec<SimEntry> {
        match self.0.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Every action so far, oldest first.
    pub fn actions(&self) -> Vec<IoAction> {
        self.entries().into_iter().map(|e| e.action).collect()
    }

    /// Lengths of the strike pulses so far.
    pub fn strike_pulses(&self) -> Vec<u32> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                IoAction::StrikePulse { ms } => Some(ms),
                _ => None,
            })
            .collect()
    }

    pub fn clear(&self) {
        match self.0.lock() {
            Ok(mut v) => v.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }
}

/// Records every action ([`SimLog`]); status `ok`.
#[derive(Debug)]
pub struct SimulatedIo {
    log: SimLog,
    pulse_ms: u32,
}

impl SimulatedIo {
    /// A simulator whose strike pulse length is `pulse_ms`; records `StrikeLocked` at once.
    pub fn new(pulse_ms: u32) -> SimulatedIo {
        let log = SimLog::default();
        log.push(IoAction::StrikeLocked);
        SimulatedIo { log, pulse_ms }
    }

    /// A handle on the record (clone it before handing the simulator away).
    pub fn log(&self) -> SimLog {
        self.log.clone()
    }
}

impl Drop for SimulatedIo {
    fn drop(&mut self) {
        self.log.push(IoAction::StrikeLocked);
    }
}

impl DoorIo for SimulatedIo {
    fn pulse_strike(&mut self, ms: u32) {
        self.log.push(IoAction::StrikePulse { ms });
    }
    fn set_led(&mut self, led: Led, on: bool) {
        self.log.push(IoAction::Led { led, on });
    }
    fn flash_led(&mut self, led: Led, ms: u32) {
        self.log.push(IoAction::LedFlash { led, ms });
    }
    fn buzz(&mut self, pattern: Buzz) {
        self.log.push(IoAction::Buzz { pattern });
    }
    fn status(&self) -> DeviceHealth {
        DeviceHealth::ok()
    }
    fn strike_pulse_ms(&self) -> u32 {
        self.pulse_ms
    }
}

// ---------------------------------------------------------------- GPIO character device

/// Why [`CdevIo::open`] could not drive the pins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpioOpenError {
    /// Nothing to drive here (no chip, not a Pi, no permission, nothing configured).
    #[error("absent: {0}")]
    Absent(String),
    /// Configured but unusable: pin busy, out of range, kernel refusal.
    #[error("fault: {0}")]
    Fault(String),
}

/// Labels of the chips that carry a Raspberry Pi's 40-pin header (Pi 5, 4, 3/Zero).
const PI_HEADER_CHIPS: [&str; 3] = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835"];

/// The errno inside a `gpiocdev` error, when the kernel or the file system gave one.
fn errno_of(e: &gpiocdev::Error) -> Option<i32> {
    match e {
        gpiocdev::Error::Os(errno) => Some(errno.0),
        gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => Some(errno.0),
        _ => None,
    }
}

/// An open GPIO chip (`/dev/gpiochipN`): its path, label and number of lines.
struct Chip {
    path: PathBuf,
    label: String,
    lines: u32,
}

impl Chip {
    fn open(path: &Path) -> Result<Chip, GpioOpenError> {
        let opened = gpiocdev::chip::Chip::from_path(path).and_then(|c| c.info());
        let info = opened.map_err(|e| match (errno_of(&e), &e) {
            (Some(libc::ENOENT), _) => {
                GpioOpenError::Absent(format!("no GPIO chip at {}", path.display()))
            }
            (Some(libc::EACCES) | Some(libc::EPERM), _) => GpioOpenError::Absent(format!(
                "permission denied on {} (is the user in group gpio?)",
                path.display()
            )),
            (_, gpiocdev::Error::GpioChip(..)) | (_, gpiocdev::Error::Uapi(..)) => {
                GpioOpenError::Absent(format!("{} is not a GPIO chip: {e}", path.display()))
            }
            _ => GpioOpenError::Fault(format!("cannot open {}: {e}", path.display())),
        })?;
        Ok(Chip {
            path: path.to_path_buf(),
            label: info.label,
            lines: info.num_lines,
        })
    }

    /// The chip of the Pi's header: the first `/dev/gpiochip*` whose label is known.
    fn find_pi_header() -> Result<Chip, GpioOpenError> {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir("/dev") {
            Ok(dir) => dir
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("gpiochip"))
                })
                .collect(),
            Err(e) => return Err(GpioOpenError::Absent(format!("cannot list /dev: {e}"))),
        };
        if paths.is_empty() {
            return Err(GpioOpenError::Absent(
                "no GPIO chip (/dev/gpiochip*) on this machine".into(),
            ));
        }
        paths.sort();
        let mut last_err = None;
        for p in &paths {
            match Chip::open(p) {
                Ok(chip) if PI_HEADER_CHIPS.contains(&chip.label.as_str()) => return Ok(chip),
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            GpioOpenError::Absent(
                "no Raspberry Pi header GPIO chip found (set gpio.chip to use another)".into(),
            )
        }))
    }

    /// Request one line as an output at its inactive level (locked / off).
    fn request_output(
        &self,
        pin: u32,
        active_low: bool,
        what: &str,
    ) -> Result<gpiocdev::Request, GpioOpenError> {
        if pin >= self.lines {
            return Err(GpioOpenError::Fault(format!(
                "{what} pin {pin} does not exist on {} ({}, {} lines)",
                self.path.display(),
                self.label,
                self.lines
            )));
        }
        let mut builder = gpiocdev::Request::builder();
        builder
            .on_chip(&self.path)
            .with_consumer(format!("cubby-{what}"))
            .with_line(pin)
            .as_output(gpiocdev::line::Value::Inactive);
        if active_low {
            builder.as_active_low();
        }
        builder.request().map_err(|e| match errno_of(&e) {
            Some(libc::EBUSY) => {
                GpioOpenError::Fault(format!("{what} pin {pin} is used by another program"))
            }
            Some(libc::EACCES) | Some(libc::EPERM) => GpioOpenError::Absent(format!(
                "permission denied for {what} pin {pin} on {}",
                self.path.display()
            )),
            _ => GpioOpenError::Fault(format!("cannot claim {what} pin {pin}: {e}")),
        })
    }
}

/// Set one requested line to logical `active`.
fn set_line(line: &gpiocdev::Request, active: bool) -> Result<(), gpiocdev::Error> {
    line.set_lone_value(if active {
        gpiocdev::line::Value::Active
    } else {
        gpiocdev::line::Value::Inactive
    })
}

#[derive(Debug)]
enum Cmd {
    Pulse(u32),
    Led(Led, bool),
    Flash(Led, u32),
    Buzz(Buzz),
}

/// The lines the worker drives (`None`: not configured).
struct Lines {
    strike: Option<gpiocdev::Request>,
    green: Option<gpiocdev::Request>,
    red: Option<gpiocdev::Request>,
    buzzer: Option<gpiocdev::Request>,
}

/// Real GPIO through the Linux character device. Dropping it locks the strike, switches
/// everything off and releases the lines.
pub struct CdevIo {
    tx: Option<mpsc::Sender<Cmd>>,
    worker: Option<JoinHandle<()>>,
    fault: Arc<Mutex<Option<String>>>,
    strike_enabled: bool,
    pulse_ms: u32,
    label: String,
}

impl std::fmt::Debug for CdevIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdevIo")
            .field("chip", &self.label)
            .field("strike_enabled", &self.strike_enabled)
            .finish()
    }
}

impl CdevIo {
    /// Claim the configured pins, each at its inactive level (strike locked, LEDs and
    /// buzzer off), and start the worker.
    pub fn open(cfg: &GpioConfig) -> Result<CdevIo, GpioOpenError> {
        if !cfg.any_pin() {
            return Err(GpioOpenError::Absent("no GPIO pin configured".into()));
        }
        if let Err((key, problem)) = cfg.validate() {
            return Err(GpioOpenError::Fault(format!("{key} {problem}")));
        }
        let chip = match &cfg.chip {
            Some(p) => Chip::open(p)?,
            None => Chip::find_pi_header()?,
        };
        let out = |pin: Option<u32>, active_low: bool, what: &str| {
            pin.map(|p| chip.request_output(p, active_low, what))
                .transpose()
        };
        let lines = Lines {
            strike: out(cfg.strike.pin, !cfg.strike.active_high, "strike")?,
            green: out(cfg.led_green, false, "led-green")?,
            red: out(cfg.led_red, false, "led-red")?,
            buzzer: out(cfg.buzzer, false, "buzzer")?,
        };
        let label = format!("{} ({})", chip.path.display(), chip.label);
        tracing::info!(chip = %label, strike_enabled = cfg.strike.enabled, "GPIO ready, strike locked");
        let fault = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel();
        let worker_fault = Arc::clone(&fault);
        let worker = std::thread::Builder::new()
            .name("cubby-gpio".into())
            .spawn(move || run_worker(lines, rx, worker_fault))
            .map_err(|e| GpioOpenError::Fault(format!("cannot start GPIO thread: {e}")))?;
        Ok(CdevIo {
            tx: Some(tx),
            worker: Some(worker),
            fault,
            strike_enabled: cfg.strike.enabled,
            pulse_ms: cfg.strike.pulse_ms,
            label,
        })
    }

    fn send(&self, cmd: Cmd) {
        if let Some(tx) = &self.tx {
            if tx.send(cmd).is_err() {
                tracing::warn!("GPIO worker is gone; output ignored");
            }
        }
    }
}

impl Drop for CdevIo {
    fn drop(&mut self) {
        // Closing the channel makes the worker lock the strike and switch everything off.
        self.tx.take();
        if let Some(w) = self.worker.take() {
            if w.join().is_err() {
                tracing::error!("GPIO worker panicked");
            }
        }
    }
}

impl DoorIo for CdevIo {
    fn pulse_strike(&mut self, ms: u32) {
        if !self.strike_enabled {
            tracing::warn!("strike pulse ignored: gpio.strike.enabled is false");
            return;
        }
        self.send(Cmd::Pulse(ms.min(MAX_PULSE_MS)));
    }
    fn set_led(&mut self, led: Led, on: bool) {
        self.send(Cmd::Led(led, on));
    }
    fn flash_led(&mut self, led: Led, ms: u32) {
        self.send(Cmd::Flash(led, ms));
    }
    fn buzz(&mut self, pattern: Buzz) {
        self.send(Cmd::Buzz(pattern));
    }
    fn status(&self) -> DeviceHealth {
        let fault = match self.fault.lock() {
            Ok(f) => f.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match fault {
            Some(why) => DeviceHealth::fault(why),
            None if self.worker.as_ref().is_some_and(|w| w.is_finished()) => {
                DeviceHealth::fault("GPIO worker stopped")
            }
            None => DeviceHealth::ok(),
        }
    }
    fn strike_pulse_ms(&self) -> u32 {
        self.pulse_ms
    }
}

/// Pending timed transitions of the worker.
#[derive(Default)]
struct Timers {
    strike_lock_at: Option<Instant>,
    led_off_at: [Option<Instant>; 2],
    buzz: VecDeque<(Instant, bool)>,
}

impl Timers {
    fn next(&self) -> Option<Instant> {
        [self.strike_lock_at, self.led_off_at[0], self.led_off_at[1]]
            .into_iter()
            .flatten()
            .chain(self.buzz.front().map(|(t, _)| *t))
            .min()
    }
}

fn led_index(led: Led) -> usize {
    match led {
        Led::Green => 0,
        Led::Red => 1,
    }
}

fn run_worker(lines: Lines, rx: mpsc::Receiver<Cmd>, fault: Arc<Mutex<Option<String>>>) {
    let set = |fd: &Option<gpiocdev::Request>, active: bool, what: &str| {
        if let Some(fd) = fd {
            if let Err(e) = set_line(fd, active) {
                let why = format!("cannot set {what}: {e}");
                tracing::error!("GPIO {why}");
                match fault.lock() {
                    Ok(mut f) => *f = Some(why),
                    Err(p) => *p.into_inner() = Some(why),
                }
            }
        }
    };
    let led_fd = |i: usize| if i == 0 { &lines.green } else { &lines.red };
    // Forced locked at start (the request already set it; say it once more).
    set(&lines.strike, false, "strike");
    let mut t = Timers::default();
    loop {
        let now = Instant::now();
        if t.strike_lock_at.is_some_and(|at| at <= now) {
            t.strike_lock_at = None;
            set(&lines.strike, false, "strike");
        }
        for i in 0..2 {
            if t.led_off_at[i].is_some_and(|at| at <= now) {
                t.led_off_at[i] = None;
                set(led_fd(i), false, "LED");
            }
        }
        while t.buzz.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, on)) = t.buzz.pop_front() {
                set(&lines.buzzer, on, "buzzer");
            }
        }
        let cmd = match t.next() {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(c) => c,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(c) => c,
                Err(_) => break,
            },
        };
        let now = Instant::now();
        match cmd {
            Cmd::Pulse(ms) => {
                set(&lines.strike, true, "strike");
                t.strike_lock_at = Some(now + Duration::from_millis(u64::from(ms)));
            }
            Cmd::Led(led, on) => {
                let i = led_index(led);
                t.led_off_at[i] = None;
                set(led_fd(i), on, "LED");
            }
            Cmd::Flash(led, ms) => {
                let i = led_index(led);
                set(led_fd(i), true, "LED");
                t.led_off_at[i] = Some(now + Duration::from_millis(u64::from(ms)));
            }
            Cmd::Buzz(pattern) => {
                t.buzz.clear();
                let mut at = now;
                for (on_ms, off_ms) in pattern.steps() {
                    t.buzz.push_back((at, true));
                    at += Duration::from_millis(u64::from(*on_ms));
                    t.buzz.push_back((at, false));
                    at += Duration::from_millis(u64::from(*off_ms));
                }
            }
        }
    }
    // Forced locked on exit, everything off.
    set(&lines.strike, false, "strike");
    set(&lines.green, false, "LED");
    set(&lines.red, false, "LED");
    set(&lines.buzzer, false, "buzzer");
    tracing::info!("GPIO released, strike locked");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let cfg: GpioConfig = toml::from_str("").unwrap();
        assert!(!cfg.strike.enabled);
        assert!(cfg.strike.active_high);
        assert_eq!(cfg.strike.pulse_ms, DEFAULT_PULSE_MS);
        assert!(!cfg.any_pin());
        assert!(cfg.validate().is_ok());

        let cfg: GpioConfig = toml::from_str(
            "led_green = 27\nled_red = 22\nbuzzer = 23\n[strike]\nenabled = true\npin = 17\nactive_high = false\npulse_ms = 5000\n",
        )
        .unwrap();
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.strike.pin, Some(17));

        let mut bad = cfg.clone();
        bad.strike.pin = None;
        assert_eq!(bad.validate().unwrap_err().0, "gpio.strike.enabled");
        let mut bad = cfg.clone();
        bad.buzzer = Some(27);
        let (key, why) = bad.validate().unwrap_err();
        assert_eq!(key, "gpio.buzzer");
        assert!(why.contains("gpio.led_green"), "{why}");
        let mut bad = cfg;
        bad.strike.pulse_ms = 0;
        assert_eq!(bad.validate().unwrap_err().0, "gpio.strike.pulse_ms");
        assert!(toml::from_str::<GpioConfig>("door = 1").is_err());
    }

    #[test]
    fn absent_and_unconfigured() {
        let io = open_door_io(&GpioConfig::default());
        assert_eq!(io.status().to_string(), "absent: no GPIO pin configured");
        let missing = GpioConfig {
            chip: Some(PathBuf::from("/nonexistent/gpiochip9")),
            led_green: Some(27),
            ..GpioConfig::default()
        };
        let err = CdevIo::open(&missing).unwrap_err();
        assert!(
            matches!(err, GpioOpenError::Absent(ref w) if w.contains("/nonexistent/gpiochip9")),
            "{err}"
        );
        let not_a_chip = GpioConfig {
            chip: Some(PathBuf::from("/dev/null")),
            led_green: Some(27),
            ..GpioConfig::default()
        };
        assert!(matches!(
            CdevIo::open(&not_a_chip),
            Err(GpioOpenError::Absent(_))
        ));
    }

    #[test]
    fn buzz_patterns() {
        assert_eq!(Buzz::Success.steps().len(), 1);
        assert_eq!(Buzz::Refusal.steps().len(), 3);
    }
}
