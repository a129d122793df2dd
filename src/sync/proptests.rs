//! Property tests of the roster path a hub's answer takes (parse → duplicate and id
//! checks → merge → validation → eligibility): arbitrary bytes and arbitrarily spoiled
//! rosters never panic, and an answer that is accepted never loses a record silently.

use proptest::prelude::*;
use serde_json::Value;

use crate::domain::eligibility::evaluate;
use crate::domain::source::{check_answer, SourceRoster};
use crate::domain::testdata::{roster_response, today};
use crate::sync::client::{parse_peer_page, parse_roster};

/// Cases per property (`PROPTEST_CASES` overrides).
const CASES: u32 = 1_000;

/// The whole kiosk-side path for one answer. Returns whether it was accepted.
fn pipeline(body: &[u8]) -> bool {
    let Ok(resp) = parse_roster(body) else {
        return false;
    };
    if check_answer(&resp).is_err() {
        return false;
    }
    let merged = SourceRoster::default().merged(&resp);
    if resp.full {
        // Nothing of an accepted full answer is dropped by the merge.
        assert_eq!(merged.rooms.len(), resp.rooms.len());
        assert_eq!(merged.staff.len(), resp.staff.len());
        assert_eq!(merged.families.len(), resp.families.len());
    }
    evaluate(&merged, today()).is_ok()
}

/// Any JSON value, a few levels deep, with strings that include control and bidi
/// characters.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_0-9]{0,12}".prop_map(Value::String),
        "(\\PC|[\\x00-\\x1f\\u{202e}\\u{2066}\\u{200b}]){0,30}".prop_map(Value::String),
        Just(Value::String("room_toddlers".into())),
        Just(Value::String("2026-11-23".into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,20}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replace the value at a pseudo-random place of `v` (chosen by `path`) with `with`.
fn spoil(v: &mut Value, path: &[usize], with: Value) {
    let Some((&first, rest)) = path.split_first() else {
        *v = with;
        return;
    };
    let child = match v {
        Value::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(first % m.len()).cloned();
            key.and_then(|k| m.get_mut(&k))
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a.get_mut(first % n)
        }
        _ => None,
    };
    match child {
        Some(c) if !rest.is_empty() => spoil(c, rest, with),
        Some(c) => *c = with,
        None => *v = with,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        pipeline(&body);
        let _ = parse_peer_page(&body);
    }

    #[test]
    fn a_spoiled_roster_never_panics(
        path in prop::collection::vec(any::<usize>(), 1..7),
        with in json(),
        copies in 1usize..3,
    ) {
        let mut v = serde_json::to_value(roster_response()).unwrap();
        for i in 0..copies {
            let mut p = path.clone();
            p.rotate_left(i % path.len());
            spoil(&mut v, &p, with.clone());
        }
        pipeline(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn a_duplicated_record_is_never_accepted(list in 0usize..3, at in 0usize..8) {
        let mut v = serde_json::to_value(roster_response()).unwrap();
        let name = ["rooms", "staff", "families"][list];
        let items = v[name].as_array_mut().unwrap();
        let copy = items[at % items.len()].clone();
        items.push(copy);
        let resp = parse_roster(&serde_json::to_vec(&v).unwrap()).unwrap();
        prop_assert!(check_answer(&resp).is_err());
    }
}

#[test]
fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(!pipeline(deep.as_bytes()));
    assert!(parse_peer_page(deep.as_bytes()).is_err());
}

#[test]
fn the_fixture_goes_through_the_pipeline() {
    assert!(pipeline(&serde_json::to_vec(&roster_response()).unwrap()));
}
