//! Day records for the attendance export (subsidy claims, payroll): one row per child
//! per day and one per staff member per day, folded from stored events — this door's
//! and other doors' — in the center's time zone. Also owns the center's local-day
//! arithmetic (`local_instant`, `day_range_utc`) that survives DST changes.
//!
//! Conflicting facts (a check-out of a child who was not in, a second check-in) are
//! resolved by time, as `presence` does, and kept: every event is counted in the row
//! (`event_ids`) and the row is flagged `conflict` with a note. Nothing is dropped.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;

use crate::api::{Actor, ActorKind, Event, EventType, Method};

use super::roster::Roster;
use super::timeclock::{self, round_minutes};

pub const FLAG_CONFLICT: &str = "conflict";
pub const FLAG_NO_CHECK_OUT: &str = "no_check_out";
pub const FLAG_CLOCK_UNSYNCED: &str = "clock_unsynced";

/// The instant a local wall-clock time happens at the center on `date`. In a DST gap
/// (the time does not exist) it is the first instant after the gap; in an overlap (the
/// time happens twice) the first of the two.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Tz> {
    let wanted = date.and_time(time);
    let mut t = wanted;
    // Gaps are at most a few hours; step by minutes to the first wall time that exists.
    for _ in 0..(6 * 60) {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x,
            LocalResult::Ambiguous(first, _) => return first,
            LocalResult::None => t += Duration::minutes(1),
        }
    }
    tz.from_utc_datetime(&wanted)
}

/// The UTC range `[start of from, start of the day after to)` of local dates at the
/// center, for a store query.
pub fn day_range_utc(
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> (DateTime<chrono::Utc>, DateTime<chrono::Utc>) {
    let start = local_instant(tz, from, NaiveTime::MIN).with_timezone(&chrono::Utc);
    let end_date = to.succ_opt().unwrap_or(to);
    let end = local_instant(tz, end_date, NaiveTime::MIN).with_timezone(&chrono::Utc);
    (start, end)
}

pub fn method_str(m: Method) -> &'static str {
    match m {
        Method::Pin => "pin",
        Method::Fingerprint => "fingerprint",
        Method::Qr => "qr",
        Method::StaffBatch => "staff_batch",
        Method::AutoSignOut => "auto_sign_out",
    }
}

pub fn actor_kind_str(k: ActorKind) -> &'static str {
    match k {
        ActorKind::Guardian => "guardian",
        ActorKind::Pickup => "pickup",
        ActorKind::Staff => "staff",
        ActorKind::System => "system",
    }
}

/// "Dana Rivera (guardian)"; the person id stands in for a missing name.
pub fn actor_label(a: &Actor) -> String {
    let name = if a.name.trim().is_empty() {
        a.person_id.clone().unwrap_or_default()
    } else {
        a.name.clone()
    };
    if name.is_empty() {
        actor_kind_str(a.kind).to_string()
    } else {
        format!("{name} ({})", actor_kind_str(a.kind))
    }
}

/// One child's day at the center.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildDay {
    pub date: NaiveDate,
    pub child_id: String,
    /// From the roster; the id when the child is unknown (archived and gone).
    pub child_name: String,
    /// Rooms the child was in, in order (check-in room, then transfers).
    pub room_ids: Vec<String>,
    pub rooms: Vec<String>,
    /// First check-in of the day, in the center's offset.
    pub check_in: Option<DateTime<FixedOffset>>,
    /// The check-out that ended the last stay (a contradicting later one does not
    /// replace it); else the last check-out event of the day.
    pub check_out: Option<DateTime<FixedOffset>>,
    /// Sum of the day's check-in → check-out intervals; an open one counts nothing and
    /// is flagged `no_check_out`.
    pub minutes_in_care: i64,
    pub dropped_off_by: Option<String>,
    pub picked_up_by: Option<String>,
    /// Methods used that day, in order of first use.
    pub methods: Vec<String>,
    /// Sorted, unique: the events' flags (`late_pickup`, `unscheduled`, `auto`, …) plus
    /// `clock_unsynced`, `conflict`, `no_check_out`.
    pub flags: Vec<String>,
    /// What contradicted what, with event ids.
    pub notes: Vec<String>,
    pub event_ids: Vec<String>,
}

impl ChildDay {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// One staff member's day: shifts that started that day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffDay {
    pub date: NaiveDate,
    pub staff_id: String,
    pub staff_name: String,
    pub clock_in: Option<DateTime<FixedOffset>>,
    pub clock_out: Option<DateTime<FixedOffset>>,
    pub minutes_worked: i64,
    pub shifts: usize,
    pub flags: Vec<String>,
    pub event_ids: Vec<String>,
}

/// Everything the export needs for a date range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttendanceReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: String,
    pub children: Vec<ChildDay>,
    pub staff: Vec<StaffDay>,
}

#[derive(Default)]
struct Fold {
    in_since: Option<DateTime<FixedOffset>>,
    seconds: i64,
    check_in: Option<DateTime<FixedOffset>>,
    closing_out: Option<(DateTime<FixedOffset>, String)>,
    last_out: Option<(DateTime<FixedOffset>, String)>,
    dropped_off_by: Option<String>,
    room_ids: Vec<String>,
    methods: Vec<String>,
    flags: BTreeSet<String>,
    notes: Vec<String>,
    event_ids: Vec<String>,
}

impl Fold {
    fn room(&mut self, room: Option<&String>) {
        if let Some(r) = room {
            if self.room_ids.last() != Some(r) {
                self.room_ids.push(r.clone());
            }
        }
    }

    fn apply(&mut self, e: &Event, tz: Tz) {
        self.event_ids.push(e.event_id.clone());
        let m = method_str(e.method).to_string();
        if !self.methods.contains(&m) {
            self.methods.push(m);
        }
        self.flags.extend(e.flags.iter().cloned());
        if !e.clock_synced {
            self.flags.insert(FLAG_CLOCK_UNSYNCED.to_string());
        }
        let at = e.occurred_at.with_timezone(&tz).fixed_offset();
        match e.kind {
            EventType::CheckIn => {
                if self.in_since.is_some() {
                    // Already in (another door): the stay began at the first check-in.
                    self.conflict(format!("checked in while already in ({})", e.event_id));
                } else {
                    self.in_since = Some(at);
                }
                if self.check_in.is_none() {
                    self.check_in = Some(at);
                    self.dropped_off_by = Some(actor_label(&e.actor));
                }
                self.room(e.room_id.as_ref());
            }
            EventType::CheckOut => {
                let who = actor_label(&e.actor);
                match self.in_since.take() {
                    Some(since) => {
                        self.seconds += (at - since).num_seconds().max(0);
                        self.closing_out = Some((at, who.clone()));
                    }
                    None => {
                        self.conflict(format!("checked out while not in ({})", e.event_id));
                    }
                }
                self.last_out = Some((at, who));
            }
            EventType::Transfer => {
                if self.in_since.is_none() {
                    self.conflict(format!("moved while not in ({})", e.event_id));
                }
                self.room(e.to_room_id.as_ref());
            }
            EventType::StaffClockIn | EventType::StaffClockOut => {}
        }
    }

    fn conflict(&mut self, note: String) {
        self.flags.insert(FLAG_CONFLICT.to_string());
        self.notes.push(note);
    }

    fn finish(mut self, date: NaiveDate, child_id: &str, roster: &Roster) -> ChildDay {
        if self.in_since.is_some() {
            self.flags.insert(FLAG_NO_CHECK_OUT.to_string());
        }
        let out = self.closing_out.or(self.last_out);
        ChildDay {
            date,
            child_id: child_id.to_string(),
            child_name: roster
                .children
                .get(child_id)
                .map(|c| c.full_name())
                .unwrap_or_else(|| child_id.to_string()),
            rooms: self
                .room_ids
                .iter()
                .map(|r| roster.room_name(r).to_string())
                .collect(),
            room_ids: self.room_ids,
            check_in: self.check_in,
            check_out: out.as_ref().map(|o| o.0),
            minutes_in_care: round_minutes(self.seconds),
            dropped_off_by: self.dropped_off_by,
            picked_up_by: out.map(|o| o.1),
            methods: self.methods,
            flags: self.flags.into_iter().collect(),
            notes: self.notes,
            event_ids: self.event_ids,
        }
    }
}

fn in_range(date: NaiveDate, from: NaiveDate, to: NaiveDate) -> bool {
    date >= from && date <= to
}

/// One row per child per local day in `[from, to]` that has events, sorted by date,
/// then name, then id. Events outside the range and staff events are ignored.
pub fn child_days(
    roster: &Roster,
    tz: Tz,
    events: &[Event],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<ChildDay> {
    let mut sorted: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventType::CheckIn | EventType::CheckOut | EventType::Transfer
            )
        })
        .filter(|e| e.child_id.is_some())
        .collect();
    sorted.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    let mut folds: BTreeMap<(NaiveDate, String), Fold> = BTreeMap::new();
    for e in sorted {
        let Some(child_id) = e.child_id.as_ref() else {
            continue;
        };
        let date = e.occurred_at.with_timezone(&tz).date_naive();
        if !in_range(date, from, to) {
            continue;
        }
        folds
            .entry((date, child_id.clone()))
            .or_default()
            .apply(e, tz);
    }
    let mut rows: Vec<ChildDay> = folds
        .into_iter()
        .map(|((date, child_id), f)| f.finish(date, &child_id, roster))
        .collect();
    rows.sort_by(|a, b| {
        (a.date, &a.child_name, &a.child_id).cmp(&(b.date, &b.child_name, &b.child_id))
    });
    rows
}

/// One row per staff member per local day in `[from, to]` on which a shift started
/// (by clock-in, or by clock-out when the clock-in is missing).
pub fn staff_days(
    roster: &Roster,
    tz: Tz,
    events: &[Event],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<StaffDay> {
    let mut days: BTreeMap<(NaiveDate, String), StaffDay> = BTreeMap::new();
    for s in timeclock::shifts(events) {
        let Some(start) = s.start() else { continue };
        let date = start.with_timezone(&tz).date_naive();
        if !in_range(date, from, to) {
            continue;
        }
        let local =
            |t: Option<DateTime<FixedOffset>>| t.map(|t| t.with_timezone(&tz).fixed_offset());
        let row = days
            .entry((date, s.staff_id.clone()))
            .or_insert_with(|| StaffDay {
                date,
                staff_id: s.staff_id.clone(),
                staff_name: roster
                    .staff
                    .get(&s.staff_id)
                    .map(|x| x.full_name())
                    .unwrap_or_else(|| s.staff_id.clone()),
                clock_in: None,
                clock_out: None,
                minutes_worked: 0,
                shifts: 0,
                flags: Vec::new(),
                event_ids: Vec::new(),
            });
        if row.clock_in.is_none() {
            row.clock_in = local(s.clock_in);
        }
        if s.clock_out.is_some() {
            row.clock_out = local(s.clock_out);
        }
        row.minutes_worked += s.minutes;
        row.shifts += 1;
        row.flags.extend(s.flags.iter().cloned());
        row.flags.sort();
        row.flags.dedup();
        row.event_ids.extend(s.event_ids.iter().cloned());
    }
    let mut rows: Vec<StaffDay> = days.into_values().collect();
    rows.sort_by(|a, b| {
        (a.date, &a.staff_name, &a.staff_id).cmp(&(b.date, &b.staff_name, &b.staff_id))
    });
    rows
}

/// Children and staff rows for `[from, to]` (local dates at the center).
pub fn report(
    roster: &Roster,
    tz: Tz,
    events: &[Event],
    from: NaiveDate,
    to: NaiveDate,
) -> AttendanceReport {
    AttendanceReport {
        from,
        to,
        timezone: tz.name().to_string(),
        children: child_days(roster, tz, events, from, to),
        staff: staff_days(roster, tz, events, from, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::presence::Presence;
    use crate::domain::testdata::{event, roster, staff_event};

    const CHICAGO: Tz = chrono_tz::America::Chicago;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn one_day(events: &[Event]) -> Vec<ChildDay> {
        child_days(
            &roster(),
            CHICAGO,
            events,
            date("2026-11-23"),
            date("2026-11-23"),
        )
    }

    #[test]
    fn a_plain_day() {
        let inn = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:00:00-06:00",
        );
        let mut out = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T18:05:00-06:00",
        );
        out.flags = vec!["late_pickup".into()];
        out.actor = Actor {
            person_id: Some("per_rosa".into()),
            kind: ActorKind::Pickup,
            name: "Rosa Diaz".into(),
        };
        out.method = Method::Fingerprint;
        let rows = one_day(&[out, inn]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.child_name, "Alex Rivera");
        assert_eq!(r.rooms, ["Toddlers"]);
        assert_eq!(r.minutes_in_care, 10 * 60 + 5);
        assert_eq!(r.dropped_off_by.as_deref(), Some("Dana Rivera (guardian)"));
        assert_eq!(r.picked_up_by.as_deref(), Some("Rosa Diaz (pickup)"));
        assert_eq!(r.methods, ["pin", "fingerprint"]);
        assert_eq!(r.flags, ["late_pickup"]);
        assert_eq!(
            r.check_in.unwrap().to_rfc3339(),
            "2026-11-23T08:00:00-06:00"
        );
        assert_eq!(
            r.check_out.unwrap().to_rfc3339(),
            "2026-11-23T18:05:00-06:00"
        );
    }

    #[test]
    fn two_stays_sum_and_an_open_one_is_flagged() {
        let ev = [
            event(
                "e1",
                EventType::CheckIn,
                "child_a",
                "2026-11-23T08:00:00-06:00",
            ),
            event(
                "e2",
                EventType::CheckOut,
                "child_a",
                "2026-11-23T10:00:00-06:00",
            ),
            event(
                "e3",
                EventType::CheckIn,
                "child_a",
                "2026-11-23T11:00:00-06:00",
            ),
            event(
                "e4",
                EventType::CheckOut,
                "child_a",
                "2026-11-23T12:30:00-06:00",
            ),
            event(
                "e5",
                EventType::CheckIn,
                "child_b",
                "2026-11-23T09:00:00-06:00",
            ),
        ];
        let rows = one_day(&ev);
        assert_eq!(rows.len(), 2);
        let alex = &rows[0];
        assert_eq!(alex.minutes_in_care, 210);
        assert!(!alex.has_flag(FLAG_NO_CHECK_OUT));
        let mia = &rows[1];
        assert_eq!(mia.child_name, "Mia Rivera");
        assert_eq!(mia.minutes_in_care, 0);
        assert!(mia.has_flag(FLAG_NO_CHECK_OUT));
        assert_eq!(mia.check_out, None);
        assert_eq!(mia.picked_up_by, None);
    }

    #[test]
    fn transfers_list_rooms_in_order() {
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
        let out = event(
            "e3",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T17:00:00-06:00",
        );
        let rows = one_day(&[inn, tr, out]);
        assert_eq!(rows[0].rooms, ["Toddlers", "Pre-K"]);
        assert_eq!(rows[0].room_ids, ["room_toddlers", "room_prek"]);
        assert_eq!(rows[0].minutes_in_care, 9 * 60);
    }

    #[test]
    fn side_door_check_out_while_this_door_was_offline() {
        // This door (offline) batch-checks Alex out at 17:00; the side door had
        // already checked him out at 16:00. Both are kept; time decides; flagged.
        let inn = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:00:00-06:00",
        );
        let mut side = event(
            "s1",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T16:00:00-06:00",
        );
        side.device_id = "dev_side".into();
        let mut here = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T17:00:00-06:00",
        );
        here.method = Method::StaffBatch;
        here.actor = Actor {
            person_id: Some("staff_lee".into()),
            kind: ActorKind::Staff,
            name: "Lee Chen".into(),
        };
        let ev = [inn, here, side];
        let rows = one_day(&ev);
        let r = &rows[0];
        assert_eq!(r.minutes_in_care, 8 * 60);
        assert_eq!(
            r.check_out.unwrap().to_rfc3339(),
            "2026-11-23T16:00:00-06:00"
        );
        assert_eq!(r.picked_up_by.as_deref(), Some("Dana Rivera (guardian)"));
        assert!(r.has_flag(FLAG_CONFLICT));
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("e2"));
        assert_eq!(r.event_ids.len(), 3, "no event dropped");
        // Presence agrees: out, with one conflict.
        let p = Presence::from_events(&ev);
        assert!(!p.is_in("child_a"));
        assert_eq!(p.conflicts.len(), 1);
    }

    #[test]
    fn double_check_in_keeps_the_first_and_flags() {
        let a = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:00:00-06:00",
        );
        let b = event(
            "s1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T08:03:00-06:00",
        );
        let c = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T16:00:00-06:00",
        );
        let r = &one_day(&[a, b, c])[0];
        assert_eq!(r.minutes_in_care, 8 * 60);
        assert!(r.has_flag(FLAG_CONFLICT));
        assert_eq!(r.event_ids, ["e1", "s1", "e2"]);
    }

    #[test]
    fn check_out_without_check_in_is_kept() {
        let mut out = event(
            "e1",
            EventType::CheckOut,
            "child_x",
            "2026-11-23T16:00:00-06:00",
        );
        out.clock_synced = false;
        let r = &one_day(&[out])[0];
        assert_eq!(r.child_name, "child_x", "unknown child: the id stands in");
        assert_eq!(r.check_in, None);
        assert!(r.check_out.is_some());
        assert_eq!(r.minutes_in_care, 0);
        assert_eq!(r.flags, [FLAG_CLOCK_UNSYNCED, FLAG_CONFLICT]);
    }

    #[test]
    fn days_split_at_local_midnight_not_utc() {
        // 23:30 local on the 23rd is 05:30 UTC on the 24th.
        let late = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T23:30:00-06:00",
        );
        let next = event(
            "e2",
            EventType::CheckIn,
            "child_a",
            "2026-11-24T00:30:00-06:00",
        );
        let ev = [late, next];
        let rows = child_days(
            &roster(),
            CHICAGO,
            &ev,
            date("2026-11-23"),
            date("2026-11-24"),
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].date, date("2026-11-23"));
        assert_eq!(rows[1].date, date("2026-11-24"));
        assert_eq!(one_day(&ev).len(), 1, "the 24th is outside a one-day range");
    }

    #[test]
    fn minutes_across_a_fall_back_day_are_real_minutes() {
        // 2026-11-01 00:30 CDT → 03:30 CST is 4 hours, not 3.
        let inn = event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-01T00:30:00-05:00",
        );
        let out = event(
            "e2",
            EventType::CheckOut,
            "child_a",
            "2026-11-01T03:30:00-06:00",
        );
        let rows = child_days(
            &roster(),
            CHICAGO,
            &[inn, out],
            date("2026-11-01"),
            date("2026-11-01"),
        );
        assert_eq!(rows[0].minutes_in_care, 240);
    }

    #[test]
    fn staff_days_from_shifts() {
        let ev = [
            staff_event(
                "t1",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T07:00:00-06:00",
            ),
            staff_event(
                "t2",
                EventType::StaffClockOut,
                "staff_lee",
                "2026-11-23T11:00:00-06:00",
            ),
            staff_event(
                "t3",
                EventType::StaffClockIn,
                "staff_lee",
                "2026-11-23T12:00:00-06:00",
            ),
            staff_event(
                "t4",
                EventType::StaffClockOut,
                "staff_lee",
                "2026-11-23T16:00:00-06:00",
            ),
            staff_event(
                "t5",
                EventType::StaffClockIn,
                "staff_pat",
                "2026-11-23T09:00:00-06:00",
            ),
        ];
        let rows = staff_days(
            &roster(),
            CHICAGO,
            &ev,
            date("2026-11-23"),
            date("2026-11-23"),
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].staff_name, "Lee Chen");
        assert_eq!(rows[0].minutes_worked, 480);
        assert_eq!(rows[0].shifts, 2);
        assert_eq!(
            rows[0].clock_out.unwrap().to_rfc3339(),
            "2026-11-23T16:00:00-06:00"
        );
        assert_eq!(rows[1].staff_name, "Pat Chen");
        assert_eq!(rows[1].flags, ["no_clock_out"]);
    }

    #[test]
    fn local_day_range_on_dst_days() {
        let (s, e) = day_range_utc(CHICAGO, date("2026-03-08"), date("2026-03-08"));
        assert_eq!(e - s, Duration::hours(23));
        let (s, e) = day_range_utc(CHICAGO, date("2026-11-01"), date("2026-11-01"));
        assert_eq!(e - s, Duration::hours(25));
        assert_eq!(s.to_rfc3339(), "2026-11-01T05:00:00+00:00");
        // A zone whose midnight is skipped (Santiago, spring forward 2026-09-06).
        let santiago: Tz = chrono_tz::America::Santiago;
        let t = local_instant(santiago, date("2026-09-06"), NaiveTime::MIN);
        assert_eq!(
            t.naive_local().time(),
            NaiveTime::from_hms_opt(1, 0, 0).unwrap()
        );
    }
}
