//! The eligibility rules of `domain-rules.md`: which source records are active on the
//! kiosk on a given day, and a plain-words reason for every record that is not.
//!
//! Input: a validated [`SourceRoster`] and today's date in the center's time zone.
//! Output: the door's [`Roster`] and one [`Verdict`] per record (for the sync report).

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::roster::*;
use super::schedule::{parse_hhmm, parse_weekday, Block};
use super::source::{RosterError, SourceRoster};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Room,
    Staff,
    Person,
    Child,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Room => "room",
            Kind::Staff => "staff",
            Kind::Person => "person",
            Kind::Child => "child",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "room" => Kind::Room,
            "staff" => Kind::Staff,
            "person" => Kind::Person,
            "child" => Kind::Child,
            _ => return None,
        })
    }
}

/// The outcome of the rules for one source record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    pub active: bool,
    /// Why it is not active, in words a director can act on.
    pub reason: Option<String>,
    /// Content hash of the source record (detects "updated").
    pub hash: String,
}

/// A roster-wide remark that is not a skip: duplicates, ambiguous PINs, odd data.
pub type Note = String;

pub struct Evaluation {
    pub roster: Roster,
    pub verdicts: Vec<Verdict>,
    pub notes: Vec<Note>,
}

const DEFAULT_AUTO_SIGN_OUT: (u32, u32) = (18, 0);
const DEFAULT_MANUAL_SYNC_S: u64 = 3600;

fn hash_of<T: Serialize>(v: &T) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..12])
}

fn is_valid_pin_hmac(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Apply the rules. `source` must have passed [`SourceRoster::validate`].
pub fn evaluate(source: &SourceRoster, today: NaiveDate) -> Result<Evaluation, RosterError> {
    source.validate()?;
    let c = source.center.as_ref().ok_or(RosterError::NoCenter)?;
    let tz = c
        .timezone
        .parse()
        .map_err(|_| RosterError::BadTimezone(c.timezone.clone()))?;
    let (h, m) = DEFAULT_AUTO_SIGN_OUT;
    let center = CenterInfo {
        id: c.id.clone(),
        name: c.name.clone(),
        tz,
        auto_sign_out: c
            .auto_sign_out
            .as_deref()
            .and_then(parse_hhmm)
            .or_else(|| NaiveTime::from_hms_opt(h, m, 0))
            .unwrap_or_default(),
        manual_sync_min_interval_s: c
            .manual_sync_min_interval_s
            .unwrap_or(DEFAULT_MANUAL_SYNC_S),
    };

    let mut roster = Roster {
        center: Some(center),
        ..Roster::default()
    };
    let mut verdicts = Vec::new();
    let mut notes = Vec::new();

    // Rooms.
    for r in source.rooms.values() {
        roster.rooms.insert(
            r.id.clone(),
            RoomInfo {
                id: r.id.clone(),
                name: r.name.clone(),
                children_per_staff: r.children_per_staff,
                capacity: r.capacity,
                active: r.active,
            },
        );
        verdicts.push(Verdict {
            kind: Kind::Room,
            id: r.id.clone(),
            name: r.name.clone(),
            active: r.active,
            reason: (!r.active).then(|| "room is inactive in the management system".to_string()),
            hash: hash_of(r),
        });
    }
    let room_active = |id: &str| source.rooms.get(id).is_some_and(|r| r.active);
    let room_name = |id: &str| {
        source
            .rooms
            .get(id)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };

    // Children.
    for fam in source.families.values() {
        for ch in &fam.children {
            let name = format!("{} {}", ch.first_name, ch.last_name);
            let reason = if ch.enrollment_status != "enrolled" {
                Some(format!(
                    "enrollment status is {:?}, not enrolled",
                    ch.enrollment_status
                ))
            } else {
                match (ch.enrollment_start, ch.primary_room_id.as_deref()) {
                    (None, _) => Some("no enrollment start date".to_string()),
                    (Some(d), _) if d > today => Some(format!("enrollment starts on {d}")),
                    (_, None) => Some("no primary room in the management system".to_string()),
                    (_, Some(r)) if !room_active(r) => {
                        Some(format!("primary room {} is inactive", room_name(r)))
                    }
                    _ => None,
                }
            };
            let schedule = ch
                .schedule
                .iter()
                .filter_map(|b| {
                    Some(Block {
                        days: b.days.iter().filter_map(|d| parse_weekday(d)).collect(),
                        from: parse_hhmm(&b.from)?,
                        to: parse_hhmm(&b.to)?,
                        room_id: b.room_id.clone().filter(|r| room_active(r)),
                    })
                })
                .collect();
            let active = reason.is_none();
            roster.children.insert(
                ch.id.clone(),
                ChildInfo {
                    id: ch.id.clone(),
                    first_name: ch.first_name.clone(),
                    last_name: ch.last_name.clone(),
                    family_id: fam.id.clone(),
                    room_id: ch.primary_room_id.clone().unwrap_or_default(),
                    active,
                    schedule,
                    pickups: ch.authorized_pickup_ids.iter().cloned().collect(),
                    not_authorized: ch.not_authorized_ids.iter().cloned().collect(),
                    photo_url: None,
                },
            );
            if active {
                roster
                    .family_children
                    .entry(fam.id.clone())
                    .or_default()
                    .push(ch.id.clone());
            }
            verdicts.push(Verdict {
                kind: Kind::Child,
                id: ch.id.clone(),
                name,
                active,
                reason,
                hash: hash_of(ch),
            });
        }
    }
    for list in roster.family_children.values_mut() {
        list.sort_by(|a, b| {
            let name = |id: &String| roster.children.get(id).map(|c| c.first_name.clone());
            name(a).cmp(&name(b)).then(a.cmp(b))
        });
    }

    // People: guardians and pickups.
    let mut pickups_of: HashMap<&str, Vec<&ChildInfo>> = HashMap::new();
    for child in roster.children.values().filter(|c| c.active) {
        for pid in &child.pickups {
            pickups_of.entry(pid.as_str()).or_default().push(child);
        }
    }
    let mut people_ids = HashSet::new();
    for fam in source.families.values() {
        let family_has_active = roster.family_children.contains_key(&fam.id);
        for p in &fam.people {
            people_ids.insert(p.id.as_str());
            let name = format!("{} {}", p.first_name, p.last_name);
            let guardian = p.is_payer && family_has_active;
            let mut picks: Vec<String> = Vec::new();
            for child in pickups_of.get(p.id.as_str()).into_iter().flatten() {
                if p.is_payer && child.family_id == fam.id {
                    notes.push(format!(
                        "{name} is a payer and also listed as an extra pickup of {}: treated as guardian (duplicate in the management system)",
                        child.full_name()
                    ));
                } else {
                    picks.push(child.id.clone());
                }
            }
            picks.sort();
            let pickup = !picks.is_empty();
            if pickup {
                roster.pickup_children.insert(p.id.clone(), picks);
            }
            let reason = match (guardian, pickup, p.is_payer) {
                (true, _, _) | (_, true, _) => None,
                (false, false, true) => Some("payer of a family with no active child".to_string()),
                (false, false, false) => {
                    Some("not a payer and not an authorized pickup of an active child".to_string())
                }
            };
            verdicts.push(Verdict {
                kind: Kind::Person,
                id: p.id.clone(),
                name,
                active: guardian || pickup,
                reason,
                hash: hash_of(p),
            });
            roster.people.insert(
                p.id.clone(),
                PersonInfo {
                    id: p.id.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                    family_id: fam.id.clone(),
                    is_payer: p.is_payer,
                    guardian,
                    pickup,
                },
            );
        }
    }
    for child in roster.children.values().filter(|c| c.active) {
        let mut missing: Vec<&String> = child
            .pickups
            .iter()
            .filter(|p| !people_ids.contains(p.as_str()))
            .collect();
        missing.sort();
        for pid in missing {
            notes.push(format!(
                "{}: authorized pickup {pid} is not a person in the roster",
                child.full_name()
            ));
        }
    }

    // Staff.
    for s in source.staff.values() {
        let name = format!("{} {}", s.first_name, s.last_name);
        let reason = if s.employment_status != "currently_employed" {
            Some(format!(
                "employment status is {:?}, not currently employed",
                s.employment_status
            ))
        } else {
            match (s.start_date, s.primary_room_id.as_deref()) {
                (None, _) => Some("no start date".to_string()),
                (Some(d), _) if d > today => Some(format!("starts on {d}")),
                (_, None) => Some("no primary room in the management system".to_string()),
                _ => None,
            }
        };
        if reason.is_none() {
            if let Some(r) = s.primary_room_id.as_deref().filter(|r| !room_active(r)) {
                notes.push(format!("{name}: primary room {} is inactive", room_name(r)));
            }
        }
        let role = match s.role.as_deref() {
            Some("director") => StaffRole::Director,
            Some("admin") => StaffRole::Admin,
            _ => StaffRole::Teacher,
        };
        let active = reason.is_none();
        roster.staff.insert(
            s.id.clone(),
            StaffInfo {
                id: s.id.clone(),
                first_name: s.first_name.clone(),
                last_name: s.last_name.clone(),
                role,
                room_id: s.primary_room_id.clone(),
                active,
            },
        );
        verdicts.push(Verdict {
            kind: Kind::Staff,
            id: s.id.clone(),
            name,
            active,
            reason,
            hash: hash_of(s),
        });
    }

    // PIN index: active people and staff only; a PIN shared by two identities names
    // neither (the door cannot tell them apart), and the report says so.
    let mut candidates: HashMap<String, Vec<(Identity, String)>> = HashMap::new();
    let mut add_pin = |pin: &Option<String>, id: Identity, name: String, notes: &mut Vec<Note>| {
        if let Some(h) = pin {
            if is_valid_pin_hmac(h) {
                candidates
                    .entry(h.to_ascii_lowercase())
                    .or_default()
                    .push((id, name));
            } else {
                notes.push(format!("{name}: PIN data is malformed; PIN disabled"));
            }
        }
    };
    for fam in source.families.values() {
        for p in &fam.people {
            if roster.people.get(&p.id).is_some_and(|i| i.active()) {
                let name = format!("{} {}", p.first_name, p.last_name);
                add_pin(
                    &p.pin_hmac,
                    Identity::Person(p.id.clone()),
                    name,
                    &mut notes,
                );
            }
        }
    }
    for s in source.staff.values() {
        if roster.staff.get(&s.id).is_some_and(|i| i.active) {
            let name = format!("{} {}", s.first_name, s.last_name);
            add_pin(&s.pin_hmac, Identity::Staff(s.id.clone()), name, &mut notes);
        }
    }
    // Archived identities' PINs, for a plain refusal: unique among them, and never one
    // an active identity has.
    let mut inactive: HashMap<String, Vec<Identity>> = HashMap::new();
    let mut add_inactive = |pin: &Option<String>, id: Identity| {
        if let Some(h) = pin.as_deref().filter(|h| is_valid_pin_hmac(h)) {
            inactive.entry(h.to_ascii_lowercase()).or_default().push(id);
        }
    };
    for fam in source.families.values() {
        for p in &fam.people {
            if !roster.people.get(&p.id).is_some_and(|i| i.active()) {
                add_inactive(&p.pin_hmac, Identity::Person(p.id.clone()));
            }
        }
    }
    for s in source.staff.values() {
        if !roster.staff.get(&s.id).is_some_and(|i| i.active) {
            add_inactive(&s.pin_hmac, Identity::Staff(s.id.clone()));
        }
    }
    for (hmac, mut ids) in inactive {
        if ids.len() == 1 && !candidates.contains_key(&hmac) {
            if let Some(id) = ids.pop() {
                roster.inactive_pin_index.insert(hmac, id);
            }
        }
    }
    let mut shared: Vec<String> = Vec::new();
    for (hmac, mut ids) in candidates {
        if ids.len() == 1 {
            if let Some((id, _)) = ids.pop() {
                roster.pin_index.insert(hmac, id);
            }
        } else {
            let mut names: Vec<String> = ids.into_iter().map(|(_, n)| n).collect();
            names.sort();
            shared.push(format!(
                "{} share one PIN; it is disabled for all of them until each has their own",
                names.join(", ")
            ));
        }
    }
    shared.sort();
    notes.extend(shared);

    verdicts.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(Evaluation {
        roster,
        verdicts,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RosterResponse;
    use crate::domain::testdata::*;

    fn eval(resp: &RosterResponse) -> Evaluation {
        evaluate(&SourceRoster::default().merged(resp), today()).expect("valid")
    }

    fn verdict<'a>(e: &'a Evaluation, kind: Kind, id: &str) -> &'a Verdict {
        e.verdicts
            .iter()
            .find(|v| v.kind == kind && v.id == id)
            .expect("verdict present")
    }

    #[test]
    fn enrolled_child_with_active_room_is_active() {
        let e = eval(&roster_response());
        assert!(verdict(&e, Kind::Child, "child_a").active);
        assert!(e.roster.children["child_a"].active);
    }

    #[test]
    fn withdrawn_child_is_archived_with_reason() {
        let mut r = roster_response();
        r.families[0].children[0].enrollment_status = "withdrawn".into();
        let e = eval(&r);
        let v = verdict(&e, Kind::Child, "child_a");
        assert!(!v.active);
        assert!(v.reason.as_deref().unwrap().contains("withdrawn"));
        assert!(!e.roster.family_children["fam_1"].contains(&"child_a".to_string()));
    }

    #[test]
    fn child_with_future_enrollment_start_is_archived() {
        let mut r = roster_response();
        r.families[0].children[0].enrollment_start = NaiveDate::from_ymd_opt(2027, 1, 4);
        let e = eval(&r);
        assert_eq!(
            verdict(&e, Kind::Child, "child_a").reason.as_deref(),
            Some("enrollment starts on 2027-01-04")
        );
    }

    #[test]
    fn child_starting_today_is_active() {
        let mut r = roster_response();
        r.families[0].children[0].enrollment_start = Some(today());
        assert!(verdict(&eval(&r), Kind::Child, "child_a").active);
    }

    #[test]
    fn child_without_enrollment_start_is_archived() {
        let mut r = roster_response();
        r.families[0].children[0].enrollment_start = None;
        let e = eval(&r);
        assert_eq!(
            verdict(&e, Kind::Child, "child_a").reason.as_deref(),
            Some("no enrollment start date")
        );
    }

    #[test]
    fn child_without_primary_room_is_archived() {
        let mut r = roster_response();
        r.families[0].children[0].primary_room_id = None;
        let e = eval(&r);
        assert_eq!(
            verdict(&e, Kind::Child, "child_a").reason.as_deref(),
            Some("no primary room in the management system")
        );
    }

    #[test]
    fn child_in_inactive_room_is_archived() {
        let mut r = roster_response();
        r.families[0].children[0].primary_room_id = Some("room_old".into());
        let e = eval(&r);
        assert_eq!(
            verdict(&e, Kind::Child, "child_a").reason.as_deref(),
            Some("primary room Old Annex is inactive")
        );
        assert_eq!(
            verdict(&e, Kind::Room, "room_old").reason.as_deref(),
            Some("room is inactive in the management system")
        );
    }

    #[test]
    fn payer_with_active_child_is_guardian() {
        let e = eval(&roster_response());
        assert!(e.roster.people["per_dana"].guardian);
    }

    #[test]
    fn payer_without_active_child_is_not_guardian() {
        let mut r = roster_response();
        for c in &mut r.families[0].children {
            c.enrollment_status = "waitlist".into();
        }
        let e = eval(&r);
        let v = verdict(&e, Kind::Person, "per_dana");
        assert!(!v.active);
        assert_eq!(
            v.reason.as_deref(),
            Some("payer of a family with no active child")
        );
        assert!(
            e.roster.lookup_pin(&pin("1111")).is_none(),
            "PIN stops working"
        );
    }

    #[test]
    fn listed_non_payer_is_pickup_only_for_listing_children() {
        let e = eval(&roster_response());
        let rosa = &e.roster.people["per_rosa"];
        assert!(rosa.pickup && !rosa.guardian);
        assert_eq!(
            e.roster.pickup_children["per_rosa"],
            vec!["child_a".to_string()]
        );
    }

    #[test]
    fn unlisted_non_payer_is_inactive_with_reason() {
        let mut r = roster_response();
        r.families[0].children[0].authorized_pickup_ids.clear();
        let e = eval(&r);
        assert_eq!(
            verdict(&e, Kind::Person, "per_rosa").reason.as_deref(),
            Some("not a payer and not an authorized pickup of an active child")
        );
    }

    #[test]
    fn payer_listed_as_pickup_of_own_child_is_guardian_and_reported() {
        let mut r = roster_response();
        r.families[0].children[0]
            .authorized_pickup_ids
            .push("per_dana".into());
        let e = eval(&r);
        assert!(e.roster.people["per_dana"].guardian);
        assert!(!e.roster.pickup_children.contains_key("per_dana"));
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("Dana Rivera is a payer and also listed")));
    }

    #[test]
    fn currently_employed_staff_with_room_is_active() {
        let e = eval(&roster_response());
        assert!(e.roster.staff["staff_lee"].active);
        assert_eq!(
            e.roster.lookup_pin(&pin("9001")),
            Some(&Identity::Staff("staff_lee".into()))
        );
    }

    #[test]
    fn terminated_staff_is_archived_and_pin_stops() {
        let mut r = roster_response();
        r.staff[0].employment_status = "terminated".into();
        let e = eval(&r);
        assert!(verdict(&e, Kind::Staff, "staff_lee")
            .reason
            .as_deref()
            .unwrap()
            .contains("terminated"));
        assert!(e.roster.lookup_pin(&pin("9001")).is_none());
    }

    #[test]
    fn staff_with_future_start_or_no_start_or_no_room_is_archived() {
        let mut r = roster_response();
        r.staff[0].start_date = NaiveDate::from_ymd_opt(2027, 2, 1);
        assert_eq!(
            verdict(&eval(&r), Kind::Staff, "staff_lee")
                .reason
                .as_deref(),
            Some("starts on 2027-02-01")
        );
        r.staff[0].start_date = None;
        assert_eq!(
            verdict(&eval(&r), Kind::Staff, "staff_lee")
                .reason
                .as_deref(),
            Some("no start date")
        );
        r.staff[0].start_date = NaiveDate::from_ymd_opt(2024, 1, 1);
        r.staff[0].primary_room_id = None;
        assert_eq!(
            verdict(&eval(&r), Kind::Staff, "staff_lee")
                .reason
                .as_deref(),
            Some("no primary room in the management system")
        );
    }

    #[test]
    fn shared_pin_is_disabled_for_everyone_and_reported() {
        let mut r = roster_response();
        r.families[0].people[1].pin_hmac = Some(pin("1111"));
        let e = eval(&r);
        assert!(e.roster.lookup_pin(&pin("1111")).is_none());
        assert!(e.notes.iter().any(|n| n.contains("share one PIN")));
    }

    #[test]
    fn malformed_pin_hmac_disables_that_pin_only() {
        let mut r = roster_response();
        r.families[0].people[0].pin_hmac = Some("not-hex".into());
        let e = eval(&r);
        assert!(e.roster.people["per_dana"].guardian, "still a guardian");
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("Dana Rivera: PIN data is malformed")));
    }

    #[test]
    fn schedule_room_of_inactive_room_is_ignored() {
        let mut r = roster_response();
        r.families[0].children[0].schedule[0].room_id = Some("room_old".into());
        let e = eval(&r);
        assert_eq!(e.roster.children["child_a"].schedule[0].room_id, None);
    }
}
