//! `cubby`: the command line. Parses arguments, sets up logging and the tokio runtime,
//! and hands over to the library. `anyhow` lives here only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use cubby::clock::{ClockSource, KernelClock};
use cubby::config::{Config, DEFAULT_PATH};
use cubby::runtime::{headless, provision, DeviceIdentity};
use cubby::store::{keys, Store};
use cubby::sync::client::HubClient;

#[derive(Parser)]
#[command(
    name = "cubby",
    version,
    about = "Offline-first door kiosk for child-care centers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How the touch UI's window is shown (ignored with --headless).
#[derive(clap::Args, Clone, Copy)]
struct WindowArgs {
    /// Fill the screen (the default for `run`; the demo opens an 800x480 window).
    #[arg(long)]
    fullscreen: bool,
    /// A desktop window instead of full screen (`run` on a developer's machine).
    #[arg(long, conflicts_with = "fullscreen")]
    windowed: bool,
    /// Window size in pixels, e.g. 1280x800 (default 800x480, the 7" Pi display).
    #[arg(long, value_parser = parse_window_size)]
    size: Option<(u32, u32)>,
    /// Also read headless-protocol commands on stdin while the window is shown
    /// (scripts/screenshots.sh drives the demo this way).
    #[arg(long)]
    drive_stdin: bool,
}

fn parse_window_size(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected WIDTHxHEIGHT, e.g. 800x480, not {text:?}");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if !(320..=7680).contains(&w) || !(240..=4320).contains(&h) {
        return Err(format!("{w}x{h} is out of range (320x240 to 7680x4320)"));
    }
    Ok((w, h))
}

#[derive(Subcommand)]
enum Command {
    /// Run a complete demo: an embedded hub with a sample center, a provisioned kiosk.
    Demo {
        /// Where the demo keeps its hub and kiosk databases.
        #[arg(long, default_value = "cubby-demo")]
        dir: PathBuf,
        /// Drive the kiosk with JSON lines on stdin instead of a window.
        #[arg(long)]
        headless: bool,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// Run the kiosk.
    Run {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// JSON lines on stdin/stdout instead of the touch screen (docs/headless.md).
        #[arg(long)]
        headless: bool,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// Enroll this kiosk with a hub using a one-time code from the administrator.
    Provision {
        #[arg(long)]
        hub: String,
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Apply a card's setup file (cubby-setup.toml: Wi-Fi, host name, time zone, SSH key,
    /// hub enrollment); run once at first boot by cubby-setup.service.
    Setup {
        /// The setup file, renamed `cubby-setup.applied.toml` without its secrets once used.
        #[arg(long, default_value = "/boot/firmware/cubby-setup.toml")]
        file: PathBuf,
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Apply system settings under this folder instead of `/` (image builds, tests).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Print the last roster sync report, or sync now with --now.
    Sync {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Sync with the hub now (incremental) and print the report.
        #[arg(long)]
        now: bool,
        /// With --now: ask for a full roster instead of changes since the cursor.
        #[arg(long)]
        full: bool,
    },
    /// Queue depth, oldest pending event, parked errors, last sync, clock state.
    Status {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Attendance export: one row per child per day (times, hours in care, who dropped
    /// off and picked up, methods, flags) and staff hours, for subsidy claims.
    Export {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// First day (YYYY-MM-DD, center time).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day, inclusive.
        #[arg(long)]
        to: chrono::NaiveDate,
        #[arg(long, value_enum, default_value = "csv")]
        format: cubby::export::Format,
    },
    /// The audit log for the director (lockouts, refusals, syncs, parked events, device
    /// screen access, roll calls…), newest first. Ids only, never names or health notes.
    Audit {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// First day (YYYY-MM-DD, center time).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day, inclusive.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// One JSON array: [{"at", "kind", "detail"}].
        #[arg(long)]
        json: bool,
    },
    /// Set the technician PIN (4-8 digits, read from stdin, never echoed): it opens the
    /// device screen only. Refused when it is already a roster PIN. --clear removes it.
    TechnicianPin {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Remove the technician PIN instead of setting one.
        #[arg(long)]
        clear: bool,
    },
    /// The reference hub (see `cubby hub --help`).
    Hub(cubby::hub::cli::HubArgs),
    /// Check the door hardware the config names (fingerprint reader, scanners, GPIO): ok,
    /// absent or fault per device; exit code 1 on a fault. Stop the kiosk service first.
    Selftest {
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// One JSON object: {"ok": bool, "devices": [{"name", "state", "reason"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Emulate an R30x fingerprint reader on a pseudo-terminal: prints its device path,
    /// then reads commands from stdin (`finger <name>`, `lift`, `tap <name>`, `unplug`,
    /// `replug`, `list`, `quit`; docs/fingerprint.md).
    FingerprintEmulator {
        /// Where to put the stable link to the pty (default: under the temp dir).
        #[arg(long)]
        link: Option<PathBuf>,
        /// Library capacity (templates).
        #[arg(long, default_value_t = 200)]
        capacity: u16,
        /// Module password the host must verify (0 = none).
        #[arg(long, default_value_t = 0)]
        password: u32,
    },
}

/// Logging: to the journal (every entry labelled `CUBBY_DEVICE_ID` once provisioned)
/// when systemd started us, else to stderr.
fn init_logging(cli: &Cli) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUBBY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let journald = if cubby::systemd::stderr_is_journal() {
        cubby::systemd::journald_layer(log_device_id(cli).as_deref())
    } else {
        None
    };
    let registry = tracing_subscriber::registry().with(filter);
    match journald {
        Some(layer) => {
            // Provisioned from the screen while running: label the entries from then on.
            let (layer, handle) = tracing_subscriber::reload::Layer::new(layer);
            registry.with(layer).init();
            cubby::systemd::on_device_id(move |id| {
                if let Some(layer) = cubby::systemd::journald_layer(Some(id)) {
                    let _ = handle.reload(layer);
                }
            });
        }
        None => {
            // Colour only for a person at a terminal, not in a file or a pipe.
            use std::io::IsTerminal;
            let ansi = std::io::stderr().is_terminal();
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_ansi(ansi),
                )
                .init()
        }
    }
}

/// The device id of the kiosk this command works on, if it is provisioned (read-only:
/// nothing is created before logging is up).
fn log_device_id(cli: &Cli) -> Option<String> {
    let config = match &cli.command {
        Command::Run { config, .. }
        | Command::Sync { config, .. }
        | Command::Status { config, .. }
        | Command::Export { config, .. }
        | Command::Audit { config, .. }
        | Command::TechnicianPin { config, .. } => config,
        _ => return None,
    };
    provision::stored_device_id(&Config::load(config).ok()?)
}

/// A command that prints and exits ends quietly when its reader goes away
/// (`cubby sync | head`): SIGPIPE's default action, as for other Unix tools, instead of
/// a panic in `println!`. The kiosk, the demo, the hub server and the emulator keep
/// Rust's default (SIGPIPE ignored): they outlive their readers.
fn end_quietly_when_stdout_closes(command: &Command) {
    let prints_and_exits = match command {
        Command::Provision { .. }
        | Command::Sync { .. }
        | Command::Status { .. }
        | Command::Export { .. }
        | Command::Audit { .. }
        | Command::TechnicianPin { .. }
        | Command::Selftest { .. } => true,
        Command::Hub(args) => args.command.is_some(),
        _ => false,
    };
    if prints_and_exits {
        // SAFETY: called first thing in main, before any other thread exists; it only
        // resets one signal's disposition to its default.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    end_quietly_when_stdout_closes(&cli.command);
    init_logging(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cubby: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    // Every task was joined by now. What can still run is a read of stdin, which tokio does
    // on a blocking thread that nothing can interrupt: do not wait for it to end.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cubby: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: Arc<dyn ClockSource> = Arc::new(KernelClock);
    match cli.command {
        Command::Demo {
            dir,
            headless,
            window,
        } => demo(&dir, headless, window, clock).await,
        Command::Run {
            config,
            headless,
            window,
        } => {
            let cfg = Config::load(&config)?;
            // The door is full screen unless asked otherwise.
            let window = WindowArgs {
                fullscreen: !window.windowed,
                ..window
            };
            view(cfg, headless, window, clock).await
        }
        Command::Provision {
            hub,
            code,
            name,
            config,
        } => {
            let p = provision::provision(&config, &hub, &code, &name).await?;
            println!(
                "provisioned {} as {} for {}; hub and name written to {}",
                name,
                p.device_id,
                p.center_name,
                p.device_file.display()
            );
            match first_sync(&config).await {
                Ok(line) => println!("{line}"),
                Err(e) => println!("first roster sync failed ({e:#}); the kiosk retries on start"),
            }
            Ok(())
        }
        Command::Setup { file, config, root } => {
            let cfg = Config::load_or_default(&config)?;
            let targets = cubby::runtime::setup::Targets {
                root,
                data_dir: cfg.data_dir.clone(),
            };
            let at = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
            match cubby::runtime::setup::run(&file, &targets, &at) {
                Ok(done) => {
                    for line in &done {
                        println!("{line}");
                    }
                    println!(
                        "setup applied; {} keeps it without secrets",
                        cubby::runtime::setup::applied_path(&file).display()
                    );
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!(
                    "{e}\nNothing was changed; the door's screen shows this too. Fix the file and restart."
                )),
            }
        }
        Command::Sync { config, now, full } => sync(&config, now, full).await,
        Command::Status { config, json } => status(&config, json, clock.as_ref()),
        Command::Export {
            config,
            from,
            to,
            format,
        } => {
            let cfg = Config::load(&config)?;
            let store = Store::open(&cfg.db_path())?;
            let roster = cubby::sync::puller::load_roster(&store, chrono::Utc::now())?
                .map(|e| e.roster)
                .ok_or_else(|| anyhow::anyhow!("no roster yet: run `cubby sync --now` first"))?;
            print!(
                "{}",
                cubby::export::export(&store, &roster, from, to, format)?
            );
            Ok(())
        }
        Command::Audit {
            config,
            from,
            to,
            json,
        } => audit(&config, from, to, json),
        Command::TechnicianPin { config, clear } => technician_pin(&config, clear),
        Command::Hub(args) => cubby::hub::cli::run(args, cubby::shutdown::requested()).await,
        Command::Selftest { config, json } => {
            use cubby::devices::{probe, selftest};
            let cfg = Config::load(&config)?;
            let reports = probe::check_all(cfg.fingerprint.as_ref(), &cfg.scanner, &cfg.gpio);
            if json {
                println!("{}", selftest::render_json(&reports));
            } else {
                print!("{}", selftest::render_text(&reports));
            }
            anyhow::ensure!(
                selftest::exit_code(&reports) == 0,
                "self-test failed: a device is at fault"
            );
            Ok(())
        }
        Command::FingerprintEmulator {
            link,
            capacity,
            password,
        } => {
            use cubby::devices::fingerprint::{run_emulator_cli, EmulatorOptions};
            let options = EmulatorOptions {
                capacity,
                password,
                link_path: link,
                ..EmulatorOptions::default()
            };
            tokio::task::spawn_blocking(move || {
                run_emulator_cli(options, std::io::stdin().lock(), std::io::stdout(), false)
            })
            .await??;
            Ok(())
        }
    }
}

/// One roster sync right after provisioning, so the door opens with its roster.
async fn first_sync(config: &Path) -> anyhow::Result<String> {
    let cfg = Config::load(config)?;
    let mut store = Store::open(&cfg.db_path())?;
    let device = DeviceIdentity::load(&cfg, &store)?;
    let client = HubClient::new(&device.hub_url, Some(device.token), cfg.http_timeout())?;
    let r =
        cubby::sync::puller::sync_roster(&client, &mut store, false, chrono::Utc::now()).await?;
    let active: u32 = r
        .counts
        .values()
        .map(|c| c.added + c.updated + c.unchanged)
        .sum();
    Ok(format!(
        "roster synced: {active} active records, {} line(s) in the report (`cubby sync` shows it)",
        r.lines.len()
    ))
}

/// `cubby technician-pin`: the PIN is checked to be provisioned first, then read from
/// stdin; it is never printed or logged.
fn technician_pin(config: &Path, clear: bool) -> anyhow::Result<()> {
    use cubby::runtime::technician;
    let cfg = Config::load(config)?;
    let now = chrono::Utc::now();
    if clear {
        let was_set = technician::clear_technician_pin(&cfg, now)?;
        println!(
            "{}",
            if was_set {
                "technician PIN removed (a running kiosk stops accepting it within a minute)"
            } else {
                "no technician PIN was set"
            }
        );
        return Ok(());
    }
    let key = technician::pin_key(&cfg)?;
    let pin = technician::read_pin_from_stdin()?;
    technician::set_technician_pin(&cfg, &key, &pin, now)?;
    println!("technician PIN set: it opens the device screen (a running kiosk picks it up within a minute)");
    Ok(())
}

/// `cubby audit`: days are the center's (UTC before the first roster sync).
fn audit(
    config: &Path,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    json: bool,
) -> anyhow::Result<()> {
    use chrono::TimeZone;
    if let (Some(f), Some(t)) = (from, to) {
        anyhow::ensure!(f <= t, "--from {f} is after --to {t}");
    }
    let cfg = Config::load(config)?;
    let store = Store::open(&cfg.db_path())?;
    let tz = center_zone(&store)?;
    let start = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let from_utc = from.and_then(start);
    let to_utc = to.and_then(|d| d.succ_opt()).and_then(start);
    let entries = store.audit_between(from_utc, to_utc)?;
    if json {
        let mut list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(at, kind, detail)| {
                serde_json::json!({
                    "at": at,
                    "kind": kind,
                    "detail": serde_json::from_str::<serde_json::Value>(detail)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        list.iter_mut().for_each(cubby::timefmt::json_times);
        println!("{}", serde_json::Value::Array(list));
    } else if entries.is_empty() {
        println!("No audit entries in that range.");
    } else {
        print!("{}", cubby::export::audit_text(&entries, tz));
    }
    Ok(())
}

/// The center's time zone for what the command line prints (UTC before the first roster
/// sync).
fn center_zone(store: &Store) -> anyhow::Result<chrono_tz::Tz> {
    Ok(cubby::sync::puller::load_roster(store, chrono::Utc::now())?
        .and_then(|e| e.roster.center.map(|c| c.tz))
        .unwrap_or(chrono_tz::UTC))
}

async fn sync(config: &Path, now: bool, full: bool) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let mut store = Store::open(&cfg.db_path())?;
    let report = if now {
        let device = DeviceIdentity::load(&cfg, &store)?;
        let client = HubClient::new(&device.hub_url, Some(device.token), cfg.http_timeout())?;
        cubby::sync::puller::sync_roster(&client, &mut store, full, chrono::Utc::now()).await?
    } else {
        match store.reports(1)?.into_iter().next() {
            Some(r) => r,
            None => anyhow::bail!("no roster sync has completed yet; run `cubby sync --now`"),
        }
    };
    println!(
        "Roster sync {} ({}, cursor {})",
        cubby::timefmt::local_text(&report.at, center_zone(&store)?),
        if report.full { "full" } else { "changes only" },
        report.cursor
    );
    for (kind, c) in &report.counts {
        println!(
            "  {:<7} added {:>3}  updated {:>3}  archived {:>3}  unchanged {:>3}",
            kind.as_str(),
            c.added,
            c.updated,
            c.archived,
            c.unchanged
        );
    }
    if !report.lines.is_empty() {
        println!("To fix in the management system:");
        for l in &report.lines {
            println!("  - {l}");
        }
    }
    Ok(())
}

fn status(config: &Path, json: bool, clock: &dyn ClockSource) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    // Checked apart from the store: a read-only disk must show even if SQLite copes.
    let disk = cubby::store::check::writable(&cfg.data_dir).err();
    let store = match Store::open(&cfg.db_path()) {
        Ok(store) => store,
        Err(e) => match &disk {
            Some(d) => anyhow::bail!("{e} ({d})"),
            None => return Err(e.into()),
        },
    };
    // The running kiosk keeps each loop's last error here; this process's own disk
    // check wins for `disk`.
    let mut last_errors: cubby::api::LastErrors = store
        .meta(keys::LAST_ERRORS)?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    if disk.is_some() {
        last_errors.disk = disk.clone();
    }
    let stats = store.queue_stats()?;
    let parked = store.parked_events()?;
    let mut value = serde_json::json!({
        "device_id": store.meta(keys::DEVICE_ID)?,
        "hub_url": cfg.hub_url,
        "queue_depth": stats.depth,
        "oldest_pending_at": stats.oldest_pending_at,
        "parked": parked.iter().map(|p| serde_json::json!({
            "event_id": p.event_id, "reason": p.reason, "parked_at": p.parked_at,
        })).collect::<Vec<_>>(),
        "last_sync_at": store.meta(keys::LAST_SYNC_AT)?,
        "last_sync_error": store.meta(keys::LAST_SYNC_ERROR)?,
        "roster_cursor": store.roster_cursor()?,
        "peer_cursor": store.meta(keys::PEER_CURSOR)?,
        "needs_reprovision": store.unauthorized()?,
        "clock_synced": clock.synced(),
        "last_errors": last_errors,
        "peer_events_skipped": store
            .meta(keys::PEER_SKIPPED)?
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0),
    });
    cubby::timefmt::json_times(&mut value);
    if json {
        println!("{value}");
        return Ok(());
    }
    let tz = center_zone(&store)?;
    let s = |k: &str| match &value[k] {
        serde_json::Value::String(t) if k.ends_with("_at") => cubby::timefmt::local_text_of(t, tz),
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    println!("device        {}", s("device_id"));
    println!("hub           {}", s("hub_url"));
    println!(
        "queue         {} waiting, oldest {}",
        stats.depth,
        s("oldest_pending_at")
    );
    println!("parked        {}", parked.len());
    for p in &parked {
        println!("  {}  {}", p.event_id, p.reason);
    }
    println!(
        "last sync     {} (cursor {})",
        s("last_sync_at"),
        s("roster_cursor")
    );
    if let Some(err) = store.meta(keys::LAST_SYNC_ERROR)? {
        println!("sync error    {err}");
    }
    for (what, err) in [
        ("disk", &last_errors.disk),
        ("upload", &last_errors.upload),
        ("roster", &last_errors.roster),
        ("peers", &last_errors.peers),
        ("heartbeat", &last_errors.heartbeat),
    ] {
        if let Some(err) = err {
            println!("{:<13} {err}", format!("{what} error"));
        }
    }
    if value["peer_events_skipped"] != 0 {
        println!(
            "peer feed     {} unreadable event(s) from the hub skipped",
            value["peer_events_skipped"]
        );
    }
    println!(
        "clock         {}",
        if clock.synced() {
            "NTP-synchronized"
        } else {
            "NOT synchronized"
        }
    );
    if store.unauthorized()? {
        println!("ATTENTION     the hub refused this device's token: run `cubby provision` again");
    }
    Ok(())
}

/// The demo: hub on loopback with the sample center, a kiosk provisioned against it.
async fn demo(
    dir: &Path,
    headless: bool,
    window: WindowArgs,
    clock: Arc<dyn ClockSource>,
) -> anyhow::Result<()> {
    // 0700: the demo's kiosk database and secrets live under it.
    cubby::store::check::ensure_private_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let hub_db = dir.join("hub.sqlite");
    let hub = cubby::hub::start(cubby::hub::HubOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        db: hub_db.clone(),
        seed_demo: true,
        faults: Default::default(),
    })
    .await?;
    let config_path = dir.join("cubby.toml");
    let mut cfg = Config::load_or_default(&config_path)?;
    cfg.data_dir = dir.join("kiosk");
    cfg.timing.peer_poll_s = 5;
    let _demo_devices = cubby::runtime::demo::demo_setup(&dir, &mut cfg); // docs/demo-center.md
    let provisioned = {
        cubby::store::check::ensure_private_dir(&cfg.data_dir)?;
        let store = Store::open(&cfg.db_path())?;
        DeviceIdentity::load(&cfg, &store).is_ok()
    };
    cfg.hub_url = Some(hub.url());
    cfg.save(&config_path)?;
    cfg.save_device_file()?; // device.toml wins over the config file: the hub's new port
    if !provisioned {
        let code = cubby::hub::create_enroll_code(&hub_db)?;
        provision::provision(&config_path, &hub.url(), &code, "Front door").await?;
    }
    if let Err(e) = first_sync(&config_path).await {
        eprintln!("cubby: first roster sync failed: {e:#}");
    }
    let cfg = Config::load(&config_path)?;
    eprintln!(
        "Cubby demo: hub at {} (data in {}).\n\
         PINs: guardian Dana 1111 · pickup Rosa 2222 · not-authorized Chris 3333 · teacher Lee 9001 · director Pat 9000\n\
         (full list: docs/demo-center.md).{}",
        hub.url(),
        dir.display(),
        if headless {
            " Type JSON lines, e.g. {\"pin\":\"1111\"} then {\"tap\":\"check_in\"}."
        } else {
            ""
        }
    );
    let result = view(cfg, headless, window, clock).await;
    hub.shutdown().await;
    result
}

/// Run the kiosk behind the touch UI, or the headless protocol.
async fn view(
    cfg: Config,
    headless: bool,
    window: WindowArgs,
    clock: Arc<dyn ClockSource>,
) -> anyhow::Result<()> {
    if headless {
        return headless::run_headless(cfg, clock).await;
    }
    #[cfg(feature = "ui")]
    {
        let opts = cubby::window::WindowOptions {
            fullscreen: window.fullscreen,
            size: window.size,
            drive_stdin: window.drive_stdin,
        };
        tokio::task::block_in_place(|| cubby::window::run_window(cfg, clock, opts))
    }
    #[cfg(not(feature = "ui"))]
    {
        let _ = window;
        eprintln!("cubby: built without the touch UI (feature `ui`); running the headless protocol (docs/headless.md)");
        headless::run_headless(cfg, clock).await
    }
}
