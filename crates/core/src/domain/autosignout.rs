//! Auto sign-out: at the center's `auto_sign_out` time (local, default 18:00) every
//! child still in is checked out by `system` with method `auto_sign_out` and flag `auto`.
//!
//! Owns the decision (who is due, and when the next run is) and the events it makes.
//! The decision is a pure function of the roster, the day's presence and the events
//! already stored, so it is idempotent: once the sign-outs are stored nobody is due any
//! more, and a kiosk restarting around that minute cannot sign a child out twice.
//!
//! Every door of a center makes the same events: a child's auto sign-out has an id derived
//! from the center, the child and the local date (hub-api.md v1.1 point 3), so two doors
//! running at 18:00, online or not, produce one event the hub keeps once, and a door that
//! already holds another door's check-out for that child has nobody to sign out.
//!
//! The check-outs carry the scheduled instant (18:00 local), not the moment the kiosk
//! got round to it, so a kiosk that was off at 18:00 and starts at 18:40 still records
//! the sign-out at 18:00 — and a child checked in *after* the sign-out time (a deliberate
//! late check-in) is left alone.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::api::{Actor, ActorKind, Event, EventType, Method};

use super::attendance::local_instant;
use super::presence::Presence;
use super::roster::{CenterInfo, Roster};
use super::schedule;

/// Name of the actor on auto sign-out events.
pub const ACTOR_NAME: &str = "Auto sign-out";
/// Flag on every auto sign-out event.
pub const FLAG_AUTO: &str = "auto";

/// One child to check out.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoSignOut {
    pub child_id: String,
    pub room_id: String,
    /// The center's auto sign-out instant of that day, in the center's offset.
    pub at: DateTime<FixedOffset>,
}

/// The event id of a child's auto sign-out on a local date at a center, the same at every
/// door: the first 16 bytes of SHA-256 of `cubby-auto-sign-out:<center>:<child>:<date>`
/// as a UUID of version 8 (RFC 9562 variant), lower-case and hyphenated.
pub fn derived_event_id(center_id: &str, child_id: &str, date: NaiveDate) -> String {
    let text = format!(
        "cubby-auto-sign-out:{center_id}:{child_id}:{}",
        date.format("%Y-%m-%d")
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).hyphenated().to_string()
}

/// The auto sign-out instant of a local date at the center. On a DST day whose
/// sign-out time does not exist (spring forward) it is the first instant after the
/// gap; when it exists twice (fall back), the first of the two.
pub fn sign_out_instant(center: &CenterInfo, date: NaiveDate) -> DateTime<Utc> {
    local_instant(center.tz, date, center.auto_sign_out).with_timezone(&Utc)
}

/// When the timer should next fire: today's sign-out instant if it is still ahead
/// (strictly after `now`), else tomorrow's.
pub fn next_run(now: DateTime<Utc>, center: &CenterInfo) -> DateTime<Utc> {
    let today = now.with_timezone(&center.tz).date_naive();
    let at = sign_out_instant(center, today);
    if at > now {
        return at;
    }
    match today.succ_opt() {
        Some(tomorrow) => sign_out_instant(center, tomorrow),
        None => now + Duration::days(1),
    }
}

/// Children due for auto sign-out now: those in `presence` (today's fold) who were
/// already in at today's sign-out instant, once `now` has reached it, and who have no
/// auto sign-out check-out yet today in `events` (any superset of today's events).
pub fn due(
    roster: &Roster,
    presence: &Presence,
    events: &[Event],
    now: DateTime<Utc>,
) -> Vec<AutoSignOut> {
    let Some(center) = roster.center.as_ref() else {
        return Vec::new();
    };
    let today = now.with_timezone(&center.tz).date_naive();
    due_on(center, presence, events, today, now)
}

/// Catch-up for a past day (e.g. yesterday, when the kiosk was off at sign-out time and
/// starts after midnight): folds that day's presence from `events` itself. `events`
/// must hold at least all of that local day's events; others are ignored.
pub fn due_for_day(
    roster: &Roster,
    events: &[Event],
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<AutoSignOut> {
    let Some(center) = roster.center.as_ref() else {
        return Vec::new();
    };
    let day: Vec<&Event> = events
        .iter()
        .filter(|e| e.occurred_at.with_timezone(&center.tz).date_naive() == date)
        .collect();
    let presence = Presence::from_events(day.iter().copied());
    due_on(center, &presence, events, date, now)
}

fn due_on(
    center: &CenterInfo,
    presence: &Presence,
    events: &[Event],
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<AutoSignOut> {
    let at_utc = sign_out_instant(center, date);
    if now < at_utc {
        return Vec::new();
    }
    let at = at_utc.with_timezone(&center.tz).fixed_offset();
    let mut out: Vec<AutoSignOut> = presence
        .children
        .iter()
        .filter(|(_, here)| here.since < at)
        .filter(|(child_id, _)| !already_signed_out(center, events, child_id, date))
        .map(|(child_id, here)| AutoSignOut {
            child_id: child_id.clone(),
            room_id: here.room_id.clone(),
            at,
        })
        .collect();
    out.sort_by(|a, b| a.child_id.cmp(&b.child_id));
    out
}

/// Is there an auto sign-out check-out for this child on this local date?
fn already_signed_out(
    center: &CenterInfo,
    events: &[Event],
    child_id: &str,
    date: NaiveDate,
) -> bool {
    events.iter().any(|e| {
        e.kind == EventType::CheckOut
            && e.method == Method::AutoSignOut
            && e.child_id.as_deref() == Some(child_id)
            && e.occurred_at.with_timezone(&center.tz).date_naive() == date
    })
}

/// The actor of auto sign-out events.
pub fn system_actor() -> Actor {
    Actor {
        person_id: None,
        kind: ActorKind::System,
        name: ACTOR_NAME.to_string(),
    }
}

/// The `check_out` events for `due`, ready to commit with `Store::record_local`, each
/// with its [`derived_event_id`] (no center in the roster: none are made). Flags: `auto`, `late_pickup` when the child's schedule ended by then, and
/// `clock_unsynced` (with `clock_synced: false`) when the kiosk clock is not NTP-synced.
pub fn events(
    due: &[AutoSignOut],
    roster: &Roster,
    device_id: &str,
    clock_synced: bool,
) -> Vec<Event> {
    let Some(center) = roster.center.as_ref() else {
        return Vec::new();
    };
    due.iter()
        .map(|d| {
            let mut flags = vec![FLAG_AUTO.to_string()];
            let late = roster
                .children
                .get(&d.child_id)
                .is_some_and(|c| schedule::is_late_pickup(&c.schedule, d.at.naive_local()));
            if late {
                flags.push("late_pickup".to_string());
            }
            if !clock_synced {
                flags.push("clock_unsynced".to_string());
            }
            Event {
                event_id: derived_event_id(&center.id, &d.child_id, d.at.date_naive()),
                kind: EventType::CheckOut,
                child_id: Some(d.child_id.clone()),
                staff_id: None,
                room_id: Some(d.room_id.clone()),
                to_room_id: None,
                occurred_at: d.at,
                clock_synced,
                device_id: device_id.to_string(),
                actor: system_actor(),
                method: Method::AutoSignOut,
                flags,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testdata::{event, roster};
    use chrono::{NaiveTime, TimeZone};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Alex and Mia in since the morning of `date` (Chicago offset given).
    fn morning(date: &str, offset: &str) -> Vec<Event> {
        let mut mia = event(
            "e2",
            EventType::CheckIn,
            "child_b",
            &format!("{date}T08:10:00{offset}"),
        );
        mia.room_id = Some("room_prek".into());
        vec![
            event(
                "e1",
                EventType::CheckIn,
                "child_a",
                &format!("{date}T08:00:00{offset}"),
            ),
            mia,
        ]
    }

    fn run(r: &Roster, events: &[Event], now: DateTime<Utc>) -> Vec<AutoSignOut> {
        due(r, &Presence::from_events(events), events, now)
    }

    #[test]
    fn nobody_at_1759_everyone_in_at_1800() {
        let r = roster();
        let ev = morning("2026-11-23", "-06:00");
        assert!(run(&r, &ev, utc("2026-11-23T17:59:59-06:00")).is_empty());
        let d = run(&r, &ev, utc("2026-11-23T18:00:00-06:00"));
        assert_eq!(
            d.iter().map(|d| d.child_id.as_str()).collect::<Vec<_>>(),
            ["child_a", "child_b"]
        );
        assert_eq!(d[1].room_id, "room_prek");
        assert_eq!(d[0].at.to_rfc3339(), "2026-11-23T18:00:00-06:00");
    }

    #[test]
    fn children_already_out_are_not_due() {
        let r = roster();
        let mut ev = morning("2026-11-23", "-06:00");
        ev.push(event(
            "e3",
            EventType::CheckOut,
            "child_a",
            "2026-11-23T17:30:00-06:00",
        ));
        let d = run(&r, &ev, utc("2026-11-23T18:05:00-06:00"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].child_id, "child_b");
    }

    #[test]
    fn a_check_in_after_the_sign_out_time_is_left_alone() {
        let r = roster();
        let ev = vec![event(
            "e1",
            EventType::CheckIn,
            "child_a",
            "2026-11-23T18:20:00-06:00",
        )];
        assert!(run(&r, &ev, utc("2026-11-23T18:30:00-06:00")).is_empty());
    }

    #[test]
    fn restart_with_the_first_result_stored_yields_nothing() {
        let r = roster();
        let mut ev = morning("2026-11-23", "-06:00");
        let now = utc("2026-11-23T18:00:01-06:00");
        let first = events(&run(&r, &ev, now), &r, "dev_01", true);
        assert_eq!(first.len(), 2);
        ev.extend(first);
        assert!(run(&r, &ev, now).is_empty());
        assert!(run(&r, &ev, utc("2026-11-23T23:59:00-06:00")).is_empty());
        // Even with a stale presence (not refolded), the stored events guard it.
        let stale = Presence::from_events(&ev[..2]);
        assert!(due(&r, &stale, &ev, now).is_empty());
    }

    #[test]
    fn events_are_system_check_outs_flagged_auto_and_late_pickup() {
        let r = roster();
        let ev = morning("2026-11-23", "-06:00");
        let out = events(
            &run(&r, &ev, utc("2026-11-23T18:00:00-06:00")),
            &r,
            "dev_01",
            true,
        );
        let alex = out
            .iter()
            .find(|e| e.child_id.as_deref() == Some("child_a"))
            .unwrap();
        assert_eq!(alex.kind, EventType::CheckOut);
        assert_eq!(alex.method, Method::AutoSignOut);
        assert_eq!(alex.actor.kind, ActorKind::System);
        assert_eq!(alex.actor.name, "Auto sign-out");
        assert_eq!(alex.actor.person_id, None);
        assert_eq!(alex.device_id, "dev_01");
        // Alex's schedule ends at 18:00: late pick-up. Mia has no schedule.
        assert_eq!(alex.flags, ["auto", "late_pickup"]);
        let mia = out
            .iter()
            .find(|e| e.child_id.as_deref() == Some("child_b"))
            .unwrap();
        assert_eq!(mia.flags, ["auto"]);
        assert_ne!(alex.event_id, mia.event_id);
        // The fold of the day with these events: nobody is in any more.
        let all: Vec<Event> = ev.into_iter().chain(out).collect();
        let p = Presence::from_events(&all);
        assert!(p.children.is_empty());
        assert!(p.conflicts.is_empty());
    }

    #[test]
    fn unsynced_clock_is_flagged() {
        let r = roster();
        let ev = morning("2026-11-23", "-06:00");
        let out = events(
            &run(&r, &ev, utc("2026-11-23T18:00:00-06:00")),
            &r,
            "dev_01",
            false,
        );
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|e| !e.clock_synced && e.flags.contains(&"clock_unsynced".to_string())));
    }

    #[test]
    fn after_midnight_it_is_a_new_day() {
        let r = roster();
        // Yesterday's children (never signed out: the kiosk was off) are not today's.
        let ev = morning("2026-11-23", "-06:00");
        let now = utc("2026-11-24T00:00:30-06:00");
        let today_presence = Presence::default();
        assert!(due(&r, &today_presence, &ev, now).is_empty());
        // …but the catch-up for yesterday finds them, at yesterday's 18:00.
        let late = due_for_day(&r, &ev, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), now);
        assert_eq!(late.len(), 2);
        assert_eq!(late[0].at.to_rfc3339(), "2026-11-23T18:00:00-06:00");
        // Today's events only start counting at today's 18:00.
        let ev2 = morning("2026-11-24", "-06:00");
        assert!(run(&r, &ev2, utc("2026-11-24T00:05:00-06:00")).is_empty());
        assert_eq!(run(&r, &ev2, utc("2026-11-24T18:00:00-06:00")).len(), 2);
    }

    #[test]
    fn next_run_today_then_tomorrow() {
        let r = roster();
        let c = r.center.as_ref().unwrap();
        assert_eq!(
            next_run(utc("2026-11-23T17:59:00-06:00"), c),
            utc("2026-11-23T18:00:00-06:00")
        );
        assert_eq!(
            next_run(utc("2026-11-23T18:00:00-06:00"), c),
            utc("2026-11-24T18:00:00-06:00")
        );
        assert_eq!(
            next_run(utc("2026-11-24T00:00:00-06:00"), c),
            utc("2026-11-24T18:00:00-06:00")
        );
    }

    #[test]
    fn dst_days_in_chicago() {
        let r = roster();
        let c = r.center.as_ref().unwrap();
        // Spring forward (2026-03-08): 18:00 is CDT, -05:00.
        assert_eq!(
            next_run(utc("2026-03-08T01:00:00-06:00"), c),
            utc("2026-03-08T18:00:00-05:00")
        );
        let ev = morning("2026-03-08", "-05:00");
        assert!(run(&r, &ev, utc("2026-03-08T17:59:59-05:00")).is_empty());
        let d = run(&r, &ev, utc("2026-03-08T18:00:00-05:00"));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].at.to_rfc3339(), "2026-03-08T18:00:00-05:00");
        // Fall back (2026-11-01): 18:00 is CST, -06:00; the day is 25 hours long.
        let before = utc("2026-10-31T18:00:00-05:00");
        let next = next_run(before, c);
        assert_eq!(next, utc("2026-11-01T18:00:00-06:00"));
        assert_eq!(next - before, Duration::hours(25));
        let ev = morning("2026-11-01", "-06:00");
        assert!(run(&r, &ev, utc("2026-11-01T17:59:59-06:00")).is_empty());
        assert_eq!(run(&r, &ev, utc("2026-11-01T18:00:00-06:00")).len(), 2);
    }

    #[test]
    fn sign_out_time_inside_a_dst_gap_or_overlap() {
        let mut r = roster();
        let c = r.center.as_mut().unwrap();
        c.auto_sign_out = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        let spring = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        // 02:30 does not exist: the first instant after the gap, 03:00 CDT.
        assert_eq!(
            sign_out_instant(c, spring),
            utc("2026-03-08T03:00:00-05:00")
        );
        c.auto_sign_out = NaiveTime::from_hms_opt(1, 30, 0).unwrap();
        let fall = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        // 01:30 happens twice: the first one (CDT).
        assert_eq!(sign_out_instant(c, fall), utc("2026-11-01T01:30:00-05:00"));
        let tz = c.tz;
        assert_eq!(
            tz.from_utc_datetime(&sign_out_instant(c, fall).naive_utc())
                .to_rfc3339(),
            "2026-11-01T01:30:00-05:00"
        );
    }

    #[test]
    fn derived_ids_follow_the_contract_and_agree_between_doors() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let id = derived_event_id("ctr_01", "child_a", date);
        // SHA-256("cubby-auto-sign-out:ctr_01:child_a:2026-11-23")[..16], version 8, variant 10.
        let digest = Sha256::digest(b"cubby-auto-sign-out:ctr_01:child_a:2026-11-23");
        let mut want = [0u8; 16];
        want.copy_from_slice(&digest[..16]);
        want[6] = (want[6] & 0x0f) | 0x80;
        want[8] = (want[8] & 0x3f) | 0x80;
        assert_eq!(id, uuid::Uuid::from_bytes(want).hyphenated().to_string());
        assert_eq!(&id[14..15], "8");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(id, id.to_lowercase());
        // Another child, day or center: another id.
        assert_ne!(id, derived_event_id("ctr_01", "child_b", date));
        assert_ne!(id, derived_event_id("ctr_02", "child_a", date));
        assert_ne!(
            id,
            derived_event_id("ctr_01", "child_a", date.succ_opt().unwrap())
        );

        // Two doors signing out the same day make the same events, whatever their device.
        let r = roster();
        let ev = morning("2026-11-23", "-06:00");
        let now = utc("2026-11-23T18:00:03-06:00");
        let one = events(&run(&r, &ev, now), &r, "dev_01", true);
        let two = events(&run(&r, &ev, now), &r, "dev_02", false);
        let ids = |v: &[Event]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&one), ids(&two));
        let center = r.center.as_ref().unwrap();
        assert_eq!(
            one[0].event_id,
            derived_event_id(&center.id, "child_a", date)
        );
    }

    #[test]
    fn a_peer_check_out_leaves_nobody_to_sign_out() {
        let r = roster();
        let mut ev = morning("2026-11-23", "-06:00");
        // Another door's auto sign-out of Alex arrived (its id, its device).
        let now = utc("2026-11-23T18:00:03-06:00");
        let mut theirs = events(&run(&r, &ev, now), &r, "dev_02", true);
        theirs.retain(|e| e.child_id.as_deref() == Some("child_a"));
        ev.extend(theirs);
        let d = due_for_day(&r, &ev, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), now);
        assert_eq!(
            d.iter().map(|d| d.child_id.as_str()).collect::<Vec<_>>(),
            ["child_b"]
        );
    }

    #[test]
    fn no_center_no_sign_out() {
        let ev = morning("2026-11-23", "-06:00");
        let r = Roster::default();
        assert!(run(&r, &ev, utc("2026-11-23T20:00:00-06:00")).is_empty());
    }
}
