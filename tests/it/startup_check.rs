//! Black-box start-up checks: a provisioned `cubby run --headless` meets a damaged
//! database (garbage in the middle, a truncated file), a data folder it cannot write,
//! or a database gone missing. It never records on a damaged file, keeps the damaged
//! file (moved aside, byte for byte), and stays up showing "this door needs a
//! technician" instead of exiting into a restart loop. Real files, real processes.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// A kiosk provisioned against a demo hub, its roster synced, stopped again.
struct Door {
    dir: tempfile::TempDir,
    _hub: Hub,
    config: PathBuf,
}

impl Door {
    fn new() -> Door {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::start(&dir.path().join("hub.sqlite"), 0, None);
        let config = provision(dir.path(), &hub, "Front door");
        Door {
            dir,
            _hub: hub,
            config,
        }
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn db(&self) -> PathBuf {
        self.data().join("kiosk.sqlite")
    }
    fn moved_aside(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.data())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("kiosk.sqlite.damaged-"))
            .collect();
        found.sort();
        found
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// The kiosk shows the technician screen, answers a tap with it again, and is still
/// running a few seconds later (no exit, so no restart loop).
fn assert_needs_technician(k: &mut Kiosk) -> String {
    let first = k.wait_for("the technician screen", |v| {
        v["screen"] == "needs_technician"
    });
    let reason = first["reason"].as_str().unwrap().to_string();
    k.last = Value::Null;
    k.send(r#"{"pin":"1111"}"#);
    let again = k.wait_for("an answer to the tap", |_| true);
    assert_eq!(
        again["screen"], "needs_technician",
        "nothing else works: {again}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(alive(k.pid()), "the kiosk stays up instead of exiting");
    reason
}

#[test]
fn garbage_in_the_middle_of_the_database_moves_it_aside_and_asks_for_a_technician() {
    let door = Door::new();
    let db = door.db();
    let len = std::fs::metadata(&db).unwrap().len();
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(len / 4)).unwrap();
        f.write_all(&vec![0x5A; (len / 2) as usize]).unwrap();
    }
    let damaged = std::fs::read(&db).unwrap();
    let mut k = Kiosk::start(&door.config);
    let reason = assert_needs_technician(&mut k);
    assert!(
        reason.contains("damaged") && reason.contains("moved aside"),
        "{reason}"
    );
    let moved = door.moved_aside();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        std::fs::read(&moved[0]).unwrap(),
        damaged,
        "kept byte for byte"
    );
    assert!(
        !db.exists(),
        "nothing opened a fresh database behind the screen"
    );
}

#[test]
fn a_truncated_database_is_moved_aside_instead_of_a_restart_loop() {
    let door = Door::new();
    let db = door.db();
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let mut k = Kiosk::start(&door.config);
    let reason = assert_needs_technician(&mut k);
    assert!(reason.contains("damaged"), "{reason}");
    assert_eq!(door.moved_aside().len(), 1);
}

/// Makes the data folder unwritable for the kiosk until dropped: a read-only bind mount
/// when the test runs as root and may mount (a real read-only file system), else the
/// folder's write bits removed (non-root), else the kiosk run as `nobody` (root without
/// mount rights, where permissions do not bind root).
struct ReadOnly {
    dir: PathBuf,
    mounted: bool,
    as_nobody: bool,
}

impl ReadOnly {
    fn new(dir: &Path, top: &Path) -> ReadOnly {
        let root = unsafe { libc::geteuid() } == 0;
        let d = dir.to_str().unwrap();
        if root {
            let ok = std::process::Command::new("mount")
                .args(["--bind", "-o", "ro", d, d])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return ReadOnly {
                    dir: dir.into(),
                    mounted: true,
                    as_nobody: false,
                };
            }
            // `nobody` must reach the config and the folder, and not write there.
            use std::os::unix::fs::PermissionsExt;
            for p in [top, dir] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            return ReadOnly {
                dir: dir.into(),
                mounted: false,
                as_nobody: true,
            };
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        ReadOnly {
            dir: dir.into(),
            mounted: false,
            as_nobody: false,
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(BIN);
        c.args(args);
        if self.as_nobody {
            use std::os::unix::process::CommandExt;
            c.uid(65534).gid(65534);
        }
        c
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount").arg(&self.dir).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
    }
}

#[test]
fn a_data_folder_it_cannot_write_is_named_on_screen_and_in_status() {
    let door = Door::new();
    let before = std::fs::read(door.db()).unwrap();
    let ro = ReadOnly::new(&door.data(), door.dir.path());
    let config = door.config.to_str().unwrap();

    let status = ro
        .command(&["status", "--json", "--config", config])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(text.contains("cannot write in its data folder"), "{text}");

    let mut child = ro
        .command(&["run", "--headless", "--config", config])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["screen"], "needs_technician", "{first}");
    let reason = first["reason"].as_str().unwrap();
    assert!(
        reason.contains("cannot write in its data folder"),
        "{reason}"
    );
    if ro.mounted {
        assert!(reason.contains("read-only"), "{reason}");
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stays up, no restart loop"
    );
    // Closing stdin ends the headless kiosk cleanly.
    writeln!(stdin, r#"{{"tap":"start"}}"#).unwrap();
    drop(stdin);
    let code = child.wait().unwrap();
    assert!(code.success(), "{code:?}");
    drop(ro);
    assert_eq!(
        std::fs::read(door.db()).unwrap(),
        before,
        "database untouched"
    );
    assert!(
        door.moved_aside().is_empty(),
        "a sound database is not moved"
    );
}

#[test]
fn a_missing_database_with_secrets_left_warns_that_events_may_be_lost() {
    let door = Door::new();
    std::fs::remove_file(door.db()).unwrap();
    let mut k = Kiosk::start(&door.config);
    let first = k.wait_for("the provisioning screen", |v| v["screen"] == "provision");
    let error = first["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("was missing at start") && error.contains("may be lost"),
        "{first}"
    );
    assert!(alive(k.pid()));
}
