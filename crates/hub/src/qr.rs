//! The hub's QR signing keys and code minting (hub-api §7).
//!
//! The hub creates one Ed25519 signing key (kid `k1`) with its database (table `qr_keys`,
//! 32-byte secret seed), hands the public halves to devices at enrollment (`qr_keys`) and
//! mints `CUBBY1.…` codes for payers: [`mint_qr`] (library, tests, demo) and
//! `cubby hub qr PERSON_ID [--ttl S] [--png FILE]`. [`qr_png`] renders a code as a PNG.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use rusqlite::{params, OptionalExtension, Transaction};

use super::db::{now_text, HubDb};
use super::error::HubError;
use cubby_core::api::{Family, QrKey};
use cubby_core::qr::{public_qr_key, sign_code, QrClaims};

/// Key id of the key created with the database.
pub const FIRST_KID: &str = "k1";
/// Default lifetime of a minted code, in seconds.
pub const DEFAULT_TTL_S: u64 = 300;
/// Longest lifetime `mint` accepts (a printed card for a school year and a bit).
pub const MAX_TTL_S: u64 = 400 * 24 * 3600;
/// Pixels per QR module in [`qr_png`].
const PNG_SCALE: usize = 8;
/// Quiet zone around the code, in modules (the QR standard asks for 4).
const PNG_QUIET: usize = 4;

/// Create the first signing key if the database has none (called inside `HubDb::init`).
pub(super) fn ensure_key(tx: &Transaction<'_>) -> Result<(), HubError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let any: i64 = tx.query_row("SELECT count(*) FROM qr_keys", [], |r| r.get(0))?;
    if any == 0 {
        tx.execute(
            "INSERT INTO qr_keys (kid, secret, created_at) VALUES (?1, ?2, ?3)",
            params![FIRST_KID, seed.as_slice(), now_text()],
        )?;
    }
    Ok(())
}

fn signing_key_from(kid: &str, secret: Vec<u8>) -> Result<SigningKey, HubError> {
    let seed: [u8; 32] = secret
        .try_into()
        .map_err(|_| HubError::Invalid(format!("QR key {kid} in the database is not 32 bytes")))?;
    Ok(SigningKey::from_bytes(&seed))
}

impl HubDb {
    /// Public halves of every QR signing key, oldest first (the enrollment's `qr_keys`).
    pub fn qr_public_keys(&self) -> Result<Vec<QrKey>, HubError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kid, secret FROM qr_keys ORDER BY created_at, kid")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kid, secret) = row?;
            out.push(public_qr_key(&kid, &signing_key_from(&kid, secret)?));
        }
        Ok(out)
    }

    /// The key new codes are signed with (the newest) and its kid.
    pub fn qr_signing_key(&self) -> Result<(String, SigningKey), HubError> {
        let (kid, secret): (String, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT kid, secret FROM qr_keys ORDER BY created_at DESC, kid DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| HubError::NotFound("no QR signing key in the hub database".into()))?;
        let key = signing_key_from(&kid, secret)?;
        Ok((kid, key))
    }

    /// Mint a code for `person_id`, valid `ttl_s` seconds from `now`. Only a payer of a
    /// family in the roster gets one: authorized pickups use a PIN, never a QR code.
    pub fn mint_qr(
        &self,
        person_id: &str,
        ttl_s: u64,
        now: DateTime<Utc>,
    ) -> Result<String, HubError> {
        if ttl_s == 0 || ttl_s > MAX_TTL_S {
            return Err(HubError::Invalid(format!(
                "ttl must be between 1 and {MAX_TTL_S} seconds"
            )));
        }
        let family_json: Option<String> = self
            .conn
            .query_row(
                "SELECT r.json FROM members m JOIN records r ON r.kind = 'family' AND r.id = m.family_id
                 WHERE m.kind = 'person' AND m.id = ?1",
                [person_id],
                |r| r.get(0),
            )
            .optional()?;
        let family: Family = match family_json {
            Some(j) => serde_json::from_str(&j)?,
            None => return Err(HubError::NotFound(format!("no person {person_id}"))),
        };
        let person = family
            .people
            .iter()
            .find(|p| p.id == person_id)
            .ok_or_else(|| HubError::NotFound(format!("no person {person_id}")))?;
        if !person.is_payer {
            return Err(HubError::Invalid(format!(
                "{person_id} is not a payer: authorized pickups use a PIN, never a QR code"
            )));
        }
        let (kid, key) = self.qr_signing_key()?;
        Ok(sign_code(&key, &QrClaims::new(&kid, person_id, now, ttl_s)))
    }
}

/// Mint a QR code text for `person_id` from the hub database at `db` (must exist).
pub fn mint_qr(
    db: &Path,
    person_id: &str,
    ttl_s: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    Ok(HubDb::open_existing(db)?.mint_qr(person_id, ttl_s, now)?)
}

/// A PNG image (8-bit grayscale, 8 px per module, 4-module quiet zone) of `text` as a QR
/// code with medium error correction.
pub fn qr_png(text: &str) -> anyhow::Result<Vec<u8>> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .context("text does not fit in a QR code")?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * PNG_QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + PNG_QUIET, i / modules + PNG_QUIET);
        for y in my * PNG_SCALE..(my + 1) * PNG_SCALE {
            let row = y * side;
            pixels[row + mx * PNG_SCALE..row + (mx + 1) * PNG_SCALE].fill(0);
        }
    }
    let side32 = u32::try_from(side).context("QR image too large")?;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side32, side32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().context("cannot encode PNG")?;
        writer
            .write_image_data(&pixels)
            .context("cannot encode PNG")?;
        writer.finish().context("cannot encode PNG")?;
    }
    Ok(out)
}

/// Write [`qr_png`] of `text` to `path`.
pub fn write_qr_png(text: &str, path: &Path) -> anyhow::Result<()> {
    let png = qr_png(text)?;
    std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubby_core::api::Person;
    use cubby_core::qr::QrVerifier;

    fn person(id: &str, payer: bool) -> Person {
        Person {
            id: id.into(),
            first_name: "A".into(),
            last_name: "B".into(),
            email: None,
            text_message_phone: None,
            is_payer: payer,
            pin_hmac: None,
            pin_length: None,
            photo_url: None,
        }
    }

    #[test]
    fn key_is_created_once_and_codes_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut db = HubDb::open(&path).unwrap();
        let keys = db.qr_public_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, FIRST_KID);
        drop(db);
        let again = HubDb::open(&path).unwrap().qr_public_keys().unwrap();
        assert_eq!(again, keys);

        db = HubDb::open(&path).unwrap();
        db.upsert_family(&Family {
            id: "fam_1".into(),
            people: vec![person("per_1", true), person("per_3", false)],
            children: vec![],
        })
        .unwrap();
        let now = Utc::now();
        let code = db.mint_qr("per_1", 300, now).unwrap();
        let v = QrVerifier::new(&keys);
        assert_eq!(v.verify(&code, now, |_| true).unwrap(), "per_1");
        assert!(matches!(
            db.mint_qr("per_3", 300, now),
            Err(HubError::Invalid(_))
        ));
        assert!(matches!(
            db.mint_qr("per_404", 300, now),
            Err(HubError::NotFound(_))
        ));
        assert!(db.mint_qr("per_1", 0, now).is_err());
    }

    #[test]
    fn png_has_signature_and_size() {
        let png = qr_png("CUBBY1.abc.def").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width % 8, 0);
    }
}
