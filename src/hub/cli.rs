//! `cubby hub …` command line: serving (the default) and the technician subcommands
//! (`enroll-code`, `audit`, `devices`, `revoke`, `events`, `roster delete|import`, `qr`).
//!
//! Subcommands produce their output as a string ([`execute`]) so tests can check it;
//! [`run`] prints it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::devices::DeviceRow;
use super::events::StoredEvent;
use super::{HubDb, HubOptions, RecordKind};
use crate::hub::faults::Faults;

/// A device silent for longer than this is shown as stale.
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
pub async fn run(args: HubArgs) -> anyhow::Result<()> {
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
        None => serve(args.serve).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    let stop = wait_for_stop().await;
    tracing::info!("hub stopping");
    hub.shutdown().await;
    stop
}

#[cfg(unix)]
async fn wait_for_stop() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_stop() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
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
            let c = HubDb::open_existing(&db.db)?
                .create_enroll_code_valid_for(chrono::Duration::minutes(*valid_min))?;
            let note = format!(
                "valid until {} ({} min); it can enroll one device\n",
                c.expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
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
            let entries = HubDb::open_existing(db)?.audit_entries()?;
            Ok(entries
                .iter()
                .map(|a| {
                    format!(
                        "{} {} client={} {}\n",
                        a.at,
                        a.action,
                        a.client.as_deref().unwrap_or("-"),
                        a.detail
                    )
                })
                .collect())
        }
        HubCommand::Devices { db, json } => {
            let devices = HubDb::open_existing(&db.db)?.devices()?;
            Ok(devices_report(&devices, Utc::now(), *json))
        }
        HubCommand::Revoke { db, device_id } => {
            HubDb::open_existing(&db.db)?.revoke(device_id)?;
            Ok(format!(
                "revoked {device_id}: its token is refused from now on\n"
            ))
        }
        HubCommand::Events { db, json } => {
            let events = HubDb::open_existing(&db.db)?.stored_events()?;
            events_report(&events, *json)
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

fn minutes_since(at: Option<&str>, now: DateTime<Utc>) -> Option<i64> {
    let at = DateTime::parse_from_rfc3339(at?).ok()?;
    Some((now - at.with_timezone(&Utc)).num_minutes())
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

fn hardware_text(d: &DeviceRow) -> String {
    match hb_field(d, "hardware").and_then(Value::as_object) {
        Some(hw) if !hw.is_empty() => hw
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

fn status_text(d: &DeviceRow, silent_min: Option<i64>) -> String {
    if d.revoked {
        return "revoked".into();
    }
    match silent_min {
        None => "never heard".into(),
        Some(m) if m > STALE_AFTER_MIN => format!("STALE (silent {m} min)"),
        Some(_) => "ok".into(),
    }
}

/// The `devices` listing: a table, or a JSON array with `--json`.
pub fn devices_report(devices: &[DeviceRow], now: DateTime<Utc>, as_json: bool) -> String {
    if as_json {
        let rows: Vec<Value> = devices
            .iter()
            .map(|d| {
                let silent = minutes_since(d.heartbeat_at.as_deref(), now);
                json!({
                    "id": d.id, "name": d.name, "version": d.version,
                    "enrolled_at": d.enrolled_at, "revoked": d.revoked,
                    "last_heartbeat_at": d.heartbeat_at,
                    "stale": !d.revoked && !matches!(silent, Some(m) if m <= STALE_AFTER_MIN),
                    "queue_depth": hb_field(d, "queue_depth"),
                    "oldest_pending_at": hb_field(d, "oldest_pending_at"),
                    "parked": hb_field(d, "parked"),
                    "hardware": hb_field(d, "hardware"),
                    "heartbeat": d.heartbeat,
                })
            })
            .collect();
        return format!("{}\n", Value::Array(rows));
    }
    if devices.is_empty() {
        return "no device enrolled\n".into();
    }
    let mut out = format!(
        "{:<8} {:<18} {:<9} {:<21} {:>5} {:<26} {:>6}  {:<32} {}\n",
        "ID",
        "NAME",
        "VERSION",
        "LAST HEARTBEAT",
        "QUEUE",
        "OLDEST PENDING",
        "PARKED",
        "HARDWARE",
        "STATUS"
    );
    for d in devices {
        let silent = minutes_since(d.heartbeat_at.as_deref(), now);
        out.push_str(&format!(
            "{:<8} {:<18} {:<9} {:<21} {:>5} {:<26} {:>6}  {:<32} {}\n",
            d.id,
            d.name,
            d.version,
            d.heartbeat_at.as_deref().unwrap_or("-"),
            hb_text(d, "queue_depth"),
            hb_text(d, "oldest_pending_at"),
            hb_text(d, "parked"),
            hardware_text(d),
            status_text(d, silent),
        ));
    }
    out
}

/// The `events` listing: one line per event, or one JSON object per line with `--json`.
pub fn events_report(events: &[StoredEvent], as_json: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    for s in events {
        if as_json {
            out.push_str(&serde_json::to_string(s)?);
        } else {
            let e = &s.event;
            let who = e
                .child_id
                .as_deref()
                .or(e.staff_id.as_deref())
                .unwrap_or("-");
            let room = match (&e.room_id, &e.to_room_id) {
                (Some(a), Some(b)) => format!("{a}->{b}"),
                (Some(a), None) => a.clone(),
                (None, Some(b)) => format!("->{b}"),
                (None, None) => "-".into(),
            };
            // A door clock that ran ahead: the event counts at its arrival time.
            let at = if s.clock_suspect {
                format!(
                    "{} (clock_suspect: door said {})",
                    s.effective_at,
                    e.occurred_at.to_rfc3339()
                )
            } else {
                e.occurred_at.to_rfc3339()
            };
            out.push_str(&format!(
                "e_{} {} {} {} room={} device={} actor={:?}:{} method={:?} flags=[{}] {}",
                s.seq,
                at,
                e.kind.as_str(),
                who,
                room,
                s.device_id,
                e.actor.kind,
                e.actor.person_id.as_deref().unwrap_or("-"),
                e.method,
                e.flags.join(","),
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
        let text = devices_report(&devices, now, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("dev_01") && lines[1].ends_with("ok"),
            "{text}"
        );
        assert!(lines[1].contains("fingerprint=ok,scanner=absent"), "{text}");
        assert!(lines[2].contains("STALE (silent 30 min)"), "{text}");
        assert!(lines[3].contains("never heard"), "{text}");
        let v: Value = serde_json::from_str(&devices_report(&devices, now, true)).unwrap();
        assert_eq!(v[0]["stale"], false);
        assert_eq!(v[0]["queue_depth"], 4);
        assert_eq!(v[1]["stale"], true);
    }
}
