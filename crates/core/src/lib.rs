//! The pure core of Cubby: what the door knows and decides, with no I/O.
//!
//! Nothing here touches a file, a socket, a device or a clock: time is a parameter, and
//! the crate depends on no async runtime, database, HTTP client or UI toolkit, so the
//! compiler keeps it that way and `cargo test -p cubby-core` runs in seconds.
//!
//! - [`api`]: wire types of the hub contract (`docs/hub-api.md`). Nothing but serde structs.
//! - [`domain`]: the rules: roster, eligibility, PINs and their HMAC, presence, schedules,
//!   attendance, ratios, time clock, auto sign-out, the sync report.
//! - [`kiosk`]: the door state machine `(state, input, now) -> effects`, its screens, the
//!   frames views draw and the words in English and Spanish.
//! - [`qr`]: signed QR codes (`CUBBY1.<payload>.<sig>`, hub-api §7): format, signing,
//!   verification, scan dedup.
//! - [`sanitize`]: text from outside made safe for a log line or a screen.
//! - [`timefmt`]: how the command line writes times (people: the center's wall clock;
//!   `--json`: RFC 3339 UTC).

pub mod api;
pub mod domain;
pub mod kiosk;
pub mod qr;
pub mod sanitize;
pub mod timefmt;
