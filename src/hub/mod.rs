//! The reference hub (`cubby hub`): implements `docs/hub-api.md` over axum + rusqlite.
pub mod cli;
