//! Cubby: an offline-first door kiosk for child-care centers.
//!
//! Module map (each module's own `//!` header says what it owns):
//!
//! - [`api`]: wire types of the hub contract (`docs/hub-api.md`). Nothing but serde structs.
//! - [`sync`]: the kiosk's side of the contract: HTTP client, outbox pusher, pullers.
//! - [`hub`]: the reference hub (`cubby hub`), axum + rusqlite, with a demo center and fault injection.

pub mod api;
pub mod hub;
pub mod sync;
