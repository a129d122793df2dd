//! Errors of the reference hub's library code (storage, roster edits, enrollment).
//!
//! The HTTP layer maps them to status codes and `{"error": ...}` bodies in `routes`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot open hub database {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    #[error("{} is not a cubby hub database", path.display())]
    NotAHubDb { path: PathBuf },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown enrollment code")]
    UnknownEnrollCode,
    #[error("enrollment code already used")]
    EnrollCodeUsed,
    #[error("enrollment code expired: ask for a new one (`cubby hub enroll-code`)")]
    EnrollCodeExpired,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}
