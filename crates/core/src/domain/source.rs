//! The source roster: the hub's records exactly as the management system sent them,
//! merged across full snapshots and `since` deltas, and validated as a whole.
//!
//! The kiosk keeps the *source* statuses (not only the active records) so eligibility
//! can be re-evaluated every day (a child whose enrollment starts today becomes active
//! without a sync) and so the sync report can explain every skipped record.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::api::{Center, Family, Room, RosterResponse, Staff};

use crate::sanitize::{clean, NAME_MAX};

use super::schedule::{parse_hhmm, parse_weekday};

/// Every record the hub has sent and not deleted, keyed by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceRoster {
    pub center: Option<Center>,
    pub rooms: BTreeMap<String, Room>,
    pub staff: BTreeMap<String, Staff>,
    pub families: BTreeMap<String, Family>,
}

/// Why a roster was refused as a whole. The previous cache stays in force.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RosterError {
    #[error("the hub's roster has no center record yet; a full roster is needed first")]
    NoCenter,
    #[error("center timezone {0:?} is not a known IANA zone (e.g. America/Chicago)")]
    BadTimezone(String),
    #[error("{what}: {problem}")]
    Invalid { what: String, problem: String },
}

fn invalid(what: impl Into<String>, problem: impl Into<String>) -> RosterError {
    RosterError::Invalid {
        what: what.into(),
        problem: problem.into(),
    }
}

/// Refuse an answer that names the same record twice. Merging keys records by id, so
/// without this check the last copy would silently win (a duplicate room marked
/// inactive archived a whole room). People and children are unique across the whole
/// answer, not only within their family.
pub fn check_answer(resp: &RosterResponse) -> Result<(), RosterError> {
    check_ids(resp)?;
    fn once<'a>(seen: &mut HashSet<&'a str>, kind: &str, id: &'a str) -> Result<(), RosterError> {
        if seen.insert(id) {
            Ok(())
        } else {
            Err(invalid(format!("{kind} {id}"), "listed more than once"))
        }
    }
    let mut rooms = HashSet::new();
    for r in &resp.rooms {
        once(&mut rooms, "room", &r.id)?;
    }
    let mut staff = HashSet::new();
    for s in &resp.staff {
        once(&mut staff, "staff", &s.id)?;
    }
    let (mut families, mut people, mut children) = (HashSet::new(), HashSet::new(), HashSet::new());
    for f in &resp.families {
        once(&mut families, "family", &f.id)?;
        for p in &f.people {
            once(&mut people, "person", &p.id)?;
        }
        for c in &f.children {
            once(&mut children, "child", &c.id)?;
        }
    }
    Ok(())
}

/// Longest id accepted (hub-api.md v1.1 point 4).
pub const ID_MAX: usize = 100;

/// An id the kiosk can log, show and key on: not empty, at most [`ID_MAX`] characters,
/// nothing that [`clean`] would remove or change.
pub fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= ID_MAX && clean(id, ID_MAX) == id
}

/// Every id of the answer, records and references, must pass [`id_ok`]. The error names
/// the place (`families[2].children[0].id`), never the id itself: it is not safe to log.
fn check_ids(resp: &RosterResponse) -> Result<(), RosterError> {
    let bad = |place: String| {
        Err(invalid(
            place,
            format!(
                "an id is empty, longer than {ID_MAX} characters, or holds control or invisible characters"
            ),
        ))
    };
    let refs_ok = |ids: &[String]| ids.iter().all(|i| id_ok(i));
    let opt_ok = |id: &Option<String>| id.as_deref().is_none_or(id_ok);
    if !id_ok(&resp.center.id) {
        return bad("center.id".into());
    }
    for (i, r) in resp.rooms.iter().enumerate() {
        if !id_ok(&r.id) {
            return bad(format!("rooms[{i}].id"));
        }
    }
    for (i, s) in resp.staff.iter().enumerate() {
        if !id_ok(&s.id) || !opt_ok(&s.primary_room_id) {
            return bad(format!("staff[{i}]"));
        }
    }
    for (i, f) in resp.families.iter().enumerate() {
        if !id_ok(&f.id) {
            return bad(format!("families[{i}].id"));
        }
        for (j, p) in f.people.iter().enumerate() {
            if !id_ok(&p.id) {
                return bad(format!("families[{i}].people[{j}].id"));
            }
        }
        for (j, c) in f.children.iter().enumerate() {
            let rooms_ok =
                opt_ok(&c.primary_room_id) && c.schedule.iter().all(|b| opt_ok(&b.room_id));
            if !id_ok(&c.id)
                || !rooms_ok
                || !refs_ok(&c.authorized_pickup_ids)
                || !refs_ok(&c.not_authorized_ids)
            {
                return bad(format!("families[{i}].children[{j}]"));
            }
        }
    }
    let d = &resp.deleted;
    for (list, ids) in [
        ("families", &d.families),
        ("people", &d.people),
        ("children", &d.children),
        ("staff", &d.staff),
        ("rooms", &d.rooms),
    ] {
        if !refs_ok(ids) {
            return bad(format!("deleted.{list}"));
        }
    }
    Ok(())
}

/// Make the answer's display text safe to show and log ([`clean`]): names, statuses
/// and notes. Ids are not touched (they are checked by [`check_answer`] instead).
pub fn sanitize_answer(resp: &mut RosterResponse) {
    let name = |t: &mut String| *t = clean(t, NAME_MAX);
    let opt = |t: &mut Option<String>, max: usize| {
        if let Some(v) = t.as_mut() {
            *v = clean(v, max);
        }
    };
    let c = &mut resp.center;
    name(&mut c.name);
    name(&mut c.timezone);
    if let Some(d) = c.director.as_mut() {
        name(&mut d.name);
    }
    for r in &mut resp.rooms {
        name(&mut r.name);
    }
    for s in &mut resp.staff {
        name(&mut s.first_name);
        name(&mut s.last_name);
        name(&mut s.employment_status);
        opt(&mut s.role, NAME_MAX);
    }
    for f in &mut resp.families {
        for p in &mut f.people {
            name(&mut p.first_name);
            name(&mut p.last_name);
        }
        for ch in &mut f.children {
            name(&mut ch.first_name);
            name(&mut ch.last_name);
            name(&mut ch.enrollment_status);
            opt(&mut ch.allergies, NOTE_MAX);
            opt(&mut ch.notes, NOTE_MAX);
        }
    }
}

/// Longest allergy or note text kept.
const NOTE_MAX: usize = 1000;

/// The records one [`SourceRoster::merge`] replaced or removed, by id, each with what it
/// was before (`None`: it is new). The merged roster holds the new value (or none: removed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replaced {
    /// The center before, when the answer changed it.
    pub center: Option<Option<Center>>,
    pub rooms: BTreeMap<String, Option<Room>>,
    pub staff: BTreeMap<String, Option<Staff>>,
    pub families: BTreeMap<String, Option<Family>>,
}

impl Replaced {
    /// Nothing was replaced: the merged roster is the roster it was.
    pub fn is_empty(&self) -> bool {
        self.center.is_none()
            && self.rooms.is_empty()
            && self.staff.is_empty()
            && self.families.is_empty()
    }

    /// How many records were replaced or removed.
    pub fn len(&self) -> usize {
        usize::from(self.center.is_some())
            + self.rooms.len()
            + self.staff.len()
            + self.families.len()
    }
}

fn upsert<T: Clone + PartialEq>(
    map: &mut BTreeMap<String, T>,
    records: &[T],
    id: impl Fn(&T) -> &String,
    was: &mut BTreeMap<String, Option<T>>,
) {
    for r in records {
        let old = map.insert(id(r).clone(), r.clone());
        if old.as_ref() != Some(r) {
            was.entry(id(r).clone()).or_insert(old);
        }
    }
}

fn remove<T>(map: &mut BTreeMap<String, T>, ids: &[String], was: &mut BTreeMap<String, Option<T>>) {
    for id in ids {
        if let Some(old) = map.remove(id) {
            was.entry(id.clone()).or_insert(Some(old));
        }
    }
}

/// A full answer's records in place of `old`: each kept record that differs, and each
/// that is gone, goes to `was` (moved, not copied).
fn full_replace<T: Clone + PartialEq>(
    map: &mut BTreeMap<String, T>,
    mut old: BTreeMap<String, T>,
    records: &[T],
    id: impl Fn(&T) -> &String,
    was: &mut BTreeMap<String, Option<T>>,
) {
    for r in records {
        let before = old.remove(id(r));
        if before.as_ref() != Some(r) {
            was.insert(id(r).clone(), before);
        }
        map.insert(id(r).clone(), r.clone());
    }
    for (k, v) in old {
        was.insert(k, Some(v));
    }
}

fn restore<T>(map: &mut BTreeMap<String, T>, was: BTreeMap<String, Option<T>>) {
    for (id, old) in was {
        match old {
            Some(v) => map.insert(id, v),
            None => map.remove(&id),
        };
    }
}

impl SourceRoster {
    /// Merge a hub answer into a copy of this roster: a full snapshot replaces
    /// everything, a delta upserts what it carries and removes what it lists as deleted.
    pub fn merged(&self, resp: &RosterResponse) -> SourceRoster {
        let mut next = self.clone();
        next.merge(resp);
        next
    }

    /// Merge a hub answer into this roster in place ([`SourceRoster::merged`]) and say
    /// which records it replaced or removed, with what they were: the store writes only
    /// those, and [`SourceRoster::undo`] puts them back when the result is refused. A
    /// record sent again unchanged is not among them. Costs what the answer holds, except
    /// that deleted people and children are looked for in every family, and a full
    /// answer compares every record with the one it replaces.
    pub fn merge(&mut self, resp: &RosterResponse) -> Replaced {
        let mut was = Replaced::default();
        if Some(&resp.center) != self.center.as_ref() {
            was.center = Some(self.center.replace(resp.center.clone()));
        }
        if resp.full {
            let old = std::mem::take(self);
            self.center = Some(resp.center.clone());
            full_replace(
                &mut self.rooms,
                old.rooms,
                &resp.rooms,
                |r| &r.id,
                &mut was.rooms,
            );
            full_replace(
                &mut self.staff,
                old.staff,
                &resp.staff,
                |r| &r.id,
                &mut was.staff,
            );
            full_replace(
                &mut self.families,
                old.families,
                &resp.families,
                |r| &r.id,
                &mut was.families,
            );
            return was;
        }
        upsert(&mut self.rooms, &resp.rooms, |r| &r.id, &mut was.rooms);
        upsert(&mut self.staff, &resp.staff, |r| &r.id, &mut was.staff);
        upsert(
            &mut self.families,
            &resp.families,
            |r| &r.id,
            &mut was.families,
        );
        let d = &resp.deleted;
        remove(&mut self.rooms, &d.rooms, &mut was.rooms);
        remove(&mut self.staff, &d.staff, &mut was.staff);
        remove(&mut self.families, &d.families, &mut was.families);
        let people: HashSet<&String> = d.people.iter().collect();
        let children: HashSet<&String> = d.children.iter().collect();
        if !people.is_empty() || !children.is_empty() {
            for fam in self.families.values_mut() {
                let hit = fam.people.iter().any(|p| people.contains(&p.id))
                    || fam.children.iter().any(|c| children.contains(&c.id));
                if hit {
                    was.families
                        .entry(fam.id.clone())
                        .or_insert_with(|| Some(fam.clone()));
                    fam.people.retain(|p| !people.contains(&p.id));
                    fam.children.retain(|c| !children.contains(&c.id));
                }
            }
        }
        was
    }

    /// Put back what [`SourceRoster::merge`] replaced: the roster is again what it was.
    pub fn undo(&mut self, was: Replaced) {
        if let Some(center) = was.center {
            self.center = center;
        }
        restore(&mut self.rooms, was.rooms);
        restore(&mut self.staff, was.staff);
        restore(&mut self.families, was.families);
    }

    /// Structural checks that make a roster unusable as a whole: an unknown timezone,
    /// a reference to a room that does not exist, a malformed time, a duplicated id.
    /// Record-level problems (a withdrawn child, a missing room) are not errors: the
    /// eligibility rules archive those records and the report explains them.
    pub fn validate(&self) -> Result<(), RosterError> {
        let center = self.center.as_ref().ok_or(RosterError::NoCenter)?;
        if center.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(RosterError::BadTimezone(center.timezone.clone()));
        }
        if let Some(t) = &center.auto_sign_out {
            if parse_hhmm(t).is_none() {
                return Err(invalid(
                    "center auto_sign_out",
                    format!("{t:?} is not a time like 18:00"),
                ));
            }
        }
        let room_exists = |id: &str| self.rooms.contains_key(id);
        for s in self.staff.values() {
            if let Some(r) = &s.primary_room_id {
                if !room_exists(r) {
                    return Err(invalid(
                        format!("staff {}", s.id),
                        format!("primary_room_id {r} is not a room in the roster"),
                    ));
                }
            }
        }
        let mut child_ids = HashSet::new();
        let mut person_home: HashMap<&str, &str> = HashMap::new();
        for fam in self.families.values() {
            for p in &fam.people {
                if let Some(other) = person_home.insert(&p.id, &fam.id) {
                    if other != fam.id {
                        return Err(invalid(
                            format!("person {}", p.id),
                            format!("listed in two families ({other} and {})", fam.id),
                        ));
                    }
                }
            }
            for c in &fam.children {
                if !child_ids.insert(c.id.as_str()) {
                    return Err(invalid(
                        format!("child {}", c.id),
                        "listed more than once".to_string(),
                    ));
                }
                if let Some(r) = &c.primary_room_id {
                    if !room_exists(r) {
                        return Err(invalid(
                            format!("child {}", c.id),
                            format!("primary_room_id {r} is not a room in the roster"),
                        ));
                    }
                }
                for (i, b) in c.schedule.iter().enumerate() {
                    let what = || format!("child {} schedule block {}", c.id, i + 1);
                    let (Some(from), Some(to)) = (parse_hhmm(&b.from), parse_hhmm(&b.to)) else {
                        return Err(invalid(what(), "from/to must be times like 07:30"));
                    };
                    if from >= to {
                        return Err(invalid(what(), "from must be before to"));
                    }
                    if let Some(bad) = b.days.iter().find(|d| parse_weekday(d).is_none()) {
                        return Err(invalid(
                            what(),
                            format!("unknown day {bad:?} (use mon…sun)"),
                        ));
                    }
                    if let Some(r) = &b.room_id {
                        if !room_exists(r) {
                            return Err(invalid(
                                what(),
                                format!("room_id {r} is not a room in the roster"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testdata::roster_response;

    #[test]
    fn delta_upserts_and_deletes_inside_families() {
        let base = SourceRoster::default().merged(&roster_response());
        let mut delta = roster_response();
        delta.full = false;
        delta.rooms.clear();
        delta.staff.clear();
        delta.families.clear();
        delta.deleted.children.push("child_b".into());
        let next = base.merged(&delta);
        let fam = &next.families["fam_1"];
        assert!(fam.children.iter().all(|c| c.id != "child_b"));
        assert!(fam.children.iter().any(|c| c.id == "child_a"));
        assert_eq!(next.rooms.len(), base.rooms.len());
    }

    /// A delta of one changed family, one new, one deleted, one sent again unchanged and
    /// one child removed from a family.
    fn mixed_delta(base: &SourceRoster) -> RosterResponse {
        let mut delta = crate::domain::testdata::large_response(40);
        delta.full = false;
        delta.rooms.clear();
        delta.staff.clear();
        let mut ids = base.families.keys();
        let changed = ids.next().unwrap().clone();
        let resent = ids.next().unwrap().clone();
        let deleted = ids.next().unwrap().clone();
        let trimmed = &base.families[ids.next().unwrap()];
        let mut fam = base.families[&changed].clone();
        fam.people[0].first_name.push_str(" (renamed)");
        let mut new = base.families[&resent].clone();
        new.id = "fam_new".into();
        new.people.clear();
        new.children.clear();
        delta.families = vec![fam, base.families[&resent].clone(), new];
        delta.deleted.families.push(deleted);
        delta.deleted.children.push(trimmed.children[0].id.clone());
        delta
    }

    #[test]
    fn merge_names_what_it_replaced_and_undo_puts_it_back() {
        let base = SourceRoster::default().merged(&crate::domain::testdata::large_response(40));
        let delta = mixed_delta(&base);
        let mut next = base.clone();
        let was = next.merge(&delta);
        assert_eq!(next, base.merged(&delta), "in place is the same as a copy");
        let mut replaced: Vec<&String> = was.families.keys().collect();
        replaced.sort();
        let mut expected: Vec<&String> = next
            .families
            .keys()
            .chain(base.families.keys())
            .filter(|id| next.families.get(*id) != base.families.get(*id))
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(replaced, expected, "exactly the families that differ");
        assert_eq!(was.len(), 4, "changed, new, deleted, trimmed: {was:?}");
        assert!(was.families["fam_new"].is_none(), "new: nothing before");
        assert!(was.center.is_none() && was.rooms.is_empty() && was.staff.is_empty());
        next.undo(was);
        assert_eq!(next, base);
    }

    #[test]
    fn a_full_answer_replaces_only_what_differs_and_undoes_whole() {
        let base = SourceRoster::default().merged(&crate::domain::testdata::large_response(40));
        let mut full = crate::domain::testdata::large_response(40);
        full.families[0].people[0].first_name.push_str(" (renamed)");
        let gone = full.families.pop().unwrap().id;
        full.staff.clear();
        let mut next = base.clone();
        let was = next.merge(&full);
        assert_eq!(next, base.merged(&full));
        assert_eq!(
            was.families.len(),
            2,
            "renamed and gone: {:?}",
            was.families.keys()
        );
        assert!(was.families[&gone].is_some());
        assert_eq!(was.staff.len(), base.staff.len(), "every staff record gone");
        assert!(was.rooms.is_empty(), "rooms resent unchanged");
        next.undo(was);
        assert_eq!(next, base);
        let mut again = base.clone();
        assert!(again
            .merge(&crate::domain::testdata::large_response(40))
            .is_empty());
        assert_eq!(again, base);
    }

    #[test]
    fn full_snapshot_replaces_records_missing_from_it() {
        let base = SourceRoster::default().merged(&roster_response());
        let mut full = roster_response();
        full.staff.clear();
        let next = base.merged(&full);
        assert!(next.staff.is_empty());
    }

    #[test]
    fn dangling_room_reference_is_rejected() {
        let mut resp = roster_response();
        resp.families[0].children[0].primary_room_id = Some("room_999".into());
        let err = SourceRoster::default()
            .merged(&resp)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("room_999"), "{err}");
    }

    #[test]
    fn unknown_timezone_is_rejected() {
        let mut resp = roster_response();
        resp.center.timezone = "Mars/Olympus".into();
        let err = SourceRoster::default()
            .merged(&resp)
            .validate()
            .unwrap_err();
        assert_eq!(err, RosterError::BadTimezone("Mars/Olympus".into()));
    }

    #[test]
    fn malformed_schedule_is_rejected() {
        let mut resp = roster_response();
        resp.families[0].children[0].schedule[0].from = "noon".into();
        let err = SourceRoster::default()
            .merged(&resp)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("schedule block 1"), "{err}");
    }

    #[test]
    fn valid_roster_passes() {
        SourceRoster::default()
            .merged(&roster_response())
            .validate()
            .expect("fixture is valid");
    }
}
