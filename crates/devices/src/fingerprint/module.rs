//! [`EmulatedModule`]: a pure model of an R503-like module's firmware. It takes decoded
//! host packets and returns the exact bytes a real module would send back, keeping a
//! template library in "flash", six character buffers, the image buffer, the password and
//! address, the system parameters and the ring LED state.
//!
//! A finger is an opaque `u64` identity: GenImg captures the identity of the finger on the
//! sensor, Img2Tz copies it into a character buffer, Search finds the slot holding the same
//! identity. No I/O here; [`super::emulator`] puts it on a pseudo-terminal.

use std::collections::{BTreeMap, VecDeque};

use super::codec::{instruction as ins, Packet, PacketKind, DEFAULT_ADDRESS, READY_BYTE};

/// Number of character buffers (CharBuffer1..6 on an R503).
pub const CHAR_BUFFERS: usize = 6;
/// Size of an uploaded character file / template (bytes).
pub const TEMPLATE_BYTES: usize = 512;
const TEMPLATE_MAGIC: &[u8; 8] = b"CUBBYFP1";

/// The last AuraLedConfig the module received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuraState {
    /// 1 breathing, 2 flashing, 3 on, 4 off, 5 fade in, 6 fade out.
    pub control: u8,
    /// Animation speed.
    pub speed: u8,
    /// 1 red, 2 blue, 3 purple (later firmware: 4 green, 5 yellow, 6 cyan, 7 white).
    pub color: u8,
    /// Repetitions, 0 = forever.
    pub times: u8,
}

/// The emulated firmware state.
#[derive(Debug, Clone)]
pub struct EmulatedModule {
    /// The module's address (replies carry it; packets to other addresses are ignored).
    pub address: u32,
    /// The handshake password; while it is not 0 every command but VfyPwd needs it verified.
    pub password: u32,
    verified: bool,
    /// Library capacity (200 on an R503).
    pub capacity: u16,
    /// Security level 1..=5.
    pub security_level: u16,
    /// Data packet size code: 0..=3 for 32/64/128/256 bytes.
    pub packet_size_code: u16,
    /// Baud rate multiplier N (9600 × N).
    pub baud_n: u16,
    /// The score every successful match reports.
    pub score: u16,
    library: BTreeMap<u16, u64>,
    finger: Option<u64>,
    finger_once: bool,
    image: Option<u64>,
    buffers: [Option<u64>; CHAR_BUFFERS],
    last_match: bool,
    led: Option<AuraState>,
    faults: VecDeque<(u8, u8)>,
    download: Option<(usize, Vec<u8>)>,
    random: u32,
}

impl Default for EmulatedModule {
    fn default() -> Self {
        EmulatedModule {
            address: DEFAULT_ADDRESS,
            password: 0,
            verified: false,
            capacity: 200,
            security_level: 3,
            packet_size_code: 2,
            baud_n: 6,
            score: 120,
            library: BTreeMap::new(),
            finger: None,
            finger_once: false,
            image: None,
            buffers: [None; CHAR_BUFFERS],
            last_match: false,
            led: None,
            faults: VecDeque::new(),
            download: None,
            random: 0x1234_5678,
        }
    }
}

/// Zero bytes appended after a failure code, so the reply keeps the size hosts read.
fn result_len(instruction: u8) -> usize {
    match instruction {
        ins::SEARCH | ins::HIGH_SPEED_SEARCH | ins::GET_RANDOM_CODE => 4,
        ins::MATCH | ins::TEMPLATE_NUM => 2,
        ins::READ_INDEX_TABLE => 32,
        ins::READ_SYS_PARA => 16,
        _ => 0,
    }
}

/// The 512-byte character file the emulator uploads for an identity.
pub fn template_bytes(identity: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(TEMPLATE_BYTES);
    out.extend_from_slice(TEMPLATE_MAGIC);
    out.extend_from_slice(&identity.to_be_bytes());
    let mut x = identity ^ 0x9E37_79B9_7F4A_7C15;
    while out.len() < TEMPLATE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 24) as u8);
    }
    out
}

/// The identity a downloaded character file stands for (its own if it came from
/// [`template_bytes`], else a hash of the bytes).
pub fn identity_of_template(bytes: &[u8]) -> u64 {
    if bytes.len() >= 16 && &bytes[..8] == TEMPLATE_MAGIC {
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[8..16]);
        return u64::from_be_bytes(id);
    }
    super::emulator::identity_from_bytes(bytes)
}

impl EmulatedModule {
    /// A module with the R503's defaults (capacity 200, address 0xFFFFFFFF, password 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a finger of this identity on the sensor (`None` lifts it).
    pub fn place_finger(&mut self, identity: Option<u64>) {
        self.finger = identity;
        self.finger_once = false;
    }

    /// Puts a finger on the sensor for one successful capture only (then it is lifted).
    pub fn tap_finger(&mut self, identity: u64) {
        self.finger = Some(identity);
        self.finger_once = true;
    }

    /// The finger on the sensor.
    pub fn finger(&self) -> Option<u64> {
        self.finger
    }

    /// Writes a template straight into flash (test setup). Fails outside the library.
    pub fn store_template(&mut self, slot: u16, identity: u64) -> bool {
        if slot >= self.capacity {
            return false;
        }
        self.library.insert(slot, identity);
        true
    }

    /// The library: slot → identity.
    pub fn library(&self) -> &BTreeMap<u16, u64> {
        &self.library
    }

    /// The last ring-LED command.
    pub fn led(&self) -> Option<AuraState> {
        self.led
    }

    /// Makes the next `instruction` fail with confirmation `code`.
    pub fn fail_next(&mut self, instruction: u8, code: u8) {
        self.faults.push_back((instruction, code));
    }

    /// Power cycle: RAM (buffers, image, password verification) is lost, flash is kept.
    pub fn power_cycle(&mut self) {
        self.verified = false;
        self.image = None;
        self.buffers = [None; CHAR_BUFFERS];
        self.download = None;
        self.last_match = false;
    }

    fn status_register(&self) -> u16 {
        let mut r = 0u16;
        if self.last_match {
            r |= 0b0010;
        }
        if self.verified {
            r |= 0b0100;
        }
        if self.image.is_some() {
            r |= 0b1000;
        }
        r
    }

    fn packet_size(&self) -> usize {
        32usize << self.packet_size_code.min(3)
    }

    fn ack(&self, code: u8, results: &[u8]) -> Vec<u8> {
        // Results are at most 32 bytes, far under the payload limit.
        Packet::ack(self.address, code, results)
            .encode()
            .unwrap_or_default()
    }

    fn fail(&self, instruction: u8, code: u8) -> Vec<u8> {
        self.ack(code, &vec![0; result_len(instruction)])
    }

    /// Answers one packet from the host. Returns the bytes to send (empty: stay silent,
    /// as a module does for packets addressed to another module).
    pub fn handle(&mut self, packet: &Packet) -> Vec<u8> {
        if packet.address != self.address {
            return Vec::new();
        }
        match packet.kind {
            PacketKind::Command => self.command(packet),
            PacketKind::Data | PacketKind::EndData => self.data(packet),
            PacketKind::Ack => Vec::new(),
        }
    }

    /// The reply to a command packet whose checksum was wrong.
    pub fn reply_to_corrupt_packet(&self) -> Vec<u8> {
        self.ack(0x01, &[])
    }

    fn data(&mut self, packet: &Packet) -> Vec<u8> {
        let Some((buffer, mut bytes)) = self.download.take() else {
            return Vec::new();
        };
        bytes.extend_from_slice(&packet.payload);
        if packet.kind == PacketKind::EndData {
            self.buffers[buffer] = Some(identity_of_template(&bytes));
        } else if bytes.len() <= 4 * TEMPLATE_BYTES {
            self.download = Some((buffer, bytes));
        }
        Vec::new()
    }

    fn buffer_index(&self, id: u8) -> Option<usize> {
        let i = usize::from(id);
        (1..=CHAR_BUFFERS).contains(&i).then(|| i - 1)
    }

    fn command(&mut self, packet: &Packet) -> Vec<u8> {
        self.download = None;
        let Some((&instruction, p)) = packet.payload.split_first() else {
            return self.ack(0x01, &[]);
        };
        if self.password != 0 && !self.verified && instruction != ins::VFY_PWD {
            return self.fail(instruction, 0x21);
        }
        if let Some(pos) = self.faults.iter().position(|(i, _)| *i == instruction) {
            if let Some((_, code)) = self.faults.remove(pos) {
                return self.fail(instruction, code);
            }
        }
        let need = |n: usize| p.len() >= n;
        let u16_at = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
        match instruction {
            ins::VFY_PWD if need(4) => {
                if u32::from_be_bytes([p[0], p[1], p[2], p[3]]) == self.password {
                    self.verified = true;
                    self.ack(0x00, &[])
                } else {
                    self.ack(0x13, &[])
                }
            }
            ins::SET_PWD if need(4) => {
                self.password = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                self.ack(0x00, &[])
            }
            ins::SET_ADDR if need(4) => {
                self.address = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                self.ack(0x00, &[])
            }
            ins::READ_SYS_PARA => {
                let mut r = Vec::with_capacity(16);
                r.extend_from_slice(&self.status_register().to_be_bytes());
                r.extend_from_slice(&0u16.to_be_bytes()); // system identifier
                r.extend_from_slice(&self.capacity.to_be_bytes());
                r.extend_from_slice(&self.security_level.to_be_bytes());
                r.extend_from_slice(&self.address.to_be_bytes());
                r.extend_from_slice(&self.packet_size_code.to_be_bytes());
                r.extend_from_slice(&self.baud_n.to_be_bytes());
                self.ack(0x00, &r)
            }
            ins::SET_SYS_PARA if need(2) => {
                let value = u16::from(p[1]);
                match p[0] {
                    4 if (1..=12).contains(&value) => self.baud_n = value,
                    5 if (1..=5).contains(&value) => self.security_level = value,
                    6 if value <= 3 => self.packet_size_code = value,
                    4..=6 => return self.ack(0x1B, &[]),
                    _ => return self.ack(0x1A, &[]),
                }
                self.ack(0x00, &[])
            }
            ins::TEMPLATE_NUM => {
                let n = self.library.len() as u16;
                self.ack(0x00, &n.to_be_bytes())
            }
            ins::READ_INDEX_TABLE if need(1) => {
                if p[0] > 3 {
                    return self.fail(instruction, 0x0B);
                }
                let base = u16::from(p[0]) * 256;
                let mut table = [0u8; 32];
                for &slot in self.library.keys() {
                    if (base..base + 256).contains(&slot) {
                        let bit = usize::from(slot - base);
                        table[bit / 8] |= 1 << (bit % 8);
                    }
                }
                self.ack(0x00, &table)
            }
            ins::GEN_IMG | ins::GET_IMAGE_EX => match self.finger {
                Some(id) => {
                    self.image = Some(id);
                    if self.finger_once {
                        self.finger = None;
                        self.finger_once = false;
                    }
                    self.ack(0x00, &[])
                }
                None => self.ack(0x02, &[]),
            },
            ins::IMG2TZ if need(1) => {
                let Some(b) = self.buffer_index(p[0]) else {
                    return self.ack(0x01, &[]);
                };
                match self.image {
                    Some(id) => {
                        self.buffers[b] = Some(id);
                        self.ack(0x00, &[])
                    }
                    None => self.ack(0x15, &[]),
                }
            }
            ins::MATCH => match (self.buffers[0], self.buffers[1]) {
                (Some(a), Some(b)) if a == b => self.ack(0x00, &self.score.to_be_bytes()),
                _ => self.fail(instruction, 0x08),
            },
            ins::SEARCH | ins::HIGH_SPEED_SEARCH if need(5) => {
                let Some(b) = self.buffer_index(p[0]) else {
                    return self.fail(instruction, 0x01);
                };
                let start = u32::from(u16_at(1));
                let end = (start + u32::from(u16_at(3))).min(u32::from(self.capacity));
                let wanted = self.buffers[b];
                let found = self.library.iter().find(|(slot, id)| {
                    (start..end).contains(&u32::from(**slot)) && Some(**id) == wanted
                });
                self.last_match = found.is_some();
                match found {
                    Some((slot, _)) => {
                        let mut r = slot.to_be_bytes().to_vec();
                        r.extend_from_slice(&self.score.to_be_bytes());
                        self.ack(0x00, &r)
                    }
                    None => self.fail(instruction, 0x09),
                }
            }
            ins::REG_MODEL => {
                let filled: Vec<u64> = self.buffers.iter().flatten().copied().collect();
                let merged = match filled.split_first() {
                    Some((first, rest))
                        if self.buffers[0].is_some()
                            && self.buffers[1].is_some()
                            && rest.iter().all(|x| x == first) =>
                    {
                        Some(*first)
                    }
                    _ => None,
                };
                // Extra buffers only count towards the model they were captured for.
                for b in &mut self.buffers[2..] {
                    *b = None;
                }
                match merged {
                    Some(id) => {
                        self.buffers[0] = Some(id);
                        self.buffers[1] = Some(id);
                        self.ack(0x00, &[])
                    }
                    None => self.ack(0x0A, &[]),
                }
            }
            ins::STORE if need(3) => {
                let Some(b) = self.buffer_index(p[0]) else {
                    return self.ack(0x01, &[]);
                };
                let slot = u16_at(1);
                if slot >= self.capacity {
                    return self.ack(0x0B, &[]);
                }
                match self.buffers[b] {
                    Some(id) => {
                        self.library.insert(slot, id);
                        self.ack(0x00, &[])
                    }
                    None => self.ack(0x22, &[]),
                }
            }
            ins::LOAD_CHAR if need(3) => {
                let Some(b) = self.buffer_index(p[0]) else {
                    return self.ack(0x01, &[]);
                };
                let slot = u16_at(1);
                if slot >= self.capacity {
                    return self.ack(0x0B, &[]);
                }
                match self.library.get(&slot) {
                    Some(id) => {
                        self.buffers[b] = Some(*id);
                        self.ack(0x00, &[])
                    }
                    None => self.ack(0x0C, &[]),
                }
            }
            ins::DELETE_CHAR if need(4) => {
                let start = u32::from(u16_at(0));
                let count = u32::from(u16_at(2));
                if count == 0 || start + count > u32::from(self.capacity) {
                    return self.ack(0x10, &[]);
                }
                self.library
                    .retain(|slot, _| !(start..start + count).contains(&u32::from(*slot)));
                self.ack(0x00, &[])
            }
            ins::EMPTY => {
                self.library.clear();
                self.ack(0x00, &[])
            }
            ins::UP_CHAR if need(1) => {
                let Some(b) = self.buffer_index(p[0]) else {
                    return self.ack(0x01, &[]);
                };
                let Some(id) = self.buffers[b] else {
                    return self.ack(0x0D, &[]);
                };
                let mut out = self.ack(0x00, &[]);
                let bytes = template_bytes(id);
                let chunks: Vec<&[u8]> = bytes.chunks(self.packet_size()).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let kind = if i + 1 == chunks.len() {
                        PacketKind::EndData
                    } else {
                        PacketKind::Data
                    };
                    let frame = Packet {
                        address: self.address,
                        kind,
                        payload: chunk.to_vec(),
                    };
                    out.extend(frame.encode().unwrap_or_default());
                }
                out
            }
            ins::DOWN_CHAR if need(1) => {
                let Some(b) = self.buffer_index(p[0]) else {
                    return self.ack(0x01, &[]);
                };
                self.download = Some((b, Vec::new()));
                self.ack(0x00, &[])
            }
            ins::GET_RANDOM_CODE => {
                self.random = self
                    .random
                    .wrapping_mul(1_664_525)
                    .wrapping_add(1_013_904_223);
                self.ack(0x00, &self.random.to_be_bytes())
            }
            ins::AURA_LED_CONFIG if need(4) => {
                self.led = Some(AuraState {
                    control: p[0],
                    speed: p[1],
                    color: p[2],
                    times: p[3],
                });
                self.ack(0x00, &[])
            }
            ins::HANDSHAKE | ins::CHECK_SENSOR | ins::CANCEL => self.ack(0x00, &[]),
            ins::SOFT_RST => {
                let mut out = self.ack(0x00, &[]);
                self.power_cycle();
                out.push(READY_BYTE);
                out
            }
            // Known instructions with missing parameters: a receive error.
            ins::VFY_PWD
            | ins::SET_PWD
            | ins::SET_ADDR
            | ins::SET_SYS_PARA
            | ins::READ_INDEX_TABLE
            | ins::IMG2TZ
            | ins::SEARCH
            | ins::HIGH_SPEED_SEARCH
            | ins::STORE
            | ins::LOAD_CHAR
            | ins::DELETE_CHAR
            | ins::UP_CHAR
            | ins::DOWN_CHAR
            | ins::AURA_LED_CONFIG => self.fail(instruction, 0x01),
            _ => self.fail(instruction, 0xFC),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(m: &mut EmulatedModule, instruction: u8, params: &[u8]) -> (u8, Vec<u8>) {
        let bytes = m.handle(&Packet::command(m.address, instruction, params));
        let (p, used) = Packet::decode(&bytes).unwrap();
        assert_eq!(used, bytes.len(), "one frame");
        assert_eq!(p.kind, PacketKind::Ack);
        (p.payload[0], p.payload[1..].to_vec())
    }

    #[test]
    fn capture_search_store_cycle() {
        let mut m = EmulatedModule::new();
        assert_eq!(send(&mut m, ins::GEN_IMG, &[]).0, 0x02);
        assert_eq!(send(&mut m, ins::IMG2TZ, &[1]).0, 0x15);
        m.place_finger(Some(42));
        assert_eq!(send(&mut m, ins::GEN_IMG, &[]).0, 0x00);
        assert_eq!(send(&mut m, ins::IMG2TZ, &[1]).0, 0x00);
        assert_eq!(send(&mut m, ins::IMG2TZ, &[2]).0, 0x00);
        assert_eq!(send(&mut m, ins::REG_MODEL, &[]).0, 0x00);
        assert_eq!(send(&mut m, ins::STORE, &[1, 0, 7]).0, 0x00);
        assert_eq!(send(&mut m, ins::TEMPLATE_NUM, &[]), (0, vec![0, 1]));
        let (code, r) = send(&mut m, ins::SEARCH, &[1, 0, 0, 0, 200]);
        assert_eq!((code, r), (0, vec![0, 7, 0, 120]));
        let (_, table) = send(&mut m, ins::READ_INDEX_TABLE, &[0]);
        assert_eq!(table[0], 0b1000_0000);
        m.place_finger(Some(43));
        send(&mut m, ins::GEN_IMG, &[]);
        send(&mut m, ins::IMG2TZ, &[1]);
        assert_eq!(
            send(&mut m, ins::SEARCH, &[1, 0, 0, 0, 200]),
            (0x09, vec![0; 4])
        );
    }

    #[test]
    fn password_gates_every_command_until_verified() {
        let mut m = EmulatedModule::new();
        m.password = 0xCAFE_F00D;
        assert_eq!(send(&mut m, ins::TEMPLATE_NUM, &[]), (0x21, vec![0, 0]));
        assert_eq!(send(&mut m, ins::VFY_PWD, &[0, 0, 0, 0]).0, 0x13);
        assert_eq!(
            send(&mut m, ins::VFY_PWD, &[0xCA, 0xFE, 0xF0, 0x0D]).0,
            0x00
        );
        assert_eq!(send(&mut m, ins::TEMPLATE_NUM, &[]).0, 0x00);
        m.power_cycle();
        assert_eq!(send(&mut m, ins::TEMPLATE_NUM, &[]).0, 0x21);
    }

    #[test]
    fn other_addresses_get_silence() {
        let mut m = EmulatedModule::new();
        assert!(m
            .handle(&Packet::command(1, ins::HANDSHAKE, &[]))
            .is_empty());
    }

    #[test]
    fn merge_of_different_fingers_fails_and_delete_empties_slots() {
        let mut m = EmulatedModule::new();
        m.place_finger(Some(1));
        send(&mut m, ins::GEN_IMG, &[]);
        send(&mut m, ins::IMG2TZ, &[1]);
        m.place_finger(Some(2));
        send(&mut m, ins::GEN_IMG, &[]);
        send(&mut m, ins::IMG2TZ, &[2]);
        assert_eq!(send(&mut m, ins::REG_MODEL, &[]).0, 0x0A);
        assert_eq!(send(&mut m, ins::MATCH, &[]), (0x08, vec![0, 0]));
        m.store_template(3, 9);
        m.store_template(4, 9);
        assert_eq!(send(&mut m, ins::DELETE_CHAR, &[0, 3, 0, 1]).0, 0x00);
        assert_eq!(m.library().keys().copied().collect::<Vec<_>>(), vec![4]);
        assert_eq!(send(&mut m, ins::DELETE_CHAR, &[0, 199, 0, 2]).0, 0x10);
        assert_eq!(send(&mut m, ins::STORE, &[1, 0, 200]).0, 0x0B);
    }

    #[test]
    fn upload_and_download_keep_the_identity() {
        let mut m = EmulatedModule::new();
        m.place_finger(Some(77));
        send(&mut m, ins::GEN_IMG, &[]);
        send(&mut m, ins::IMG2TZ, &[1]);
        let bytes = m.handle(&Packet::command(m.address, ins::UP_CHAR, &[1]));
        let mut d = super::super::codec::Decoder::new();
        d.push(&bytes);
        let mut data = Vec::new();
        let mut kinds = Vec::new();
        while let Some(Ok(p)) = d.next_frame() {
            kinds.push(p.kind);
            if p.kind != PacketKind::Ack {
                data.extend(p.payload);
            }
        }
        assert_eq!(kinds.len(), 1 + TEMPLATE_BYTES / 128);
        assert_eq!(kinds.last(), Some(&PacketKind::EndData));
        assert_eq!(identity_of_template(&data), 77);
        // Download it into buffer 2 and compare.
        assert_eq!(send(&mut m, ins::DOWN_CHAR, &[2]).0, 0);
        for (i, chunk) in data.chunks(128).enumerate() {
            let kind = if i == 3 {
                PacketKind::EndData
            } else {
                PacketKind::Data
            };
            let p = Packet {
                address: m.address,
                kind,
                payload: chunk.to_vec(),
            };
            assert!(m.handle(&p).is_empty());
        }
        assert_eq!(send(&mut m, ins::MATCH, &[]), (0, vec![0, 120]));
    }

    #[test]
    fn faults_unknown_instructions_and_soft_reset() {
        let mut m = EmulatedModule::new();
        m.fail_next(ins::GEN_IMG, 0x03);
        m.place_finger(Some(1));
        assert_eq!(send(&mut m, ins::GEN_IMG, &[]).0, 0x03);
        assert_eq!(send(&mut m, ins::GEN_IMG, &[]).0, 0x00);
        assert_eq!(send(&mut m, 0x77, &[]).0, 0xFC);
        assert_eq!(send(&mut m, ins::SEARCH, &[1]).0, 0x01);
        let bytes = m.handle(&Packet::command(m.address, ins::SOFT_RST, &[]));
        assert_eq!(bytes.last(), Some(&READY_BYTE));
        assert_eq!(send(&mut m, ins::SET_SYS_PARA, &[9, 1]).0, 0x1A);
        assert_eq!(send(&mut m, ins::SET_SYS_PARA, &[5, 9]).0, 0x1B);
        assert_eq!(send(&mut m, ins::SET_SYS_PARA, &[6, 3]).0, 0x00);
        assert_eq!(m.packet_size(), 256);
    }
}
