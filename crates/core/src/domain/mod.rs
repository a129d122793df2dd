//! The pure domain: no I/O, no clocks (time is a parameter), no randomness.
//!
//! - `source`: the hub's records merged across syncs, and whole-roster validation.
//! - `eligibility`: the rules of `domain-rules.md` → the door's roster + a verdict per record.
//! - `roster`: the active roster, PIN index, and who may check in/out whom.
//! - `report`: the sync report (counts per kind + one line per skipped record).
//! - `schedule`: schedule blocks → room at check-in, unscheduled, late pick-up.
//! - `pin`: PIN HMAC and keypad lockout.
//! - `presence`: who is here, folded from the day's events.

pub mod attendance;
pub mod autosignout;
pub mod eligibility;
pub mod pin;
pub mod presence;
pub mod ratios;
pub mod report;
pub mod rollcall;
pub mod roster;
pub mod schedule;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testdata;
pub mod timeclock;
