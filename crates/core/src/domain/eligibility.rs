//! The eligibility rules of `domain-rules.md`: which source records are active on the
//! kiosk on a given day, and a plain-words reason for every record that is not.
//!
//! Input: a validated [`SourceRoster`] and today's date in the center's time zone.
//! Output: the door's [`Roster`] and one [`Verdict`] per record (for the sync report).
//!
//! An [`Evaluator`] holds one evaluation and keeps it current: after a merge it
//! re-evaluates only the families and staff the merge replaced and the records they
//! reach (people a changed child lists as pickups, children whose listed pickups came or
//! went, PINs whose holders changed), so a sync of a few families costs those families,
//! not the center. A change to a room or to the center, or a new day, re-evaluates
//! everything. [`evaluate`] is the same rules from nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{Family, Person, Staff};

use super::roster::*;
use super::schedule::{parse_hhmm, parse_weekday, Block};
use super::source::{Replaced, RosterError, SourceRoster};

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

/// A record by kind and id: the key of verdicts, notes and PIN holders.
pub type RecordKey = (Kind, String);

const DEFAULT_AUTO_SIGN_OUT: (u32, u32) = (18, 0);
const DEFAULT_MANUAL_SYNC_S: u64 = 3600;

fn hash_of<T: Serialize>(v: &T) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..12])
}

fn is_valid_pin_hmac(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Apply the rules from nothing. `source` is validated first.
pub fn evaluate(source: &SourceRoster, today: NaiveDate) -> Result<Evaluation, RosterError> {
    Ok(Evaluator::build(source, today)?.0.into_evaluation())
}

/// Who holds one PIN HMAC: active identities (with their names, for the report) and
/// archived ones.
#[derive(Debug, Clone, Default)]
struct PinHolders {
    active: BTreeMap<RecordKey, String>,
    inactive: BTreeSet<RecordKey>,
}

/// What one build or update changed: the verdicts to compare with the remembered
/// states, and the door roster's entries to hand to the kiosk ([`Evaluator::patch`]).
#[derive(Debug, Clone, Default)]
pub struct Touched {
    /// Everything was evaluated again: the whole roster is new.
    pub whole: bool,
    pub verdicts: BTreeSet<RecordKey>,
    children: BTreeSet<String>,
    people: BTreeSet<String>,
    staff: BTreeSet<String>,
    family_children: BTreeSet<String>,
    pickup_children: BTreeSet<String>,
    /// PIN HMACs whose holders changed.
    pins: BTreeSet<String>,
}

/// One evaluation of a source roster, kept current by [`Evaluator::update`].
#[derive(Debug, Clone)]
pub struct Evaluator {
    today: NaiveDate,
    roster: Roster,
    verdicts: BTreeMap<RecordKey, Verdict>,
    /// Remarks that belong to one record (a duplicate pickup, a malformed PIN).
    record_notes: BTreeMap<RecordKey, Vec<Note>>,
    /// PIN HMAC → who holds it; only well-formed HMACs, lower-case.
    pins: HashMap<String, PinHolders>,
    /// The PIN HMAC each identity is filed under in `pins`.
    pin_of: HashMap<RecordKey, String>,
    /// PIN HMAC → the remark that it is shared and disabled.
    shared: BTreeMap<String, Note>,
    /// Person id → every child (any family, any status) listing them as a pickup,
    /// whether or not such a person exists.
    listed_by: HashMap<String, BTreeSet<String>>,
}

impl Evaluator {
    /// Evaluate `source` from nothing.
    pub fn build(
        source: &SourceRoster,
        today: NaiveDate,
    ) -> Result<(Evaluator, Touched), RosterError> {
        source.validate()?;
        let center = center_info(source)?;
        let mut ev = Evaluator {
            today,
            roster: Roster {
                center: Some(center),
                ..Roster::default()
            },
            verdicts: BTreeMap::new(),
            record_notes: BTreeMap::new(),
            pins: HashMap::new(),
            pin_of: HashMap::new(),
            shared: BTreeMap::new(),
            listed_by: HashMap::new(),
        };
        let mut t = Touched {
            whole: true,
            ..Touched::default()
        };
        for r in source.rooms.values() {
            ev.roster.rooms.insert(
                r.id.clone(),
                RoomInfo {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    children_per_staff: r.children_per_staff,
                    capacity: r.capacity,
                    active: r.active,
                },
            );
            ev.put_verdict(
                Verdict {
                    kind: Kind::Room,
                    id: r.id.clone(),
                    name: r.name.clone(),
                    active: r.active,
                    reason: (!r.active)
                        .then(|| "room is inactive in the management system".to_string()),
                    hash: hash_of(r),
                },
                &mut t,
            );
        }
        let families = source
            .families
            .iter()
            .map(|(id, f)| (id.as_str(), None, Some(f)))
            .collect();
        ev.refresh_families(source, families, &mut t);
        let staff = source
            .staff
            .iter()
            .map(|(id, s)| (id.as_str(), Some(s)))
            .collect::<Vec<_>>();
        ev.refresh_staff(&staff, &mut t);
        ev.settle_pins(&mut t);
        Ok((ev, t))
    }

    /// Bring the evaluation up to `source` as merged, where `was` is what the merge
    /// replaced, for `today`. On an error (a roster that fails validation) the
    /// evaluation is unchanged.
    pub fn update(
        &mut self,
        source: &SourceRoster,
        today: NaiveDate,
        was: &Replaced,
    ) -> Result<Touched, RosterError> {
        if was.center.is_some() || !was.rooms.is_empty() || today != self.today {
            let (ev, t) = Evaluator::build(source, today)?;
            *self = ev;
            return Ok(t);
        }
        source.validate()?;
        let mut t = Touched::default();
        let families = was
            .families
            .iter()
            .map(|(id, old)| (id.as_str(), old.as_ref(), source.families.get(id)))
            .collect();
        self.refresh_families(source, families, &mut t);
        let staff: Vec<(&str, Option<&Staff>)> = was
            .staff
            .keys()
            .map(|id| (id.as_str(), source.staff.get(id)))
            .collect();
        self.refresh_staff(&staff, &mut t);
        self.settle_pins(&mut t);
        Ok(t)
    }

    pub fn today(&self) -> NaiveDate {
        self.today
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Every verdict, by kind then id.
    pub fn verdicts(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.values()
    }

    pub fn verdict(&self, key: &RecordKey) -> Option<&Verdict> {
        self.verdicts.get(key)
    }

    /// The remarks: each record's in record order, then the shared PINs.
    pub fn notes(&self) -> Vec<Note> {
        let mut shared: Vec<Note> = self.shared.values().cloned().collect();
        shared.sort();
        self.record_notes
            .values()
            .flatten()
            .cloned()
            .chain(shared)
            .collect()
    }

    pub fn into_evaluation(self) -> Evaluation {
        let notes = self.notes();
        Evaluation {
            roster: self.roster,
            verdicts: self.verdicts.into_values().collect(),
            notes,
        }
    }

    /// The door roster's entries `t` touched, as they are now: applied to the roster
    /// the door held before the update ([`Roster::apply`]), it gives this roster.
    pub fn patch(&self, t: &Touched) -> RosterPatch {
        fn take<V: Clone>(
            map: &HashMap<String, V>,
            keys: &BTreeSet<String>,
        ) -> Vec<(String, Option<V>)> {
            keys.iter()
                .map(|k| (k.clone(), map.get(k).cloned()))
                .collect()
        }
        let r = &self.roster;
        RosterPatch {
            children: take(&r.children, &t.children),
            people: take(&r.people, &t.people),
            staff: take(&r.staff, &t.staff),
            pin_index: take(&r.pin_index, &t.pins),
            inactive_pin_index: take(&r.inactive_pin_index, &t.pins),
            family_children: take(&r.family_children, &t.family_children),
            pickup_children: take(&r.pickup_children, &t.pickup_children),
        }
    }

    fn put_verdict(&mut self, v: Verdict, t: &mut Touched) {
        let key = (v.kind, v.id.clone());
        t.verdicts.insert(key.clone());
        self.verdicts.insert(key, v);
    }

    fn drop_record(&mut self, key: RecordKey, t: &mut Touched) {
        self.verdicts.remove(&key);
        self.record_notes.remove(&key);
        t.verdicts.insert(key);
    }

    fn set_notes(&mut self, key: RecordKey, notes: Vec<Note>) {
        if notes.is_empty() {
            self.record_notes.remove(&key);
        } else {
            self.record_notes.insert(key, notes);
        }
    }

    fn room_active(&self, id: &str) -> bool {
        self.roster.rooms.get(id).is_some_and(|r| r.active)
    }

    fn room_name(&self, id: &str) -> String {
        self.roster
            .rooms
            .get(id)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }

    /// Re-evaluate families by id, each with what it was (`None`: new) and what it is
    /// (`None`: removed), and every record they reach.
    fn refresh_families(
        &mut self,
        source: &SourceRoster,
        families: Vec<(&str, Option<&Family>, Option<&Family>)>,
        t: &mut Touched,
    ) {
        let mut people: BTreeSet<String> = BTreeSet::new();
        let mut left: BTreeSet<&str> = BTreeSet::new();
        let mut children: BTreeSet<String> = BTreeSet::new();
        for (fid, old, _) in &families {
            let Some(old) = old else { continue };
            for c in &old.children {
                self.roster.children.remove(&c.id);
                t.children.insert(c.id.clone());
                self.drop_record((Kind::Child, c.id.clone()), t);
                for p in &c.authorized_pickup_ids {
                    if let Some(set) = self.listed_by.get_mut(p) {
                        set.remove(&c.id);
                        if set.is_empty() {
                            self.listed_by.remove(p);
                        }
                    }
                    people.insert(p.clone());
                }
            }
            for p in &old.people {
                people.insert(p.id.clone());
                left.insert(p.id.as_str());
            }
            self.roster.family_children.remove(*fid);
            t.family_children.insert((*fid).to_string());
        }
        let mut home: HashMap<&str, (&Family, &Person)> = HashMap::new();
        for (fid, _, new) in &families {
            let Some(fam) = new else { continue };
            let mut active = Vec::new();
            for ch in &fam.children {
                let info = self.child(fam, ch);
                if info.0.active {
                    active.push(ch.id.clone());
                }
                self.roster.children.insert(ch.id.clone(), info.0);
                t.children.insert(ch.id.clone());
                self.put_verdict(info.1, t);
                children.insert(ch.id.clone());
                for p in &ch.authorized_pickup_ids {
                    self.listed_by
                        .entry(p.clone())
                        .or_default()
                        .insert(ch.id.clone());
                    people.insert(p.clone());
                }
            }
            if !active.is_empty() {
                active.sort_by(|a, b| {
                    let name = |id: &String| self.roster.children.get(id).map(|c| &c.first_name);
                    name(a).cmp(&name(b)).then(a.cmp(b))
                });
                self.roster.family_children.insert(fam.id.clone(), active);
            }
            t.family_children.insert((*fid).to_string());
            for p in &fam.people {
                people.insert(p.id.clone());
                home.insert(p.id.as_str(), (fam, p));
            }
        }
        // Children whose listed pickups may have come or gone.
        for p in &people {
            if let Some(set) = self.listed_by.get(p) {
                children.extend(set.iter().cloned());
            }
        }
        for pid in &people {
            let found = match home.get(pid.as_str()) {
                Some(&(fam, p)) => Some((fam, p)),
                None if left.contains(pid.as_str()) => None,
                None => self
                    .roster
                    .people
                    .get(pid)
                    .and_then(|info| source.families.get(&info.family_id))
                    .and_then(|fam| Some((fam, fam.people.iter().find(|p| &p.id == pid)?))),
            };
            match found {
                Some((fam, p)) => self.person(fam, p, t),
                None => {
                    if self.roster.people.remove(pid).is_some() || left.contains(pid.as_str()) {
                        t.people.insert(pid.clone());
                        self.roster.pickup_children.remove(pid);
                        t.pickup_children.insert(pid.clone());
                        self.set_pin((Kind::Person, pid.clone()), None, false, String::new(), t);
                        self.drop_record((Kind::Person, pid.clone()), t);
                    }
                }
            }
        }
        for cid in &children {
            let notes = match self.roster.children.get(cid).filter(|c| c.active) {
                Some(child) => {
                    let mut missing: Vec<&String> = child
                        .pickups
                        .iter()
                        .filter(|p| !self.roster.people.contains_key(*p))
                        .collect();
                    missing.sort();
                    missing
                        .into_iter()
                        .map(|pid| {
                            format!(
                                "{}: authorized pickup {pid} is not a person in the roster",
                                child.full_name()
                            )
                        })
                        .collect()
                }
                None => Vec::new(),
            };
            self.set_notes((Kind::Child, cid.clone()), notes);
        }
    }

    /// The rules for one child of `fam`: the door's entry and the verdict.
    fn child(&self, fam: &Family, ch: &crate::api::Child) -> (ChildInfo, Verdict) {
        let today = self.today;
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
                (_, Some(r)) if !self.room_active(r) => {
                    Some(format!("primary room {} is inactive", self.room_name(r)))
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
                    room_id: b.room_id.clone().filter(|r| self.room_active(r)),
                })
            })
            .collect();
        let active = reason.is_none();
        let info = ChildInfo {
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
        };
        let verdict = Verdict {
            kind: Kind::Child,
            id: ch.id.clone(),
            name: format!("{} {}", ch.first_name, ch.last_name),
            active,
            reason,
            hash: hash_of(ch),
        };
        (info, verdict)
    }

    /// The rules for one person of `fam`, from the children as they are now.
    fn person(&mut self, fam: &Family, p: &Person, t: &mut Touched) {
        let name = format!("{} {}", p.first_name, p.last_name);
        let guardian = p.is_payer && self.roster.family_children.contains_key(&fam.id);
        let mut picks: Vec<String> = Vec::new();
        let mut notes: Vec<Note> = Vec::new();
        let listing = self.listed_by.get(&p.id).into_iter().flatten();
        for child in listing.filter_map(|c| self.roster.children.get(c).filter(|c| c.active)) {
            if p.is_payer && child.family_id == fam.id {
                notes.push(format!(
                    "{name} is a payer and also listed as an extra pickup of {}: treated as guardian (duplicate in the management system)",
                    child.full_name()
                ));
            } else {
                picks.push(child.id.clone());
            }
        }
        let pickup = !picks.is_empty();
        if pickup {
            self.roster.pickup_children.insert(p.id.clone(), picks);
        } else {
            self.roster.pickup_children.remove(&p.id);
        }
        t.pickup_children.insert(p.id.clone());
        let reason = match (guardian, pickup, p.is_payer) {
            (true, _, _) | (_, true, _) => None,
            (false, false, true) => Some("payer of a family with no active child".to_string()),
            (false, false, false) => {
                Some("not a payer and not an authorized pickup of an active child".to_string())
            }
        };
        let active = guardian || pickup;
        let key = (Kind::Person, p.id.clone());
        notes.extend(self.set_pin(key.clone(), p.pin_hmac.as_deref(), active, name.clone(), t));
        self.set_notes(key, notes);
        self.put_verdict(
            Verdict {
                kind: Kind::Person,
                id: p.id.clone(),
                name,
                active,
                reason,
                hash: hash_of(p),
            },
            t,
        );
        self.roster.people.insert(
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
        t.people.insert(p.id.clone());
    }

    /// Re-evaluate staff by id, each as it is now (`None`: removed).
    fn refresh_staff(&mut self, staff: &[(&str, Option<&Staff>)], t: &mut Touched) {
        for &(id, s) in staff {
            let key = (Kind::Staff, id.to_string());
            t.staff.insert(id.to_string());
            let Some(s) = s else {
                self.roster.staff.remove(id);
                self.set_pin(key.clone(), None, false, String::new(), t);
                self.drop_record(key, t);
                continue;
            };
            let today = self.today;
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
            let mut notes = Vec::new();
            if reason.is_none() {
                if let Some(r) = s
                    .primary_room_id
                    .as_deref()
                    .filter(|r| !self.room_active(r))
                {
                    notes.push(format!(
                        "{name}: primary room {} is inactive",
                        self.room_name(r)
                    ));
                }
            }
            let role = match s.role.as_deref() {
                Some("director") => StaffRole::Director,
                Some("admin") => StaffRole::Admin,
                _ => StaffRole::Teacher,
            };
            let active = reason.is_none();
            notes.extend(self.set_pin(key.clone(), s.pin_hmac.as_deref(), active, name.clone(), t));
            self.set_notes(key, notes);
            self.roster.staff.insert(
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
            self.put_verdict(
                Verdict {
                    kind: Kind::Staff,
                    id: s.id.clone(),
                    name,
                    active,
                    reason,
                    hash: hash_of(s),
                },
                t,
            );
        }
    }

    /// File `key`'s PIN under its HMAC (or nowhere: `None`, or a malformed one). An
    /// active identity's malformed PIN is a remark, returned.
    fn set_pin(
        &mut self,
        key: RecordKey,
        pin: Option<&str>,
        active: bool,
        name: String,
        t: &mut Touched,
    ) -> Option<Note> {
        let hmac = pin
            .filter(|h| is_valid_pin_hmac(h))
            .map(|h| h.to_ascii_lowercase());
        let note = (active && pin.is_some() && hmac.is_none())
            .then(|| format!("{name}: PIN data is malformed; PIN disabled"));
        if let Some(old) = self.pin_of.remove(&key) {
            if let Some(holders) = self.pins.get_mut(&old) {
                holders.active.remove(&key);
                holders.inactive.remove(&key);
            }
            t.pins.insert(old);
        }
        if let Some(h) = hmac {
            let holders = self.pins.entry(h.clone()).or_default();
            if active {
                holders.active.insert(key.clone(), name);
            } else {
                holders.inactive.insert(key.clone());
            }
            self.pin_of.insert(key, h.clone());
            t.pins.insert(h);
        }
        note
    }

    /// The PIN index entries of every HMAC whose holders changed: a PIN held by one
    /// active identity names it; one shared by two names neither (the door cannot tell
    /// them apart) and the report says so; an archived identity's PIN, unique among
    /// them and never one an active identity has, is kept for a plain refusal.
    fn settle_pins(&mut self, t: &mut Touched) {
        let identity = |(kind, id): &RecordKey| match kind {
            Kind::Staff => Identity::Staff(id.clone()),
            _ => Identity::Person(id.clone()),
        };
        for h in &t.pins {
            let Some(holders) = self.pins.get(h) else {
                self.roster.pin_index.remove(h);
                self.roster.inactive_pin_index.remove(h);
                self.shared.remove(h);
                continue;
            };
            let mut active = holders.active.iter();
            match (active.next(), holders.active.len()) {
                (Some((key, _)), 1) => {
                    self.roster.pin_index.insert(h.clone(), identity(key));
                    self.shared.remove(h);
                }
                (None, _) => {
                    self.roster.pin_index.remove(h);
                    self.shared.remove(h);
                }
                _ => {
                    self.roster.pin_index.remove(h);
                    let mut names: Vec<&str> =
                        holders.active.values().map(String::as_str).collect();
                    names.sort();
                    self.shared.insert(
                        h.clone(),
                        format!(
                            "{} share one PIN; it is disabled for all of them until each has their own",
                            names.join(", ")
                        ),
                    );
                }
            }
            match holders.inactive.iter().next() {
                Some(key) if holders.inactive.len() == 1 && holders.active.is_empty() => {
                    self.roster
                        .inactive_pin_index
                        .insert(h.clone(), identity(key));
                }
                _ => {
                    self.roster.inactive_pin_index.remove(h);
                }
            }
            if holders.active.is_empty() && holders.inactive.is_empty() {
                self.pins.remove(h);
            }
        }
    }
}

/// The center's settings as the door uses them.
fn center_info(source: &SourceRoster) -> Result<CenterInfo, RosterError> {
    let c = source.center.as_ref().ok_or(RosterError::NoCenter)?;
    let tz = c
        .timezone
        .parse()
        .map_err(|_| RosterError::BadTimezone(c.timezone.clone()))?;
    let (h, m) = DEFAULT_AUTO_SIGN_OUT;
    Ok(CenterInfo {
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
    })
}

#[cfg(test)]
mod incremental;

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
