//! The store's side of center operations: events in a UTC range (attendance export),
//! auto sign-out decided and committed in one transaction (exactly once per child per
//! day, even with two connections or a restart around that minute), and the last
//! audited ratio state per room (each change audited once, also across restarts).

use std::collections::HashMap;

use chrono::{DateTime, NaiveTime, Utc};
use rusqlite::params;

use crate::api::Event;
use crate::domain::attendance::local_instant;
use crate::domain::autosignout;
use crate::domain::ratios::{self, RatioChange, RatioState, RoomRatio};
use crate::domain::roster::Roster;

use super::{insert_local, ts, Result, Store, StoreError};

fn parse_event(json: &str) -> Result<Event> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        what: "stored event".into(),
        detail: e.to_string(),
    })
}

/// Events with `from <= occurred < to` (no upper bound when `to` is `None`), in time order.
fn events_in(
    conn: &rusqlite::Connection,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare(
        "SELECT json FROM events WHERE occurred_utc >= ?1 AND (?2 IS NULL OR occurred_utc < ?2)
             AND dismissed_at IS NULL
         ORDER BY occurred_utc, event_id",
    )?;
    let rows = stmt.query_map(params![ts(from), to.map(ts)], |r| r.get::<_, String>(0))?;
    rows.map(|row| parse_event(&row?)).collect()
}

fn ratio_states_in(conn: &rusqlite::Connection) -> Result<HashMap<String, RatioState>> {
    let mut stmt = conn.prepare("SELECT room_id, state FROM ratio_state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (room, state) = row?;
        if let Some(s) = RatioState::parse(&state) {
            out.insert(room, s);
        }
    }
    Ok(out)
}

impl Store {
    /// Every stored event (local and peer) with `from <= occurred < to`, in time order.
    pub fn events_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Event>> {
        events_in(self.conn(), from, Some(to))
    }

    /// Auto sign-out, decided and committed atomically: reads the events of yesterday
    /// and today (center time) inside an IMMEDIATE transaction, checks out every child
    /// still in at that day's sign-out time who has no auto sign-out yet (yesterday's
    /// as a catch-up for a kiosk that was off at that time), and commits the events
    /// with their outbox rows. Returns the events recorded (empty when none were due,
    /// e.g. the second call). The ids are derived (center, child, date), so an id already
    /// stored — this door's, or another door's received copy — is never made twice.
    pub fn run_auto_sign_out(
        &mut self,
        roster: &Roster,
        device_id: &str,
        clock_synced: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>> {
        let Some(center) = roster.center.as_ref() else {
            return Ok(Vec::new());
        };
        let today = now.with_timezone(&center.tz).date_naive();
        let yesterday = today.pred_opt().unwrap_or(today);
        let from = local_instant(center.tz, yesterday, NaiveTime::MIN).with_timezone(&Utc);
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let stored = events_in(&tx, from, None)?;
        let mut due = autosignout::due_for_day(roster, &stored, yesterday, now);
        due.extend(autosignout::due_for_day(roster, &stored, today, now));
        let mut events = autosignout::events(&due, roster, device_id, clock_synced);
        let mut known = Vec::with_capacity(events.len());
        for e in &events {
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM events WHERE event_id = ?1",
                [&e.event_id],
                |r| r.get(0),
            )?;
            known.push(n > 0);
        }
        let mut known = known.into_iter();
        events.retain(|_| !known.next().unwrap_or(false));
        insert_local(&tx, &events, now)?;
        tx.commit()?;
        Ok(events)
    }

    /// The last audited state per room.
    pub fn ratio_states(&self) -> Result<HashMap<String, RatioState>> {
        ratio_states_in(self.conn())
    }

    /// Compare the rooms' current ratios with the last audited states; for each room
    /// whose state changed write an audit entry (`ratio_change`, ids and counts only)
    /// and remember the new state, in one transaction. Returns the changes (empty when
    /// nothing changed, e.g. the same ratios again after a restart).
    pub fn record_ratio_changes(
        &mut self,
        current: &[RoomRatio],
        now: DateTime<Utc>,
    ) -> Result<Vec<RatioChange>> {
        let at = ts(now);
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let before = ratio_states_in(&tx)?;
        let changes = ratios::changes_from_states(&before, current);
        for c in &changes {
            tx.execute(
                "INSERT INTO audit (at, kind, detail) VALUES (?1, ?2, ?3)",
                params![at, ratios::AUDIT_KIND, c.audit_detail().to_string()],
            )?;
            tx.execute(
                "INSERT INTO ratio_state (room_id, state, children, staff, since)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (room_id) DO UPDATE SET state = excluded.state,
                     children = excluded.children, staff = excluded.staff, since = excluded.since",
                params![c.room_id, c.to.as_str(), c.children, c.staff, at],
            )?;
        }
        tx.commit()?;
        Ok(changes)
    }
}
