//! The running kiosk: wires the pure state machine to its edges.
//!
//! - The **kiosk task** owns the state machine, the roster, presence and one store
//!   connection. It executes effects (commit events + outbox in one transaction *before*
//!   answering `Saved(Ok)`), ticks every second, and emits a [`Frame`] per input and
//!   whenever the screen or status changes.
//! - The **pusher** (its own connection) delivers the outbox; a commit wakes it.
//! - The **roster puller**, **peer puller** and **heartbeat** run on their schedules and
//!   tell the kiosk task to reload what changed. Every loop reports its last error to
//!   one [`Health`]; the kiosk task keeps it in the store (for `cubby status`), on the
//!   sync screen and in systemd's `STATUS=`.
//! - **Start-up check** ([`crate::store::check`]): before anything opens the store, the
//!   data directory must be writable and the database sound. If not, the kiosk stays up
//!   showing [`Screen::NeedsTechnician`] (and pinging the watchdog) instead of exiting:
//!   exiting would only make systemd restart it every few seconds behind a blank screen,
//!   while staying up tells the staff at the door what is wrong, keeps the reason in
//!   `systemctl status`, and records nothing on a damaged file.
//!
//! Views (the headless JSON lines and the touch window) only send [`Input`]s and draw
//! frames.

pub mod demo;
pub mod devices;
pub mod headless;
pub mod provision;
pub mod secrets;
pub mod setup;
pub mod task;
pub mod technician;

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::SeedableRng;
use tokio::sync::{mpsc, watch, Notify};

use crate::api::{CenterRef, Heartbeat};
use crate::clock::ClockSource;
use crate::config::Config;
use crate::domain::presence::Presence;
use crate::domain::roster::Roster;
use crate::kiosk::frame::{Frame, StatusBar};
use crate::kiosk::screen::Screen;
use crate::kiosk::{Input, Kiosk, Trouble};
use crate::store::{keys, Store};
use crate::sync::client::{HubClient, SyncError};
use crate::sync::health::{Failure, Health, Loop};
use crate::sync::puller::{
    load_roster, next_full_sync, next_manual_sync, pull_peer_events, sync_roster_cached, Applied,
    PullError, RosterCache, RosterUpdate,
};
use crate::sync::pusher::{Pusher, PusherConfig, PusherStatus};

use secrets::{decode_pin_key, read_secret};
use task::KioskTask;

/// The device identity written by provisioning.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    pub device_id: String,
    pub center: Option<CenterRef>,
    pub hub_url: String,
    pub token: String,
    pub pin_key: Vec<u8>,
}

impl DeviceIdentity {
    /// Read identity and secrets; a clear error when the kiosk is not provisioned.
    pub fn load(cfg: &Config, store: &Store) -> anyhow::Result<DeviceIdentity> {
        let hub_url = cfg.hub_url.clone().ok_or_else(|| {
            anyhow::anyhow!("this kiosk is not provisioned (no hub_url): run `cubby provision --hub URL --code CODE --name NAME`")
        })?;
        let device_id = store.meta(keys::DEVICE_ID)?.ok_or_else(|| {
            anyhow::anyhow!(
                "this kiosk is not provisioned ({} has no device id): run `cubby provision`",
                store.path().display()
            )
        })?;
        let center = store
            .meta(keys::CENTER)?
            .and_then(|c| serde_json::from_str(&c).ok());
        let token = read_secret(&cfg.token_path())?;
        let pin_key = decode_pin_key(&read_secret(&cfg.pin_key_path())?, &cfg.pin_key_path())?;
        Ok(DeviceIdentity {
            device_id,
            center,
            hub_url,
            token,
            pin_key,
        })
    }
}

/// Messages from the background tasks to the kiosk task.
#[derive(Debug)]
enum Changed {
    /// The roster changed: as the sync evaluated it (whole, or the entries to set on the
    /// roster the door holds), or (none) to be read from the store.
    Roster(Option<RosterUpdate>),
    Presence,
    /// A roster sync changed nothing: only its report is new.
    Report,
    /// A sync staff asked for finished: its report (the roster changed), or why it failed.
    ManualSync(Result<crate::domain::report::SyncReport, crate::kiosk::Trouble>),
}

/// Start of the current local day at the center, in UTC.
fn start_of_day(roster: &Roster, now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = roster
        .center
        .as_ref()
        .map(|c| c.tz)
        .unwrap_or(chrono_tz::UTC);
    let date = now.with_timezone(&tz).date_naive();
    date.and_hms_opt(0, 0, 0)
        .and_then(|midnight| tz.from_local_datetime(&midnight).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now - Duration::hours(24))
}

fn new_event_id(now: DateTime<Utc>) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        now.timestamp().max(0) as u64,
        now.timestamp_subsec_nanos(),
    );
    uuid::Uuid::new_v7(ts).hyphenated().to_string()
}

/// Run the kiosk until `shutdown` turns true or the input channel closes.
pub async fn run_kiosk(
    cfg: Config,
    clock: Arc<dyn ClockSource>,
    mut inputs: mpsc::Receiver<Vec<Input>>,
    frames: mpsc::UnboundedSender<Frame>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Before anything opens the store: a writable disk and a sound database.
    let notice = match start_up(&cfg) {
        Ok(notice) => notice,
        Err(reason) => {
            let lang = door_language(&cfg);
            return needs_technician(reason, lang, clock.as_ref(), &mut inputs, &frames, shutdown)
                .await;
        }
    };
    // First boot: the provisioning screen until enrolled (returns at once if it is).
    let until = provision::until_provisioned(
        cfg,
        clock.as_ref(),
        &mut inputs,
        &frames,
        shutdown.clone(),
        notice,
    );
    let Some(cfg) = until.await? else {
        return Ok(());
    };
    let store = match Store::open(&cfg.db_path()) {
        Ok(store) => store,
        Err(e) => {
            let reason = format!("the attendance database cannot be opened: {e}");
            let lang = door_language(&cfg);
            return needs_technician(reason, lang, clock.as_ref(), &mut inputs, &frames, shutdown)
                .await;
        }
    };
    let device = DeviceIdentity::load(&cfg, &store)?;
    let health = Arc::new(Health::new());
    let client = HubClient::new(
        &device.hub_url,
        Some(device.token.clone()),
        cfg.http_timeout(),
    )?;

    let wake = Arc::new(Notify::new());
    let (status_tx, status_rx) = watch::channel(PusherStatus::default());
    let (changed_tx, mut changed_rx) = mpsc::unbounded_channel::<Changed>();
    let (manual_tx, manual_rx) = mpsc::unbounded_channel::<()>();
    // Door hardware: device inputs merge with the view's through this channel.
    let (dev_tx, mut dev_rx) = mpsc::unbounded_channel::<devices::HardwareMsg>();
    let devices = devices::DoorHardware::start(&cfg, dev_tx);

    // The background loops stop on `task_stop` and are joined before this returns.
    let (task_stop_tx, task_stop) = watch::channel(false);
    let mut tasks = crate::shutdown::Tasks::default();
    if store.unauthorized()? {
        tracing::warn!(
            "the hub refused this device's token earlier: not calling it until re-provisioned"
        );
    } else {
        let pusher = Pusher::new(
            store.reopen()?,
            client.clone(),
            rand::rngs::StdRng::from_entropy(),
            PusherConfig {
                batch_max: crate::api::MAX_UPLOAD_BATCH,
                base: StdDuration::from_secs(cfg.timing.retry_base_s),
                cap: StdDuration::from_secs(cfg.timing.retry_cap_s),
            },
        )
        .with_health(health.clone());
        tasks.spawn(
            "pusher",
            pusher.run(wake.clone(), status_tx, task_stop.clone()),
        );
        tasks.spawn(
            "roster puller",
            roster_loop(
                client.clone(),
                store.reopen()?,
                cfg.timing.incremental_sync_s,
                changed_tx.clone(),
                manual_rx,
                health.clone(),
                task_stop.clone(),
            ),
        );
        tasks.spawn(
            "peer puller",
            peer_loop(
                client.clone(),
                store.reopen()?,
                cfg.timing.peer_poll_s,
                changed_tx.clone(),
                clock.clone(),
                health.clone(),
                task_stop.clone(),
            ),
        );
        let hb_store = Mutex::new(store.reopen()?);
        let hb_clock = clock.clone();
        let hb_hardware = devices.snapshot();
        let make = move || heartbeat(&hb_store, hb_clock.as_ref(), &hb_hardware);
        tasks.spawn(
            "heartbeat",
            crate::sync::heartbeat::run_heartbeat(
                client.clone(),
                StdDuration::from_secs(cfg.timing.heartbeat_s),
                make,
                health.clone(),
                task_stop.clone(),
            ),
        );
    }
    drop(changed_tx);

    let now = Utc::now();
    let roster = load_roster(&store, now)?
        .map(|e| e.roster)
        .unwrap_or_default();
    pin_future_events(&store, clock.synced(), now);
    let day = start_of_day(&roster, now);
    let presence = Presence::from_events(&store.events_since(day)?);
    let kiosk = Kiosk::new(now)
        .with_lang(door_language(&cfg))
        .with_guard(load_pin_guard(&store), now);
    let device_info = crate::kiosk::DoorInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        device_id: device.device_id.clone(),
        hub_url: device.hub_url.clone(),
        address: None,
        hardware: Vec::new(),
        revoked: store.unauthorized().unwrap_or(false),
    };
    let mut task = KioskTask {
        facts: task::DoorFacts {
            // Parked events and sync reports for the staff screens; reloaded when they
            // change.
            sync_info: load_sync_info(&store, &health),
            // The technician PIN (`cubby technician-pin`): read now and with the sync info
            // (after each roster reload, and at least once a minute).
            technician_pin: load_technician_pin(&store),
            fingerprints: devices::load_fingerprints(&store),
            qr_verifier: crate::qr::QrVerifier::default(),
            device,
            roster,
            presence,
            device_info,
        },
        qr_dedup: crate::qr::Dedup::default(),
        cfg,
        store,
        health,
        wake,
        manual_sync: manual_tx,
        devices,
        kiosk,
        day,
        presence_dirty: true,
        sync_dirty: false,
    };
    task.facts.qr_verifier = task.load_qr_verifier();
    // The loops' last errors as last written to the store and to systemd.
    let mut published = crate::api::LastErrors::NONE;
    let mut published_at = std::time::Instant::now();
    let mut last_pin = std::time::Instant::now();
    let mut sync_loaded = std::time::Instant::now();
    // None: run the auto sign-out check at start (catches up after a night switched off).
    let mut next_auto: Option<DateTime<Utc>> = None;
    let mut last: Option<Frame> = None;
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut shutdown = shutdown;
    crate::systemd::notify_ready();
    let watchdog = crate::systemd::watchdog_interval();
    let mut last_ping = std::time::Instant::now();

    loop {
        let (batch, always) = tokio::select! {
            msg = inputs.recv() => match msg {
                Some(i) => (i, true),
                None => break,
            },
            _ = tick.tick() => (vec![Input::Tick], false),
            Some(msg) = dev_rx.recv() => {
                let t = &mut task;
                (t.devices.on_message(msg, &mut t.store, &mut t.facts.fingerprints, Utc::now()), false)
            }
            Some(ch) = changed_rx.recv() => {
                let (with_roster, answer) = match ch {
                    Changed::Roster(Some(update)) => {
                        update.apply_to(&mut task.facts.roster);
                        (true, None)
                    }
                    Changed::Roster(None) => {
                        task.load_roster(Utc::now());
                        (true, None)
                    }
                    Changed::Presence | Changed::Report => (false, None),
                    Changed::ManualSync(r) => (false, Some(Input::ManualSyncDone(r))),
                };
                if clock.synced() {
                    pin_future_events(&task.store, true, Utc::now());
                }
                task.reload(false, Utc::now());
                if with_roster {
                    task.devices.after_roster_sync(&task.store, &task.facts.roster);
                    // Center settings (the auto sign-out time among them) take effect now:
                    // the timer is armed again from the roster just loaded, and the QR
                    // keys it may have brought are used from the next scan.
                    next_auto = None;
                    task.facts.qr_verifier = task.load_qr_verifier();
                }
                task.sync_dirty = true;
                (answer.into_iter().collect(), false)
            }
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() { break }
                (Vec::new(), false)
            }
        };
        let now = Utc::now();
        crate::systemd::kiosk_beat();
        task.devices.refresh(&mut task.facts.device_info);
        if !crate::systemd::view_owns_watchdog()
            && watchdog.is_some_and(|w| last_ping.elapsed() >= w)
        {
            crate::systemd::notify_watchdog();
            last_ping = std::time::Instant::now();
        }
        // A new day at the center: re-evaluate eligibility and start presence afresh.
        if start_of_day(&task.facts.roster, now) != task.day {
            task.reload(true, now);
        }
        let clock_synced = clock.synced();
        // Once a minute with a trusted clock: events dated in the future (this door's
        // clock was ahead before NTP corrected it) count from now on.
        if clock_synced && last_pin.elapsed() >= StdDuration::from_secs(60) {
            last_pin = std::time::Instant::now();
            if pin_future_events(&task.store, true, now) > 0 {
                task.reload(false, now);
            }
        }
        if let Some(center) = task.facts.roster.center.as_ref() {
            if next_auto.is_none_or(|t| now >= t) {
                let run = task.store.run_auto_sign_out(
                    &task.facts.roster,
                    &task.facts.device.device_id,
                    clock_synced,
                    now,
                );
                match run {
                    Ok(events) => {
                        next_auto = Some(crate::domain::autosignout::next_run(now, center));
                        if !events.is_empty() {
                            tracing::info!(
                                "auto sign-out: {} child(ren) checked out",
                                events.len()
                            );
                            task.committed(&events);
                        }
                    }
                    Err(e) => tracing::error!("auto sign-out failed: {e}"),
                }
            }
        }
        let manual_next = next_manual(&task.store, &task.facts.roster, now);
        if task.handle(batch, now, clock_synced, manual_next) {
            // A dismissed event no longer counts: fold the day again without it.
            task.reload(false, now);
        }
        if task.presence_dirty {
            let ratios = crate::domain::ratios::ratios(&task.facts.roster, &task.facts.presence);
            if let Err(e) = task.store.record_ratio_changes(&ratios, now) {
                tracing::warn!("ratio audit failed: {e}");
            }
            task.presence_dirty = false;
        }
        let online_window = Duration::seconds(2 * task.cfg.timing.incremental_sync_s as i64 + 60);
        let status = status_bar(
            &task.store,
            &status_rx.borrow(),
            &task.facts.roster,
            clock_synced,
            online_window,
            task.kiosk.lang(),
        );
        task.facts.device_info.revoked = status.needs_reprovision;
        let errors = task.health.snapshot();
        if errors != published
            || (errors.disk.is_some() && published_at.elapsed() >= StdDuration::from_secs(60))
        {
            publish_errors(&task.store, &task.health, &errors);
            published = errors;
            published_at = std::time::Instant::now();
            task.sync_dirty = true;
        }
        if task.sync_dirty
            || status.parked != task.facts.sync_info.parked.len() as u64
            || status.queue != task.facts.sync_info.queue_depth
            || sync_loaded.elapsed() >= StdDuration::from_secs(60)
        {
            task.reload_sync_info();
            sync_loaded = std::time::Instant::now();
        }
        let frame = Frame {
            screen: task.screen(now, clock_synced, manual_next),
            status,
            lang: task.kiosk.lang().as_str().to_string(),
        };
        if always || last.as_ref() != Some(&frame) {
            if frames.send(frame.clone()).is_err() {
                break;
            }
            last = Some(frame);
        }
    }
    crate::systemd::notify_stopping();
    // Every loop is told to stop and waited for, so none outlives this task; an upload
    // cut by the stop leaves its events in the outbox for the next start.
    let _ = task_stop_tx.send(true);
    tasks
        .join(StdDuration::from_secs(2) + task.cfg.http_timeout())
        .await;
    drop(task); // strike locked, reader and scanners stopped
    Ok(())
}

/// The start-up check ([`crate::store::check`]). `Err(reason)`: the kiosk must not run.
/// `Ok(Some(notice))`: it may run but staff must know something (a database missing
/// although this kiosk was enrolled: events not yet sent may be gone).
fn start_up(cfg: &Config) -> Result<Option<String>, String> {
    use crate::store::check::{check_at_start, StartCheck};
    match check_at_start(&cfg.data_dir, &cfg.db_path(), Utc::now()) {
        StartCheck::Sound => Ok(None),
        StartCheck::Missing => {
            let enrolled = cfg.token_path().exists() || cfg.pin_key_path().exists();
            if !enrolled {
                return Ok(None);
            }
            let notice = format!(
                "The attendance database {} was missing at start although this door was \
                 enrolled: events not yet sent to the hub may be lost. Restore a backup, or \
                 enroll this door again with a new code.",
                cfg.db_path().display()
            );
            tracing::warn!("{notice}");
            crate::systemd::notify_status(&notice);
            Ok(Some(notice))
        }
        StartCheck::Broken { reason, moved_to } => {
            if let Some(moved) = moved_to {
                tracing::error!(kept_at = %moved.display(), "damaged database moved aside");
            }
            Err(reason)
        }
    }
}

/// The door's configured language (`language` in the config; English when unknown).
fn door_language(cfg: &Config) -> crate::kiosk::Lang {
    crate::kiosk::Lang::parse(&cfg.language).unwrap_or_default()
}

/// The frame of [`Screen::NeedsTechnician`]: the reason, in a door of language `lang`.
fn technician_frame(reason: &str, lang: crate::kiosk::Lang, clock_synced: bool) -> Frame {
    Frame {
        screen: Screen::NeedsTechnician {
            reason: reason.to_string(),
        },
        status: StatusBar {
            clock_synced,
            ..StatusBar::default()
        },
        lang: lang.as_str().to_string(),
    }
}

/// The kiosk cannot run: show [`Screen::NeedsTechnician`] until shutdown or until the
/// view goes away, telling systemd why (`STATUS=`) and that it is alive (READY, and the
/// watchdog, so the unit does not restart it in a loop). Nothing is recorded.
async fn needs_technician(
    reason: String,
    lang: crate::kiosk::Lang,
    clock: &dyn ClockSource,
    inputs: &mut mpsc::Receiver<Vec<Input>>,
    frames: &mpsc::UnboundedSender<Frame>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    tracing::error!(%reason, "this door needs a technician; not recording attendance");
    crate::systemd::notify_ready();
    crate::systemd::notify_status(&format!("NEEDS A TECHNICIAN: {reason}"));
    let frame = || technician_frame(&reason, lang, clock.synced());
    let watchdog = crate::systemd::watchdog_interval();
    let mut last_ping = std::time::Instant::now();
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    if frames.send(frame()).is_err() {
        return Ok(());
    }
    loop {
        tokio::select! {
            msg = inputs.recv() => match msg {
                // One frame per input, as the kiosk does: the view always gets an answer.
                Some(_) => if frames.send(frame()).is_err() { break },
                None => break,
            },
            _ = tick.tick() => {
                crate::systemd::kiosk_beat();
                if !crate::systemd::view_owns_watchdog()
                    && watchdog.is_some_and(|w| last_ping.elapsed() >= w)
                {
                    crate::systemd::notify_watchdog();
                    last_ping = std::time::Instant::now();
                }
            }
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
        }
    }
    crate::systemd::notify_stopping();
    Ok(())
}

/// With a synchronized clock, events dated in the future count from now on
/// (`Store::pin_future_events`). Returns how many moved.
fn pin_future_events(store: &Store, clock_synced: bool, now: DateTime<Utc>) -> usize {
    if !clock_synced {
        return 0;
    }
    match store.pin_future_events(now) {
        Ok(0) => 0,
        Ok(n) => {
            tracing::warn!(
                events = n,
                "events dated in the future (a clock was ahead) now count from the present"
            );
            n
        }
        Err(e) => {
            tracing::warn!("cannot check for future-dated events: {e}");
            0
        }
    }
}

/// Keep the loops' last errors where `cubby status` reads them (the store's `meta`) and
/// in systemd's `STATUS=` line. A failed write is itself a disk error.
fn publish_errors(store: &Store, health: &Health, errors: &crate::api::LastErrors) {
    let json = serde_json::to_string(errors).unwrap_or_else(|_| "{}".into());
    match store.set_meta(keys::LAST_ERRORS, &json) {
        // A write just worked: the disk takes writes again.
        Ok(()) if errors.disk.is_some() => health.ok(Loop::Disk),
        Ok(()) => {}
        Err(e) => {
            tracing::error!("cannot save the loops' last errors: {e}");
            health.failed(Loop::Disk, Failure::new(Trouble::Disk, DISK_WRITE_FAILED));
        }
    }
    crate::systemd::notify_status(&status_line(errors));
}

const DISK_WRITE_FAILED: &str = "the kiosk cannot write its database (disk read-only or full)";

/// systemd's one-line status: "Running" or what is failing.
fn status_line(errors: &crate::api::LastErrors) -> String {
    let parts: Vec<String> = [
        ("disk", &errors.disk),
        ("upload", &errors.upload),
        ("roster", &errors.roster),
        ("peers", &errors.peers),
        ("heartbeat", &errors.heartbeat),
    ]
    .into_iter()
    .filter_map(|(what, e)| e.as_ref().map(|e| format!("{what}: {e}")))
    .collect();
    if parts.is_empty() {
        "Running".to_string()
    } else {
        format!("Running with errors — {}", parts.join("; "))
    }
}

/// Parked events, the last sync reports and the queue depth, for the staff screens. A
/// read error leaves that part empty (logged): the door keeps working.
fn load_sync_info(store: &Store, health: &Health) -> crate::kiosk::SyncInfo {
    let parked = store
        .parked_events()
        .map_err(|e| tracing::warn!("cannot read parked events: {e}"))
        .unwrap_or_default()
        .into_iter()
        .map(|p| crate::kiosk::ParkedItem {
            parked_at: DateTime::parse_from_rfc3339(&p.parked_at)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            event_id: p.event_id,
            reason: p.reason,
            event: p.event,
        })
        .collect();
    crate::kiosk::SyncInfo {
        parked,
        reports: store
            .reports(crate::kiosk::REPORTS_KEPT)
            .map_err(|e| tracing::warn!("cannot read sync reports: {e}"))
            .unwrap_or_default(),
        queue_depth: store.queue_stats().map(|q| q.depth).unwrap_or_default(),
        last_error: store
            .meta(keys::LAST_SYNC_TROUBLE)
            .ok()
            .flatten()
            .and_then(|j| serde_json::from_str(&j).ok())
            .or_else(|| health.troubles().roster),
        loop_errors: health.troubles(),
    }
}

/// The technician PIN's HMAC from the store, if one is set (a read error is logged and
/// leaves it off: staff can still open the device screen).
/// The persisted keypad lockout; an unreadable one is logged and counts as a fresh guard
/// with the keypad locked for the maximum, so a corrupt row never opens the keypad.
fn load_pin_guard(store: &Store) -> crate::domain::pin::PinGuard {
    match store.meta(keys::PIN_GUARD) {
        Ok(None) => crate::domain::pin::PinGuard::default(),
        Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::warn!("stored keypad lockout unreadable ({e}): locking the keypad");
            crate::domain::pin::PinGuard::locked_at_start(Utc::now())
        }),
        Err(e) => {
            tracing::warn!("cannot read the keypad lockout ({e}): locking the keypad");
            crate::domain::pin::PinGuard::locked_at_start(Utc::now())
        }
    }
}

fn load_technician_pin(store: &Store) -> Option<String> {
    store
        .meta(keys::TECHNICIAN_PIN_HMAC)
        .map_err(|e| tracing::warn!("cannot read the technician PIN: {e}"))
        .ok()
        .flatten()
}

fn next_manual(store: &Store, roster: &Roster, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let last = store.meta_time(keys::LAST_MANUAL_SYNC_AT).ok().flatten();
    let interval = roster
        .center
        .as_ref()
        .map(|c| c.manual_sync_min_interval_s)
        .unwrap_or(3600);
    next_manual_sync(last, interval, now)
}

/// Is the hub reachable, as far as the kiosk knows? A door whose token the hub refused
/// (revoked) is not: nothing it records reaches the hub. Otherwise the pusher's last call
/// decides once it has made one; before that (nothing to send yet) a roster sync that
/// worked within `window` counts, so a quiet door does not look offline.
fn is_online(
    pusher: &PusherStatus,
    synced_at: Option<DateTime<Utc>>,
    sync_failed: bool,
    revoked: bool,
    now: DateTime<Utc>,
    window: Duration,
) -> bool {
    if revoked {
        return false;
    }
    if pusher.online {
        return true;
    }
    if pusher.last_error.is_some() {
        return false;
    }
    !sync_failed && synced_at.is_some_and(|t| now - t <= window)
}

fn status_bar(
    store: &Store,
    pusher: &PusherStatus,
    roster: &Roster,
    clock_synced: bool,
    online_window: Duration,
    lang: crate::kiosk::i18n::Lang,
) -> StatusBar {
    let stats = store.queue_stats().unwrap_or_default();
    let synced_at = store.meta_time(keys::LAST_SYNC_AT).ok().flatten();
    let sync_failed = store.meta(keys::LAST_SYNC_ERROR).ok().flatten().is_some();
    let tz = roster
        .center
        .as_ref()
        .map(|c| c.tz)
        .unwrap_or(chrono_tz::UTC);
    let last_sync = synced_at.map(|t| t.with_timezone(&tz).format("%-H:%M").to_string());
    let revoked = pusher.unauthorized || store.unauthorized().unwrap_or(false);
    StatusBar {
        online: is_online(
            pusher,
            synced_at,
            sync_failed,
            revoked,
            Utc::now(),
            online_window,
        ),
        queue: stats.depth,
        parked: stats.parked,
        queue_text: match stats.depth {
            0 => String::new(),
            n => crate::kiosk::i18n::Msg::Waiting { n }.text(lang),
        },
        last_sync,
        needs_reprovision: revoked,
        clock_synced,
    }
}

fn heartbeat(
    store: &Mutex<Store>,
    clock: &dyn ClockSource,
    hardware: &devices::HardwareSnapshot,
) -> Heartbeat {
    let (stats, cursor, guard) = match store.lock() {
        Ok(s) => (
            s.queue_stats().unwrap_or_default(),
            s.roster_cursor().ok().flatten(),
            load_pin_guard(&s),
        ),
        Err(_) => (Default::default(), None, Default::default()),
    };
    let now = Utc::now();
    Heartbeat {
        version: provision::VERSION.to_string(),
        queue_depth: stats.depth,
        oldest_pending_at: stats.oldest_pending_at,
        parked: stats.parked,
        last_roster_cursor: cursor,
        clock_synced: clock.synced(),
        hardware: hardware.get(),
        // Filled by the heartbeat loop from `Health`.
        last_errors: None,
        keypad: Some(keypad_status(&guard, now)),
    }
}

/// The keypad lockout for the heartbeat: the director's view of guessing at this door.
fn keypad_status(
    guard: &crate::domain::pin::PinGuard,
    now: DateTime<Utc>,
) -> crate::api::KeypadStatus {
    crate::api::KeypadStatus {
        locked_until: guard.locked_until(now).map(|t| t.fixed_offset()),
        lockouts_24h: guard.lockouts_since(now - Duration::hours(24)).count() as u32,
        recent_misses: guard.misses(now) as u32,
    }
}

/// Roster sync at start, full at the four daily times, incremental in between, and on
/// a staff request. Stops calling the hub on 401.
async fn roster_loop(
    client: HubClient,
    mut store: Store,
    incremental_s: u64,
    changed: mpsc::UnboundedSender<Changed>,
    mut manual: mpsc::UnboundedReceiver<()>,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut full = store.roster_cursor().ok().flatten().is_none();
    // Failed syncs retry soon (2 s doubling to 60 s, jittered), not at the next schedule.
    let mut retry =
        crate::sync::backoff::Backoff::new(StdDuration::from_secs(2), StdDuration::from_secs(60));
    let mut rng = rand::rngs::StdRng::from_entropy();
    // Staff asked for this sync: they are told how it went.
    let mut asked = false;
    // The roster as merged so far, held between syncs so each writes only what changed.
    let mut cache = RosterCache::new();
    loop {
        let now = Utc::now();
        let synced = sync_roster_cached(&client, &mut store, &mut cache, full, now).await;
        let ok = match synced {
            Ok(Applied {
                report,
                reload,
                roster,
            }) => {
                tracing::info!(cursor = %report.cursor, full = report.full, reload, "roster synced");
                health.ok(Loop::Roster);
                if reload {
                    let _ = changed.send(Changed::Roster(roster));
                }
                if asked {
                    let _ = changed.send(Changed::ManualSync(Ok(report)));
                } else if !reload {
                    let _ = changed.send(Changed::Report);
                }
                true
            }
            Err(PullError::Hub(SyncError::Unauthorized)) => {
                let _ = crate::sync::OutboxPort::set_unauthorized(&mut store, true);
                tracing::error!("the hub refused this device's token: re-provision the kiosk");
                health.failed(Loop::Roster, Failure::of(&SyncError::Unauthorized));
                if asked {
                    let _ = changed.send(Changed::ManualSync(Err(Trouble::Revoked)));
                }
                return;
            }
            Err(e) => {
                health.failed(Loop::Roster, e.failure());
                if asked {
                    let _ = changed.send(Changed::ManualSync(Err(e.trouble())));
                }
                false
            }
        };
        asked = false;
        let now = Utc::now();
        let tz = cache
            .center()
            .and_then(|c| c.timezone.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        let next_full = next_full_sync(now, tz);
        let next_inc = if ok {
            retry.reset();
            now + Duration::seconds(incremental_s as i64)
        } else {
            let delay = retry
                .next_delay(&mut rng)
                .min(StdDuration::from_secs(incremental_s));
            now + Duration::milliseconds(delay.as_millis() as i64)
        };
        full = next_full <= next_inc;
        let until = next_full.min(next_inc);
        let wait = (until - now).to_std().unwrap_or(StdDuration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Some(()) = manual.recv() => {
                full = true;
                asked = true;
            }
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// Fetch other kiosks' events every `poll_s` seconds. Unreadable events are skipped
/// and reported (a peers error, and the total in `keys::PEER_SKIPPED`).
async fn peer_loop(
    client: HubClient,
    mut store: Store,
    poll_s: u64,
    changed: mpsc::UnboundedSender<Changed>,
    clock: Arc<dyn ClockSource>,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    use crate::sync::puller::{peer_pause, PEER_WAIT};
    let poll = StdDuration::from_secs(poll_s.max(1));
    let mut limit = crate::sync::puller::PEER_PAGE_LIMIT;
    let mut pause = StdDuration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
        let now = Utc::now();
        let synced_now = clock.synced().then_some(now);
        let started = std::time::Instant::now();
        // Long-poll: the hub answers as soon as another door's event arrives.
        let pulled = tokio::select! {
            r = pull_peer_events(&client, &mut store, &mut limit, now, synced_now, Some(PEER_WAIT)) => r,
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return } else { continue },
        };
        pause = peer_pause(pulled.as_ref().ok(), started.elapsed(), poll);
        match pulled {
            Ok(pull) => {
                if pull.skipped > 0 {
                    let total = note_skipped(&store, pull.skipped);
                    let text = format!(
                        "{} event(s) from the hub could not be read and were skipped \
                         ({total} in all); the hub's feed may be damaged",
                        pull.skipped
                    );
                    let trouble = Trouble::FeedDamaged {
                        skipped: pull.skipped as u64,
                    };
                    health.failed(Loop::Peers, Failure::new(trouble, text));
                } else {
                    health.ok(Loop::Peers);
                }
                if pull.clock_suspect > 0 {
                    tracing::warn!(
                        events = pull.clock_suspect,
                        "events from other doors dated in the future count from when the hub received them"
                    );
                }
                if pull.added > 0 {
                    tracing::debug!("{} event(s) from other doors", pull.added);
                    let _ = changed.send(Changed::Presence);
                }
            }
            Err(PullError::Hub(SyncError::Unauthorized)) => {
                let _ = crate::sync::OutboxPort::set_unauthorized(&mut store, true);
                health.failed(Loop::Peers, Failure::of(&SyncError::Unauthorized));
                return;
            }
            Err(e) => health.failed(Loop::Peers, e.failure()),
        }
    }
}

/// Add `n` to the count of skipped peer events kept in the store; returns the total.
fn note_skipped(store: &Store, n: usize) -> u64 {
    let before: u64 = store
        .meta(keys::PEER_SKIPPED)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let total = before.saturating_add(n as u64);
    if let Err(e) = store.set_meta(keys::PEER_SKIPPED, &total.to_string()) {
        tracing::warn!("cannot count skipped peer events: {e}");
    }
    total
}

#[cfg(test)]
mod online_tests {
    use super::*;

    #[test]
    fn the_technician_screen_is_in_the_configured_language() {
        let cfg = Config {
            language: "es".into(),
            ..Config::default()
        };
        let frame = technician_frame("the disk is read-only", door_language(&cfg), true);
        assert_eq!(frame.lang, "es");
        assert!(frame.status.clock_synced);
        assert!(
            matches!(&frame.screen, Screen::NeedsTechnician { reason } if reason == "the disk is read-only")
        );
        let text = crate::kiosk::frame::technician_text(frame.language(), "the disk is read-only");
        assert!(
            text.starts_with("Esta puerta necesita un técnico"),
            "{text}"
        );
        assert_eq!(door_language(&Config::default()).as_str(), "en");
    }

    #[test]
    fn the_heartbeat_reports_the_keypad_lockout() {
        let now = Utc::now();
        let mut g = crate::domain::pin::PinGuard::default();
        for _ in 0..5 {
            g.miss(now);
        }
        let k = keypad_status(&g, now);
        assert_eq!(k.lockouts_24h, 1);
        assert_eq!(k.recent_misses, 5);
        assert!(k.locked_until.is_some());
        let later = keypad_status(&g, now + Duration::hours(25));
        assert_eq!((later.lockouts_24h, later.recent_misses), (0, 0));
        assert_eq!(later.locked_until, None);
    }

    #[test]
    fn a_quiet_door_is_online_after_a_recent_roster_sync() {
        let now = Utc::now();
        let w = Duration::minutes(11);
        let fresh = PusherStatus::default();
        assert!(is_online(
            &fresh,
            Some(now - Duration::minutes(3)),
            false,
            false,
            now,
            w
        ));
        assert!(
            !is_online(
                &fresh,
                Some(now - Duration::minutes(30)),
                false,
                false,
                now,
                w
            ),
            "stale sync"
        );
        assert!(
            !is_online(&fresh, Some(now), true, false, now, w),
            "the last sync failed"
        );
        assert!(
            !is_online(&fresh, None, false, false, now, w),
            "never synced"
        );
        let failing = PusherStatus {
            last_error: Some("hub unreachable".into()),
            ..PusherStatus::default()
        };
        assert!(
            !is_online(&failing, Some(now), false, false, now, w),
            "the pusher's failure wins"
        );
        let pushed = PusherStatus {
            online: true,
            ..PusherStatus::default()
        };
        assert!(is_online(&pushed, None, false, false, now, w));
        // A revoked door is offline, whatever its last calls said.
        assert!(!is_online(&pushed, Some(now), false, true, now, w));
        assert!(!is_online(&fresh, Some(now), false, true, now, w));
    }
}
