//! The roster as the hub stores it: rooms, staff and whole families as JSON records, each
//! with a `rev` from the global counter, plus tombstones for deletions. Builds roster
//! answers (full or `since=r_<rev>`), applies `roster delete` and `roster import`.
//!
//! A family is one record: a changed person or child bumps the whole family. The `members`
//! table indexes which family holds each person and child.

use std::str::FromStr;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::db::{next_rev, write_center, HubDb};
use super::error::HubError;
use cubby_core::api::{Center, Deleted, Family, Room, RosterResponse, Staff};

/// What `roster delete` can remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Child,
    Person,
    Family,
    Staff,
    Room,
}

impl RecordKind {
    /// The list name used in `deleted` of a roster answer (and in the tombstones table).
    pub fn tombstone_kind(self) -> &'static str {
        match self {
            RecordKind::Child => "children",
            RecordKind::Person => "people",
            RecordKind::Family => "families",
            RecordKind::Staff => "staff",
            RecordKind::Room => "rooms",
        }
    }
}

impl FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "child" => Ok(RecordKind::Child),
            "person" => Ok(RecordKind::Person),
            "family" => Ok(RecordKind::Family),
            "staff" => Ok(RecordKind::Staff),
            "room" => Ok(RecordKind::Room),
            other => Err(format!(
                "unknown record kind `{other}` (child, person, family, staff, room)"
            )),
        }
    }
}

/// Outcome of one upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Updated,
    Unchanged,
}

/// Counts of one kind of record in an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Ids of the records added or updated.
    pub changed_ids: Vec<String>,
}

/// Counts reported by `roster import`: totals, per kind, and what happened to PINs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    pub center_updated: bool,
    pub rooms: KindCounts,
    pub staff: KindCounts,
    pub families: KindCounts,
    /// People and staff without `pin`/`pin_hmac` in the file who kept their stored PIN.
    pub pins_kept: usize,
    /// People and staff whose stored PIN an explicit `null` removed.
    pub pins_cleared: usize,
}

impl ImportSummary {
    fn count(&mut self, kind: RecordKind, id: &str, c: Change) {
        let k = match kind {
            RecordKind::Room => &mut self.rooms,
            RecordKind::Staff => &mut self.staff,
            _ => &mut self.families,
        };
        match c {
            Change::Added => {
                self.added += 1;
                k.added += 1;
            }
            Change::Updated => {
                self.updated += 1;
                k.updated += 1;
            }
            Change::Unchanged => {
                self.unchanged += 1;
                k.unchanged += 1;
            }
        }
        if c != Change::Unchanged {
            k.changed_ids.push(id.to_string());
        }
    }
}

/// A file shaped like a roster answer; everything optional. People and staff may carry a
/// plain `"pin"` instead of `pin_hmac`: the hub hashes it with the center key on import.
/// Without either, the stored PIN is kept; `null` clears it.
#[derive(Debug, Deserialize)]
struct ImportDoc {
    #[serde(default)]
    center: Option<Center>,
    #[serde(default)]
    rooms: Vec<Room>,
    #[serde(default)]
    staff: Vec<Staff>,
    #[serde(default)]
    families: Vec<Family>,
    #[serde(default)]
    deleted: Deleted,
}

fn upsert_json(tx: &Transaction<'_>, kind: &str, id: &str, json: &str) -> Result<Change, HubError> {
    let old: Option<String> = tx
        .query_row(
            "SELECT json FROM records WHERE kind = ?1 AND id = ?2",
            params![kind, id],
            |r| r.get(0),
        )
        .optional()?;
    if old.as_deref() == Some(json) {
        return Ok(Change::Unchanged);
    }
    let rev = next_rev(tx)?;
    tx.execute(
        "INSERT OR REPLACE INTO records (kind, id, json, rev) VALUES (?1, ?2, ?3, ?4)",
        params![kind, id, json, rev],
    )?;
    Ok(if old.is_some() {
        Change::Updated
    } else {
        Change::Added
    })
}

fn tombstone(tx: &Transaction<'_>, kind: &str, id: &str, rev: i64) -> Result<(), HubError> {
    tx.execute(
        "INSERT OR REPLACE INTO tombstones (kind, id, rev) VALUES (?1, ?2, ?3)",
        params![kind, id, rev],
    )?;
    Ok(())
}

fn untomb(tx: &Transaction<'_>, kind: &str, id: &str) -> Result<(), HubError> {
    tx.execute(
        "DELETE FROM tombstones WHERE kind = ?1 AND id = ?2",
        params![kind, id],
    )?;
    Ok(())
}

fn load_family(conn: &Connection, id: &str) -> Result<Option<Family>, HubError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT json FROM records WHERE kind = 'family' AND id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match json {
        Some(j) => Some(serde_json::from_str(&j)?),
        None => None,
    })
}

fn family_of(conn: &Connection, member_kind: &str, id: &str) -> Result<Option<String>, HubError> {
    Ok(conn
        .query_row(
            "SELECT family_id FROM members WHERE kind = ?1 AND id = ?2",
            params![member_kind, id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Store a whole family (bumping its rev when it changed) and re-index its members.
/// Members that left the family and live nowhere else get a tombstone.
fn upsert_family_tx(tx: &Transaction<'_>, fam: &Family) -> Result<Change, HubError> {
    let change = upsert_json(tx, "family", &fam.id, &serde_json::to_string(fam)?)?;
    if change == Change::Unchanged {
        return Ok(change);
    }
    let old_members: Vec<(String, String)> = {
        let mut stmt = tx.prepare("SELECT kind, id FROM members WHERE family_id = ?1")?;
        let rows = stmt.query_map([&fam.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    tx.execute("DELETE FROM members WHERE family_id = ?1", [&fam.id])?;
    untomb(tx, "families", &fam.id)?;
    for p in &fam.people {
        tx.execute(
            "INSERT OR REPLACE INTO members (kind, id, family_id) VALUES ('person', ?1, ?2)",
            params![p.id, fam.id],
        )?;
        untomb(tx, "people", &p.id)?;
    }
    for c in &fam.children {
        tx.execute(
            "INSERT OR REPLACE INTO members (kind, id, family_id) VALUES ('child', ?1, ?2)",
            params![c.id, fam.id],
        )?;
        untomb(tx, "children", &c.id)?;
    }
    let mut gone_rev = None;
    for (kind, id) in old_members {
        if family_of(tx, &kind, &id)?.is_none() {
            let rev = match gone_rev {
                Some(r) => r,
                None => *gone_rev.insert(next_rev(tx)?),
            };
            let tomb = if kind == "child" {
                "children"
            } else {
                "people"
            };
            tombstone(tx, tomb, &id, rev)?;
        }
    }
    Ok(change)
}

fn upsert_room_tx(tx: &Transaction<'_>, room: &Room) -> Result<Change, HubError> {
    let change = upsert_json(tx, "room", &room.id, &serde_json::to_string(room)?)?;
    untomb(tx, "rooms", &room.id)?;
    Ok(change)
}

fn upsert_staff_tx(tx: &Transaction<'_>, staff: &Staff) -> Result<Change, HubError> {
    let change = upsert_json(tx, "staff", &staff.id, &serde_json::to_string(staff)?)?;
    untomb(tx, "staff", &staff.id)?;
    Ok(change)
}

/// Delete one record; `Ok(false)` when there was nothing of that id.
fn delete_tx(tx: &Transaction<'_>, kind: RecordKind, id: &str) -> Result<bool, HubError> {
    match kind {
        RecordKind::Room | RecordKind::Staff => {
            let table_kind = if kind == RecordKind::Room {
                "room"
            } else {
                "staff"
            };
            let n = tx.execute(
                "DELETE FROM records WHERE kind = ?1 AND id = ?2",
                params![table_kind, id],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let rev = next_rev(tx)?;
            tombstone(tx, kind.tombstone_kind(), id, rev)?;
        }
        RecordKind::Family => {
            let Some(fam) = load_family(tx, id)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM records WHERE kind = 'family' AND id = ?1",
                [id],
            )?;
            tx.execute("DELETE FROM members WHERE family_id = ?1", [id])?;
            let rev = next_rev(tx)?;
            tombstone(tx, "families", id, rev)?;
            for p in &fam.people {
                tombstone(tx, "people", &p.id, rev)?;
            }
            for c in &fam.children {
                tombstone(tx, "children", &c.id, rev)?;
            }
        }
        RecordKind::Person | RecordKind::Child => {
            let member = if kind == RecordKind::Child {
                "child"
            } else {
                "person"
            };
            let Some(fam_id) = family_of(tx, member, id)? else {
                return Ok(false);
            };
            let Some(mut fam) = load_family(tx, &fam_id)? else {
                return Ok(false);
            };
            if kind == RecordKind::Child {
                fam.children.retain(|c| c.id != id);
            } else {
                fam.people.retain(|p| p.id != id);
            }
            // Re-storing the family re-indexes it and tombstones the member that left.
            upsert_family_tx(tx, &fam)?;
        }
    }
    Ok(true)
}

fn parse_cursor(cursor: &str) -> Option<i64> {
    cursor
        .strip_prefix("r_")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
}

/// Replace a plain `"pin"` by `"pin_hmac"` on one person or staff object.
fn hash_pin_of(item: &mut Value, key: &[u8]) -> Result<(), HubError> {
    let Some(obj) = item.as_object_mut() else {
        return Ok(());
    };
    let Some(pin) = obj.remove("pin") else {
        return Ok(());
    };
    if pin.is_null() {
        obj.insert("pin_hmac".into(), Value::Null);
        obj.remove("pin_length");
        return Ok(());
    }
    match pin.as_str() {
        Some(p) if (4..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
            obj.insert(
                "pin_hmac".into(),
                Value::String(cubby_core::domain::pin::pin_hmac(key, p)),
            );
            obj.insert("pin_length".into(), Value::from(p.len()));
            Ok(())
        }
        _ => {
            let id = obj.get("id").and_then(Value::as_str).unwrap_or("?");
            Err(HubError::Invalid(format!(
                "{id}: `pin` must be a string of 4 to 8 digits"
            )))
        }
    }
}

/// The PIN stored for a staff member or a person, if any: its HMAC and, when known, its
/// length.
fn stored_pin(
    conn: &Connection,
    kind: &str,
    id: &str,
) -> Result<Option<(String, Option<u8>)>, HubError> {
    if kind == "staff" {
        let json: Option<String> = conn
            .query_row(
                "SELECT json FROM records WHERE kind = 'staff' AND id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        return Ok(match json {
            Some(j) => {
                let s = serde_json::from_str::<Staff>(&j)?;
                s.pin_hmac.map(|h| (h, s.pin_length))
            }
            None => None,
        });
    }
    let Some(fam) = family_of(conn, "person", id)? else {
        return Ok(None);
    };
    Ok(load_family(conn, &fam)?
        .and_then(|f| f.people.into_iter().find(|p| p.id == id))
        .and_then(|p| p.pin_hmac.map(|h| (h, p.pin_length))))
}

/// An import without `pin` and `pin_hmac` keeps the stored PIN (absent means "unchanged");
/// an explicit `null` clears it. Counts both in `summary`.
fn keep_stored_pins(
    conn: &Connection,
    doc: &mut Value,
    summary: &mut ImportSummary,
) -> Result<(), HubError> {
    let mut one = |kind: &str, item: &mut Value| -> Result<(), HubError> {
        let Some(obj) = item.as_object_mut() else {
            return Ok(());
        };
        let Some(id) = obj.get("id").and_then(Value::as_str).map(str::to_string) else {
            return Ok(());
        };
        let stated = obj.get("pin").or_else(|| obj.get("pin_hmac"));
        match stated {
            None => {
                if let Some((pin, len)) = stored_pin(conn, kind, &id)? {
                    obj.insert("pin_hmac".into(), Value::String(pin));
                    if let Some(len) = len {
                        obj.insert("pin_length".into(), Value::from(len));
                    }
                    summary.pins_kept += 1;
                }
            }
            Some(Value::Null) => {
                if stored_pin(conn, kind, &id)?.is_some() {
                    summary.pins_cleared += 1;
                }
            }
            Some(_) => {}
        }
        Ok(())
    };
    if let Some(staff) = doc.get_mut("staff").and_then(Value::as_array_mut) {
        for s in staff {
            one("staff", s)?;
        }
    }
    if let Some(fams) = doc.get_mut("families").and_then(Value::as_array_mut) {
        for fam in fams {
            if let Some(people) = fam.get_mut("people").and_then(Value::as_array_mut) {
                for p in people {
                    one("person", p)?;
                }
            }
        }
    }
    Ok(())
}

/// Replace `"pin": "1234"` by `"pin_hmac"` on people and staff of an import document.
fn hash_plain_pins(doc: &mut Value, key: &[u8]) -> Result<(), HubError> {
    if let Some(staff) = doc.get_mut("staff").and_then(Value::as_array_mut) {
        for s in staff {
            hash_pin_of(s, key)?;
        }
    }
    if let Some(fams) = doc.get_mut("families").and_then(Value::as_array_mut) {
        for fam in fams {
            if let Some(people) = fam.get_mut("people").and_then(Value::as_array_mut) {
                for p in people {
                    hash_pin_of(p, key)?;
                }
            }
        }
    }
    Ok(())
}

impl HubDb {
    /// True when the roster holds no record and no tombstone (a fresh database).
    pub fn roster_is_empty(&self) -> Result<bool, HubError> {
        let n: i64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM tombstones)",
            [],
            |r| r.get(0),
        )?;
        Ok(n == 0)
    }

    pub fn upsert_room(&mut self, room: &Room) -> Result<Change, HubError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let c = upsert_room_tx(&tx, room)?;
        tx.commit()?;
        Ok(c)
    }

    pub fn upsert_family(&mut self, fam: &Family) -> Result<Change, HubError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let c = upsert_family_tx(&tx, fam)?;
        tx.commit()?;
        Ok(c)
    }

    /// Delete a record and write its tombstone(s). Unknown ids are an error.
    pub fn delete_record(&mut self, kind: RecordKind, id: &str) -> Result<(), HubError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if !delete_tx(&tx, kind, id)? {
            return Err(HubError::NotFound(format!(
                "no {} `{id}` in the roster",
                kind.tombstone_kind()
            )));
        }
        tx.commit()?;
        Ok(())
    }

    /// Upsert every record of a roster-shaped JSON document (and apply its `deleted`), in
    /// one transaction. A `center` in the document replaces the center's settings. A person
    /// or staff member without `pin`/`pin_hmac` keeps the stored PIN; `null` clears it.
    pub fn import_roster(&mut self, doc: Value) -> Result<ImportSummary, HubError> {
        self.import(doc, true)
    }

    /// What [`import_roster`](Self::import_roster) would do, without writing anything.
    pub fn import_roster_dry(&mut self, doc: Value) -> Result<ImportSummary, HubError> {
        self.import(doc, false)
    }

    fn import(&mut self, mut doc: Value, commit: bool) -> Result<ImportSummary, HubError> {
        let key = self.pin_key()?;
        let mut summary = ImportSummary::default();
        keep_stored_pins(&self.conn, &mut doc, &mut summary)?;
        hash_plain_pins(&mut doc, &key)?;
        let doc: ImportDoc = serde_json::from_value(doc)
            .map_err(|e| HubError::Invalid(format!("not a roster document: {e}")))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(center) = &doc.center {
            write_center(&tx, center)?;
            summary.center_updated = true;
        }
        for r in &doc.rooms {
            summary.count(RecordKind::Room, &r.id, upsert_room_tx(&tx, r)?);
        }
        for s in &doc.staff {
            summary.count(RecordKind::Staff, &s.id, upsert_staff_tx(&tx, s)?);
        }
        for f in &doc.families {
            summary.count(RecordKind::Family, &f.id, upsert_family_tx(&tx, f)?);
        }
        let d = &doc.deleted;
        let deletions = [
            (RecordKind::Child, &d.children),
            (RecordKind::Person, &d.people),
            (RecordKind::Family, &d.families),
            (RecordKind::Staff, &d.staff),
            (RecordKind::Room, &d.rooms),
        ];
        for (kind, ids) in deletions {
            for id in ids {
                if delete_tx(&tx, kind, id)? {
                    summary.deleted += 1;
                }
            }
        }
        if commit {
            tx.commit()?;
        } else {
            tx.rollback()?;
        }
        Ok(summary)
    }

    /// A roster answer: full without a cursor (or with a malformed/unknown one), else the
    /// records and tombstones newer than `r_<rev>`.
    pub fn roster(&self, since: Option<&str>) -> Result<RosterResponse, HubError> {
        let current = self.current_rev()?;
        let after = since.and_then(parse_cursor).filter(|n| *n <= current);
        let floor = after.unwrap_or(-1);
        let mut rooms = Vec::new();
        let mut staff = Vec::new();
        let mut families = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT kind, json FROM records WHERE rev > ?1 ORDER BY kind, id")?;
            let rows = stmt.query_map([floor], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (kind, json) = row?;
                match kind.as_str() {
                    "room" => rooms.push(serde_json::from_str::<Room>(&json)?),
                    "staff" => staff.push(serde_json::from_str::<Staff>(&json)?),
                    "family" => families.push(serde_json::from_str::<Family>(&json)?),
                    other => tracing::warn!(kind = other, "unknown record kind in hub database"),
                }
            }
        }
        let mut deleted = Deleted::default();
        if after.is_some() {
            let mut stmt = self
                .conn
                .prepare("SELECT kind, id FROM tombstones WHERE rev > ?1 ORDER BY kind, id")?;
            let rows = stmt.query_map([floor], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (kind, id) = row?;
                match kind.as_str() {
                    "families" => deleted.families.push(id),
                    "people" => deleted.people.push(id),
                    "children" => deleted.children.push(id),
                    "staff" => deleted.staff.push(id),
                    "rooms" => deleted.rooms.push(id),
                    _ => {}
                }
            }
        }
        Ok(RosterResponse {
            cursor: format!("r_{current}"),
            full: after.is_none(),
            center: self.center()?,
            rooms,
            staff,
            families,
            deleted,
            qr_keys: Some(self.qr_public_keys()?),
        })
    }

    /// Is `id` a child of some family in the roster (any status)?
    pub fn child_known(&self, id: &str) -> Result<bool, HubError> {
        Ok(family_of(&self.conn, "child", id)?.is_some())
    }

    /// Was a device with this id ever enrolled here (revoked ones included)?
    pub fn device_known(&self, id: &str) -> Result<bool, HubError> {
        let n: i64 =
            self.conn
                .query_row("SELECT count(*) FROM devices WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        Ok(n > 0)
    }

    /// Is `id` a staff member in the roster (any status)?
    pub fn staff_known(&self, id: &str) -> Result<bool, HubError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM records WHERE kind = 'staff' AND id = ?1",
            [id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubby_core::api::{Child, Person};

    fn person(id: &str) -> Person {
        Person {
            id: id.into(),
            first_name: "P".into(),
            last_name: id.into(),
            email: None,
            text_message_phone: None,
            is_payer: true,
            pin_hmac: None,
            pin_length: None,
            photo_url: None,
        }
    }

    fn child(id: &str) -> Child {
        Child {
            id: id.into(),
            first_name: "C".into(),
            last_name: id.into(),
            birth_date: None,
            enrollment_status: "enrolled".into(),
            enrollment_start: None,
            primary_room_id: Some("room_a".into()),
            authorized_pickup_ids: vec![],
            not_authorized_ids: vec![],
            allergies: None,
            notes: None,
            schedule: vec![],
        }
    }

    fn db() -> (tempfile::TempDir, HubDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        (dir, db)
    }

    #[test]
    fn since_sends_only_changes_and_tombstones() {
        let (_d, mut db) = db();
        let fam = Family {
            id: "fam_1".into(),
            people: vec![person("per_1")],
            children: vec![child("child_1"), child("child_2")],
        };
        assert_eq!(db.upsert_family(&fam).unwrap(), Change::Added);
        assert_eq!(db.upsert_family(&fam).unwrap(), Change::Unchanged);
        let fam2 = Family {
            id: "fam_2".into(),
            people: vec![person("per_2")],
            children: vec![child("child_3")],
        };
        db.upsert_family(&fam2).unwrap();
        let full = db.roster(None).unwrap();
        assert!(full.full);
        assert_eq!(full.families.len(), 2);
        let cursor = full.cursor.clone();

        db.delete_record(RecordKind::Child, "child_2").unwrap();
        let delta = db.roster(Some(&cursor)).unwrap();
        assert!(!delta.full);
        assert_eq!(delta.families.len(), 1);
        assert_eq!(delta.families[0].id, "fam_1");
        assert_eq!(delta.families[0].children.len(), 1);
        assert_eq!(delta.deleted.children, vec!["child_2".to_string()]);
        assert!(!db.child_known("child_2").unwrap());
        assert!(db.child_known("child_1").unwrap());

        let nothing = db.roster(Some(&delta.cursor)).unwrap();
        assert!(!nothing.full && nothing.families.is_empty());
        assert!(nothing.deleted.children.is_empty());

        // Malformed or unknown cursors get a full snapshot.
        assert!(db.roster(Some("garbage")).unwrap().full);
        assert!(db.roster(Some("r_99999")).unwrap().full);

        db.delete_record(RecordKind::Family, "fam_2").unwrap();
        let d2 = db.roster(Some(&delta.cursor)).unwrap();
        assert_eq!(d2.deleted.families, vec!["fam_2".to_string()]);
        assert_eq!(d2.deleted.people, vec!["per_2".to_string()]);
        assert_eq!(d2.deleted.children, vec!["child_3".to_string()]);
        assert!(db.delete_record(RecordKind::Family, "fam_2").is_err());
    }

    #[test]
    fn import_hashes_plain_pins_and_readding_clears_tombstone() {
        let (_d, mut db) = db();
        let key = db.pin_key().unwrap();
        let doc = serde_json::json!({
            "rooms": [{"id": "room_a", "name": "A", "active": true}],
            "staff": [{"id": "staff_1", "first_name": "S", "last_name": "T",
                       "employment_status": "currently_employed", "pin": "4321"}],
            "families": [{"id": "fam_1", "people": [{"id": "per_1", "first_name": "A", "last_name": "B",
                          "is_payer": true, "pin": "1234"}], "children": []}]
        });
        let s = db.import_roster(doc.clone()).unwrap();
        assert_eq!((s.added, s.updated, s.unchanged), (3, 0, 0));
        let again = db.import_roster(doc).unwrap();
        assert_eq!(again.unchanged, 3);
        let r = db.roster(None).unwrap();
        assert_eq!(
            r.staff[0].pin_hmac.as_deref(),
            Some(cubby_core::domain::pin::pin_hmac(&key, "4321").as_str())
        );
        assert_eq!(
            r.families[0].people[0].pin_hmac.as_deref(),
            Some(cubby_core::domain::pin::pin_hmac(&key, "1234").as_str())
        );
        let bad = serde_json::json!({"staff": [{"id": "s", "first_name": "a", "last_name": "b",
            "employment_status": "x", "pin": "12ab"}]});
        assert!(db.import_roster(bad).is_err());

        db.delete_record(RecordKind::Room, "room_a").unwrap();
        let c = db.roster(None).unwrap().cursor;
        db.upsert_room(&Room {
            id: "room_a".into(),
            name: "A2".into(),
            children_per_staff: None,
            capacity: None,
            active: true,
        })
        .unwrap();
        let d = db.roster(Some("r_0")).unwrap();
        assert!(d.deleted.rooms.is_empty());
        let d = db.roster(Some(&c)).unwrap();
        assert_eq!(d.rooms.len(), 1);
    }

    #[test]
    fn record_kind_parses() {
        assert_eq!("child".parse::<RecordKind>(), Ok(RecordKind::Child));
        assert!("kid".parse::<RecordKind>().is_err());
    }

    #[test]
    fn import_keeps_pins_it_does_not_mention_and_a_dry_run_writes_nothing() {
        let (_d, mut db) = db();
        let key = db.pin_key().unwrap();
        let person = |pin: Option<Value>| {
            let mut p = serde_json::json!({"id": "per_1", "first_name": "A", "last_name": "B",
                                           "is_payer": true});
            if let Some(v) = pin {
                p["pin_hmac"] = v;
            }
            p
        };
        let staff = |pin: Option<Value>| {
            let mut s = serde_json::json!({"id": "staff_1", "first_name": "S", "last_name": "T",
                                           "employment_status": "currently_employed"});
            if let Some(v) = pin {
                s["pin"] = v;
            }
            s
        };
        let doc = |p: Value, s: Value, phone: &str| {
            let mut p = p;
            p["text_message_phone"] = serde_json::json!(phone);
            serde_json::json!({"staff": [s], "families": [{"id": "fam_1", "people": [p], "children": []}]})
        };
        let pin_1234 = cubby_core::domain::pin::pin_hmac(&key, "1234");
        db.import_roster(doc(
            person(Some(Value::String(pin_1234.clone()))),
            staff(Some("4321".into())),
            "+1",
        ))
        .unwrap();
        // A later file without PIN fields (another phone number): the PINs stay.
        let s = db
            .import_roster(doc(person(None), staff(None), "+2"))
            .unwrap();
        let r = db.roster(None).unwrap();
        assert_eq!(
            r.families[0].people[0].pin_hmac.as_deref(),
            Some(pin_1234.as_str())
        );
        assert_eq!(
            r.staff[0].pin_hmac.as_deref(),
            Some(cubby_core::domain::pin::pin_hmac(&key, "4321").as_str())
        );
        assert_eq!(
            r.families[0].people[0].text_message_phone.as_deref(),
            Some("+2")
        );
        assert_eq!(s.families.updated, 1);
        assert_eq!(s.staff.unchanged, 1);
        assert_eq!(s.pins_kept, 2);
        // The hub knew the staff PIN's length from the plain `pin`, and kept it too.
        assert_eq!(r.staff[0].pin_length, Some(4));
        // A dry run reports the change and writes nothing.
        let before = db.roster(None).unwrap();
        let dry = db
            .import_roster_dry(doc(person(Some(Value::Null)), staff(None), "+2"))
            .unwrap();
        assert_eq!(dry.families.updated, 1);
        assert_eq!(dry.pins_cleared, 1);
        assert_eq!(db.roster(None).unwrap(), before);
        // An explicit null clears the PIN.
        db.import_roster(doc(person(Some(Value::Null)), staff(None), "+2"))
            .unwrap();
        assert_eq!(
            db.roster(None).unwrap().families[0].people[0].pin_hmac,
            None
        );
    }
}
