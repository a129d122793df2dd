//! Door hardware behind small traits, each with a real driver and a simulator, so
//! `cubby demo` and the tests run on any Linux box and a Pi with the parts plugged in
//! just works. Each submodule's own `//!` header says what it owns. The QR format the
//! scanners read is the core's (`cubby_core::qr`).
//!
//! - `fingerprint`: R30x fingerprint modules: codec, serial driver, reader service thread,
//!   pty emulator (`cubby fingerprint-emulator`).
//! - `scanner`: QR/barcode scanners: USB HID (evdev, grabbed) and serial, one thread each.
//! - `gpio`: door strike relay, green/red LEDs and buzzer (`DoorIo`): GPIO character device,
//!   simulator, absent.
//! - `selftest`: device reports (ok / absent / fault) for `cubby selftest`.
//! - `config`: the `[fingerprint]`, `[[scanner]]`, `[gpio]` configuration sections.
//! - `probe`: one-shot checks of the configured devices (`cubby selftest`).

pub mod config;
pub mod fingerprint;
pub mod gpio;
pub mod probe;
pub mod pty;
pub mod scanner;
pub mod selftest;
