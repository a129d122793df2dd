//! Signed QR codes (hub-api §7): the `CUBBY1.<payload>.<signature>` format, signing (used by
//! the reference hub and tests), offline verification on the kiosk ([`QrVerifier`]) and the
//! 3-second duplicate filter ([`Dedup`]).
//!
//! Pure: the time is always passed in. Verification order: shape → payload JSON → `kid`
//! lookup → Ed25519 `verify_strict` over the ASCII bytes `CUBBY1.<payload>` → times →
//! payer check. No field is trusted before the signature is checked, except the `kid`
//! used to pick the key. Rejections carry a reason for the audit log ([`QrReject`]); the
//! person at the door only ever sees [`SCREEN_TEXT`]. Nothing here logs or stores the code
//! text or its payload.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::QrKey;

/// Text prefix (and version) of every Cubby QR code.
pub const PREFIX: &str = "CUBBY1.";
/// Clock skew allowed on `exp` (and on `iat` in the future), in seconds.
pub const SKEW_S: i64 = 120;
/// Longer scans are rejected before any decoding (a real code is about 220 characters).
pub const MAX_CODE_LEN: usize = 2048;
/// The same code text scanned again within this window counts once.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(3);
/// What the door shows for every rejected code (the reason goes to the audit log only).
pub const SCREEN_TEXT: &str = "This code can't be used here";

/// Longest lifetime (`exp - iat`) accepted for a code without `long_lived`: a code on a
/// parent's phone lives minutes, so a day is generous.
pub const DEFAULT_MAX_LIFETIME_S: i64 = 24 * 3600;
/// Longest lifetime accepted even for a printed card the hub marked `long_lived`.
pub const DEFAULT_MAX_LONG_LIVED_S: i64 = 400 * 24 * 3600;
/// No genuine code was issued before this (2024-01-01T00:00:00Z): an older `iat` is absurd.
pub const EARLIEST_IAT: i64 = 1_704_067_200;

/// The signed JSON object inside a code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrClaims {
    /// Which hub key signed it (`qr_keys[].kid`).
    pub kid: String,
    /// Person id of the guardian (a family code); empty on a staff badge.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pid: String,
    /// Staff id (a staff badge); empty on a family code.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Random nonce: two codes minted in the same second differ.
    #[serde(default)]
    pub n: String,
    /// The hub minted it for print: its lifetime may exceed the kiosk's usual maximum.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub long_lived: bool,
}

/// Who a verified code names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrSubject {
    /// A family code: a guardian's person id.
    Person(String),
    /// A staff badge: a staff id.
    Staff(String),
}

impl QrClaims {
    /// Claims for `pid` valid `ttl_s` seconds from `now`, with a fresh random nonce.
    /// A lifetime over [`DEFAULT_MAX_LIFETIME_S`] marks the code `long_lived` (a printed card).
    pub fn new(kid: &str, pid: &str, now: DateTime<Utc>, ttl_s: u64) -> QrClaims {
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let iat = now.timestamp();
        let ttl = i64::try_from(ttl_s).unwrap_or(i64::MAX);
        QrClaims {
            kid: kid.to_string(),
            pid: pid.to_string(),
            sid: String::new(),
            iat,
            exp: iat.saturating_add(ttl),
            n: URL_SAFE_NO_PAD.encode(nonce),
            long_lived: ttl > DEFAULT_MAX_LIFETIME_S,
        }
    }

    /// A staff badge for `staff_id`, valid `ttl_s` seconds from `now`.
    pub fn staff_badge(kid: &str, staff_id: &str, now: DateTime<Utc>, ttl_s: u64) -> QrClaims {
        let mut c = QrClaims::new(kid, "", now, ttl_s);
        c.sid = staff_id.to_string();
        c
    }
}

/// Encode and sign `claims` with `key`: the full `CUBBY1.<payload>.<signature>` text.
pub fn sign_code(key: &SigningKey, claims: &QrClaims) -> String {
    // Serializing a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
    let sig = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// The public half of `key` as the enrollment answer lists it.
pub fn public_qr_key(kid: &str, key: &SigningKey) -> QrKey {
    QrKey {
        kid: kid.to_string(),
        ed25519_public: STANDARD.encode(key.verifying_key().to_bytes()),
    }
}

/// Why a scanned code was refused. `Display` is the audit-log reason: it never contains
/// the code text or payload (a `kid` or person id at most, both plain identifiers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrReject {
    /// Not a Cubby code at all (another QR code, a barcode, binary junk).
    #[error("not a Cubby code ({0})")]
    NotCubby(&'static str),
    /// Starts like a Cubby code but cannot be decoded (truncated, damaged).
    #[error("malformed Cubby code ({0})")]
    Malformed(&'static str),
    #[error("signed with unknown key `{kid}`")]
    UnknownKey { kid: String },
    #[error("signature does not verify")]
    BadSignature,
    #[error("expired {ago_s} s ago")]
    Expired { ago_s: i64 },
    #[error("issued {ahead_s} s in the future")]
    NotYetValid { ahead_s: i64 },
    #[error("person {pid} is not an active payer (authorized pickups use a PIN)")]
    NotPayer { pid: String },
    #[error("staff {sid} is not active staff")]
    NotActiveStaff { sid: String },
    #[error("a staff badge where a family code is needed")]
    NotFamilyCode,
    #[error("lifetime of {lifetime_s} s is over the {max_s} s this door accepts")]
    TooLongLived { lifetime_s: i64, max_s: i64 },
}

impl QrReject {
    /// Short machine-readable reason (`unknown_key`, `bad_signature`, …) for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            QrReject::NotCubby(_) => "not_cubby",
            QrReject::Malformed(_) => "malformed",
            QrReject::UnknownKey { .. } => "unknown_key",
            QrReject::BadSignature => "bad_signature",
            QrReject::Expired { .. } => "expired",
            QrReject::NotYetValid { .. } => "not_yet_valid",
            QrReject::NotPayer { .. } => "not_payer",
            QrReject::NotActiveStaff { .. } => "not_active_staff",
            QrReject::NotFamilyCode => "not_family_code",
            QrReject::TooLongLived { .. } => "too_long_lived",
        }
    }

    /// What the door shows: always the same calm sentence.
    pub fn screen_text(&self) -> &'static str {
        SCREEN_TEXT
    }

    /// A genuine code that ran out (the person needs a fresh one), as opposed to a code
    /// that is not valid at all: the door words the two differently.
    pub fn is_expired(&self) -> bool {
        matches!(self, QrReject::Expired { .. })
    }
}

/// A key id from an unverified payload, made safe to log.
fn loggable_kid(kid: &str) -> String {
    let clean: String = kid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(32)
        .collect();
    if clean.is_empty() {
        "?".into()
    } else {
        clean
    }
}

/// Verifies codes offline against the hub's public keys (`qr_keys` from enrollment).
#[derive(Debug, Clone)]
pub struct QrVerifier {
    keys: HashMap<String, VerifyingKey>,
    /// Longest `exp - iat` accepted without `long_lived`.
    max_lifetime_s: i64,
    /// Longest `exp - iat` accepted with `long_lived`.
    max_long_lived_s: i64,
}

impl Default for QrVerifier {
    fn default() -> Self {
        QrVerifier {
            keys: HashMap::new(),
            max_lifetime_s: DEFAULT_MAX_LIFETIME_S,
            max_long_lived_s: DEFAULT_MAX_LONG_LIVED_S,
        }
    }
}

impl QrVerifier {
    /// Build from the enrollment's `qr_keys`. A key that is not base64 of a valid 32-byte
    /// Ed25519 public key is skipped with a warning (codes of that kid then count as unknown).
    pub fn new(keys: &[QrKey]) -> QrVerifier {
        let mut map = HashMap::new();
        for k in keys {
            match parse_public_key(&k.ed25519_public) {
                Ok(vk) => {
                    map.insert(k.kid.clone(), vk);
                }
                Err(why) => tracing::warn!(
                    kid = %loggable_kid(&k.kid),
                    "QR key skipped: {why}"
                ),
            }
        }
        QrVerifier {
            keys: map,
            ..QrVerifier::default()
        }
    }

    /// Set the longest lifetimes accepted (config `[qr] max_lifetime_s`,
    /// `max_long_lived_days`). Values below one minute are raised to one minute.
    pub fn with_lifetimes(mut self, max_lifetime_s: i64, max_long_lived_s: i64) -> QrVerifier {
        self.max_lifetime_s = max_lifetime_s.max(60);
        self.max_long_lived_s = max_long_lived_s.max(self.max_lifetime_s);
        self
    }

    /// Build from the JSON the kiosk stored at provisioning (`[{"kid":…, "ed25519_public":…}]`).
    /// Unreadable JSON gives a verifier that refuses every code (logged).
    pub fn from_json(json: &str) -> QrVerifier {
        match serde_json::from_str::<Vec<QrKey>>(json) {
            Ok(keys) => QrVerifier::new(&keys),
            Err(e) => {
                tracing::warn!(error = %e, "stored QR keys unreadable: every QR code will be refused");
                QrVerifier::default()
            }
        }
    }

    /// How many usable keys this verifier holds.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Verify a family code scanned at `now`: `Ok(person id)` for a valid code of a person
    /// for whom `is_active_payer` says yes. A staff badge is refused.
    pub fn verify(
        &self,
        text: &str,
        now: DateTime<Utc>,
        is_active_payer: impl Fn(&str) -> bool,
    ) -> Result<String, QrReject> {
        match self.verify_any(text, now, is_active_payer, |_| true)? {
            QrSubject::Person(pid) => Ok(pid),
            QrSubject::Staff(_) => Err(QrReject::NotFamilyCode),
        }
    }

    /// Verify a family code or a staff badge scanned at `now`. The subject must pass
    /// `is_active_payer` (family code) or `is_active_staff` (badge).
    pub fn verify_any(
        &self,
        text: &str,
        now: DateTime<Utc>,
        is_active_payer: impl Fn(&str) -> bool,
        is_active_staff: impl Fn(&str) -> bool,
    ) -> Result<QrSubject, QrReject> {
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.len() > MAX_CODE_LEN {
            return Err(QrReject::NotCubby("too long"));
        }
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or(QrReject::NotCubby("no CUBBY1 prefix"))?;
        let (payload_b64, sig_b64) = rest
            .split_once('.')
            .ok_or(QrReject::Malformed("missing signature"))?;
        if sig_b64.contains('.') {
            return Err(QrReject::Malformed("too many parts"));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| QrReject::Malformed("payload is not base64url"))?;
        let sig_bytes = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| QrReject::Malformed("signature is not base64url"))?;
        let sig_bytes: [u8; 64] = sig_bytes
            .try_into()
            .map_err(|_| QrReject::Malformed("signature is not 64 bytes"))?;
        let claims: QrClaims = serde_json::from_slice(&payload)
            .map_err(|_| QrReject::Malformed("payload is not the expected JSON"))?;
        let key = self
            .keys
            .get(&claims.kid)
            .ok_or_else(|| QrReject::UnknownKey {
                kid: loggable_kid(&claims.kid),
            })?;
        let signed_len = PREFIX.len() + payload_b64.len();
        let signed = &text.as_bytes()[..signed_len];
        key.verify_strict(signed, &Signature::from_bytes(&sig_bytes))
            .map_err(|_| QrReject::BadSignature)?;

        let now_ms = now.timestamp_millis();
        let exp_ms = claims.exp.saturating_add(SKEW_S).saturating_mul(1000);
        if now_ms > exp_ms {
            let ago_s = now.timestamp().saturating_sub(claims.exp);
            return Err(QrReject::Expired { ago_s });
        }
        let iat_ms = claims.iat.saturating_sub(SKEW_S).saturating_mul(1000);
        if now_ms < iat_ms {
            let ahead_s = claims.iat.saturating_sub(now.timestamp());
            return Err(QrReject::NotYetValid { ahead_s });
        }
        if claims.exp < claims.iat {
            return Err(QrReject::Malformed("expires before it was issued"));
        }
        if claims.iat < EARLIEST_IAT {
            return Err(QrReject::Malformed("issued before any Cubby code existed"));
        }
        let lifetime_s = claims.exp.saturating_sub(claims.iat);
        let max_s = if claims.long_lived {
            self.max_long_lived_s
        } else {
            self.max_lifetime_s
        };
        if lifetime_s > max_s {
            return Err(QrReject::TooLongLived { lifetime_s, max_s });
        }
        match (claims.pid.is_empty(), claims.sid.is_empty()) {
            (false, true) if is_active_payer(&claims.pid) => Ok(QrSubject::Person(claims.pid)),
            (false, true) => Err(QrReject::NotPayer {
                pid: loggable_kid(&claims.pid),
            }),
            (true, false) if is_active_staff(&claims.sid) => Ok(QrSubject::Staff(claims.sid)),
            (true, false) => Err(QrReject::NotActiveStaff {
                sid: loggable_kid(&claims.sid),
            }),
            _ => Err(QrReject::Malformed(
                "names neither exactly one person nor staff",
            )),
        }
    }

    /// [`verify_any`](Self::verify_any), logging a rejection (reason and key id only, never
    /// the code).
    pub fn verify_logged(
        &self,
        text: &str,
        now: DateTime<Utc>,
        is_active_payer: impl Fn(&str) -> bool,
        is_active_staff: impl Fn(&str) -> bool,
    ) -> Result<QrSubject, QrReject> {
        let r = self.verify_any(text, now, is_active_payer, is_active_staff);
        if let Err(reject) = &r {
            tracing::warn!(reason = reject.code(), "QR code refused: {reject}");
        }
        r
    }
}

fn parse_public_key(b64: &str) -> Result<VerifyingKey, &'static str> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| "ed25519_public is not base64")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "ed25519_public is not 32 bytes")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "ed25519_public is not a valid Ed25519 point")
}

/// Drops repeats: the same code text scanned again within [`DEDUP_WINDOW`] of its previous
/// scan counts once (a phone held under the scanner keeps counting as one scan). Keeps
/// only SHA-256 digests of recent texts, never the texts.
#[derive(Debug, Clone)]
pub struct Dedup {
    window: chrono::Duration,
    seen: HashMap<[u8; 32], DateTime<Utc>>,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup::new(DEDUP_WINDOW)
    }
}

impl Dedup {
    pub fn new(window: Duration) -> Dedup {
        Dedup {
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::seconds(3)),
            seen: HashMap::new(),
        }
    }

    /// True when `text` should be handled (first scan, or its last scan was at least the
    /// window ago); false for a repeat. Records the scan either way.
    pub fn accept(&mut self, text: &str, now: DateTime<Utc>) -> bool {
        let window = self.window;
        self.seen.retain(|_, at| now - *at < window && *at <= now);
        let digest: [u8; 32] = Sha256::digest(text.trim().as_bytes()).into();
        let fresh = !self.seen.contains_key(&digest);
        self.seen.insert(digest, now);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn round_trip_and_format() {
        let k = key(7);
        let now = DateTime::from_timestamp(1_795_420_000, 0).unwrap_or_default();
        let code = sign_code(&k, &QrClaims::new("k1", "per_1", now, 300));
        assert!(code.starts_with(PREFIX));
        assert_eq!(code.matches('.').count(), 2);
        assert!(!code.contains('='));
        let v = QrVerifier::new(&[public_qr_key("k1", &k)]);
        assert_eq!(v.verify(&code, now, |_| true), Ok("per_1".to_string()));
        // Trailing CR/LF from a scanner is tolerated.
        assert_eq!(
            v.verify(&format!("{code}\r\n"), now, |_| true),
            Ok("per_1".to_string())
        );
    }

    #[test]
    fn bad_keys_are_skipped() {
        let good = public_qr_key("k1", &key(1));
        let v = QrVerifier::new(&[
            QrKey {
                kid: "k0".into(),
                ed25519_public: "not base64!".into(),
            },
            QrKey {
                kid: "k2".into(),
                ed25519_public: STANDARD.encode([1u8; 16]),
            },
            good,
        ]);
        assert_eq!(v.key_count(), 1);
        assert_eq!(QrVerifier::from_json("{oops").key_count(), 0);
    }

    #[test]
    fn rejection_reasons_never_contain_the_payload() {
        let r = QrReject::UnknownKey {
            kid: loggable_kid("k9\n<script>"),
        };
        assert_eq!(r.to_string(), "signed with unknown key `k9script`");
        assert_eq!(r.screen_text(), SCREEN_TEXT);
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap_or_default()
    }

    fn signed(claims: &QrClaims) -> (String, QrVerifier) {
        let k = key(3);
        (
            sign_code(&k, claims),
            QrVerifier::new(&[public_qr_key("k1", &k)]),
        )
    }

    const NOW: i64 = 1_795_420_000;

    #[test]
    fn a_long_lifetime_needs_the_hubs_long_lived_mark() {
        // A 100-year code signed with the right key: refused without `long_lived`...
        let mut c = QrClaims::new("k1", "per_1", at(NOW), 100 * 365 * 86_400);
        c.long_lived = false;
        let (code, v) = signed(&c);
        assert!(matches!(
            v.verify(&code, at(NOW), |_| true),
            Err(QrReject::TooLongLived { .. })
        ));
        // ...and over the long-lived maximum even with it.
        c.long_lived = true;
        let (code, v) = signed(&c);
        assert!(matches!(
            v.verify(&code, at(NOW), |_| true),
            Err(QrReject::TooLongLived { .. })
        ));
        // A printed card for a year is fine; so is a five-minute phone code.
        let (code, v) = signed(&QrClaims::new("k1", "per_1", at(NOW), 365 * 86_400));
        assert_eq!(v.verify(&code, at(NOW), |_| true), Ok("per_1".into()));
        let (code, v) = signed(&QrClaims::new("k1", "per_1", at(NOW), 300));
        assert_eq!(v.verify(&code, at(NOW), |_| true), Ok("per_1".into()));
        // The door's own maximum is configurable.
        let c = QrClaims::new("k1", "per_1", at(NOW), 3_600);
        let (code, v) = signed(&c);
        let strict = v.with_lifetimes(600, 86_400);
        assert!(matches!(
            strict.verify(&code, at(NOW), |_| true),
            Err(QrReject::TooLongLived {
                lifetime_s: 3_600,
                max_s: 600
            })
        ));
    }

    #[test]
    fn an_iat_in_the_future_or_before_cubby_existed_is_refused() {
        let (code, v) = signed(&QrClaims::new("k1", "per_1", at(NOW + 3_600), 300));
        assert!(matches!(
            v.verify(&code, at(NOW), |_| true),
            Err(QrReject::NotYetValid { .. })
        ));
        let mut c = QrClaims::new("k1", "per_1", at(NOW), 300);
        c.iat = 0;
        c.exp = NOW + 300;
        let (code, v) = signed(&c);
        assert_eq!(
            v.verify(&code, at(NOW), |_| true),
            Err(QrReject::Malformed("issued before any Cubby code existed"))
        );
    }

    #[test]
    fn a_staff_badge_names_active_staff_and_is_not_a_family_code() {
        let (code, v) = signed(&QrClaims::staff_badge(
            "k1",
            "staff_lee",
            at(NOW),
            300 * 86_400,
        ));
        assert_eq!(
            v.verify_any(&code, at(NOW), |_| true, |sid| sid == "staff_lee"),
            Ok(QrSubject::Staff("staff_lee".into()))
        );
        assert_eq!(
            v.verify_any(&code, at(NOW), |_| true, |_| false),
            Err(QrReject::NotActiveStaff {
                sid: "staff_lee".into()
            })
        );
        assert_eq!(
            v.verify(&code, at(NOW), |_| true),
            Err(QrReject::NotFamilyCode)
        );
        // A payload naming both a person and staff is malformed.
        let mut both = QrClaims::new("k1", "per_1", at(NOW), 300);
        both.sid = "staff_lee".into();
        let (code, v) = signed(&both);
        assert!(matches!(
            v.verify_any(&code, at(NOW), |_| true, |_| true),
            Err(QrReject::Malformed(_))
        ));
    }

    #[test]
    fn an_expired_code_is_told_apart_from_a_forged_one() {
        let (code, v) = signed(&QrClaims::new("k1", "per_1", at(NOW - 1_000), 300));
        let r = v.verify(&code, at(NOW), |_| true);
        assert!(r.as_ref().is_err_and(QrReject::is_expired), "{r:?}");
        let forged = format!("{}x", &code[..code.len() - 1]);
        assert!(!v
            .verify(&forged, at(NOW), |_| true)
            .is_err_and(|r| r.is_expired()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn any_scanned_text_is_refused_without_panic(text in "(CUBBY1\\.)?[A-Za-z0-9_\\-\\.=+/ ]{0,400}") {
            let (_, v) = signed(&QrClaims::new("k1", "per_1", at(NOW), 300));
            proptest::prop_assert!(v.verify_any(&text, at(NOW), |_| true, |_| true).is_err());
        }

        #[test]
        fn any_signed_claims_never_panic(pid in "[a-z0-9_]{0,12}", sid in "[a-z0-9_]{0,12}",
                                         iat in proptest::prelude::any::<i64>(), exp in proptest::prelude::any::<i64>(),
                                         long_lived in proptest::prelude::any::<bool>()) {
            let c = QrClaims { kid: "k1".into(), pid, sid, iat, exp, n: String::new(), long_lived };
            let (code, v) = signed(&c);
            if let Ok(subject) = v.verify_any(&code, at(NOW), |_| true, |_| true) {
                // Whatever passed is within the door's limits.
                proptest::prop_assert!(c.iat >= EARLIEST_IAT && c.exp >= c.iat);
                proptest::prop_assert!(c.exp - c.iat <= DEFAULT_MAX_LONG_LIVED_S);
                proptest::prop_assert!(matches!(subject, QrSubject::Person(_) | QrSubject::Staff(_)));
            }
        }
    }
}
