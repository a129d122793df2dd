//! How the command line writes times, in one place.
//!
//! - For people ([`local_text`], [`local_text_of`]): the center's wall clock, to the
//!   second, no offset and no fraction: `2026-12-02 16:46:05`. The zone is the center's
//!   (the roster's on a kiosk, `UTC` before its first roster sync; the center row on the hub).
//! - For `--json` ([`json_text`], [`json_times`]): RFC 3339 in UTC with whole seconds:
//!   `2026-12-02T22:46:05Z`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// The `strftime` pattern of [`local_text`].
pub const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// An instant as a person reads it: `2026-12-02 16:46:05` on the wall clock of `zone`.
pub fn local_text<T: TimeZone>(t: &DateTime<T>, zone: Tz) -> String {
    t.with_timezone(&zone).format(LOCAL_FORMAT).to_string()
}

/// [`local_text`] of an RFC 3339 text; a text that is not one is returned unchanged.
pub fn local_text_of(text: &str, zone: Tz) -> String {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => local_text(&t, zone),
        Err(_) => text.to_string(),
    }
}

/// An instant for a machine: RFC 3339, UTC, whole seconds (`2026-12-02T22:46:05Z`).
pub fn json_text<T: TimeZone>(t: &DateTime<T>) -> String {
    t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Rewrite, everywhere in `value`, each string under a key `at` or ending in `_at` that
/// is an RFC 3339 time into [`json_text`]'s form. Other strings are left alone.
pub fn json_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let time_key = key == "at" || key.ends_with("_at");
                match v {
                    Value::String(s) if time_key => {
                        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                            *s = json_text(&t);
                        }
                    }
                    other => json_times(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json_times),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn people_read_the_centers_wall_clock_to_the_second() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T22:46:05.123456789Z").unwrap();
        assert_eq!(
            local_text(&t, chrono_tz::America::Chicago),
            "2026-12-02 16:46:05"
        );
        assert_eq!(local_text(&t, Tz::UTC), "2026-12-02 22:46:05");
        // The offset the text carried does not matter, only the instant.
        assert_eq!(
            local_text_of("2026-12-02T16:46:05-06:00", chrono_tz::America::Chicago),
            "2026-12-02 16:46:05"
        );
        assert_eq!(local_text_of("soon", Tz::UTC), "soon");
    }

    #[test]
    fn json_times_are_utc_whole_seconds_wherever_they_are() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T16:46:05.999-06:00").unwrap();
        assert_eq!(json_text(&t), "2026-12-02T22:46:05Z");
        let mut v = json!({
            "at": "2026-12-02T16:46:05.5-06:00",
            "oldest_pending_at": "2026-12-02T22:46:05.123456789+00:00",
            "parked": [{"parked_at": "2026-12-02T10:00:00+01:00", "reason": "at noon"}],
            "event": {"occurred_at": "2026-12-02T08:32:15.000000001-06:00"},
            "created_at": "not a time",
            "name": "2026-12-02T16:46:05-06:00",
        });
        json_times(&mut v);
        assert_eq!(v["at"], "2026-12-02T22:46:05Z");
        assert_eq!(v["oldest_pending_at"], "2026-12-02T22:46:05Z");
        assert_eq!(v["parked"][0]["parked_at"], "2026-12-02T09:00:00Z");
        assert_eq!(v["parked"][0]["reason"], "at noon");
        assert_eq!(v["event"]["occurred_at"], "2026-12-02T14:32:15Z");
        assert_eq!(v["created_at"], "not a time");
        // Only time keys are touched.
        assert_eq!(v["name"], "2026-12-02T16:46:05-06:00");
    }
}
