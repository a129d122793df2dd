//! Cubby: an offline-first door kiosk for child-care centers.
//!
//! Module map (each module's own `//!` header says what it owns):
//!
//! - [`api`]: wire types of the hub contract (`docs/hub-api.md`). Nothing but serde structs.
//! - [`domain`]: pure rules: roster, eligibility, sync report, schedules, PINs, presence.
//! - [`kiosk`]: the door state machine `(state, input, now) -> effects` and its screens. Pure.
//! - [`config`]: the TOML configuration, validated with errors naming key and file.
//! - [`runtime`]: the running kiosk: wires the state machine to store, sync tasks and views; provisioning; secrets.
//! - [`store`]: SQLite: roster cache, events + outbox (one transaction), reports, audit.
//! - [`sync`]: the kiosk's side of the contract: HTTP client, outbox pusher, pullers.
//! - [`hub`]: the reference hub (`cubby hub`), axum + rusqlite, with a demo center and fault injection.
//! - [`clock`]: is the system clock NTP-synchronized?
//! - [`timefmt`]: how the command line writes times (people: the center's wall clock; `--json`: RFC 3339 UTC).
//! - [`systemd`]: sd_notify READY / WATCHDOG / STATUS.

pub mod api;
pub mod clock;
pub mod config;
pub mod devices;
pub mod domain;
pub mod export;
pub mod hub;
pub mod kiosk;
pub mod runtime;
pub mod store;
pub mod sync;
pub mod systemd;
pub mod timefmt;
#[cfg(feature = "ui")]
pub mod ui;
