//! Pulling from the hub: the roster (full, then `since` the cursor) and the events other
//! kiosks recorded. Each pull is one function doing fetch → pure step → one store
//! transaction; the loops around them live in `runtime`.
//!
//! Schedule (domain-rules): a sync at start, full syncs at 03:00, 09:00, 15:00 and 23:00
//! center time, incremental ones in between; manual syncs at most once per
//! `manual_sync_min_interval_s`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::api::{Center, RosterResponse};
use crate::domain::eligibility::{evaluate, Evaluation, Evaluator, Kind, Touched, Verdict};
use crate::domain::presence::counted_at;
use crate::domain::report::{build_report, PrevState, SyncReport};
use crate::domain::roster::{Roster, RosterPatch};
use crate::domain::source::{check_answer, Replaced, RosterError, SourceRoster};
use crate::store::{keys, StateChange, Store, StoreError};

use super::client::{HubClient, SyncError};
use super::health::Failure;
use crate::kiosk::Trouble;

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

impl PullError {
    /// For a log line: the hub's codes, not its prose ([`SyncError::log_text`]).
    pub fn log_text(&self) -> String {
        match self {
            PullError::Hub(e) => e.log_text(),
            other => other.to_string(),
        }
    }

    /// What the door's screens say of it.
    pub fn trouble(&self) -> Trouble {
        match self {
            PullError::Hub(e) => e.trouble(),
            PullError::Invalid(_) => Trouble::RosterRefused,
            PullError::Store(_) => Trouble::Disk,
        }
    }

    /// For the loop's health.
    pub fn failure(&self) -> Failure {
        Failure {
            trouble: self.trouble(),
            shown: self.to_string(),
            logged: self.log_text(),
        }
    }
}

/// Note why this roster sync failed, for `cubby status` (the text) and the sync screen
/// (the trouble); a successful sync clears both.
fn note_failure(store: &Store, err: &PullError) -> Result<(), StoreError> {
    store.set_meta(keys::LAST_SYNC_ERROR, &err.to_string())?;
    let trouble = serde_json::to_string(&err.trouble()).unwrap_or_default();
    store.set_meta(keys::LAST_SYNC_TROUBLE, &trouble)
}

/// Today's date at the center, or UTC's when the center is not known yet.
pub fn center_today(source: &SourceRoster, now: DateTime<Utc>) -> chrono::NaiveDate {
    center_day(source.center.as_ref(), now)
}

/// Today's date at `center`, or UTC's when there is none or its time zone is unknown.
fn center_day(center: Option<&Center>, now: DateTime<Utc>) -> chrono::NaiveDate {
    match center.and_then(|c| c.timezone.parse::<Tz>().ok()) {
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
    Ok(sync_roster_applied(client, store, full, now).await?.report)
}

/// What applying a roster answer did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub report: SyncReport,
    /// The door's roster must be loaded again: the cache was evaluated anew, or the
    /// answer brought QR keys. False when the answer changed nothing.
    pub reload: bool,
    /// The door's roster as this sync evaluated it, when it did: the door takes it
    /// instead of reading the store again.
    pub roster: Option<RosterUpdate>,
}

/// How a sync hands the door its roster: whole when everything was evaluated again, or
/// as the entries a few changed records touched, to set on the roster the door holds.
#[derive(Debug, Clone, PartialEq)]
pub enum RosterUpdate {
    Whole(Box<Roster>),
    Patch(RosterPatch),
}

impl RosterUpdate {
    /// Bring `roster` (the one the door held before this sync) up to date.
    pub fn apply_to(self, roster: &mut Roster) {
        match self {
            RosterUpdate::Whole(whole) => *roster = *whole,
            RosterUpdate::Patch(patch) => roster.apply(patch),
        }
    }
}

/// [`sync_roster`], also saying whether the door's roster must be loaded again.
pub async fn sync_roster_applied(
    client: &HubClient,
    store: &mut Store,
    full: bool,
    now: DateTime<Utc>,
) -> Result<Applied, PullError> {
    sync_roster_cached(client, store, &mut RosterCache::new(), full, now).await
}

/// [`sync_roster_applied`] with the roster held in `cache` between syncs
/// ([`apply_roster_cached`]).
pub async fn sync_roster_cached(
    client: &HubClient,
    store: &mut Store,
    cache: &mut RosterCache,
    full: bool,
    now: DateTime<Utc>,
) -> Result<Applied, PullError> {
    let since = if full { None } else { store.roster_cursor()? };
    let resp = match client.roster(since.as_deref()).await {
        Ok(r) => r,
        Err(e) => {
            let err = PullError::from(e);
            if matches!(err, PullError::Hub(SyncError::Malformed(_))) {
                note_failure(store, &err)?;
            }
            return Err(err);
        }
    };
    apply_roster_cached(store, cache, &resp, now)
}

/// The cached roster as the roster loop holds it between syncs: the merged records, the
/// state each record was left in, and the cursor they stand at. A sync merges an answer
/// into it in place and writes only what changed; it is read from the store once, and
/// again whenever the store's cursor is not the one held (another process synced, the
/// door was provisioned again).
#[derive(Debug, Default)]
pub struct RosterCache {
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    cursor: Option<String>,
    source: SourceRoster,
    states: HashMap<(Kind, String), PrevState>,
    /// The store's rows are not known to be `source`'s: the next save rewrites them all.
    rewrite: bool,
    /// The evaluation of `source`, once a sync made it: the next re-evaluates only what
    /// its merge replaced.
    eval: Option<Evaluator>,
}

impl RosterCache {
    pub fn new() -> RosterCache {
        RosterCache::default()
    }

    /// The center the held roster is for, once it is held.
    pub fn center(&self) -> Option<&Center> {
        self.held.as_ref().and_then(|h| h.source.center.as_ref())
    }

    /// Forget what is held if the store moved on without it; the store's cursor.
    fn check(&mut self, store: &Store) -> Result<Option<String>, StoreError> {
        let cursor = store.roster_cursor()?;
        if self.held.as_ref().is_some_and(|h| h.cursor != cursor) {
            self.held = None;
        }
        Ok(cursor)
    }

    /// What is held, read from the store (at `cursor`, as [`RosterCache::check`] found
    /// it) when nothing is. A full answer replaces every record: then only the states
    /// are read, and the save rewrites the records whole.
    fn hold(
        &mut self,
        store: &Store,
        cursor: Option<String>,
        full: bool,
    ) -> Result<&mut Held, StoreError> {
        let held = match self.held.take() {
            Some(held) => held,
            None => {
                let states = store.record_states()?;
                let (source, rewrite) = if full {
                    (SourceRoster::default(), true)
                } else {
                    match store.roster_source()? {
                        Some((source, _)) => (source, false),
                        None => (SourceRoster::default(), true),
                    }
                };
                Held {
                    cursor,
                    source,
                    states,
                    rewrite,
                    eval: None,
                }
            }
        };
        Ok(self.held.insert(held))
    }
}

/// Apply the hub's roster answer: check it, merge it into the cache, evaluate who may do
/// what, keep the result and its report. An incremental
/// answer that changes nothing, for the same center on the same day as the last
/// evaluation, only moves the cursor and keeps a report: the cache is neither read nor
/// rewritten, so it costs the same at any center size.
pub fn apply_roster(
    store: &mut Store,
    resp: &RosterResponse,
    now: DateTime<Utc>,
) -> Result<SyncReport, PullError> {
    Ok(apply_roster_applied(store, resp, now)?.report)
}

/// [`apply_roster`], also saying whether the door's roster must be loaded again.
pub fn apply_roster_applied(
    store: &mut Store,
    resp: &RosterResponse,
    now: DateTime<Utc>,
) -> Result<Applied, PullError> {
    apply_roster_cached(store, &mut RosterCache::new(), resp, now)
}

/// [`apply_roster_applied`] with the roster held in `cache` from the last sync: the
/// answer is merged into it in place, the whole roster evaluated in memory, and only the
/// records and states that changed are written, so a sync costs what it changed plus
/// one evaluation. A refused answer leaves the store and the cache as they were.
pub fn apply_roster_cached(
    store: &mut Store,
    cache: &mut RosterCache,
    resp: &RosterResponse,
    now: DateTime<Utc>,
) -> Result<Applied, PullError> {
    if let Err(e) = check_answer(resp) {
        let err = PullError::Invalid(e);
        note_failure(store, &err)?;
        return Err(err);
    }
    let cursor = cache.check(store)?;
    let evaluated = evaluated_for(&resp.center, now);
    let last: Option<Evaluated> = store
        .meta(keys::ROSTER_EVALUATED)?
        .and_then(|j| serde_json::from_str(&j).ok());
    if let Some(last) = last.filter(|l| !resp.full && changes_nothing(resp) && l.at == evaluated) {
        let report = store.note_unchanged_sync(now, &resp.cursor, &last.kept)?;
        if let Some(held) = cache.held.as_mut() {
            held.cursor = Some(resp.cursor.clone());
        }
        keep_qr_keys(store, resp)?;
        return Ok(Applied {
            report,
            reload: resp.qr_keys.is_some(),
            roster: None,
        });
    }
    let held = cache.hold(store, cursor, resp.full)?;
    let was = held.source.merge(resp);
    let today = center_today(&held.source, now);
    let touched = match held.eval.as_mut() {
        Some(eval) => eval.update(&held.source, today, &was),
        None => Evaluator::build(&held.source, today).map(|(eval, touched)| {
            held.eval = Some(eval);
            touched
        }),
    };
    let (eval, touched) = match (touched, held.eval.as_ref()) {
        (Ok(touched), Some(eval)) => (eval, touched),
        (Err(e), _) => {
            undo(cache, was);
            let err = PullError::Invalid(e);
            note_failure(store, &err)?;
            return Err(err);
        }
        (Ok(_), None) => unreachable!("an evaluation is held once built"),
    };
    let mut notes = eval.notes();
    notes.extend(crate::domain::pin::short_pin_notes(&held.source));
    let report = build_report(
        now,
        &resp.cursor,
        resp.full,
        &held.states,
        eval.verdicts(),
        &notes,
    );
    let changes = state_changes(&held.states, eval, &touched);
    let saved = if held.rewrite {
        store.replace_roster(&held.source, eval.verdicts(), &report)
    } else {
        store.save_roster(&held.source, &was, &changes, &report)
    };
    if let Err(e) = saved {
        // The evaluation went ahead of the store: the next sync builds it again.
        held.eval = None;
        undo(cache, was);
        return Err(e.into());
    }
    let roster = if touched.whole {
        RosterUpdate::Whole(Box::new(eval.roster().clone()))
    } else {
        RosterUpdate::Patch(eval.patch(&touched))
    };
    let updates: Vec<((Kind, String), Option<PrevState>)> = changes
        .iter()
        .map(|change| match change {
            StateChange::Now(v) => ((v.kind, v.id.clone()), Some(PrevState::of(v))),
            StateChange::Gone(kind, id) => ((*kind, (*id).to_string()), None),
        })
        .collect();
    for (key, state) in updates {
        match state {
            Some(state) => held.states.insert(key, state),
            None => held.states.remove(&key),
        };
    }
    held.cursor = Some(resp.cursor.clone());
    held.rewrite = false;
    // After the roster: a failure here only costs the next unchanged sync its shortcut.
    let mut kept = BTreeMap::new();
    for v in eval.verdicts() {
        *kept.entry(v.kind).or_insert(0) += 1;
    }
    let noted = serde_json::to_string(&Evaluated {
        at: evaluated,
        kept,
    })
    .unwrap_or_default();
    if let Err(e) = store.set_meta(keys::ROSTER_EVALUATED, &noted) {
        tracing::warn!("cannot note what the roster was evaluated for: {e}");
    }
    keep_qr_keys(store, resp)?;
    Ok(Applied {
        report,
        reload: true,
        roster: Some(roster),
    })
}

/// Put the held roster back as it was before a merge that was refused. A roster held
/// for a whole rewrite stood for nothing stored: it is dropped, and read again.
fn undo(cache: &mut RosterCache, was: Replaced) {
    match cache.held.as_mut() {
        Some(held) if !held.rewrite => held.source.undo(was),
        _ => cache.held = None,
    }
}

/// The record states an evaluation changed: each verdict not remembered as it is now,
/// and each remembered record no verdict speaks of any more. After an update that
/// touched a few records, only those are compared.
fn state_changes<'a>(
    prev: &'a HashMap<(Kind, String), PrevState>,
    eval: &'a Evaluator,
    touched: &Touched,
) -> Vec<StateChange<'a>> {
    if !touched.whole {
        return touched
            .verdicts
            .iter()
            .filter_map(|key| match (eval.verdict(key), prev.get_key_value(key)) {
                (Some(v), Some((_, p))) if p.is(v) => None,
                (Some(v), _) => Some(StateChange::Now(v)),
                (None, Some(((kind, id), _))) => Some(StateChange::Gone(*kind, id)),
                (None, None) => None,
            })
            .collect();
    }
    let verdicts: Vec<&Verdict> = eval.verdicts().collect();
    let mut changes: Vec<StateChange> = verdicts
        .iter()
        .copied()
        .filter(|v| prev.get(&(v.kind, v.id.clone())).is_none_or(|p| !p.is(v)))
        .map(StateChange::Now)
        .collect();
    if prev.len() + changes.len() > verdicts.len() {
        let now: HashSet<(Kind, &str)> = verdicts.iter().map(|v| (v.kind, v.id.as_str())).collect();
        changes.extend(
            prev.keys()
                .filter(|(k, id)| !now.contains(&(*k, id.as_str())))
                .map(|(k, id)| StateChange::Gone(*k, id)),
        );
    }
    changes
}

/// The hub rotates its QR keys through the roster (v1.1 point 7): exactly these.
fn keep_qr_keys(store: &Store, resp: &RosterResponse) -> Result<(), StoreError> {
    if let Some(qr_keys) = &resp.qr_keys {
        if let Ok(json) = serde_json::to_string(qr_keys) {
            store.set_meta(keys::QR_KEYS, &json)?;
        }
    }
    Ok(())
}

/// An incremental answer with no record and no deletion in it.
fn changes_nothing(resp: &RosterResponse) -> bool {
    let d = &resp.deleted;
    resp.rooms.is_empty()
        && resp.staff.is_empty()
        && resp.families.is_empty()
        && d.families.is_empty()
        && d.people.is_empty()
        && d.children.is_empty()
        && d.staff.is_empty()
        && d.rooms.is_empty()
}

/// What the last evaluation of the cached roster was for, and how many records of each
/// kind it kept (`keys::ROSTER_EVALUATED`).
#[derive(Debug, Serialize, Deserialize)]
struct Evaluated {
    /// [`evaluated_for`].
    at: String,
    kept: BTreeMap<Kind, u32>,
}

/// What an evaluation depends on beside the records: the center (its time zone, its
/// sign-out time…) and its day, as one comparable text.
fn evaluated_for(center: &Center, now: DateTime<Utc>) -> String {
    let day = center_day(Some(center), now);
    let center = serde_json::to_string(center).unwrap_or_default();
    format!("{day} {center}")
}

/// What one pull of the peer feed did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPull {
    /// Events new to this kiosk.
    pub added: usize,
    /// Events the pages held, new or not (this door's own come back in the feed): with
    /// none, a long-poll that came back at once means the hub ignores `wait`.
    pub received: usize,
    /// The peer cursor moved (or was set for the first time): the hub had something,
    /// if only this door's own events, so the next request may well be held.
    pub moved: bool,
    /// Events the hub sent that could not be read (skipped, the cursor moved past them).
    pub skipped: usize,
    /// Events counted at the hub's `received_at` (or this kiosk's own time) because
    /// their own time lay in the future (`clock_suspect`).
    pub clock_suspect: usize,
}

/// Page size asked for when all is well (the contract's maximum).
pub const PEER_PAGE_LIMIT: u32 = 500;

/// The next smaller page size after a page that could not be read at all.
fn smaller(limit: u32) -> u32 {
    match limit {
        0..=1 => 1,
        2..=5 => 1,
        6..=20 => 5,
        21..=100 => 20,
        _ => 100,
    }
}

/// Fetch other kiosks' events until the hub says there are no more.
///
/// `limit` is the page size to ask for, kept by the caller between pulls: a page the
/// kiosk cannot read at all (over the size limit, not JSON) is asked for again with a
/// smaller `limit`, down to 1, so one oversized or broken event cannot hold the feed
/// on the same cursor forever; only a single event that cannot be read even alone is
/// reported as an error (and retried on the next pull). After a good page the size
/// grows back. Bad events inside a readable page are skipped and counted.
///
/// `now_if_synced` is the kiosk's time when its clock is synchronized: it stands in for
/// `received_at` with a hub that does not send it (v1.0). `wait` long-polls the first
/// page (the kiosk is caught up after every pull); later pages are asked for at once.
pub async fn pull_peer_events(
    client: &HubClient,
    store: &mut Store,
    limit: &mut u32,
    now: DateTime<Utc>,
    now_if_synced: Option<DateTime<Utc>>,
    mut wait: Option<std::time::Duration>,
) -> Result<PeerPull, PullError> {
    let mut pull = PeerPull::default();
    *limit = (*limit).clamp(1, PEER_PAGE_LIMIT);
    let started_at = store.meta(keys::PEER_CURSOR)?;
    // Bounded: a kiosk back from a week offline catches up over several polls.
    for _ in 0..40 {
        let cursor = store.meta(keys::PEER_CURSOR)?;
        let page = match client
            .peer_events(cursor.as_deref(), *limit, wait.take())
            .await
        {
            Ok(page) => page,
            Err(SyncError::Malformed(_)) if *limit > 1 => {
                *limit = smaller(*limit);
                tracing::debug!(
                    limit = *limit,
                    "unreadable peer page; asking for fewer events"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let counted: Vec<(crate::api::Event, Option<DateTime<Utc>>)> = page
            .events
            .into_iter()
            .map(|p| {
                let known_by = p
                    .received_at
                    .map(|t| t.with_timezone(&Utc))
                    .or(now_if_synced);
                let at = counted_at(p.event.occurred_at, known_by);
                (p.event, at)
            })
            .collect();
        pull.clock_suspect += counted.iter().filter(|(_, at)| at.is_some()).count();
        pull.received += counted.len() + page.skipped;
        pull.skipped += page.skipped;
        pull.added += store.merge_peer_counted(&counted, &page.cursor, now)?;
        let empty = counted.is_empty() && page.skipped == 0;
        if *limit < PEER_PAGE_LIMIT {
            *limit = (*limit * 5).min(PEER_PAGE_LIMIT);
        }
        if !page.more || empty {
            break;
        }
    }
    pull.moved = store.meta(keys::PEER_CURSOR)? != started_at;
    Ok(pull)
}

/// How long a door holds its peer-feed request open at the hub (long-poll `wait`).
pub const PEER_WAIT: std::time::Duration = std::time::Duration::from_secs(25);

/// How long the peer loop pauses before its next pull. After a pull that brought events
/// (new or this door's own) or moved the cursor (the first pull sets it), or a long-poll
/// the hub held, it asks again at once: the hub answers the moment another door's event
/// arrives. A pull from a cursor that came back at once with nothing means the hub
/// ignores `wait` (a v1.0 hub): poll every `poll`. After an error, wait `poll` too.
pub fn peer_pause(
    pulled: Option<&PeerPull>,
    took: std::time::Duration,
    poll: std::time::Duration,
) -> std::time::Duration {
    match pulled {
        Some(p) if p.received > 0 || p.moved => std::time::Duration::ZERO,
        // Held for a good part of the wait: a long-polling hub with nothing to say.
        Some(_) if took >= PEER_WAIT / 2 => std::time::Duration::ZERO,
        _ => poll,
    }
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

    /// The roster a door holding `held` has after a sync handed it `update`.
    fn door_after(mut held: Roster, update: Option<RosterUpdate>) -> Roster {
        if let Some(update) = update {
            update.apply_to(&mut held);
        }
        held
    }

    /// The cached roster's rows, as stored: (kind, id) → JSON.
    fn cached_rows(store: &Store) -> BTreeMap<(String, String), String> {
        let mut stmt = store
            .conn()
            .prepare("SELECT kind, id, json FROM roster_record")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .unwrap();
        rows.map(|r| r.unwrap()).collect()
    }

    /// A marker in every cached row: only a rewrite of a row removes it (JSON with a
    /// trailing space still reads the same).
    fn mark_rows(store: &Store) {
        store
            .conn()
            .execute("UPDATE roster_record SET json = json || ' '", [])
            .unwrap();
    }

    fn rewritten(store: &Store) -> Vec<(String, String)> {
        cached_rows(store)
            .into_iter()
            .filter(|(_, json)| !json.ends_with(' '))
            .map(|(k, _)| k)
            .collect()
    }

    fn nothing_since(resp: &RosterResponse, cursor: &str) -> RosterResponse {
        RosterResponse {
            cursor: cursor.into(),
            full: false,
            rooms: vec![],
            staff: vec![],
            families: vec![],
            qr_keys: None,
            ..resp.clone()
        }
    }

    #[test]
    fn a_sync_that_changes_nothing_neither_reads_nor_rewrites_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kiosk.sqlite")).unwrap();
        let resp = crate::domain::testdata::roster_response();
        let morning = chicago(2026, 11, 23, 8, 0);
        let first = apply_roster(&mut store, &resp, morning).unwrap();
        let kept = |r: &SyncReport| -> u32 { r.counts.values().map(|c| c.unchanged).sum() };
        let total: u32 = first.counts.values().map(|c| c.added + c.archived).sum();
        assert!(total > 0 && !first.lines.is_empty(), "{first:?}");
        mark_rows(&store);
        let later = chicago(2026, 11, 23, 8, 30);
        let applied = apply_roster_applied(&mut store, &nothing_since(&resp, "r_2"), later);
        let Applied {
            report: same,
            reload,
            roster,
        } = applied.unwrap();
        assert!(
            !reload && roster.is_none(),
            "nothing for the door to load again"
        );
        assert_eq!(rewritten(&store), Vec::<(String, String)>::new());
        assert_eq!(store.roster_cursor().unwrap().as_deref(), Some("r_2"));
        assert!(!same.full);
        assert_eq!(kept(&same), total, "every record kept, unchanged");
        assert_eq!(same.lines, first.lines, "the problems to fix still hold");
        assert_eq!(store.reports(10).unwrap()[0], same);
        // The next day the roster is evaluated again (a start date may have come), and
        // the door is handed the result; no record changed, so none is rewritten.
        let tomorrow = chicago(2026, 11, 24, 8, 0);
        let next_day = apply_roster_applied(&mut store, &nothing_since(&resp, "r_3"), tomorrow);
        let next_day = next_day.unwrap();
        assert!(next_day.reload, "the door evaluates its roster again");
        let fresh = load_roster(&store, tomorrow).unwrap().unwrap().roster;
        assert!(
            matches!(next_day.roster, Some(RosterUpdate::Whole(_))),
            "a new day evaluates everything"
        );
        assert_eq!(door_after(Roster::default(), next_day.roster), fresh);
        assert_eq!(rewritten(&store), Vec::<(String, String)>::new());
        // A changed center: its row alone is written.
        let mut center = nothing_since(&resp, "r_4");
        center.center.name = "Maple Street (renamed)".into();
        apply_roster(&mut store, &center, tomorrow).unwrap();
        assert_eq!(
            rewritten(&store),
            vec![("center".to_string(), String::new())]
        );
        let (src, _) = store.roster_source().unwrap().unwrap();
        assert_eq!(
            src.center.map(|c| c.name).as_deref(),
            Some("Maple Street (renamed)")
        );
    }

    /// A delta against `src`: one family renamed, one child moved to another room, one
    /// family deleted, one staff member gone.
    fn some_changes(src: &SourceRoster, cursor: &str) -> RosterResponse {
        let resp = crate::domain::testdata::large_response(200);
        let mut delta = nothing_since(&resp, cursor);
        let mut ids = src.families.keys();
        let mut renamed = src.families[ids.next().unwrap()].clone();
        renamed.people[0].first_name.push_str(" (renamed)");
        let mut moved = src.families[ids.next().unwrap()].clone();
        moved.children[0].primary_room_id = Some("room_7".into());
        delta.families = vec![renamed, moved];
        delta.deleted.families.push(ids.next().unwrap().clone());
        delta
            .deleted
            .staff
            .push(src.staff.keys().next().unwrap().clone());
        delta
    }

    #[test]
    fn a_held_roster_writes_only_what_changed_and_reports_as_a_full_read_would() {
        let dir = tempfile::tempdir().unwrap();
        let mut held = Store::open(&dir.path().join("held.sqlite")).unwrap();
        let mut fresh = Store::open(&dir.path().join("fresh.sqlite")).unwrap();
        let mut cache = RosterCache::new();
        let now = chicago(2026, 11, 23, 8, 0);
        let full = crate::domain::testdata::large_response(200);
        let a = apply_roster_cached(&mut held, &mut cache, &full, now).unwrap();
        let b = apply_roster_applied(&mut fresh, &full, now).unwrap();
        assert_eq!(a, b);
        let door = door_after(Roster::default(), a.roster);
        assert_eq!(cache.center().map(|c| c.id.as_str()), Some("center_001"));
        mark_rows(&held);
        let (src, _) = held.roster_source().unwrap().unwrap();
        let delta = some_changes(&src, "r_2");
        let a = apply_roster_cached(&mut held, &mut cache, &delta, now).unwrap();
        let b = apply_roster_applied(&mut fresh, &delta, now).unwrap();
        assert_eq!(a.report, b.report, "the same report as reading the store");
        assert!(matches!(a.roster, Some(RosterUpdate::Patch(_))));
        let door = door_after(door, a.roster.clone());
        assert_eq!(
            door,
            door_after(Roster::default(), b.roster.clone()),
            "the door's roster patched is the roster evaluated from the store"
        );
        let changed = a
            .report
            .counts
            .values()
            .map(|c| c.updated + c.archived)
            .sum::<u32>();
        assert!(changed >= 3, "{:?}", a.report.counts);
        let mut expected: Vec<(String, String)> = delta
            .families
            .iter()
            .map(|f| ("family".to_string(), f.id.clone()))
            .collect();
        expected.sort();
        assert_eq!(
            rewritten(&held),
            expected,
            "only the two sent families rewritten"
        );
        assert!(
            !cached_rows(&held).contains_key(&("family".into(), delta.deleted.families[0].clone()))
        );
        assert_eq!(
            held.roster_source().unwrap(),
            fresh.roster_source().unwrap()
        );
        assert_eq!(
            held.record_states().unwrap(),
            fresh.record_states().unwrap()
        );
        // A full answer the door already holds rewrites nothing, and reports the same.
        let mut again = delta.clone();
        again.cursor = "r_3".into();
        let (merged, _) = fresh.roster_source().unwrap().unwrap();
        again.full = true;
        again.deleted = Default::default();
        again.rooms = merged.rooms.values().cloned().collect();
        again.staff = merged.staff.values().cloned().collect();
        again.families = merged.families.values().cloned().collect();
        mark_rows(&held);
        let a = apply_roster_cached(&mut held, &mut cache, &again, now).unwrap();
        let b = apply_roster_applied(&mut fresh, &again, now).unwrap();
        assert_eq!(a.report, b.report);
        assert!(
            matches!(&a.roster, Some(RosterUpdate::Patch(p)) if p.is_empty()),
            "a full answer the door already holds changes no entry of its roster"
        );
        assert_eq!(rewritten(&held), Vec::<(String, String)>::new());
        assert_eq!(
            held.record_states().unwrap(),
            fresh.record_states().unwrap()
        );
    }

    #[test]
    fn a_refused_answer_leaves_the_store_and_the_held_roster_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kiosk.sqlite")).unwrap();
        let mut cache = RosterCache::new();
        let now = chicago(2026, 11, 23, 8, 0);
        let full = crate::domain::testdata::large_response(20);
        let first = apply_roster_cached(&mut store, &mut cache, &full, now).unwrap();
        let door = door_after(Roster::default(), first.roster);
        let rows = cached_rows(&store);
        let states = store.record_states().unwrap();
        // Deleting the room staff work in leaves them pointing at nothing: refused.
        let mut bad = nothing_since(&full, "r_2");
        bad.families = vec![full.families[0].clone()];
        bad.families[0].people[0].first_name.push_str(" (renamed)");
        bad.deleted.rooms.push("room_0".into());
        let err = apply_roster_cached(&mut store, &mut cache, &bad, now).unwrap_err();
        assert!(matches!(err, PullError::Invalid(_)), "{err}");
        assert_eq!(cached_rows(&store), rows);
        assert_eq!(store.record_states().unwrap(), states);
        assert_eq!(
            store.roster_cursor().unwrap().as_deref(),
            Some(full.cursor.as_str())
        );
        // The held roster is the stored one still: the next good delta applies to it.
        let mut good = nothing_since(&full, "r_3");
        good.families = vec![full.families[1].clone()];
        good.families[0].people[0].first_name.push_str(" (renamed)");
        let a = apply_roster_cached(&mut store, &mut cache, &good, now).unwrap();
        let (src, _) = store.roster_source().unwrap().unwrap();
        assert!(src.rooms.contains_key("room_0"));
        assert!(!src.families[&full.families[0].id].people[0]
            .first_name
            .ends_with("(renamed)"));
        assert!(src.families[&full.families[1].id].people[0]
            .first_name
            .ends_with("(renamed)"));
        let b = load_roster(&store, now).unwrap().unwrap().roster;
        assert!(
            matches!(&a.roster, Some(RosterUpdate::Patch(p)) if !p.is_empty()),
            "one family changed: the door is handed what it touched"
        );
        assert_eq!(door_after(door, a.roster), b);
    }

    #[test]
    fn a_held_roster_is_read_again_when_the_store_moved_on_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.sqlite");
        let mut store = Store::open(&path).unwrap();
        let mut other = Store::open(&path).unwrap();
        let mut cache = RosterCache::new();
        let now = chicago(2026, 11, 23, 8, 0);
        let full = crate::domain::testdata::large_response(20);
        apply_roster_cached(&mut store, &mut cache, &full, now).unwrap();
        // Another process (`cubby sync --now`) applies a delta the cache never saw.
        let (src, _) = store.roster_source().unwrap().unwrap();
        let theirs = some_changes(&src, "r_2");
        apply_roster_applied(&mut other, &theirs, now).unwrap();
        let mut ours = nothing_since(&full, "r_3");
        let mut fam = full.families[5].clone();
        fam.people[0].first_name.push_str(" (ours)");
        ours.families = vec![fam];
        let a = apply_roster_cached(&mut store, &mut cache, &ours, now).unwrap();
        let (src, _) = store.roster_source().unwrap().unwrap();
        assert!(
            src.families
                .values()
                .any(|f| f.people[0].first_name.ends_with("(renamed)")),
            "theirs kept"
        );
        assert!(src
            .families
            .values()
            .any(|f| f.people[0].first_name.ends_with("(ours)")));
        assert!(
            matches!(a.roster, Some(RosterUpdate::Whole(_))),
            "a roster read again is evaluated whole"
        );
        assert_eq!(
            Some(door_after(Roster::default(), a.roster)),
            load_roster(&store, now).unwrap().map(|e| e.roster)
        );
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
    fn the_peer_loop_asks_again_at_once_only_when_the_hub_long_polls_or_sent_events() {
        use std::time::Duration as D;
        let poll = D::from_secs(15);
        let got = |received| PeerPull {
            received,
            ..PeerPull::default()
        };
        // Events (even only this door's own): ask again at once.
        assert_eq!(peer_pause(Some(&got(1)), D::from_millis(40), poll), D::ZERO);
        // Held ~25 s, nothing came: the hub long-polls; ask again at once.
        assert_eq!(peer_pause(Some(&got(0)), D::from_secs(25), poll), D::ZERO);
        // The first pull set the cursor (or the hub left this door's own events out of
        // the page but moved it on): ask again at once, now it can be held.
        let moved = PeerPull {
            moved: true,
            ..PeerPull::default()
        };
        assert_eq!(peer_pause(Some(&moved), D::from_millis(30), poll), D::ZERO);
        // Back at once with nothing: a hub that ignores wait; poll.
        assert_eq!(peer_pause(Some(&got(0)), D::from_millis(30), poll), poll);
        // An error: try again after the poll interval.
        assert_eq!(peer_pause(None, D::from_millis(30), poll), poll);
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
