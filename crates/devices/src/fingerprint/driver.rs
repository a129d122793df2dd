//! [`R30x`]: the blocking serial driver for R30x-family fingerprint modules, on
//! `serialport` (57600 8N1 by default). One command in flight at a time: send a command
//! packet, read until an ack from the configured address arrives or the reply timeout
//! passes. Line noise and frames for other addresses are skipped (counted, logged at debug
//! level), never fatal; a closed port is [`FingerprintError::Disconnected`].
//!
//! Blocking I/O: own it from one dedicated thread ([`super::FingerprintService`] does).

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::codec::{
    instruction as ins, Confirmation, Decoder, Packet, PacketKind, DEFAULT_ADDRESS,
    DEFAULT_PASSWORD,
};
use super::{
    DeviceStatus, EnrollProgress, FingerprintError, FingerprintReader, LedState, Match, Scan, Slot,
};

/// How to reach and use a reader. `Default` is an R503 on `/dev/ttyAMA0` at the factory
/// settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderConfig {
    /// The serial device (`/dev/ttyUSB0`, `/dev/serial0`, a udev symlink, a pty).
    pub path: PathBuf,
    /// Line speed (the module's default is 57600).
    pub baud: u32,
    /// Module address (factory 0xFFFFFFFF).
    pub address: u32,
    /// Handshake password (factory 0).
    pub password: u32,
    /// How long to wait for each reply.
    pub reply_timeout: Duration,
    /// Minimum search score that counts as a match.
    pub min_score: u16,
    /// How long enrollment waits for the finger to be placed or lifted.
    pub finger_timeout: Duration,
    /// Pause between GenImg polls while waiting for a finger.
    pub poll_interval: Duration,
    /// Character buffers the module has: 2 on R30x/AS608/ZFM, 6 on R503. Captures beyond
    /// this reuse buffer 2, each checked against capture 1.
    pub char_buffers: u8,
    /// Refuse to store a finger that is already in the library.
    pub reject_duplicates: bool,
    /// Drive the ring LED (modules without one are detected and left alone).
    pub ring_led: bool,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            path: PathBuf::from("/dev/ttyAMA0"),
            baud: 57_600,
            address: DEFAULT_ADDRESS,
            password: DEFAULT_PASSWORD,
            reply_timeout: Duration::from_secs(2),
            min_score: 50,
            finger_timeout: Duration::from_secs(20),
            poll_interval: Duration::from_millis(100),
            char_buffers: 2,
            reject_duplicates: true,
            ring_led: true,
        }
    }
}

/// What ReadSysPara reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemParameters {
    /// Status register (bit 0 busy, 1 matched, 2 password verified, 3 image valid).
    pub status: u16,
    /// System identifier code.
    pub system_id: u16,
    /// Library capacity (templates).
    pub capacity: u16,
    /// Security level 1..=5.
    pub security_level: u16,
    /// The module's address.
    pub address: u32,
    /// Data packet size in bytes (32, 64, 128 or 256).
    pub packet_size: u16,
    /// Line speed in bit/s (9600 × N).
    pub baud: u32,
}

impl SystemParameters {
    /// Parses the 16 result bytes of ReadSysPara.
    pub fn parse(r: &[u8]) -> Result<Self, FingerprintError> {
        if r.len() < 16 {
            return Err(FingerprintError::Protocol(format!(
                "system parameters are {} bytes, expected 16",
                r.len()
            )));
        }
        let w = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]);
        let packet_code = w(12);
        if packet_code > 3 {
            return Err(FingerprintError::Protocol(format!(
                "packet size code {packet_code} is not 0..=3"
            )));
        }
        Ok(SystemParameters {
            status: w(0),
            system_id: w(2),
            capacity: w(4),
            security_level: w(6),
            address: u32::from_be_bytes([r[8], r[9], r[10], r[11]]),
            packet_size: 32 << packet_code,
            baud: 9600 * u32::from(w(14)),
        })
    }
}

/// An ack: the confirmation code and the result bytes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The confirmation code.
    pub code: Confirmation,
    /// Result bytes.
    pub data: Vec<u8>,
}

/// The serial driver. [`R30x::open`] verifies the password and reads the system
/// parameters, so an open driver knows the library capacity.
pub struct R30x {
    port: Box<dyn SerialPort>,
    config: ReaderConfig,
    decoder: Decoder,
    params: SystemParameters,
    led_supported: bool,
    noise_events: u64,
}

/// serialport's read timeout: how often the reply loop looks at its deadline.
const READ_SLICE: Duration = Duration::from_millis(50);

fn open_error(config: &ReaderConfig, e: serialport::Error) -> FingerprintError {
    let missing = match e.kind() {
        serialport::ErrorKind::NoDevice => true,
        serialport::ErrorKind::Io(k) => k == io::ErrorKind::NotFound,
        _ => false,
    } || !config.path.exists();
    FingerprintError::Open {
        path: config.path.display().to_string(),
        reason: e.to_string(),
        missing,
    }
}

impl R30x {
    /// Opens the port, verifies the password and reads the system parameters.
    pub fn open(config: &ReaderConfig) -> Result<Self, FingerprintError> {
        let path = config.path.to_string_lossy().into_owned();
        let port = serialport::new(path, config.baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(READ_SLICE)
            .open()
            .map_err(|e| open_error(config, e))?;
        Self::with_port(port, config)
    }

    /// Uses an already open port (any `SerialPort`), then verifies and reads parameters.
    pub fn with_port(
        port: Box<dyn SerialPort>,
        config: &ReaderConfig,
    ) -> Result<Self, FingerprintError> {
        let mut driver = R30x {
            port,
            config: config.clone(),
            decoder: Decoder::new(),
            params: SystemParameters {
                status: 0,
                system_id: 0,
                capacity: 0,
                security_level: 0,
                address: config.address,
                packet_size: 128,
                baud: config.baud,
            },
            led_supported: config.ring_led,
            noise_events: 0,
        };
        driver.verify_password()?;
        driver.params = driver.read_system_parameters()?;
        Ok(driver)
    }

    /// The parameters read at open (capacity, security level, packet size, baud).
    pub fn parameters(&self) -> &SystemParameters {
        &self.params
    }

    /// The configuration in use.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// How many times line noise or a corrupt frame was skipped.
    pub fn noise_events(&self) -> u64 {
        self.noise_events
    }

    /// Sends one command and waits for its ack (any confirmation code).
    pub fn transact(&mut self, instruction: u8, params: &[u8]) -> Result<Reply, FingerprintError> {
        let frame = Packet::command(self.config.address, instruction, params)
            .encode()
            .map_err(|e| FingerprintError::Invalid(e.to_string()))?;
        // A late reply to an earlier command must not be taken for this one's.
        let _ = self.port.clear(ClearBuffer::Input);
        self.decoder.clear();
        self.port.write_all(&frame).map_err(io_error)?;
        let packet = self.read_ack()?;
        let (&code, data) = packet
            .payload
            .split_first()
            .ok_or_else(|| FingerprintError::Protocol("empty acknowledgement".into()))?;
        Ok(Reply {
            code: Confirmation::from_byte(code),
            data: data.to_vec(),
        })
    }

    /// Like [`R30x::transact`], but a code other than 0x00 is an error, and the reply must
    /// carry at least `min_len` result bytes.
    fn command(
        &mut self,
        instruction: u8,
        params: &[u8],
        min_len: usize,
    ) -> Result<Vec<u8>, FingerprintError> {
        let reply = self.transact(instruction, params)?;
        if !reply.code.is_ok() {
            return Err(FingerprintError::Module {
                instruction: ins::name(instruction),
                code: reply.code,
            });
        }
        if reply.data.len() < min_len {
            return Err(FingerprintError::Protocol(format!(
                "{} returned {} result byte(s), expected {min_len}",
                ins::name(instruction),
                reply.data.len()
            )));
        }
        Ok(reply.data)
    }

    fn read_ack(&mut self) -> Result<Packet, FingerprintError> {
        let deadline = Instant::now() + self.config.reply_timeout;
        let mut buf = [0u8; 256];
        loop {
            if let Some(p) = self.drain_frames() {
                return Ok(p);
            }
            if Instant::now() >= deadline {
                // A false header may be holding a real frame hostage: give it up.
                while let Some(e) = self.decoder.abandon_partial() {
                    self.noise_events += 1;
                    tracing::debug!(error = %e, "fingerprint: abandoning a partial frame");
                    if let Some(p) = self.drain_frames() {
                        return Ok(p);
                    }
                }
                return Err(FingerprintError::Timeout(self.config.reply_timeout));
            }
            match self.port.read(&mut buf) {
                Ok(0) => return Err(FingerprintError::Disconnected("end of file".into())),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e)),
            }
        }
    }

    /// The next ack for our address among the buffered bytes, skipping everything else.
    fn drain_frames(&mut self) -> Option<Packet> {
        while let Some(frame) = self.decoder.next_frame() {
            match frame {
                Ok(p) if p.kind == PacketKind::Ack && p.address == self.config.address => {
                    return Some(p);
                }
                Ok(p) => {
                    self.noise_events += 1;
                    tracing::debug!(kind = ?p.kind, "fingerprint: skipping an unexpected frame");
                }
                Err(e) => {
                    self.noise_events += 1;
                    tracing::debug!(error = %e, "fingerprint: skipping line noise");
                }
            }
        }
        None
    }

    /// VfyPwd with the configured password.
    pub fn verify_password(&mut self) -> Result<(), FingerprintError> {
        let pw = self.config.password.to_be_bytes();
        self.command(ins::VFY_PWD, &pw, 0).map(drop)
    }

    /// HandShake (0x40); modules without it are probed with VfyPwd instead.
    pub fn handshake(&mut self) -> Result<(), FingerprintError> {
        let reply = self.transact(ins::HANDSHAKE, &[])?;
        match reply.code {
            Confirmation::Ok => Ok(()),
            Confirmation::Unsupported | Confirmation::PacketReceive => self.verify_password(),
            code => Err(FingerprintError::Module {
                instruction: ins::name(ins::HANDSHAKE),
                code,
            }),
        }
    }

    /// ReadSysPara.
    pub fn read_system_parameters(&mut self) -> Result<SystemParameters, FingerprintError> {
        let data = self.command(ins::READ_SYS_PARA, &[], 16)?;
        SystemParameters::parse(&data)
    }

    /// GenImg: `true` when an image was captured, `false` when no finger is on the sensor.
    pub fn capture(&mut self) -> Result<bool, FingerprintError> {
        match self.command(ins::GEN_IMG, &[], 0) {
            Ok(_) => Ok(true),
            Err(e) if e.confirmation() == Some(Confirmation::NoFinger) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Img2Tz: the captured image to a character file in `buffer` (1-based).
    pub fn image_to_buffer(&mut self, buffer: u8) -> Result<(), FingerprintError> {
        self.command(ins::IMG2TZ, &[buffer], 0).map(drop)
    }

    /// Search the whole library for `buffer`: the raw best match, no threshold applied.
    pub fn search(&mut self, buffer: u8) -> Result<Option<Match>, FingerprintError> {
        let [hi, lo] = self.params.capacity.to_be_bytes();
        match self.command(ins::SEARCH, &[buffer, 0, 0, hi, lo], 4) {
            Ok(r) => Ok(Some(Match {
                slot: u16::from_be_bytes([r[0], r[1]]),
                score: u16::from_be_bytes([r[2], r[3]]),
            })),
            Err(e) if e.confirmation() == Some(Confirmation::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Match: compares char buffers 1 and 2; the score, or `None` when they differ.
    pub fn compare_buffers(&mut self) -> Result<Option<u16>, FingerprintError> {
        match self.command(ins::MATCH, &[], 2) {
            Ok(r) => Ok(Some(u16::from_be_bytes([r[0], r[1]]))),
            Err(e) if e.confirmation() == Some(Confirmation::NoMatch) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// RegModel: merges the char buffers into a template.
    pub fn create_model(&mut self) -> Result<(), FingerprintError> {
        self.command(ins::REG_MODEL, &[], 0).map(drop)
    }

    /// Store: char buffer `buffer` into library `slot`.
    pub fn store(&mut self, buffer: u8, slot: Slot) -> Result<(), FingerprintError> {
        let [hi, lo] = slot.to_be_bytes();
        self.command(ins::STORE, &[buffer, hi, lo], 0).map(drop)
    }

    /// DeletChar: `count` templates from `slot` on.
    pub fn delete_range(&mut self, slot: Slot, count: u16) -> Result<(), FingerprintError> {
        let [sh, sl] = slot.to_be_bytes();
        let [ch, cl] = count.to_be_bytes();
        self.command(ins::DELETE_CHAR, &[sh, sl, ch, cl], 0)
            .map(drop)
    }

    /// ReadIndexTable: the usage bitmap of slots `page*256 .. page*256+255`.
    pub fn index_table(&mut self, page: u8) -> Result<[u8; 32], FingerprintError> {
        let r = self.command(ins::READ_INDEX_TABLE, &[page], 32)?;
        let mut table = [0u8; 32];
        table.copy_from_slice(&r[..32]);
        Ok(table)
    }

    /// The used slots, from the index table pages covering the capacity.
    pub fn used_slots(&mut self) -> Result<Vec<Slot>, FingerprintError> {
        let capacity = self.params.capacity;
        let pages = capacity.div_ceil(256).min(4) as u8;
        let mut used = Vec::new();
        for page in 0..pages {
            let table = self.index_table(page)?;
            for (i, byte) in table.iter().enumerate() {
                for bit in 0..8 {
                    let slot = u16::from(page) * 256 + (i * 8 + bit) as u16;
                    if byte & (1 << bit) != 0 && slot < capacity {
                        used.push(slot);
                    }
                }
            }
        }
        Ok(used)
    }

    /// The lowest free slot, or `None` when the library is full.
    pub fn free_slot(&mut self) -> Result<Option<Slot>, FingerprintError> {
        let used = self.used_slots()?;
        Ok((0..self.params.capacity).find(|s| used.binary_search(s).is_err()))
    }

    /// AuraLedConfig raw: control (1 breathe, 2 flash, 3 on, 4 off, 5 fade in, 6 fade
    /// out), speed, colour (1 red, 2 blue, 3 purple), times (0 = forever).
    pub fn aura(
        &mut self,
        control: u8,
        speed: u8,
        color: u8,
        times: u8,
    ) -> Result<(), FingerprintError> {
        self.command(ins::AURA_LED_CONFIG, &[control, speed, color, times], 0)
            .map(drop)
    }

    fn wait_for_finger(&mut self, present: bool) -> Result<(), FingerprintError> {
        let deadline = Instant::now() + self.config.finger_timeout;
        loop {
            // A failed capture (0x03) means a finger is there but was not read well.
            let seen = match self.capture() {
                Ok(seen) => seen,
                Err(e) if is_bad_image(&e) => !present,
                Err(e) => return Err(e),
            };
            if seen == present {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(FingerprintError::FingerTimeout(self.config.finger_timeout));
            }
            thread::sleep(self.config.poll_interval);
        }
    }

    fn enroll_inner(
        &mut self,
        captures: usize,
        progress: &mut dyn FnMut(EnrollProgress),
    ) -> Result<Slot, FingerprintError> {
        if !(2..=20).contains(&captures) {
            return Err(FingerprintError::Invalid(format!(
                "enrollment needs 2 to 20 captures, not {captures}"
            )));
        }
        // Fail before asking for a finger if there is nowhere to put it.
        let slot = self.free_slot()?.ok_or(FingerprintError::LibraryFull {
            capacity: self.params.capacity,
        })?;
        let buffers = usize::from(self.config.char_buffers.clamp(2, 6));
        let mut capture = 1;
        while capture <= captures {
            progress(EnrollProgress::PlaceFinger {
                capture,
                of: captures,
            });
            self.wait_for_finger(true)?;
            let buffer = if capture <= buffers { capture as u8 } else { 2 };
            match self.image_to_buffer(buffer) {
                Ok(()) => {}
                Err(e) if is_bad_image(&e) => {
                    progress(EnrollProgress::Retry {
                        capture,
                        reason: e.confirmation().map(|c| c.message()).unwrap_or("").into(),
                    });
                    progress(EnrollProgress::LiftFinger);
                    self.wait_for_finger(false)?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            // Captures past the last buffer land in buffer 2 and must match capture 1.
            if capture > buffers && self.compare_buffers()?.is_none() {
                return Err(FingerprintError::Module {
                    instruction: ins::name(ins::MATCH),
                    code: Confirmation::MergeFailed,
                });
            }
            progress(EnrollProgress::Captured {
                capture,
                of: captures,
            });
            if capture < captures {
                progress(EnrollProgress::LiftFinger);
                self.wait_for_finger(false)?;
            }
            capture += 1;
        }
        self.create_model()?;
        if self.config.reject_duplicates {
            if let Some(existing) = self.search(1)? {
                return Err(FingerprintError::AlreadyEnrolled {
                    slot: existing.slot,
                });
            }
        }
        self.store(1, slot)?;
        progress(EnrollProgress::Stored { slot });
        Ok(slot)
    }
}

fn is_bad_image(e: &FingerprintError) -> bool {
    matches!(
        e.confirmation(),
        Some(
            Confirmation::ImageMessy
                | Confirmation::FeatureFail
                | Confirmation::InvalidImage
                | Confirmation::EnrollFailed
        )
    )
}

fn io_error(e: io::Error) -> FingerprintError {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::NotConnected
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => FingerprintError::Disconnected(e.to_string()),
        // EIO (and ENXIO) is what a vanished USB adapter or a closed pty gives.
        _ if matches!(
            e.raw_os_error(),
            Some(libc::EIO | libc::ENXIO | libc::ENODEV)
        ) =>
        {
            FingerprintError::Disconnected(e.to_string())
        }
        _ => FingerprintError::Io(e),
    }
}

impl FingerprintReader for R30x {
    fn scan(&mut self) -> Result<Scan, FingerprintError> {
        let captured = self.capture().and_then(|seen| match seen {
            true => self.image_to_buffer(1).map(|()| true),
            false => Ok(false),
        });
        match captured {
            Ok(true) => {}
            Ok(false) => return Ok(Scan::NoFinger),
            Err(e) if is_bad_image(&e) => {
                return Ok(Scan::BadImage(
                    e.confirmation().unwrap_or(Confirmation::InvalidImage),
                ))
            }
            Err(e) => return Err(e),
        }
        Ok(match self.search(1)? {
            None => Scan::NoMatch,
            Some(m) if m.score < self.config.min_score => Scan::BelowThreshold(m),
            Some(m) => Scan::Match(m),
        })
    }

    fn enroll(
        &mut self,
        captures: usize,
        progress: &mut dyn FnMut(EnrollProgress),
    ) -> Result<Slot, FingerprintError> {
        let _ = self.led(LedState::Busy);
        let result = self.enroll_inner(captures, progress);
        let _ = self.led(if result.is_ok() {
            LedState::Success
        } else {
            LedState::Failure
        });
        result
    }

    fn delete(&mut self, slot: Slot) -> Result<(), FingerprintError> {
        if slot >= self.params.capacity {
            return Err(FingerprintError::Invalid(format!(
                "slot {slot} is outside the library (capacity {})",
                self.params.capacity
            )));
        }
        self.delete_range(slot, 1)
    }

    fn empty(&mut self) -> Result<(), FingerprintError> {
        self.command(ins::EMPTY, &[], 0).map(drop)
    }

    fn template_count(&mut self) -> Result<u16, FingerprintError> {
        let r = self.command(ins::TEMPLATE_NUM, &[], 2)?;
        Ok(u16::from_be_bytes([r[0], r[1]]))
    }

    fn enrolled_slots(&mut self) -> Result<Vec<Slot>, FingerprintError> {
        self.used_slots()
    }

    fn led(&mut self, state: LedState) -> Result<(), FingerprintError> {
        if !self.led_supported {
            return Ok(());
        }
        let (control, speed, color, times) = match state {
            LedState::Idle => (1, 0x80, 2, 0),
            LedState::Busy => (3, 0, 3, 0),
            LedState::Success => (2, 0x40, 3, 3),
            LedState::Failure => (2, 0x40, 1, 3),
            LedState::Off => (4, 0, 2, 0),
        };
        match self.aura(control, speed, color, times) {
            Err(e)
                if matches!(
                    e.confirmation(),
                    Some(Confirmation::Unsupported | Confirmation::PacketReceive)
                ) =>
            {
                // No ring LED on this model: stop asking.
                self.led_supported = false;
                Ok(())
            }
            other => other,
        }
    }

    fn status(&mut self) -> DeviceStatus {
        match self.handshake() {
            Ok(()) => DeviceStatus::Ok,
            Err(e) => e.status(),
        }
    }
}

/// Opens the reader once and reports its status (for `cubby selftest` when no service
/// holds the port): `ok`, `absent` or `fault: reason`.
pub fn self_test(config: &ReaderConfig) -> DeviceStatus {
    match R30x::open(config) {
        Ok(mut reader) => match reader.template_count() {
            Ok(_) => DeviceStatus::Ok,
            Err(e) => e.status(),
        },
        Err(e) => e.status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_parameters_parse_capacity_packet_size_and_baud() {
        let r = [0, 4, 0, 9, 0, 200, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 2, 0, 6];
        let p = SystemParameters::parse(&r).unwrap();
        assert_eq!(p.capacity, 200);
        assert_eq!(p.security_level, 3);
        assert_eq!(p.packet_size, 128);
        assert_eq!(p.baud, 57_600);
        assert_eq!(p.address, 0xFFFF_FFFF);
        assert_eq!(p.system_id, 9);
        assert!(SystemParameters::parse(&r[..15]).is_err());
        let mut bad = r;
        bad[13] = 7;
        assert!(SystemParameters::parse(&bad).is_err());
    }

    #[test]
    fn eio_and_broken_pipe_mean_disconnected() {
        assert!(matches!(
            io_error(io::Error::from_raw_os_error(libc::EIO)),
            FingerprintError::Disconnected(_)
        ));
        assert!(matches!(
            io_error(io::Error::from(io::ErrorKind::BrokenPipe)),
            FingerprintError::Disconnected(_)
        ));
        assert!(matches!(
            io_error(io::Error::from(io::ErrorKind::PermissionDenied)),
            FingerprintError::Io(_)
        ));
    }

    #[test]
    fn opening_a_missing_device_is_absent() {
        let config = ReaderConfig {
            path: PathBuf::from("/dev/cubby-no-such-reader"),
            ..ReaderConfig::default()
        };
        let e = R30x::open(&config).err().unwrap();
        assert_eq!(e.status(), DeviceStatus::Absent);
        assert_eq!(self_test(&config), DeviceStatus::Absent);
    }
}
