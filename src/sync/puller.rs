//! Pulling from the hub: the roster (full, then `since` the cursor) and the events other
//! kiosks recorded. Each pull is one function doing fetch → pure step → one store
//! transaction; the loops around them live in `runtime`.
//!
//! Schedule (domain-rules): a sync at start, full syncs at 03:00, 09:00, 15:00 and 23:00
//! center time, incremental ones in between; manual syncs at most once per
//! `manual_sync_min_interval_s`.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::eligibility::{evaluate, Evaluation};
use crate::domain::report::{build_report, SyncReport};
use crate::domain::source::{RosterError, SourceRoster};
use crate::store::{keys, Store, StoreError};

use super::client::{HubClient, SyncError};

/// The four daily full syncs, center time.
pub const FULL_SYNC_TIMES: [(u32, u32); 4] = [(3, 0), (9, 0), (15, 0), (23, 0)];

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Hub(#[from] SyncError),
    #[error("the hub's roster was refused, the previous roster stays in use: {0}")]
    Invalid(#[from] RosterError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Today's date at the center, or UTC's when the center is not known yet.
pub fn center_today(source: &SourceRoster, now: DateTime<Utc>) -> chrono::NaiveDate {
    match source
        .center
        .as_ref()
        .and_then(|c| c.timezone.parse::<Tz>().ok())
    {
        Some(tz) => now.with_timezone(&tz).date_naive(),
        None => now.date_naive(),
    }
}

/// The door's roster from what the store holds (re-evaluated for today's date).
pub fn load_roster(store: &Store, now: DateTime<Utc>) -> Result<Option<Evaluation>, PullError> {
    match store.roster_source()? {
        None => Ok(None),
        Some((src, _)) => Ok(Some(evaluate(&src, center_today(&src, now))?)),
    }
}

/// One roster sync: incremental from the stored cursor unless `full` (or nothing is
/// cached). A roster that fails validation changes nothing and is remembered as the
/// last sync error (shown to staff).
pub async fn sync_roster(
    client: &HubClient,
    store: &mut Store,
    full: bool,
    now: DateTime<Utc>,
) -> Result<SyncReport, PullError> {
    let cached = store.roster_source()?;
    let since = match (&cached, full) {
        (Some((_, cursor)), false) => Some(cursor.clone()),
        _ => None,
    };
    let resp = match client.roster(since.as_deref()).await {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, SyncError::Malformed(_)) {
                store.set_meta(keys::LAST_SYNC_ERROR, &e.to_string())?;
            }
            return Err(e.into());
        }
    };
    let base = cached.map(|(src, _)| src).unwrap_or_default();
    let merged = base.merged(&resp);
    let eval = match evaluate(&merged, center_today(&merged, now)) {
        Ok(e) => e,
        Err(e) => {
            let err = PullError::Invalid(e);
            store.set_meta(keys::LAST_SYNC_ERROR, &err.to_string())?;
            return Err(err);
        }
    };
    let prev = store.record_states()?;
    let report = build_report(
        now,
        &resp.cursor,
        resp.full,
        &prev,
        &eval.verdicts,
        &eval.notes,
    );
    store.replace_roster(&merged, &eval.verdicts, &report)?;
    Ok(report)
}

/// Fetch other kiosks' events until the hub says there are no more. Returns how many
/// were new to this kiosk.
pub async fn pull_peer_events(
    client: &HubClient,
    store: &mut Store,
    now: DateTime<Utc>,
) -> Result<usize, PullError> {
    let mut added = 0;
    // Bounded: a kiosk back from a week offline catches up over several polls.
    for _ in 0..20 {
        let cursor = store.meta(keys::PEER_CURSOR)?;
        let page = client.peer_events(cursor.as_deref(), 500).await?;
        let events: Vec<_> = page.events.iter().map(|p| p.event.clone()).collect();
        added += store.merge_peer_events(&events, &page.cursor, now)?;
        if !page.more || page.events.is_empty() {
            break;
        }
    }
    Ok(added)
}

/// When the next scheduled full sync is due, strictly after `now`.
pub fn next_full_sync(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local_today = now.with_timezone(&tz).date_naive();
    for day in 0..3 {
        let date = local_today + Duration::days(day);
        for (h, m) in FULL_SYNC_TIMES {
            let Some(t) = NaiveTime::from_hms_opt(h, m, 0) else {
                continue;
            };
            // A local time skipped by a DST change has no instant: skip it.
            if let Some(at) = tz.from_local_datetime(&date.and_time(t)).earliest() {
                let at = at.with_timezone(&Utc);
                if at > now {
                    return at;
                }
            }
        }
    }
    now + Duration::hours(6)
}

/// When staff may next ask for a manual sync; `None` means now.
pub fn next_manual_sync(
    last_manual: Option<DateTime<Utc>>,
    min_interval_s: u64,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let next = last_manual? + Duration::seconds(min_interval_s.min(i64::MAX as u64) as i64);
    (next > now).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Chicago;

    fn chicago(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Chicago
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn next_full_sync_is_the_next_of_the_four_daily_times() {
        assert_eq!(
            next_full_sync(chicago(2026, 11, 23, 8, 30), Chicago),
            chicago(2026, 11, 23, 9, 0)
        );
        assert_eq!(
            next_full_sync(chicago(2026, 11, 23, 9, 0), Chicago),
            chicago(2026, 11, 23, 15, 0)
        );
        assert_eq!(
            next_full_sync(chicago(2026, 11, 23, 23, 30), Chicago),
            chicago(2026, 11, 24, 3, 0)
        );
    }

    #[test]
    fn next_full_sync_across_dst_change() {
        // 2026-03-08: clocks jump 02:00 → 03:00 in Chicago; 03:00 CDT exists.
        let at = next_full_sync(chicago(2026, 3, 8, 1, 30), Chicago);
        assert_eq!(at, chicago(2026, 3, 8, 3, 0));
        assert_eq!(at.to_rfc3339(), "2026-03-08T08:00:00+00:00");
    }

    #[test]
    fn manual_sync_rate_limit() {
        let now = chicago(2026, 11, 23, 10, 0);
        assert_eq!(next_manual_sync(None, 3600, now), None);
        let last = now - Duration::minutes(20);
        assert_eq!(
            next_manual_sync(Some(last), 3600, now),
            Some(last + Duration::hours(1))
        );
        assert_eq!(
            next_manual_sync(Some(now - Duration::hours(2)), 3600, now),
            None
        );
    }
}
