//! Ratios: per room, children present vs staff on duty, and the room's state
//! (`ok` / `near` / `over`) for the staff screen, plus the state changes the runtime
//! writes to the audit log.
//!
//! Staff on duty in a room = staff clocked in (presence) whose primary room it is.
//! Limit = `children_per_staff` × staff on duty. `over`: more children than the limit
//! (so any child in a room with no staff on duty); `near`: at the limit or one child
//! below it; `ok` otherwise, and always for an empty room. A room without a configured
//! ratio is `over` only when children are there with no staff at all. Pure.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::presence::Presence;
use super::roster::Roster;

/// Audit-log kind for a room changing state.
pub const AUDIT_KIND: &str = "ratio_change";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioState {
    Ok,
    Near,
    Over,
}

impl RatioState {
    pub fn as_str(self) -> &'static str {
        match self {
            RatioState::Ok => "ok",
            RatioState::Near => "near",
            RatioState::Over => "over",
        }
    }

    pub fn parse(s: &str) -> Option<RatioState> {
        match s {
            "ok" => Some(RatioState::Ok),
            "near" => Some(RatioState::Near),
            "over" => Some(RatioState::Over),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomRatio {
    pub room_id: String,
    pub room_name: String,
    pub children: u32,
    pub staff: u32,
    pub children_per_staff: Option<u32>,
    /// `children_per_staff × staff`; `None` when the room has no ratio.
    pub max_children: Option<u32>,
    pub state: RatioState,
}

/// The state for these numbers (see the module header).
pub fn state_of(children: u32, staff: u32, children_per_staff: Option<u32>) -> RatioState {
    if children == 0 {
        return RatioState::Ok;
    }
    let Some(per) = children_per_staff else {
        return if staff == 0 {
            RatioState::Over
        } else {
            RatioState::Ok
        };
    };
    let max = per.saturating_mul(staff);
    if children > max {
        RatioState::Over
    } else if children + 1 >= max {
        RatioState::Near
    } else {
        RatioState::Ok
    }
}

/// Every active room, and any other room with children present (so no child goes
/// uncounted), sorted by room name then id.
pub fn ratios(roster: &Roster, presence: &Presence) -> Vec<RoomRatio> {
    let mut children: HashMap<&str, u32> = HashMap::new();
    for here in presence.children.values() {
        *children.entry(here.room_id.as_str()).or_default() += 1;
    }
    let mut staff: HashMap<&str, u32> = HashMap::new();
    for staff_id in presence.staff.keys() {
        if let Some(room) = roster
            .staff
            .get(staff_id)
            .and_then(|s| s.room_id.as_deref())
        {
            *staff.entry(room).or_default() += 1;
        }
    }
    let mut ids: BTreeMap<&str, ()> = roster
        .rooms
        .values()
        .filter(|r| r.active)
        .map(|r| (r.id.as_str(), ()))
        .collect();
    for room in children.keys() {
        ids.insert(room, ());
    }
    let mut out: Vec<RoomRatio> = ids
        .into_keys()
        .map(|id| {
            let per = roster.rooms.get(id).and_then(|r| r.children_per_staff);
            let c = children.get(id).copied().unwrap_or(0);
            let s = staff.get(id).copied().unwrap_or(0);
            RoomRatio {
                room_id: id.to_string(),
                room_name: roster.room_name(id).to_string(),
                children: c,
                staff: s,
                children_per_staff: per,
                max_children: per.map(|p| p.saturating_mul(s)),
                state: state_of(c, s, per),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.room_name, &a.room_id).cmp(&(&b.room_name, &b.room_id)));
    out
}

/// A room whose state changed, for the audit log (ids and counts only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioChange {
    pub room_id: String,
    pub from: RatioState,
    pub to: RatioState,
    pub children: u32,
    pub staff: u32,
    pub max_children: Option<u32>,
}

impl RatioChange {
    /// The audit entry's detail: `{"room_id", "from", "to", "children", "staff", "max_children"}`.
    pub fn audit_detail(&self) -> serde_json::Value {
        serde_json::json!({
            "room_id": self.room_id,
            "from": self.from.as_str(),
            "to": self.to.as_str(),
            "children": self.children,
            "staff": self.staff,
            "max_children": self.max_children,
        })
    }
}

/// Rooms whose state differs between two snapshots. A room missing from `before`
/// counts as `ok` there (so a room that appears already over is reported); a room
/// gone from `after` is not reported.
pub fn changes(before: &[RoomRatio], after: &[RoomRatio]) -> Vec<RatioChange> {
    let prev: HashMap<String, RatioState> = before
        .iter()
        .map(|r| (r.room_id.clone(), r.state))
        .collect();
    changes_from_states(&prev, after)
}

/// Like [`changes`], from the last known state per room (e.g. as persisted by the store).
pub fn changes_from_states(
    before: &HashMap<String, RatioState>,
    after: &[RoomRatio],
) -> Vec<RatioChange> {
    after
        .iter()
        .filter_map(|r| {
            let from = before
                .get(r.room_id.as_str())
                .copied()
                .unwrap_or(RatioState::Ok);
            (from != r.state).then(|| RatioChange {
                room_id: r.room_id.clone(),
                from,
                to: r.state,
                children: r.children,
                staff: r.staff,
                max_children: r.max_children,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EventType;
    use crate::domain::presence::Here;
    use crate::domain::testdata::{event, roster};
    use chrono::DateTime;

    fn presence(toddlers: usize, staff: &[&str]) -> Presence {
        let since = DateTime::parse_from_rfc3339("2026-11-23T08:00:00-06:00").unwrap();
        let mut p = Presence::default();
        for i in 0..toddlers {
            p.children.insert(
                format!("c{i}"),
                Here {
                    room_id: "room_toddlers".into(),
                    since,
                    unscheduled: false,
                },
            );
        }
        for s in staff {
            p.staff.insert(s.to_string(), since);
        }
        p
    }

    fn toddlers(r: &[RoomRatio]) -> &RoomRatio {
        r.iter().find(|x| x.room_id == "room_toddlers").unwrap()
    }

    #[test]
    fn states_at_the_edges() {
        assert_eq!(state_of(0, 0, Some(6)), RatioState::Ok);
        assert_eq!(state_of(1, 0, Some(6)), RatioState::Over);
        assert_eq!(state_of(4, 1, Some(6)), RatioState::Ok);
        assert_eq!(state_of(5, 1, Some(6)), RatioState::Near);
        assert_eq!(state_of(6, 1, Some(6)), RatioState::Near);
        assert_eq!(state_of(7, 1, Some(6)), RatioState::Over);
        assert_eq!(state_of(12, 2, Some(6)), RatioState::Near);
        assert_eq!(state_of(13, 2, Some(6)), RatioState::Over);
        assert_eq!(state_of(3, 0, None), RatioState::Over);
        assert_eq!(state_of(30, 1, None), RatioState::Ok);
    }

    #[test]
    fn staff_count_in_their_primary_room() {
        let r = roster();
        // Lee and Pat both have Toddlers as primary room (6 per staff).
        let rs = ratios(&r, &presence(7, &["staff_lee"]));
        assert_eq!(toddlers(&rs).state, RatioState::Over);
        assert_eq!(toddlers(&rs).max_children, Some(6));
        let rs = ratios(&r, &presence(7, &["staff_lee", "staff_pat"]));
        assert_eq!(toddlers(&rs).staff, 2);
        assert_eq!(toddlers(&rs).state, RatioState::Ok);
        // Pre-K: active, empty, no staff: ok.
        let prek = rs.iter().find(|x| x.room_id == "room_prek").unwrap();
        assert_eq!(
            (prek.children, prek.staff, prek.state),
            (0, 0, RatioState::Ok)
        );
        // Inactive rooms without children are not listed.
        assert!(!rs.iter().any(|x| x.room_id == "room_old"));
    }

    #[test]
    fn children_with_no_staff_on_duty_are_over() {
        let r = roster();
        let p = Presence::from_events([&event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T07:00:00-06:00",
        )]);
        let rs = ratios(&r, &p);
        assert_eq!(toddlers(&rs).children, 1);
        assert_eq!(toddlers(&rs).state, RatioState::Over);
    }

    #[test]
    fn children_in_an_unknown_room_are_still_counted() {
        let r = roster();
        let mut p = presence(0, &[]);
        p.children.insert(
            "c9".into(),
            Here {
                room_id: "room_gone".into(),
                since: DateTime::parse_from_rfc3339("2026-11-23T08:00:00-06:00").unwrap(),
                unscheduled: false,
            },
        );
        let rs = ratios(&r, &p);
        let gone = rs.iter().find(|x| x.room_id == "room_gone").unwrap();
        assert_eq!(gone.state, RatioState::Over);
        assert_eq!(gone.room_name, "room_gone");
    }

    #[test]
    fn changes_report_only_rooms_that_moved() {
        let r = roster();
        let before = ratios(&r, &presence(4, &["staff_lee"]));
        let after = ratios(&r, &presence(7, &["staff_lee"]));
        let ch = changes(&before, &after);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].room_id, "room_toddlers");
        assert_eq!((ch[0].from, ch[0].to), (RatioState::Ok, RatioState::Over));
        let d = ch[0].audit_detail();
        assert_eq!(d["to"], "over");
        assert_eq!(d["children"], 7);
        assert!(changes(&after, &after).is_empty());
        // A first snapshot: only non-ok rooms are changes.
        assert_eq!(changes(&[], &after).len(), 1);
        assert!(changes(&[], &before).is_empty());
        let back = changes(&after, &before);
        assert_eq!(
            (back[0].from, back[0].to),
            (RatioState::Over, RatioState::Ok)
        );
    }
}
