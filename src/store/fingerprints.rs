//! Fingerprint slots: which person (family person or staff member) each template slot of
//! the sensor belongs to, and when consent was recorded (migration 0003). Templates never
//! leave the sensor; this table is the only link between a slot and a person.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::domain::roster::Identity;

use super::{ts, Result, Store, StoreError};

/// One enrolled finger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintRow {
    /// The sensor's template slot.
    pub slot: u16,
    /// Who it is.
    pub identity: Identity,
    /// When consent was recorded (the device screen's tick).
    pub consent_at: DateTime<Utc>,
    /// When the template was stored.
    pub enrolled_at: DateTime<Utc>,
}

/// `person` / `staff` in the table.
fn kind_of(identity: &Identity) -> (&'static str, &str) {
    match identity {
        Identity::Person(id) => ("person", id),
        Identity::Staff(id) => ("staff", id),
    }
}

fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what: format!("fingerprint {what}"),
            detail: format!("{text:?}: {e}"),
        })
}

impl Store {
    /// Every enrolled finger, by slot.
    pub fn fingerprint_rows(&self) -> Result<Vec<FingerprintRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT slot, person_kind, person_id, consent_at, enrolled_at
             FROM fingerprints ORDER BY slot",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (slot, kind, id, consent, enrolled) = row?;
            let identity = match kind.as_str() {
                "person" => Identity::Person(id),
                "staff" => Identity::Staff(id),
                other => {
                    return Err(StoreError::Corrupt {
                        what: "fingerprint person kind".into(),
                        detail: other.to_string(),
                    })
                }
            };
            let slot = u16::try_from(slot).map_err(|_| StoreError::Corrupt {
                what: "fingerprint slot".into(),
                detail: slot.to_string(),
            })?;
            out.push(FingerprintRow {
                slot,
                identity,
                consent_at: parse_time("consent date", &consent)?,
                enrolled_at: parse_time("enrollment date", &enrolled)?,
            });
        }
        Ok(out)
    }

    /// Slot → identity, as the kiosk's `Ctx::fingerprints` wants it.
    pub fn fingerprint_map(&self) -> Result<HashMap<u32, Identity>> {
        Ok(self
            .fingerprint_rows()?
            .into_iter()
            .map(|r| (u32::from(r.slot), r.identity))
            .collect())
    }

    /// Record that `slot` now holds a finger of `identity`. The sensor chose the slot as
    /// free, so a row left over for it (a template deleted behind the kiosk's back) is
    /// replaced.
    pub fn add_fingerprint(
        &self,
        slot: u16,
        identity: &Identity,
        consent_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (kind, id) = kind_of(identity);
        self.conn.execute(
            "INSERT INTO fingerprints (slot, person_kind, person_id, consent_at, enrolled_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (slot) DO UPDATE SET person_kind = excluded.person_kind,
                 person_id = excluded.person_id, consent_at = excluded.consent_at,
                 enrolled_at = excluded.enrolled_at",
            params![i64::from(slot), kind, id, ts(consent_at), ts(now)],
        )?;
        Ok(())
    }

    /// The slots of everyone with this id (a person or a staff member).
    pub fn fingerprint_slots_of(&self, person_id: &str) -> Result<Vec<u16>> {
        Ok(self
            .fingerprint_rows()?
            .into_iter()
            .filter(|r| match &r.identity {
                Identity::Person(id) | Identity::Staff(id) => id == person_id,
            })
            .map(|r| r.slot)
            .collect())
    }

    /// Forget these slots; returns how many rows went.
    pub fn remove_fingerprints(&mut self, slots: &[u16]) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for slot in slots {
            n += tx.execute(
                "DELETE FROM fingerprints WHERE slot = ?1",
                [i64::from(*slot)],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap()
    }

    #[test]
    fn slots_map_to_people_and_staff_with_consent_dates() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("k.sqlite")).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            crate::store::migrate::latest()
        );
        assert!(store.fingerprint_map().unwrap().is_empty());

        let dana = Identity::Person("per_01a".into());
        let lee = Identity::Staff("staff_lee".into());
        store.add_fingerprint(0, &dana, t(8), t(9)).unwrap();
        store.add_fingerprint(7, &lee, t(10), t(10)).unwrap();
        store.add_fingerprint(3, &dana, t(11), t(11)).unwrap();

        let rows = store.fingerprint_rows().unwrap();
        assert_eq!(
            rows.iter().map(|r| r.slot).collect::<Vec<_>>(),
            vec![0, 3, 7]
        );
        assert_eq!(rows[0].consent_at, t(8));
        assert_eq!(rows[0].enrolled_at, t(9));
        assert_eq!(rows[2].identity, lee, "the kind survives the round trip");
        let map = store.fingerprint_map().unwrap();
        assert_eq!(map.get(&3), Some(&dana));
        assert_eq!(map.get(&7), Some(&lee));
        assert_eq!(store.fingerprint_slots_of("per_01a").unwrap(), vec![0, 3]);
        assert_eq!(store.fingerprint_slots_of("staff_lee").unwrap(), vec![7]);
        assert!(store.fingerprint_slots_of("nobody").unwrap().is_empty());

        // A slot the sensor reports free again is taken over by the new enrollment.
        store.add_fingerprint(7, &dana, t(12), t(12)).unwrap();
        assert_eq!(store.fingerprint_map().unwrap().get(&7), Some(&dana));
        assert!(store.fingerprint_slots_of("staff_lee").unwrap().is_empty());

        assert_eq!(store.remove_fingerprints(&[0, 3, 99]).unwrap(), 2);
        assert_eq!(store.fingerprint_slots_of("per_01a").unwrap(), vec![7]);
    }

    #[test]
    fn a_corrupt_kind_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.sqlite")).unwrap();
        let err = store
            .conn
            .execute(
                "INSERT INTO fingerprints VALUES (1, 'robot', 'x', 'now', 'now')",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
        store
            .conn
            .execute(
                "INSERT INTO fingerprints VALUES (1, 'person', 'x', 'yesterday', 'now')",
                [],
            )
            .unwrap();
        let err = store.fingerprint_rows().unwrap_err().to_string();
        assert!(err.contains("consent date"), "{err}");
    }
}
