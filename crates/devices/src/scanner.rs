//! QR/barcode scanners: USB HID scanners in keyboard mode (evdev, grabbed so scans never
//! type into the UI) and serial-mode scanners (line-terminated). Each scanner runs in its
//! own thread, delivers each complete scan as a `String` to a [`ScanSink`] (a channel),
//! reports its [`DeviceHealth`], and reopens a vanished device every few
//! seconds.
//!
//! Decoding is pure and tested without hardware: [`HidDecoder`] turns `(key code, value)`
//! events into text (US layout, shift and caps lock; Enter ends a scan) and
//! [`LineSplitter`] cuts serial bytes into lines (CR, LF or CRLF). Scan texts are never
//! logged (they are QR tokens): only their length.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::selftest::{DeviceHealth, NOT_CONFIGURED};
use evdev::KeyCode;
use serde::{Deserialize, Serialize};

/// Longest scan accepted; longer ones are dropped whole (a Cubby code is ~220 characters,
/// the largest QR code holds ~4300).
pub const MAX_SCAN_LEN: usize = 4096;
/// A partial scan with no key or byte for this long is thrown away (resync).
pub const STALE_AFTER: Duration = Duration::from_secs(1);
/// How often a missing or broken scanner is reopened.
pub const RETRY_EVERY: Duration = Duration::from_secs(3);
/// How often the reading threads look at their stop flag.
const POLL_EVERY: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------- configuration

/// How the scanner talks to the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScannerMode {
    /// `hid` for a path under `/dev/input/`, else `serial`.
    #[default]
    Auto,
    /// USB HID keyboard mode (evdev node).
    Hid,
    /// Serial / USB CDC-ACM mode (a tty), line-terminated.
    Serial,
}

/// `[scanner]` in the kiosk configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerConfig {
    /// Device path (`/dev/input/cubby-scanner`, `/dev/input/by-id/…-event-kbd`,
    /// `/dev/ttyACM0`). None: no scanner.
    pub device: Option<PathBuf>,
    pub mode: ScannerMode,
    /// Serial mode only.
    pub baud: u32,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            device: None,
            mode: ScannerMode::Auto,
            baud: 9600,
        }
    }
}

impl ScannerConfig {
    /// The mode to use for the configured path (`Auto` resolved).
    pub fn effective_mode(&self) -> ScannerMode {
        match (self.mode, &self.device) {
            (ScannerMode::Auto, Some(p)) if p.starts_with("/dev/input") => ScannerMode::Hid,
            (ScannerMode::Auto, _) => ScannerMode::Serial,
            (m, _) => m,
        }
    }

    /// Check values: `Err((key, problem))` naming the offending key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(p) = &self.device {
            if p.as_os_str().is_empty() {
                return Err((
                    "scanner.device",
                    "is empty (omit it when there is no scanner)".into(),
                ));
            }
        }
        if self.baud == 0 || self.baud > 4_000_000 {
            return Err(("scanner.baud", format!("{} is not a baud rate", self.baud)));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- HID decoding

/// Linux key event values.
pub const KEY_RELEASED: i32 = 0;
pub const KEY_PRESSED: i32 = 1;
pub const KEY_REPEATED: i32 = 2;

/// The character a key types on a US layout, if any.
pub fn key_char(code: u16, shift: bool, caps_lock: bool) -> Option<char> {
    let k = KeyCode(code);
    let letter = match k {
        KeyCode::KEY_A => 'a',
        KeyCode::KEY_B => 'b',
        KeyCode::KEY_C => 'c',
        KeyCode::KEY_D => 'd',
        KeyCode::KEY_E => 'e',
        KeyCode::KEY_F => 'f',
        KeyCode::KEY_G => 'g',
        KeyCode::KEY_H => 'h',
        KeyCode::KEY_I => 'i',
        KeyCode::KEY_J => 'j',
        KeyCode::KEY_K => 'k',
        KeyCode::KEY_L => 'l',
        KeyCode::KEY_M => 'm',
        KeyCode::KEY_N => 'n',
        KeyCode::KEY_O => 'o',
        KeyCode::KEY_P => 'p',
        KeyCode::KEY_Q => 'q',
        KeyCode::KEY_R => 'r',
        KeyCode::KEY_S => 's',
        KeyCode::KEY_T => 't',
        KeyCode::KEY_U => 'u',
        KeyCode::KEY_V => 'v',
        KeyCode::KEY_W => 'w',
        KeyCode::KEY_X => 'x',
        KeyCode::KEY_Y => 'y',
        KeyCode::KEY_Z => 'z',
        _ => '\0',
    };
    if letter != '\0' {
        return Some(if shift ^ caps_lock {
            letter.to_ascii_uppercase()
        } else {
            letter
        });
    }
    let (plain, shifted) = match k {
        KeyCode::KEY_1 => ('1', '!'),
        KeyCode::KEY_2 => ('2', '@'),
        KeyCode::KEY_3 => ('3', '#'),
        KeyCode::KEY_4 => ('4', '$'),
        KeyCode::KEY_5 => ('5', '%'),
        KeyCode::KEY_6 => ('6', '^'),
        KeyCode::KEY_7 => ('7', '&'),
        KeyCode::KEY_8 => ('8', '*'),
        KeyCode::KEY_9 => ('9', '('),
        KeyCode::KEY_0 => ('0', ')'),
        KeyCode::KEY_MINUS => ('-', '_'),
        KeyCode::KEY_EQUAL => ('=', '+'),
        KeyCode::KEY_LEFTBRACE => ('[', '{'),
        KeyCode::KEY_RIGHTBRACE => (']', '}'),
        KeyCode::KEY_SEMICOLON => (';', ':'),
        KeyCode::KEY_APOSTROPHE => ('\'', '"'),
        KeyCode::KEY_GRAVE => ('`', '~'),
        KeyCode::KEY_BACKSLASH => ('\\', '|'),
        KeyCode::KEY_COMMA => (',', '<'),
        KeyCode::KEY_DOT => ('.', '>'),
        KeyCode::KEY_SLASH => ('/', '?'),
        KeyCode::KEY_SPACE => (' ', ' '),
        // The keypad types the same with or without shift (num lock assumed on).
        KeyCode::KEY_KP0 => ('0', '0'),
        KeyCode::KEY_KP1 => ('1', '1'),
        KeyCode::KEY_KP2 => ('2', '2'),
        KeyCode::KEY_KP3 => ('3', '3'),
        KeyCode::KEY_KP4 => ('4', '4'),
        KeyCode::KEY_KP5 => ('5', '5'),
        KeyCode::KEY_KP6 => ('6', '6'),
        KeyCode::KEY_KP7 => ('7', '7'),
        KeyCode::KEY_KP8 => ('8', '8'),
        KeyCode::KEY_KP9 => ('9', '9'),
        KeyCode::KEY_KPDOT => ('.', '.'),
        KeyCode::KEY_KPMINUS => ('-', '-'),
        KeyCode::KEY_KPPLUS => ('+', '+'),
        KeyCode::KEY_KPASTERISK => ('*', '*'),
        KeyCode::KEY_KPSLASH => ('/', '/'),
        _ => return None,
    };
    Some(if shift { shifted } else { plain })
}

/// Turns key events of a keyboard-mode scanner into scans. Feed every `EV_KEY` event in
/// order; a complete scan comes out at Enter.
#[derive(Debug, Clone)]
pub struct HidDecoder {
    left_shift: bool,
    right_shift: bool,
    caps_lock: bool,
    /// Ctrl / Alt / Meta held: keys typed with them are not text.
    chord: u8,
    buf: String,
    overflow: bool,
    max_len: usize,
}

impl Default for HidDecoder {
    fn default() -> Self {
        HidDecoder::new(MAX_SCAN_LEN)
    }
}

impl HidDecoder {
    pub fn new(max_len: usize) -> HidDecoder {
        HidDecoder {
            left_shift: false,
            right_shift: false,
            caps_lock: false,
            chord: 0,
            buf: String::new(),
            overflow: false,
            max_len,
        }
    }

    /// Feed one key event (`value`: 0 released, 1 pressed, 2 autorepeat). Returns the scan
    /// when this event was the Enter that ends a non-empty, not over-long scan.
    pub fn feed(&mut self, code: u16, value: i32) -> Option<String> {
        let pressed = match value {
            KEY_PRESSED => true,
            KEY_RELEASED => false,
            // Autorepeat: a scanner never holds a key on purpose.
            _ => return None,
        };
        let k = KeyCode(code);
        match k {
            KeyCode::KEY_LEFTSHIFT => self.left_shift = pressed,
            KeyCode::KEY_RIGHTSHIFT => self.right_shift = pressed,
            KeyCode::KEY_CAPSLOCK if pressed => self.caps_lock = !self.caps_lock,
            KeyCode::KEY_CAPSLOCK => {}
            KeyCode::KEY_LEFTCTRL
            | KeyCode::KEY_RIGHTCTRL
            | KeyCode::KEY_LEFTALT
            | KeyCode::KEY_RIGHTALT
            | KeyCode::KEY_LEFTMETA
            | KeyCode::KEY_RIGHTMETA => {
                let bit = match k {
                    KeyCode::KEY_LEFTCTRL => 1,
                    KeyCode::KEY_RIGHTCTRL => 2,
                    KeyCode::KEY_LEFTALT => 4,
                    KeyCode::KEY_RIGHTALT => 8,
                    KeyCode::KEY_LEFTMETA => 16,
                    _ => 32,
                };
                if pressed {
                    self.chord |= bit;
                } else {
                    self.chord &= !bit;
                }
            }
            KeyCode::KEY_ENTER | KeyCode::KEY_KPENTER if pressed => return self.finish(),
            _ if pressed && self.chord == 0 => {
                let shift = self.left_shift || self.right_shift;
                if let Some(c) = key_char(code, shift, self.caps_lock) {
                    if self.buf.len() >= self.max_len {
                        self.overflow = true;
                        self.buf.clear();
                    } else if !self.overflow {
                        self.buf.push(c);
                    }
                }
            }
            _ => {}
        }
        None
    }

    fn finish(&mut self) -> Option<String> {
        let overflow = std::mem::take(&mut self.overflow);
        let text = std::mem::take(&mut self.buf);
        if overflow {
            tracing::warn!(
                max = self.max_len,
                "scanner sent an over-long scan: dropped"
            );
            return None;
        }
        if text.is_empty() {
            None
        } else {
            Some(text)
        }
    }

    /// Something typed but not yet ended by Enter?
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflow
    }

    /// Throw away a partial scan (modifier state is kept).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflow = false;
    }
}

/// Decode a whole sequence of `(key code, value)` events into the scans it contains.
pub fn decode_keys(events: impl IntoIterator<Item = (u16, i32)>) -> Vec<String> {
    let mut d = HidDecoder::default();
    events
        .into_iter()
        .filter_map(|(code, value)| d.feed(code, value))
        .collect()
}

// ---------------------------------------------------------------- serial decoding

/// Cuts a serial scanner's byte stream into scans: a line ends at CR, LF or CRLF; empty
/// lines are ignored; a line longer than the maximum is dropped whole; control bytes
/// (STX/ETX framing, NUL) around a line are trimmed; invalid UTF-8 is replaced (the QR
/// verifier then refuses it calmly).
#[derive(Debug, Clone)]
pub struct LineSplitter {
    buf: Vec<u8>,
    overflow: bool,
    max_len: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new(MAX_SCAN_LEN)
    }
}

impl LineSplitter {
    pub fn new(max_len: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            overflow: false,
            max_len,
        }
    }

    /// Add bytes; return the lines they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if std::mem::take(&mut self.overflow) {
                    tracing::warn!(
                        max = self.max_len,
                        "serial scanner sent an over-long line: dropped"
                    );
                } else if let Some(line) = clean_line(&self.buf) {
                    out.push(line);
                }
                self.buf.clear();
            } else if self.overflow {
                // Skip until the end of this line.
            } else if self.buf.len() >= self.max_len {
                self.overflow = true;
                self.buf.clear();
            } else {
                self.buf.push(b);
            }
        }
        out
    }

    /// Something received but not yet ended by a line terminator?
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflow
    }

    /// Throw away a partial line.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflow = false;
    }
}

fn clean_line(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c.is_ascii_control() || c.is_ascii_whitespace());
    if text.is_empty() {
        None
    } else {
        Some(text.to_string())
    }
}

// ---------------------------------------------------------------- delivery

/// Where a scanner thread delivers scans. `deliver` returns false when nobody listens any
/// more: the thread then stops.
pub trait ScanSink: Send + 'static {
    fn deliver(&self, scan: String) -> bool;
}

impl ScanSink for std::sync::mpsc::Sender<String> {
    fn deliver(&self, scan: String) -> bool {
        self.send(scan).is_ok()
    }
}

impl ScanSink for std::sync::mpsc::SyncSender<String> {
    fn deliver(&self, scan: String) -> bool {
        self.send(scan).is_ok()
    }
}

impl ScanSink for tokio::sync::mpsc::UnboundedSender<String> {
    fn deliver(&self, scan: String) -> bool {
        self.send(scan).is_ok()
    }
}

/// Bounded tokio channel: the scanner thread (never a tokio worker) waits for room.
impl ScanSink for tokio::sync::mpsc::Sender<String> {
    fn deliver(&self, scan: String) -> bool {
        self.blocking_send(scan).is_ok()
    }
}

// ---------------------------------------------------------------- threads

/// Timing knobs of a scanner thread (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct ScannerOptions {
    pub retry_every: Duration,
    pub stale_after: Duration,
    pub max_len: usize,
}

impl Default for ScannerOptions {
    fn default() -> Self {
        ScannerOptions {
            retry_every: RETRY_EVERY,
            stale_after: STALE_AFTER,
            max_len: MAX_SCAN_LEN,
        }
    }
}

/// Why a scanner is not delivering.
#[derive(Debug)]
enum Trouble {
    Absent(String),
    Fault(String),
}

impl Trouble {
    fn health(self) -> DeviceHealth {
        match self {
            Trouble::Absent(why) => DeviceHealth::absent(why),
            Trouble::Fault(why) => DeviceHealth::fault(why),
        }
    }
}

#[derive(Debug, Clone)]
struct Shared {
    status: Arc<Mutex<DeviceHealth>>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn set(&self, status: DeviceHealth) {
        let mut s = match self.status.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if *s != status {
            if status.is_ok() {
                tracing::info!("scanner ready");
            } else {
                tracing::warn!("scanner {status}");
            }
            *s = status;
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleep up to `d`, waking early when asked to stop.
    fn nap(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// A running scanner (or none). Dropping it stops its thread (within ~0.2 s).
#[derive(Debug)]
pub struct Scanner {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl Scanner {
    /// No scanner configured: status `absent: not configured`.
    pub fn none() -> Scanner {
        Scanner {
            shared: Shared {
                status: Arc::new(Mutex::new(DeviceHealth::absent(NOT_CONFIGURED))),
                stop: Arc::new(AtomicBool::new(true)),
            },
            thread: None,
        }
    }

    /// Start the scanner `cfg` describes (or [`Scanner::none`]).
    pub fn spawn(cfg: &ScannerConfig, sink: impl ScanSink) -> Scanner {
        match &cfg.device {
            None => Scanner::none(),
            Some(path) => match cfg.effective_mode() {
                ScannerMode::Serial => {
                    Scanner::spawn_serial(path, cfg.baud, sink, ScannerOptions::default())
                }
                _ => Scanner::spawn_hid(path, sink, ScannerOptions::default()),
            },
        }
    }

    /// A USB HID scanner in keyboard mode at `path` (an evdev node), grabbed exclusively.
    pub fn spawn_hid(path: &Path, sink: impl ScanSink, opts: ScannerOptions) -> Scanner {
        let path = path.to_path_buf();
        Scanner::start("cubby-scan-hid", move |shared| {
            run_loop(shared, &opts, |shared| {
                read_hid(&path, shared, &sink, &opts)
            })
        })
    }

    /// A serial-mode scanner at `path` (8N1 at `baud`), line-terminated.
    pub fn spawn_serial(
        path: &Path,
        baud: u32,
        sink: impl ScanSink,
        opts: ScannerOptions,
    ) -> Scanner {
        let path = path.to_path_buf();
        Scanner::start("cubby-scan-serial", move |shared| {
            run_loop(shared, &opts, |shared| {
                read_serial(&path, baud, shared, &sink, &opts)
            })
        })
    }

    fn start(name: &str, body: impl FnOnce(Shared) + Send + 'static) -> Scanner {
        let shared = Shared {
            status: Arc::new(Mutex::new(DeviceHealth::absent("starting"))),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let for_thread = shared.clone();
        let thread = match std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(for_thread))
        {
            Ok(t) => Some(t),
            Err(e) => {
                shared.set(DeviceHealth::fault(format!(
                    "cannot start scanner thread: {e}"
                )));
                None
            }
        };
        Scanner { shared, thread }
    }

    /// `ok`, `absent: why` or `fault: why`.
    pub fn status(&self) -> DeviceHealth {
        match self.shared.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("scanner thread panicked");
            }
        }
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One-shot check for `cubby selftest`, without a thread: `ok`, `ok: why`, `absent: why` or
/// `fault: why`. The device is opened and released, not grabbed, so a running kiosk that
/// holds it keeps it (a serial port it holds reports `ok: in use …`).
pub fn probe(cfg: &ScannerConfig) -> DeviceHealth {
    let Some(path) = &cfg.device else {
        return DeviceHealth::absent(NOT_CONFIGURED);
    };
    let result = match cfg.effective_mode() {
        ScannerMode::Serial => {
            let path_text = path.to_string_lossy().into_owned();
            match serialport::new(path_text, cfg.baud)
                .timeout(POLL_EVERY)
                .open_native()
            {
                Ok(_) => Ok(()),
                Err(e) => match e.kind() {
                    serialport::ErrorKind::NoDevice => {
                        return DeviceHealth::ok_seen(format!(
                            "{} is in use (by the running kiosk?)",
                            path.display()
                        ))
                    }
                    serialport::ErrorKind::Io(kind) => Err(open_error(
                        path,
                        &std::io::Error::new(kind, e.description),
                        "dialout",
                    )),
                    _ => Err(Trouble::Fault(format!(
                        "cannot open {}: {}",
                        path.display(),
                        e.description
                    ))),
                },
            }
        }
        _ => match evdev::Device::open(path) {
            Ok(dev)
                if dev.supported_keys().is_some_and(|k| {
                    k.contains(KeyCode::KEY_ENTER) && k.contains(KeyCode::KEY_1)
                }) =>
            {
                Ok(())
            }
            Ok(_) => Err(Trouble::Fault(format!(
                "{} is not a keyboard-mode scanner (no Enter or digit keys)",
                path.display()
            ))),
            Err(e) => Err(open_error(path, &e, "input")),
        },
    };
    match result {
        Ok(()) => DeviceHealth::ok(),
        Err(trouble) => trouble.health(),
    }
}

/// Open / read / report / retry until stopped or the sink is gone.
/// `session` returns `Ok(())` when it should end for good (stop asked, sink closed).
fn run_loop(
    shared: Shared,
    opts: &ScannerOptions,
    mut session: impl FnMut(&Shared) -> Result<(), Trouble>,
) {
    while !shared.stopping() {
        match session(&shared) {
            Ok(()) => break,
            Err(trouble) => shared.set(trouble.health()),
        }
        shared.nap(opts.retry_every);
    }
}

fn open_error(path: &Path, e: &std::io::Error, group: &str) -> Trouble {
    match e.kind() {
        std::io::ErrorKind::NotFound => Trouble::Absent(format!("no device at {}", path.display())),
        std::io::ErrorKind::PermissionDenied => Trouble::Fault(format!(
            "permission denied on {} (is the user in group {group}?)",
            path.display()
        )),
        _ if e.raw_os_error() == Some(libc::ENODEV) || e.raw_os_error() == Some(libc::ENXIO) => {
            Trouble::Absent(format!("no device at {}", path.display()))
        }
        _ => Trouble::Fault(format!("cannot open {}: {e}", path.display())),
    }
}

fn deliver(sink: &impl ScanSink, scan: String) -> bool {
    tracing::debug!(len = scan.len(), "scan received");
    sink.deliver(scan)
}

fn read_hid(
    path: &Path,
    shared: &Shared,
    sink: &impl ScanSink,
    opts: &ScannerOptions,
) -> Result<(), Trouble> {
    use std::os::fd::AsRawFd;
    let mut dev = evdev::Device::open(path).map_err(|e| open_error(path, &e, "input"))?;
    let is_keyboard = dev
        .supported_keys()
        .is_some_and(|k| k.contains(KeyCode::KEY_ENTER) && k.contains(KeyCode::KEY_1));
    if !is_keyboard {
        return Err(Trouble::Fault(format!(
            "{} is not a keyboard-mode scanner (no Enter or digit keys)",
            path.display()
        )));
    }
    dev.grab().map_err(|e| {
        Trouble::Fault(format!(
            "cannot grab {} (another program holds it?): {e}",
            path.display()
        ))
    })?;
    dev.set_nonblocking(true)
        .map_err(|e| Trouble::Fault(format!("cannot set {} non-blocking: {e}", path.display())))?;
    shared.set(DeviceHealth::ok());
    let mut decoder = HidDecoder::new(opts.max_len);
    let mut last_key = Instant::now();
    let fd = dev.as_raw_fd();
    loop {
        if shared.stopping() {
            return Ok(());
        }
        if decoder.has_partial() && last_key.elapsed() >= opts.stale_after {
            tracing::debug!("partial scan without Enter discarded");
            decoder.clear();
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout_ms = i32::try_from(POLL_EVERY.as_millis()).unwrap_or(200);
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Trouble::Fault(format!("poll on {}: {e}", path.display())));
        }
        if rc == 0 {
            continue;
        }
        if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
            && pfd.revents & libc::POLLIN == 0
        {
            return Err(Trouble::Absent(format!("{} disconnected", path.display())));
        }
        let events: Vec<(u16, i32)> = match dev.fetch_events() {
            Ok(events) => events
                .filter(|e| e.event_type() == evdev::EventType::KEY)
                .map(|e| (e.code(), e.value()))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                return Err(Trouble::Absent(format!("{} disconnected", path.display())))
            }
            Err(e) => return Err(Trouble::Fault(format!("reading {}: {e}", path.display()))),
        };
        if !events.is_empty() {
            last_key = Instant::now();
        }
        for (code, value) in events {
            if let Some(scan) = decoder.feed(code, value) {
                if !deliver(sink, scan) {
                    return Ok(());
                }
            }
        }
    }
}

fn read_serial(
    path: &Path,
    baud: u32,
    shared: &Shared,
    sink: &impl ScanSink,
    opts: &ScannerOptions,
) -> Result<(), Trouble> {
    use std::io::Read;
    let path_text = path.to_string_lossy().into_owned();
    let mut port = serialport::new(path_text, baud)
        .timeout(POLL_EVERY)
        .open_native()
        .map_err(|e| match e.kind() {
            // serialport reports a port locked by another program (EBUSY) as NoDevice.
            serialport::ErrorKind::NoDevice => {
                Trouble::Fault(format!("{} is in use by another program", path.display()))
            }
            serialport::ErrorKind::Io(kind) => {
                open_error(path, &std::io::Error::new(kind, e.description), "dialout")
            }
            _ => Trouble::Fault(format!("cannot open {}: {}", path.display(), e.description)),
        })?;
    shared.set(DeviceHealth::ok());
    let mut lines = LineSplitter::new(opts.max_len);
    let mut last_byte = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        if shared.stopping() {
            return Ok(());
        }
        if lines.has_partial() && last_byte.elapsed() >= opts.stale_after {
            tracing::debug!("partial serial line without terminator discarded");
            lines.clear();
        }
        match port.read(&mut buf) {
            Ok(0) => return Err(Trouble::Absent(format!("{} disconnected", path.display()))),
            Ok(n) => {
                last_byte = Instant::now();
                for scan in lines.push(&buf[..n]) {
                    if !deliver(sink, scan) {
                        return Ok(());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Trouble::Absent(format!(
                    "{} disconnected ({e})",
                    path.display()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::DeviceState;

    #[test]
    fn config_modes() {
        let c: ScannerConfig = toml::from_str("device = \"/dev/input/cubby-scanner\"").unwrap();
        assert_eq!(c.effective_mode(), ScannerMode::Hid);
        assert!(c.validate().is_ok());
        let c: ScannerConfig = toml::from_str("device = \"/dev/ttyACM0\"\nbaud = 115200").unwrap();
        assert_eq!(c.effective_mode(), ScannerMode::Serial);
        let c: ScannerConfig =
            toml::from_str("device = \"/dev/input/x\"\nmode = \"serial\"").unwrap();
        assert_eq!(c.effective_mode(), ScannerMode::Serial);
        let c: ScannerConfig = toml::from_str("baud = 0").unwrap();
        assert_eq!(c.validate().unwrap_err().0, "scanner.baud");
        assert!(toml::from_str::<ScannerConfig>("port = 1").is_err());
    }

    #[test]
    fn unconfigured_scanner_is_absent() {
        let (tx, _rx) = std::sync::mpsc::channel::<String>();
        let s = Scanner::spawn(&ScannerConfig::default(), tx);
        assert_eq!(s.status(), DeviceHealth::absent("not configured"));
        assert_eq!(
            probe(&ScannerConfig::default()),
            DeviceHealth::absent("not configured")
        );
    }

    #[test]
    fn probe_reports_missing_and_wrong_devices() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        for mode in [ScannerMode::Hid, ScannerMode::Serial] {
            let cfg = ScannerConfig {
                device: Some(missing.clone()),
                mode,
                baud: 9600,
            };
            let status = probe(&cfg);
            assert_eq!(status.state, DeviceState::Absent, "{status}");
            assert!(status.reason.starts_with("no device at"), "{status}");
        }
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let cfg = ScannerConfig {
            device: Some(file),
            mode: ScannerMode::Hid,
            baud: 9600,
        };
        assert_eq!(probe(&cfg).state, DeviceState::Fault, "{}", probe(&cfg));
    }
}
