//! The start-up check of the kiosk's data directory and database, run before anything
//! opens the store.
//!
//! A kiosk must never record attendance on a damaged file (rows it commits may be lost
//! or unreadable later) and must never sit in a restart loop behind a blank screen. So
//! at start: the data directory must be writable (a read-only or full disk is named as
//! such), and an existing database must pass SQLite's `PRAGMA quick_check`. A database
//! that fails is **moved aside** with its `-wal` and `-shm` files under a timestamped
//! name (never deleted: it holds the only copy of events not yet delivered), and the
//! caller shows "this door needs a technician" with the reason in plain words.
//!
//! `quick_check` rather than `integrity_check`: it verifies every page, the b-tree
//! structure and record formats (what garbage in the middle of the file or a truncated
//! file breaks) and skips only the cross-check of indexes against their tables; on a
//! cache of 10,000 children with a year of events it costs a fraction of the full check
//! (figures in `quick_check_cost_on_a_large_cache`, run with `--ignored`).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// What the start-up check found.
#[derive(Debug, Clone, PartialEq)]
pub enum StartCheck {
    /// The directory is writable and the database is sound.
    Sound,
    /// There is no database yet (a fresh kiosk, or one whose file was removed).
    Missing,
    /// The kiosk must not run: `reason` in plain words for the screen and the journal;
    /// `moved_to` is where a damaged database now is.
    Broken {
        reason: String,
        moved_to: Option<PathBuf>,
    },
}

/// The data directory's mode: the kiosk's user only (attendance, names, secrets).
pub const DIR_MODE: u32 = 0o700;
/// The database's (and its `-wal`/`-shm` files') mode.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (mode 0700) if it does not exist, and tighten an existing one to 0700
/// when this user owns it (a directory created by an older Cubby, or by hand).
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o777 != DIR_MODE {
        // Not ours (EPERM) is fine: whoever set it up chose the mode.
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE));
    }
    Ok(())
}

/// Check `data_dir` and the database `db` in it. `now` names a moved-aside file.
pub fn check_at_start(data_dir: &Path, db: &Path, now: DateTime<Utc>) -> StartCheck {
    let broken = |reason: String| StartCheck::Broken {
        reason,
        moved_to: None,
    };
    if let Err(e) = ensure_private_dir(data_dir) {
        return broken(format!(
            "the kiosk cannot create its data folder {}: {}",
            data_dir.display(),
            io_words(&e)
        ));
    }
    if let Err(e) = probe_write(data_dir) {
        return broken(format!(
            "the kiosk cannot write in its data folder {}: {}",
            data_dir.display(),
            io_words(&e)
        ));
    }
    if !db.exists() {
        return StartCheck::Missing;
    }
    match quick_check(db) {
        Ok(None) => StartCheck::Sound,
        Ok(Some(damage)) => match move_aside(db, now) {
            Ok(moved) => StartCheck::Broken {
                reason: format!(
                    "the attendance database was damaged ({damage}). It was moved aside to {} \
                     and kept for recovery. Restore a backup to {} or enroll this door again, \
                     then restart the kiosk",
                    moved.display(),
                    db.display()
                ),
                moved_to: Some(moved),
            },
            Err(e) => broken(format!(
                "the attendance database is damaged ({damage}) and could not be moved aside: {}",
                io_words(&e)
            )),
        },
        Err(problem) => broken(problem),
    }
}

/// `Ok(None)`: sound. `Ok(Some(what))`: damaged. `Err(why)`: cannot be checked (a disk
/// or permission problem, not damage; the file is left where it is).
fn quick_check(db: &Path) -> Result<Option<String>, String> {
    let conn = match Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => return classify(&e, db),
    };
    let rows: rusqlite::Result<Vec<String>> =
        conn.prepare("PRAGMA quick_check(5)").and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    match rows {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(None),
        Ok(rows) => Ok(Some(format!(
            "SQLite integrity check: {}",
            crate::sanitize::clean(&rows.join("; "), 300)
        ))),
        Err(e) => classify(&e, db),
    }
}

/// A SQLite error while checking: damage, or a disk/permission problem.
fn classify(e: &rusqlite::Error, db: &Path) -> Result<Option<String>, String> {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt) => Ok(Some("the file is corrupt".into())),
        Some(ErrorCode::NotADatabase) => Ok(Some("the file is not a database".into())),
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            Err(format!(
                "the attendance database {} cannot be opened for writing (read-only disk or wrong owner): {e}",
                db.display()
            ))
        }
        Some(ErrorCode::DiskFull) => Err("the disk is full".into()),
        _ => Err(format!(
            "the attendance database {} cannot be read: {e}",
            db.display()
        )),
    }
}

/// Move `db` and its `-wal`/`-shm` companions to `<db>.damaged-<UTC time>`; returns the
/// new path of the database itself.
fn move_aside(db: &Path, now: DateTime<Utc>) -> std::io::Result<PathBuf> {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kiosk.sqlite".into());
    let mut target = db.with_file_name(format!("{name}.damaged-{stamp}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = db.with_file_name(format!("{name}.damaged-{stamp}-{n}"));
    }
    // Companions first: a database renamed without its WAL would lose the WAL's pages.
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{suffix}", target.display()))?;
        }
    }
    std::fs::rename(db, &target)?;
    Ok(target)
}

/// Can the kiosk write in `dir`? `Err` says why in plain words (`cubby status`).
pub fn writable(dir: &Path) -> Result<(), String> {
    probe_write(dir).map_err(|e| {
        format!(
            "the kiosk cannot write in its data folder {}: {}",
            dir.display(),
            io_words(&e)
        )
    })
}

/// Write, sync and remove a small file in `dir`: a read-only or full disk shows here.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(".cubby-write-check");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&path)?;
    f.write_all(b"ok")?;
    f.sync_all()?;
    drop(f);
    std::fs::remove_file(&path)
}

/// An I/O error in plain words.
pub fn io_words(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EROFS) => "the disk is read-only (it may be failing)".into(),
        Some(libc::ENOSPC) => "the disk is full".into(),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "permission denied (the folder belongs to another user)".into()
        }
        Some(libc::EIO) => "input/output error (the disk may be failing)".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T14:32:15Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A real database with enough rows to span many pages.
    fn filled(dir: &Path) -> PathBuf {
        let db = dir.join("kiosk.sqlite");
        let store = Store::open(&db).unwrap();
        for i in 0..3000 {
            store
                .set_meta(&format!("k{i}"), &"some value ".repeat(10))
                .unwrap();
        }
        drop(store);
        db
    }

    #[test]
    fn a_sound_database_passes_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let db = data.join("kiosk.sqlite");
        assert_eq!(check_at_start(&data, &db, now()), StartCheck::Missing);
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "data dir created 0700");
        filled(&data);
        assert_eq!(check_at_start(&data, &db, now()), StartCheck::Sound);
    }

    #[test]
    fn garbage_in_the_middle_is_found_and_the_file_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let db = filled(dir.path());
        let len = std::fs::metadata(&db).unwrap().len();
        assert!(len > 64 * 1024, "{len}");
        {
            use std::io::{Seek, SeekFrom};
            let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
            f.seek(SeekFrom::Start(len / 2)).unwrap();
            f.write_all(&[0xA5; 8192]).unwrap();
        }
        let original = std::fs::read(&db).unwrap();
        match check_at_start(dir.path(), &db, now()) {
            StartCheck::Broken {
                reason,
                moved_to: Some(moved),
            } => {
                assert!(reason.contains("damaged"), "{reason}");
                assert_eq!(
                    moved.file_name().unwrap(),
                    "kiosk.sqlite.damaged-20261123T143215Z"
                );
                assert!(!db.exists(), "the damaged file is no longer in use");
                assert_eq!(std::fs::read(&moved).unwrap(), original, "kept intact");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_truncated_file_is_found_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let db = filled(dir.path());
        let len = std::fs::metadata(&db).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .unwrap()
            .set_len(len / 3)
            .unwrap();
        // Opening it as the kiosk used to fails outright.
        assert!(Store::open(&db).is_err());
        let check = check_at_start(dir.path(), &db, now());
        assert!(
            matches!(&check, StartCheck::Broken { moved_to: Some(m), .. } if m.exists()),
            "{check:?}"
        );
        // A second damaged file the same second gets its own name.
        std::fs::write(&db, b"not a database at all, just text that is long enough").unwrap();
        match check_at_start(dir.path(), &db, now()) {
            StartCheck::Broken {
                moved_to: Some(m), ..
            } => assert!(m.to_string_lossy().ends_with("-2"), "{m:?}"),
            other => panic!("{other:?}"),
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_database_its_companions_and_device_toml_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        ensure_private_dir(&data).unwrap();
        let db = data.join("kiosk.sqlite");
        let store = Store::open(&db).unwrap();
        store.set_meta("k", "v").unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
        drop(store);
        // A database (and a folder) left readable by an older Cubby is tightened.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        Store::open(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        ensure_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let cfg = crate::config::Config {
            data_dir: data.join("fresh"),
            hub_url: Some("https://hub.example".into()),
            ..crate::config::Config::default()
        };
        cfg.save_device_file().unwrap();
        assert_eq!(mode(&cfg.device_file_path()), 0o600);
        assert_eq!(mode(&cfg.data_dir), 0o700);
    }

    /// Measures the start-up check on a large cache (10,000 children, 200,000 events):
    /// `cargo test --lib store::check -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn quick_check_cost_on_a_large_cache() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kiosk.sqlite");
        let mut store = Store::open(&db).unwrap();
        let (source, verdicts, report) = crate::domain::testdata::large_cache(10_000);
        store.replace_roster(&source, &verdicts, &report).unwrap();
        let start = chrono::Utc::now() - chrono::Duration::days(365);
        let mut events = Vec::new();
        for i in 0..200_000i64 {
            let mut e = crate::domain::testdata::event(
                &format!("0190f3c1-7a2b-7c3d-8e4f-{i:012}"),
                crate::api::EventType::CheckIn,
                &format!("child_{}", i % 10_000),
                "2026-11-23T08:00:00-06:00",
            );
            e.occurred_at = (start + chrono::Duration::minutes(i * 2)).fixed_offset();
            events.push(e);
            if events.len() == 5000 {
                store.record_local(&events, chrono::Utc::now()).unwrap();
                events.clear();
            }
        }
        drop(store);
        let size = std::fs::metadata(&db).unwrap().len();
        let conn = Connection::open(&db).unwrap();
        for pragma in ["quick_check", "integrity_check"] {
            let t = std::time::Instant::now();
            let r: String = conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .unwrap();
            println!(
                "{pragma}: {r} in {:?} on {:.1} MiB",
                t.elapsed(),
                size as f64 / 1048576.0
            );
        }
    }
}
