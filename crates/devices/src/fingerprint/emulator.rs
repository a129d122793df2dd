//! The fingerprint module emulator on a pseudo-terminal: [`spawn_emulator`] opens a pty
//! (`libc::openpty`), serves [`EmulatedModule`] byte for byte on the master side from a
//! thread of its own, and gives the slave to whoever opens it (our driver, or any host
//! driver for these modules). Test hooks: place/lift/tap a finger, line noise, unplug and
//! replug, mute, fault injection. Also the `cubby fingerprint-emulator` loop
//! ([`run_emulator_cli`]).
//!
//! The driver should open [`EmulatorHandle::path`], a symlink to the current `/dev/pts/N`
//! that plays the part of a udev name (`/dev/serial/by-id/...`): unplugging closes the pty
//! and removes the link, replugging opens a fresh pty and points the link at it.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::codec::{Decoder, FrameError, DEFAULT_ADDRESS};
use super::module::{AuraState, EmulatedModule};

/// How the emulated module is set up.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Library capacity (an R503 has 200).
    pub capacity: u16,
    /// Module address.
    pub address: u32,
    /// Handshake password (0 = none needed).
    pub password: u32,
    /// Score reported for every match.
    pub score: u16,
    /// Where to put the stable symlink; `None` picks one under the temp dir.
    pub link_path: Option<PathBuf>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            capacity: 200,
            address: DEFAULT_ADDRESS,
            password: 0,
            score: 120,
            link_path: None,
        }
    }
}

/// Maps a person-readable identity ("per_01a") to a finger identity: FNV-1a 64, stable
/// across runs and platforms.
pub fn identity_from_str(s: &str) -> u64 {
    identity_from_bytes(s.as_bytes())
}

/// FNV-1a 64 of arbitrary bytes.
pub fn identity_from_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

enum Control {
    Unplug(Sender<()>),
    Replug(Sender<io::Result<PathBuf>>),
    Noise(Vec<u8>),
    Stop,
}

struct Shared {
    module: Mutex<EmulatedModule>,
    muted: Mutex<bool>,
    reply_prefix: Mutex<Vec<u8>>,
    pts: Mutex<Option<PathBuf>>,
    received: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running emulator. Dropping it stops the thread, closes the pty and removes the link.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
    link: PathBuf,
    own_dir: Option<PathBuf>,
}

struct Pty {
    master: File,
    slave_path: PathBuf,
}

/// Opens a raw-mode pty pair, keeps the master, closes the slave and returns its path.
fn open_pty() -> io::Result<Pty> {
    let crate::pty::PtyPair {
        master,
        slave,
        slave_path,
    } = crate::pty::open()?;
    // Raw mode on the slave so nothing is echoed or translated before a host opens it
    // (the line settings live as long as the pty, whoever opens the slave).
    // SAFETY: termios is plain data; the fd is valid.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        t.c_cflag |= libc::CREAD | libc::CLOCAL;
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // Non-blocking master: a host that stops reading makes us drop bytes, like a UART.
    // SAFETY: fcntl on a valid fd.
    unsafe {
        let fd = master.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    drop(slave);
    Ok(Pty {
        master: File::from(master),
        slave_path,
    })
}

fn point_link(link: &Path, target: &Path) -> io::Result<()> {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

/// Starts an emulator with `options`: opens the pty, points the link at it and serves.
pub fn spawn_emulator(options: EmulatorOptions) -> io::Result<EmulatorHandle> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let (link, own_dir) = match options.link_path.clone() {
        Some(p) => (p, None),
        None => {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("cubby-fingerprint-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            (dir.join("ttyFP0"), Some(dir))
        }
    };
    let pty = open_pty()?;
    point_link(&link, &pty.slave_path)?;
    let mut module = EmulatedModule::new();
    module.capacity = options.capacity;
    module.address = options.address;
    module.password = options.password;
    module.score = options.score;
    let shared = Arc::new(Shared {
        module: Mutex::new(module),
        muted: Mutex::new(false),
        reply_prefix: Mutex::new(Vec::new()),
        pts: Mutex::new(Some(pty.slave_path.clone())),
        received: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::channel();
    let thread = {
        let shared = shared.clone();
        let link = link.clone();
        thread::Builder::new()
            .name("fingerprint-emulator".into())
            .spawn(move || serve(shared, rx, Some(pty), link))?
    };
    Ok(EmulatorHandle {
        shared,
        control: tx,
        thread: Some(thread),
        link,
        own_dir,
    })
}

fn write_lossy(master: &mut File, bytes: &[u8]) {
    // A full pty buffer (host not reading) drops the rest, as a real UART would.
    let _ = master.write_all(bytes);
}

fn serve(shared: Arc<Shared>, rx: Receiver<Control>, mut pty: Option<Pty>, link: PathBuf) {
    let mut decoder = Decoder::new();
    let mut buf = [0u8; 512];
    loop {
        // Control messages first.
        loop {
            match rx.try_recv() {
                Ok(Control::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                Ok(Control::Unplug(done)) => {
                    pty = None;
                    let _ = std::fs::remove_file(&link);
                    *lock(&shared.pts) = None;
                    lock(&shared.module).power_cycle();
                    decoder.clear();
                    let _ = done.send(());
                }
                Ok(Control::Replug(done)) => {
                    let result = if let Some(p) = &pty {
                        Ok(p.slave_path.clone())
                    } else {
                        open_pty().and_then(|p| {
                            point_link(&link, &p.slave_path)?;
                            let path = p.slave_path.clone();
                            *lock(&shared.pts) = Some(path.clone());
                            pty = Some(p);
                            Ok(path)
                        })
                    };
                    let _ = done.send(result);
                }
                Ok(Control::Noise(bytes)) => {
                    if let Some(p) = &mut pty {
                        write_lossy(&mut p.master, &bytes);
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let Some(p) = &mut pty else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let mut fds = libc::pollfd {
            fd: p.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fds, 1, 10) };
        if n <= 0 {
            continue;
        }
        if fds.revents & libc::POLLIN == 0 {
            // POLLHUP: no host has the slave open. Wait for one.
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        let got = match p.master.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => {
                // EIO: the host closed the slave between poll and read.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.received.fetch_add(got, Ordering::Relaxed);
        decoder.push(&buf[..got]);
        while let Some(frame) = decoder.next_frame() {
            let reply = match frame {
                Ok(packet) => lock(&shared.module).handle(&packet),
                Err(FrameError::BadChecksum { .. }) => {
                    lock(&shared.module).reply_to_corrupt_packet()
                }
                Err(_) => Vec::new(),
            };
            if reply.is_empty() || *lock(&shared.muted) {
                continue;
            }
            let mut out = lock(&shared.reply_prefix).clone();
            out.extend_from_slice(&reply);
            write_lossy(&mut p.master, &out);
        }
    }
}

impl EmulatorHandle {
    /// The stable path to open (a symlink to the current `/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// The current slave device (`/dev/pts/N`), `None` while unplugged.
    pub fn pts_path(&self) -> Option<PathBuf> {
        lock(&self.shared.pts).clone()
    }

    /// Puts a finger of this identity on the sensor; `None` lifts it.
    pub fn place_finger(&self, identity: Option<u64>) {
        lock(&self.shared.module).place_finger(identity);
    }

    /// Lifts the finger.
    pub fn remove_finger(&self) {
        self.place_finger(None);
    }

    /// Places a finger for exactly one successful capture (then it is lifted).
    pub fn tap_finger(&self, identity: u64) {
        lock(&self.shared.module).tap_finger(identity);
    }

    /// Writes `bytes` to the host as if the line picked up noise.
    pub fn inject_noise(&self, bytes: &[u8]) {
        let _ = self.control.send(Control::Noise(bytes.to_vec()));
    }

    /// Sends `prefix` before every reply from now on (empty to stop).
    pub fn set_reply_prefix(&self, prefix: &[u8]) {
        *lock(&self.shared.reply_prefix) = prefix.to_vec();
    }

    /// Keeps reading but stops answering (`true`), or answers again (`false`).
    pub fn set_muted(&self, muted: bool) {
        *lock(&self.shared.muted) = muted;
    }

    /// Pulls the cable: closes the pty (the host's reads fail) and removes the link.
    /// The library survives (flash); RAM state is lost.
    pub fn unplug(&self) {
        let (tx, rx) = mpsc::channel();
        if self.control.send(Control::Unplug(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
    }

    /// Plugs the cable back in: a fresh pty behind the same link. Returns the new pts.
    pub fn replug(&self) -> io::Result<PathBuf> {
        let (tx, rx) = mpsc::channel();
        self.control
            .send(Control::Replug(tx))
            .map_err(|_| io::Error::other("emulator stopped"))?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| io::Error::other("emulator did not answer"))?
    }

    /// Makes the next `instruction` fail with confirmation `code`.
    pub fn fail_next(&self, instruction: u8, code: u8) {
        lock(&self.shared.module).fail_next(instruction, code);
    }

    /// The score every match reports from now on.
    pub fn set_score(&self, score: u16) {
        lock(&self.shared.module).score = score;
    }

    /// Writes a template straight into the library (test setup).
    pub fn store_template(&self, slot: u16, identity: u64) -> bool {
        lock(&self.shared.module).store_template(slot, identity)
    }

    /// The library: (slot, identity), ascending.
    pub fn templates(&self) -> Vec<(u16, u64)> {
        lock(&self.shared.module)
            .library()
            .iter()
            .map(|(s, i)| (*s, *i))
            .collect()
    }

    /// The last ring-LED command.
    pub fn led(&self) -> Option<AuraState> {
        lock(&self.shared.module).led()
    }

    /// Bytes received from the host so far.
    pub fn bytes_received(&self) -> usize {
        self.shared.received.load(Ordering::Relaxed)
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.link);
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The `cubby fingerprint-emulator` loop: starts an emulator, prints where it is, then
/// reads commands from `input`, one per line, answering on `output`:
///
/// - `finger <name>`: a finger (identity hashed from the name) stays on the sensor
/// - `tap <name>`: a finger for one capture (enrollment needs one tap per capture)
/// - `finger none` / `lift`: nothing on the sensor
/// - `unplug` / `replug`, `mute` / `unmute`, `noise <hex bytes>`
/// - `list`: the stored slots; `score <n>`: the match score; `quit`
///
/// At end of input it returns when `exit_on_eof`, else it keeps serving until the
/// process ends (so it can run with stdin closed).
pub fn run_emulator_cli(
    options: EmulatorOptions,
    input: impl BufRead,
    mut output: impl Write,
    exit_on_eof: bool,
) -> io::Result<()> {
    let emu = spawn_emulator(options)?;
    writeln!(
        output,
        "fingerprint emulator ready: {} -> {}",
        emu.path().display(),
        emu.pts_path().unwrap_or_default().display()
    )?;
    writeln!(
        output,
        "commands: finger <name> | tap <name> | finger none | unplug | replug | mute | unmute | noise <hex> | list | score <n> | quit"
    )?;
    output.flush()?;
    for line in input.lines() {
        let line = line?;
        match run_command(&emu, &line) {
            Command::Quit => return Ok(()),
            Command::Nothing => continue,
            Command::Reply(reply) => {
                writeln!(output, "{reply}")?;
                output.flush()?;
            }
        }
    }
    if !exit_on_eof {
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    Ok(())
}

/// What one command line of the emulator's control loop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Answer this line.
    Reply(String),
    /// An empty line.
    Nothing,
    /// `quit` / `exit`.
    Quit,
}

/// Runs one control command on `emu` (the words of [`run_emulator_cli`]); shared by the
/// CLI and the demo's control pipe.
pub fn run_command(emu: &EmulatorHandle, line: &str) -> Command {
    let mut words = line.split_whitespace();
    let reply = match (words.next(), words.next()) {
        (None, _) => return Command::Nothing,
        (Some("quit" | "exit"), _) => return Command::Quit,
        (Some("finger"), Some("none")) | (Some("lift"), _) => {
            emu.remove_finger();
            "finger lifted".to_string()
        }
        (Some("finger"), Some(name)) => {
            emu.place_finger(Some(identity_from_str(name)));
            format!("finger {name} on the sensor")
        }
        (Some("tap"), Some(name)) => {
            emu.tap_finger(identity_from_str(name));
            format!("finger {name} tapped (one capture)")
        }
        (Some("unplug"), _) => {
            emu.unplug();
            "unplugged".to_string()
        }
        (Some("replug"), _) => match emu.replug() {
            Ok(p) => format!("replugged: {} -> {}", emu.path().display(), p.display()),
            Err(e) => format!("replug failed: {e}"),
        },
        (Some("mute"), _) => {
            emu.set_muted(true);
            "muted".to_string()
        }
        (Some("unmute"), _) => {
            emu.set_muted(false);
            "answering".to_string()
        }
        (Some("noise"), Some(first)) => {
            let hex: String = std::iter::once(first).chain(words).collect();
            match hex::decode(&hex) {
                Ok(bytes) => {
                    emu.inject_noise(&bytes);
                    format!("sent {} noise byte(s)", bytes.len())
                }
                Err(e) => format!("bad hex: {e}"),
            }
        }
        (Some("score"), Some(n)) => match n.parse() {
            Ok(n) => {
                emu.set_score(n);
                format!("score {n}")
            }
            Err(_) => "score needs a number".to_string(),
        },
        (Some("list"), _) => {
            let slots: Vec<String> = emu.templates().iter().map(|(s, _)| s.to_string()).collect();
            format!("{} template(s): [{}]", slots.len(), slots.join(", "))
        }
        _ => format!("unknown command: {line}"),
    };
    Command::Reply(reply)
}

/// Serves emulator commands written to a named pipe at `path` (created here, mode 0600),
/// one per line, e.g. `echo "finger per_01a" > cubby-demo/finger`. Replies go to the log.
/// The thread ends when `emu` is dropped by everyone else (checked between writers).
pub fn serve_command_pipe(emu: Arc<EmulatorHandle>, path: &Path) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::other("pipe path contains a NUL byte"))?;
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let path = path.to_path_buf();
    let weak = Arc::downgrade(&emu);
    drop(emu);
    thread::Builder::new()
        .name("fingerprint-pipe".into())
        .spawn(move || loop {
            // Opening blocks until a writer comes; each `echo` is one writer.
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!("fingerprint control pipe {}: {e}", path.display());
                    return;
                }
            };
            for line in io::BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                let Some(emu) = weak.upgrade() else { return };
                match run_command(&emu, &line) {
                    Command::Reply(r) => tracing::info!("fingerprint emulator: {r}"),
                    Command::Nothing => {}
                    Command::Quit => tracing::info!("fingerprint emulator: quit ignored"),
                }
            }
            if weak.strong_count() == 0 {
                let _ = std::fs::remove_file(&path);
                return;
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_stable_fnv1a() {
        assert_eq!(identity_from_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(identity_from_str("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(identity_from_str("per_01a"), identity_from_str("per_01b"));
    }

    #[test]
    fn the_control_pipe_runs_commands_on_the_emulator() {
        let dir = tempfile::tempdir().unwrap();
        let emu = Arc::new(spawn_emulator(EmulatorOptions::default()).unwrap());
        let pipe = dir.path().join("finger");
        serve_command_pipe(Arc::clone(&emu), &pipe).unwrap();
        assert!(emu.pts_path().is_some());
        // A writer like `echo unplug > pipe` (open blocks until the thread reads).
        let mut w = std::fs::OpenOptions::new().write(true).open(&pipe).unwrap();
        w.write_all(b"\nunplug\n").unwrap();
        drop(w);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while emu.pts_path().is_some() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(emu.pts_path(), None, "unplug was not run");
        assert_eq!(run_command(&emu, "  "), Command::Nothing);
        assert_eq!(run_command(&emu, "quit"), Command::Quit);
        assert_eq!(
            run_command(&emu, "score x"),
            Command::Reply("score needs a number".into())
        );
    }

    #[test]
    fn cli_prints_the_path_and_obeys_commands() {
        let input = b"finger per_01a\nlist\nbogus\nnoise ef 01\nquit\n" as &[u8];
        let mut out = Vec::new();
        run_emulator_cli(EmulatorOptions::default(), input, &mut out, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("fingerprint emulator ready: "), "{text}");
        assert!(text.contains("/dev/pts/"), "{text}");
        assert!(text.contains("finger per_01a on the sensor"), "{text}");
        assert!(text.contains("0 template(s)"), "{text}");
        assert!(text.contains("unknown command: bogus"), "{text}");
        assert!(text.contains("sent 2 noise byte(s)"), "{text}");
    }
}
