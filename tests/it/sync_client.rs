//! Black-box tests of the kiosk's HTTP side (`sync::client`, `sync::pusher`,
//! `sync::heartbeat`) against small scripted hubs on `127.0.0.1:0`: real HTTP, real
//! sockets, a `Vec`-backed outbox standing in for SQLite.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Notify};

use cubby::api::{
    EnrollRequest, ErrorBody, Event, EventResult, EventType, HardwareStatus, Heartbeat,
    ResultStatus, UploadRequest, UploadResponse,
};
use cubby::kiosk::Trouble;
use cubby::sync::client::{HubClient, SyncError};
use cubby::sync::health::{Failure, Health, Loop};
use cubby::sync::heartbeat::run_heartbeat;
use cubby::sync::pusher::{PushOutcome, Pusher, PusherConfig, PusherStatus};
use cubby::sync::OutboxPort;

const TOKEN: &str = "device-token-1";

// ------------------------------------------------------------------ scripted hub

/// One request as the hub saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    body: Vec<u8>,
}

impl Seen {
    fn uploaded_ids(&self) -> Vec<String> {
        let req: UploadRequest = serde_json::from_slice(&self.body).expect("upload body");
        req.events.into_iter().map(|e| e.event_id).collect()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Option<Duration>,
}

impl Reply {
    fn json(status: u16, value: impl serde::Serialize) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: serde_json::to_vec(&value).unwrap(),
            delay: None,
        }
    }
    fn raw(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.into(),
            delay: None,
        }
    }
    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, ErrorBody::new(code, message))
    }
    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct HubState {
    seen: Mutex<Vec<Seen>>,
    script: Box<Script>,
}

struct Hub {
    addr: SocketAddr,
    state: Arc<HubState>,
}

impl Hub {
    /// A hub answering every request with `script(request, index_of_request)`.
    async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Hub {
        let state = Arc::new(HubState {
            seen: Mutex::new(Vec::new()),
            script: Box::new(script),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Hub { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn client(&self) -> HubClient {
        HubClient::new(&self.url(), Some(TOKEN.into()), Duration::from_secs(5)).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// Wait (real time, bounded) until the hub has seen at least `n` requests.
    async fn wait_for(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.count() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("hub saw {} requests, expected {n}", self.count()));
    }
}

async fn handle(
    State(state): State<Arc<HubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        auth: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string()),
        body: body.to_vec(),
    };
    let index = {
        let mut all = state.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    let reply = (state.script)(&seen, index);
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut map = HeaderMap::new();
    for (name, value) in reply.headers {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    (StatusCode::from_u16(reply.status).unwrap(), map, reply.body).into_response()
}

/// Answer an upload with one result per event, chosen by `verdict`.
fn results_for(seen: &Seen, verdict: impl Fn(&Event) -> (ResultStatus, Option<&str>)) -> Reply {
    let req: UploadRequest = serde_json::from_slice(&seen.body).expect("upload body");
    let results: Vec<EventResult> = req
        .events
        .iter()
        .map(|e| {
            let (status, reason) = verdict(e);
            EventResult {
                event_id: e.event_id.clone(),
                status,
                reason: reason.map(str::to_string),
            }
        })
        .collect();
    Reply::json(200, UploadResponse { results })
}

fn accept_all(seen: &Seen) -> Reply {
    results_for(seen, |_| (ResultStatus::Accepted, None))
}

/// An address where nothing listens.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// ------------------------------------------------------------------ data

fn event(n: usize) -> Event {
    Event {
        room_id: Some("room_101".into()),
        ..cubby::domain::testdata::event(
            &format!("0190f3c1-7a2b-7c3d-8e4f-{n:012}"),
            EventType::CheckIn,
            &format!("child_{n}"),
            "2026-11-23T08:32:15-06:00",
        )
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| event(n).event_id).collect()
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        version: "0.1.0".into(),
        queue_depth: 3,
        oldest_pending_at: None,
        parked: 0,
        last_roster_cursor: Some("r_1".into()),
        clock_synced: true,
        hardware: HardwareStatus::default(),
        last_errors: None,
        keypad: None,
    }
}

// ------------------------------------------------------------------ Vec outbox

#[derive(Default)]
struct OutboxState {
    pending: Vec<Event>,
    delivered: Vec<String>,
    parked: Vec<(String, String)>,
    failures: Vec<(Vec<String>, String)>,
    unauthorized: bool,
    fail_next_settle: bool,
}

/// The pusher's view of storage, shared with the test through an `Arc`.
#[derive(Clone, Default)]
struct VecOutbox(Arc<Mutex<OutboxState>>);

impl VecOutbox {
    fn with(n: usize) -> VecOutbox {
        let outbox = VecOutbox::default();
        outbox.0.lock().unwrap().pending = (0..n).map(event).collect();
        outbox
    }
    fn state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.0.lock().unwrap()
    }
    fn pending_ids(&self) -> Vec<String> {
        self.state()
            .pending
            .iter()
            .map(|e| e.event_id.clone())
            .collect()
    }
}

impl OutboxPort for VecOutbox {
    fn pending_batch(&mut self, max: usize) -> anyhow::Result<Vec<Event>> {
        Ok(self.state().pending.iter().take(max).cloned().collect())
    }
    fn settle(&mut self, results: &[(String, ResultStatus, Option<String>)]) -> anyhow::Result<()> {
        let mut s = self.state();
        if std::mem::take(&mut s.fail_next_settle) {
            anyhow::bail!("disk I/O error");
        }
        for (id, status, reason) in results {
            s.pending.retain(|e| &e.event_id != id);
            match status {
                ResultStatus::Accepted | ResultStatus::Duplicate => s.delivered.push(id.clone()),
                ResultStatus::Rejected => s
                    .parked
                    .push((id.clone(), reason.clone().unwrap_or_default())),
            }
        }
        Ok(())
    }
    fn park(&mut self, event_id: &str, reason: &str) -> anyhow::Result<()> {
        let mut s = self.state();
        s.pending.retain(|e| e.event_id != event_id);
        s.parked.push((event_id.into(), reason.into()));
        Ok(())
    }
    fn note_failure(&mut self, event_ids: &[String], error: &str) -> anyhow::Result<()> {
        self.state()
            .failures
            .push((event_ids.to_vec(), error.into()));
        Ok(())
    }
    fn set_unauthorized(&mut self, unauthorized: bool) -> anyhow::Result<()> {
        self.state().unauthorized = unauthorized;
        Ok(())
    }
}

fn pusher(outbox: &VecOutbox, client: HubClient, batch_max: usize) -> Pusher<VecOutbox> {
    let config = PusherConfig {
        batch_max,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
    };
    Pusher::new(outbox.clone(), client, StdRng::seed_from_u64(7), config)
}

// ================================================================== client

#[tokio::test]
async fn upload_posts_events_with_bearer_token_and_returns_results() {
    let hub = Hub::start(|seen, _| accept_all(seen)).await;
    let events: Vec<Event> = (0..3).map(event).collect();
    let response = hub.client().upload(&events).await.unwrap();
    assert_eq!(response.results.len(), 3);
    assert!(response
        .results
        .iter()
        .all(|r| r.status == ResultStatus::Accepted));
    let seen = &hub.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/api/v1/attendance/events");
    assert_eq!(seen.auth.as_deref(), Some("Bearer device-token-1"));
    let sent: UploadRequest = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent.events, events);
}

#[tokio::test]
async fn enroll_carries_no_token_and_parses_the_answer() {
    let hub = Hub::start(|_, _| {
        Reply::raw(
            200,
            r#"{"device_id": "dev_01", "token": "secret", "future": true,
                "center": {"id": "c1", "name": "Maple", "timezone": "America/Chicago"},
                "pin_key": "AAAA", "qr_keys": [{"kid": "k1", "ed25519_public": "BBBB"}]}"#,
        )
    })
    .await;
    let client = HubClient::new(&hub.url(), None, Duration::from_secs(5)).unwrap();
    let request = EnrollRequest {
        code: "7F3K-Q2PD".into(),
        name: "Front door".into(),
        version: "0.1.0".into(),
    };
    let answer = client.enroll(&request).await.unwrap();
    assert_eq!(answer.device_id, "dev_01");
    assert_eq!(answer.qr_keys[0].kid, "k1");
    let seen = &hub.seen()[0];
    assert_eq!(seen.path, "/api/v1/devices/enroll");
    assert_eq!(seen.auth, None);
    let sent: EnrollRequest = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent, request);
}

#[tokio::test]
async fn enroll_with_unknown_code_is_permanent_not_unauthorized() {
    let hub = Hub::start(|_, _| Reply::error(401, "unknown_code", "no such enrollment code")).await;
    let client = HubClient::new(&hub.url(), None, Duration::from_secs(5)).unwrap();
    let request = EnrollRequest {
        code: "NOPE".into(),
        name: "Front door".into(),
        version: "0.1.0".into(),
    };
    let err = client.enroll(&request).await.unwrap_err();
    assert_eq!(
        err,
        SyncError::Permanent {
            status: 401,
            code: "unknown_code".into(),
            message: "no such enrollment code".into()
        }
    );
}

#[tokio::test]
async fn read_endpoints_use_their_paths_and_encode_cursors() {
    let hub = Hub::start(|seen, _| match seen.path.as_str() {
        "/api/v1/roster" => Reply::raw(
            200,
            r#"{"cursor": "r_2", "full": false,
                "center": {"id": "c1", "name": "Maple", "timezone": "America/Chicago"}}"#,
        ),
        "/api/v1/attendance/events" => {
            Reply::raw(200, r#"{"events": [], "cursor": "e_9", "more": true}"#)
        }
        "/api/v1/attendance/current" => Reply::raw(
            200,
            r#"{"as_of": "2026-11-23T08:32:15-06:00",
                "children": [{"child_id": "child_1", "room_id": "room_101", "since": "2026-11-23T07:00:00-06:00"}]}"#,
        ),
        "/api/v1/devices/heartbeat" => Reply::raw(204, ""),
        _ => Reply::error(404, "not_found", "no route"),
    })
    .await;
    let client = hub.client();

    let roster = client.roster(Some("r 1&x=2")).await.unwrap();
    assert_eq!(roster.cursor, "r_2");
    assert!(!roster.full);
    client.roster(None).await.unwrap();
    let peers = client.peer_events(Some("e_5"), 500, None).await.unwrap();
    assert_eq!(peers.cursor, "e_9");
    assert!(peers.more);
    let current = client.current().await.unwrap();
    assert_eq!(current.children[0].child_id, "child_1");
    client.heartbeat(&heartbeat()).await.unwrap();

    let seen = hub.seen();
    assert_eq!(seen[0].query.as_deref(), Some("since=r+1%26x%3D2"));
    assert_eq!(seen[1].query, None);
    let q = seen[2].query.clone().unwrap();
    assert!(
        q.contains("limit=500") && q.contains("after=e_5"),
        "query {q}"
    );
    assert_eq!(seen[4].method, "POST");
    let sent: Heartbeat = serde_json::from_slice(&seen[4].body).unwrap();
    assert_eq!(sent, heartbeat());
    assert!(seen
        .iter()
        .all(|s| s.auth.as_deref() == Some("Bearer device-token-1")));
}

#[tokio::test]
async fn every_status_is_classified_over_real_http() {
    let hub = Hub::start(|seen, _| match seen.query.as_deref().unwrap_or("") {
        "since=503" => Reply::error(503, "maintenance", "back soon").header("retry-after", "7"),
        "since=429" => Reply::raw(429, "slow down").header("retry-after", "30"),
        "since=408" => Reply::raw(408, ""),
        "since=500" => Reply::raw(500, "<html>boom</html>"),
        "since=401" => Reply::error(401, "unauthorized", "token revoked"),
        "since=400" => Reply::error(400, "bad_cursor", "cursor r_x is not ours"),
        "since=404" => Reply::raw(404, "nothing here"),
        "since=302" => Reply::raw(302, "").header("location", "https://elsewhere.example/"),
        other => panic!("unexpected {other}"),
    })
    .await;
    let client = hub.client();
    let get = |s: &'static str| {
        let client = client.clone();
        async move { client.roster(Some(s)).await.unwrap_err() }
    };

    let e = get("503").await;
    assert_eq!(
        e,
        SyncError::Transient {
            status: 503,
            retry_after: Some(Duration::from_secs(7)),
            message: "back soon".into()
        }
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(e.is_retryable());

    let e = get("429").await;
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert!(matches!(e, SyncError::Transient { status: 429, .. }));
    assert!(matches!(
        get("408").await,
        SyncError::Transient {
            status: 408,
            retry_after: None,
            ..
        }
    ));
    let e = get("500").await;
    assert_eq!(
        e.to_string(),
        "hub temporarily unavailable (HTTP 500): Internal Server Error"
    );

    let e = get("401").await;
    assert_eq!(e, SyncError::Unauthorized);
    assert!(!e.is_retryable());

    assert_eq!(
        get("400").await,
        SyncError::Permanent {
            status: 400,
            code: "bad_cursor".into(),
            message: "cursor r_x is not ours".into()
        }
    );
    assert_eq!(
        get("404").await,
        SyncError::Permanent {
            status: 404,
            code: "http_404".into(),
            message: "Not Found".into()
        }
    );
    let e = get("302").await;
    assert!(
        matches!(&e, SyncError::Malformed(m) if m.contains("redirect")),
        "{e}"
    );
    // The redirect was reported, not followed.
    assert_eq!(hub.count(), 8);
}

#[tokio::test]
async fn junk_body_is_malformed_with_an_actionable_message() {
    let hub =
        Hub::start(|_, _| Reply::raw(200, "<html><body>Welcome to nginx</body></html>")).await;
    let e = hub.client().current().await.unwrap_err();
    let SyncError::Malformed(message) = &e else {
        panic!("expected Malformed, got {e:?}");
    };
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(message.contains("hub URL"), "{message}");
    assert!(
        !message.contains("nginx"),
        "payload must not be quoted: {message}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn body_caps_are_per_endpoint() {
    // 5 MiB of valid JSON: over the 4 MiB cap of ordinary answers, under the roster's 16.
    let mut big = br#"{"cursor": "r_1", "full": true, "as_of": "2026-11-23T08:32:15-06:00",
        "center": {"id": "c1", "name": "Maple", "timezone": "America/Chicago"},
        "rooms": [], "staff": [], "families": []"#
        .to_vec();
    big.resize(5 * 1024 * 1024, b' ');
    big.push(b'}');
    let hub = Hub::start(move |_, _| Reply::raw(200, big.clone())).await;
    let client = hub.client();
    let e = client.current().await.unwrap_err();
    assert!(
        matches!(&e, SyncError::Malformed(m) if m.contains("larger than the 4 MiB limit")),
        "{e:?}"
    );
    let roster = client.roster(None).await.unwrap();
    assert_eq!(roster.cursor, "r_1");
}

#[tokio::test]
async fn endless_chunked_body_without_length_is_cut_at_the_cap() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        let header = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                      transfer-encoding: chunked\r\n\r\n";
        if sock.write_all(header.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        // 64 MiB if nobody stops us: far beyond any cap.
        for _ in 0..1024 {
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
    });
    let client = HubClient::new(
        &format!("http://{addr}"),
        Some(TOKEN.into()),
        Duration::from_secs(20),
    )
    .unwrap();
    let e = client.current().await.unwrap_err();
    assert!(
        matches!(&e, SyncError::Malformed(m) if m.contains("4 MiB")),
        "{e:?}"
    );
}

#[tokio::test]
async fn closed_port_is_a_network_error_in_plain_words() {
    let client = HubClient::new(
        &closed_port().await,
        Some(TOKEN.into()),
        Duration::from_secs(5),
    )
    .unwrap();
    let e = client.current().await.unwrap_err();
    assert_eq!(e, SyncError::Network("connection refused".into()));
    assert_eq!(e.to_string(), "hub unreachable: connection refused");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_hub_slower_than_the_timeout_is_a_network_error() {
    let hub = Hub::start(|_, _| Reply {
        delay: Some(Duration::from_secs(3)),
        ..Reply::raw(204, "")
    })
    .await;
    let client =
        HubClient::new(&hub.url(), Some(TOKEN.into()), Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let e = client.heartbeat(&heartbeat()).await.unwrap_err();
    assert!(
        matches!(&e, SyncError::Network(m) if m.contains("no answer within")),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn without_a_token_only_enrollment_reaches_the_hub() {
    let hub = Hub::start(|_, _| Reply::raw(204, "")).await;
    let client = HubClient::new(&hub.url(), None, Duration::from_secs(5)).unwrap();
    assert_eq!(
        client.heartbeat(&heartbeat()).await,
        Err(SyncError::Unauthorized)
    );
    assert_eq!(
        client.upload(&[event(0)]).await.unwrap_err(),
        SyncError::Unauthorized
    );
    assert_eq!(hub.count(), 0);
}

#[tokio::test]
async fn upload_results_that_do_not_match_the_batch_are_malformed() {
    // Request 0: one result missing. 1: right count, wrong order. 2: an unknown id.
    let hub = Hub::start(|seen, i| {
        let req: UploadRequest = serde_json::from_slice(&seen.body).unwrap();
        let mut results: Vec<EventResult> = req
            .events
            .iter()
            .map(|e| EventResult {
                event_id: e.event_id.clone(),
                status: ResultStatus::Accepted,
                reason: None,
            })
            .collect();
        match i {
            0 => {
                results.pop();
            }
            1 => results.swap(0, 1),
            _ => results[2].event_id = "0190f3c1-0000-7000-8000-ffffffffffff".into(),
        }
        Reply::json(200, UploadResponse { results })
    })
    .await;
    let client = hub.client();
    let events: Vec<Event> = (0..3).map(event).collect();
    for expected in ["2 results for 3 events", "at position 1", "at position 3"] {
        let e = client.upload(&events).await.unwrap_err();
        assert!(
            matches!(&e, SyncError::Malformed(m) if m.contains(expected)),
            "{expected}: {e:?}"
        );
    }
}

// ================================================================== pusher

#[tokio::test]
async fn pusher_delivers_oldest_first_in_batches_of_at_most_batch_max() {
    let hub = Hub::start(|seen, _| accept_all(seen)).await;
    let outbox = VecOutbox::with(7);
    let mut p = pusher(&outbox, hub.client(), 3);

    let mut outcomes = Vec::new();
    loop {
        let outcome = p.push_once().await;
        if outcome == PushOutcome::Idle {
            break;
        }
        outcomes.push(outcome);
    }
    let sizes: Vec<usize> = outcomes
        .iter()
        .map(|o| match o {
            PushOutcome::Delivered { accepted, .. } => *accepted,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(sizes, [3, 3, 1]);
    let batches: Vec<Vec<String>> = hub.seen().iter().map(Seen::uploaded_ids).collect();
    assert_eq!(batches, [ids(0..3), ids(3..6), ids(6..7)]);
    assert_eq!(outbox.state().delivered, ids(0..7));
    assert!(outbox.pending_ids().is_empty());
    assert!(p.status().online);
    assert!(p.status().last_success_at.is_some());
}

#[tokio::test]
async fn rejected_event_is_parked_and_the_rest_delivered() {
    let hub = Hub::start(|seen, _| {
        results_for(seen, |e| match e.child_id.as_deref() {
            Some("child_0") => (ResultStatus::Duplicate, None),
            Some("child_2") => (ResultStatus::Rejected, Some("unknown child")),
            _ => (ResultStatus::Accepted, None),
        })
    })
    .await;
    let outbox = VecOutbox::with(4);
    let mut p = pusher(&outbox, hub.client(), 500);
    assert_eq!(
        p.push_once().await,
        PushOutcome::Delivered {
            accepted: 2,
            duplicate: 1,
            rejected: 1
        }
    );
    let s = outbox.state();
    assert_eq!(s.parked, [(event(2).event_id, "unknown child".to_string())]);
    assert_eq!(s.delivered, [ids(0..2), ids(3..4)].concat());
    assert!(s.pending.is_empty());
}

#[tokio::test]
async fn transient_failure_keeps_every_row_and_resends_the_same_ids() {
    let hub = Hub::start(|seen, i| {
        if i == 0 {
            Reply::error(503, "maintenance", "back soon").header("retry-after", "7")
        } else {
            accept_all(seen)
        }
    })
    .await;
    let outbox = VecOutbox::with(3);
    let mut p = pusher(&outbox, hub.client(), 500);

    let PushOutcome::RetryLater(delay) = p.push_once().await else {
        panic!("expected RetryLater");
    };
    assert!(
        delay >= Duration::from_secs(7),
        "Retry-After honoured: {delay:?}"
    );
    assert_eq!(outbox.pending_ids(), ids(0..3), "nothing deleted");
    assert!(outbox.state().parked.is_empty());
    assert_eq!(outbox.state().failures[0].0, ids(0..3));
    assert!(outbox.state().failures[0].1.contains("503"));
    assert!(!p.status().online);
    assert_eq!(p.status().next_retry_in, Some(delay));
    assert!(p
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("back soon"));

    assert!(matches!(
        p.push_once().await,
        PushOutcome::Delivered { accepted: 3, .. }
    ));
    let seen = hub.seen();
    assert_eq!(seen[0].uploaded_ids(), seen[1].uploaded_ids());
    assert_eq!(outbox.state().delivered, ids(0..3));
    assert!(p.status().online);
    assert_eq!(p.status().last_error, None);
    assert_eq!(p.status().next_retry_in, None);
}

#[tokio::test]
async fn network_failures_back_off_exponentially_and_keep_rows() {
    let client = HubClient::new(
        &closed_port().await,
        Some(TOKEN.into()),
        Duration::from_secs(5),
    )
    .unwrap();
    let outbox = VecOutbox::with(2);
    let mut p = pusher(&outbox, client, 500);
    for n in 0..5u32 {
        let PushOutcome::RetryLater(delay) = p.push_once().await else {
            panic!("expected RetryLater");
        };
        let nominal = Duration::from_secs(1 << n);
        assert!(
            delay >= nominal / 2 && delay <= nominal,
            "attempt {n}: {delay:?}"
        );
    }
    assert_eq!(outbox.pending_ids(), ids(0..2));
    assert_eq!(
        p.status().last_error.as_deref(),
        Some("hub unreachable: connection refused")
    );
}

#[tokio::test]
async fn garbled_upload_answer_keeps_every_row() {
    let hub = Hub::start(|_, _| Reply::json(200, UploadResponse { results: vec![] })).await;
    let outbox = VecOutbox::with(2);
    let mut p = pusher(&outbox, hub.client(), 500);
    assert!(matches!(p.push_once().await, PushOutcome::RetryLater(_)));
    assert_eq!(outbox.pending_ids(), ids(0..2));
    assert!(outbox.state().delivered.is_empty());
}

#[tokio::test]
async fn store_failure_after_upload_retries_and_hub_duplicates_settle_it() {
    let hub = Hub::start(|seen, i| {
        results_for(seen, move |_| {
            if i == 0 {
                (ResultStatus::Accepted, None)
            } else {
                (ResultStatus::Duplicate, None)
            }
        })
    })
    .await;
    let outbox = VecOutbox::with(2);
    outbox.state().fail_next_settle = true;
    let mut p = pusher(&outbox, hub.client(), 500);
    assert!(matches!(p.push_once().await, PushOutcome::RetryLater(_)));
    assert_eq!(outbox.pending_ids(), ids(0..2));
    assert!(p
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("disk I/O error"));
    assert_eq!(
        p.push_once().await,
        PushOutcome::Delivered {
            accepted: 0,
            duplicate: 2,
            rejected: 0
        }
    );
    assert!(outbox.pending_ids().is_empty());
}

#[tokio::test]
async fn permanent_batch_error_isolates_and_parks_only_the_offending_event() {
    // The hub refuses any upload containing child_2 as a whole.
    let hub = Hub::start(|seen, _| {
        let req: UploadRequest = serde_json::from_slice(&seen.body).unwrap();
        if req
            .events
            .iter()
            .any(|e| e.child_id.as_deref() == Some("child_2"))
        {
            Reply::error(422, "invalid_event", "room_101 is closed")
        } else {
            accept_all(seen)
        }
    })
    .await;
    let outbox = VecOutbox::with(8);
    let mut p = pusher(&outbox, hub.client(), 4);

    let mut outcomes = Vec::new();
    loop {
        match p.push_once().await {
            PushOutcome::Idle => break,
            outcome => outcomes.push(outcome),
        }
        assert!(outcomes.len() < 20, "no progress: {outcomes:?}");
    }
    assert_eq!(outcomes[0], PushOutcome::Isolating { suspects: 4 });
    assert_eq!(
        outcomes[3],
        PushOutcome::Parked {
            event_id: event(2).event_id,
            reason: "room_101 is closed (invalid_event)".into()
        }
    );
    let batches: Vec<Vec<String>> = hub.seen().iter().map(Seen::uploaded_ids).collect();
    assert_eq!(
        batches,
        [
            ids(0..4),
            ids(0..1),
            ids(1..2),
            ids(2..3),
            ids(3..4),
            ids(4..8), // suspects cleared: back to full batches
        ]
    );
    let s = outbox.state();
    assert_eq!(
        s.parked,
        [(
            event(2).event_id,
            "room_101 is closed (invalid_event)".into()
        )]
    );
    assert_eq!(s.delivered, [ids(0..2), ids(3..8)].concat());
}

#[tokio::test]
async fn a_missing_upload_endpoint_is_retried_not_parked() {
    let hub = Hub::start(|_, _| Reply::raw(404, "")).await;
    let outbox = VecOutbox::with(1);
    let mut p = pusher(&outbox, hub.client(), 500);
    assert!(matches!(p.push_once().await, PushOutcome::RetryLater(_)));
    assert!(outbox.state().parked.is_empty());
    assert_eq!(outbox.pending_ids(), ids(0..1));
    assert!(p
        .status()
        .last_error
        .as_deref()
        .unwrap()
        .contains("hub URL"));
}

#[tokio::test]
async fn unauthorized_sets_the_flag_and_stops_run() {
    let hub = Hub::start(|_, _| Reply::error(401, "unauthorized", "token revoked")).await;
    let outbox = VecOutbox::with(3);
    let p = pusher(&outbox, hub.client(), 500);
    let (status_tx, status_rx) = watch::channel(PusherStatus::default());
    let (_shutdown_tx, shutdown_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    tokio::time::timeout(
        Duration::from_secs(10),
        p.run(wake.clone(), status_tx, shutdown_rx),
    )
    .await
    .expect("run returns by itself on 401");
    assert!(outbox.state().unauthorized);
    assert!(status_rx.borrow().unauthorized);
    assert_eq!(hub.count(), 1, "a refused kiosk stops calling");
    assert_eq!(
        outbox.pending_ids(),
        ids(0..3),
        "attendance is kept locally"
    );
}

#[tokio::test]
async fn run_wakes_on_notify_and_stops_on_shutdown() {
    let hub = Hub::start(|seen, _| accept_all(seen)).await;
    let outbox = VecOutbox::default();
    let p = pusher(&outbox, hub.client(), 500);
    let (status_tx, mut status_rx) = watch::channel(PusherStatus::default());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(p.run(wake.clone(), status_tx, shutdown_rx));

    // Idle: nothing to send, nothing sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.count(), 0);

    // A commit: the row lands in the outbox, then the pusher is woken (the idle tick is
    // 30 s, so only the notification can explain a prompt upload).
    outbox.state().pending.push(event(0));
    wake.notify_one();
    hub.wait_for(1).await;
    tokio::time::timeout(
        Duration::from_secs(5),
        status_rx.wait_for(|s| s.last_success_at.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(outbox.state().delivered, ids(0..1));
    assert!(status_rx.borrow().online);

    shutdown_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn commits_do_not_bypass_backoff_but_shutdown_ends_it() {
    let hub = Hub::start(|_, _| Reply::raw(503, "").header("retry-after", "3600")).await;
    let outbox = VecOutbox::with(1);
    let p = pusher(&outbox, hub.client(), 500);
    let (status_tx, status_rx) = watch::channel(PusherStatus::default());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(p.run(wake.clone(), status_tx, shutdown_rx));

    hub.wait_for(1).await;
    for n in 1..4 {
        outbox.state().pending.push(event(n));
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.count(), 1, "backoff holds despite commits");
    {
        let status = status_rx.borrow();
        assert!(!status.online);
        assert!(status.next_retry_in >= Some(Duration::from_secs(300)));
        assert!(status.last_error.as_deref().unwrap().contains("503"));
    }
    assert_eq!(outbox.pending_ids(), ids(0..4));

    shutdown_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("shutdown interrupts the backoff sleep")
        .unwrap();
}

// ================================================================== heartbeat

#[tokio::test]
async fn heartbeat_is_sent_at_start_and_stops_on_shutdown() {
    let hub = Hub::start(|_, _| Reply::raw(204, "")).await;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run_heartbeat(
        hub.client(),
        Duration::from_secs(3600),
        heartbeat,
        Arc::new(Health::new()),
        shutdown_rx,
    ));
    hub.wait_for(1).await;
    let seen = &hub.seen()[0];
    assert_eq!(seen.path, "/api/v1/devices/heartbeat");
    assert_eq!(seen.auth.as_deref(), Some("Bearer device-token-1"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.count(), 1, "next one only after the interval");
    shutdown_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("heartbeat stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn heartbeat_keeps_going_through_failures() {
    let hub = Hub::start(|_, i| {
        if i % 2 == 0 {
            Reply::raw(503, "")
        } else {
            Reply::raw(204, "")
        }
    })
    .await;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run_heartbeat(
        hub.client(),
        Duration::from_secs(1),
        heartbeat,
        Arc::new(Health::new()),
        shutdown_rx,
    ));
    hub.wait_for(3).await;
    assert!(!task.is_finished());
    shutdown_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn heartbeat_stops_when_the_token_is_refused() {
    let hub = Hub::start(|_, _| Reply::error(401, "unauthorized", "revoked")).await;
    let (_shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::time::timeout(
        Duration::from_secs(10),
        run_heartbeat(
            hub.client(),
            Duration::from_secs(1),
            heartbeat,
            Arc::new(Health::new()),
            shutdown_rx,
        ),
    )
    .await
    .expect("heartbeat returns by itself on 401");
    assert_eq!(hub.count(), 1);
}

// ================================================================== a hostile or broken hub

/// `Retry-After: 999999999` is held to five minutes, and a heartbeat that gets through
/// (the hub is back) ends the pusher's wait at once.
#[tokio::test]
async fn a_huge_retry_after_is_capped_and_any_success_ends_the_wait() {
    let hub = Hub::start(|seen, _| match seen.path.as_str() {
        "/api/v1/devices/heartbeat" => Reply::raw(204, ""),
        _ if seen_uploads_before(seen) => accept_all(seen),
        _ => Reply::raw(429, "").header("retry-after", "999999999"),
    })
    .await;
    let outbox = VecOutbox::with(2);
    let health = Arc::new(Health::new());
    let p = pusher(&outbox, hub.client(), 500).with_health(health.clone());
    let (status_tx, mut status_rx) = watch::channel(PusherStatus::default());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(p.run(Arc::new(Notify::new()), status_tx, shutdown_rx.clone()));
    tokio::time::timeout(
        Duration::from_secs(5),
        status_rx.wait_for(|s| s.next_retry_in.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let wait = status_rx.borrow().next_retry_in.unwrap();
    assert!(
        wait <= Duration::from_secs(300) && wait >= Duration::from_secs(299),
        "{wait:?}"
    );
    assert!(health.snapshot().upload.as_deref().unwrap().contains("429"));

    // The heartbeat reaches the hub: the pusher goes now, not in five minutes.
    let hb = tokio::spawn(run_heartbeat(
        hub.client(),
        Duration::from_secs(3600),
        heartbeat,
        health.clone(),
        shutdown_rx,
    ));
    tokio::time::timeout(Duration::from_secs(5), async {
        while outbox.state().delivered.len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("delivered soon after the hub answered a heartbeat");
    assert_eq!(outbox.state().delivered, ids(0..2));
    assert_eq!(health.snapshot().upload, None, "cleared by the delivery");
    shutdown_tx.send_replace(true);
    task.await.unwrap();
    hb.await.unwrap();
}

/// The hub answers 429 to the first upload only.
fn seen_uploads_before(seen: &Seen) -> bool {
    static UPLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    seen.path == "/api/v1/attendance/events"
        && UPLOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0
}

/// Each failing loop's last error reaches the hub in the next heartbeat that gets
/// through (a field hubs that do not know it ignore), and a heartbeat failure is
/// itself reported.
#[tokio::test]
async fn the_heartbeat_carries_the_last_error_of_each_loop() {
    let hub = Hub::start(|_, i| {
        if i == 0 {
            Reply::error(503, "maintenance", "back soon")
        } else {
            Reply::raw(204, "")
        }
    })
    .await;
    let health = Arc::new(Health::new());
    health.failed(
        Loop::Upload,
        Failure::of(&SyncError::Network("connection refused".into())),
    );
    health.failed(
        Loop::Disk,
        Failure::new(Trouble::Disk, "the disk is read-only"),
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run_heartbeat(
        hub.client(),
        Duration::from_secs(1),
        heartbeat,
        health.clone(),
        shutdown_rx,
    ));
    hub.wait_for(2).await;
    shutdown_tx.send_replace(true);
    task.await.unwrap();
    let second: serde_json::Value = serde_json::from_slice(&hub.seen()[1].body).unwrap();
    let errors = &second["last_errors"];
    assert_eq!(errors["upload"], "hub unreachable: connection refused");
    assert_eq!(errors["disk"], "the disk is read-only");
    assert_eq!(
        errors["heartbeat"],
        "hub temporarily unavailable (HTTP 503): back soon"
    );
    assert!(errors.get("roster").is_none(), "{errors}");
    // A v1 hub's view of it: the known fields parse, the addition is ignored.
    let sent: Heartbeat = serde_json::from_slice(&hub.seen()[1].body).unwrap();
    assert_eq!(sent.queue_depth, 3);
    assert_eq!(
        health.snapshot().heartbeat,
        None,
        "cleared once one got through"
    );
    // Nothing failing: the field is left out.
    let quiet = serde_json::to_value(heartbeat()).unwrap();
    assert!(quiet.get("last_errors").is_none());
}

const HOSTILE: &str =
    "\u{1b}[2J\u{1b}]0;pwned\u{7}Dana \u{202E}txet\u{202C} Rivera\u{200B} has PIN trouble";

/// Hub prose is cleaned (no escapes, no bidi overrides, no zero-width characters),
/// capped, and kept out of log lines, which carry the status and code only.
#[tokio::test]
async fn hub_text_is_cleaned_capped_and_not_logged() {
    let long = format!("{HOSTILE} {}", "x".repeat(10_000));
    let hub = Hub::start(move |_, _| Reply::error(422, "bad\u{1b}[31m_event", &long)).await;
    let err = hub.client().upload(&[event(0)]).await.unwrap_err();
    let shown = err.to_string();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{202E}'),
        "{shown:?}"
    );
    assert!(!shown.contains('\u{200B}'), "{shown:?}");
    assert!(
        shown.contains("Dana txet Rivera has PIN trouble"),
        "{shown:?}"
    );
    assert!(
        shown.chars().count() < 400,
        "capped: {}",
        shown.chars().count()
    );
    assert!(shown.contains('…'));
    let logged = err.log_text();
    assert_eq!(logged, "hub refused the request (HTTP 422 bad31m_event)");
    assert!(!logged.contains("Dana"));
}

/// A rejection reason is shown to staff cleaned and capped.
#[tokio::test]
async fn rejection_reasons_are_cleaned_before_they_are_parked() {
    let long: &'static str = Box::leak(format!("{HOSTILE}{}", "y".repeat(10_000)).into_boxed_str());
    let hub =
        Hub::start(move |seen, _| results_for(seen, |_| (ResultStatus::Rejected, Some(long))))
            .await;
    let outbox = VecOutbox::with(1);
    let mut p = pusher(&outbox, hub.client(), 500);
    p.push_once().await;
    let (_, reason) = outbox.state().parked[0].clone();
    assert!(
        !reason.contains('\u{1b}') && !reason.contains('\u{202E}'),
        "{reason:?}"
    );
    assert!(
        reason.starts_with("[2J]0;pwnedDana txet Rivera"),
        "{reason:?}"
    );
    assert!(reason.chars().count() <= 300, "{}", reason.chars().count());
}

// ================================================================== peer feed

fn peer_json(n: usize, at: &str) -> serde_json::Value {
    let mut e = serde_json::to_value(event(n)).unwrap();
    e["occurred_at"] = at.into();
    e["device_id"] = "dev_side".into();
    e
}

fn page(events: Vec<serde_json::Value>, cursor: &str, more: bool) -> Reply {
    Reply::json(
        200,
        serde_json::json!({"events": events, "cursor": cursor, "more": more}),
    )
}

/// A page with bad events is read leniently: each bad one (wrong shape, over the size
/// or field limits) is skipped and counted, the good ones are kept, the cursor moves on.
#[tokio::test]
async fn a_bad_peer_event_is_skipped_and_counted_not_fatal() {
    let at = "2026-11-23T08:00:00-06:00";
    let mut wrong_type = peer_json(1, at);
    wrong_type["type"] = 42.into();
    let mut too_big = peer_json(2, at);
    too_big["padding"] = "p".repeat(9000).into();
    let mut too_many_flags = peer_json(3, at);
    too_many_flags["flags"] = serde_json::json!(vec!["f"; 17]);
    let mut escape_id = peer_json(4, at);
    escape_id["child_id"] = "child_\u{1b}[2J".into();
    let mut long_name = peer_json(5, at);
    long_name["actor"]["name"] = "n".repeat(201).into();
    let mut hostile_name = peer_json(6, at);
    hostile_name["actor"]["name"] = HOSTILE.into();
    let events = vec![
        peer_json(0, at),
        wrong_type,
        too_big,
        too_many_flags,
        escape_id,
        long_name,
        hostile_name,
    ];
    let hub = Hub::start(move |_, _| page(events.clone(), "e_7", false)).await;
    let got = hub.client().peer_events(None, 500, None).await.unwrap();
    assert_eq!(got.cursor, "e_7");
    assert_eq!(got.skipped, 5);
    let kept: Vec<&str> = got
        .events
        .iter()
        .map(|p| p.event.event_id.as_str())
        .collect();
    assert_eq!(kept, [event(0).event_id, event(6).event_id]);
    assert_eq!(
        got.events[1].event.actor.name,
        "[2J]0;pwnedDana txet Rivera has PIN trouble"
    );
}

struct PeerStore {
    _dir: tempfile::TempDir,
    store: cubby::store::Store,
}

fn peer_store() -> PeerStore {
    let dir = tempfile::tempdir().unwrap();
    let store = cubby::store::Store::open(&dir.path().join("kiosk.sqlite")).unwrap();
    PeerStore { _dir: dir, store }
}

/// A page the kiosk cannot read at all (over the 4 MiB limit) is asked for again with a
/// smaller `limit`, so the feed moves on instead of failing on the same cursor forever;
/// a single event that cannot be read even alone is reported, and nothing local is lost.
#[tokio::test]
async fn an_unreadable_peer_page_is_retried_smaller_then_reported() {
    use cubby::sync::puller::{pull_peer_events, PEER_PAGE_LIMIT};
    // Events 0..300 from the side door; a page of more than 100 is over 4 MiB.
    let hub = Hub::start(|seen, _| {
        let q = seen.query.clone().unwrap_or_default();
        let param = |k: &str| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
        };
        let limit: usize = param("limit").unwrap().parse().unwrap();
        let after: usize = param("after")
            .map(|c| c.trim_start_matches("e_").parse().unwrap())
            .unwrap_or(0);
        if after == 250 {
            return Reply::raw(200, "{\"events\": [{\"event_id\": ");
        }
        if limit > 100 {
            return Reply::raw(200, vec![b' '; 5 * 1024 * 1024]);
        }
        let end = (after + limit).min(250);
        let events = (after..end)
            .map(|n| peer_json(1000 + n, "2026-11-23T08:00:00-06:00"))
            .collect();
        page(events, &format!("e_{end}"), true)
    })
    .await;
    let mut s = peer_store();
    let own = event(1);
    s.store
        .record_local(std::slice::from_ref(&own), chrono::Utc::now())
        .unwrap();
    let mut limit = PEER_PAGE_LIMIT;
    let now = chrono::Utc::now();
    let err = pull_peer_events(&hub.client(), &mut s.store, &mut limit, now, None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(limit, 1, "shrunk down to single events");
    assert_eq!(
        s.store
            .meta(cubby::store::keys::PEER_CURSOR)
            .unwrap()
            .as_deref(),
        Some("e_250"),
        "moved past every page it could read"
    );
    assert_eq!(
        s.store.event_count().unwrap(),
        251,
        "own event kept, 250 merged"
    );
    assert_eq!(
        s.store.queue_stats().unwrap().depth,
        1,
        "own event still to send"
    );
}

/// A peer event dated far after the hub received it counts as received, flagged
/// `clock_suspect`: a check-out dated 9999 does not hide the child, a check-in dated
/// 9999 does not keep them "in" every day.
#[tokio::test]
async fn a_peer_event_from_a_clock_far_ahead_counts_when_the_hub_received_it() {
    use cubby::sync::puller::{pull_peer_events, PEER_PAGE_LIMIT};
    let mut check_in = peer_json(1, "2026-11-23T08:00:00-06:00");
    check_in["received_at"] = "2026-11-23T14:00:10Z".into();
    let mut bogus_out = peer_json(2, "9999-12-31T23:00:00-06:00");
    bogus_out["type"] = "check_out".into();
    bogus_out["child_id"] = "child_1".into();
    bogus_out["received_at"] = "2026-11-23T14:30:00Z".into();
    let mut bogus_in = peer_json(3, "9999-12-31T23:00:00-06:00");
    bogus_in["child_id"] = "child_9".into();
    bogus_in["received_at"] = "2026-11-23T15:00:00Z".into();
    let hub = Hub::start(move |_, _| {
        page(
            vec![check_in.clone(), bogus_out.clone(), bogus_in.clone()],
            "e_3",
            false,
        )
    })
    .await;
    let mut s = peer_store();
    let mut limit = PEER_PAGE_LIMIT;
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T16:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let pull = pull_peer_events(&hub.client(), &mut s.store, &mut limit, now, None, None)
        .await
        .unwrap();
    assert_eq!((pull.added, pull.clock_suspect), (3, 2));
    let today = chrono::DateTime::parse_from_rfc3339("2026-11-23T06:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let events = s.store.events_since(today).unwrap();
    let out = events
        .iter()
        .find(|e| e.event_id == event(2).event_id)
        .unwrap();
    assert_eq!(out.occurred_at.to_rfc3339(), "2026-11-23T08:30:00-06:00");
    assert!(out.flags.contains(&"clock_suspect".to_string()));
    let p = cubby::domain::presence::Presence::from_events(&events);
    assert!(
        !p.is_in("child_1"),
        "checked in at 8:00, out at 8:30 (as received)"
    );
    assert!(p.is_in("child_9"), "checked in today, as received");
    // Tomorrow the 9999 check-in is yesterday's: child_9 is not "in" again.
    let tomorrow = today + chrono::Duration::days(1);
    let p =
        cubby::domain::presence::Presence::from_events(&s.store.events_since(tomorrow).unwrap());
    assert!(!p.is_in("child_9"));
    assert!(p.children.is_empty());
}

#[tokio::test]
async fn a_long_poll_asks_for_wait_and_may_be_held_past_the_client_timeout() {
    // The hub holds the request 6 s (longer than the client's 5 s timeout), then answers.
    let hub = Hub::start(|_, _| {
        let mut r = page(
            vec![peer_json(0, "2026-11-23T08:00:00-06:00")],
            "e_1",
            false,
        );
        r.delay = Some(Duration::from_secs(6));
        r
    })
    .await;
    let got = hub
        .client()
        .peer_events(Some("e_0"), 500, Some(Duration::from_secs(25)))
        .await
        .unwrap();
    assert_eq!(got.events.len(), 1);
    let q = hub.seen()[0].query.clone().unwrap();
    assert!(q.contains("wait=25") && q.contains("after=e_0"), "{q}");
    // More than the contract's 30 s is never asked for.
    let hub = Hub::start(|_, _| page(vec![], "e_0", false)).await;
    hub.client()
        .peer_events(Some("e_0"), 500, Some(Duration::from_secs(90)))
        .await
        .unwrap();
    let q = hub.seen()[0].query.clone().unwrap();
    assert!(q.contains("wait=30"), "{q}");
    // Without wait, the client's own timeout holds.
    let hub = Hub::start(|_, _| {
        let mut r = page(vec![], "e_0", false);
        r.delay = Some(Duration::from_secs(6));
        r
    })
    .await;
    let err = hub
        .client()
        .peer_events(Some("e_0"), 500, None)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{err}");
}
