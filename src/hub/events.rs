//! Attendance events on the hub: validating and storing an upload batch (idempotent by
//! `event_id` forever), peer events by `e_<seq>` cursor, who is present now, and the
//! technician's listing. Days are local days in the center's time zone.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

use super::db::{now_text, HubDb};
use super::error::HubError;
use crate::api::{
    CurrentResponse, Event, EventResult, EventType, PeerEventsResponse, PresentChild, PresentStaff,
    ResultStatus,
};

/// Most events returned by one peer-events call (and the default).
pub const MAX_PEER_LIMIT: usize = 500;

/// One stored event, for `cubby hub events`.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub received_at: String,
    pub device_id: String,
    pub event: Event,
}

/// Start and end (exclusive) of the local day containing `now` in `tz`, as UTC instants.
pub fn local_day_bounds(tz: Tz, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&tz).date_naive();
    let start = local_midnight(tz, today).unwrap_or(now - Duration::hours(24));
    let end = today
        .succ_opt()
        .and_then(|d| local_midnight(tz, d))
        .unwrap_or(start + Duration::hours(24));
    (start, end)
}

fn local_midnight(tz: Tz, date: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(NaiveTime::MIN);
    // A DST gap at midnight: the day starts at the first valid instant after it.
    (0..=2)
        .filter_map(|h| {
            tz.from_local_datetime(&(midnight + Duration::hours(h)))
                .earliest()
        })
        .next()
        .map(|t| t.with_timezone(&Utc))
}

/// Why an event of a batch cannot be stored, or `None` when it can.
fn rejection(db: &HubDb, device_id: &str, e: &Event) -> Result<Option<String>, HubError> {
    match e.kind {
        EventType::CheckIn | EventType::CheckOut | EventType::Transfer => match &e.child_id {
            None => return Ok(Some("missing child_id".into())),
            Some(id) if !db.child_known(id)? => return Ok(Some("unknown child".into())),
            Some(_) => {}
        },
        EventType::StaffClockIn | EventType::StaffClockOut => match &e.staff_id {
            None => return Ok(Some("missing staff_id".into())),
            Some(id) if !db.staff_known(id)? => return Ok(Some("unknown staff".into())),
            Some(_) => {}
        },
    }
    // A door re-provisioned (new device id) still delivers what it recorded under its
    // former id: any device ever enrolled at this hub is accepted; a stranger is not.
    if e.device_id != device_id && !db.device_known(&e.device_id)? {
        return Ok(Some("unknown device".into()));
    }
    Ok(None)
}

fn rejected(event_id: String, reason: impl Into<String>) -> EventResult {
    EventResult {
        event_id,
        status: ResultStatus::Rejected,
        reason: Some(reason.into()),
    }
}

impl HubDb {
    fn event_stored(&self, event_id: &str) -> Result<bool, HubError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM events WHERE event_id = ?1",
            [event_id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Judge and store one upload batch from `device_id`, in order; every accepted event is
    /// committed in one transaction before this returns.
    pub fn store_batch(
        &mut self,
        device_id: &str,
        events: &[Value],
    ) -> Result<Vec<EventResult>, HubError> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let mut results = Vec::with_capacity(events.len());
        let mut in_batch: HashSet<String> = HashSet::new();
        let received = now_text();
        for raw in events {
            let event_id = raw
                .get("event_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if event_id.is_empty() {
                results.push(rejected(event_id, "missing event_id"));
                continue;
            }
            if in_batch.contains(&event_id) || self.event_stored(&event_id)? {
                results.push(EventResult {
                    event_id,
                    status: ResultStatus::Duplicate,
                    reason: None,
                });
                continue;
            }
            let event: Event = match serde_json::from_value(raw.clone()) {
                Ok(e) => e,
                Err(err) => {
                    results.push(rejected(event_id, format!("malformed event: {err}")));
                    continue;
                }
            };
            if let Some(reason) = rejection(self, device_id, &event)? {
                results.push(rejected(event_id, reason));
                continue;
            }
            tx.execute(
                "INSERT INTO events (event_id, device_id, type, child_id, staff_id, occurred_at,
                     occurred_utc, json, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    event.event_id,
                    device_id,
                    event.kind.as_str(),
                    event.child_id,
                    event.staff_id,
                    event.occurred_at.to_rfc3339(),
                    event.occurred_at.timestamp(),
                    serde_json::to_string(&event)?,
                    received,
                ],
            )?;
            in_batch.insert(event_id.clone());
            results.push(EventResult {
                event_id,
                status: ResultStatus::Accepted,
                reason: None,
            });
        }
        tx.commit()?;
        Ok(results)
    }

    /// Highest event sequence number stored (0 when none).
    pub fn max_seq(&self) -> Result<i64, HubError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)
    }

    /// Peer events: after `e_<seq>` in hub order, or (without a cursor) those that occurred
    /// since the start of the current local day.
    pub fn peer_events(
        &self,
        after: Option<i64>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<PeerEventsResponse, HubError> {
        let limit = limit.clamp(1, MAX_PEER_LIMIT);
        // A cursor beyond anything stored comes from another (or a reset) hub database:
        // answer as without a cursor, so the kiosk resynchronises on this hub's numbering.
        let after = match after {
            Some(seq) if seq > self.max_seq()? => None,
            other => other,
        };
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let (sql, bound) = match after {
            Some(seq) => (
                "SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                seq,
            ),
            None => (
                "SELECT seq, json FROM events WHERE occurred_utc >= ?1 ORDER BY seq LIMIT ?2",
                local_day_bounds(self.timezone()?, now).0.timestamp(),
            ),
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(params![bound, fetch], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut rows: Vec<(i64, String)> = rows.collect::<Result<_, _>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let last = rows.last().map(|(seq, _)| *seq);
        let mut events = Vec::with_capacity(rows.len());
        for (seq, json) in rows {
            match serde_json::from_str::<Event>(&json) {
                Ok(e) => events.push(e),
                Err(err) => tracing::warn!(seq, %err, "stored event unreadable, skipped"),
            }
        }
        let cursor = match (after, last, more) {
            (_, Some(seq), true) => seq,
            (Some(given), None, _) => given,
            (Some(_), Some(seq), false) => seq,
            // Today's events were all returned: everything stored so far has been seen.
            (None, _, false) => self.max_seq()?,
            (None, None, true) => 0,
        };
        Ok(PeerEventsResponse {
            events,
            cursor: format!("e_{cursor}"),
            more,
        })
    }

    /// Children and staff present now, from today's events (center time zone).
    pub fn current(&self, now: DateTime<Utc>) -> Result<CurrentResponse, HubError> {
        let tz = self.timezone()?;
        let (start, end) = local_day_bounds(tz, now);
        let mut stmt = self.conn.prepare(
            "SELECT json FROM events WHERE occurred_utc >= ?1 AND occurred_utc < ?2
             ORDER BY occurred_utc, seq",
        )?;
        let rows = stmt.query_map([start.timestamp(), end.timestamp()], |r| {
            r.get::<_, String>(0)
        })?;
        let mut children: BTreeMap<String, Option<PresentChild>> = BTreeMap::new();
        let mut staff: BTreeMap<String, Option<PresentStaff>> = BTreeMap::new();
        for json in rows {
            let e: Event = match serde_json::from_str(&json?) {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(%err, "stored event unreadable, skipped");
                    continue;
                }
            };
            match (e.kind, e.child_id, e.staff_id) {
                (EventType::CheckIn, Some(c), _) => {
                    let p = PresentChild {
                        child_id: c.clone(),
                        room_id: e.room_id,
                        since: e.occurred_at,
                    };
                    children.insert(c, Some(p));
                }
                (EventType::Transfer, Some(c), _) => {
                    let p = PresentChild {
                        child_id: c.clone(),
                        room_id: e.to_room_id.or(e.room_id),
                        since: e.occurred_at,
                    };
                    children.insert(c, Some(p));
                }
                (EventType::CheckOut, Some(c), _) => {
                    children.insert(c, None);
                }
                (EventType::StaffClockIn, _, Some(s)) => {
                    let p = PresentStaff {
                        staff_id: s.clone(),
                        since: e.occurred_at,
                    };
                    staff.insert(s, Some(p));
                }
                (EventType::StaffClockOut, _, Some(s)) => {
                    staff.insert(s, None);
                }
                _ => {}
            }
        }
        Ok(CurrentResponse {
            as_of: now.with_timezone(&tz).fixed_offset(),
            children: children.into_values().flatten().collect(),
            staff: staff.into_values().flatten().collect(),
        })
    }

    /// Every stored event, in hub order.
    pub fn stored_events(&self) -> Result<Vec<StoredEvent>, HubError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, received_at, device_id, json FROM events ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, received_at, device_id, json) = row?;
            out.push(StoredEvent {
                seq,
                received_at,
                device_id,
                event: serde_json::from_str(&json)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: &str, kind: &str, child: Option<&str>, staff: Option<&str>, at: &str) -> Value {
        json!({"event_id": id, "type": kind, "child_id": child, "staff_id": staff,
               "room_id": "room_a", "to_room_id": if kind == "transfer" { Some("room_b") } else { None },
               "occurred_at": at, "clock_synced": true, "device_id": "dev_01",
               "actor": {"person_id": null, "kind": "staff", "name": "T"},
               "method": "staff_batch", "flags": []})
    }

    fn db_with_roster() -> (tempfile::TempDir, HubDb) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
        db.import_roster(json!({
            "center": {"id": "c", "name": "C", "timezone": "America/Chicago"},
            "staff": [{"id": "staff_1", "first_name": "S", "last_name": "T", "employment_status": "currently_employed"}],
            "families": [{"id": "fam_1", "people": [], "children": [
                {"id": "child_1", "first_name": "A", "last_name": "B", "enrollment_status": "enrolled"},
                {"id": "child_2", "first_name": "C", "last_name": "D", "enrollment_status": "enrolled"}]}]
        }))
        .unwrap();
        (dir, db)
    }

    #[test]
    fn day_bounds_follow_the_center_zone() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (s, e) = local_day_bounds(chrono_tz::America::Chicago, now);
        // 03:00Z is still 21:00 on the 22nd in Chicago (UTC-6).
        assert_eq!(s.to_rfc3339(), "2026-11-22T06:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2026-11-23T06:00:00+00:00");
        // A 23-hour day (spring forward).
        let dst = DateTime::parse_from_rfc3339("2026-03-08T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (s, e) = local_day_bounds(chrono_tz::America::Chicago, dst);
        assert_eq!((e - s).num_hours(), 23);
    }

    #[test]
    fn events_recorded_under_a_former_device_id_are_accepted() {
        let (_d, mut db) = db_with_roster();
        let code = db.create_enroll_code().unwrap();
        let old = db.enroll(&code, "Front door", "0.1.0").unwrap();
        let code = db.create_enroll_code().unwrap();
        let new = db.enroll(&code, "Front door", "0.1.0").unwrap();
        let at = "2026-11-23T08:00:00-06:00";
        let mut queued = ev("q1", "check_in", Some("child_1"), None, at);
        queued["device_id"] = json!(old.device_id);
        let r = db.store_batch(&new.device_id, &[queued]).unwrap();
        assert_eq!(r[0].status, ResultStatus::Accepted, "{:?}", r[0].reason);
    }

    #[test]
    fn batch_judges_each_event_in_order() {
        let (_d, mut db) = db_with_roster();
        let at = "2026-11-23T08:00:00-06:00";
        let mut wrong_device = ev("e5", "check_in", Some("child_2"), None, at);
        wrong_device["device_id"] = json!("dev_02");
        let batch = vec![
            ev("e1", "check_in", Some("child_1"), None, at),
            ev("e1", "check_in", Some("child_1"), None, at),
            ev("e2", "check_in", Some("child_x"), None, at),
            ev("e3", "staff_clock_in", None, Some("staff_x"), at),
            ev("e4", "check_out", None, None, at),
            wrong_device,
            json!({"event_id": "e6", "type": "nap"}),
            ev("e7", "staff_clock_in", None, Some("staff_1"), at),
        ];
        let r = db.store_batch("dev_01", &batch).unwrap();
        let got: Vec<(ResultStatus, Option<&str>)> =
            r.iter().map(|r| (r.status, r.reason.as_deref())).collect();
        use ResultStatus::*;
        assert_eq!(got[0], (Accepted, None));
        assert_eq!(got[1], (Duplicate, None));
        assert_eq!(got[2], (Rejected, Some("unknown child")));
        assert_eq!(got[3], (Rejected, Some("unknown staff")));
        assert_eq!(got[4], (Rejected, Some("missing child_id")));
        assert_eq!(got[5], (Rejected, Some("unknown device")));
        assert_eq!(got[6].0, Rejected);
        assert!(got[6].1.unwrap().starts_with("malformed event"));
        assert_eq!(got[7], (Accepted, None));
        assert_eq!(db.stored_events().unwrap().len(), 2);
        let again = db.store_batch("dev_01", &batch[..1]).unwrap();
        assert_eq!(again[0].status, Duplicate);
    }

    #[test]
    fn current_folds_todays_events() {
        let (_d, mut db) = db_with_roster();
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00-06:00")
            .unwrap()
            .with_timezone(&Utc);
        let batch = vec![
            ev(
                "a",
                "check_in",
                Some("child_1"),
                None,
                "2026-11-22T09:00:00-06:00",
            ),
            ev(
                "b",
                "check_in",
                Some("child_1"),
                None,
                "2026-11-23T08:00:00-06:00",
            ),
            ev(
                "c",
                "transfer",
                Some("child_1"),
                None,
                "2026-11-23T09:00:00-06:00",
            ),
            ev(
                "d",
                "check_in",
                Some("child_2"),
                None,
                "2026-11-23T08:00:00-06:00",
            ),
            ev(
                "e",
                "check_out",
                Some("child_2"),
                None,
                "2026-11-23T11:00:00-06:00",
            ),
            ev(
                "f",
                "staff_clock_in",
                None,
                Some("staff_1"),
                "2026-11-23T07:00:00-06:00",
            ),
        ];
        db.store_batch("dev_01", &batch).unwrap();
        let cur = db.current(now).unwrap();
        assert_eq!(cur.children.len(), 1);
        assert_eq!(cur.children[0].child_id, "child_1");
        assert_eq!(cur.children[0].room_id.as_deref(), Some("room_b"));
        assert_eq!(
            cur.children[0].since.to_rfc3339(),
            "2026-11-23T09:00:00-06:00"
        );
        assert_eq!(cur.staff.len(), 1);
        assert_eq!(cur.as_of.offset().local_minus_utc(), -6 * 3600);

        // Without a cursor: only today's events; the cursor then covers everything.
        let peer = db.peer_events(None, 500, now).unwrap();
        assert_eq!(peer.events.len(), 5);
        assert_eq!(peer.cursor, "e_6");
        assert!(!peer.more);
        let page = db.peer_events(Some(0), 4, now).unwrap();
        assert_eq!(
            (page.events.len(), page.more, page.cursor.as_str()),
            (4, true, "e_4")
        );
        let rest = db.peer_events(Some(4), 4, now).unwrap();
        assert_eq!(
            (rest.events.len(), rest.more, rest.cursor.as_str()),
            (2, false, "e_6")
        );
        let none = db.peer_events(Some(6), 4, now).unwrap();
        assert_eq!((none.events.len(), none.cursor.as_str()), (0, "e_6"));
        let foreign = db.peer_events(Some(900), 500, now).unwrap();
        assert_eq!((foreign.events.len(), foreign.cursor.as_str()), (5, "e_6"));
    }
}
