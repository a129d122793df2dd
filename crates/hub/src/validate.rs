//! What an uploaded event must satisfy before the hub looks at its meaning (hub-api v1.1
//! points 2 and 4): the upload body's shape and size, the `event_id` form, per-field limits,
//! and the text of rejection reasons (which a door shows to staff, so it never carries raw
//! control characters or unbounded text from the request).
//!
//! Everything here is pure: no database, no clock. `events` applies it per event.

use serde_json::Value;

use cubby_core::api::{Event, EventType, Method, MAX_UPLOAD_BATCH};

/// Longest id (`event_id`, `child_id`, `room_id`, `device_id`, `actor.person_id`, …), in characters.
pub const MAX_ID_CHARS: usize = 100;
/// Longest name (`actor.name`), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most entries in `flags`.
pub const MAX_FLAGS: usize = 16;
/// Longest flag, in characters.
pub const MAX_FLAG_CHARS: usize = 40;
/// Largest single event, as compact JSON, in bytes.
pub const MAX_EVENT_JSON: usize = 8 * 1024;
/// Largest upload body: a full batch of events at the size limit, plus the envelope.
pub const MAX_UPLOAD_BODY: usize = MAX_UPLOAD_BATCH * MAX_EVENT_JSON + 64 * 1024;
/// Longest rejection reason sent back.
const MAX_REASON_CHARS: usize = 300;

/// The reason for an `event_id` that was stored before with other content.
pub const REUSED_ID: &str = "event_id already used with different content";

/// Why an upload body is refused as a whole (the HTTP layer maps these to 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("upload body of {0} bytes is over the limit of {MAX_UPLOAD_BODY} bytes")]
    TooLarge(usize),
    #[error("upload body is not JSON: {0}")]
    NotJson(String),
    #[error("body must be {{\"events\": [...]}}")]
    NotABatch,
    #[error("{0} events in one upload; at most {MAX_UPLOAD_BATCH}")]
    TooManyEvents(usize),
}

/// Parse an upload body into its raw events. Sizes are checked before anything is parsed,
/// so memory stays proportional to [`MAX_UPLOAD_BODY`].
pub fn parse_upload(body: &[u8]) -> Result<Vec<Value>, BodyError> {
    if body.len() > MAX_UPLOAD_BODY {
        return Err(BodyError::TooLarge(body.len()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(clean_text(&e.to_string())))?;
    let Value::Object(mut map) = value else {
        return Err(BodyError::NotABatch);
    };
    let Some(Value::Array(events)) = map.remove("events") else {
        return Err(BodyError::NotABatch);
    };
    if events.len() > MAX_UPLOAD_BATCH {
        return Err(BodyError::TooManyEvents(events.len()));
    }
    Ok(events)
}

/// Text safe to show on a screen or write to a log: control characters become `?`, and
/// it is cut to a bounded length.
pub fn clean_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_REASON_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// True for the contract's `event_id`: a lower-case hyphenated RFC 9562 UUID of version
/// 7 (ordinary events) or 8 (derived auto sign-out ids), with the RFC variant bits `10`.
pub fn is_event_id(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        };
        if !ok {
            return false;
        }
    }
    matches!(b[14], b'7' | b'8') && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Why a raw event's `event_id` is unusable, or `None` when it is a contract id.
pub fn event_id_problem(raw: &Value) -> Option<String> {
    match raw.get("event_id") {
        None | Some(Value::Null) => Some("missing event_id".into()),
        Some(Value::String(s)) if s.is_empty() => Some("missing event_id".into()),
        Some(Value::String(s)) if is_event_id(s) => None,
        Some(Value::String(s)) if is_event_id(&s.to_ascii_lowercase()) => Some(
            "event_id must be lower-case (a lower-case hyphenated UUID, version 7 or 8)".into(),
        ),
        Some(_) => Some("event_id must be a lower-case hyphenated UUID of version 7 or 8".into()),
    }
}

/// The `event_id` of a raw event as sent, for echoing in its result ("" when absent).
pub fn raw_event_id(raw: &Value) -> String {
    raw.get("event_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Why a raw event is too large to look at, or `None`.
pub fn size_problem(raw: &Value) -> Option<String> {
    let len = serde_json::to_vec(raw).map_or(usize::MAX, |v| v.len());
    (len > MAX_EVENT_JSON).then(|| format!("event is larger than {MAX_EVENT_JSON} bytes of JSON"))
}

fn text_problem(field: &str, value: &str, max: usize) -> Option<String> {
    if value.chars().count() > max {
        return Some(format!("{field} is longer than {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Some(format!("{field} contains control characters"));
    }
    None
}

/// Why a parsed event breaks the field limits (v1.1 point 4), or `None`.
pub fn field_problem(e: &Event) -> Option<String> {
    let ids = [
        ("child_id", e.child_id.as_deref()),
        ("staff_id", e.staff_id.as_deref()),
        ("room_id", e.room_id.as_deref()),
        ("to_room_id", e.to_room_id.as_deref()),
        ("device_id", Some(e.device_id.as_str())),
        ("actor.person_id", e.actor.person_id.as_deref()),
    ];
    for (field, value) in ids {
        if let Some(p) = value.and_then(|v| text_problem(field, v, MAX_ID_CHARS)) {
            return Some(p);
        }
    }
    if let Some(p) = text_problem("actor.name", &e.actor.name, MAX_NAME_CHARS) {
        return Some(p);
    }
    if e.flags.len() > MAX_FLAGS {
        return Some(format!("more than {MAX_FLAGS} flags"));
    }
    e.flags
        .iter()
        .find_map(|f| text_problem("a flag", f, MAX_FLAG_CHARS))
}

/// The same fact: every contract field equal once parsed. Unknown fields, key order,
/// whitespace and the offset spelling of the same instant are not content (chrono compares
/// instants); when the hub received it and which token posted it are not content either.
pub fn same_content(a: &Event, b: &Event) -> bool {
    a == b
}

/// The same child's auto sign-out made by two doors (contract v1.1 point 3): a derived
/// (version 8) id, both `check_out` by `auto_sign_out` for the same child at the same
/// instant. The doors differ in who sent it and in their clock flags, not in the fact, so
/// the hub keeps the first and answers the others `duplicate`.
pub fn same_auto_sign_out(a: &Event, b: &Event) -> bool {
    let derived = a.event_id == b.event_id && a.event_id.get(14..15) == Some("8");
    let sign_out = |e: &Event| e.kind == EventType::CheckOut && e.method == Method::AutoSignOut;
    derived
        && sign_out(a)
        && sign_out(b)
        && a.child_id.is_some()
        && a.child_id == b.child_id
        && a.occurred_at == b.occurred_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_ids_are_lower_case_uuids_of_version_7_or_8() {
        assert!(is_event_id("0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f"));
        assert!(is_event_id("0190f3c1-7a2b-8c3d-bf4f-5a6b7c8d9e0f"));
        for bad in [
            "0190F3C1-7A2B-7C3D-8E4F-5A6B7C8D9E0F",
            "0190f3c1-7a2b-4c3d-8e4f-5a6b7c8d9e0f",
            "0190f3c1-7a2b-7c3d-ce4f-5a6b7c8d9e0f",
            "0190f3c17a2b7c3d8e4f5a6b7c8d9e0f",
            "{0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f}",
            "0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0",
            "0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0g",
            "e1",
            "",
        ] {
            assert!(!is_event_id(bad), "{bad}");
        }
        let upper = json!({"event_id": "0190F3C1-7A2B-7C3D-8E4F-5A6B7C8D9E0F"});
        assert!(event_id_problem(&upper).unwrap().contains("lower-case"));
        assert_eq!(
            event_id_problem(&json!({})).as_deref(),
            Some("missing event_id")
        );
        assert!(event_id_problem(&json!({"event_id": 7})).is_some());
    }

    #[test]
    fn upload_bodies_are_sized_before_parsing() {
        let big = vec![b' '; MAX_UPLOAD_BODY + 1];
        assert_eq!(
            parse_upload(&big),
            Err(BodyError::TooLarge(MAX_UPLOAD_BODY + 1))
        );
        assert_eq!(parse_upload(b"[1]"), Err(BodyError::NotABatch));
        assert_eq!(parse_upload(b"{\"events\": 3}"), Err(BodyError::NotABatch));
        assert!(matches!(parse_upload(b"{\"ev"), Err(BodyError::NotJson(_))));
        let many = format!("{{\"events\": [{}]}}", vec!["{}"; 501].join(","));
        assert_eq!(
            parse_upload(many.as_bytes()),
            Err(BodyError::TooManyEvents(501))
        );
        assert_eq!(parse_upload(b"{\"events\": [{}, 2]}").unwrap().len(), 2);
    }

    #[test]
    fn reasons_never_carry_control_characters_or_unbounded_text() {
        assert_eq!(clean_text("a\u{1b}[2Jb\n"), "a?[2Jb?");
        let long = "x".repeat(10_000);
        assert!(clean_text(&long).chars().count() <= MAX_REASON_CHARS + 1);
    }

    mod properties {
        use super::super::*;
        use crate::{demo, HubDb};
        use cubby_core::api::ResultStatus;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        use serde_json::json;

        const CASES: u32 = 1000;

        /// Any JSON value, a few levels deep, with arbitrary Unicode strings.
        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|f| json!(f)),
                any::<String>().prop_map(Value::String),
                (0usize..400).prop_map(|n| Value::String("é".repeat(n))),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::vec((any::<String>(), inner), 0..6)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        /// An event id: a fresh v7 or v8, an upper-case one, a reused one, or anything.
        fn any_event_id() -> impl Strategy<Value = Value> {
            let uuid = |bits: u128, version: u128| {
                let b = (bits & !(0xf << 76) & !(0x3 << 62)) | (version << 76) | (0x2 << 62);
                let h = format!("{b:032x}");
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                )
            };
            prop_oneof![
                4 => any::<u128>().prop_map(move |b| json!(uuid(b, 7))),
                1 => any::<u128>().prop_map(move |b| json!(uuid(b, 8))),
                1 => any::<u128>().prop_map(move |b| json!(uuid(b, 7).to_uppercase())),
                1 => Just(json!("0190f3c1-7a2b-7c3d-8e4f-000000000001")),
                1 => any_json(),
            ]
        }

        /// A contract event with any of its fields replaced by anything.
        fn any_event() -> impl Strategy<Value = Value> {
            let fields = [
                "type",
                "child_id",
                "staff_id",
                "room_id",
                "to_room_id",
                "occurred_at",
                "clock_synced",
                "device_id",
                "actor",
                "method",
                "flags",
            ];
            (
                any_event_id(),
                prop::collection::vec((0..fields.len(), any_json()), 0..4),
                prop::option::of((0usize..300, 0usize..20)),
            )
                .prop_map(move |(id, replaced, name_flags)| {
                    let mut e = json!({
                        "event_id": id, "type": "check_in", "child_id": "child_01a",
                        "staff_id": null, "room_id": "room_prek", "to_room_id": null,
                        "occurred_at": "2026-11-23T08:00:00-06:00", "clock_synced": true,
                        "device_id": "dev_01",
                        "actor": {"person_id": "per_01a", "kind": "guardian", "name": "Dana"},
                        "method": "pin", "flags": []});
                    if let Some((name, flags)) = name_flags {
                        e["actor"]["name"] = json!("n".repeat(name));
                        e["flags"] = json!(vec!["f"; flags]);
                    }
                    for (i, v) in replaced {
                        e[fields[i]] = v;
                    }
                    e
                })
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded() {
            let mut runner = TestRunner::new(Config::with_cases(CASES));
            let ran = std::cell::Cell::new(0u32);
            let bytes = prop_oneof![
                prop::collection::vec(any::<u8>(), 0..4096),
                any_json().prop_map(|v| json!({"events": v}).to_string().into_bytes()),
                prop::collection::vec(any_json(), 0..8)
                    .prop_map(|v| json!({"events": v}).to_string().into_bytes()),
            ];
            runner
                .run(&bytes, |body| {
                    ran.set(ran.get() + 1);
                    if let Ok(events) = parse_upload(&body) {
                        prop_assert!(events.len() <= MAX_UPLOAD_BATCH);
                        let size: usize = events
                            .iter()
                            .map(|e| serde_json::to_vec(e).map_or(0, |v| v.len()))
                            .sum();
                        prop_assert!(size <= body.len(), "{size} > {}", body.len());
                    }
                    Ok(())
                })
                .unwrap();
            eprintln!("upload body parsing: {} cases", ran.get());
            assert_eq!(ran.get(), CASES);
        }

        #[test]
        fn arbitrary_events_are_judged_one_result_each_and_only_valid_ones_stored() {
            let dir = tempfile::tempdir().unwrap();
            let mut db = HubDb::open(&dir.path().join("h.sqlite")).unwrap();
            demo::seed_if_empty(&mut db).unwrap();
            let db = std::cell::RefCell::new(db);
            let mut runner = TestRunner::new(Config::with_cases(CASES));
            let ran = std::cell::Cell::new(0u32);
            let accepted_total = std::cell::Cell::new(0usize);
            runner
                .run(&prop::collection::vec(any_event(), 0..12), |batch| {
                    ran.set(ran.get() + 1);
                    let before = db.borrow().stored_events().map_or(0, |s| s.len());
                    let body = json!({ "events": batch }).to_string();
                    let events = parse_upload(body.as_bytes()).unwrap();
                    let results = db.borrow_mut().store_batch("dev_01", &events).unwrap();
                    prop_assert_eq!(results.len(), events.len());
                    let mut accepted = 0;
                    for (raw, r) in events.iter().zip(&results) {
                        prop_assert_eq!(&r.event_id, &raw_event_id(raw));
                        if let Some(reason) = &r.reason {
                            prop_assert!(!reason.chars().any(char::is_control));
                            prop_assert!(reason.chars().count() <= MAX_REASON_CHARS + 100);
                        }
                        if r.status == ResultStatus::Accepted {
                            accepted += 1;
                            prop_assert!(is_event_id(&r.event_id));
                            prop_assert!(size_problem(raw).is_none());
                            let e: Event = serde_json::from_value(raw.clone()).unwrap();
                            prop_assert!(field_problem(&e).is_none());
                            prop_assert_eq!(e.device_id.as_str(), "dev_01");
                        }
                    }
                    let after = db.borrow().stored_events().map_or(0, |s| s.len());
                    prop_assert_eq!(after - before, accepted);
                    accepted_total.set(accepted_total.get() + accepted);
                    Ok(())
                })
                .unwrap();
            let (ran, accepted_total) = (ran.get(), accepted_total.get());
            eprintln!("upload judging: {ran} cases, {accepted_total} events accepted");
            assert_eq!(ran, CASES);
            assert!(accepted_total > 0, "the generator makes valid events too");
        }
    }
}
