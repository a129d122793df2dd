//! Attendance events on the hub: judging and storing an upload batch (idempotent by
//! `event_id` forever, the device taken from the token), peer events by `e_<seq>` cursor
//! with the arrival time of each, who is present now, and the technician's listing.
//!
//! Days are local days in the center's time zone, and an event belongs to the day of its
//! *effective* time: its `occurred_at`, unless that is more than 5 minutes after the hub
//! received it (a door whose clock runs ahead), then its arrival time, flagged
//! `clock_suspect`. Nothing is rejected for its time alone.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use super::db::HubDb;
use super::error::HubError;
use super::validate;
use cubby_core::api::{
    CurrentResponse, Event, EventResult, EventType, PeerEvent, PeerEventsResponse, PresentChild,
    PresentStaff, ResultStatus,
};

/// Most events returned by one peer-events call (and the default).
pub const MAX_PEER_LIMIT: usize = 500;

/// One stored event, for `cubby hub events`.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub received_at: String,
    pub device_id: String,
    /// When the event counts as having happened (UTC): `occurred_at`, or `received_at` when
    /// the door's clock ran ahead ([`CLOCK_SUSPECT`]).
    pub effective_at: String,
    pub clock_suspect: bool,
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

/// An event whose `occurred_at` is more than this after its arrival at the hub counts as
/// having happened when it arrived (v1.1 point 5): a door's clock never moves presence
/// beyond now.
pub const CLOCK_AHEAD_TOLERANCE_S: i64 = 300;

/// Flag of an event (or a presence) whose time was replaced by the hub's arrival time.
pub const CLOCK_SUSPECT: &str = "clock_suspect";

/// When an event counts as having happened: its own time, or its arrival time when the
/// door's clock was more than [`CLOCK_AHEAD_TOLERANCE_S`] ahead. The flag says which.
pub fn effective_time(occurred: DateTime<Utc>, received: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    if occurred > received + Duration::seconds(CLOCK_AHEAD_TOLERANCE_S) {
        (received, true)
    } else {
        (occurred, false)
    }
}

/// Why a parsed event that carries a contract id and fits the limits is not about
/// something this hub knows, or `None`.
fn roster_problem(db: &HubDb, e: &Event) -> Result<Option<String>, HubError> {
    Ok(match e.kind {
        EventType::CheckIn | EventType::CheckOut | EventType::Transfer => match &e.child_id {
            None => Some("missing child_id".into()),
            Some(id) if !db.child_known(id)? => Some("unknown child".into()),
            Some(_) => None,
        },
        EventType::StaffClockIn | EventType::StaffClockOut => match &e.staff_id {
            None => Some("missing staff_id".into()),
            Some(id) if !db.staff_known(id)? => Some("unknown staff".into()),
            Some(_) => None,
        },
    })
}

fn rejected(event_id: String, reason: impl Into<String>) -> EventResult {
    EventResult {
        event_id,
        status: ResultStatus::Rejected,
        reason: Some(reason.into()),
    }
}

fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Budget of one peer page's JSON (the kiosk reads at most 4 MiB), less room for the
/// envelope (`{"events":[...],"cursor":"e_…","more":true}`).
const PEER_PAGE_BYTES: usize = 4 * 1024 * 1024 - 1024;

/// A stored row bigger than this (only a database written before the field limits can
/// hold one) is left out of peer pages rather than block the feed behind it.
const MAX_STORED_EVENT_JSON: usize = 2 * validate::MAX_EVENT_JSON;

impl HubDb {
    fn stored_event(&self, event_id: &str) -> Result<Option<Event>, HubError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT json FROM events WHERE event_id = ?1",
                [event_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match json {
            Some(j) => Some(serde_json::from_str(&j)?),
            None => None,
        })
    }

    /// Judge and store one upload batch posted with `device_id`'s token, in order; every
    /// accepted event is committed in one transaction before this returns.
    pub fn store_batch(
        &mut self,
        device_id: &str,
        events: &[Value],
    ) -> Result<Vec<EventResult>, HubError> {
        self.store_batch_at(device_id, events, Utc::now())
    }

    /// [`store_batch`](Self::store_batch) with the arrival time given.
    pub fn store_batch_at(
        &mut self,
        device_id: &str,
        events: &[Value],
        received: DateTime<Utc>,
    ) -> Result<Vec<EventResult>, HubError> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let mut results = Vec::with_capacity(events.len());
        let mut in_batch: HashMap<String, Event> = HashMap::new();
        let received_text = received.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for raw in events {
            let event_id = validate::raw_event_id(raw);
            if let Some(reason) =
                validate::event_id_problem(raw).or_else(|| validate::size_problem(raw))
            {
                results.push(rejected(event_id, reason));
                continue;
            }
            let event: Event = match serde_json::from_value(raw.clone()) {
                Ok(e) => e,
                Err(err) => {
                    let reason = format!(
                        "malformed event: {}",
                        validate::clean_text(&err.to_string())
                    );
                    results.push(rejected(event_id, reason));
                    continue;
                }
            };
            if let Some(reason) = validate::field_problem(&event) {
                results.push(rejected(event_id, reason));
                continue;
            }
            // The device comes from the token (v1.1 point 1): a door cannot speak for another,
            // nor for a revoked or former id of its own.
            if event.device_id != device_id {
                results.push(rejected(
                    event_id,
                    format!("device_id is not the device of this token ({device_id})"),
                ));
                continue;
            }
            let earlier = match in_batch.get(&event_id) {
                Some(e) => Some(e.clone()),
                None => self.stored_event(&event_id)?,
            };
            if let Some(earlier) = earlier {
                if validate::same_content(&earlier, &event)
                    || validate::same_auto_sign_out(&earlier, &event)
                {
                    results.push(EventResult {
                        event_id,
                        status: ResultStatus::Duplicate,
                        reason: None,
                    });
                } else {
                    results.push(rejected(event_id, validate::REUSED_ID));
                }
                continue;
            }
            if let Some(reason) = roster_problem(self, &event)? {
                results.push(rejected(event_id, reason));
                continue;
            }
            let occurred = event.occurred_at.with_timezone(&Utc);
            let (effective, _) = effective_time(occurred, received);
            tx.execute(
                "INSERT INTO events (event_id, device_id, type, child_id, staff_id, occurred_at,
                     occurred_utc, json, received_at, effective_utc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    event.event_id,
                    device_id,
                    event.kind.as_str(),
                    event.child_id,
                    event.staff_id,
                    event.occurred_at.to_rfc3339(),
                    occurred.timestamp(),
                    serde_json::to_string(&event)?,
                    received_text,
                    effective.timestamp(),
                ],
            )?;
            in_batch.insert(event_id.clone(), event);
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

    /// Peer events: after `e_<seq>` in hub order, or (without a cursor) those that count as
    /// having happened since the start of the current local day. At most `limit` (≤ 500)
    /// events and 4 MiB of JSON per page.
    pub fn peer_events(
        &self,
        after: Option<i64>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<PeerEventsResponse, HubError> {
        self.peer_events_within(after, limit, now, PEER_PAGE_BYTES)
    }

    /// [`peer_events`](Self::peer_events) with the page's byte budget given.
    pub fn peer_events_within(
        &self,
        after: Option<i64>,
        limit: usize,
        now: DateTime<Utc>,
        max_bytes: usize,
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
                "SELECT seq, json, received_at FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                seq,
            ),
            None => (
                "SELECT seq, json, received_at FROM events WHERE effective_utc >= ?1
                 ORDER BY seq LIMIT ?2",
                local_day_bounds(self.timezone()?, now).0.timestamp(),
            ),
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(params![bound, fetch], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut events = Vec::new();
        let mut used = 0usize;
        let mut last = None;
        let mut more = false;
        for row in rows {
            let (seq, json, received_at) = row?;
            if events.len() == limit {
                more = true;
                break;
            }
            if json.len() > MAX_STORED_EVENT_JSON {
                tracing::warn!(
                    seq,
                    bytes = json.len(),
                    "stored event over the size limit, left out of peer pages"
                );
                last = Some(seq);
                continue;
            }
            let event = match serde_json::from_str::<Event>(&json) {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(seq, %err, "stored event unreadable, skipped");
                    last = Some(seq);
                    continue;
                }
            };
            let peer = PeerEvent {
                event,
                received_at: parse_utc(&received_at).map(|t| t.fixed_offset()),
            };
            let size = serde_json::to_vec(&peer)?.len() + 1;
            if used + size > max_bytes && !events.is_empty() {
                more = true;
                break;
            }
            used += size;
            events.push(peer);
            last = Some(seq);
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

    /// Children and staff present now, from the events that count as today's (center time
    /// zone), each at its effective time (see [`effective_time`]).
    pub fn current(&self, now: DateTime<Utc>) -> Result<CurrentResponse, HubError> {
        let tz = self.timezone()?;
        let (start, end) = local_day_bounds(tz, now);
        let mut stmt = self.conn.prepare(
            "SELECT json, received_at FROM events WHERE effective_utc >= ?1 AND effective_utc < ?2
             ORDER BY effective_utc, seq",
        )?;
        let rows = stmt.query_map([start.timestamp(), end.timestamp()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut children: BTreeMap<String, Option<PresentChild>> = BTreeMap::new();
        let mut staff: BTreeMap<String, Option<PresentStaff>> = BTreeMap::new();
        for row in rows {
            let (json, received_at) = row?;
            let e: Event = match serde_json::from_str(&json) {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(%err, "stored event unreadable, skipped");
                    continue;
                }
            };
            let (since, flags) = match parse_utc(&received_at) {
                Some(received) => {
                    let (at, suspect) = effective_time(e.occurred_at.with_timezone(&Utc), received);
                    if suspect {
                        (
                            at.with_timezone(&tz).fixed_offset(),
                            vec![CLOCK_SUSPECT.to_string()],
                        )
                    } else {
                        (e.occurred_at, Vec::new())
                    }
                }
                None => (e.occurred_at, Vec::new()),
            };
            match (e.kind, e.child_id, e.staff_id) {
                (EventType::CheckIn, Some(c), _) => {
                    let p = PresentChild {
                        child_id: c.clone(),
                        room_id: e.room_id,
                        since,
                        flags,
                    };
                    children.insert(c, Some(p));
                }
                (EventType::Transfer, Some(c), _) => {
                    let p = PresentChild {
                        child_id: c.clone(),
                        room_id: e.to_room_id.or(e.room_id),
                        since,
                        flags,
                    };
                    children.insert(c, Some(p));
                }
                (EventType::CheckOut, Some(c), _) => {
                    children.insert(c, None);
                }
                (EventType::StaffClockIn, _, Some(s)) => {
                    let p = PresentStaff {
                        staff_id: s.clone(),
                        since,
                        flags,
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

    /// Every stored event, in hub order, with its effective time.
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
            let event: Event = serde_json::from_str(&json)?;
            let occurred = event.occurred_at.with_timezone(&Utc);
            let (effective, clock_suspect) = match parse_utc(&received_at) {
                Some(received) => effective_time(occurred, received),
                None => (occurred, false),
            };
            out.push(StoredEvent {
                seq,
                received_at,
                device_id,
                effective_at: effective.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                clock_suspect,
                event,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A contract event id (UUID v7) numbered `n`.
    fn uid(n: u32) -> String {
        format!("0190f3c1-7a2b-7c3d-8e4f-{n:012x}")
    }

    fn ev(n: u32, kind: &str, child: Option<&str>, staff: Option<&str>, at: &str) -> Value {
        json!({"event_id": uid(n), "type": kind, "child_id": child, "staff_id": staff,
               "room_id": "room_a", "to_room_id": if kind == "transfer" { Some("room_b") } else { None },
               "occurred_at": at, "clock_synced": true, "device_id": "dev_01",
               "actor": {"person_id": null, "kind": "staff", "name": "T"},
               "method": "staff_batch", "flags": []})
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
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

    fn statuses(r: &[EventResult]) -> Vec<(ResultStatus, Option<&str>)> {
        r.iter().map(|r| (r.status, r.reason.as_deref())).collect()
    }

    #[test]
    fn day_bounds_follow_the_center_zone() {
        let now = utc("2026-11-23T03:00:00Z");
        let (s, e) = local_day_bounds(chrono_tz::America::Chicago, now);
        // 03:00Z is still 21:00 on the 22nd in Chicago (UTC-6).
        assert_eq!(s.to_rfc3339(), "2026-11-22T06:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2026-11-23T06:00:00+00:00");
        // A 23-hour day (spring forward).
        let (s, e) = local_day_bounds(chrono_tz::America::Chicago, utc("2026-03-08T18:00:00Z"));
        assert_eq!((e - s).num_hours(), 23);
    }

    #[test]
    fn an_event_must_carry_the_device_of_its_token() {
        let (_d, mut db) = db_with_roster();
        let code = db.create_enroll_code().unwrap();
        let a = db.enroll(&code, "Front door", "0.1.0").unwrap();
        let code = db.create_enroll_code().unwrap();
        let b = db.enroll(&code, "Side door", "0.1.0").unwrap();
        db.revoke(&b.device_id).unwrap();
        let at = "2026-11-23T08:00:00-06:00";
        let claim = |n: u32, device: &str| {
            let mut e = ev(n, "check_in", Some("child_1"), None, at);
            e["device_id"] = json!(device);
            e
        };
        let batch = [
            claim(1, &b.device_id),
            claim(2, "dev_99"),
            claim(3, &a.device_id),
        ];
        let r = db.store_batch(&a.device_id, &batch).unwrap();
        let mismatch = format!(
            "device_id is not the device of this token ({})",
            a.device_id
        );
        assert_eq!(
            statuses(&r),
            vec![
                (ResultStatus::Rejected, Some(mismatch.as_str())),
                (ResultStatus::Rejected, Some(mismatch.as_str())),
                (ResultStatus::Accepted, None),
            ]
        );
        let stored = db.stored_events().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].event.device_id, a.device_id);
    }

    #[test]
    fn two_doors_auto_sign_out_is_kept_once() {
        let (_d, mut db) = db_with_roster();
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let id = cubby_core::domain::autosignout::derived_event_id("c", "child_1", date);
        let sign_out = |device: &str, flags: Value| {
            json!({"event_id": id, "type": "check_out", "child_id": "child_1",
                   "room_id": "room_a", "occurred_at": "2026-11-23T18:00:00-06:00",
                   "clock_synced": true, "device_id": device,
                   "actor": {"person_id": null, "kind": "system", "name": "Auto sign-out"},
                   "method": "auto_sign_out", "flags": flags})
        };
        let front = [sign_out("dev_01", json!(["auto"]))];
        let side = [sign_out("dev_02", json!(["auto", "clock_unsynced"]))];
        assert_eq!(
            statuses(&db.store_batch("dev_01", &front).unwrap()),
            [(ResultStatus::Accepted, None)]
        );
        assert_eq!(
            statuses(&db.store_batch("dev_02", &side).unwrap()),
            [(ResultStatus::Duplicate, None)]
        );
        let stored = db.stored_events().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].event.device_id, "dev_01");
        // Not a sign-out of the same child at the same instant: still a reused id.
        let mut other = sign_out("dev_02", json!(["auto"]));
        other["occurred_at"] = json!("2026-11-23T18:05:00-06:00");
        assert_eq!(
            statuses(&db.store_batch("dev_02", &[other]).unwrap()),
            [(ResultStatus::Rejected, Some(validate::REUSED_ID))]
        );
        // A v7 id reused by another door with other content stays refused.
        let mut v7 = ev(
            1,
            "check_in",
            Some("child_1"),
            None,
            "2026-11-23T08:00:00-06:00",
        );
        db.store_batch("dev_01", std::slice::from_ref(&v7)).unwrap();
        v7["device_id"] = json!("dev_02");
        assert_eq!(
            statuses(&db.store_batch("dev_02", &[v7]).unwrap()),
            [(ResultStatus::Rejected, Some(validate::REUSED_ID))]
        );
    }

    #[test]
    fn batch_judges_each_event_in_order() {
        let (_d, mut db) = db_with_roster();
        let at = "2026-11-23T08:00:00-06:00";
        let batch = vec![
            ev(1, "check_in", Some("child_1"), None, at),
            ev(1, "check_in", Some("child_1"), None, at),
            ev(2, "check_in", Some("child_x"), None, at),
            ev(3, "staff_clock_in", None, Some("staff_x"), at),
            ev(4, "check_out", None, None, at),
            json!({"event_id": uid(6), "type": "nap"}),
            ev(7, "staff_clock_in", None, Some("staff_1"), at),
            json!({"type": "check_in"}),
        ];
        let r = db.store_batch("dev_01", &batch).unwrap();
        let got = statuses(&r);
        use ResultStatus::*;
        assert_eq!(got[0], (Accepted, None));
        assert_eq!(got[1], (Duplicate, None));
        assert_eq!(got[2], (Rejected, Some("unknown child")));
        assert_eq!(got[3], (Rejected, Some("unknown staff")));
        assert_eq!(got[4], (Rejected, Some("missing child_id")));
        assert_eq!(got[5].0, Rejected);
        assert!(got[5].1.unwrap().starts_with("malformed event"));
        assert_eq!(got[6], (Accepted, None));
        assert_eq!(got[7], (Rejected, Some("missing event_id")));
        assert_eq!(db.stored_events().unwrap().len(), 2);
        let again = db.store_batch("dev_01", &batch[..1]).unwrap();
        assert_eq!(again[0].status, Duplicate);
    }

    #[test]
    fn event_ids_are_exact_and_a_reused_id_with_other_content_is_refused() {
        let (_d, mut db) = db_with_roster();
        let at = "2026-11-23T08:00:00-06:00";
        let first = ev(1, "check_in", Some("child_1"), None, at);
        assert_eq!(
            db.store_batch("dev_01", std::slice::from_ref(&first))
                .unwrap()[0]
                .status,
            ResultStatus::Accepted
        );
        // The same fact resent: key order, an unknown field and another spelling of the
        // same instant are not content.
        let mut resent = ev(1, "check_in", Some("child_1"), None, "2026-11-23T14:00:00Z");
        resent["added_by_a_newer_kiosk"] = json!(true);
        // An upper-case copy, another version, a non-UUID.
        let mut upper = first.clone();
        upper["event_id"] = json!(uid(1).to_uppercase());
        let mut v4 = first.clone();
        v4["event_id"] = json!("0190f3c1-7a2b-4c3d-8e4f-000000000001");
        let mut plain = first.clone();
        plain["event_id"] = json!("e1");
        // Same id, other content (another child; another time).
        let other_child = ev(1, "check_in", Some("child_2"), None, at);
        let other_time = ev(
            1,
            "check_in",
            Some("child_1"),
            None,
            "2026-11-23T08:00:01-06:00",
        );
        // Inside one batch: a new id, then that id again with other content.
        let new = ev(2, "check_in", Some("child_2"), None, at);
        let clash = ev(2, "check_out", Some("child_2"), None, at);
        let batch = [
            resent,
            upper,
            v4,
            plain,
            other_child,
            other_time,
            new,
            clash,
        ];
        let r = db.store_batch("dev_01", &batch).unwrap();
        let got = statuses(&r);
        use ResultStatus::*;
        assert_eq!(got[0], (Duplicate, None));
        for (i, g) in got.iter().enumerate().take(4).skip(1) {
            assert_eq!(g.0, Rejected, "{i}");
            assert!(g.1.unwrap().contains("UUID"), "{i}: {:?}", g.1);
        }
        assert!(got[1].1.unwrap().contains("lower-case"));
        assert_eq!(got[4], (Rejected, Some(validate::REUSED_ID)));
        assert_eq!(got[5], (Rejected, Some(validate::REUSED_ID)));
        assert_eq!(got[6], (Accepted, None));
        assert_eq!(got[7], (Rejected, Some(validate::REUSED_ID)));
        let stored = db.stored_events().unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1].event.kind, EventType::CheckIn);
        // A derived (version 8) id is a contract id too.
        let mut derived = ev(3, "check_out", Some("child_1"), None, at);
        derived["event_id"] = json!("5b1c2d3e-4f50-8a6b-9c7d-8e9fa0b1c2d3");
        assert_eq!(
            db.store_batch("dev_01", &[derived]).unwrap()[0].status,
            Accepted
        );
    }

    #[test]
    fn fields_over_the_limits_are_rejected() {
        let (_d, mut db) = db_with_roster();
        let at = "2026-11-23T08:00:00-06:00";
        let base = |n| ev(n, "check_in", Some("child_1"), None, at);
        let with = |n, path: &[&str], v: Value| {
            let mut e = base(n);
            let mut slot = &mut e;
            for p in path {
                slot = &mut slot[*p];
            }
            *slot = v;
            e
        };
        let batch = vec![
            with(1, &["actor", "name"], json!("é".repeat(200))),
            with(2, &["actor", "name"], json!("n".repeat(201))),
            with(3, &["room_id"], json!("r".repeat(101))),
            with(4, &["actor", "person_id"], json!("p".repeat(101))),
            with(5, &["flags"], json!(vec!["f"; 17])),
            with(6, &["flags"], json!(["x".repeat(41)])),
            with(7, &["room_id"], json!("room\u{1b}[2J")),
            with(8, &["padding"], json!("z".repeat(9000))),
            with(9, &["flags"], json!(vec!["late_pickup"; 16])),
        ];
        let r = db.store_batch("dev_01", &batch).unwrap();
        let got = statuses(&r);
        use ResultStatus::*;
        assert_eq!(got[0], (Accepted, None));
        assert_eq!(
            got[1],
            (Rejected, Some("actor.name is longer than 200 characters"))
        );
        assert_eq!(
            got[2],
            (Rejected, Some("room_id is longer than 100 characters"))
        );
        assert_eq!(
            got[3],
            (
                Rejected,
                Some("actor.person_id is longer than 100 characters")
            )
        );
        assert_eq!(got[4], (Rejected, Some("more than 16 flags")));
        assert_eq!(
            got[5],
            (Rejected, Some("a flag is longer than 40 characters"))
        );
        assert_eq!(
            got[6],
            (Rejected, Some("room_id contains control characters"))
        );
        assert_eq!(
            got[7],
            (Rejected, Some("event is larger than 8192 bytes of JSON"))
        );
        assert_eq!(got[8], (Accepted, None));
    }

    #[test]
    fn peer_pages_are_cut_by_size_and_skip_oversized_rows() {
        let (_d, mut db) = db_with_roster();
        let now = utc("2026-11-23T12:00:00-06:00");
        let at = "2026-11-23T08:00:00-06:00";
        let batch: Vec<Value> = (1..=10)
            .map(|n| {
                let mut e = ev(n, "check_in", Some("child_1"), None, at);
                e["actor"]["name"] = json!("n".repeat(200));
                e
            })
            .collect();
        db.store_batch_at("dev_01", &batch, now).unwrap();
        // A row written before the limits existed, with a 5 MB name, at seq 11.
        let mut huge = ev(11, "check_in", Some("child_1"), None, at);
        huge["actor"]["name"] = json!("n".repeat(5_000_000));
        db.conn
            .execute(
                "INSERT INTO events (event_id, device_id, type, child_id, occurred_at, occurred_utc,
                     json, received_at, effective_utc)
                 VALUES (?1, 'dev_01', 'check_in', 'child_1', ?2, 0, ?3, '2026-11-23T18:00:00Z', 0)",
                params![uid(11), at, huge.to_string()],
            )
            .unwrap();
        db.store_batch_at(
            "dev_01",
            &[ev(12, "check_out", Some("child_1"), None, at)],
            now,
        )
        .unwrap();

        let one = serde_json::to_vec(&db.peer_events(Some(0), 1, now).unwrap().events[0])
            .unwrap()
            .len();
        // A budget of three and a half events: pages of three.
        let budget = one * 7 / 2;
        let mut cursor = Some(0);
        let mut seen = 0;
        let mut pages = 0;
        loop {
            let page = db.peer_events_within(cursor, 500, now, budget).unwrap();
            let bytes = serde_json::to_vec(&page.events).unwrap().len();
            assert!(bytes <= budget, "{bytes} > {budget}");
            seen += page.events.len();
            pages += 1;
            cursor = page.cursor.strip_prefix("e_").and_then(|c| c.parse().ok());
            if !page.more {
                break;
            }
            assert!(pages < 20);
        }
        assert_eq!(seen, 11, "the oversized legacy row is left out");
        assert_eq!(pages, 4);
        assert_eq!(cursor, Some(12));
        // The real budget: every page of the real feed stays under 4 MiB.
        let page = db.peer_events(Some(0), 500, now).unwrap();
        assert_eq!(page.events.len(), 11);
        assert!(serde_json::to_vec(&page).unwrap().len() <= 4 * 1024 * 1024);
        assert!(page.events.iter().all(|e| e.received_at.is_some()));
    }

    #[test]
    fn a_door_clock_ahead_counts_at_arrival_and_is_flagged() {
        let (_d, mut db) = db_with_roster();
        let now = utc("2026-11-23T12:00:00-06:00");
        let batch = vec![
            // child_1: a check-in dated 9999 arrives now.
            ev(
                1,
                "check_in",
                Some("child_1"),
                None,
                "9999-12-31T08:00:00-06:00",
            ),
            // child_2: checked in this morning, then a check-out dated 9999.
            ev(
                2,
                "check_in",
                Some("child_2"),
                None,
                "2026-11-23T08:00:00-06:00",
            ),
            ev(
                3,
                "check_out",
                Some("child_2"),
                None,
                "9999-01-01T00:00:00-06:00",
            ),
            // staff_1: a clock 4 minutes ahead is within tolerance.
            ev(
                4,
                "staff_clock_in",
                None,
                Some("staff_1"),
                "2026-11-23T12:04:00-06:00",
            ),
        ];
        let r = db.store_batch_at("dev_01", &batch, now).unwrap();
        assert!(
            r.iter().all(|r| r.status == ResultStatus::Accepted),
            "{r:?}"
        );
        let cur = db.current(now).unwrap();
        let kids: Vec<_> = cur.children.iter().map(|c| c.child_id.as_str()).collect();
        assert_eq!(kids, vec!["child_1"]);
        assert_eq!(cur.children[0].since, now.fixed_offset());
        assert_eq!(cur.children[0].flags, vec![CLOCK_SUSPECT]);
        assert_eq!(cur.staff.len(), 1);
        assert_eq!(cur.staff[0].since.to_rfc3339(), "2026-11-23T12:04:00-06:00");
        assert!(cur.staff[0].flags.is_empty());
        // The next day nobody is in: the 9999 check-in belongs to the day it arrived.
        let tomorrow = db.current(now + Duration::days(1)).unwrap();
        assert!(tomorrow.children.is_empty() && tomorrow.staff.is_empty());
        // The technician's listing and the peer feed say when each event arrived.
        let stored = db.stored_events().unwrap();
        assert!(stored[0].clock_suspect && !stored[3].clock_suspect);
        assert_eq!(stored[0].effective_at, "2026-11-23T18:00:00Z");
        let feed = db.peer_events(None, 500, now).unwrap();
        assert_eq!(feed.events.len(), 4);
        assert_eq!(feed.events[0].received_at, Some(now.fixed_offset()));
    }

    #[test]
    fn current_folds_todays_events() {
        let (_d, mut db) = db_with_roster();
        let now = utc("2026-11-23T12:00:00-06:00");
        let batch = vec![
            ev(
                1,
                "check_in",
                Some("child_1"),
                None,
                "2026-11-22T09:00:00-06:00",
            ),
            ev(
                2,
                "check_in",
                Some("child_1"),
                None,
                "2026-11-23T08:00:00-06:00",
            ),
            ev(
                3,
                "transfer",
                Some("child_1"),
                None,
                "2026-11-23T09:00:00-06:00",
            ),
            ev(
                4,
                "check_in",
                Some("child_2"),
                None,
                "2026-11-23T08:00:00-06:00",
            ),
            ev(
                5,
                "check_out",
                Some("child_2"),
                None,
                "2026-11-23T11:00:00-06:00",
            ),
            ev(
                6,
                "staff_clock_in",
                None,
                Some("staff_1"),
                "2026-11-23T07:00:00-06:00",
            ),
        ];
        db.store_batch_at("dev_01", &batch, now).unwrap();
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
