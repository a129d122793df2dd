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
    (5, include_str!("migrations/0005_roster_cursor.sql")),
    (6, include_str!("migrations/0006_roster_records.sql")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_roster_keeps_its_cursor_when_the_cursor_gets_its_own_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A door of the version before: its roster cached with cursor r_7.
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 4) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        conn.execute(
            "INSERT INTO roster_source (id, json, cursor, synced_at)
             VALUES (1, '{}', 'r_7', '2026-11-23T14:00:00Z')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let (cursor, at): (String, String) = conn
            .query_row(
                "SELECT cursor, synced_at FROM roster_cursor WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (cursor.as_str(), at.as_str()),
            ("r_7", "2026-11-23T14:00:00Z")
        );
        // A door that never synced has no cursor row.
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        let rows: i64 = fresh
            .query_row("SELECT COUNT(*) FROM roster_cursor", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_cached_roster_document_becomes_one_row_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.sqlite");
        let source = crate::domain::source::SourceRoster::default()
            .merged(&crate::domain::testdata::large_response(20));
        {
            // A door of the version before, its roster cached as one document.
            let mut conn = Connection::open(&path).unwrap();
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 5) {
                let tx = conn.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", version).unwrap();
                tx.commit().unwrap();
            }
            let json = serde_json::to_string(&source).unwrap();
            conn.execute(
                "INSERT INTO roster_source (id, json, cursor, synced_at)
                 VALUES (1, ?1, 'r_7', '2026-11-23T14:00:00Z')",
                [json],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO roster_cursor (id, cursor, synced_at)
                 VALUES (1, 'r_7', '2026-11-23T14:00:00Z')",
                [],
            )
            .unwrap();
        }
        let store = crate::store::Store::open(&path).unwrap();
        let (back, cursor) = store.roster_source().unwrap().unwrap();
        assert_eq!(cursor, "r_7");
        assert_eq!(back, source);
        let rows: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM roster_record", [], |r| r.get(0))
            .unwrap();
        let expected = 1 + source.rooms.len() + source.staff.len() + source.families.len();
        assert_eq!(rows as usize, expected);
    }
}
