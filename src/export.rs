//! Attendance export (`cubby export --from DATE --to DATE [--format csv|json]`) and the
//! director's audit-log listing.
//!
//! Owns the rendering: CSV (RFC 4180: quoted where needed, CRLF line ends, a header
//! row; one table with a `record` column, `child` or `staff`) and JSON (the
//! [`AttendanceReport`] as serde writes it, times in RFC 3339 with the center's offset).
//! The rows themselves come from `domain::attendance`, the events from the store.

use std::fmt::Write as _;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::attendance::{self, day_range_utc, AttendanceReport, ChildDay, StaffDay};
use crate::domain::roster::Roster;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Csv,
    Json,
}

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => bail!("unknown export format {other:?}: use csv or json"),
        }
    }
}

/// Longest range one export may cover, in days.
pub const MAX_DAYS: i64 = 366;

/// The rows for `[from, to]` (local dates at the center) from the stored events.
pub fn report(
    store: &Store,
    roster: &Roster,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<AttendanceReport> {
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    if (to - from).num_days() >= MAX_DAYS {
        bail!("{from} to {to} is more than {MAX_DAYS} days: export a shorter range");
    }
    let center = roster.center.as_ref().context(
        "this kiosk has no roster yet, so the center's time zone is unknown: sync first",
    )?;
    let (start, end) = day_range_utc(center.tz, from, to);
    let events = store
        .events_between(start, end)
        .context("reading the attendance events")?;
    Ok(attendance::report(roster, center.tz, &events, from, to))
}

/// What `cubby export` prints.
pub fn export(
    store: &Store,
    roster: &Roster,
    from: NaiveDate,
    to: NaiveDate,
    format: Format,
) -> Result<String> {
    let r = report(store, roster, from, to)?;
    match format {
        Format::Csv => Ok(to_csv(&r.children, &r.staff)),
        Format::Json => to_json(&r),
    }
}

pub fn to_json(report: &AttendanceReport) -> Result<String> {
    let mut s = serde_json::to_string_pretty(report).context("writing the export as JSON")?;
    s.push('\n');
    Ok(s)
}

/// CSV header of [`to_csv`].
pub const CSV_HEADER: [&str; 15] = [
    "record",
    "date",
    "id",
    "name",
    "rooms",
    "in",
    "out",
    "minutes",
    "hours",
    "dropped_off_by",
    "picked_up_by",
    "methods",
    "flags",
    "notes",
    "events",
];

/// One CSV field, quoted when it holds a comma, quote, CR or LF (quotes doubled). A
/// field that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first)
/// gets a leading `'` so names from the management system stay text.
pub fn csv_field(s: &str) -> String {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_line(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn hhmm(t: Option<DateTime<FixedOffset>>) -> String {
    t.map(|t| t.format("%H:%M").to_string()).unwrap_or_default()
}

fn hours(minutes: i64) -> String {
    format!("{}.{:02}", minutes / 60, (minutes % 60) * 100 / 60)
}

/// Children then staff, each already sorted by date and name. Times are local `HH:MM`
/// on the row's date; `hours` is `minutes / 60` with two decimals (truncated).
pub fn to_csv(children: &[ChildDay], staff: &[StaffDay]) -> String {
    let mut out = String::new();
    csv_line(
        &mut out,
        &CSV_HEADER.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    );
    for c in children {
        csv_line(
            &mut out,
            &[
                "child".into(),
                c.date.to_string(),
                c.child_id.clone(),
                c.child_name.clone(),
                c.rooms.join("; "),
                hhmm(c.check_in),
                hhmm(c.check_out),
                c.minutes_in_care.to_string(),
                hours(c.minutes_in_care),
                c.dropped_off_by.clone().unwrap_or_default(),
                c.picked_up_by.clone().unwrap_or_default(),
                c.methods.join("; "),
                c.flags.join("; "),
                c.notes.join("; "),
                c.event_ids.len().to_string(),
            ],
        );
    }
    for s in staff {
        csv_line(
            &mut out,
            &[
                "staff".into(),
                s.date.to_string(),
                s.staff_id.clone(),
                s.staff_name.clone(),
                String::new(),
                hhmm(s.clock_in),
                hhmm(s.clock_out),
                s.minutes_worked.to_string(),
                hours(s.minutes_worked),
                String::new(),
                String::new(),
                String::new(),
                s.flags.join("; "),
                format!("{} shift(s)", s.shifts),
                s.event_ids.len().to_string(),
            ],
        );
    }
    out
}

// ---------------------------------------------------------------- audit log

/// Keys of an audit detail that are never shown (secrets, names, health details).
fn hidden_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "pin", "token", "hmac", "qr", "name", "note", "allerg", "health", "secret", "key",
    ]
    .iter()
    .any(|bad| k.contains(bad))
        && !k.ends_with("_id")
}

fn render_detail(detail: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(serde_json::Value::Object(map)) => {
            let mut parts = Vec::new();
            for (k, v) in map {
                if hidden_key(&k) {
                    continue;
                }
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                parts.push(format!("{k}={v}"));
            }
            parts.join(" ")
        }
        Ok(_) | Err(_) => "(detail not shown)".to_string(),
    }
}

/// The audit log as the director reads it: one line per entry, newest first as given
/// (`Store::audit_log`), time in the center's zone, the kind, and the detail's ids and
/// counts (keys that could carry names, PINs, tokens or health notes are left out).
pub fn audit_text(entries: &[(String, String, String)], tz: Tz) -> String {
    let mut out = String::new();
    for (at, kind, detail) in entries {
        let when = DateTime::parse_from_rfc3339(at)
            .map(|t| {
                t.with_timezone(&Utc)
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|_| at.clone());
        let _ = writeln!(out, "{when}  {kind}  {}", render_detail(detail));
    }
    out
}

/// The newest `limit` audit entries, rendered by [`audit_text`].
pub fn audit(store: &Store, roster: &Roster, limit: usize) -> Result<String> {
    let tz = roster
        .center
        .as_ref()
        .map(|c| c.tz)
        .unwrap_or(chrono_tz::UTC);
    let entries = store.audit_log(limit).context("reading the audit log")?;
    Ok(audit_text(&entries, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_follows_rfc_4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn csv_formulas_are_kept_as_text() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@cmd"), "'@cmd");
        assert_eq!(csv_field("08:00"), "08:00");
    }

    #[test]
    fn hours_have_two_decimals() {
        assert_eq!(hours(0), "0.00");
        assert_eq!(hours(90), "1.50");
        assert_eq!(hours(605), "10.08");
    }

    #[test]
    fn header_row_and_crlf() {
        let s = to_csv(&[], &[]);
        assert_eq!(s, format!("{}\r\n", CSV_HEADER.join(",")));
    }

    #[test]
    fn format_parses() {
        assert_eq!("CSV".parse::<Format>().unwrap(), Format::Csv);
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn audit_lines_show_ids_not_secrets() {
        let entries = vec![
            (
                "2026-11-23T14:01:00.000000Z".to_string(),
                "refused_not_authorized".to_string(),
                r#"{"person_id":"per_chris","child_id":"child_b","name":"Chris Rivera","pin":"1234"}"#
                    .to_string(),
            ),
            (
                "2026-11-23T14:00:00.000000Z".to_string(),
                "pin_lockout".to_string(),
                r#"{"misses":5,"locked_s":30}"#.to_string(),
            ),
        ];
        let text = audit_text(&entries, chrono_tz::America::Chicago);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("2026-11-23 08:01:00  refused_not_authorized"));
        assert!(lines[0].contains("person_id=per_chris"));
        assert!(lines[0].contains("child_id=child_b"));
        assert!(!text.contains("Chris Rivera"));
        assert!(!text.contains("1234"));
        assert!(lines[1].contains("locked_s=30"));
        assert!(lines[1].contains("misses=5"));
    }
}
