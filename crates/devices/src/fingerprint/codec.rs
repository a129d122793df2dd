//! The R30x packet codec (R503, R307, R305, AS608, ZFM-20): frame layout, checksums, a
//! streaming decoder that resynchronises on line noise, and the module's confirmation codes.
//!
//! A frame on the wire, multi-byte fields big-endian:
//!
//! ```text
//! EF 01 | address (4) | packet id (1) | length (2) | payload (length - 2) | checksum (2)
//! ```
//!
//! `length` counts the payload plus the two checksum bytes; the checksum is the low 16 bits
//! of the sum of the packet id, both length bytes and every payload byte. The header and
//! the address are not summed. Pure code: no I/O, no clock, used by both the driver and the
//! emulator so the two cannot disagree about a byte.

use std::fmt;

/// The fixed start code every frame begins with.
pub const HEADER: [u8; 2] = [0xEF, 0x01];
/// The factory address of every module.
pub const DEFAULT_ADDRESS: u32 = 0xFFFF_FFFF;
/// The factory password (no verification needed while it is unchanged).
pub const DEFAULT_PASSWORD: u32 = 0;
/// Largest payload a module sends or accepts in one packet (the data packet size setting
/// tops out at 256 bytes).
pub const MAX_PAYLOAD: usize = 256;
/// Largest legal value of the length field: payload plus checksum.
pub const MAX_LENGTH: usize = MAX_PAYLOAD + 2;
/// Bytes before the payload: header, address, packet id, length.
pub const PREFIX_LEN: usize = 9;
/// The byte a module sends alone after power-on or a soft reset ("ready").
pub const READY_BYTE: u8 = 0x55;

/// Instruction codes of the command packets this crate sends or emulates.
pub mod instruction {
    /// Capture a finger image into the image buffer.
    pub const GEN_IMG: u8 = 0x01;
    /// Image buffer → character file in char buffer N.
    pub const IMG2TZ: u8 = 0x02;
    /// Compare char buffers 1 and 2 (score).
    pub const MATCH: u8 = 0x03;
    /// 1:N search of the library for char buffer N.
    pub const SEARCH: u8 = 0x04;
    /// Merge the char buffers into one template.
    pub const REG_MODEL: u8 = 0x05;
    /// Store a char buffer into a library page.
    pub const STORE: u8 = 0x06;
    /// Load a library page into a char buffer.
    pub const LOAD_CHAR: u8 = 0x07;
    /// Upload a char buffer to the host (data packets follow).
    pub const UP_CHAR: u8 = 0x08;
    /// Download a char buffer from the host (data packets follow).
    pub const DOWN_CHAR: u8 = 0x09;
    /// Upload the image buffer to the host.
    pub const UP_IMAGE: u8 = 0x0A;
    /// Download an image from the host.
    pub const DOWN_IMAGE: u8 = 0x0B;
    /// Delete N templates from a page on.
    pub const DELETE_CHAR: u8 = 0x0C;
    /// Delete every template.
    pub const EMPTY: u8 = 0x0D;
    /// Write one system parameter (baud, security level, packet size).
    pub const SET_SYS_PARA: u8 = 0x0E;
    /// Read the status register and the system parameters.
    pub const READ_SYS_PARA: u8 = 0x0F;
    /// Set the module password.
    pub const SET_PWD: u8 = 0x12;
    /// Verify the module password.
    pub const VFY_PWD: u8 = 0x13;
    /// A 32-bit random number.
    pub const GET_RANDOM_CODE: u8 = 0x14;
    /// Set the module address.
    pub const SET_ADDR: u8 = 0x15;
    /// High-speed 1:N search (same reply as SEARCH).
    pub const HIGH_SPEED_SEARCH: u8 = 0x1B;
    /// Number of stored templates.
    pub const TEMPLATE_NUM: u8 = 0x1D;
    /// Bitmap of used library pages, 256 per index page.
    pub const READ_INDEX_TABLE: u8 = 0x1F;
    /// GenImg that also rejects poor images (R50x).
    pub const GET_IMAGE_EX: u8 = 0x28;
    /// Cancel an automatic operation (R50x).
    pub const CANCEL: u8 = 0x30;
    /// Ring LED ("aura") control (R50x).
    pub const AURA_LED_CONFIG: u8 = 0x35;
    /// Sensor self-check (R50x).
    pub const CHECK_SENSOR: u8 = 0x36;
    /// Soft reset: ack, then the ready byte 0x55.
    pub const SOFT_RST: u8 = 0x3D;
    /// Handshake (R50x): 0x00 when the module works.
    pub const HANDSHAKE: u8 = 0x40;

    /// A short name for logs and error messages.
    pub fn name(code: u8) -> &'static str {
        match code {
            GEN_IMG => "GenImg",
            IMG2TZ => "Img2Tz",
            MATCH => "Match",
            SEARCH => "Search",
            REG_MODEL => "RegModel",
            STORE => "Store",
            LOAD_CHAR => "LoadChar",
            UP_CHAR => "UpChar",
            DOWN_CHAR => "DownChar",
            UP_IMAGE => "UpImage",
            DOWN_IMAGE => "DownImage",
            DELETE_CHAR => "DeletChar",
            EMPTY => "Empty",
            SET_SYS_PARA => "SetSysPara",
            READ_SYS_PARA => "ReadSysPara",
            SET_PWD => "SetPwd",
            VFY_PWD => "VfyPwd",
            GET_RANDOM_CODE => "GetRandomCode",
            SET_ADDR => "SetAddr",
            HIGH_SPEED_SEARCH => "HighSpeedSearch",
            TEMPLATE_NUM => "TemplateNum",
            READ_INDEX_TABLE => "ReadIndexTable",
            GET_IMAGE_EX => "GetImageEx",
            CANCEL => "Cancel",
            AURA_LED_CONFIG => "AuraLedConfig",
            CHECK_SENSOR => "CheckSensor",
            SOFT_RST => "SoftRst",
            HANDSHAKE => "HandShake",
            _ => "instruction",
        }
    }
}

/// The packet identifier (byte 6 of a frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// 0x01: host → module instruction.
    Command,
    /// 0x02: a data packet, more follow.
    Data,
    /// 0x07: module → host acknowledgement (confirmation code first).
    Ack,
    /// 0x08: the last data packet.
    EndData,
}

impl PacketKind {
    /// The wire value.
    pub fn byte(self) -> u8 {
        match self {
            PacketKind::Command => 0x01,
            PacketKind::Data => 0x02,
            PacketKind::Ack => 0x07,
            PacketKind::EndData => 0x08,
        }
    }

    /// Parses the wire value; `None` for anything the protocol does not define.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(PacketKind::Command),
            0x02 => Some(PacketKind::Data),
            0x07 => Some(PacketKind::Ack),
            0x08 => Some(PacketKind::EndData),
            _ => None,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The module address the frame carries.
    pub address: u32,
    /// Command, data, ack or end-of-data.
    pub kind: PacketKind,
    /// Instruction + parameters, confirmation code + results, or raw data.
    pub payload: Vec<u8>,
}

impl Packet {
    /// A command packet: the instruction code followed by its parameters.
    pub fn command(address: u32, instruction: u8, params: &[u8]) -> Self {
        let mut payload = Vec::with_capacity(1 + params.len());
        payload.push(instruction);
        payload.extend_from_slice(params);
        Packet {
            address,
            kind: PacketKind::Command,
            payload,
        }
    }

    /// An acknowledgement: the confirmation code followed by results.
    pub fn ack(address: u32, code: u8, results: &[u8]) -> Self {
        let mut payload = Vec::with_capacity(1 + results.len());
        payload.push(code);
        payload.extend_from_slice(results);
        Packet {
            address,
            kind: PacketKind::Ack,
            payload,
        }
    }

    /// The frame on the wire. Fails only for a payload over [`MAX_PAYLOAD`] bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(FrameError::Oversized {
                length: self.payload.len() + 2,
            });
        }
        let length = (self.payload.len() + 2) as u16;
        let mut out = Vec::with_capacity(PREFIX_LEN + self.payload.len() + 2);
        out.extend_from_slice(&HEADER);
        out.extend_from_slice(&self.address.to_be_bytes());
        out.push(self.kind.byte());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.payload);
        let sum = checksum(self.kind.byte(), length, &self.payload);
        out.extend_from_slice(&sum.to_be_bytes());
        Ok(out)
    }

    /// Decodes exactly one frame at the start of `bytes` (no resync: a strict parser for
    /// tests and for callers that already framed the bytes). Returns the packet and the
    /// number of bytes it used.
    pub fn decode(bytes: &[u8]) -> Result<(Packet, usize), FrameError> {
        match parse_at(bytes) {
            Parse::Frame(p, used) => Ok((p, used)),
            Parse::Need(need) => Err(FrameError::Truncated {
                have: bytes.len(),
                need,
            }),
            Parse::Bad(e) => Err(e),
        }
    }
}

/// The low 16 bits of packet id + length bytes + payload bytes.
pub fn checksum(kind: u8, length: u16, payload: &[u8]) -> u16 {
    let [hi, lo] = length.to_be_bytes();
    let mut sum = u32::from(kind) + u32::from(hi) + u32::from(lo);
    for b in payload {
        sum = sum.wrapping_add(u32::from(*b));
    }
    (sum & 0xFFFF) as u16
}

/// What is wrong with a frame. The streaming [`Decoder`] reports these and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes that are not a frame start were skipped.
    #[error("skipped {skipped} byte(s) of line noise before a frame header")]
    Garbage {
        /// How many bytes were dropped.
        skipped: usize,
    },
    /// The first two bytes are not 0xEF 0x01.
    #[error("wrong frame header {found:02X?} (expected EF 01)")]
    BadHeader {
        /// The two bytes found.
        found: [u8; 2],
    },
    /// The packet id is not one of 0x01, 0x02, 0x07, 0x08.
    #[error("unknown packet id 0x{0:02X}")]
    UnknownKind(u8),
    /// The length field is bigger than any module sends.
    #[error("frame length {length} exceeds the maximum of {max}", max = MAX_LENGTH)]
    Oversized {
        /// The length field (payload + 2).
        length: usize,
    },
    /// The length field is smaller than the checksum it must include.
    #[error("frame length {length} is too short to hold a checksum")]
    Undersized {
        /// The length field.
        length: usize,
    },
    /// The checksum does not match the bytes.
    #[error("checksum mismatch: frame says 0x{found:04X}, bytes sum to 0x{computed:04X}")]
    BadChecksum {
        /// The checksum in the frame.
        found: u16,
        /// The checksum of the received bytes.
        computed: u16,
    },
    /// The bytes end before the frame does.
    #[error("short read: {have} byte(s) of a {need}-byte frame")]
    Truncated {
        /// Bytes available.
        have: usize,
        /// Bytes the frame needs (as far as known).
        need: usize,
    },
}

enum Parse {
    Frame(Packet, usize),
    Need(usize),
    Bad(FrameError),
}

/// Parses a frame that must start at `b[0]`.
fn parse_at(b: &[u8]) -> Parse {
    if b.len() < 2 {
        if b.first().is_some_and(|&x| x != HEADER[0]) {
            return Parse::Bad(FrameError::BadHeader { found: [b[0], 0] });
        }
        return Parse::Need(PREFIX_LEN + 2);
    }
    if b[0..2] != HEADER {
        return Parse::Bad(FrameError::BadHeader {
            found: [b[0], b[1]],
        });
    }
    if b.len() < PREFIX_LEN {
        // The packet id can be judged as soon as it arrives.
        if let Some(&kind) = b.get(6) {
            if PacketKind::from_byte(kind).is_none() {
                return Parse::Bad(FrameError::UnknownKind(kind));
            }
        }
        return Parse::Need(PREFIX_LEN + 2);
    }
    let address = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
    let Some(kind) = PacketKind::from_byte(b[6]) else {
        return Parse::Bad(FrameError::UnknownKind(b[6]));
    };
    let length = usize::from(u16::from_be_bytes([b[7], b[8]]));
    if length > MAX_LENGTH {
        return Parse::Bad(FrameError::Oversized { length });
    }
    if length < 2 {
        return Parse::Bad(FrameError::Undersized { length });
    }
    let total = PREFIX_LEN + length;
    if b.len() < total {
        return Parse::Need(total);
    }
    let payload = &b[PREFIX_LEN..total - 2];
    let found = u16::from_be_bytes([b[total - 2], b[total - 1]]);
    let computed = checksum(b[6], length as u16, payload);
    if found != computed {
        return Parse::Bad(FrameError::BadChecksum { found, computed });
    }
    Parse::Frame(
        Packet {
            address,
            kind,
            payload: payload.to_vec(),
        },
        total,
    )
}

/// A streaming decoder: push bytes as they arrive, pull frames out.
///
/// Line noise is never fatal. Bytes before a header are skipped (reported once as
/// [`FrameError::Garbage`]); a frame with a bad checksum, an unknown packet id or an
/// impossible length is reported and the decoder resumes scanning one byte after that
/// frame's header, so a real frame hidden behind a false header is still found.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

/// The decoder keeps at most this many unconsumed bytes; older ones are dropped (a
/// babbling line cannot grow memory without bound).
const MAX_BUFFERED: usize = 4 * (PREFIX_LEN + MAX_LENGTH);

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > MAX_BUFFERED {
            let excess = self.buf.len() - MAX_BUFFERED;
            self.buf.drain(..excess);
        }
    }

    /// Bytes received but not yet consumed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Forgets everything buffered (before sending a new command).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next frame or frame error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Packet, FrameError>> {
        // Skip to the next possible header.
        let start = find_header(&self.buf);
        if start > 0 {
            self.buf.drain(..start);
            return Some(Err(FrameError::Garbage { skipped: start }));
        }
        if self.buf.is_empty() {
            return None;
        }
        match parse_at(&self.buf) {
            Parse::Frame(p, used) => {
                self.buf.drain(..used);
                Some(Ok(p))
            }
            Parse::Need(_) => None,
            Parse::Bad(e) => {
                // Resume the scan one byte past this (false or corrupt) header.
                self.buf.drain(..1);
                Some(Err(e))
            }
        }
    }

    /// Gives up on a frame that started but never completed (the reply timed out): drops
    /// its first byte so the scan can find a real frame inside it. Returns the short-read
    /// error, or `None` if nothing was pending.
    pub fn abandon_partial(&mut self) -> Option<FrameError> {
        if self.buf.is_empty() {
            return None;
        }
        let need = match parse_at(&self.buf) {
            Parse::Need(n) => n,
            _ => self.buf.len() + 1,
        };
        let have = self.buf.len();
        self.buf.drain(..1);
        Some(FrameError::Truncated { have, need })
    }
}

/// Index of the first byte that could start a header (a lone trailing 0xEF counts).
fn find_header(b: &[u8]) -> usize {
    let mut i = 0;
    while i < b.len() {
        if b[i] == HEADER[0] && (i + 1 == b.len() || b[i + 1] == HEADER[1]) {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// A module's confirmation code (the first payload byte of an ack), each with a message
/// a person can act on. Codes the manuals do not define are kept as [`Confirmation::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Confirmation {
    /// 0x00: command executed.
    Ok,
    /// 0x01: the module could not receive the packet.
    PacketReceive,
    /// 0x02: no finger on the sensor.
    NoFinger,
    /// 0x03: capturing the finger failed.
    EnrollFailed,
    /// 0x06: image too disorderly to extract features.
    ImageMessy,
    /// 0x07: too few feature points or too small an image.
    FeatureFail,
    /// 0x08: the two templates do not match.
    NoMatch,
    /// 0x09: no matching finger in the library.
    NotFound,
    /// 0x0A: the captures could not be merged (not the same finger).
    MergeFailed,
    /// 0x0B: page id beyond the library.
    BadLocation,
    /// 0x0C: reading a template failed or it is invalid.
    TemplateRead,
    /// 0x0D: uploading a template failed.
    UploadFeature,
    /// 0x0E: the module cannot receive the following data packets.
    DataPacketReceive,
    /// 0x0F: uploading an image failed / data packets cannot be sent.
    UploadImage,
    /// 0x10: deleting templates failed.
    DeleteFailed,
    /// 0x11: clearing the library failed.
    ClearFailed,
    /// 0x13: wrong password.
    WrongPassword,
    /// 0x15: no valid image in the image buffer.
    InvalidImage,
    /// 0x18: writing flash failed.
    FlashError,
    /// 0x19: undefined error.
    Undefined,
    /// 0x1A: invalid register number.
    InvalidRegister,
    /// 0x1B: wrong register configuration.
    BadRegisterConfig,
    /// 0x1C: wrong notepad page number.
    BadNotepadPage,
    /// 0x1D: the communication port failed.
    PortFailure,
    /// 0x1E: automatic enrollment failed.
    AutoEnrollFailed,
    /// 0x1F: the fingerprint library is full.
    LibraryFull,
    /// 0x20: wrong module address.
    AddressError,
    /// 0x21: the password must be verified first.
    MustVerifyPassword,
    /// 0x22: the fingerprint template is empty.
    TemplateEmpty,
    /// 0x24: the fingerprint library is empty.
    LibraryEmpty,
    /// 0x26: timed out.
    Timeout,
    /// 0x27: the fingerprint is already enrolled.
    AlreadyExists,
    /// 0x29: sensor hardware error.
    SensorHardware,
    /// 0xFC: the module does not support the instruction.
    Unsupported,
    /// 0xFD: hardware error.
    HardwareError,
    /// 0xFE: the command failed.
    CommandFailed,
    /// Any other code (system reserved).
    Other(u8),
}

macro_rules! confirmation_table {
    ($( $variant:ident = $code:literal, $msg:literal; )*) => {
        impl Confirmation {
            /// Every code this crate knows, in code order (for tests and docs).
            pub const KNOWN: &'static [Confirmation] = &[$(Confirmation::$variant),*];

            /// Maps a wire byte.
            pub fn from_byte(b: u8) -> Self {
                match b {
                    $($code => Confirmation::$variant,)*
                    other => Confirmation::Other(other),
                }
            }

            /// The wire byte.
            pub fn byte(self) -> u8 {
                match self {
                    $(Confirmation::$variant => $code,)*
                    Confirmation::Other(b) => b,
                }
            }

            /// A message a person can act on.
            pub fn message(self) -> &'static str {
                match self {
                    $(Confirmation::$variant => $msg,)*
                    Confirmation::Other(_) => "the reader returned an undocumented status code",
                }
            }
        }
    };
}

confirmation_table! {
    Ok = 0x00, "done";
    PacketReceive = 0x01, "the reader could not receive the command (check wiring and baud rate)";
    NoFinger = 0x02, "no finger on the sensor";
    EnrollFailed = 0x03, "could not capture the finger; place it flat and try again";
    ImageMessy = 0x06, "the fingerprint image is too smudged; clean the sensor and try again";
    FeatureFail = 0x07, "too few fingerprint features; press a little harder and try again";
    NoMatch = 0x08, "the fingerprint does not match";
    NotFound = 0x09, "fingerprint not recognized";
    MergeFailed = 0x0A, "the captures do not look like the same finger; start again";
    BadLocation = 0x0B, "the template slot is outside the reader's library";
    TemplateRead = 0x0C, "the stored template could not be read or is invalid";
    UploadFeature = 0x0D, "uploading the template failed";
    DataPacketReceive = 0x0E, "the reader could not receive the following data packets";
    UploadImage = 0x0F, "uploading the image failed";
    DeleteFailed = 0x10, "deleting the template failed";
    ClearFailed = 0x11, "clearing the fingerprint library failed";
    WrongPassword = 0x13, "wrong reader password (check the fingerprint password in the config)";
    InvalidImage = 0x15, "no valid fingerprint image was captured; try again";
    FlashError = 0x18, "the reader failed to write its flash memory";
    Undefined = 0x19, "the reader reported an undefined error";
    InvalidRegister = 0x1A, "invalid register number";
    BadRegisterConfig = 0x1B, "invalid register configuration";
    BadNotepadPage = 0x1C, "invalid notepad page number";
    PortFailure = 0x1D, "the reader's communication port failed";
    AutoEnrollFailed = 0x1E, "automatic enrollment failed";
    LibraryFull = 0x1F, "the fingerprint library is full; delete unused templates";
    AddressError = 0x20, "wrong reader address (check the fingerprint address in the config)";
    MustVerifyPassword = 0x21, "the reader needs its password verified first";
    TemplateEmpty = 0x22, "the fingerprint template is empty";
    LibraryEmpty = 0x24, "no fingerprints are enrolled";
    Timeout = 0x26, "the reader timed out";
    AlreadyExists = 0x27, "this fingerprint is already enrolled";
    SensorHardware = 0x29, "the fingerprint sensor hardware failed";
    Unsupported = 0xFC, "the reader does not support this command";
    HardwareError = 0xFD, "the reader reported a hardware error";
    CommandFailed = 0xFE, "the reader could not carry out the command";
}

impl Confirmation {
    /// True for 0x00.
    pub fn is_ok(self) -> bool {
        self == Confirmation::Ok
    }
}

impl fmt::Display for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code 0x{:02X})", self.message(), self.byte())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(p: &Packet) {
        let bytes = p.encode().unwrap();
        let (q, used) = Packet::decode(&bytes).unwrap();
        assert_eq!(&q, p);
        assert_eq!(used, bytes.len());
        // The streaming decoder agrees, fed one byte at a time.
        let mut d = Decoder::new();
        let mut got = None;
        for b in &bytes {
            assert!(got.is_none(), "frame completed early");
            d.push(&[*b]);
            if let Some(r) = d.next_frame() {
                got = Some(r.unwrap());
            }
        }
        assert_eq!(got.as_ref(), Some(p));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn verify_password_command_matches_the_manual_bytes() {
        let p = Packet::command(DEFAULT_ADDRESS, instruction::VFY_PWD, &[0, 0, 0, 0]);
        assert_eq!(
            p.encode().unwrap(),
            [0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x07, 0x13, 0, 0, 0, 0, 0x00, 0x1B]
        );
    }

    #[test]
    fn every_packet_kind_round_trips() {
        roundtrip(&Packet::command(DEFAULT_ADDRESS, instruction::GEN_IMG, &[]));
        roundtrip(&Packet::command(
            0x1234_5678,
            instruction::SEARCH,
            &[1, 0, 0, 0, 200],
        ));
        roundtrip(&Packet::ack(DEFAULT_ADDRESS, 0x00, &[0, 7, 0, 99]));
        roundtrip(&Packet::ack(0, 0x09, &[]));
        roundtrip(&Packet {
            address: DEFAULT_ADDRESS,
            kind: PacketKind::Data,
            payload: (0..=255u8).collect(),
        });
        roundtrip(&Packet {
            address: DEFAULT_ADDRESS,
            kind: PacketKind::EndData,
            payload: vec![0xEF, 0x01, 0xEF, 0x01],
        });
        roundtrip(&Packet {
            address: 1,
            kind: PacketKind::Data,
            payload: vec![],
        });
    }

    #[test]
    fn checksum_keeps_only_the_low_16_bits() {
        let payload = vec![0xFF; 256];
        let sum = checksum(0x02, 258, &payload);
        assert_eq!(u32::from(sum), (0x02 + 0x01 + 0x02 + 0xFF * 256) & 0xFFFF);
        roundtrip(&Packet {
            address: 0,
            kind: PacketKind::Data,
            payload,
        });
    }

    #[test]
    fn encoding_refuses_an_oversized_payload() {
        let p = Packet {
            address: 0,
            kind: PacketKind::Data,
            payload: vec![0; MAX_PAYLOAD + 1],
        };
        assert_eq!(p.encode(), Err(FrameError::Oversized { length: 259 }));
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let mut bytes = Packet::ack(DEFAULT_ADDRESS, 0, &[]).encode().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(matches!(
            Packet::decode(&bytes),
            Err(FrameError::BadChecksum { .. })
        ));
        // A flipped payload byte is caught too.
        let mut bytes = Packet::ack(DEFAULT_ADDRESS, 0, &[5]).encode().unwrap();
        bytes[10] = 6;
        assert!(matches!(
            Packet::decode(&bytes),
            Err(FrameError::BadChecksum { .. })
        ));
    }

    #[test]
    fn wrong_header_is_rejected() {
        let mut bytes = Packet::ack(DEFAULT_ADDRESS, 0, &[]).encode().unwrap();
        bytes[1] = 0x02;
        assert_eq!(
            Packet::decode(&bytes),
            Err(FrameError::BadHeader {
                found: [0xEF, 0x02]
            })
        );
    }

    #[test]
    fn short_read_is_rejected() {
        let bytes = Packet::ack(DEFAULT_ADDRESS, 0, &[1, 2]).encode().unwrap();
        for cut in [1, 5, 9, bytes.len() - 1] {
            assert!(
                matches!(
                    Packet::decode(&bytes[..cut]),
                    Err(FrameError::Truncated { have, .. }) if have == cut
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn oversized_and_undersized_lengths_are_rejected() {
        let mut bytes = Packet::ack(DEFAULT_ADDRESS, 0, &[]).encode().unwrap();
        bytes[7] = 0x01;
        bytes[8] = 0x03; // 259
        assert_eq!(
            Packet::decode(&bytes),
            Err(FrameError::Oversized { length: 259 })
        );
        bytes[7] = 0xFF;
        assert!(matches!(
            Packet::decode(&bytes),
            Err(FrameError::Oversized { .. })
        ));
        bytes[7] = 0;
        bytes[8] = 1;
        assert_eq!(
            Packet::decode(&bytes),
            Err(FrameError::Undersized { length: 1 })
        );
    }

    #[test]
    fn unknown_packet_id_is_rejected() {
        let mut bytes = Packet::ack(DEFAULT_ADDRESS, 0, &[]).encode().unwrap();
        bytes[6] = 0x05;
        assert_eq!(Packet::decode(&bytes), Err(FrameError::UnknownKind(0x05)));
    }

    #[test]
    fn decoder_resyncs_after_garbage_and_reports_it() {
        let frame = Packet::ack(DEFAULT_ADDRESS, 0, &[0, 3]).encode().unwrap();
        let mut d = Decoder::new();
        d.push(&[0x00, 0x55, 0x13, 0xEF, 0x00, 0xFF]);
        d.push(&frame);
        let mut errors = Vec::new();
        let mut frames = Vec::new();
        while let Some(r) = d.next_frame() {
            match r {
                Ok(p) => frames.push(p),
                Err(e) => errors.push(e),
            }
        }
        assert_eq!(frames, vec![Packet::ack(DEFAULT_ADDRESS, 0, &[0, 3])]);
        assert!(errors
            .iter()
            .all(|e| matches!(e, FrameError::Garbage { .. } | FrameError::BadHeader { .. })));
        assert_eq!(
            errors
                .iter()
                .map(|e| match e {
                    FrameError::Garbage { skipped } => *skipped,
                    _ => 1,
                })
                .sum::<usize>(),
            6
        );
    }

    #[test]
    fn decoder_finds_a_frame_behind_a_corrupt_one() {
        let good = Packet::ack(DEFAULT_ADDRESS, 0x09, &[0, 0, 0, 0]);
        let mut corrupt = Packet::ack(DEFAULT_ADDRESS, 0, &[1]).encode().unwrap();
        let n = corrupt.len();
        corrupt[n - 1] ^= 0xFF;
        let mut d = Decoder::new();
        d.push(&corrupt);
        d.push(&good.encode().unwrap());
        let mut saw_checksum = false;
        let mut found = None;
        while let Some(r) = d.next_frame() {
            match r {
                Ok(p) => found = Some(p),
                Err(FrameError::BadChecksum { .. }) => saw_checksum = true,
                Err(_) => {}
            }
        }
        assert!(saw_checksum);
        assert_eq!(found, Some(good));
    }

    #[test]
    fn decoder_abandons_a_false_header_that_claims_a_long_frame() {
        // Noise that looks like the start of a 200-byte frame, then a real 12-byte reply.
        let good = Packet::ack(DEFAULT_ADDRESS, 0, &[]);
        let mut d = Decoder::new();
        d.push(&[0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 200]);
        d.push(&good.encode().unwrap());
        assert!(d.next_frame().is_none(), "waits for the long frame");
        assert!(matches!(
            d.abandon_partial(),
            Some(FrameError::Truncated { need: 209, .. })
        ));
        let mut found = None;
        while let Some(r) = d.next_frame() {
            if let Ok(p) = r {
                found = Some(p);
            }
        }
        assert_eq!(found, Some(good));
        assert_eq!(d.abandon_partial(), None);
    }

    #[test]
    fn decoder_memory_is_bounded() {
        let mut d = Decoder::new();
        for _ in 0..100 {
            d.push(&[0xEF; 1000]);
        }
        assert!(d.pending() <= MAX_BUFFERED);
    }

    #[test]
    fn every_confirmation_code_maps_to_a_message_and_back() {
        let expected: &[(u8, Confirmation)] = &[
            (0x00, Confirmation::Ok),
            (0x01, Confirmation::PacketReceive),
            (0x02, Confirmation::NoFinger),
            (0x03, Confirmation::EnrollFailed),
            (0x06, Confirmation::ImageMessy),
            (0x07, Confirmation::FeatureFail),
            (0x08, Confirmation::NoMatch),
            (0x09, Confirmation::NotFound),
            (0x0A, Confirmation::MergeFailed),
            (0x0B, Confirmation::BadLocation),
            (0x0C, Confirmation::TemplateRead),
            (0x0D, Confirmation::UploadFeature),
            (0x0E, Confirmation::DataPacketReceive),
            (0x0F, Confirmation::UploadImage),
            (0x10, Confirmation::DeleteFailed),
            (0x11, Confirmation::ClearFailed),
            (0x13, Confirmation::WrongPassword),
            (0x15, Confirmation::InvalidImage),
            (0x18, Confirmation::FlashError),
            (0x19, Confirmation::Undefined),
            (0x1A, Confirmation::InvalidRegister),
            (0x1B, Confirmation::BadRegisterConfig),
            (0x1C, Confirmation::BadNotepadPage),
            (0x1D, Confirmation::PortFailure),
            (0x1E, Confirmation::AutoEnrollFailed),
            (0x1F, Confirmation::LibraryFull),
            (0x20, Confirmation::AddressError),
            (0x21, Confirmation::MustVerifyPassword),
            (0x22, Confirmation::TemplateEmpty),
            (0x24, Confirmation::LibraryEmpty),
            (0x26, Confirmation::Timeout),
            (0x27, Confirmation::AlreadyExists),
            (0x29, Confirmation::SensorHardware),
            (0xFC, Confirmation::Unsupported),
            (0xFD, Confirmation::HardwareError),
            (0xFE, Confirmation::CommandFailed),
        ];
        assert_eq!(expected.len(), Confirmation::KNOWN.len());
        let mut messages = std::collections::HashSet::new();
        for &(byte, c) in expected {
            assert_eq!(Confirmation::from_byte(byte), c, "0x{byte:02X}");
            assert_eq!(c.byte(), byte);
            assert!(messages.insert(c.message()), "duplicate message for {c:?}");
            assert!(c.to_string().contains(&format!("0x{byte:02X}")));
        }
        for b in 0..=255u8 {
            let c = Confirmation::from_byte(b);
            assert_eq!(c.byte(), b);
            if !expected.iter().any(|(k, _)| *k == b) {
                assert_eq!(c, Confirmation::Other(b));
            }
        }
        assert!(Confirmation::from_byte(0x13).message().contains("password"));
        assert!(Confirmation::from_byte(0x1F).message().contains("full"));
    }
}

/// Property tests: whatever arrives on the serial line, the decoder never panics, never
/// holds more than [`MAX_BUFFERED`] bytes, and never hands out a packet it could not
/// have encoded itself.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Cases per property (`PROPTEST_CASES` overrides).
    const CASES: u32 = 2_000;

    fn kind() -> impl Strategy<Value = PacketKind> {
        prop_oneof![
            Just(PacketKind::Command),
            Just(PacketKind::Data),
            Just(PacketKind::Ack),
            Just(PacketKind::EndData),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn arbitrary_bytes_never_panic_and_memory_stays_bounded(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..12)
        ) {
            let mut d = Decoder::new();
            for chunk in &chunks {
                d.push(chunk);
                prop_assert!(d.pending() <= MAX_BUFFERED);
                let _ = Packet::decode(chunk);
                // Every call consumes or waits: at most one step per buffered byte.
                for _ in 0..=MAX_BUFFERED {
                    match d.next_frame() {
                        None => break,
                        Some(Ok(p)) => {
                            prop_assert!(p.payload.len() <= MAX_PAYLOAD);
                            let again = Packet::decode(&p.encode().unwrap()).unwrap().0;
                            prop_assert_eq!(again, p);
                        }
                        Some(Err(_)) => {}
                    }
                    prop_assert!(d.pending() <= MAX_BUFFERED);
                }
                let _ = d.abandon_partial();
            }
        }

        #[test]
        fn a_real_frame_is_found_behind_line_noise(
            noise in prop::collection::vec(any::<u8>(), 0..300),
            address in any::<u32>(),
            kind in kind(),
            payload in prop::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD),
        ) {
            let packet = Packet { address, kind, payload };
            let mut d = Decoder::new();
            d.push(&noise);
            d.push(&packet.encode().unwrap());
            let mut found = false;
            for _ in 0..2 * MAX_BUFFERED {
                match d.next_frame() {
                    Some(Ok(p)) if p == packet => { found = true; break; }
                    Some(_) => {}
                    None => { if d.abandon_partial().is_none() { break; } }
                }
            }
            prop_assert!(found, "frame lost behind {} noise bytes", noise.len());
        }
    }
}
