//! Enrollment codes (one-time, expiring: 24 h unless said otherwise), enrolled devices
//! (token hashes, revocation), their heartbeats, and the hub's audit trail of enrollments.
//!
//! Tokens are never stored: only their SHA-256. Neither codes nor tokens reach a log line
//! or the audit trail: a code is named there by its row number (`code #3`). Codes look like `7F3K-Q2PD` and use an
//! alphabet without look-alikes (no 0/O, 1/I/L).

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::db::{now_text, utc_text, HubDb};
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

/// Longest validity of an enrollment code.
pub const MAX_CODE_DAYS: i64 = 30;

/// How long a code is valid unless its creator says otherwise: 24 hours.
pub fn default_code_validity() -> Duration {
    Duration::hours(24)
}

/// A freshly created enrollment code and when it stops working.
#[derive(Debug, Clone)]
pub struct EnrollCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// One line of the hub's audit trail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub client: Option<String>,
    pub detail: String,
}

/// An enrollment code's row: number, used_at, spent by, expires_at.
type CodeRow = (i64, Option<String>, Option<String>, Option<String>);

/// Why a code cannot be spent; the numbers are the code's row number (for the audit).
#[derive(Debug)]
enum EnrollFailure {
    Unknown,
    Expired(i64),
    Used(i64, Option<String>),
    Db(HubError),
}

impl From<rusqlite::Error> for EnrollFailure {
    fn from(e: rusqlite::Error) -> Self {
        EnrollFailure::Db(HubError::Db(e))
    }
}

impl From<EnrollFailure> for HubError {
    fn from(f: EnrollFailure) -> Self {
        match f {
            EnrollFailure::Unknown => HubError::UnknownEnrollCode,
            EnrollFailure::Expired(_) => HubError::EnrollCodeExpired,
            EnrollFailure::Used(..) => HubError::EnrollCodeUsed,
            EnrollFailure::Db(e) => e,
        }
    }
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
    /// Create a new one-time enrollment code valid for the default 24 hours.
    pub fn create_enroll_code(&mut self) -> Result<String, HubError> {
        Ok(self
            .create_enroll_code_valid_for(default_code_validity())?
            .code)
    }

    /// Create a new one-time enrollment code valid for `validity` (1 minute to 30 days).
    pub fn create_enroll_code_valid_for(
        &mut self,
        validity: Duration,
    ) -> Result<EnrollCode, HubError> {
        if validity < Duration::minutes(1) || validity > Duration::days(MAX_CODE_DAYS) {
            return Err(HubError::Invalid(format!(
                "an enrollment code is valid for 1 minute to {MAX_CODE_DAYS} days"
            )));
        }
        let now = Utc::now();
        let expires_at = now + validity;
        loop {
            let code = new_code();
            let inserted = self.conn.execute(
                "INSERT OR IGNORE INTO enroll_codes (code, created_at, expires_at)
                 VALUES (?1, ?2, ?3)",
                params![code, utc_text(now), utc_text(expires_at)],
            )?;
            if inserted == 1 {
                return Ok(EnrollCode { code, expires_at });
            }
        }
    }

    /// Write one line of the hub's audit trail (ids and addresses only, never a code or
    /// a token).
    pub fn audit(
        &mut self,
        action: &str,
        client: Option<&str>,
        detail: &str,
    ) -> Result<(), HubError> {
        self.conn.execute(
            "INSERT INTO audit (at, action, client, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now_text(), action, client, detail],
        )?;
        Ok(())
    }

    /// The audit trail, oldest first.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, HubError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, action, client, detail FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                action: r.get(2)?,
                client: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Spend `code` and enroll a device. Unknown, expired and reused codes are distinct
    /// errors; each failure is written to the audit trail with the code's number, never
    /// the code itself.
    pub fn enroll(&mut self, code: &str, name: &str, version: &str) -> Result<Enrolled, HubError> {
        self.enroll_from(code, name, version, None, Utc::now())
    }

    /// [`enroll`](Self::enroll) from client address `client`, at `now`.
    pub fn enroll_from(
        &mut self,
        code: &str,
        name: &str,
        version: &str,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Enrolled, HubError> {
        let result = self.enroll_tx(code, name, version, now);
        let failure = match &result {
            Ok(e) => {
                self.audit("enrolled", client, &e.device_id)?;
                return result.map_err(HubError::from);
            }
            Err(EnrollFailure::Unknown) => ("enroll_unknown_code", "no such code".to_string()),
            Err(EnrollFailure::Expired(n)) => ("enroll_code_expired", format!("code #{n}")),
            Err(EnrollFailure::Used(n, dev)) => (
                "enroll_code_used",
                format!("code #{n}, spent by {}", dev.as_deref().unwrap_or("?")),
            ),
            Err(EnrollFailure::Db(_)) => return result.map_err(HubError::from),
        };
        tracing::warn!(action = failure.0, client = client.unwrap_or("-"), detail = %failure.1, "enrollment refused");
        self.audit(failure.0, client, &failure.1)?;
        result.map_err(HubError::from)
    }

    fn enroll_tx(
        &mut self,
        code: &str,
        name: &str,
        version: &str,
        now: DateTime<Utc>,
    ) -> Result<Enrolled, EnrollFailure> {
        let code = normalize_code(code);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<CodeRow> = tx
            .query_row(
                "SELECT rowid, used_at, device_id, expires_at FROM enroll_codes WHERE code = ?1",
                [&code],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((number, used_at, spent_by, expires_at)) = row else {
            return Err(EnrollFailure::Unknown);
        };
        if used_at.is_some() {
            return Err(EnrollFailure::Used(number, spent_by));
        }
        let expired = expires_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| t.with_timezone(&Utc) <= now);
        if expired {
            return Err(EnrollFailure::Expired(number));
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

    #[test]
    fn codes_expire_and_every_refusal_is_audited_without_the_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        let short = db
            .create_enroll_code_valid_for(Duration::minutes(10))
            .unwrap();
        let later = Utc::now() + Duration::minutes(11);
        assert!(matches!(
            db.enroll_from(&short.code, "Front", "0.1", Some("192.0.2.9"), later),
            Err(HubError::EnrollCodeExpired)
        ));
        let day = db.create_enroll_code().unwrap();
        let e = db
            .enroll_from(&day, "Front", "0.1", Some("192.0.2.9"), later)
            .unwrap();
        let tomorrow = Utc::now() + Duration::hours(25);
        let stale = db.create_enroll_code().unwrap();
        assert!(matches!(
            db.enroll_from(&stale, "Side", "0.1", None, tomorrow),
            Err(HubError::EnrollCodeExpired)
        ));
        assert!(matches!(
            db.enroll_from(&day, "Again", "0.1", None, later),
            Err(HubError::EnrollCodeUsed)
        ));
        assert!(matches!(
            db.enroll_from("AAAA-BBBB", "x", "0.1", Some("192.0.2.7"), later),
            Err(HubError::UnknownEnrollCode)
        ));
        assert!(db.create_enroll_code_valid_for(Duration::days(31)).is_err());
        let audit = db.audit_entries().unwrap();
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(
            actions,
            vec![
                "enroll_code_expired",
                "enrolled",
                "enroll_code_expired",
                "enroll_code_used",
                "enroll_unknown_code"
            ]
        );
        assert_eq!(audit[0].client.as_deref(), Some("192.0.2.9"));
        assert_eq!(audit[1].detail, e.device_id);
        assert!(audit[3].detail.contains(&e.device_id));
        let all = serde_json::to_string(&audit).unwrap();
        for code in [&short.code, &day, &stale] {
            assert!(!all.contains(code.as_str()), "{all}");
            assert!(!all.contains(&code.replace('-', "")), "{all}");
        }
    }
}
