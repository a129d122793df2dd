//! The source roster: the hub's records exactly as the management system sent them,
//! merged across full snapshots and `since` deltas, and validated as a whole.
//!
//! The kiosk keeps the *source* statuses (not only the active records) so eligibility
//! can be re-evaluated every day (a child whose enrollment starts today becomes active
//! without a sync) and so the sync report can explain every skipped record.

use std::collections::{BTreeMap, HashSet};

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

impl SourceRoster {
    /// Merge a hub answer into a copy of this roster: a full snapshot replaces
    /// everything, a delta upserts what it carries and removes what it lists as deleted.
    pub fn merged(&self, resp: &RosterResponse) -> SourceRoster {
        let mut next = if resp.full {
            SourceRoster::default()
        } else {
            self.clone()
        };
        next.center = Some(resp.center.clone());
        for room in &resp.rooms {
            next.rooms.insert(room.id.clone(), room.clone());
        }
        for s in &resp.staff {
            next.staff.insert(s.id.clone(), s.clone());
        }
        for f in &resp.families {
            next.families.insert(f.id.clone(), f.clone());
        }
        if !resp.full {
            let d = &resp.deleted;
            for id in &d.rooms {
                next.rooms.remove(id);
            }
            for id in &d.staff {
                next.staff.remove(id);
            }
            for id in &d.families {
                next.families.remove(id);
            }
            let people: HashSet<&String> = d.people.iter().collect();
            let children: HashSet<&String> = d.children.iter().collect();
            if !people.is_empty() || !children.is_empty() {
                for fam in next.families.values_mut() {
                    fam.people.retain(|p| !people.contains(&p.id));
                    fam.children.retain(|c| !children.contains(&c.id));
                }
            }
        }
        next
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
        let mut person_home: BTreeMap<&str, &str> = BTreeMap::new();
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
                    let what = format!("child {} schedule block {}", c.id, i + 1);
                    let (Some(from), Some(to)) = (parse_hhmm(&b.from), parse_hhmm(&b.to)) else {
                        return Err(invalid(what, "from/to must be times like 07:30"));
                    };
                    if from >= to {
                        return Err(invalid(what, "from must be before to"));
                    }
                    if let Some(bad) = b.days.iter().find(|d| parse_weekday(d).is_none()) {
                        return Err(invalid(what, format!("unknown day {bad:?} (use mon…sun)")));
                    }
                    if let Some(r) = &b.room_id {
                        if !room_exists(r) {
                            return Err(invalid(
                                what,
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
