//! The outbox: local events waiting for the hub's `accepted`/`duplicate`, oldest first,
//! and parked ones (`rejected`) kept visible until staff retry or dismiss them.

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::api::{Event, ResultStatus};
use crate::sync::OutboxPort;

use super::{keys, ts, Result, Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Events waiting to be sent (not parked).
    pub depth: u64,
    pub oldest_pending_at: Option<DateTime<FixedOffset>>,
    pub parked: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParkedEvent {
    pub event_id: String,
    pub reason: String,
    pub parked_at: String,
    pub event: Event,
}

fn parse_event(json: &str) -> Result<Event> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        what: "stored event".into(),
        detail: e.to_string(),
    })
}

impl Store {
    pub fn queue_stats(&self) -> Result<QueueStats> {
        let (depth, parked): (i64, i64) = self.conn().query_row(
            "SELECT COUNT(*) FILTER (WHERE parked_reason IS NULL),
                    COUNT(*) FILTER (WHERE parked_reason IS NOT NULL) FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let oldest: Option<String> = self
            .conn()
            .query_row(
                "SELECT e.json FROM outbox o JOIN events e ON e.seq = o.seq
                 WHERE o.parked_reason IS NULL ORDER BY o.seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let oldest_pending_at = match oldest {
            Some(json) => Some(parse_event(&json)?.occurred_at),
            None => None,
        };
        Ok(QueueStats {
            depth: depth as u64,
            oldest_pending_at,
            parked: parked as u64,
        })
    }

    pub fn parked_events(&self) -> Result<Vec<ParkedEvent>> {
        let mut stmt = self.conn().prepare(
            "SELECT o.event_id, o.parked_reason, o.parked_at, e.json
             FROM outbox o JOIN events e ON e.seq = o.seq
             WHERE o.parked_reason IS NOT NULL ORDER BY o.seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (event_id, reason, parked_at, json) = row?;
            out.push(ParkedEvent {
                event_id,
                reason,
                parked_at: parked_at.unwrap_or_default(),
                event: parse_event(&json)?,
            });
        }
        Ok(out)
    }

    /// Staff: send a parked event again. Returns false when no such parked event.
    pub fn retry_parked(&self, event_id: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE outbox SET parked_reason = NULL, parked_at = NULL
             WHERE event_id = ?1 AND parked_reason IS NOT NULL",
            [event_id],
        )?;
        Ok(n == 1)
    }

    /// Staff: stop trying to send a parked event. The event stays in the local history,
    /// marked dismissed (the audit log says who), and no longer counts anywhere: not in
    /// presence, ratios, the roll call, the auto sign-out nor the export. Its outbox row
    /// goes in the same transaction.
    pub fn dismiss_parked(&mut self, event_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM outbox WHERE event_id = ?1 AND parked_reason IS NOT NULL",
            [event_id],
        )?;
        if n == 1 {
            tx.execute(
                "UPDATE events SET dismissed_at = ?2 WHERE event_id = ?1",
                params![event_id, ts(now)],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    pub fn unauthorized(&self) -> Result<bool> {
        Ok(self.meta(keys::UNAUTHORIZED)?.as_deref() == Some("1"))
    }
}

impl OutboxPort for Store {
    fn pending_batch(&mut self, max: usize) -> anyhow::Result<Vec<Event>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT e.json FROM outbox o JOIN events e ON e.seq = o.seq
             WHERE o.parked_reason IS NULL ORDER BY o.seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([max as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(parse_event(&row?)?);
        }
        Ok(out)
    }

    fn settle(&mut self, results: &[(String, ResultStatus, Option<String>)]) -> anyhow::Result<()> {
        let now = ts(Utc::now());
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (event_id, status, reason) in results {
            match status {
                ResultStatus::Accepted | ResultStatus::Duplicate => {
                    tx.prepare_cached("DELETE FROM outbox WHERE event_id = ?1")?
                        .execute([event_id])?;
                }
                ResultStatus::Rejected => {
                    let reason = reason.as_deref().unwrap_or("rejected by the hub");
                    tx.prepare_cached(
                        "UPDATE outbox SET parked_reason = ?2, parked_at = ?3 WHERE event_id = ?1",
                    )?
                    .execute(params![event_id, reason, now])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn park(&mut self, event_id: &str, reason: &str) -> anyhow::Result<()> {
        self.conn().execute(
            "UPDATE outbox SET parked_reason = ?2, parked_at = ?3 WHERE event_id = ?1",
            params![event_id, reason, ts(Utc::now())],
        )?;
        Ok(())
    }

    fn note_failure(&mut self, event_ids: &[String], error: &str) -> anyhow::Result<()> {
        let now = ts(Utc::now());
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for id in event_ids {
            tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, last_attempt_at = ?3
                 WHERE event_id = ?1",
            )?
            .execute(params![id, error, now])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn set_unauthorized(&mut self, unauthorized: bool) -> anyhow::Result<()> {
        if unauthorized {
            self.set_meta(keys::UNAUTHORIZED, "1")?;
        } else {
            self.delete_meta(keys::UNAUTHORIZED)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EventType;

    fn ev(id: &str, minute: u32) -> Event {
        let at = format!("2026-11-23T08:{minute:02}:00-06:00");
        crate::domain::testdata::event(id, EventType::CheckIn, "child_a", &at)
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kiosk.sqlite")).unwrap();
        (dir, s)
    }

    #[test]
    fn recorded_events_are_pending_oldest_first_and_survive_reopen() {
        let (_d, mut s) = store();
        s.record_local(&[ev("a", 1), ev("b", 2)], Utc::now())
            .unwrap();
        s.record_local(&[ev("c", 3)], Utc::now()).unwrap();
        let s2 = s.reopen().unwrap();
        let mut s2 = s2;
        let ids: Vec<String> = s2
            .pending_batch(2)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
        assert_eq!(s2.queue_stats().unwrap().depth, 3);
    }

    #[test]
    fn duplicate_local_event_id_is_refused_and_nothing_of_the_batch_is_kept() {
        let (_d, mut s) = store();
        s.record_local(&[ev("a", 1)], Utc::now()).unwrap();
        assert!(s
            .record_local(&[ev("b", 2), ev("a", 3)], Utc::now())
            .is_err());
        assert_eq!(
            s.event_count().unwrap(),
            1,
            "the failed transaction left nothing"
        );
    }

    #[test]
    fn settle_deletes_accepted_and_duplicate_and_parks_rejected() {
        let (_d, mut s) = store();
        s.record_local(&[ev("a", 1), ev("b", 2), ev("c", 3)], Utc::now())
            .unwrap();
        s.settle(&[
            ("a".into(), ResultStatus::Accepted, None),
            (
                "b".into(),
                ResultStatus::Rejected,
                Some("unknown child".into()),
            ),
            ("c".into(), ResultStatus::Duplicate, None),
        ])
        .unwrap();
        let stats = s.queue_stats().unwrap();
        assert_eq!((stats.depth, stats.parked), (0, 1));
        let parked = s.parked_events().unwrap();
        assert_eq!(parked[0].reason, "unknown child");
        assert!(
            s.pending_batch(10).unwrap().is_empty(),
            "parked is not pending"
        );
        assert!(s.retry_parked("b").unwrap());
        assert_eq!(s.pending_batch(10).unwrap().len(), 1);
        s.park("b", "still bad").unwrap();
        assert!(s.dismiss_parked("b", Utc::now()).unwrap());
        assert!(!s.dismiss_parked("b", Utc::now()).unwrap(), "only once");
        assert!(
            !s.dismiss_parked("a", Utc::now()).unwrap(),
            "only parked ones"
        );
        assert_eq!(s.queue_stats().unwrap(), QueueStats::default());
        assert_eq!(s.event_count().unwrap(), 3, "history keeps every event");
        // A dismissed event no longer counts; the others do.
        let counted: Vec<String> = s
            .events_since(DateTime::<Utc>::MIN_UTC)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(counted, ["a", "c"]);
    }

    #[test]
    fn peer_events_merge_idempotently() {
        let (_d, mut s) = store();
        s.record_local(&[ev("a", 1)], Utc::now()).unwrap();
        let added = s
            .merge_peer_events(&[ev("a", 1), ev("p", 5)], "e_2", Utc::now())
            .unwrap();
        assert_eq!(added, 1);
        assert_eq!(s.meta(keys::PEER_CURSOR).unwrap().as_deref(), Some("e_2"));
        assert_eq!(
            s.queue_stats().unwrap().depth,
            1,
            "peer events are never uploaded"
        );
        let since = DateTime::parse_from_rfc3339("2026-11-23T08:02:00-06:00").unwrap();
        let got = s.events_since(since.with_timezone(&Utc)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event_id, "p");
    }

    /// This door's clock was years ahead when it recorded a check-in and a check-out;
    /// NTP then set it right. Once pinned, those events count from the moment the clock
    /// was trusted again, on that day only, and the outbox still sends them unchanged.
    #[test]
    fn own_events_dated_in_the_future_count_from_when_the_clock_was_set_right() {
        use crate::api::EventType;
        let (_d, mut s) = store();
        let mut inn = ev("in", 1);
        inn.occurred_at = DateTime::parse_from_rfc3339("2031-05-01T08:00:00-06:00").unwrap();
        let mut out = ev("out", 2);
        out.kind = EventType::CheckOut;
        out.occurred_at = DateTime::parse_from_rfc3339("2031-05-01T16:00:00-06:00").unwrap();
        let mut today_in = ev("today", 3);
        today_in.child_id = Some("child_b".into());
        s.record_local(&[inn.clone(), out.clone(), today_in], Utc::now())
            .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = DateTime::parse_from_rfc3339("2026-11-23T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next_day = day + chrono::Duration::days(1);
        // Before: the future events show on every day from now to 2031.
        assert_eq!(s.events_since(next_day).unwrap().len(), 2);

        assert_eq!(s.pin_future_events(now).unwrap(), 2);
        let got = s.events_since(day).unwrap();
        assert_eq!(got.len(), 3);
        for e in got.iter().filter(|e| e.event_id != "today") {
            assert_eq!(e.occurred_at.with_timezone(&Utc), now, "{}", e.event_id);
            assert!(e.flags.contains(&"clock_suspect".to_string()));
        }
        assert!(s.events_since(next_day).unwrap().is_empty(), "one day only");
        assert_eq!(s.pin_future_events(now).unwrap(), 0, "pinned once");
        // What goes to the hub is what the door recorded (same id, same content).
        let sent = s.pending_batch(10).unwrap();
        assert_eq!(sent[0], inn);
        assert_eq!(sent[1], out);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite");
        {
            let s = Store::open(&path).unwrap();
            s.conn().pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
