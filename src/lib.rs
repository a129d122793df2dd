//! Cubby: an offline-first door kiosk for child-care centers. This crate is the shipped
//! binary's library: the edges that run the pure core against a real disk, network,
//! devices and window.
//!
//! The workspace (each crate's and module's own `//!` header says what it owns):
//!
//! - `cubby-core`, re-exported here as [`api`], [`domain`], [`kiosk`], [`qr`],
//!   [`sanitize`], [`timefmt`]: wire types, rules, the door state machine and its words.
//!   Pure, no I/O.
//! - `cubby-devices` ([`devices`]): fingerprint reader, scanners, GPIO, self-test.
//! - `cubby-hub` ([`hub`]): the reference hub (`cubby hub`), axum + rusqlite.
//! - `cubby-ui` ([`ui`], with the `ui` feature): the Slint components and the frame view.
//!
//! This crate's own modules:
//!
//! - [`config`]: the TOML configuration, validated with errors naming key and file.
//! - [`runtime`]: the running kiosk: wires the state machine to store, sync tasks, devices
//!   and views; provisioning, first-boot setup, secrets.
//! - [`store`]: SQLite: roster cache, events + outbox (one transaction), reports, audit.
//! - [`sync`]: the kiosk's side of the contract: HTTP client, outbox pusher, pullers, heartbeat.
//! - [`export`]: the attendance export (`cubby export`) and the audit-log listing.
//! - [`window`] (with `ui`): the touch window's event loop wired to the kiosk task.
//! - [`shutdown`]: SIGTERM/SIGINT, and joining the background tasks before exit.
//! - [`clock`]: is the system clock NTP-synchronized?
//! - [`systemd`]: sd_notify READY / WATCHDOG / STATUS.

pub use cubby_core::{api, domain, kiosk, qr, sanitize, timefmt};
pub use cubby_devices as devices;
pub use cubby_hub as hub;
#[cfg(feature = "ui")]
pub use cubby_ui as ui;

pub mod clock;
pub mod config;
pub mod export;
pub mod runtime;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod systemd;
#[cfg(feature = "ui")]
pub mod window;
