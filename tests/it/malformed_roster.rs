//! A malformed roster from the hub is refused whole: the previous cache stays in use and
//! the reason is kept for staff (`cubby status` shows it); a good one's `qr_keys` replace
//! the kiosk's. Real HTTP on loopback, real SQLite file.

use std::sync::{Arc, Mutex};

use axum::{extract::State, http::StatusCode, routing::get, Router};
use chrono::Utc;
use cubby::kiosk::Trouble;
use cubby::store::{keys, Store};
use cubby::sync::client::HubClient;
use cubby::sync::puller::{load_roster, sync_roster, PullError};
use serde_json::{json, Value};

type Body = Arc<Mutex<Vec<u8>>>;

async fn serve(body: Body) -> String {
    let app = Router::new()
        .route(
            "/api/v1/roster",
            get(|State(b): State<Body>| async move {
                let bytes = b.lock().unwrap().clone();
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    bytes,
                )
            }),
        )
        .with_state(body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn roster(cursor: &str) -> Value {
    json!({
        "cursor": cursor, "full": true,
        "center": {"id": "center_001", "name": "Maple", "timezone": "America/Chicago"},
        "rooms": [{"id": "room_1", "name": "Toddlers", "active": true}],
        "staff": [],
        "families": [{"id": "fam_1",
            "people": [{"id": "per_1", "first_name": "Dana", "last_name": "Rivera", "is_payer": true, "pin_hmac": null}],
            "children": [
                {"id": "child_1", "first_name": "Alex", "last_name": "Rivera", "enrollment_status": "enrolled",
                 "enrollment_start": "2024-01-08", "primary_room_id": "room_1"},
                {"id": "child_2", "first_name": "Kim", "last_name": "Rivera", "enrollment_status": "enrolled",
                 "enrollment_start": "2024-01-08", "primary_room_id": null}
            ]}]
    })
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    client: HubClient,
    body: Body,
}

async fn synced() -> Fixture {
    let body: Body = Arc::new(Mutex::new(roster("r_1").to_string().into_bytes()));
    let url = serve(body.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("kiosk.sqlite")).unwrap();
    let client = HubClient::new(
        &url,
        Some("token".into()),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let report = sync_roster(&client, &mut store, false, Utc::now())
        .await
        .unwrap();
    assert!(
        report.lines.contains(
            &"Kim Rivera (child child_2): no primary room in the management system".to_string()
        ),
        "{:?}",
        report.lines
    );
    Fixture {
        _dir: dir,
        store,
        client,
        body,
    }
}

/// The cache still holds the first roster: cursor r_1 and Alex active.
fn assert_old_cache_intact(f: &Fixture) {
    assert_eq!(f.store.roster_cursor().unwrap().as_deref(), Some("r_1"));
    let roster = load_roster(&f.store, Utc::now()).unwrap().unwrap().roster;
    assert!(roster.children["child_1"].active);
    assert_eq!(
        f.store.reports(10).unwrap().len(),
        1,
        "no report for a refused roster"
    );
}

#[tokio::test]
async fn wrong_types_are_refused_with_the_old_cache_intact() {
    let mut f = synced().await;
    let mut bad = roster("r_2");
    bad["rooms"][0]["active"] = json!("yes");
    *f.body.lock().unwrap() = bad.to_string().into_bytes();
    let err = sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Hub(_)), "{err}");
    let line = f.store.meta(keys::LAST_SYNC_ERROR).unwrap().unwrap();
    assert!(line.contains("active"), "names the field: {line}");
    assert!(
        !line.contains("Toddlers"),
        "does not echo the payload: {line}"
    );
    assert_old_cache_intact(&f);
}

#[tokio::test]
async fn dangling_room_id_is_refused_with_the_old_cache_intact() {
    let mut f = synced().await;
    let mut bad = roster("r_2");
    bad["families"][0]["children"][0]["primary_room_id"] = json!("room_404");
    *f.body.lock().unwrap() = bad.to_string().into_bytes();
    let err = sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Invalid(_)), "{err}");
    let line = f.store.meta(keys::LAST_SYNC_ERROR).unwrap().unwrap();
    assert_eq!(
        line,
        "the hub's roster was refused, the previous roster stays in use: child child_1: primary_room_id room_404 is not a room in the roster"
    );
    // The sync screen's words come from the classified trouble, in the door's language.
    assert_eq!(trouble(&f), Some(Trouble::RosterRefused));
    assert_old_cache_intact(&f);
}

#[tokio::test]
async fn ten_megabytes_of_junk_is_refused_with_the_old_cache_intact() {
    let mut f = synced().await;
    let junk: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    *f.body.lock().unwrap() = junk;
    let err = sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Hub(_)), "{err}");
    assert!(f.store.meta(keys::LAST_SYNC_ERROR).unwrap().is_some());
    assert_eq!(trouble(&f), Some(Trouble::BadAnswer));
    assert_old_cache_intact(&f);
}

#[tokio::test]
async fn a_good_roster_after_a_bad_one_clears_the_error() {
    let mut f = synced().await;
    *f.body.lock().unwrap() = b"{not json".to_vec();
    assert!(sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .is_err());
    *f.body.lock().unwrap() = roster("r_3").to_string().into_bytes();
    sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap();
    assert_eq!(f.store.roster_cursor().unwrap().as_deref(), Some("r_3"));
    assert_eq!(f.store.meta(keys::LAST_SYNC_ERROR).unwrap(), None);
    assert_eq!(trouble(&f), None);
}

/// The last sync's trouble as the sync screen reads it.
fn trouble(f: &Fixture) -> Option<Trouble> {
    let json = f.store.meta(keys::LAST_SYNC_TROUBLE).unwrap()?;
    Some(serde_json::from_str(&json).expect("a stored trouble"))
}

/// A full snapshot must carry every list: a missing one is not "none of them" (that
/// would archive every family and wipe every PIN), it is a broken answer.
#[tokio::test]
async fn a_full_roster_missing_a_list_is_refused_naming_it() {
    for list in ["families", "rooms", "staff"] {
        let mut f = synced().await;
        let mut bad = roster("r_2");
        bad.as_object_mut().unwrap().remove(list);
        *f.body.lock().unwrap() = bad.to_string().into_bytes();
        let err = sync_roster(&f.client, &mut f.store, true, Utc::now())
            .await
            .unwrap_err();
        let line = f.store.meta(keys::LAST_SYNC_ERROR).unwrap().unwrap();
        assert!(
            line.contains(&format!("`{list}`")),
            "{list}: {err} / {line}"
        );
        assert_old_cache_intact(&f);
        let roster = load_roster(&f.store, Utc::now()).unwrap().unwrap().roster;
        assert!(
            roster.people["per_1"].guardian,
            "{list}: Dana is still a guardian"
        );
    }
}

/// Changes only (`full: false`) may leave out the lists that did not change.
#[tokio::test]
async fn an_incremental_roster_may_leave_lists_out() {
    let mut f = synced().await;
    let mut delta = roster("r_2");
    delta["full"] = json!(false);
    for list in ["families", "rooms", "staff"] {
        delta.as_object_mut().unwrap().remove(list);
    }
    *f.body.lock().unwrap() = delta.to_string().into_bytes();
    sync_roster(&f.client, &mut f.store, false, Utc::now())
        .await
        .unwrap();
    assert_eq!(f.store.roster_cursor().unwrap().as_deref(), Some("r_2"));
    let roster = load_roster(&f.store, Utc::now()).unwrap().unwrap().roster;
    assert!(roster.children["child_1"].active);
}

/// Turns a good roster into a bad one.
type Spoil = Box<dyn Fn(&mut Value)>;

/// The same id twice in one answer is refused whole, naming the record: "the last copy
/// wins" once archived a whole room because its duplicate said `active: false`.
#[tokio::test]
async fn a_duplicate_id_is_refused_whole_naming_it() {
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "room room_1",
            Box::new(|r: &mut Value| {
                let mut copy = r["rooms"][0].clone();
                copy["active"] = json!(false);
                r["rooms"].as_array_mut().unwrap().push(copy);
            }),
        ),
        (
            "family fam_1",
            Box::new(|r: &mut Value| {
                let mut copy = r["families"][0].clone();
                copy["people"] = json!([]);
                copy["children"] = json!([]);
                r["families"].as_array_mut().unwrap().push(copy);
            }),
        ),
        (
            "staff staff_1",
            Box::new(|r: &mut Value| {
                let lee = json!({"id": "staff_1", "first_name": "Lee", "last_name": "Chen",
                    "employment_status": "currently_employed", "start_date": "2024-01-08",
                    "primary_room_id": "room_1"});
                r["staff"] = json!([lee.clone(), lee]);
            }),
        ),
        (
            "person per_1",
            Box::new(|r: &mut Value| {
                let copy = r["families"][0]["people"][0].clone();
                r["families"][0]["people"]
                    .as_array_mut()
                    .unwrap()
                    .push(copy);
            }),
        ),
        (
            "child child_1",
            Box::new(|r: &mut Value| {
                let copy = r["families"][0]["children"][0].clone();
                r["families"][0]["children"]
                    .as_array_mut()
                    .unwrap()
                    .push(copy);
            }),
        ),
    ];
    for (what, spoil) in cases {
        for full in [true, false] {
            let mut f = synced().await;
            let mut bad = roster("r_2");
            bad["full"] = json!(full);
            spoil(&mut bad);
            *f.body.lock().unwrap() = bad.to_string().into_bytes();
            let err = sync_roster(&f.client, &mut f.store, !full, Utc::now())
                .await
                .unwrap_err();
            assert!(matches!(err, PullError::Invalid(_)), "{what}: {err}");
            let line = f.store.meta(keys::LAST_SYNC_ERROR).unwrap().unwrap();
            assert!(
                line.contains(&format!("{what}: listed more than once")),
                "{what} (full {full}): {line}"
            );
            assert_old_cache_intact(&f);
        }
    }
}

/// Names from the hub reach the screen cleaned: no escape sequences, bidi overrides or
/// zero-width characters, at most 200 characters. An id with such characters cannot be
/// cleaned without breaking references: the roster is refused, naming the place only.
#[tokio::test]
async fn hub_names_are_cleaned_and_hostile_ids_refused() {
    let mut f = synced().await;
    let mut hostile = roster("r_2");
    hostile["families"][0]["children"][0]["first_name"] = json!(format!(
        "\u{1b}[2JAl\u{200b}ex\u{202e} {}",
        "x".repeat(10_000)
    ));
    *f.body.lock().unwrap() = hostile.to_string().into_bytes();
    sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap();
    let door = load_roster(&f.store, Utc::now()).unwrap().unwrap().roster;
    let name = &door.children["child_1"].first_name;
    assert!(name.starts_with("[2JAlex x"), "{name:?}");
    assert_eq!(name.chars().count(), 200);
    assert!(name.ends_with('…'));

    let mut bad_id = roster("r_3");
    bad_id["families"][0]["children"][1]["id"] = json!("child_\u{1b}[31m2");
    *f.body.lock().unwrap() = bad_id.to_string().into_bytes();
    sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap_err();
    let line = f.store.meta(keys::LAST_SYNC_ERROR).unwrap().unwrap();
    assert!(line.contains("families[0].children[1]"), "{line}");
    assert!(!line.contains('\u{1b}'), "{line:?}");
    assert_eq!(f.store.roster_cursor().unwrap().as_deref(), Some("r_2"));
}

#[tokio::test]
async fn a_rosters_qr_keys_replace_the_kiosks_and_a_roster_without_keeps_them() {
    let mut f = synced().await;
    f.store
        .set_meta(keys::QR_KEYS, r#"[{"kid":"k1","ed25519_public":"AAAA"}]"#)
        .unwrap();
    // No qr_keys in the answer: the keys stay.
    sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        f.store.meta(keys::QR_KEYS).unwrap().as_deref(),
        Some(r#"[{"kid":"k1","ed25519_public":"AAAA"}]"#)
    );
    // The hub rotated to k2: exactly its keys from now on.
    let mut rotated = roster("r_2");
    rotated["qr_keys"] = json!([{"kid": "k2", "ed25519_public": "BBBB"}]);
    *f.body.lock().unwrap() = rotated.to_string().into_bytes();
    sync_roster(&f.client, &mut f.store, true, Utc::now())
        .await
        .unwrap();
    let stored: Value =
        serde_json::from_str(&f.store.meta(keys::QR_KEYS).unwrap().unwrap()).unwrap();
    assert_eq!(stored, json!([{"kid": "k2", "ed25519_public": "BBBB"}]));
}
