//! Staff time clock: shifts (clock in → clock out) folded from `staff_clock_in/out`
//! events, local and from other doors, in time order.
//!
//! Owns the shift rules. Nothing is dropped: a clock-out with no clock-in makes a shift
//! flagged `no_clock_in` (no minutes); a shift still open at the end of the events is
//! flagged `no_clock_out` (no minutes, or up to `now` with [`Shift::minutes_until`]);
//! a second clock-in while on duty (two doors, a double tap) keeps the first shift going
//! and flags it `conflict`. Pure; time comes with the events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use crate::api::{Event, EventType};

pub const FLAG_NO_CLOCK_IN: &str = "no_clock_in";
pub const FLAG_NO_CLOCK_OUT: &str = "no_clock_out";
pub const FLAG_CONFLICT: &str = "conflict";
pub const FLAG_CLOCK_UNSYNCED: &str = "clock_unsynced";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shift {
    pub staff_id: String,
    pub clock_in: Option<DateTime<FixedOffset>>,
    pub clock_out: Option<DateTime<FixedOffset>>,
    /// Whole minutes between clock in and clock out (rounded to the nearest); 0 when
    /// either end is missing.
    pub minutes: i64,
    /// Sorted, unique: `no_clock_in`, `no_clock_out`, `conflict`, `clock_unsynced`, and
    /// any flags the events carried.
    pub flags: Vec<String>,
    /// Every event that went into this shift, in time order.
    pub event_ids: Vec<String>,
}

impl Shift {
    /// When the shift began (its clock-in, or its clock-out when the clock-in is missing).
    pub fn start(&self) -> Option<DateTime<FixedOffset>> {
        self.clock_in.or(self.clock_out)
    }

    pub fn is_open(&self) -> bool {
        self.clock_in.is_some() && self.clock_out.is_none()
    }

    /// Minutes worked, counting an open shift up to `now` (for "on duty for …").
    pub fn minutes_until(&self, now: DateTime<Utc>) -> i64 {
        match (self.clock_in, self.clock_out) {
            (Some(i), None) => round_minutes((now - i.with_timezone(&Utc)).num_seconds()),
            _ => self.minutes,
        }
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// Seconds → minutes, rounded to the nearest; never negative.
pub(crate) fn round_minutes(seconds: i64) -> i64 {
    (seconds.max(0) + 30) / 60
}

#[derive(Default)]
struct Open {
    clock_in: Option<DateTime<FixedOffset>>,
    clock_out: Option<DateTime<FixedOffset>>,
    flags: BTreeSet<String>,
    event_ids: Vec<String>,
}

impl Open {
    fn take(&mut self, e: &Event) {
        self.event_ids.push(e.event_id.clone());
        self.flags.extend(e.flags.iter().cloned());
        if !e.clock_synced {
            self.flags.insert(FLAG_CLOCK_UNSYNCED.to_string());
        }
    }

    fn finish(self, staff_id: &str) -> Shift {
        let mut flags = self.flags;
        let minutes = match (self.clock_in, self.clock_out) {
            (Some(i), Some(o)) => round_minutes((o - i).num_seconds()),
            (Some(_), None) => {
                flags.insert(FLAG_NO_CLOCK_OUT.to_string());
                0
            }
            _ => {
                flags.insert(FLAG_NO_CLOCK_IN.to_string());
                0
            }
        };
        Shift {
            staff_id: staff_id.to_string(),
            clock_in: self.clock_in,
            clock_out: self.clock_out,
            minutes,
            flags: flags.into_iter().collect(),
            event_ids: self.event_ids,
        }
    }
}

/// Every staff member's shifts from these events (other event types are ignored),
/// sorted by staff id then start.
pub fn shifts<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<Shift> {
    let mut sorted: Vec<&Event> = events
        .into_iter()
        .filter(|e| matches!(e.kind, EventType::StaffClockIn | EventType::StaffClockOut))
        .filter(|e| e.staff_id.is_some())
        .collect();
    sorted.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    let mut open: BTreeMap<String, Open> = BTreeMap::new();
    let mut out = Vec::new();
    for e in sorted {
        let Some(staff_id) = e.staff_id.as_deref() else {
            continue;
        };
        match e.kind {
            EventType::StaffClockIn => {
                let cur = open.entry(staff_id.to_string()).or_default();
                if cur.clock_in.is_some() {
                    // Already on duty: the same shift goes on; the fact is kept and flagged.
                    cur.flags.insert(FLAG_CONFLICT.to_string());
                } else {
                    cur.clock_in = Some(e.occurred_at);
                }
                cur.take(e);
            }
            EventType::StaffClockOut => {
                let mut cur = open.remove(staff_id).unwrap_or_default();
                cur.clock_out = Some(e.occurred_at);
                cur.take(e);
                out.push(cur.finish(staff_id));
            }
            _ => {}
        }
    }
    for (staff_id, cur) in open {
        out.push(cur.finish(&staff_id));
    }
    out.sort_by(|a, b| (&a.staff_id, a.start()).cmp(&(&b.staff_id, b.start())));
    out
}

/// Staff on duty now (an open shift), with the minutes so far; sorted by staff id.
pub fn on_duty(shifts: &[Shift], now: DateTime<Utc>) -> Vec<(&str, i64)> {
    shifts
        .iter()
        .filter(|s| s.is_open())
        .map(|s| (s.staff_id.as_str(), s.minutes_until(now)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testdata::{event, staff_event as clock};

    #[test]
    fn in_and_out_make_a_shift_with_minutes() {
        let ev = [
            clock(
                "e2",
                EventType::StaffClockOut,
                "staff_lee",
                "2026-11-23T16:30:20-06:00",
            ),
            clock(
                "e1",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T07:00:00-06:00",
            ),
        ];
        let s = shifts(&ev);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].minutes, 9 * 60 + 30);
        assert!(s[0].flags.is_empty());
        assert_eq!(s[0].event_ids, ["e1", "e2"]);
    }

    #[test]
    fn two_shifts_a_day_and_an_open_one() {
        let ev = [
            clock(
                "e1",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T07:00:00-06:00",
            ),
            clock(
                "e2",
                EventType::StaffClockOut,
                "staff_lee",
                "2026-11-23T11:00:00-06:00",
            ),
            clock(
                "e3",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T12:00:00-06:00",
            ),
        ];
        let s = shifts(&ev);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].minutes, 240);
        assert!(s[1].is_open());
        assert_eq!(s[1].minutes, 0);
        assert!(s[1].has_flag(FLAG_NO_CLOCK_OUT));
        let now = DateTime::parse_from_rfc3339("2026-11-23T13:30:00-06:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(s[1].minutes_until(now), 90);
        assert_eq!(on_duty(&s, now), [("staff_lee", 90)]);
    }

    #[test]
    fn missing_clock_in_is_flagged_not_dropped() {
        let mut out = clock(
            "e1",
            EventType::StaffClockOut,
            "staff_pat",
            "2026-11-23T17:00:00-06:00",
        );
        out.clock_synced = false;
        let s = shifts(&[out]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].clock_in, None);
        assert_eq!(s[0].minutes, 0);
        assert_eq!(s[0].flags, [FLAG_CLOCK_UNSYNCED, FLAG_NO_CLOCK_IN]);
        assert!(on_duty(&s, Utc::now()).is_empty());
    }

    #[test]
    fn double_clock_in_keeps_the_first_and_flags_conflict() {
        let ev = [
            clock(
                "e1",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T07:00:00-06:00",
            ),
            clock(
                "e2",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T07:02:00-06:00",
            ),
            clock(
                "e3",
                EventType::StaffClockOut,
                "staff_lee",
                "2026-11-23T15:00:00-06:00",
            ),
        ];
        let s = shifts(&ev);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].minutes, 8 * 60);
        assert!(s[0].has_flag(FLAG_CONFLICT));
        assert_eq!(s[0].event_ids.len(), 3);
    }

    #[test]
    fn staff_are_separate_and_child_events_ignored() {
        let ev = [
            clock(
                "e1",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T07:00:00-06:00",
            ),
            clock(
                "e2",
                EventType::StaffClockIn,
                "staff_pat",
                "2026-11-23T08:00:00-06:00",
            ),
            event(
                "e3",
                EventType::CheckIn,
                "child_a",
                "2026-11-23T08:00:00-06:00",
            ),
            clock(
                "e4",
                EventType::StaffClockOut,
                "staff_pat",
                "2026-11-23T09:00:00-06:00",
            ),
        ];
        let s = shifts(&ev);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].staff_id, "staff_lee");
        assert!(s[0].is_open());
        assert_eq!(s[1].staff_id, "staff_pat");
        assert_eq!(s[1].minutes, 60);
    }
}
