//! End-to-end tests of the reference hub over HTTP: a real server on 127.0.0.1:0 with a
//! temporary database, driven with reqwest, checked against `docs/hub-api.md` and the
//! demo center fixtures (`docs/demo-center.md`).

use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::Utc;
use clap::Parser;
use cubby::api::{
    CurrentResponse, EnrollResponse, ErrorBody, PeerEventsResponse, ResultStatus, RosterResponse,
    UploadResponse,
};
use cubby::hub::cli::{execute_with_note, HubArgs};
use cubby::hub::{self, Faults, HubOptions, RunningHub};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Env {
    _dir: tempfile::TempDir,
    db: PathBuf,
    http: reqwest::Client,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hub.sqlite");
        Env {
            _dir: dir,
            db,
            http: reqwest::Client::new(),
        }
    }

    async fn start(&self, faults: &str) -> RunningHub {
        hub::start(HubOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: self.db.clone(),
            seed_demo: true,
            faults: faults.parse::<Faults>().unwrap(),
        })
        .await
        .unwrap()
    }

    async fn enroll(&self, hub: &RunningHub) -> EnrollResponse {
        let code = hub::create_enroll_code(&self.db).unwrap();
        let r = self
            .http
            .post(format!("{}/api/v1/devices/enroll", hub.url()))
            .json(&json!({"code": code, "name": "Front door", "version": "0.3.1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    fn get(&self, hub: &RunningHub, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", hub.url()))
            .bearer_auth(token)
    }

    fn post(&self, hub: &RunningHub, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", hub.url()))
            .bearer_auth(token)
    }

    async fn upload(&self, hub: &RunningHub, token: &str, events: &[Value]) -> reqwest::Response {
        self.post(hub, "/api/v1/attendance/events", token)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap()
    }

    /// Run `cubby hub ARGS…` (a subcommand) and return what it prints.
    fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        Ok(self.cli_with_note(args)?.0)
    }

    /// Run `cubby hub ARGS…` and return its stdout and its stderr note.
    fn cli_with_note(&self, args: &[&str]) -> anyhow::Result<(String, String)> {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            hub: HubArgs,
        }
        let mut argv = vec!["hub"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv)?;
        execute_with_note(cli.hub.command.as_ref().unwrap())
    }

    fn db_arg(&self) -> &str {
        self.db.to_str().unwrap()
    }
}

fn now_local() -> String {
    Utc::now()
        .with_timezone(&chrono_tz::America::Chicago)
        .to_rfc3339()
}

fn event(kind: &str, child: Option<&str>, staff: Option<&str>, device: &str) -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7().to_string(),
        "type": kind, "child_id": child, "staff_id": staff,
        "room_id": "room_toddlers", "to_room_id": null,
        "occurred_at": now_local(), "clock_synced": true, "device_id": device,
        "actor": {"person_id": "per_01a", "kind": "guardian", "name": "Dana Rivera"},
        "method": "pin", "flags": [], "some_future_field": 1,
    })
}

async fn error_of(r: reqwest::Response) -> ErrorBody {
    r.json::<ErrorBody>().await.unwrap()
}

fn statuses(r: &UploadResponse) -> Vec<(ResultStatus, Option<&str>)> {
    r.results
        .iter()
        .map(|x| (x.status, x.reason.as_deref()))
        .collect()
}

fn pin_hmac(pin_key_b64: &str, pin: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(pin_key_b64)
        .unwrap();
    assert_eq!(key.len(), 32);
    cubby::domain::pin::pin_hmac(&key, pin)
}

#[tokio::test]
async fn enrollment_ok_unknown_and_reused_codes() {
    let env = Env::new();
    let hub = env.start("").await;
    let code = hub::create_enroll_code(&env.db).unwrap();
    assert_eq!(code.len(), 9);
    let url = format!("{}/api/v1/devices/enroll", hub.url());
    let body = json!({"code": code, "name": "Front door", "version": "0.3.1"});
    let r = env.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let e: EnrollResponse = r.json().await.unwrap();
    assert_eq!(e.device_id, "dev_01");
    assert_eq!(e.center.id, "center_001");
    assert_eq!(e.center.name, "Maple Street Early Learning");
    assert_eq!(e.center.timezone, "America/Chicago");
    assert!(e.token.len() >= 32);

    let r = env.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(r).await.error.code, "code_used");

    let r = env
        .http
        .post(&url)
        .json(&json!({"code": "ZZZZ-ZZZZ", "name": "x", "version": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await.error.code, "unknown_code");

    let r = env.http.post(&url).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    error_of(r).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn missing_wrong_or_revoked_token_gets_401() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;

    let r = env
        .http
        .get(format!("{}/api/v1/roster", hub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await.error.code, "unauthorized");
    let r = env
        .get(&hub, "/api/v1/roster", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = env
        .get(&hub, "/api/v1/attendance/current", &e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let out = env
        .cli(&["revoke", "--db", env.db_arg(), "dev_01"])
        .unwrap();
    assert!(out.contains("dev_01"));
    for path in [
        "/api/v1/roster",
        "/api/v1/attendance/current",
        "/api/v1/attendance/events",
    ] {
        let r = env.get(&hub, path, &e.token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        error_of(r).await;
    }
    let r = env.upload(&hub, &e.token, &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(env
        .cli(&["revoke", "--db", env.db_arg(), "dev_77"])
        .is_err());
    hub.shutdown().await;
}

#[tokio::test]
async fn full_roster_has_the_demo_fixtures_and_pin_hmacs() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let r: RosterResponse = env
        .get(&hub, "/api/v1/roster", &e.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.full);
    assert!(r.cursor.starts_with("r_"));
    assert_eq!(r.center.auto_sign_out.as_deref(), Some("18:00"));
    assert_eq!(r.center.manual_sync_min_interval_s, Some(3600));
    assert_eq!(r.center.director.as_ref().unwrap().name, "Pat Moore");
    let old = r.rooms.iter().find(|x| x.id == "room_old").unwrap();
    assert!(!old.active);
    let infants = r.rooms.iter().find(|x| x.id == "room_infants").unwrap();
    assert_eq!(
        (infants.children_per_staff, infants.capacity),
        (Some(4), Some(8))
    );

    let fam = r.families.iter().find(|f| f.id == "fam_01").unwrap();
    let dana = fam.people.iter().find(|p| p.id == "per_01a").unwrap();
    assert_eq!(
        dana.pin_hmac.as_deref(),
        Some(pin_hmac(&e.pin_key, "1111").as_str())
    );
    let rosa = fam.people.iter().find(|p| p.id == "per_01p").unwrap();
    assert!(!rosa.is_payer);
    let alex = fam.children.iter().find(|c| c.id == "child_01a").unwrap();
    assert_eq!(alex.authorized_pickup_ids, vec!["per_01p".to_string()]);
    assert_eq!(alex.schedule[0].room_id.as_deref(), Some("room_prek"));
    let mia = fam.children.iter().find(|c| c.id == "child_01b").unwrap();
    assert_eq!(mia.not_authorized_ids, vec!["per_01x".to_string()]);

    let kim = r
        .families
        .iter()
        .flat_map(|f| f.children.iter())
        .find(|c| c.id == "child_02a")
        .unwrap();
    assert_eq!(kim.authorized_pickup_ids, vec!["per_02a", "per_01p"]);

    let fam90 = r.families.iter().find(|f| f.id == "fam_90").unwrap();
    let status = |id: &str| {
        fam90
            .children
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .enrollment_status
            .clone()
    };
    assert_eq!(status("child_wd"), "withdrawn");
    assert_eq!(status("child_wait"), "waitlist");
    assert_eq!(status("child_pre"), "pre_registered");
    assert_eq!(
        fam90.people[0].pin_hmac.as_deref(),
        Some(pin_hmac(&e.pin_key, "9090").as_str())
    );

    let staff = |id: &str| r.staff.iter().find(|s| s.id == id).unwrap();
    assert_eq!(staff("staff_term").employment_status, "terminated");
    assert_eq!(staff("staff_admin").role.as_deref(), Some("admin"));
    assert_eq!(staff("staff_noroom").primary_room_id, None);
    assert_eq!(
        staff("staff_lee").pin_hmac.as_deref(),
        Some(pin_hmac(&e.pin_key, "9001").as_str())
    );
    let generated = r
        .families
        .iter()
        .filter(|f| f.id.as_str() >= "fam_03" && f.id.as_str() <= "fam_40");
    assert_eq!(generated.count(), 38);
    hub.shutdown().await;
}

#[tokio::test]
async fn since_returns_only_changes_and_tombstones() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let roster = |q: String| {
        let req = env.get(&hub, &format!("/api/v1/roster{q}"), &e.token);
        async move {
            req.send()
                .await
                .unwrap()
                .json::<RosterResponse>()
                .await
                .unwrap()
        }
    };
    let full = roster(String::new()).await;
    let unchanged = roster(format!("?since={}", full.cursor)).await;
    assert!(!unchanged.full);
    assert!(
        unchanged.families.is_empty() && unchanged.staff.is_empty() && unchanged.rooms.is_empty()
    );
    assert_eq!(unchanged.cursor, full.cursor);

    let out = env
        .cli(&[
            "roster",
            "delete",
            "--db",
            env.db_arg(),
            "child",
            "child_01b",
        ])
        .unwrap();
    assert!(out.contains("child_01b"));
    env.cli(&[
        "roster",
        "delete",
        "--db",
        env.db_arg(),
        "staff",
        "staff_term",
    ])
    .unwrap();
    assert!(env
        .cli(&[
            "roster",
            "delete",
            "--db",
            env.db_arg(),
            "room",
            "room_nowhere"
        ])
        .is_err());

    // Import: one changed family member (Sam's phone), one unchanged room.
    let mut fam02 = full
        .families
        .iter()
        .find(|f| f.id == "fam_02")
        .unwrap()
        .clone();
    fam02.people[0].text_message_phone = Some("+15125559999".into());
    let file = env.db.with_file_name("import.json");
    std::fs::write(
        &file,
        serde_json::to_string(&json!({
            "families": [fam02],
            "rooms": [full.rooms.iter().find(|r| r.id == "room_prek").unwrap()],
        }))
        .unwrap(),
    )
    .unwrap();
    let out = env
        .cli(&[
            "roster",
            "import",
            "--db",
            env.db_arg(),
            file.to_str().unwrap(),
        ])
        .unwrap();
    assert!(out.contains("1 updated, 1 unchanged"), "{out}");

    let delta = roster(format!("?since={}", full.cursor)).await;
    assert!(!delta.full);
    let ids: Vec<&str> = delta.families.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["fam_01", "fam_02"]);
    let fam01 = &delta.families[0];
    assert!(fam01.children.iter().all(|c| c.id != "child_01b"));
    assert_eq!(fam01.people.len(), 3, "the whole family is sent");
    assert!(delta.rooms.is_empty() && delta.staff.is_empty());
    assert_eq!(delta.deleted.children, vec!["child_01b"]);
    assert_eq!(delta.deleted.staff, vec!["staff_term"]);
    assert_ne!(delta.cursor, full.cursor);

    let again = roster(format!("?since={}", delta.cursor)).await;
    assert!(again.families.is_empty() && again.deleted.children.is_empty());
    let bad = roster("?since=bogus".into()).await;
    assert!(bad.full);
    assert!(bad.families.iter().any(|f| f.id == "fam_40"));
    hub.shutdown().await;
}

#[tokio::test]
async fn upload_is_idempotent_across_restarts_and_judges_each_event() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let dev = e.device_id.as_str();
    let first = vec![
        event("check_in", Some("child_01a"), None, dev),
        event("staff_clock_in", None, Some("staff_lee"), dev),
    ];
    let r = env.upload(&hub, &e.token, &first).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: UploadResponse = r.json().await.unwrap();
    assert_eq!(statuses(&r), vec![(ResultStatus::Accepted, None); 2]);
    assert_eq!(
        r.results[0].event_id,
        first[0]["event_id"].as_str().unwrap()
    );

    let r: UploadResponse = env
        .upload(&hub, &e.token, &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&r), vec![(ResultStatus::Duplicate, None); 2]);

    hub.shutdown().await;
    let hub = env.start("").await;
    let r: UploadResponse = env
        .upload(&hub, &e.token, &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&r), vec![(ResultStatus::Duplicate, None); 2]);

    let mixed = vec![
        event("check_in", Some("child_02a"), None, dev),
        event("check_in", Some("child_nobody"), None, dev),
        event("staff_clock_in", None, Some("staff_ghost"), dev),
        event("check_in", Some("child_03a"), None, "dev_99"),
        event("check_out", Some("child_01a"), None, dev),
    ];
    let r: UploadResponse = env
        .upload(&hub, &e.token, &mixed)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        statuses(&r),
        vec![
            (ResultStatus::Accepted, None),
            (ResultStatus::Rejected, Some("unknown child")),
            (ResultStatus::Rejected, Some("unknown staff")),
            (
                ResultStatus::Rejected,
                Some("device_id is not the device of this token (dev_01)")
            ),
            (ResultStatus::Accepted, None),
        ]
    );
    let listing = env.cli(&["events", "--db", env.db_arg()]).unwrap();
    assert_eq!(listing.lines().count(), 4, "{listing}");
    assert!(listing
        .lines()
        .next()
        .unwrap()
        .contains("check-in of child child_01a"));
    let json_lines = env
        .cli(&["events", "--db", env.db_arg(), "--json"])
        .unwrap();
    let last: Value = serde_json::from_str(json_lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"]["type"], "check_out");
    assert_eq!(last["seq"], 4);

    let r = env
        .post(&hub, "/api/v1/attendance/events", &e.token)
        .header("content-type", "application/json")
        .body("{\"events\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(r).await.error.code, "bad_request");
    hub.shutdown().await;
}

#[tokio::test]
async fn more_than_500_events_is_413() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let batch: Vec<Value> = (0..501)
        .map(|_| event("check_in", Some("child_01a"), None, &e.device_id))
        .collect();
    let r = env.upload(&hub, &e.token, &batch).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(r).await.error.code, "too_many_events");
    assert_eq!(env.cli(&["events", "--db", env.db_arg()]).unwrap(), "");
    let r = env.upload(&hub, &e.token, &batch[..500]).await;
    assert_eq!(r.status(), StatusCode::OK);
    hub.shutdown().await;
}

#[tokio::test]
async fn peer_events_page_with_cursor_and_more() {
    let env = Env::new();
    let hub = env.start("").await;
    let front = env.enroll(&hub).await;
    let side = env.enroll(&hub).await;
    assert_eq!(side.device_id, "dev_02");
    let kids = [
        "child_01a",
        "child_01b",
        "child_02a",
        "child_03a",
        "child_04a",
    ];
    let batch: Vec<Value> = kids
        .iter()
        .map(|c| event("check_in", Some(c), None, &side.device_id))
        .collect();
    env.upload(&hub, &side.token, &batch).await;

    let mut cursor = "e_0".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page: PeerEventsResponse = env
            .get(
                &hub,
                &format!("/api/v1/attendance/events?after={cursor}&limit=2"),
                &front.token,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        assert!(page.events.len() <= 2);
        seen.extend(
            page.events
                .iter()
                .map(|e| e.event.child_id.clone().unwrap()),
        );
        cursor = page.cursor;
        if !page.more {
            break;
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, kids);
    assert_eq!(cursor, "e_5");

    let empty: PeerEventsResponse = env
        .get(&hub, "/api/v1/attendance/events?after=e_5", &front.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(empty.events.is_empty() && !empty.more);
    assert_eq!(empty.cursor, "e_5");

    let today: PeerEventsResponse = env
        .get(&hub, "/api/v1/attendance/events", &front.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(today.events.len(), 5);
    assert_eq!(today.cursor, "e_5");

    let r = env
        .get(
            &hub,
            "/api/v1/attendance/events?after=yesterday",
            &front.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(r).await.error.code, "bad_cursor");
    hub.shutdown().await;
}

#[tokio::test]
async fn current_shows_who_is_in_after_a_check_in() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let dev = e.device_id.as_str();
    let mut transfer = event("transfer", Some("child_02a"), None, dev);
    transfer["room_id"] = json!("room_infants");
    transfer["to_room_id"] = json!("room_toddlers");
    let batch = vec![
        event("check_in", Some("child_01a"), None, dev),
        event("check_in", Some("child_02a"), None, dev),
        transfer,
        event("check_in", Some("child_01b"), None, dev),
        event("check_out", Some("child_01b"), None, dev),
        event("staff_clock_in", None, Some("staff_ana"), dev),
    ];
    env.upload(&hub, &e.token, &batch).await;
    let cur: CurrentResponse = env
        .get(&hub, "/api/v1/attendance/current", &e.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<(&str, Option<&str>)> = cur
        .children
        .iter()
        .map(|c| (c.child_id.as_str(), c.room_id.as_deref()))
        .collect();
    assert_eq!(
        kids,
        vec![
            ("child_01a", Some("room_toddlers")),
            ("child_02a", Some("room_toddlers"))
        ]
    );
    assert_eq!(cur.staff.len(), 1);
    assert_eq!(cur.staff[0].staff_id, "staff_ana");
    let sent =
        chrono::DateTime::parse_from_rfc3339(batch[0]["occurred_at"].as_str().unwrap()).unwrap();
    assert_eq!(cur.children[0].since, sent);
    hub.shutdown().await;
}

#[tokio::test]
async fn heartbeat_is_stored_and_listed() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let before = env.cli(&["devices", "--db", env.db_arg()]).unwrap();
    assert!(before.contains("never heard"), "{before}");
    let r = env
        .post(&hub, "/api/v1/devices/heartbeat", &e.token)
        .json(
            &json!({"version": "0.3.2", "queue_depth": 7, "oldest_pending_at": null,
                      "parked": 2, "last_roster_cursor": "r_10", "clock_synced": true,
                      "hardware": {"fingerprint": "ok", "scanner": "ok", "gpio": "absent"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let table = env.cli(&["devices", "--db", env.db_arg()]).unwrap();
    let line = table.lines().find(|l| l.starts_with("dev_01")).unwrap();
    assert!(
        line.contains("Front door") && line.contains("0.3.2"),
        "{line}"
    );
    assert!(
        line.contains("gpio=absent") && line.ends_with("ok"),
        "{line}"
    );
    let v: Value = serde_json::from_str(
        &env.cli(&["devices", "--db", env.db_arg(), "--json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v[0]["queue_depth"], 7);
    assert_eq!(v[0]["parked"], 2);
    assert_eq!(v[0]["stale"], false);

    let r = env
        .post(&hub, "/api/v1/devices/heartbeat", &e.token)
        .json(&json!({"hello": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    hub.shutdown().await;
}

#[tokio::test]
async fn fail_fault_answers_503_with_retry_after_and_stores_nothing() {
    assert!("fail=1.5"
        .parse::<Faults>()
        .unwrap_err()
        .to_string()
        .contains("fail"));
    assert!("nope=1"
        .parse::<Faults>()
        .unwrap_err()
        .to_string()
        .contains("nope"));
    let env = Env::new();
    let hub = env.start("fail=1,retry_after=1").await;
    // Enrollment is never faulted.
    let e = env.enroll(&hub).await;
    let batch = vec![event("check_in", Some("child_01a"), None, &e.device_id)];
    let r = env.upload(&hub, &e.token, &batch).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(error_of(r).await.error.code, "injected_fault");
    let r = env
        .get(&hub, "/api/v1/roster", &e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(env.cli(&["events", "--db", env.db_arg()]).unwrap(), "");
    hub.shutdown().await;

    let hub = env.start("fail=1,status=429").await;
    let r = env
        .get(&hub, "/api/v1/roster", &e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_none());
    hub.shutdown().await;
}

#[tokio::test]
async fn drop_after_commit_stores_then_fails_so_resend_is_duplicate() {
    let env = Env::new();
    let hub = env.start("drop_after_commit=1,retry_after=2").await;
    let e = env.enroll(&hub).await;
    let batch = vec![event("check_in", Some("child_01a"), None, &e.device_id)];
    let r = env.upload(&hub, &e.token, &batch).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "2");
    let listing = env.cli(&["events", "--db", env.db_arg()]).unwrap();
    assert_eq!(listing.lines().count(), 1);
    // Other endpoints are unaffected by drop_after_commit.
    let r = env
        .get(&hub, "/api/v1/attendance/current", &e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    hub.shutdown().await;

    let hub = env.start("").await;
    let r: UploadResponse = env
        .upload(&hub, &e.token, &batch)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&r), vec![(ResultStatus::Duplicate, None)]);
    hub.shutdown().await;
}

#[tokio::test]
async fn cli_refuses_a_database_that_does_not_exist() {
    let env = Env::new();
    let missing: &Path = &env.db.with_file_name("missing.sqlite");
    let err = env
        .cli(&["enroll-code", "--db", missing.to_str().unwrap()])
        .unwrap_err();
    assert!(err.to_string().contains("missing.sqlite"), "{err}");
    // Seeding is idempotent: a second start on the same DB keeps the same roster.
    let hub = env.start("").await;
    hub.shutdown().await;
    let code = env.cli(&["enroll-code", "--db", env.db_arg()]).unwrap();
    assert_eq!(code.trim().len(), 9);
    assert_eq!(code.lines().count(), 1);
}

#[tokio::test]
async fn delay_fault_slows_every_guarded_endpoint() {
    let env = Env::new();
    let hub = env.start("delay_ms=300").await;
    let e = env.enroll(&hub).await;
    let started = std::time::Instant::now();
    let r = env
        .get(&hub, "/api/v1/attendance/current", &e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    hub.shutdown().await;
}

/// The raw JSON of a GET, with its body length.
async fn get_json(env: &Env, hub: &RunningHub, path: &str, token: &str) -> (usize, Value) {
    let r = env.get(hub, path, token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let bytes = r.bytes().await.unwrap();
    (bytes.len(), serde_json::from_slice(&bytes).unwrap())
}

async fn upload_results(env: &Env, hub: &RunningHub, token: &str, events: &[Value]) -> Value {
    let r = env.upload(hub, token, events).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["results"].clone()
}

#[tokio::test]
async fn a_token_speaks_only_for_its_own_device() {
    let env = Env::new();
    let hub = env.start("").await;
    let front = env.enroll(&hub).await;
    let side = env.enroll(&hub).await;
    env.cli(&["revoke", "--db", env.db_arg(), &side.device_id])
        .unwrap();
    let batch = vec![
        event("check_out", Some("child_01a"), None, &side.device_id),
        event("check_out", Some("child_02a"), None, "dev_99"),
        event("check_in", Some("child_03a"), None, &front.device_id),
    ];
    let results = upload_results(&env, &hub, &front.token, &batch).await;
    for r in &results.as_array().unwrap()[..2] {
        assert_eq!(r["status"], "rejected", "{results}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("not the device of this token"),
            "{results}"
        );
    }
    assert_eq!(results[2]["status"], "accepted");
    let listing = env.cli(&["events", "--db", env.db_arg()]).unwrap();
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert!(listing.contains(&format!("at door {}", front.device_id)));
    hub.shutdown().await;
}

#[tokio::test]
async fn an_event_id_is_used_once_whatever_its_case_or_content() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let first = event("check_in", Some("child_01a"), None, &e.device_id);
    let r = upload_results(&env, &hub, &e.token, std::slice::from_ref(&first)).await;
    assert_eq!(r[0]["status"], "accepted");
    let mut upper = first.clone();
    upper["event_id"] = json!(first["event_id"].as_str().unwrap().to_uppercase());
    let mut other = first.clone();
    other["child_id"] = json!("child_02a");
    let r = upload_results(&env, &hub, &e.token, &[first.clone(), upper, other]).await;
    assert_eq!(r[0]["status"], "duplicate", "{r}");
    assert_eq!(r[1]["status"], "rejected", "{r}");
    assert!(
        r[1]["reason"].as_str().unwrap().contains("lower-case"),
        "{r}"
    );
    assert_eq!(r[2]["status"], "rejected", "{r}");
    assert_eq!(
        r[2]["reason"],
        "event_id already used with different content"
    );
    let listing = env.cli(&["events", "--db", env.db_arg()]).unwrap();
    assert_eq!(listing.lines().count(), 1, "{listing}");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_door_clock_ahead_moves_presence_no_later_than_arrival() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let dev = e.device_id.as_str();
    let mut far_in = event("check_in", Some("child_01a"), None, dev);
    far_in["occurred_at"] = json!("9999-12-31T08:00:00-06:00");
    let mut far_out = event("check_out", Some("child_02a"), None, dev);
    far_out["occurred_at"] = json!("9999-01-01T08:00:00-06:00");
    let batch = vec![
        far_in,
        event("check_in", Some("child_02a"), None, dev),
        far_out,
    ];
    let before = Utc::now();
    let r = upload_results(&env, &hub, &e.token, &batch).await;
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "accepted"),
        "{r}"
    );
    let (_, cur) = get_json(&env, &hub, "/api/v1/attendance/current", &e.token).await;
    let kids = cur["children"].as_array().unwrap();
    assert_eq!(kids.len(), 1, "{cur}");
    assert_eq!(kids[0]["child_id"], "child_01a");
    assert_eq!(kids[0]["flags"], json!(["clock_suspect"]));
    let since = chrono::DateTime::parse_from_rfc3339(kids[0]["since"].as_str().unwrap()).unwrap();
    assert!(
        (since.with_timezone(&Utc) - before).num_seconds().abs() < 60,
        "{since}"
    );

    let (_, feed) = get_json(&env, &hub, "/api/v1/attendance/events?after=e_0", &e.token).await;
    for ev in feed["events"].as_array().unwrap() {
        let at = chrono::DateTime::parse_from_rfc3339(ev["received_at"].as_str().unwrap());
        assert!(at.is_ok(), "{ev}");
    }
    let listing = env.cli(&["events", "--db", env.db_arg()]).unwrap();
    assert!(
        listing.lines().next().unwrap().contains("door clock ahead"),
        "{listing}"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn oversized_events_are_refused_and_peer_pages_stay_under_4_mib() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let mut huge = event("check_in", Some("child_01a"), None, &e.device_id);
    huge["actor"]["name"] = json!("n".repeat(5_000_000));
    let r = env.upload(&hub, &e.token, &[huge]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(r).await.error.code, "payload_too_large");
    let mut long = event("check_in", Some("child_01a"), None, &e.device_id);
    long["actor"]["name"] = json!("n".repeat(201));
    let ok = event("check_in", Some("child_01b"), None, &e.device_id);
    let r = upload_results(&env, &hub, &e.token, &[long, ok]).await;
    assert_eq!(r[0]["status"], "rejected", "{r}");
    assert_eq!(r[0]["reason"], "actor.name is longer than 200 characters");
    assert_eq!(r[1]["status"], "accepted");
    let (len, page) = get_json(&env, &hub, "/api/v1/attendance/events?after=e_0", &e.token).await;
    assert!(len <= 4 * 1024 * 1024);
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    hub.shutdown().await;
}

#[tokio::test]
async fn enrollment_codes_expire_and_guessing_is_rate_limited_and_audited() {
    let env = Env::new();
    let hub = env.start("").await;
    let url = format!("{}/api/v1/devices/enroll", hub.url());
    let (code, note) = env
        .cli_with_note(&["enroll-code", "--db", env.db_arg(), "--valid-min", "90"])
        .unwrap();
    let code = code.trim().to_string();
    assert_eq!(code.len(), 9);
    // The expiry on the center's wall clock (the demo center is in Chicago).
    let until = note
        .strip_prefix("valid until ")
        .unwrap()
        .get(..19)
        .unwrap();
    let until = chrono::NaiveDateTime::parse_from_str(until, "%Y-%m-%d %H:%M:%S").unwrap();
    let until = chrono::TimeZone::from_local_datetime(&chrono_tz::America::Chicago, &until)
        .earliest()
        .unwrap();
    assert!(note.contains("(90 min)"), "{note}");
    let left = until.with_timezone(&Utc) - Utc::now();
    assert!((88..=90).contains(&left.num_minutes()), "{note}");
    // The code's time runs out.
    let c = rusqlite::Connection::open(&env.db).unwrap();
    c.execute(
        "UPDATE enroll_codes SET expires_at = '2020-01-01T00:00:00Z' WHERE code = ?1",
        [&code],
    )
    .unwrap();
    drop(c);
    let attempt = |code: String| {
        let req = env
            .http
            .post(&url)
            .json(&json!({"code": code, "name": "Front door", "version": "0.3.1"}));
        async move { req.send().await.unwrap() }
    };
    let r = attempt(code.clone()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await.error.code, "code_expired");

    // Guessing: the address runs out of attempts; a good code then waits too.
    let good = env.cli(&["enroll-code", "--db", env.db_arg()]).unwrap();
    let mut limited = None;
    for i in 0..20 {
        let r = attempt(format!("ZZZZ-ZZ{:02}", i)).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let secs: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=6).contains(&secs), "{secs}");
            assert_eq!(error_of(r).await.error.code, "rate_limited");
            limited = Some(i);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // One attempt (the expired code) was spent before: nine guesses, then 429.
    assert_eq!(limited, Some(9));
    let r = attempt(good.trim().to_string()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    let audit = env.cli(&["audit", "--db", env.db_arg()]).unwrap();
    let actions: Vec<&str> = audit
        .lines()
        .map(|l| l.split("  ").nth(1).unwrap())
        .collect();
    assert_eq!(actions[0], "enroll_code_expired", "{audit}");
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "enroll_unknown_code")
            .count(),
        9
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "enroll_rate_limited")
            .count(),
        1,
        "{audit}"
    );
    assert!(audit.contains("client=127.0.0.1"), "{audit}");
    assert!(!audit.contains(&code) && !audit.contains("ZZZZ"), "{audit}");
    hub.shutdown().await;
}

/// `cubby hub` as its own process, with at most `nofile` open files.
struct HubProcess {
    child: std::process::Child,
    url: String,
}

impl HubProcess {
    fn start(db: &Path, nofile: u64) -> HubProcess {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cubby"));
        cmd.args(["hub", "--listen", "127.0.0.1:0", "--seed", "demo", "--db"])
            .arg(db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        // SAFETY: setrlimit is async-signal-safe and touches only the child's limits.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: nofile,
                    rlim_max: nofile,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("cubby hub listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        HubProcess { child, url }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_still_syncs_while_half_open_connections_exceed_the_file_limit() {
    use cubby::api::{Actor, ActorKind, EnrollRequest, Event, EventType, Method};
    use cubby::sync::client::HubClient;
    use std::time::{Duration, Instant};

    const NOFILE: u64 = 256;
    const HALF_OPEN: usize = 400;
    let env = Env::new();
    let hub = HubProcess::start(&env.db, NOFILE);
    let addr: std::net::SocketAddr = hub.url.strip_prefix("http://").unwrap().parse().unwrap();
    // Connections that never finish a request: most send nothing, some half a header.
    let mut idle = Vec::with_capacity(HALF_OPEN);
    for i in 0..HALF_OPEN {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        if i % 4 == 0 {
            use std::io::Write;
            s.write_all(b"GET /api/v1/roster HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
        }
        idle.push(s);
    }
    let started = Instant::now();
    let code = env.cli(&["enroll-code", "--db", env.db_arg()]).unwrap();
    let anon = HubClient::new(&hub.url, None, Duration::from_secs(5)).unwrap();
    let enrolled = anon
        .enroll(&EnrollRequest {
            code: code.trim().to_string(),
            name: "Front door".into(),
            version: "0.3.1".into(),
        })
        .await
        .expect("enrollment while flooded");
    let client = HubClient::new(
        &hub.url,
        Some(enrolled.token.clone()),
        Duration::from_secs(5),
    )
    .unwrap();
    let roster = client.roster(None).await.expect("roster while flooded");
    assert!(roster.families.iter().any(|f| f.id == "fam_01"));
    let event = Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        kind: EventType::CheckIn,
        child_id: Some("child_01a".into()),
        staff_id: None,
        room_id: Some("room_prek".into()),
        to_room_id: None,
        occurred_at: Utc::now().fixed_offset(),
        clock_synced: true,
        device_id: enrolled.device_id.clone(),
        actor: Actor {
            person_id: Some("per_01a".into()),
            kind: ActorKind::Guardian,
            name: "Dana Rivera".into(),
        },
        method: Method::Pin,
        flags: vec![],
    };
    let up = client.upload(&[event]).await.expect("upload while flooded");
    assert_eq!(up.results[0].status, ResultStatus::Accepted);
    let synced_in = started.elapsed();
    assert!(synced_in < Duration::from_secs(5), "{synced_in:?}");
    // The hub shed idle connections to make room: many of the flood's are closed.
    let mut closed = 0;
    for s in &mut idle {
        use std::io::Read;
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed += 1;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    eprintln!(
        "{HALF_OPEN} half-open connections under a {NOFILE}-file limit: kiosk synced in \
         {synced_in:?}, {closed} of them closed by the hub"
    );
    assert!(
        closed as u64 >= HALF_OPEN as u64 - NOFILE,
        "{closed} closed"
    );
}

#[tokio::test]
async fn silent_connections_and_slow_bodies_are_timed_out() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::new();
    let limits = hub::ConnLimits {
        header_timeout: Duration::from_millis(700),
        body_timeout: Duration::from_millis(700),
        ..hub::ConnLimits::default()
    };
    let hub = hub::start_with_limits(
        HubOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: env.db.clone(),
            seed_demo: true,
            faults: Faults::none(),
        },
        limits,
    )
    .await
    .unwrap();
    let e = env.enroll(&hub).await;
    // Nothing sent, half a header: both closed after the header timeout.
    let mut silent = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    half.write_all(b"GET /api/v1/roster HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    for s in [&mut silent, &mut half] {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("closed by the hub")
            .unwrap_or(0);
        let rest = s.read(&mut buf).await.unwrap_or(0);
        assert!(n == 0 || rest == 0, "closed after at most an error answer");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // A body announced but never sent: 408 body_timeout.
    let mut slow = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/attendance/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"events\": [",
        e.token
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_long_poll_answers_when_an_event_arrives_and_empty_when_wait_ends() {
    use std::time::{Duration, Instant};
    let env = Env::new();
    let hub = env.start("").await;
    let front = env.enroll(&hub).await;
    let side = env.enroll(&hub).await;
    // Nothing arrives: an empty page once `wait` has passed.
    let started = Instant::now();
    let (_, page) = get_json(
        &env,
        &hub,
        "/api/v1/attendance/events?after=e_0&limit=500&wait=2",
        &front.token,
    )
    .await;
    let waited = started.elapsed();
    assert!(page["events"].as_array().unwrap().is_empty());
    assert_eq!(page["cursor"], "e_0");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // An event from another door ends the wait at once.
    let poll = {
        let req = env.get(
            &hub,
            "/api/v1/attendance/events?after=e_0&limit=500&wait=25",
            &front.token,
        );
        tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "the request is held");
    let uploaded = Instant::now();
    let batch = vec![event("check_in", Some("child_01a"), None, &side.device_id)];
    upload_results(&env, &hub, &side.token, &batch).await;
    let page = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("answered before its wait")
        .unwrap();
    let answered = uploaded.elapsed();
    assert!(answered < Duration::from_secs(5), "{answered:?}");
    assert_eq!(page["events"][0]["child_id"], "child_01a");
    assert_eq!(page["cursor"], "e_1");
    // Something newer already there: no wait at all; a bad `wait` is a 400.
    let started = Instant::now();
    let (_, page) = get_json(
        &env,
        &hub,
        "/api/v1/attendance/events?after=e_0&wait=25",
        &front.token,
    )
    .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
    let r = env
        .get(
            &hub,
            "/api/v1/attendance/events?after=e_0&wait=soon",
            &front.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Stopping the hub does not wait for a held request's whole `wait`.
    let held = {
        let req = env.get(
            &hub,
            "/api/v1/attendance/events?after=e_1&wait=30",
            &front.token,
        );
        tokio::spawn(async move { req.send().await.map(|r| r.status()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    hub.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), held).await;
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn roster_import_keeps_pins_the_file_does_not_mention_and_can_dry_run() {
    let env = Env::new();
    let hub = env.start("").await;
    let e = env.enroll(&hub).await;
    let roster = || {
        let req = env.get(&hub, "/api/v1/roster", &e.token);
        async move {
            req.send()
                .await
                .unwrap()
                .json::<RosterResponse>()
                .await
                .unwrap()
        }
    };
    let before = roster().await;
    let dana_pin = pin_hmac(&e.pin_key, "1111");
    // A management-system export: Dana's family without any PIN field, a new phone.
    let fam01 = before.families.iter().find(|f| f.id == "fam_01").unwrap();
    let mut doc = serde_json::to_value(fam01).unwrap();
    for p in doc["people"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("pin_hmac");
    }
    doc["people"][0]["text_message_phone"] = json!("+15125550000");
    let file = env.db.with_file_name("export.json");
    std::fs::write(&file, json!({ "families": [doc] }).to_string()).unwrap();
    let path = file.to_str().unwrap();

    let dry = env
        .cli(&["roster", "import", "--db", env.db_arg(), path, "--dry-run"])
        .unwrap();
    assert!(dry.starts_with("dry run (nothing written)"), "{dry}");
    assert!(
        dry.contains("families: 0 added, 1 updated, 0 unchanged [fam_01]"),
        "{dry}"
    );
    assert_eq!(
        roster().await.cursor,
        before.cursor,
        "a dry run writes nothing"
    );

    let out = env
        .cli(&["roster", "import", "--db", env.db_arg(), path])
        .unwrap();
    assert!(
        out.contains("PINs: 3 kept (not in the file), 0 cleared"),
        "{out}"
    );
    let after = roster().await;
    let dana = after
        .families
        .iter()
        .flat_map(|f| f.people.iter())
        .find(|p| p.id == "per_01a")
        .unwrap();
    assert_eq!(dana.pin_hmac.as_deref(), Some(dana_pin.as_str()));
    assert_eq!(dana.text_message_phone.as_deref(), Some("+15125550000"));
    hub.shutdown().await;
}
