//! Emergency roll call: everyone on site by room — children present and staff on duty
//! — from local data only (roster cache + today's presence), so it works with the hub
//! down. Staff tick each person as accounted for; the summary lists accounted and
//! missing. Pure state: the runtime keeps one `RollCall` while the screen is open.
//!
//! The list is frozen at `start`: a child checked in or out during the drill does not
//! change who must be found. Ids are the management system's; a child id and a staff
//! id are assumed distinct (ticks match the first entry with that id).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::presence::Presence;
use super::roster::Roster;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    Child,
    Staff,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollCallEntry {
    pub id: String,
    pub who: Who,
    pub name: String,
    /// `None` for staff with no primary room ("Unassigned").
    pub room_id: Option<String>,
    pub room_name: String,
    pub accounted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomGroup {
    pub room_id: Option<String>,
    pub room_name: String,
    pub entries: Vec<RollCallEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollCallSummary {
    pub started_at: DateTime<Utc>,
    pub total: usize,
    pub accounted: Vec<RollCallEntry>,
    pub missing: Vec<RollCallEntry>,
}

impl RollCallSummary {
    pub fn all_accounted(&self) -> bool {
        self.missing.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollCall {
    pub started_at: DateTime<Utc>,
    /// Sorted by room name, then children before staff, then name.
    entries: Vec<RollCallEntry>,
}

pub const UNASSIGNED: &str = "Unassigned";

impl RollCall {
    pub fn start(roster: &Roster, presence: &Presence, now: DateTime<Utc>) -> RollCall {
        let mut entries = Vec::new();
        for (child_id, here) in &presence.children {
            entries.push(RollCallEntry {
                id: child_id.clone(),
                who: Who::Child,
                name: roster
                    .children
                    .get(child_id)
                    .map(|c| c.full_name())
                    .unwrap_or_else(|| child_id.clone()),
                room_id: Some(here.room_id.clone()),
                room_name: roster.room_name(&here.room_id).to_string(),
                accounted: false,
            });
        }
        for staff_id in presence.staff.keys() {
            let s = roster.staff.get(staff_id);
            let room_id = s.and_then(|s| s.room_id.clone());
            entries.push(RollCallEntry {
                id: staff_id.clone(),
                who: Who::Staff,
                name: s.map(|s| s.full_name()).unwrap_or_else(|| staff_id.clone()),
                room_name: room_id
                    .as_deref()
                    .map(|r| roster.room_name(r).to_string())
                    .unwrap_or_else(|| UNASSIGNED.to_string()),
                room_id,
                accounted: false,
            });
        }
        entries.sort_by(|a, b| {
            (&a.room_name, &a.room_id, a.who, &a.name, &a.id).cmp(&(
                &b.room_name,
                &b.room_id,
                b.who,
                &b.name,
                &b.id,
            ))
        });
        RollCall {
            started_at: now,
            entries,
        }
    }

    /// Mark someone accounted for. False when nobody with that id is on the list.
    pub fn tick(&mut self, id: &str) -> bool {
        self.set(id, true)
    }

    /// Undo a tick. False when nobody with that id is on the list.
    pub fn untick(&mut self, id: &str) -> bool {
        self.set(id, false)
    }

    fn set(&mut self, id: &str, accounted: bool) -> bool {
        match self.entries.iter_mut().find(|e| e.id == id) {
            Some(e) => {
                e.accounted = accounted;
                true
            }
            None => false,
        }
    }

    pub fn entries(&self) -> &[RollCallEntry] {
        &self.entries
    }

    /// The list grouped by room, in display order.
    pub fn rooms(&self) -> Vec<RoomGroup> {
        let mut out: Vec<RoomGroup> = Vec::new();
        for e in &self.entries {
            match out.last_mut() {
                Some(g) if g.room_id == e.room_id && g.room_name == e.room_name => {
                    g.entries.push(e.clone())
                }
                _ => out.push(RoomGroup {
                    room_id: e.room_id.clone(),
                    room_name: e.room_name.clone(),
                    entries: vec![e.clone()],
                }),
            }
        }
        out
    }

    pub fn summary(&self) -> RollCallSummary {
        let (accounted, missing): (Vec<RollCallEntry>, Vec<RollCallEntry>) =
            self.entries.iter().cloned().partition(|e| e.accounted);
        RollCallSummary {
            started_at: self.started_at,
            total: self.entries.len(),
            accounted,
            missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EventType;
    use crate::domain::testdata::{event, roster};

    fn on_site() -> Presence {
        let alex = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:00:00-06:00",
        );
        let mut mia = event(
            "e2",
            EventType::CheckIn,
            "child_b",
            "2026-11-23T08:05:00-06:00",
        );
        mia.room_id = Some("room_prek".into());
        let mut lee = event(
            "e3",
            EventType::StaffClockIn,
            "x",
            "2026-11-23T07:00:00-06:00",
        );
        lee.child_id = None;
        lee.staff_id = Some("staff_lee".into());
        let mut ghost = lee.clone();
        ghost.event_id = "e4".into();
        ghost.staff_id = Some("staff_gone".into());
        Presence::from_events(&[alex, mia, lee, ghost])
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00-06:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn everyone_on_site_grouped_by_room() {
        let rc = RollCall::start(&roster(), &on_site(), now());
        let rooms = rc.rooms();
        let names: Vec<&str> = rooms.iter().map(|g| g.room_name.as_str()).collect();
        assert_eq!(names, ["Pre-K", "Toddlers", "Unassigned"]);
        let toddlers = &rooms[1];
        assert_eq!(toddlers.entries.len(), 2);
        assert_eq!(toddlers.entries[0].who, Who::Child);
        assert_eq!(toddlers.entries[0].name, "Alex Rivera");
        assert_eq!(toddlers.entries[1].who, Who::Staff);
        assert_eq!(toddlers.entries[1].name, "Lee Chen");
        // A clocked-in staff member unknown to the roster still has to be found.
        assert_eq!(rooms[2].entries[0].name, "staff_gone");
        assert_eq!(rc.summary().total, 4);
    }

    #[test]
    fn tick_untick_and_summary() {
        let mut rc = RollCall::start(&roster(), &on_site(), now());
        assert!(rc.tick("child_a"));
        assert!(rc.tick("staff_lee"));
        assert!(rc.tick("child_b"));
        assert!(rc.untick("child_b"));
        assert!(!rc.tick("child_nobody"));
        let s = rc.summary();
        let acc: Vec<&str> = s.accounted.iter().map(|e| e.id.as_str()).collect();
        let miss: Vec<&str> = s.missing.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(acc, ["child_a", "staff_lee"]);
        assert_eq!(miss, ["child_b", "staff_gone"]);
        assert!(!s.all_accounted());
        rc.tick("child_b");
        rc.tick("staff_gone");
        assert!(rc.summary().all_accounted());
    }

    #[test]
    fn nobody_on_site_is_an_empty_roll_call() {
        let rc = RollCall::start(&roster(), &Presence::default(), now());
        assert!(rc.rooms().is_empty());
        assert!(rc.summary().all_accounted());
        assert_eq!(rc.summary().total, 0);
    }
}
