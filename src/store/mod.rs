//! The kiosk's durable state in one SQLite file (bundled SQLite, WAL, `synchronous=FULL`).
//!
//! Owns: the merged source roster, one row per record, and per-record states (a sync
//! writes what it changed, in one transaction),
//! sync reports, attendance events and their outbox rows (written in one transaction
//! before the door says "done"), device metadata, and the audit log. Each component
//! opens its own connection to the same file; SQLite serialises writers.

pub mod center_ops;
pub mod check;
mod fingerprints;
mod migrate;
mod outbox;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::api::Event;
use crate::domain::eligibility::{Kind, Verdict};
use crate::domain::report::{Counts, PrevState, SyncReport};
use crate::domain::source::{Replaced, SourceRoster};

pub use fingerprints::FingerprintRow;
pub use outbox::{ParkedEvent, QueueStats};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the kiosk database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the kiosk database is at version {found} but this Cubby knows only up to {known}: install the newer Cubby or restore a backup")]
    TooNew { found: i64, known: i64 },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored data is unreadable ({what}): {detail}")]
    Corrupt { what: String, detail: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Keys of the `meta` table.
pub mod keys {
    pub const DEVICE_ID: &str = "device_id";
    pub const CENTER: &str = "center";
    pub const QR_KEYS: &str = "qr_keys";
    pub const PEER_CURSOR: &str = "peer_cursor";
    pub const LAST_SYNC_AT: &str = "last_roster_sync_at";
    /// What the cached roster was evaluated with: the center (JSON) and its day. A sync
    /// that changes nothing skips the evaluation while both still hold.
    pub const ROSTER_EVALUATED: &str = "roster_evaluated";
    pub const LAST_SYNC_ERROR: &str = "last_roster_sync_error";
    /// The same failure for the sync screen: a `kiosk::Trouble` as JSON.
    pub const LAST_SYNC_TROUBLE: &str = "last_roster_sync_trouble";
    pub const LAST_MANUAL_SYNC_AT: &str = "last_manual_sync_at";
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The last error of each background loop (JSON of `api::LastErrors`), written by
    /// the running kiosk for `cubby status`.
    pub const LAST_ERRORS: &str = "last_errors";
    /// How many events of the hub's peer feed could not be read and were skipped.
    pub const PEER_SKIPPED: &str = "peer_events_skipped";
    /// HMAC (hex) of the technician PIN, set by `cubby technician-pin`.
    pub const TECHNICIAN_PIN_HMAC: &str = "technician_pin_hmac";
    /// The keypad lockout (`domain::pin::PinGuard` as JSON): survives a restart.
    pub const PIN_GUARD: &str = "pin_guard";
}

/// UTC timestamps with fixed width, so text order is time order.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Insert events recorded at this door and their outbox rows, inside the caller's
/// transaction. An id that already exists is corruption (ids are fresh UUIDs).
/// What every successful roster sync keeps, changed or not: the cursor and the time, the
/// report (the last 50 kept), and no sync error any more.
fn keep_sync(tx: &rusqlite::Transaction, report: &SyncReport) -> Result<()> {
    let report_json = serde_json::to_string(report).map_err(|e| StoreError::Corrupt {
        what: "sync report".into(),
        detail: e.to_string(),
    })?;
    let at = ts(report.at);
    tx.execute(
        "INSERT INTO roster_cursor (id, cursor, synced_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor,
                                       synced_at = excluded.synced_at",
        params![report.cursor, at],
    )?;
    tx.execute(
        "INSERT INTO sync_reports (at, json) VALUES (?1, ?2)",
        params![at, report_json],
    )?;
    tx.execute(
        "DELETE FROM sync_reports WHERE id NOT IN
           (SELECT id FROM sync_reports ORDER BY id DESC LIMIT 50)",
        [],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![keys::LAST_SYNC_AT, at],
    )?;
    tx.execute(
        "DELETE FROM meta WHERE key IN (?1, ?2)",
        [keys::LAST_SYNC_ERROR, keys::LAST_SYNC_TROUBLE],
    )?;
    Ok(())
}

/// A record state to keep after an evaluation: the verdict as it is now, or a record
/// that is gone from the roster.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange<'a> {
    Now(&'a Verdict),
    Gone(Kind, &'a str),
}

/// One cached roster record: written as JSON, or deleted when `record` is `None`.
fn write_record<T: serde::Serialize>(
    tx: &rusqlite::Transaction,
    kind: &str,
    id: &str,
    record: Option<&T>,
) -> Result<()> {
    match record {
        Some(r) => {
            let json = serde_json::to_string(r).map_err(|e| StoreError::Corrupt {
                what: format!("{kind} to cache"),
                detail: e.to_string(),
            })?;
            tx.prepare_cached(
                "INSERT INTO roster_record (kind, id, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, id) DO UPDATE SET json = excluded.json",
            )?
            .execute(params![kind, id, json])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM roster_record WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind, id])?;
        }
    }
    Ok(())
}

fn write_state(tx: &rusqlite::Transaction, change: &StateChange) -> Result<()> {
    match change {
        StateChange::Now(v) => {
            tx.prepare_cached(
                "INSERT INTO roster_state (kind, id, active, hash, name, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, id) DO UPDATE SET active = excluded.active,
                     hash = excluded.hash, name = excluded.name, reason = excluded.reason",
            )?
            .execute(params![
                v.kind.as_str(),
                v.id,
                v.active,
                v.hash,
                v.name,
                v.reason
            ])?;
        }
        StateChange::Gone(kind, id) => {
            tx.prepare_cached("DELETE FROM roster_state WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind.as_str(), id])?;
        }
    }
    Ok(())
}

/// A cached record read back; a row that does not parse is corruption.
fn cached_record<T: serde::de::DeserializeOwned>(kind: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        what: format!("cached {kind}"),
        detail: e.to_string(),
    })
}

fn insert_local(tx: &rusqlite::Transaction, events: &[Event], now: DateTime<Utc>) -> Result<()> {
    for e in events {
        let seq = insert_event(tx, e, "local", now, None)?.ok_or_else(|| StoreError::Corrupt {
            what: "new event".into(),
            detail: format!("event id {} already exists", e.event_id),
        })?;
        tx.prepare_cached("INSERT INTO outbox (seq, event_id) VALUES (?1, ?2)")?
            .execute(params![seq, e.event_id])?;
    }
    Ok(())
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) and migrate the database at `path`. The file is created
    /// 0600 (SQLite gives its `-wal` and `-shm` files the database's mode) and an
    /// existing one is tightened to 0600: it holds children's names and attendance.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        private_files(path);
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        // WAL: readers never block the writer; FULL: a commit survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Another connection to the same file (for another thread or task).
    pub fn reopen(&self) -> Result<Store> {
        Store::open(&self.path)
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    // ------------------------------------------------------------ meta

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// A timestamp kept in meta (written with [`ts`]); `None` when unset or unreadable.
    pub fn meta_time(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .meta(key)?
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    // ------------------------------------------------------------ roster

    /// The cached roster and its cursor; `None` before the first sync. Reads every
    /// record: for the door's start and a new day, not for each sync.
    pub fn roster_source(&self) -> Result<Option<(SourceRoster, String)>> {
        let Some(cursor) = self.roster_cursor()? else {
            return Ok(None);
        };
        let mut src = SourceRoster::default();
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id, json FROM roster_record")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(0)?;
            let id: String = row.get(1)?;
            let json: String = row.get(2)?;
            let (kind, json) = (kind.as_str(), json.as_str());
            match kind {
                "center" => src.center = Some(cached_record(kind, json)?),
                "room" => {
                    src.rooms.insert(id, cached_record(kind, json)?);
                }
                "staff" => {
                    src.staff.insert(id, cached_record(kind, json)?);
                }
                "family" => {
                    src.families.insert(id, cached_record(kind, json)?);
                }
                other => {
                    return Err(StoreError::Corrupt {
                        what: "cached roster".into(),
                        detail: format!("unknown record kind {other:?}"),
                    })
                }
            }
        }
        Ok(src.center.is_some().then_some((src, cursor)))
    }

    pub fn roster_cursor(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT cursor FROM roster_cursor WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn record_states(&self) -> Result<HashMap<(Kind, String), PrevState>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id, active, hash, name, reason FROM roster_state")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (kind, id, active, hash, name, reason) = row?;
            if let Some(kind) = Kind::parse(&kind) {
                out.insert(
                    (kind, id),
                    PrevState {
                        active,
                        hash,
                        name,
                        reason,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Replace the cached roster and the record states whole, and keep the report: all
    /// in one transaction, so a crash leaves either the old roster or the new one.
    pub fn replace_roster<'v>(
        &mut self,
        source: &SourceRoster,
        verdicts: impl IntoIterator<Item = &'v Verdict>,
        report: &SyncReport,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM roster_record", [])?;
        tx.execute("DELETE FROM roster_state", [])?;
        if let Some(c) = &source.center {
            write_record(&tx, "center", "", Some(c))?;
        }
        for (id, r) in &source.rooms {
            write_record(&tx, "room", id, Some(r))?;
        }
        for (id, r) in &source.staff {
            write_record(&tx, "staff", id, Some(r))?;
        }
        for (id, r) in &source.families {
            write_record(&tx, "family", id, Some(r))?;
        }
        for v in verdicts {
            write_state(&tx, &StateChange::Now(v))?;
        }
        keep_sync(&tx, report)?;
        tx.commit()?;
        Ok(())
    }

    /// Keep a merge: the records `was` names, written as `source` now holds them (or
    /// deleted when it no longer does), the record states that changed, and the sync
    /// with its report. One transaction; it costs what changed, not the roster's size.
    pub fn save_roster(
        &mut self,
        source: &SourceRoster,
        was: &Replaced,
        states: &[StateChange],
        report: &SyncReport,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if was.center.is_some() {
            write_record(&tx, "center", "", source.center.as_ref())?;
        }
        for id in was.rooms.keys() {
            write_record(&tx, "room", id, source.rooms.get(id))?;
        }
        for id in was.staff.keys() {
            write_record(&tx, "staff", id, source.staff.get(id))?;
        }
        for id in was.families.keys() {
            write_record(&tx, "family", id, source.families.get(id))?;
        }
        for change in states {
            write_state(&tx, change)?;
        }
        keep_sync(&tx, report)?;
        tx.commit()?;
        Ok(())
    }

    /// A sync that changed nothing: the new cursor and the report, the cached roster and
    /// its record states untouched (nothing in it is read or rewritten). The report's
    /// counts are the records `kept` (per kind, as the last evaluation counted them), all
    /// unchanged, and its problem lines those of the last report (they still hold).
    /// Returns the report as stored.
    pub fn note_unchanged_sync(
        &mut self,
        at: DateTime<Utc>,
        cursor: &str,
        kept: &std::collections::BTreeMap<Kind, u32>,
    ) -> Result<SyncReport> {
        let counts = [Kind::Room, Kind::Staff, Kind::Person, Kind::Child]
            .into_iter()
            .map(|k| {
                let unchanged = kept.get(&k).copied().unwrap_or(0);
                (
                    k,
                    Counts {
                        unchanged,
                        ..Counts::default()
                    },
                )
            })
            .collect();
        let lines = self
            .reports(1)?
            .into_iter()
            .next()
            .map(|r| r.lines)
            .unwrap_or_default();
        let report = SyncReport {
            at,
            cursor: cursor.to_string(),
            full: false,
            counts,
            lines,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        keep_sync(&tx, &report)?;
        tx.commit()?;
        Ok(report)
    }

    /// Forget the cached roster (another center's data must never show at this door).
    pub fn clear_roster(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM roster_record", [])?;
        tx.execute("DELETE FROM roster_cursor", [])?;
        tx.execute("DELETE FROM roster_state", [])?;
        tx.execute(
            "DELETE FROM meta WHERE key IN (?1, ?2)",
            [keys::PEER_CURSOR, keys::ROSTER_EVALUATED],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The newest reports first.
    pub fn reports(&self, limit: usize) -> Result<Vec<SyncReport>> {
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM sync_reports ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let json = row?;
            match serde_json::from_str(&json) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!("skipping an unreadable sync report: {e}"),
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ events

    /// Commit events recorded at this door together with their outbox rows, durably,
    /// in one transaction. Only after this returns may the door say "done".
    pub fn record_local(&mut self, events: &[Event], now: DateTime<Utc>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        insert_local(&tx, events, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Merge events from other kiosks (idempotent by event id) and move the peer
    /// cursor, in one transaction. Returns how many were new.
    pub fn merge_peer_events(
        &mut self,
        events: &[Event],
        cursor: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let counted: Vec<(Event, Option<DateTime<Utc>>)> =
            events.iter().map(|e| (e.clone(), None)).collect();
        self.merge_peer_counted(&counted, cursor, now)
    }

    /// Like [`merge_peer_events`](Self::merge_peer_events), each event with the time
    /// presence counts it at when that is not its own `occurred_at`
    /// (`domain::presence::counted_at`). The event itself is stored as it came; an id
    /// already stored (this door's own events coming back) is left as it is.
    pub fn merge_peer_counted(
        &mut self,
        events: &[(Event, Option<DateTime<Utc>>)],
        cursor: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut added = 0;
        for (e, counted) in events {
            if insert_event(&tx, e, "peer", now, *counted)?.is_some() {
                added += 1;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![keys::PEER_CURSOR, cursor],
        )?;
        tx.commit()?;
        Ok(added)
    }

    /// Events that count at or after `since`, in that order, as presence counts them:
    /// an event counted at another time than its own (its clock was ahead, see
    /// [`pin_future_events`](Self::pin_future_events)) comes with that time and the
    /// `clock_suspect` flag. The stored event (and what the outbox sends) is unchanged.
    pub fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT json, occurred_utc FROM events WHERE occurred_utc >= ?1
                 AND dismissed_at IS NULL
             ORDER BY occurred_utc, event_id",
        )?;
        let rows = stmt.query_map([ts(since)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (json, counted) = row?;
            let e: Event = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                what: "stored event".into(),
                detail: e.to_string(),
            })?;
            if ts(e.occurred_at.with_timezone(&Utc)) == counted {
                return Ok(e);
            }
            let at = DateTime::parse_from_rfc3339(&counted)
                .map_err(|err| StoreError::Corrupt {
                    what: "stored event time".into(),
                    detail: err.to_string(),
                })?
                .with_timezone(&Utc);
            Ok(crate::domain::presence::counted_as(e, at))
        })
        .collect()
    }

    /// Events dated more than five minutes after `now` count from `now` on (the clock
    /// that recorded them was ahead: this door's own before NTP corrected it, or a
    /// peer's that came without `received_at`). Call only with a synchronized clock: a
    /// clock that is behind would make every event look "future". Returns how many were
    /// moved. Once moved they stay put, so such an event counts on one day only.
    pub fn pin_future_events(&self, now: DateTime<Utc>) -> Result<usize> {
        let limit = now + crate::domain::presence::CLOCK_LEEWAY;
        Ok(self.conn.execute(
            "UPDATE events SET occurred_utc = ?1 WHERE occurred_utc > ?2",
            params![ts(now), ts(limit)],
        )?)
    }

    pub fn event_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
    }

    // ------------------------------------------------------------ audit

    /// Append to the audit log. `detail` carries ids, never PINs, tokens or health notes.
    pub fn audit(&self, at: DateTime<Utc>, kind: &str, detail: &serde_json::Value) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, kind, detail) VALUES (?1, ?2, ?3)",
            params![ts(at), kind, detail.to_string()],
        )?;
        Ok(())
    }

    /// The newest audit entries first: (at, kind, detail).
    pub fn audit_log(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, kind, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Audit entries with `from <= at < to` (either bound open), newest first:
    /// (at, kind, detail).
    pub fn audit_between(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, kind, detail FROM audit
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2)
             ORDER BY id DESC",
        )?;
        let rows = stmt.query_map(params![from.map(ts), to.map(ts)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Create `db` empty with mode 0600 if it does not exist, and set 0600 on it and on its
/// `-wal`/`-shm` files when they exist. Best-effort: a file owned by another user keeps
/// its mode (opening it reports the real problem, if any).
fn private_files(db: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(check::FILE_MODE)
        .open(db);
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(meta) = std::fs::metadata(&p) {
            if meta.permissions().mode() & 0o777 != check::FILE_MODE {
                let _ =
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(check::FILE_MODE));
            }
        }
    }
}

/// Insert one event; `None` when its id is already stored.
/// `counted`: when presence counts it, if not at its own `occurred_at`.
fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    e: &Event,
    origin: &str,
    now: DateTime<Utc>,
    counted: Option<DateTime<Utc>>,
) -> Result<Option<i64>> {
    let json = serde_json::to_string(e).map_err(|err| StoreError::Corrupt {
        what: "event to store".into(),
        detail: err.to_string(),
    })?;
    // Cached: a check-in's commit should cost its rows and the fsync, not a statement
    // compiled again for every event.
    let n = tx
        .prepare_cached(
            "INSERT INTO events (event_id, origin, type, child_id, staff_id, occurred_utc, recorded_at, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (event_id) DO NOTHING",
        )?
        .execute(params![
            e.event_id,
            origin,
            e.kind.as_str(),
            e.child_id,
            e.staff_id,
            ts(counted.unwrap_or_else(|| e.occurred_at.with_timezone(&Utc))),
            ts(now),
            json
        ])?;
    Ok((n == 1).then(|| tx.last_insert_rowid()))
}
