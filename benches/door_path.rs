//! The door's own work on its SQLite file, each case beside a baseline measured in the
//! same run, so the report reads as a ratio that a slower machine does not change:
//!
//! - `commit/*`: a family check-in (2 events) and a staff batch of 100 children through
//!   `Store::record_local`, against `baseline/*`: the same number of event and outbox rows
//!   written by bare rusqlite in one transaction, WAL and `synchronous=FULL` like the store.
//! - `pin/*`: a typed PIN to its identity (HMAC + lookup) in a 10,000-child center, against
//!   a no-op.
//! - `roster/*`: a roster sync applied in-process (`sync::puller::apply_roster_cached`:
//!   merge, eligibility, report, store), at 100, 1,000 and 10,000 families, against
//!   `baseline`: one transaction inserting the same records as JSON rows. `full_*` is a
//!   full answer with nothing held (a door's first sync, `cubby sync --full`): every
//!   record written; `full_held_*` the scheduled full sync of a running door, which holds
//!   the roster and writes what differs; `ten_changed_*` and `nothing_changed_*` the
//!   incremental syncs between them.
//!
//! Run: `cargo bench --bench door_path` (`-- roster` for one group).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, BatchSize, Criterion};
use rusqlite::{params, Connection};

use cubby::api::{Event, EventType, RosterResponse};
use cubby::domain::eligibility::evaluate;
use cubby::domain::pin::pin_hmac;
use cubby::domain::source::SourceRoster;
use cubby::domain::testdata::{event, large_response, today, KEY};
use cubby::store::Store;
use cubby::sync::puller::{apply_roster_cached, RosterCache};

/// Event ids never repeat across iterations (a repeated id would be a no-op merge).
static NEXT: AtomicU64 = AtomicU64::new(0);

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            event(
                &format!("0190f3c1-7a2b-7c3d-8e4f-{id:012}"),
                EventType::CheckIn,
                &format!("child_{i}"),
                "2026-11-23T08:32:15-06:00",
            )
        })
        .collect()
}

/// The same rows the store writes for `events`, in one fsync'd transaction, no more.
fn bare_commit(conn: &mut Connection, events: &[Event]) {
    let tx = conn.transaction().expect("begin");
    {
        let mut ev = tx
            .prepare_cached("INSERT INTO events (id, json) VALUES (?1, ?2)")
            .expect("prepare");
        let mut out = tx
            .prepare_cached("INSERT INTO outbox (id) VALUES (?1)")
            .expect("prepare");
        for e in events {
            let json = serde_json::to_string(e).expect("event json");
            ev.execute(params![e.event_id, json]).expect("insert event");
            out.execute(params![e.event_id]).expect("insert outbox");
        }
    }
    tx.commit().expect("commit");
}

fn bare_db(dir: &std::path::Path) -> Connection {
    let conn = Connection::open(dir.join("bare.sqlite")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch(
        "CREATE TABLE events (id TEXT PRIMARY KEY, json TEXT NOT NULL);
         CREATE TABLE outbox (id TEXT PRIMARY KEY);
         CREATE TABLE records (kind TEXT, id TEXT, json TEXT, PRIMARY KEY (kind, id));",
    )
    .expect("schema");
    conn
}

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("kiosk.sqlite")).expect("store");
    let mut bare = bare_db(dir.path());
    let mut g = c.benchmark_group("commit");
    for (name, n) in [("family_check_in", 2), ("staff_batch_100", 100)] {
        g.bench_function(format!("baseline/{n}_rows_one_transaction"), |b| {
            b.iter_batched(
                || events(n),
                |ev| bare_commit(&mut bare, &ev),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(name, |b| {
            b.iter_batched(
                || events(n),
                |ev| store.record_local(&ev, Utc::now()).expect("record"),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn pin(c: &mut Criterion) {
    let resp = large_response(10_000);
    let src = SourceRoster::default().merged(&resp);
    let roster = evaluate(&src, today()).expect("roster").roster;
    let mut g = c.benchmark_group("pin");
    g.bench_function("baseline/no_op", |b| {
        b.iter(|| std::hint::black_box("004242"))
    });
    g.bench_function("identify_10000_children", |b| {
        b.iter(|| {
            let hash = pin_hmac(KEY, std::hint::black_box("004242"));
            assert!(roster.lookup_pin(&hash).is_some(), "a known PIN");
        })
    });
    // A wrong PIN costs the same lookup.
    g.bench_function("unknown_10000_children", |b| {
        b.iter(|| {
            let hash = pin_hmac(KEY, std::hint::black_box("999999"));
            assert!(roster.lookup_pin(&hash).is_none());
        })
    });
    g.finish();
}

/// One roster sync as the door applies it, without the HTTP call.
fn apply(store: &mut Store, cache: &mut RosterCache, resp: &RosterResponse) {
    apply_roster_cached(store, cache, resp, Utc::now()).expect("apply");
}

/// The same records as one row each, in one transaction.
fn bare_roster(conn: &mut Connection, resp: &RosterResponse) {
    let tx = conn.transaction().expect("begin");
    tx.execute("DELETE FROM records", []).expect("clear");
    {
        let mut ins = tx
            .prepare_cached("INSERT INTO records (kind, id, json) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for r in &resp.rooms {
            let json = serde_json::to_string(r).expect("json");
            ins.execute(params!["room", r.id, json]).expect("insert");
        }
        for s in &resp.staff {
            let json = serde_json::to_string(s).expect("json");
            ins.execute(params!["staff", s.id, json]).expect("insert");
        }
        for f in &resp.families {
            let json = serde_json::to_string(f).expect("json");
            ins.execute(params!["family", f.id, json]).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// `resp` with only its first ten families, each with a new first name: what the hub
/// sends after ten families changed.
fn ten_changed(resp: &RosterResponse, round: u64) -> RosterResponse {
    let mut inc = RosterResponse {
        cursor: format!("r_{round}"),
        full: false,
        center: resp.center.clone(),
        rooms: Vec::new(),
        staff: Vec::new(),
        families: resp.families.iter().take(10).cloned().collect(),
        deleted: Default::default(),
        qr_keys: None,
    };
    for f in &mut inc.families {
        for p in &mut f.people {
            p.first_name = format!("Name{round}");
        }
    }
    inc
}

fn roster(c: &mut Criterion) {
    let mut g = c.benchmark_group("roster");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.warm_up_time(Duration::from_secs(1));
    for families in [100, 1_000, 10_000] {
        let resp = large_response(families * 2);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("kiosk.sqlite")).expect("store");
        let mut bare = bare_db(dir.path());
        g.bench_function(format!("baseline/bulk_insert_{families}_families"), |b| {
            b.iter(|| bare_roster(&mut bare, &resp))
        });
        g.bench_function(format!("full_{families}_families"), |b| {
            b.iter(|| apply(&mut store, &mut RosterCache::new(), &resp))
        });
        let mut cache = RosterCache::new();
        apply(&mut store, &mut cache, &resp);
        g.bench_function(format!("full_held_{families}_families"), |b| {
            b.iter(|| apply(&mut store, &mut cache, &resp))
        });
        let mut round = 0;
        g.bench_function(format!("nothing_changed_of_{families}_families"), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    let mut none = ten_changed(&resp, round);
                    none.families.clear();
                    none
                },
                |inc| apply(&mut store, &mut cache, &inc),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("ten_changed_of_{families}_families"), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    ten_changed(&resp, round)
                },
                |inc| apply(&mut store, &mut cache, &inc),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, commit, pin, roster);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
