//! The hub's SQLite file: opening (WAL; the file, -wal and -shm private to the hub's user,
//! 0600 in a 0700 directory when created, refused when others can read them), schema, the center row with its `pin_key`, the
//! first QR signing key (created by `qr`), and the global roster revision counter.
//!
//! Other files add `impl HubDb` blocks for their own tables: `devices` (enrollment codes,
//! devices, heartbeats), `records` (rooms, staff, families, tombstones) and `events`
//! (attendance events).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use rand::RngCore;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use super::error::HubError;
use cubby_core::api::{Center, Director};

const APP_ID: &str = "cubby-hub";
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE IF NOT EXISTS center (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    auto_sign_out TEXT,
    manual_sync_min_interval_s INTEGER,
    director TEXT,
    pin_key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    json TEXT NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS records_rev ON records (rev);
CREATE TABLE IF NOT EXISTS members (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS members_family ON members (family_id);
CREATE TABLE IF NOT EXISTS tombstones (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS enroll_codes (
    code TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    used_at TEXT,
    device_id TEXT,
    expires_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    client TEXT,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    heartbeat_json TEXT,
    heartbeat_at TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    type TEXT NOT NULL,
    child_id TEXT,
    staff_id TEXT,
    occurred_at TEXT NOT NULL,
    occurred_utc INTEGER NOT NULL,
    json TEXT NOT NULL,
    received_at TEXT NOT NULL,
    effective_utc INTEGER
);
CREATE INDEX IF NOT EXISTS events_occurred ON events (occurred_utc);
CREATE TABLE IF NOT EXISTS qr_keys (
    kid TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"#;

/// An open hub database. Not `Sync`: the server keeps it behind a mutex.
#[derive(Debug)]
pub struct HubDb {
    pub(super) conn: Connection,
    path: PathBuf,
}

impl HubDb {
    /// Open the hub database at `path`, creating it (with a fresh center `pin_key`) if missing.
    pub fn open(path: &Path) -> Result<Self, HubError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_with(path, flags)
    }

    /// Open an existing hub database; a missing file is an error naming the path.
    pub fn open_existing(path: &Path) -> Result<Self, HubError> {
        if !path.is_file() {
            return Err(HubError::Open {
                path: path.to_path_buf(),
                reason: "no such file (start `cubby hub --db` once to create it)".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_with(path, flags)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Self, HubError> {
        let open_err = |e: rusqlite::Error| HubError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let io_err = |e: std::io::Error| HubError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if path.exists() {
            refuse_if_shared(path)?;
        } else if flags.contains(OpenFlags::SQLITE_OPEN_CREATE) {
            create_private(path).map_err(io_err)?;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        // SQLite gives -wal and -shm the main file's mode; make sure of it.
        for side in side_files(path) {
            restrict(&side).map_err(io_err)?;
        }
        let mut db = HubDb {
            conn,
            path: path.to_path_buf(),
        };
        db.init().map_err(|e| match e {
            HubError::Db(e) => open_err(e),
            other => other,
        })?;
        Ok(db)
    }

    /// Path this database was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&mut self) -> Result<(), HubError> {
        let tables: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 {
            let has_meta: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get(0),
            )?;
            let app: Option<String> = if has_meta == 1 {
                self.conn
                    .query_row("SELECT value FROM meta WHERE key = 'app'", [], |r| r.get(0))
                    .optional()?
            } else {
                None
            };
            if app.as_deref() != Some(APP_ID) {
                return Err(HubError::NotAHubDb {
                    path: self.path.clone(),
                });
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        migrate(&tx)?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('app', ?1)",
            [APP_ID],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)",
            [SCHEMA_VERSION],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('rev', 0)",
            [],
        )?;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        tx.execute(
            "INSERT OR IGNORE INTO center (singleton, id, name, timezone, auto_sign_out,
                 manual_sync_min_interval_s, director, pin_key)
             VALUES (1, 'center_001', 'Unnamed center', 'UTC', '18:00', 3600, NULL, ?1)",
            [key.as_slice()],
        )?;
        super::qr::ensure_key(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The center as sent in roster answers.
    pub fn center(&self) -> Result<Center, HubError> {
        let (id, name, timezone, auto_sign_out, interval, director) = self.conn.query_row(
            "SELECT id, name, timezone, auto_sign_out, manual_sync_min_interval_s, director
             FROM center WHERE singleton = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )?;
        let director: Option<Director> = match director {
            Some(text) => Some(serde_json::from_str(&text)?),
            None => None,
        };
        let min_pin_length: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'min_pin_length'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Center {
            id,
            name,
            timezone,
            director,
            auto_sign_out,
            manual_sync_min_interval_s: interval.and_then(|v| u64::try_from(v).ok()),
            min_pin_length: min_pin_length.and_then(|v| v.parse().ok()),
        })
    }

    /// Replace the center's settings (the `pin_key` is kept).
    pub fn set_center(&mut self, c: &Center) -> Result<(), HubError> {
        write_center(&self.conn, c)
    }

    /// The 32-byte HMAC key for PINs, created with the database.
    pub fn pin_key(&self) -> Result<Vec<u8>, HubError> {
        Ok(self
            .conn
            .query_row("SELECT pin_key FROM center WHERE singleton = 1", [], |r| {
                r.get(0)
            })?)
    }

    /// The center's time zone; an unparsable stored zone falls back to UTC (logged).
    pub fn timezone(&self) -> Result<Tz, HubError> {
        let name: String =
            self.conn
                .query_row("SELECT timezone FROM center WHERE singleton = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(name.parse::<Tz>().unwrap_or_else(|_| {
            tracing::warn!(timezone = %name, "center time zone unknown, using UTC");
            Tz::UTC
        }))
    }

    /// The latest roster revision (what cursor `r_<rev>` names).
    pub fn current_rev(&self) -> Result<i64, HubError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'rev'", [], |r| r.get(0))?)
    }
}

/// Write the center's settings on `conn` (a transaction or the plain connection).
pub(super) fn write_center(conn: &Connection, c: &Center) -> Result<(), HubError> {
    match c.min_pin_length {
        Some(n) if (4..=8).contains(&n) => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('min_pin_length', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [n.to_string()],
            )?;
        }
        Some(n) => {
            return Err(HubError::Invalid(format!(
                "min_pin_length {n} for center {}: must be 4 to 8 (6 is recommended)",
                c.id
            )))
        }
        None => {
            conn.execute("DELETE FROM meta WHERE key = 'min_pin_length'", [])?;
        }
    }
    if c.timezone.parse::<Tz>().is_err() {
        return Err(HubError::Invalid(format!(
            "unknown time zone `{}` for center {}",
            c.timezone, c.id
        )));
    }
    let director = match &c.director {
        Some(d) => Some(serde_json::to_string(d)?),
        None => None,
    };
    let interval = c
        .manual_sync_min_interval_s
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    conn.execute(
        "UPDATE center SET id = ?1, name = ?2, timezone = ?3, auto_sign_out = ?4,
             manual_sync_min_interval_s = ?5, director = ?6
         WHERE singleton = 1",
        params![
            c.id,
            c.name,
            c.timezone,
            c.auto_sign_out,
            interval,
            director
        ],
    )?;
    Ok(())
}

/// The database's `-wal` and `-shm` files (which may not exist).
fn side_files(path: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut s = path.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    [with("-wal"), with("-shm")]
}

/// Refuse a database (or its -wal/-shm) that group or others may read or write: it holds
/// the PIN key and the QR signing keys.
fn refuse_if_shared(path: &Path) -> Result<(), HubError> {
    use std::os::unix::fs::PermissionsExt;
    let files = std::iter::once(path.to_path_buf()).chain(side_files(path));
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(HubError::Open {
                path: path.to_path_buf(),
                reason: format!(
                    "{} is readable by other users (mode {mode:o}) and holds the PIN key and \
                     QR signing keys: run `chmod 600 {}*` as its owner, then start again",
                    file.display(),
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Create an empty database file 0600, and its directory 0700 when that is missing.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Created meanwhile by another process: it is checked like any existing file.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Make an existing file 0600 (a missing one is fine).
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn has_column(tx: &Transaction<'_>, table: &str, column: &str) -> Result<bool, HubError> {
    let n: i64 = tx.query_row(
        "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
        params![table, column],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Bring a database made by an earlier version up to this schema (idempotent).
fn migrate(tx: &Transaction<'_>) -> Result<(), HubError> {
    // Events count at their effective time: occurred_at, or received_at when the door's
    // clock ran more than 5 minutes ahead.
    if !has_column(tx, "events", "effective_utc")? {
        tx.execute_batch("ALTER TABLE events ADD COLUMN effective_utc INTEGER")?;
    }
    tx.execute(
        "UPDATE events SET effective_utc = CASE
             WHEN occurred_utc > CAST(strftime('%s', received_at) AS INTEGER) + ?1
             THEN CAST(strftime('%s', received_at) AS INTEGER) ELSE occurred_utc END
         WHERE effective_utc IS NULL",
        [super::events::CLOCK_AHEAD_TOLERANCE_S],
    )?;
    tx.execute_batch("CREATE INDEX IF NOT EXISTS events_effective ON events (effective_utc)")?;
    // Enrollment codes expire; codes made before expiry existed get the default lifetime
    // from their creation.
    if !has_column(tx, "enroll_codes", "expires_at")? {
        tx.execute_batch("ALTER TABLE enroll_codes ADD COLUMN expires_at TEXT")?;
    }
    let mut stmt =
        tx.prepare("SELECT rowid, created_at FROM enroll_codes WHERE expires_at IS NULL")?;
    let old: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    for (rowid, created) in old {
        let expires = chrono::DateTime::parse_from_rfc3339(&created)
            .map(|t| t.with_timezone(&chrono::Utc) + super::devices::default_code_validity())
            .unwrap_or_else(|_| chrono::Utc::now());
        tx.execute(
            "UPDATE enroll_codes SET expires_at = ?1 WHERE rowid = ?2",
            params![utc_text(expires), rowid],
        )?;
    }
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema' AND value < ?1",
        [SCHEMA_VERSION],
    )?;
    Ok(())
}

/// Take the next roster revision inside `tx`.
pub(super) fn next_rev(tx: &Transaction<'_>) -> Result<i64, HubError> {
    Ok(tx.query_row(
        "UPDATE meta SET value = value + 1 WHERE key = 'rev' RETURNING value",
        [],
        |r| r.get(0),
    )?)
}

/// Now, as stored in text columns (RFC 3339, UTC, seconds).
pub(super) fn now_text() -> String {
    utc_text(chrono::Utc::now())
}

/// An instant as stored in text columns (RFC 3339, UTC, seconds).
pub(super) fn utc_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_stable_pin_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.sqlite");
        let key = HubDb::open(&path).unwrap().pin_key().unwrap();
        assert_eq!(key.len(), 32);
        let again = HubDb::open_existing(&path).unwrap().pin_key().unwrap();
        assert_eq!(key, again);
    }

    #[test]
    fn missing_or_foreign_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.sqlite");
        let e = HubDb::open_existing(&missing).unwrap_err();
        assert!(e.to_string().contains("nope.sqlite"), "{e}");

        let foreign = dir.path().join("other.sqlite");
        let c = Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE t (x)").unwrap();
        drop(c);
        private(&foreign);
        let e = HubDb::open(&foreign).unwrap_err();
        assert!(matches!(e, HubError::NotAHubDb { .. }), "{e}");

        let text = dir.path().join("text.sqlite");
        std::fs::write(&text, "this is not sqlite at all, just some text ......").unwrap();
        private(&text);
        let e = HubDb::open(&text).unwrap_err();
        assert!(e.to_string().contains("text.sqlite"), "{e}");
    }

    #[test]
    fn set_center_refuses_unknown_zone() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        let mut c = db.center().unwrap();
        c.timezone = "Mars/Olympus".into();
        assert!(db.set_center(&c).is_err());
        c.timezone = "America/Chicago".into();
        db.set_center(&c).unwrap();
        assert_eq!(db.timezone().unwrap(), chrono_tz::America::Chicago);
    }

    #[test]
    fn the_minimum_pin_length_is_a_center_setting_the_roster_carries() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        let mut c = db.center().unwrap();
        assert_eq!(c.min_pin_length, None);
        c.min_pin_length = Some(6);
        db.set_center(&c).unwrap();
        assert_eq!(db.center().unwrap().min_pin_length, Some(6));
        assert_eq!(db.roster(None).unwrap().center.min_pin_length, Some(6));
        c.min_pin_length = Some(12);
        let e = db.set_center(&c).unwrap_err();
        assert!(e.to_string().contains("must be 4 to 8"), "{e}");
        c.min_pin_length = None;
        db.set_center(&c).unwrap();
        assert_eq!(db.center().unwrap().min_pin_length, None);
    }

    fn private(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_database_is_private_to_the_hub_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("hub.sqlite");
        let db = HubDb::open(&path).unwrap();
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
        for ext in ["sqlite-wal", "sqlite-shm"] {
            assert_eq!(mode(&path.with_extension(ext)), 0o600, "{ext}");
        }
        drop(db);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = HubDb::open(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("hub.sqlite"), "{e}");
        let e = HubDb::open_existing(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        HubDb::open_existing(&path).unwrap();
    }
}
