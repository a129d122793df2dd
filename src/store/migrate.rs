//! Append-only numbered migrations, tracked in SQLite's `user_version`.
//!
//! Each migration runs in its own transaction. A database written by a newer Cubby
//! (higher version than this build knows) is refused rather than guessed at.

use rusqlite::Connection;

use super::StoreError;

/// (version, SQL). Append only; never edit a released entry.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_center_ops.sql")),
    (3, include_str!("migrations/0003_fingerprints.sql")),
    (4, include_str!("migrations/0004_dismissed.sql")),
];

pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > latest() {
        return Err(StoreError::TooNew {
            found: current,
            known: latest(),
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
