//! Enrollment codes, enrolled devices (token hashes, revocation) and their heartbeats.
//!
//! Tokens are never stored: only their SHA-256. Codes look like `7F3K-Q2PD` and use an
//! alphabet without look-alikes (no 0/O, 1/I/L).

use base64::Engine;
use rand::{Rng, RngCore};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::db::{now_text, HubDb};
use super::error::HubError;

const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A device as stored, for technicians' listings.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub name: String,
    pub version: String,
    pub enrolled_at: String,
    pub revoked: bool,
    pub heartbeat: Option<Value>,
    pub heartbeat_at: Option<String>,
}

/// What enrollment hands a new device.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub device_id: String,
    pub token: String,
}

fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut pick = || CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char;
    let a: String = (0..4).map(|_| pick()).collect();
    let b: String = (0..4).map(|_| pick()).collect();
    format!("{a}-{b}")
}

/// Canonical form of a typed code: upper case, spaces and dashes ignored.
fn normalize_code(code: &str) -> String {
    let raw: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if raw.len() == 8 {
        format!("{}-{}", &raw[..4], &raw[4..])
    } else {
        raw
    }
}

/// Lower-case hex SHA-256 of a bearer token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl HubDb {
    /// Create a new one-time enrollment code.
    pub fn create_enroll_code(&mut self) -> Result<String, HubError> {
        loop {
            let code = new_code();
            let inserted = self.conn.execute(
                "INSERT OR IGNORE INTO enroll_codes (code, created_at) VALUES (?1, ?2)",
                params![code, now_text()],
            )?;
            if inserted == 1 {
                return Ok(code);
            }
        }
    }

    /// Spend `code` and enroll a device. Unknown code and reused code are distinct errors.
    pub fn enroll(&mut self, code: &str, name: &str, version: &str) -> Result<Enrolled, HubError> {
        let code = normalize_code(code);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let used: Option<Option<String>> = tx
            .query_row(
                "SELECT used_at FROM enroll_codes WHERE code = ?1",
                [&code],
                |r| r.get(0),
            )
            .optional()?;
        match used {
            None => return Err(HubError::UnknownEnrollCode),
            Some(Some(_)) => return Err(HubError::EnrollCodeUsed),
            Some(None) => {}
        }
        let highest: i64 = {
            let mut stmt = tx.prepare("SELECT id FROM devices")?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut max = 0;
            for id in ids {
                let n = id?
                    .strip_prefix("dev_")
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(0);
                max = max.max(n);
            }
            max
        };
        let device_id = format!("dev_{:02}", highest + 1);
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let now = now_text();
        tx.execute(
            "INSERT INTO devices (id, name, version, token_sha256, enrolled_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![device_id, name, version, token_hash(&token), now],
        )?;
        tx.execute(
            "UPDATE enroll_codes SET used_at = ?1, device_id = ?2 WHERE code = ?3",
            params![now, device_id, code],
        )?;
        tx.commit()?;
        Ok(Enrolled { device_id, token })
    }

    /// The device a bearer token belongs to, if it is known and not revoked.
    pub fn device_for_token(&self, token: &str) -> Result<Option<String>, HubError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM devices WHERE token_sha256 = ?1 AND revoked = 0",
                [token_hash(token)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Revoke a device: its token gets 401 from now on.
    pub fn revoke(&mut self, device_id: &str) -> Result<(), HubError> {
        let n = self
            .conn
            .execute("UPDATE devices SET revoked = 1 WHERE id = ?1", [device_id])?;
        if n == 0 {
            return Err(HubError::NotFound(format!("no device {device_id}")));
        }
        Ok(())
    }

    /// Store a device's latest heartbeat (raw JSON) and the time it arrived.
    pub fn record_heartbeat(&mut self, device_id: &str, heartbeat: &Value) -> Result<(), HubError> {
        self.conn.execute(
            "UPDATE devices SET heartbeat_json = ?1, heartbeat_at = ?2, version = COALESCE(?3, version)
             WHERE id = ?4",
            params![
                serde_json::to_string(heartbeat)?,
                now_text(),
                heartbeat.get("version").and_then(Value::as_str),
                device_id
            ],
        )?;
        Ok(())
    }

    /// Every enrolled device, by id.
    pub fn devices(&self) -> Result<Vec<DeviceRow>, HubError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, version, enrolled_at, revoked, heartbeat_json, heartbeat_at
             FROM devices ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                DeviceRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    enrolled_at: r.get(3)?,
                    revoked: r.get::<_, i64>(4)? != 0,
                    heartbeat: None,
                    heartbeat_at: r.get(6)?,
                },
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut device, json) = row?;
            device.heartbeat = json.and_then(|t| serde_json::from_str(&t).ok());
            out.push(device);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unambiguous_and_normalized() {
        for _ in 0..50 {
            let c = new_code();
            assert_eq!(c.len(), 9);
            assert_eq!(&c[4..5], "-");
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        }
        assert_eq!(normalize_code(" 7f3k q2pd "), "7F3K-Q2PD");
        assert_eq!(normalize_code("7F3K-Q2PD"), "7F3K-Q2PD");
    }

    #[test]
    fn enroll_spends_code_once_and_numbers_devices() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        let code = db.create_enroll_code().unwrap();
        let e = db.enroll(&code.to_lowercase(), "Front", "0.1").unwrap();
        assert_eq!(e.device_id, "dev_01");
        assert!(matches!(
            db.enroll(&code, "Again", "0.1"),
            Err(HubError::EnrollCodeUsed)
        ));
        assert!(matches!(
            db.enroll("AAAA-BBBB", "x", "0.1"),
            Err(HubError::UnknownEnrollCode)
        ));
        let code2 = db.create_enroll_code().unwrap();
        let e2 = db.enroll(&code2, "Side", "0.1").unwrap();
        assert_eq!(e2.device_id, "dev_02");
        assert_eq!(
            db.device_for_token(&e.token).unwrap().as_deref(),
            Some("dev_01")
        );
        let stored: String = db
            .conn
            .query_row(
                "SELECT token_sha256 FROM devices WHERE id='dev_01'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_ne!(stored, e.token);
        db.revoke("dev_01").unwrap();
        assert_eq!(db.device_for_token(&e.token).unwrap(), None);
        assert!(db.revoke("dev_99").is_err());
    }
}
