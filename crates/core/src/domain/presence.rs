//! Who is here now, derived from attendance events (local and from other kiosks).
//!
//! Presence is never stored: it is the fold of the day's events ordered by the time
//! they happened (then by event id, for a stable order). Events from another door that
//! arrive late slot into place by time; nothing is dropped to resolve a conflict, and a
//! contradiction (a check-out of a child who was not in) is kept as a flagged fact.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};

use crate::api::{Event, EventType};

/// How far an event's `occurred_at` may lie after the moment it is known to have
/// existed (hub-api.md v1.1 point 5).
pub const CLOCK_LEEWAY: chrono::Duration = chrono::Duration::minutes(5);

/// Flag of an event whose time was not believed (its clock was ahead).
pub const CLOCK_SUSPECT: &str = "clock_suspect";
/// The flag of a check-in outside the child's schedule (hub-api.md).
pub const UNSCHEDULED: &str = "unscheduled";

/// When the kiosk counts an event for presence and roll call. No event time may move
/// presence beyond now: an event dated more than [`CLOCK_LEEWAY`] after `known_by` (the
/// hub's `received_at`, or the moment this kiosk, with a synchronized clock, first held
/// it) counts as having happened at `known_by`. `Some` only in that case; `None` means
/// "at its own `occurred_at`". A door whose clock says 9999 can therefore neither make a
/// child vanish with a check-out nor keep one "in" every day with a check-in.
pub fn counted_at(
    occurred_at: DateTime<FixedOffset>,
    known_by: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let known_by = known_by?;
    (occurred_at.with_timezone(&Utc) > known_by + CLOCK_LEEWAY).then_some(known_by)
}

/// `e` as presence counts it when the kiosk counts it at `at` instead of its own time:
/// `occurred_at` moved (in the event's own offset) and the [`CLOCK_SUSPECT`] flag added.
pub fn counted_as(mut e: Event, at: DateTime<Utc>) -> Event {
    if e.occurred_at.with_timezone(&Utc) != at {
        e.occurred_at = at.with_timezone(e.occurred_at.offset());
        if !e.flags.iter().any(|f| f == CLOCK_SUSPECT) {
            e.flags.push(CLOCK_SUSPECT.to_string());
        }
    }
    e
}

#[derive(Debug, Clone, PartialEq)]
pub struct Here {
    pub room_id: String,
    pub since: DateTime<FixedOffset>,
    /// The check-in carried the `unscheduled` flag (outside the child's schedule): the
    /// room screen shows what the event says, not what the schedule says later.
    pub unscheduled: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presence {
    pub children: HashMap<String, Here>,
    pub staff: HashMap<String, DateTime<FixedOffset>>,
    /// Events that contradicted the state they arrived in (e.g. checked out while not
    /// in). Kept for the staff screen; the event still counts.
    pub conflicts: Vec<String>,
}

impl Presence {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Presence {
        let mut sorted: Vec<&Event> = events.into_iter().collect();
        sorted.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
        let mut p = Presence::default();
        for e in sorted {
            p.apply(e);
        }
        p
    }

    /// Apply one event in time order.
    pub fn apply(&mut self, e: &Event) {
        match e.kind {
            EventType::CheckIn => {
                if let (Some(c), Some(room)) = (&e.child_id, &e.room_id) {
                    if self.children.contains_key(c) {
                        self.conflicts
                            .push(format!("{c}: checked in while already in ({})", e.event_id));
                    }
                    self.children.insert(
                        c.clone(),
                        Here {
                            room_id: room.clone(),
                            since: e.occurred_at,
                            unscheduled: e.flags.iter().any(|f| f == UNSCHEDULED),
                        },
                    );
                }
            }
            EventType::CheckOut => {
                if let Some(c) = &e.child_id {
                    if self.children.remove(c).is_none() {
                        self.conflicts
                            .push(format!("{c}: checked out while not in ({})", e.event_id));
                    }
                }
            }
            EventType::Transfer => {
                if let (Some(c), Some(to)) = (&e.child_id, &e.to_room_id) {
                    let (since, unscheduled) = self
                        .children
                        .get(c)
                        .map(|h| (h.since, h.unscheduled))
                        .unwrap_or((e.occurred_at, false));
                    self.children.insert(
                        c.clone(),
                        Here {
                            room_id: to.clone(),
                            since,
                            unscheduled,
                        },
                    );
                }
            }
            EventType::StaffClockIn => {
                if let Some(s) = &e.staff_id {
                    self.staff.insert(s.clone(), e.occurred_at);
                }
            }
            EventType::StaffClockOut => {
                if let Some(s) = &e.staff_id {
                    self.staff.remove(s);
                }
            }
        }
    }

    pub fn is_in(&self, child_id: &str) -> bool {
        self.children.contains_key(child_id)
    }

    /// Children present per room.
    pub fn count_in_room(&self, room_id: &str) -> usize {
        self.children
            .values()
            .filter(|h| h.room_id == room_id)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testdata::event;

    #[test]
    fn late_arriving_peer_event_is_ordered_by_time() {
        // Side door checked Alex out at 16:00; this door's check-in at 08:00 came first
        // in arrival order but the fold orders by time: Alex is out.
        let out = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T16:00:00-06:00",
        );
        let inn = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:00:00-06:00",
        );
        let p = Presence::from_events([&out, &inn]);
        assert!(!p.is_in("child_a"));
        assert!(p.conflicts.is_empty());
    }

    #[test]
    fn contradictions_are_kept_as_conflicts() {
        let out = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T16:00:00-06:00",
        );
        let p = Presence::from_events([&out]);
        assert_eq!(p.conflicts.len(), 1);
    }

    #[test]
    fn an_event_dated_far_after_it_was_received_counts_when_received() {
        let received = chrono::DateTime::parse_from_rfc3339("2026-11-23T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let out = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "9999-01-01T08:00:00-06:00",
        );
        let at = counted_at(out.occurred_at, Some(received)).expect("clamped");
        assert_eq!(at, received);
        let counted = counted_as(out, at);
        assert_eq!(
            counted.occurred_at.to_rfc3339(),
            "2026-11-23T10:00:00-06:00"
        );
        assert_eq!(counted.flags, vec![CLOCK_SUSPECT.to_string()]);
        // Four minutes ahead is an ordinary clock drift: believed.
        let drift = event(
            "e3",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T10:04:00-06:00",
        );
        assert_eq!(counted_at(drift.occurred_at, Some(received)), None);
        // Nothing to compare with: believed.
        assert_eq!(counted_at(counted.occurred_at, None), None);
    }

    #[test]
    fn transfer_moves_room_and_keeps_since() {
        let inn = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:00:00-06:00",
        );
        let mut tr = event(
            "e2",
            EventType::Transfer,
            "child_a",
            "2026-11-23T12:00:00-06:00",
        );
        tr.to_room_id = Some("room_prek".into());
        let p = Presence::from_events([&inn, &tr]);
        assert_eq!(p.children["child_a"].room_id, "room_prek");
        assert_eq!(p.children["child_a"].since, inn.occurred_at);
        assert_eq!(p.count_in_room("room_prek"), 1);
    }
}
