//! The roster as the door uses it: active rooms, children, people and staff, the PIN
//! index, and the policy of who may check in or out whom.
//!
//! Built by `eligibility::evaluate` from the source roster; read-only afterwards. PIN
//! lookup is one hash-map probe on the HMAC of what was typed, never a scan.

use std::collections::{HashMap, HashSet};

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Serialize;

use crate::api::ActorKind;

use super::schedule::Block;

#[derive(Debug, Clone, PartialEq)]
pub struct CenterInfo {
    pub id: String,
    pub name: String,
    pub tz: Tz,
    pub auto_sign_out: NaiveTime,
    pub manual_sync_min_interval_s: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomInfo {
    pub id: String,
    pub name: String,
    pub children_per_staff: Option<u32>,
    pub capacity: Option<u32>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChildInfo {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub family_id: String,
    /// Only meaningful when `active`; archived children may have none.
    pub room_id: String,
    pub active: bool,
    pub schedule: Vec<Block>,
    pub pickups: HashSet<String>,
    pub not_authorized: HashSet<String>,
    pub photo_url: Option<String>,
}

impl ChildInfo {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
    pub fn initials(&self) -> String {
        initials(&self.first_name, &self.last_name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonInfo {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub family_id: String,
    pub is_payer: bool,
    /// Payer of a family with at least one active child.
    pub guardian: bool,
    /// Authorized pickup of at least one active child of another family (or not a payer).
    pub pickup: bool,
}

impl PersonInfo {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
    pub fn active(&self) -> bool {
        self.guardian || self.pickup
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Teacher,
    Director,
    Admin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaffInfo {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub role: StaffRole,
    pub room_id: Option<String>,
    pub active: bool,
}

impl StaffInfo {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// Who a PIN (or later a fingerprint slot) names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Person(String),
    Staff(String),
}

/// What a person may do for one child.
#[derive(Debug, Clone, PartialEq)]
pub enum Permission {
    Allowed(ActorKind),
    /// Shown on the family screen with a calm reason; never recorded.
    Refused(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    pub center: Option<CenterInfo>,
    pub rooms: HashMap<String, RoomInfo>,
    pub children: HashMap<String, ChildInfo>,
    pub people: HashMap<String, PersonInfo>,
    pub staff: HashMap<String, StaffInfo>,
    /// lower-case hex HMAC → identity; only active people and staff, only unique PINs.
    pub pin_index: HashMap<String, Identity>,
    /// The same for archived people and staff (terminated, unenrolled): their PIN opens
    /// nothing, but the door says why and audits it instead of "didn't match".
    pub inactive_pin_index: HashMap<String, Identity>,
    /// family id → its active children, sorted by first name.
    pub family_children: HashMap<String, Vec<String>>,
    /// person id → active children of other families that list them as a pickup.
    pub pickup_children: HashMap<String, Vec<String>>,
}

/// Entries of a door roster as they now are (`None`: gone), from
/// [`crate::domain::eligibility::Evaluator::patch`]: what a sync of a few records changed,
/// without copying the whole roster to the door.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosterPatch {
    pub children: Vec<(String, Option<ChildInfo>)>,
    pub people: Vec<(String, Option<PersonInfo>)>,
    pub staff: Vec<(String, Option<StaffInfo>)>,
    pub pin_index: Vec<(String, Option<Identity>)>,
    pub inactive_pin_index: Vec<(String, Option<Identity>)>,
    pub family_children: Vec<(String, Option<Vec<String>>)>,
    pub pickup_children: Vec<(String, Option<Vec<String>>)>,
}

impl RosterPatch {
    /// How many entries it sets or removes.
    pub fn len(&self) -> usize {
        self.children.len()
            + self.people.len()
            + self.staff.len()
            + self.pin_index.len()
            + self.inactive_pin_index.len()
            + self.family_children.len()
            + self.pickup_children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn put<V>(map: &mut HashMap<String, V>, entries: Vec<(String, Option<V>)>) {
    for (k, v) in entries {
        match v {
            Some(v) => map.insert(k, v),
            None => map.remove(&k),
        };
    }
}

impl Roster {
    /// Set the entries a patch carries. Each entry is a value, not a difference: a patch
    /// applied twice leaves the roster as applying it once.
    pub fn apply(&mut self, patch: RosterPatch) {
        put(&mut self.children, patch.children);
        put(&mut self.people, patch.people);
        put(&mut self.staff, patch.staff);
        put(&mut self.pin_index, patch.pin_index);
        put(&mut self.inactive_pin_index, patch.inactive_pin_index);
        put(&mut self.family_children, patch.family_children);
        put(&mut self.pickup_children, patch.pickup_children);
    }

    pub fn lookup_pin(&self, hmac_hex: &str) -> Option<&Identity> {
        self.pin_index.get(hmac_hex)
    }

    /// An archived person's or staff member's PIN (never one an active identity uses).
    pub fn lookup_inactive_pin(&self, hmac_hex: &str) -> Option<&Identity> {
        self.inactive_pin_index.get(hmac_hex)
    }

    pub fn room_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.rooms.get(id).map(|r| r.name.as_str()).unwrap_or(id)
    }

    /// The children a person may see at the door, each with what they may do, in a
    /// stable order: their own family's children first, then children they pick up.
    /// A person listed in a child's `not_authorized_ids` gets `Refused` for that child
    /// whatever else is true.
    pub fn children_for(&self, person_id: &str) -> Vec<(&ChildInfo, Permission)> {
        let Some(person) = self.people.get(person_id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        if person.guardian {
            for cid in self
                .family_children
                .get(&person.family_id)
                .into_iter()
                .flatten()
            {
                if let Some(child) = self.children.get(cid) {
                    seen.insert(cid.as_str());
                    out.push((child, self.permission(person, child, ActorKind::Guardian)));
                }
            }
        }
        for cid in self.pickup_children.get(person_id).into_iter().flatten() {
            if seen.contains(cid.as_str()) {
                continue;
            }
            if let Some(child) = self.children.get(cid) {
                out.push((child, self.permission(person, child, ActorKind::Pickup)));
            }
        }
        out
    }

    fn permission(&self, person: &PersonInfo, child: &ChildInfo, kind: ActorKind) -> Permission {
        if child.not_authorized.contains(&person.id) {
            Permission::Refused(format!(
                "{} can't pick up {} — please see the front desk",
                person.first_name, child.first_name
            ))
        } else {
            Permission::Allowed(kind)
        }
    }

    /// Active children of a room (primary room), sorted by first name.
    pub fn active_children(&self) -> impl Iterator<Item = &ChildInfo> {
        self.children.values().filter(|c| c.active)
    }
}

pub fn initials(first: &str, last: &str) -> String {
    let f = first.chars().next().map(|c| c.to_uppercase().to_string());
    let l = last.chars().next().map(|c| c.to_uppercase().to_string());
    format!("{}{}", f.unwrap_or_default(), l.unwrap_or_default())
}
