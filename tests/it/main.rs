//! The integration tests, one binary: the real `cubby` binary (as hub, headless kiosk and
//! command line), real SQLite files, loopback HTTP, ptys, the touch UI's testing backend.
//! Each module's own `//!` header says what it proves.

mod common;

mod audit_cli;
mod center_ops;
mod cli_output;
mod devices_selftest;
mod door_to_hub;
mod fingerprint_pty;
mod first_boot;
mod hub_api;
mod malformed_roster;
mod packaging;
mod qr_scanner;
mod shutdown;
mod startup_check;
mod sync_client;
mod technician_pin;
mod ui_language;
