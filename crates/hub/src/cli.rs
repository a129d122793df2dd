//! `cubby hub …` command line: serving (the default) and the technician subcommands
//! (`enroll-code`, `audit`, `devices`, `revoke`, `events`, `roster delete|import`, `qr`).
//!
//! Subcommands produce their output as a string ([`execute`]) so tests can check it;
//! [`run`] prints it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::devices::DeviceRow;
use super::events::StoredEvent;
use super::{HubDb, HubOptions, RecordKind};
use crate::faults::Faults;
use cubby_core::api::{Actor, ActorKind, EventType, Method};
use cubby_core::timefmt::{json_times, local_text, local_text_of};

/// A device whose last heartbeat is this many minutes old or more is shown as stale
/// (docs/technician.md).
const STALE_AFTER_MIN: i64 = 10;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HubArgs {
    #[command(subcommand)]
    pub command: Option<HubCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Serving options (the default action).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// Hub database file (created if missing).
    #[arg(long, default_value = "hub.sqlite")]
    pub db: PathBuf,
    /// Seed an empty database with a demo center.
    #[arg(long, value_enum)]
    pub seed: Option<Seed>,
    /// Fault injection, e.g. `fail=0.3,delay_ms=2000,drop_after_commit=0.1,status=503,retry_after=1`.
    #[arg(long)]
    pub faults: Option<Faults>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Seed {
    /// Maple Street Early Learning (see docs/demo-center.md).
    Demo,
}

#[derive(Debug, clap::Subcommand)]
pub enum HubCommand {
    /// Print one new one-time enrollment code (its expiry goes to stderr).
    EnrollCode {
        #[command(flatten)]
        db: DbArg,
        /// Minutes the code stays valid (1 to 43200, i.e. 30 days).
        #[arg(long, default_value_t = 24 * 60)]
        valid_min: i64,
    },
    /// List the audit trail: enrollments and refused enrollment attempts.
    Audit(DbArg),
    /// List enrolled devices and their last heartbeat.
    Devices {
        #[command(flatten)]
        db: DbArg,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its token is refused (401) from now on.
    Revoke {
        #[command(flatten)]
        db: DbArg,
        device_id: String,
    },
    /// Print stored attendance events, one per line, in hub order.
    Events {
        #[command(flatten)]
        db: DbArg,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Edit the roster.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Mint a signed QR code for a guardian (payer): prints the `CUBBY1.…` text.
    Qr {
        #[command(flatten)]
        db: DbArg,
        /// Person id of a payer, e.g. per_01a.
        person_id: String,
        /// Seconds the code stays valid.
        #[arg(long, default_value_t = super::qr::DEFAULT_TTL_S)]
        ttl: u64,
        /// Also write the code as a PNG image to this file.
        #[arg(long)]
        png: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum RosterCommand {
    /// Delete a record (child, person, family, staff, room) and write its tombstone.
    Delete {
        #[command(flatten)]
        db: DbArg,
        /// child | person | family | staff | room
        kind: RecordKind,
        id: String,
    },
    /// Upsert the records of a JSON file shaped like a roster answer. A person or staff
    /// member without `pin`/`pin_hmac` keeps the stored PIN; `null` clears it.
    Import {
        #[command(flatten)]
        db: DbArg,
        file: PathBuf,
        /// Show what would change without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// Hub database file (must exist).
    #[arg(long, default_value = "hub.sqlite")]
    pub db: PathBuf,
}

/// Entry point of `cubby hub`.
pub async fn run(args: HubArgs, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    match args.command {
        Some(cmd) => {
            let (out, note) =
                tokio::task::spawn_blocking(move || execute_with_note(&cmd)).await??;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
            if !note.is_empty() {
                let mut stderr = std::io::stderr().lock();
                stderr.write_all(note.as_bytes())?;
            }
            Ok(())
        }
        None => serve(args.serve, stop).await,
    }
}

/// Serve until `stop` resolves (the binary passes SIGTERM/SIGINT), then stop accepting
/// and finish the requests in flight.
async fn serve(args: ServeArgs, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let hub = super::start(HubOptions {
        listen: args.listen,
        db: args.db,
        seed_demo: args.seed == Some(Seed::Demo),
        faults: args.faults.unwrap_or_default(),
    })
    .await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "cubby hub listening on {}", hub.url())?;
        stdout.flush()?;
    }
    stop.await;
    tracing::info!("hub stopping");
    hub.shutdown().await;
    Ok(())
}

/// Run one subcommand and return what it prints (ending with a newline when non-empty).
pub fn execute(cmd: &HubCommand) -> anyhow::Result<String> {
    Ok(execute_with_note(cmd)?.0)
}

/// Run one subcommand: what it prints on stdout, and a note for stderr (kept off stdout
/// so scripts can read an enrollment code as the whole output).
pub fn execute_with_note(cmd: &HubCommand) -> anyhow::Result<(String, String)> {
    match cmd {
        HubCommand::EnrollCode { db, valid_min } => {
            let mut hub = HubDb::open_existing(&db.db)?;
            let c = hub.create_enroll_code_valid_for(chrono::Duration::minutes(*valid_min))?;
            let note = format!(
                "valid until {} ({} min); it can enroll one device\n",
                local_text(&c.expires_at, hub.timezone()?),
                valid_min
            );
            Ok((format!("{}\n", c.code), note))
        }
        other => Ok((execute_plain(other)?, String::new())),
    }
}

fn execute_plain(cmd: &HubCommand) -> anyhow::Result<String> {
    match cmd {
        HubCommand::EnrollCode { .. } => Ok(execute_with_note(cmd)?.0),
        HubCommand::Audit(DbArg { db }) => {
            let hub = HubDb::open_existing(db)?;
            let tz = hub.timezone()?;
            let entries = hub.audit_entries()?;
            Ok(entries
                .iter()
                .map(|a| {
                    format!(
                        "{}  {}  client={}  {}\n",
                        local_text_of(&a.at, tz),
                        a.action,
                        a.client.as_deref().unwrap_or("-"),
                        a.detail
                    )
                })
                .collect())
        }
        HubCommand::Devices { db, json } => {
            let hub = HubDb::open_existing(&db.db)?;
            let devices = hub.devices()?;
            Ok(devices_report(&devices, Utc::now(), hub.timezone()?, *json))
        }
        HubCommand::Revoke { db, device_id } => {
            HubDb::open_existing(&db.db)?.revoke(device_id)?;
            Ok(format!(
                "revoked {device_id}: its token is refused from now on\n"
            ))
        }
        HubCommand::Events { db, json } => {
            let hub = HubDb::open_existing(&db.db)?;
            let events = hub.stored_events()?;
            events_report(&events, hub.timezone()?, *json)
        }
        HubCommand::Roster(RosterCommand::Delete { db, kind, id }) => {
            HubDb::open_existing(&db.db)?.delete_record(*kind, id)?;
            Ok(format!(
                "deleted {} {id} (tombstone written)\n",
                kind.tombstone_kind()
            ))
        }
        HubCommand::Roster(RosterCommand::Import { db, file, dry_run }) => {
            import(&db.db, file, *dry_run)
        }
        HubCommand::Qr {
            db,
            person_id,
            ttl,
            png,
        } => {
            let text = super::qr::mint_qr(&db.db, person_id, *ttl, Utc::now())?;
            if let Some(path) = png {
                super::qr::write_qr_png(&text, path)?;
            }
            Ok(format!("{text}\n"))
        }
    }
}

fn import(db: &Path, file: &Path, dry_run: bool) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let mut hub = HubDb::open_existing(db)?;
    let s = if dry_run {
        hub.import_roster_dry(doc)
    } else {
        hub.import_roster(doc)
    }
    .with_context(|| format!("cannot import {}", file.display()))?;
    let mut out = format!(
        "{} {}: {} added, {} updated, {} unchanged, {} deleted{}\n",
        if dry_run {
            "dry run (nothing written) of"
        } else {
            "imported"
        },
        file.display(),
        s.added,
        s.updated,
        s.unchanged,
        s.deleted,
        if s.center_updated {
            ", center settings replaced"
        } else {
            ""
        }
    );
    for (name, k) in [
        ("rooms", &s.rooms),
        ("staff", &s.staff),
        ("families", &s.families),
    ] {
        let ids = if k.changed_ids.is_empty() {
            String::new()
        } else {
            format!(" [{}]", k.changed_ids.join(", "))
        };
        out.push_str(&format!(
            "  {name}: {} added, {} updated, {} unchanged{ids}\n",
            k.added, k.updated, k.unchanged
        ));
    }
    out.push_str(&format!(
        "  PINs: {} kept (not in the file), {} cleared (null in the file)\n",
        s.pins_kept, s.pins_cleared
    ));
    Ok(out)
}

/// How long ago an RFC 3339 time was (`None` when absent or unreadable).
fn silent_for(at: Option<&str>, now: DateTime<Utc>) -> Option<Duration> {
    let at = DateTime::parse_from_rfc3339(at?).ok()?;
    Some(now - at.with_timezone(&Utc))
}

/// Stale: not revoked, and never heard from or silent for [`STALE_AFTER_MIN`] or more.
fn is_stale(d: &DeviceRow, silent: Option<Duration>) -> bool {
    !d.revoked && silent.is_none_or(|s| s >= Duration::minutes(STALE_AFTER_MIN))
}

fn hb_field<'a>(d: &'a DeviceRow, key: &str) -> Option<&'a Value> {
    d.heartbeat.as_ref().and_then(|h| h.get(key))
}

fn hb_text(d: &DeviceRow, key: &str) -> String {
    match hb_field(d, key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// A time of the heartbeat as the center's wall clock (`-` when absent).
fn hb_time(d: &DeviceRow, key: &str, tz: Tz) -> String {
    match hb_field(d, key) {
        Some(Value::String(s)) => local_text_of(s, tz),
        _ => "-".into(),
    }
}

fn hardware_text(d: &DeviceRow) -> String {
    match hb_field(d, "hardware").and_then(Value::as_object) {
        Some(hw) if !hw.is_empty() => hw
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

fn status_text(d: &DeviceRow, silent: Option<Duration>) -> String {
    if d.revoked {
        return "revoked".into();
    }
    match silent {
        None => "never heard".into(),
        Some(s) if is_stale(d, Some(s)) => format!("STALE (silent {} min)", s.num_minutes()),
        Some(_) => "ok".into(),
    }
}

/// `text` made fit for one table cell: cleaned by `sync::sanitize::clean` (line breaks
/// and tabs become one space; escapes, bidi and zero-width characters go), and what is
/// wider than `width` columns (display width: a CJK character takes two) is cut with
/// `…`. Not padded.
fn cell_text(text: &str, width: usize) -> String {
    // The one sanitiser for outside text (controls, bidi, zero-width; blanks collapsed);
    // its character cap only bounds the work, the display width is cut below.
    let clean = cubby_core::sanitize::clean(text, cubby_core::sanitize::MESSAGE_MAX);
    if clean.width() <= width {
        return clean;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in clean.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// [`cell_text`] padded with spaces to exactly `width` display columns.
fn cell(text: &str, width: usize, right: bool) -> String {
    let text = cell_text(text, width);
    let pad = " ".repeat(width.saturating_sub(text.width()));
    if right {
        format!("{pad}{text}")
    } else {
        format!("{text}{pad}")
    }
}

/// Columns of the `devices` table: heading, display width, right-aligned.
const DEVICE_COLUMNS: [(&str, usize, bool); 8] = [
    ("ID", 8, false),
    ("NAME", 18, false),
    ("VERSION", 9, false),
    ("LAST HEARTBEAT", 19, false),
    ("QUEUE", 5, true),
    ("OLDEST PENDING", 19, false),
    ("PARKED", 6, true),
    ("HARDWARE", 32, false),
];

/// One table line: the fixed columns, then the status (not padded, it is last).
fn device_line(cells: [String; 8], status: &str) -> String {
    let mut line = String::new();
    for (text, (_, width, right)) in cells.iter().zip(DEVICE_COLUMNS) {
        line.push_str(&cell(text, width, right));
        line.push(' ');
    }
    line.push_str(&cell_text(status, 40));
    line.push('\n');
    line
}

/// The `devices` listing: a table (times on the center's wall clock in `tz`), or a JSON
/// array with `--json` (times RFC 3339 UTC).
pub fn devices_report(devices: &[DeviceRow], now: DateTime<Utc>, tz: Tz, as_json: bool) -> String {
    if as_json {
        let rows: Vec<Value> = devices
            .iter()
            .map(|d| {
                let silent = silent_for(d.heartbeat_at.as_deref(), now);
                json!({
                    "id": d.id, "name": d.name, "version": d.version,
                    "enrolled_at": d.enrolled_at, "revoked": d.revoked,
                    "last_heartbeat_at": d.heartbeat_at,
                    "stale": is_stale(d, silent),
                    "queue_depth": hb_field(d, "queue_depth"),
                    "oldest_pending_at": hb_field(d, "oldest_pending_at"),
                    "parked": hb_field(d, "parked"),
                    "hardware": hb_field(d, "hardware"),
                    "heartbeat": d.heartbeat,
                })
            })
            .collect();
        let mut rows = Value::Array(rows);
        json_times(&mut rows);
        return format!("{rows}\n");
    }
    if devices.is_empty() {
        return "no device enrolled\n".into();
    }
    let mut out = device_line(DEVICE_COLUMNS.map(|(h, _, _)| h.to_string()), "STATUS");
    for d in devices {
        let silent = silent_for(d.heartbeat_at.as_deref(), now);
        out.push_str(&device_line(
            [
                d.id.clone(),
                d.name.clone(),
                d.version.clone(),
                d.heartbeat_at
                    .as_deref()
                    .map_or_else(|| "-".into(), |t| local_text_of(t, tz)),
                hb_text(d, "queue_depth"),
                hb_time(d, "oldest_pending_at", tz),
                hb_text(d, "parked"),
                hardware_text(d),
            ],
            &status_text(d, silent),
        ));
    }
    out
}

/// An event type in words ("check-in"); `--json` keeps the wire name (`check_in`).
fn kind_words(kind: EventType) -> &'static str {
    match kind {
        EventType::CheckIn => "check-in",
        EventType::CheckOut => "check-out",
        EventType::Transfer => "transfer",
        EventType::StaffClockIn => "staff clock-in",
        EventType::StaffClockOut => "staff clock-out",
    }
}

fn method_words(method: Method) -> &'static str {
    match method {
        Method::Pin => "PIN",
        Method::Fingerprint => "fingerprint",
        Method::Qr => "QR code",
        Method::StaffBatch => "staff batch",
        Method::AutoSignOut => "auto sign-out",
    }
}

/// Who acted: "guardian Ana Rivera (per_01a)", "system", "staff Lee Park".
fn actor_words(actor: &Actor) -> String {
    let kind = match actor.kind {
        ActorKind::Guardian => "guardian",
        ActorKind::Pickup => "pickup",
        ActorKind::Staff => "staff",
        ActorKind::System => "system",
    };
    let name = cell_text(&actor.name, 60);
    let mut out = kind.to_string();
    if !name.is_empty() {
        out.push(' ');
        out.push_str(&name);
    }
    if let Some(id) = &actor.person_id {
        out.push_str(&format!(" ({})", cell_text(id, 40)));
    }
    out
}

/// The `events` listing: one line per event in words, times on the center's wall clock
/// in `tz`; or with `--json` one object per line, wire names (docs/hub-api.md) and times
/// RFC 3339 UTC.
pub fn events_report(events: &[StoredEvent], tz: Tz, as_json: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    for s in events {
        if as_json {
            let mut v = serde_json::to_value(s)?;
            json_times(&mut v);
            out.push_str(&v.to_string());
        } else {
            let e = &s.event;
            let who = match (&e.child_id, &e.staff_id) {
                (Some(c), _) => format!("child {c}"),
                (None, Some(st)) => format!("staff {st}"),
                (None, None) => "-".into(),
            };
            let room = match (&e.room_id, &e.to_room_id) {
                (Some(a), Some(b)) => format!("room {a} to {b}"),
                (Some(a), None) => format!("room {a}"),
                (None, Some(b)) => format!("to room {b}"),
                (None, None) => "no room".into(),
            };
            // A door clock that ran ahead: the event counts at its arrival time.
            let at = if s.clock_suspect {
                format!(
                    "{} (door clock ahead: it said {})",
                    local_text_of(&s.effective_at, tz),
                    local_text(&e.occurred_at, tz)
                )
            } else {
                local_text(&e.occurred_at, tz)
            };
            let flags = if e.flags.is_empty() {
                String::new()
            } else {
                let words: Vec<String> = e.flags.iter().map(|f| f.replace('_', " ")).collect();
                format!(", flags: {}", words.join(", "))
            };
            out.push_str(&format!(
                "e_{}  {}  {} of {}, {}, by {} with {} at door {}{}  (event {})",
                s.seq,
                at,
                kind_words(e.kind),
                who,
                room,
                actor_words(&e.actor),
                method_words(e.method),
                s.device_id,
                flags,
                e.event_id,
            ));
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        hub: HubArgs,
    }

    #[test]
    fn serve_is_the_default_and_subcommands_parse() {
        let c = Cli::try_parse_from([
            "hub",
            "--listen",
            "127.0.0.1:0",
            "--db",
            "x.sqlite",
            "--seed",
            "demo",
            "--faults",
            "fail=0.5,retry_after=2",
        ])
        .unwrap();
        assert!(c.hub.command.is_none());
        assert_eq!(c.hub.serve.seed, Some(Seed::Demo));
        assert_eq!(c.hub.serve.faults.as_ref().unwrap().fail, 0.5);

        let c = Cli::try_parse_from(["hub", "roster", "delete", "--db", "h", "child", "child_01a"])
            .unwrap();
        assert!(matches!(
            c.hub.command,
            Some(HubCommand::Roster(RosterCommand::Delete {
                kind: RecordKind::Child,
                ..
            }))
        ));
        let e = Cli::try_parse_from(["hub", "--faults", "fail=7"]).unwrap_err();
        assert!(e.to_string().contains("fail"), "{e}");
        assert!(Cli::try_parse_from(["hub", "roster", "delete", "kid", "x"]).is_err());
        // Serving flags do not mix with a subcommand.
        assert!(Cli::try_parse_from(["hub", "--seed", "demo", "enroll-code"]).is_err());
    }

    #[test]
    fn devices_report_marks_stale_and_silent_devices() {
        let now = Utc::now();
        let row = |id: &str, at: Option<DateTime<Utc>>| DeviceRow {
            id: id.into(),
            name: "Front door".into(),
            version: "0.3.1".into(),
            enrolled_at: "2026-01-01T00:00:00Z".into(),
            revoked: false,
            heartbeat: at.map(|_| {
                json!({"version": "0.3.1", "queue_depth": 4, "parked": 1, "clock_synced": true,
                       "oldest_pending_at": "2026-11-23T08:00:00-06:00",
                       "hardware": {"fingerprint": "ok", "scanner": "absent"}})
            }),
            heartbeat_at: at.map(|t| t.to_rfc3339()),
        };
        let devices = vec![
            row("dev_01", Some(now - chrono::Duration::minutes(2))),
            row("dev_02", Some(now - chrono::Duration::minutes(30))),
            row("dev_03", None),
        ];
        let text = devices_report(&devices, now, Tz::UTC, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("dev_01") && lines[1].ends_with("ok"),
            "{text}"
        );
        assert!(lines[1].contains("fingerprint=ok,scanner=absent"), "{text}");
        assert!(lines[2].contains("STALE (silent 30 min)"), "{text}");
        assert!(lines[3].contains("never heard"), "{text}");
        let v: Value = serde_json::from_str(&devices_report(&devices, now, Tz::UTC, true)).unwrap();
        assert_eq!(v[0]["stale"], false);
        assert_eq!(v[0]["queue_depth"], 4);
        assert_eq!(v[1]["stale"], true);
        // --json times: RFC 3339 UTC, whole seconds (the door sent -06:00).
        assert_eq!(v[0]["oldest_pending_at"], "2026-11-23T14:00:00Z");
        assert_eq!(
            v[0]["heartbeat"]["oldest_pending_at"],
            "2026-11-23T14:00:00Z"
        );
        assert_eq!(v[0]["enrolled_at"], "2026-01-01T00:00:00Z");
    }

    fn device(id: &str, heartbeat_at: &str, heartbeat: Value) -> DeviceRow {
        DeviceRow {
            id: id.into(),
            name: "Front door".into(),
            version: "0.3.1".into(),
            enrolled_at: "2026-01-01T00:00:00Z".into(),
            revoked: false,
            heartbeat: Some(heartbeat),
            heartbeat_at: Some(heartbeat_at.into()),
        }
    }

    #[test]
    fn a_door_is_stale_from_ten_minutes_of_silence_on() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T16:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let hb = json!({"version": "0.3.1"});
        let devices = vec![
            device("dev_01", "2026-12-02T16:00:01Z", hb.clone()), // 9:59
            device("dev_02", "2026-12-02T16:00:00Z", hb.clone()), // 10:00
            device("dev_03", "2026-12-02T15:59:00Z", hb),         // 11:00
        ];
        let text = devices_report(&devices, now, Tz::UTC, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].ends_with(" ok"), "{text}");
        assert!(lines[2].ends_with("STALE (silent 10 min)"), "{text}");
        assert!(lines[3].ends_with("STALE (silent 11 min)"), "{text}");
        let v: Value = serde_json::from_str(&devices_report(&devices, now, Tz::UTC, true)).unwrap();
        assert_eq!(v[0]["stale"], false, "9:59 of silence");
        assert_eq!(v[1]["stale"], true, "10:00 of silence");
        assert_eq!(v[2]["stale"], true);
    }

    /// Display width of `line` up to byte `byte`.
    fn display_offset(line: &str, byte: usize) -> usize {
        line[..byte].width()
    }

    #[test]
    fn the_devices_table_keeps_its_columns_whatever_the_hardware_says() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T22:47:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let long = json!({
            "version": "0.3.1", "queue_depth": 12, "parked": 0,
            "oldest_pending_at": "2026-12-02T22:40:00.123456789Z",
            "hardware": {
                "fingerprint": "fault: no reply\nafter 3 tries \u{1b}[31mred\u{1b}[0m",
                "scanner": "Лазерный сканер 条码扫描器 ünïcödé très long text here",
            }
        });
        let short = json!({"version": "0.3.1", "queue_depth": 0, "parked": 0,
                           "hardware": {"gpio": "ok"}});
        let mut named = device("dev_02", "2026-12-02T22:46:05Z", short);
        named.name = "Puerta 北 niños\tgym".into();
        let devices = vec![device("dev_01", "2026-12-02T22:46:05Z", long), named];
        let text = devices_report(&devices, now, chrono_tz::America::Chicago, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "one line per device and the header:\n{text}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\t'), "{text:?}");
        assert!(
            lines[1].contains('…'),
            "the long hardware text is cut: {text}"
        );
        // Times on the center's wall clock.
        assert!(lines[1].contains("2026-12-02 16:46:05"), "{text}");
        assert!(lines[1].contains("2026-12-02 16:40:00"), "{text}");
        // Every column starts at the same display offset on every line.
        let header = lines[0];
        let starts: Vec<usize> = ["NAME", "VERSION", "LAST HEARTBEAT", "HARDWARE", "STATUS"]
            .iter()
            .map(|h| display_offset(header, header.find(h).unwrap()))
            .collect();
        for line in &lines[1..] {
            for (&col, expect) in starts
                .iter()
                .zip(["Front door", "0.3.1", "2026-12-02", "", ""])
            {
                // The character before each column start is the separating space.
                let prefix: String = line
                    .chars()
                    .scan(0, |w, c| {
                        let before = *w;
                        *w += c.width().unwrap_or(0);
                        Some((before, c))
                    })
                    .take_while(|(before, _)| *before < col)
                    .map(|(_, c)| c)
                    .collect();
                assert_eq!(prefix.width(), col, "column at {col} is split in {line:?}");
                assert!(
                    prefix.ends_with(' '),
                    "no separator before column {col} in {line:?}"
                );
                if !expect.is_empty() && line.starts_with("dev_01") {
                    assert!(line[prefix.len()..].starts_with(expect), "{line:?}");
                }
            }
            assert!(line.ends_with(" ok"), "{line:?}");
        }
        assert_eq!(lines[1].width(), lines[2].width(), "{text}");
    }

    fn stored(kind: &str, method: &str, actor: Value, flags: Value) -> StoredEvent {
        let event: cubby_core::api::Event = serde_json::from_value(json!({
            "event_id": "0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f",
            "type": kind, "child_id": "child_01a", "staff_id": null,
            "room_id": "room_toddlers", "to_room_id": null,
            "occurred_at": "2026-11-23T08:32:15.123456789-06:00",
            "clock_synced": true, "device_id": "dev_01",
            "actor": actor, "method": method, "flags": flags,
        }))
        .unwrap();
        StoredEvent {
            seq: 7,
            received_at: "2026-11-23T14:32:16Z".into(),
            device_id: "dev_01".into(),
            effective_at: "2026-11-23T14:32:15Z".into(),
            clock_suspect: false,
            event,
        }
    }

    #[test]
    fn events_read_as_words_and_json_keeps_the_wire_names() {
        let events = vec![
            stored(
                "check_in",
                "pin",
                json!({"person_id": "per_01a", "kind": "guardian", "name": "Ana Rivera"}),
                json!([]),
            ),
            stored(
                "check_out",
                "staff_batch",
                json!({"person_id": null, "kind": "staff", "name": "Lee Park"}),
                json!(["late_pickup"]),
            ),
        ];
        let tz = chrono_tz::America::Chicago;
        let text = events_report(&events, tz, false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "e_7  2026-11-23 08:32:15  check-in of child child_01a, room room_toddlers, \
             by guardian Ana Rivera (per_01a) with PIN at door dev_01  \
             (event 0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f)"
        );
        assert!(
            lines[1].contains("check-out of child child_01a")
                && lines[1].contains("by staff Lee Park with staff batch")
                && lines[1].contains("flags: late pickup"),
            "{text}"
        );
        for debug_name in ["Guardian", "StaffBatch", "Pin", "CheckIn", "Some(", ":per_"] {
            assert!(!text.contains(debug_name), "{debug_name} in {text}");
        }
        let json_text = events_report(&events, tz, true).unwrap();
        let v: Vec<Value> = json_text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["event"]["type"], "check_in");
        assert_eq!(v[0]["event"]["actor"]["kind"], "guardian");
        assert_eq!(v[1]["event"]["method"], "staff_batch");
        assert_eq!(v[0]["event"]["occurred_at"], "2026-11-23T14:32:15Z");
        assert_eq!(v[0]["received_at"], "2026-11-23T14:32:16Z");
    }
}
