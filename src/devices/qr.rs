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

/// The signed JSON object inside a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrClaims {
    /// Which hub key signed it (`qr_keys[].kid`).
    pub kid: String,
    /// Person id of the guardian.
    pub pid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Random nonce: two codes minted in the same second differ.
    #[serde(default)]
    pub n: String,
}

impl QrClaims {
    /// Claims for `pid` valid `ttl_s` seconds from `now`, with a fresh random nonce.
    pub fn new(kid: &str, pid: &str, now: DateTime<Utc>, ttl_s: u64) -> QrClaims {
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let iat = now.timestamp();
        QrClaims {
            kid: kid.to_string(),
            pid: pid.to_string(),
            iat,
            exp: iat.saturating_add(i64::try_from(ttl_s).unwrap_or(i64::MAX)),
            n: URL_SAFE_NO_PAD.encode(nonce),
        }
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
        }
    }

    /// What the door shows: always the same calm sentence.
    pub fn screen_text(&self) -> &'static str {
        SCREEN_TEXT
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
#[derive(Debug, Clone, Default)]
pub struct QrVerifier {
    keys: HashMap<String, VerifyingKey>,
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
        QrVerifier { keys: map }
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

    /// Verify `text` as scanned at `now`. `Ok(person id)` for a valid code of a person for
    /// whom `is_active_payer` says yes.
    pub fn verify(
        &self,
        text: &str,
        now: DateTime<Utc>,
        is_active_payer: impl Fn(&str) -> bool,
    ) -> Result<String, QrReject> {
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
        if !is_active_payer(&claims.pid) {
            return Err(QrReject::NotPayer { pid: claims.pid });
        }
        Ok(claims.pid)
    }

    /// [`verify`](Self::verify), logging a rejection (reason and key id only, never the
    /// code) and mapping it to `None`: the shape the kiosk state machine's `qr` hook takes.
    pub fn verify_logged(
        &self,
        text: &str,
        now: DateTime<Utc>,
        is_active_payer: impl Fn(&str) -> bool,
    ) -> Option<String> {
        match self.verify(text, now, is_active_payer) {
            Ok(pid) => Some(pid),
            Err(reject) => {
                tracing::warn!(reason = reject.code(), "QR code refused: {reject}");
                None
            }
        }
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
}
