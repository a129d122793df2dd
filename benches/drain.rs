//! A backlog of 10,000 events delivered to a real hub on loopback, beside a baseline
//! measured against the same hub in the same run:
//!
//! - `drain/pusher_10000`: the door's outbox (a real SQLite store holding the backlog)
//!   emptied by the door's pusher (`Pusher::push_once` until idle: read a batch, upload
//!   it, settle the hub's answer in the store), 500 events a request, one in flight.
//! - `drain/baseline/bare_client_10000`: the same number of new events posted by a bare
//!   HTTP client, 500 a request, bodies serialised before the clock starts: what the hub
//!   and the loopback alone cost.
//!
//! The hub is the reference hub (`cubby hub`) with its demo center, in this process on
//! its own runtime. The pusher runs first, so a hub database grown by earlier iterations
//! weighs on it rather than on the baseline.
//!
//! Run: `cargo bench --no-default-features --bench drain`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{criterion_group, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;

use cubby::api::{EnrollRequest, Event, EventType};
use cubby::domain::testdata::event;
use cubby::store::Store;
use cubby::sync::client::HubClient;
use cubby::sync::pusher::{PushOutcome, Pusher, PusherConfig};
use cubby::sync::OutboxPort;

const BACKLOG: usize = 10_000;
const BATCH: usize = 500;

/// Event ids never repeat (a repeated id would be a cheap duplicate at the hub).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// `n` new check-ins by `device` for the center's children, in turn.
fn backlog(n: usize, device: &str, children: &[String]) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            let mut e = event(
                &format!("0190f3c1-7a2b-7c3d-8e4f-{id:012}"),
                EventType::CheckIn,
                &children[i % children.len()],
                "2026-11-23T08:32:15-06:00",
            );
            e.device_id = device.to_string();
            e.room_id = None;
            e
        })
        .collect()
}

struct Door {
    client: HubClient,
    device: String,
    token: String,
    url: String,
    children: Vec<String>,
}

/// Enroll a door at the hub and learn the center's children.
async fn enroll(url: &str, db: &std::path::Path) -> Door {
    let code = cubby_hub::create_enroll_code(db).expect("enrollment code");
    let anon = HubClient::new(url, None, Duration::from_secs(30)).expect("client");
    let enrolled = anon
        .enroll(&EnrollRequest {
            code,
            name: "Bench door".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .await
        .expect("enroll");
    let client =
        HubClient::new(url, Some(enrolled.token.clone()), Duration::from_secs(30)).expect("client");
    let roster = client.roster(None).await.expect("roster");
    let children = roster
        .families
        .iter()
        .flat_map(|f| f.children.iter().map(|c| c.id.clone()))
        .collect::<Vec<_>>();
    assert!(!children.is_empty(), "the demo center has children");
    Door {
        client,
        device: enrolled.device_id,
        token: enrolled.token,
        url: url.to_string(),
        children,
    }
}

fn drain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let hub_db = dir.path().join("hub.sqlite");
    let hub = rt
        .block_on(cubby_hub::start(cubby_hub::HubOptions {
            listen: "127.0.0.1:0".parse().expect("address"),
            db: hub_db.clone(),
            seed_demo: true,
            faults: Default::default(),
        }))
        .expect("hub");
    let door = rt.block_on(enroll(&hub.url(), &hub_db));
    let store = Store::open(&dir.path().join("kiosk.sqlite")).expect("store");
    let mut pusher = Pusher::new(
        store,
        door.client.clone(),
        StdRng::seed_from_u64(7),
        PusherConfig::default(),
    );

    let mut g = c.benchmark_group("drain");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function(format!("pusher_{BACKLOG}"), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let events = backlog(BACKLOG, &door.device, &door.children);
                let store = pusher.port_mut();
                for chunk in events.chunks(BATCH) {
                    store.record_local(chunk, Utc::now()).expect("commit");
                }
                let start = Instant::now();
                let mut delivered = 0;
                loop {
                    match rt.block_on(pusher.push_once()) {
                        PushOutcome::Idle => break,
                        PushOutcome::Delivered {
                            accepted,
                            duplicate,
                            rejected,
                        } => {
                            assert_eq!((duplicate, rejected), (0, 0), "all new and valid");
                            delivered += accepted;
                        }
                        other => panic!("the drain stopped: {other:?}"),
                    }
                }
                spent += start.elapsed();
                assert_eq!(delivered, BACKLOG);
                assert!(pusher
                    .port_mut()
                    .pending_batch(1)
                    .expect("outbox")
                    .is_empty());
            }
            spent
        })
    });
    let http = reqwest::Client::new();
    let upload = format!("{}/api/v1/attendance/events", door.url);
    g.bench_function(format!("baseline/bare_client_{BACKLOG}"), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let bodies: Vec<String> = backlog(BACKLOG, &door.device, &door.children)
                    .chunks(BATCH)
                    .map(|chunk| {
                        serde_json::to_string(&serde_json::json!({ "events": chunk }))
                            .expect("body")
                    })
                    .collect();
                let start = Instant::now();
                rt.block_on(async {
                    for body in bodies {
                        let resp = http
                            .post(&upload)
                            .bearer_auth(&door.token)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .expect("upload");
                        assert!(resp.status().is_success(), "{}", resp.status());
                        resp.bytes().await.expect("answer");
                    }
                });
                spent += start.elapsed();
            }
            spent
        })
    });
    g.finish();
    rt.block_on(hub.shutdown());
}

criterion_group!(benches, drain);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
