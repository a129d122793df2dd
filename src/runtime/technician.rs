//! `cubby technician-pin`: the PIN that opens the device screen for a technician who is
//! not on the roster. Stored as HMAC-SHA256(pin_key, digits) in the store's meta table
//! (`keys::TECHNICIAN_PIN_HMAC`), exactly like roster PINs: the digits are never
//! written, echoed or logged, and the audit log gets neither the PIN nor its hash.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::Config;
use crate::domain::pin::{pin_hmac, MAX_PIN_LEN, MIN_PIN_LEN};
use crate::store::{keys, Store};
use crate::sync::puller::load_roster;

use super::secrets::{decode_pin_key, read_secret};

/// Why a technician PIN was not stored. The messages never contain the PIN.
#[derive(Debug, thiserror::Error)]
pub enum TechnicianPinError {
    #[error("the technician PIN must be {MIN_PIN_LEN} to {MAX_PIN_LEN} digits (0-9); nothing was changed")]
    NotDigits,
    #[error("that PIN is already a roster PIN (a family or staff member's): choose another; nothing was changed")]
    Collides,
}

/// The PIN key of a provisioned kiosk (a clear "not provisioned" error otherwise).
pub fn pin_key(cfg: &Config) -> anyhow::Result<Vec<u8>> {
    let path = cfg.pin_key_path();
    Ok(decode_pin_key(&read_secret(&path)?, &path)?)
}

/// The kiosk's store; it must exist already (a provisioned kiosk has one).
fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let db = cfg.db_path();
    anyhow::ensure!(
        db.exists(),
        "this kiosk is not provisioned ({} is missing): run `cubby provision --hub URL --code CODE --name NAME`",
        db.display()
    );
    Ok(Store::open(&db)?)
}

/// Read one line (the PIN) from `input`; surrounding whitespace is dropped.
pub fn read_pin_line(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the PIN from stdin: {e}"))?;
    Ok(line.trim().to_string())
}

/// Read the PIN from stdin without echoing it when stdin is a terminal.
pub fn read_pin_from_stdin() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return read_pin_line(stdin.lock());
    }
    eprint!("Technician PIN ({MIN_PIN_LEN}-{MAX_PIN_LEN} digits, not shown): ");
    let _echo = NoEcho::on_stdin();
    // ECHONL: the terminal still shows the newline, so the next line starts clean.
    read_pin_line(stdin.lock())
}

/// Terminal echo off on stdin while alive (restored on drop).
struct NoEcho(Option<libc::termios>);

impl NoEcho {
    fn on_stdin() -> NoEcho {
        // SAFETY: all-zero bytes are a valid `termios`; tcgetattr fills it for fd 0.
        let mut old: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `old` is a valid, exclusively borrowed termios for the call.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut old) } != 0 {
            return NoEcho(None);
        }
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: `quiet` is a valid termios derived from the terminal's own settings.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
            return NoEcho(None);
        }
        NoEcho(Some(old))
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            // SAFETY: restores the settings read in `on_stdin`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, old) };
        }
    }
}

/// 4–8 ASCII digits.
fn valid(pin: &str) -> bool {
    (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// Store the technician PIN's HMAC (replacing any), after checking it is 4–8 digits and
/// no roster PIN in the cached roster. Audited `technician_pin_set`.
pub fn set_technician_pin(
    cfg: &Config,
    key: &[u8],
    pin: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if !valid(pin) {
        return Err(TechnicianPinError::NotDigits.into());
    }
    let store = open_store(cfg)?;
    let hash = pin_hmac(key, pin);
    let roster = load_roster(&store, now)?.map(|e| e.roster);
    if roster.is_some_and(|r| r.lookup_pin(&hash).is_some()) {
        return Err(TechnicianPinError::Collides.into());
    }
    let replaced = store.meta(keys::TECHNICIAN_PIN_HMAC)?.is_some();
    store.set_meta(keys::TECHNICIAN_PIN_HMAC, &hash)?;
    store.audit(now, "technician_pin_set", &json!({ "replaced": replaced }))?;
    Ok(())
}

/// Remove the technician PIN. Returns whether one was set. Audited
/// `technician_pin_cleared`.
pub fn clear_technician_pin(cfg: &Config, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let store = open_store(cfg)?;
    let was_set = store.meta(keys::TECHNICIAN_PIN_HMAC)?.is_some();
    store.delete_meta(keys::TECHNICIAN_PIN_HMAC)?;
    store.audit(
        now,
        "technician_pin_cleared",
        &json!({ "was_set": was_set }),
    )?;
    Ok(was_set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_four_to_eight_digits_are_valid() {
        for ok in ["1234", "00000000", "9876543"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in ["", "123", "123456789", "12a4", "12 34", "１２３４", "-123"] {
            assert!(!valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_pin_line_is_trimmed() {
        assert_eq!(
            read_pin_line(&b"  4826\r\nmore\n"[..]).expect("read"),
            "4826"
        );
        assert_eq!(read_pin_line(&b""[..]).expect("read"), "");
    }

    #[test]
    fn set_and_clear_store_the_hash_only_and_audit_without_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let now = Utc::now();
        let key = b"0123456789abcdef".to_vec();
        // Not provisioned: no store, no key.
        assert!(pin_key(&cfg).is_err());
        let err = set_technician_pin(&cfg, &key, "4826", now).expect_err("no store");
        assert!(err.to_string().contains("not provisioned"), "{err}");
        std::fs::create_dir_all(&cfg.data_dir).expect("data dir");
        let store = Store::open(&cfg.db_path()).expect("store");
        let err = set_technician_pin(&cfg, &key, "48a6", now).expect_err("not digits");
        assert!(err.to_string().contains("4 to 8 digits"), "{err}");
        assert_eq!(store.meta(keys::TECHNICIAN_PIN_HMAC).expect("meta"), None);
        set_technician_pin(&cfg, &key, "4826", now).expect("set");
        assert_eq!(
            store.meta(keys::TECHNICIAN_PIN_HMAC).expect("meta"),
            Some(pin_hmac(&key, "4826"))
        );
        assert!(clear_technician_pin(&cfg, now).expect("clear"));
        assert!(!clear_technician_pin(&cfg, now).expect("clear again"));
        assert_eq!(store.meta(keys::TECHNICIAN_PIN_HMAC).expect("meta"), None);
        let log = store.audit_log(10).expect("audit");
        let kinds: Vec<&str> = log.iter().map(|(_, k, _)| k.as_str()).collect();
        assert!(kinds.contains(&"technician_pin_set"), "{kinds:?}");
        assert!(kinds.contains(&"technician_pin_cleared"), "{kinds:?}");
        let hash = pin_hmac(&key, "4826");
        assert!(
            log.iter()
                .all(|(_, _, d)| !d.contains("4826") && !d.contains(&hash)),
            "{log:?}"
        );
    }
}
