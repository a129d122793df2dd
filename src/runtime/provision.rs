//! Provisioning: enroll this kiosk with a hub using a one-time code, then keep the
//! device identity (store), the secrets (0600 files) and the hub URL and door name
//! (`<data_dir>/device.toml`, layered over the config file, which is never rewritten:
//! it is a dpkg conffile, and the service may not write `/etc` anyway).
//!
//! Two ways in: `cubby provision` ([`provision`]) and, on first boot, the provisioning
//! screen ([`until_provisioned`], which `run_kiosk` awaits before anything else).
//!
//! Re-provisioning replaces every secret of the previous enrollment and device.toml.
//! Attendance already recorded stays in the database and is still delivered.

use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::api::{EnrollRequest, EnrollResponse};
use crate::clock::ClockSource;
use crate::config::{check_hub_url, Config};
use crate::kiosk::screen::Screen;
use crate::kiosk::{Input, Lang, Msg};
use crate::store::{keys, Store};
use crate::sync::client::{HubClient, SyncError};

use super::secrets::{decode_pin_key, remove_secret, write_secret};
use super::DeviceIdentity;
use crate::kiosk::frame::{Frame, StatusBar};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug)]
pub struct Provisioned {
    pub device_id: String,
    pub center_name: String,
    /// Where the hub URL and door name were written (`<data_dir>/device.toml`).
    pub device_file: std::path::PathBuf,
}

pub use crate::kiosk::ProvisionError;

/// A failed enrollment call, in the terms of the provisioning screen.
fn from_sync(e: SyncError, url: &str) -> ProvisionError {
    match e {
        // Enrollment carries no token: an unknown code comes back as a plain 401.
        SyncError::Unauthorized | SyncError::Permanent { status: 401, .. } => {
            ProvisionError::UnknownCode
        }
        SyncError::Permanent { status: 409, .. } => ProvisionError::CodeUsed,
        SyncError::Network(detail) => ProvisionError::Unreachable {
            url: url.to_string(),
            detail,
        },
        e @ SyncError::Transient { .. } => ProvisionError::HubBusy(e.to_string()),
        e @ SyncError::Permanent { .. } => ProvisionError::Refused(e.to_string()),
        SyncError::Malformed(detail) => ProvisionError::NotAHub {
            url: url.to_string(),
            detail,
        },
    }
}

/// `cubby provision`: enroll with the config file at `config_path` (defaults if it does
/// not exist) and keep the result. The config file itself is left as it is.
pub async fn provision(
    config_path: &Path,
    hub_url: &str,
    code: &str,
    name: &str,
) -> anyhow::Result<Provisioned> {
    let cfg = Config::load_or_default(config_path)?;
    let (_, provisioned) = enroll(&cfg, hub_url, code, name).await?;
    Ok(provisioned)
}

/// Enroll with the hub and persist the result. Returns the configuration to run with
/// (`cfg` with the new hub URL and name, as [`Config::load`] will read it from now on).
pub async fn enroll(
    cfg: &Config,
    hub_url: &str,
    code: &str,
    name: &str,
) -> Result<(Config, Provisioned), ProvisionError> {
    let hub_url = hub_url.trim().trim_end_matches('/');
    let (code, name) = (code.trim(), name.trim());
    if hub_url.is_empty() {
        return Err(ProvisionError::NoHubUrl);
    }
    check_hub_url(hub_url, cfg.allow_insecure_http).map_err(ProvisionError::BadHubUrl)?;
    if code.is_empty() {
        return Err(ProvisionError::NoCode);
    }
    if name.is_empty() {
        return Err(ProvisionError::NoName);
    }
    let client =
        HubClient::new(hub_url, None, cfg.http_timeout()).map_err(|e| from_sync(e, hub_url))?;
    let req = EnrollRequest {
        code: code.to_string(),
        name: name.to_string(),
        version: VERSION.to_string(),
    };
    let resp = client
        .enroll(&req)
        .await
        .map_err(|e| from_sync(e, hub_url))?;
    let cfg = apply_enrollment(cfg, hub_url, name, &resp)
        .map_err(|e| ProvisionError::Save(format!("{e:#}")))?;
    let device_file = cfg.device_file_path();
    Ok((
        cfg,
        Provisioned {
            device_id: resp.device_id,
            center_name: resp.center.name,
            device_file,
        },
    ))
}

/// Persist an enrollment: secrets first (old ones removed), then the identity in the
/// store, then `<data_dir>/device.toml`. Returns `cfg` with the new hub URL and name.
pub fn apply_enrollment(
    cfg: &Config,
    hub_url: &str,
    name: &str,
    resp: &EnrollResponse,
) -> anyhow::Result<Config> {
    decode_pin_key(&resp.pin_key, &cfg.pin_key_path())?;
    for p in [cfg.token_path(), cfg.pin_key_path()] {
        remove_secret(&p)?;
    }
    write_secret(&cfg.token_path(), &resp.token)?;
    write_secret(&cfg.pin_key_path(), &resp.pin_key)?;

    crate::store::check::ensure_private_dir(&cfg.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data_dir {}: {e}", cfg.data_dir.display()))?;
    let mut store = Store::open(&cfg.db_path())?;
    let previous_center = store
        .meta(keys::CENTER)?
        .and_then(|c| serde_json::from_str::<crate::api::CenterRef>(&c).ok());
    if previous_center
        .as_ref()
        .is_some_and(|c| c.id != resp.center.id)
    {
        // Another center's roster must never be shown at this door.
        store.clear_roster()?;
    }
    store.set_meta(keys::DEVICE_ID, &resp.device_id)?;
    store.set_meta(keys::CENTER, &serde_json::to_string(&resp.center)?)?;
    store.set_meta(keys::QR_KEYS, &serde_json::to_string(&resp.qr_keys)?)?;
    crate::sync::OutboxPort::set_unauthorized(&mut store, false)?;

    let mut cfg = cfg.clone();
    cfg.hub_url = Some(hub_url.trim_end_matches('/').to_string());
    cfg.device_name = name.to_string();
    cfg.save_device_file()?;
    Ok(cfg)
}

/// The device id this data directory was provisioned as, read without creating or
/// migrating anything (a read-only SQLite connection). `None` when there is no database
/// yet, no device id in it, or it cannot be read: callers only label logs with it.
pub fn stored_device_id(cfg: &Config) -> Option<String> {
    use rusqlite::OpenFlags;
    let path = cfg.db_path();
    if !path.exists() {
        return None;
    }
    let conn = rusqlite::Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    conn.query_row(
        "SELECT value FROM meta WHERE key = ?1",
        [keys::DEVICE_ID],
        |r| r.get::<_, String>(0),
    )
    .ok()
    .filter(|id| !id.trim().is_empty())
}

/// Is this kiosk provisioned? `Ok(None)` when it is; `Ok(Some(problem))` when it is not,
/// where `problem` is `None` for a plainly fresh kiosk and says what is wrong with a
/// half-done or damaged enrollment. `Err` only when the database cannot be opened at all.
fn provisioning_state(cfg: &Config) -> anyhow::Result<Option<Option<ProvisionError>>> {
    crate::store::check::ensure_private_dir(&cfg.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data_dir {}: {e}", cfg.data_dir.display()))?;
    let store = Store::open(&cfg.db_path())?;
    match DeviceIdentity::load(cfg, &store) {
        Ok(_) => Ok(None),
        Err(_) if cfg.hub_url.is_none() || store.meta(keys::DEVICE_ID)?.is_none() => Ok(Some(None)),
        Err(e) => Ok(Some(Some(ProvisionError::Incomplete(format!("{e:#}"))))),
    }
}

/// How often an unprovisioned kiosk looks whether `cubby provision` was run meanwhile.
const RECHECK: Duration = Duration::from_secs(5);

/// First boot: while this kiosk is not provisioned, show [`Screen::Provision`] and
/// enroll with what the view sends as [`Input::Provision`]; show `busy` during an
/// attempt and the reason in plain words when it fails, and try again as often as
/// asked. Also continues when `cubby provision` provisions the kiosk meanwhile.
///
/// `notice` is shown as the screen's first message (the start-up check's warning).
/// Returns the configuration to run the kiosk with (at once when already provisioned),
/// or `None` when the view went away or `shutdown` was asked for first. Tells systemd it
/// is ready (the service must not time out waiting) and pings the watchdog.
pub async fn until_provisioned(
    cfg: Config,
    clock: &dyn ClockSource,
    inputs: &mut mpsc::Receiver<Vec<Input>>,
    frames: &mpsc::UnboundedSender<Frame>,
    mut shutdown: watch::Receiver<bool>,
    notice: Option<String>,
) -> anyhow::Result<Option<Config>> {
    let Some(problem) = provisioning_state(&cfg)? else {
        return Ok(Some(cfg));
    };
    // A setup file on the card that could not be used says why first.
    let mut problems: Vec<ProvisionError> = super::setup::setup_error(&cfg.data_dir)
        .map(ProvisionError::SetupFileNotUsed)
        .into_iter()
        .collect();
    problems.extend(problem);
    tracing::warn!(
        "this kiosk is not provisioned: showing the provisioning screen ({})",
        match problems.first() {
            Some(p) => p.to_string(),
            None => "fresh device".into(),
        }
    );
    crate::systemd::notify_ready();
    crate::systemd::notify_status(
        "Not provisioned: enter the hub address and enrollment code on the screen, or run `cubby provision`",
    );
    let mut view = ProvisionView {
        hub_url: cfg.hub_url.clone().unwrap_or_default(),
        name: cfg.device_name.clone(),
        busy: false,
        notice,
        problems,
        lang: Lang::parse(&cfg.language).unwrap_or_default(),
    };
    if !view.send(frames, clock) {
        return Ok(None);
    }
    let watchdog = crate::systemd::watchdog_interval();
    let mut last_ping = std::time::Instant::now();
    let mut last_check = std::time::Instant::now();
    // Alive while waiting, like the kiosk loop: beat for a view that owns the watchdog
    // (the touch UI), else ping it here.
    crate::systemd::kiosk_beat();
    let mut ping = move || {
        crate::systemd::kiosk_beat();
        if !crate::systemd::view_owns_watchdog()
            && watchdog.is_some_and(|w| last_ping.elapsed() >= w)
        {
            crate::systemd::notify_watchdog();
            last_ping = std::time::Instant::now();
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The setup file's enrollment (`cubby setup` at first boot), tried by itself until it
    // works or the hub refuses it for good; a technician may still use the form.
    let mut auto = match super::setup::pending_enrollment(&cfg.data_dir) {
        Ok(p) => p,
        Err(e) => {
            view.problems = vec![ProvisionError::SetupUnusable(e.to_string())];
            None
        }
    };
    if let Some(p) = &auto {
        view.hub_url = p.hub_url.clone();
        view.name = p.door_name.clone();
    }
    let mut auto_at = std::time::Instant::now();
    loop {
        let request = tokio::select! {
            msg = inputs.recv() => {
                let Some(batch) = msg else { return Ok(None) };
                let mut request = None;
                for input in batch {
                    // Nothing else works before the kiosk is provisioned.
                    if let Input::Provision { hub_url, code, name } = input {
                        request = Some((hub_url, code, name, false));
                    }
                }
                if request.is_none() && !view.send(frames, clock) {
                    // One frame per input, as the kiosk does: the view always gets an answer.
                    return Ok(None);
                }
                request
            }
            _ = tick.tick() => {
                ping();
                if last_check.elapsed() >= RECHECK {
                    last_check = std::time::Instant::now();
                    if let Some(cfg) = provisioned_meanwhile(&cfg) {
                        return Ok(Some(cfg));
                    }
                }
                match &auto {
                    Some(p) if std::time::Instant::now() >= auto_at => {
                        Some((p.hub_url.clone(), p.code.clone(), p.door_name.clone(), true))
                    }
                    _ => None,
                }
            }
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return Ok(None);
                }
                None
            }
        };
        let Some((hub_url, code, name, from_setup)) = request else {
            continue;
        };
        view.hub_url = hub_url.trim().to_string();
        view.name = name.trim().to_string();
        view.busy = true;
        view.notice = None;
        view.problems.clear();
        if !view.send(frames, clock) {
            return Ok(None);
        }
        let attempt = enroll(&cfg, &hub_url, &code, &name);
        tokio::pin!(attempt);
        let result = loop {
            tokio::select! {
                r = &mut attempt => break r,
                _ = tick.tick() => ping(),
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        return Ok(None);
                    }
                }
            }
        };
        view.busy = false;
        match result {
            Ok((cfg, p)) => {
                tracing::info!(
                    device = %p.device_id,
                    center = %p.center_name,
                    from_setup,
                    "provisioned from the screen"
                );
                if from_setup {
                    finish_setup(&cfg, auto.as_ref());
                }
                crate::systemd::device_id_known(&p.device_id);
                return Ok(Some(cfg));
            }
            Err(e) if from_setup && e.is_retryable() => {
                tracing::warn!("enrollment from the setup file failed, retrying: {e}");
                auto_at = std::time::Instant::now() + SETUP_RETRY;
                view.problems = vec![ProvisionError::SetupRetrying {
                    error: Box::new(e),
                    secs: SETUP_RETRY.as_secs(),
                }];
            }
            Err(e) => {
                tracing::warn!("provisioning from the screen failed: {e}");
                if from_setup {
                    // A refused code will not work later either: the form takes a new one.
                    auto = None;
                    remove_pending(&cfg);
                    view.problems = vec![ProvisionError::SetupFailed(Box::new(e))];
                } else {
                    view.problems = vec![e];
                }
            }
        }
        if !view.send(frames, clock) {
            return Ok(None);
        }
    }
}

/// How long to wait between attempts of the setup file's enrollment when the hub cannot
/// be reached yet (the network may come up after the kiosk).
const SETUP_RETRY: Duration = Duration::from_secs(10);

/// After the setup file's enrollment: set its technician PIN, then drop the pending file.
fn finish_setup(cfg: &Config, pending: Option<&super::setup::PendingEnrollment>) {
    if let Some(pin) = pending.and_then(|p| p.technician_pin.as_deref()) {
        let set = super::technician::pin_key(cfg).and_then(|key| {
            super::technician::set_technician_pin(cfg, &key, pin, chrono::Utc::now())
        });
        match set {
            Ok(()) => tracing::info!("technician PIN from the setup file set"),
            Err(e) => tracing::warn!("the setup file's technician PIN was not set: {e:#}"),
        }
    }
    remove_pending(cfg);
}

fn remove_pending(cfg: &Config) {
    let path = cfg.data_dir.join(super::setup::PENDING_FILE);
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
}

/// `cubby provision` ran while the screen waited: the config with device.toml re-read.
fn provisioned_meanwhile(cfg: &Config) -> Option<Config> {
    let mut fresh = cfg.clone();
    fresh.layer_device_file().ok()?;
    match provisioning_state(&fresh) {
        Ok(None) => {
            tracing::info!("provisioned from the command line");
            if let Some(id) = stored_device_id(&fresh) {
                crate::systemd::device_id_known(&id);
            }
            Some(fresh)
        }
        _ => None,
    }
}

/// What the provisioning screen shows (never the code).
struct ProvisionView {
    hub_url: String,
    name: String,
    busy: bool,
    /// What the start-up check found (a database gone missing), as it said it.
    notice: Option<String>,
    /// What went wrong, in the order it is said.
    problems: Vec<ProvisionError>,
    /// The door's language (`language` in the config file).
    lang: Lang,
}

impl ProvisionView {
    /// Send the current frame; `false` when the view is gone.
    fn send(&self, frames: &mpsc::UnboundedSender<Frame>, clock: &dyn ClockSource) -> bool {
        let frame = Frame {
            screen: Screen::Provision {
                hub_url: self.hub_url.clone(),
                name: self.name.clone(),
                busy: self.busy,
                error: self.error(),
            },
            status: StatusBar {
                clock_synced: clock.synced(),
                ..StatusBar::default()
            },
            lang: self.lang.as_str().to_string(),
        };
        frames.send(frame).is_ok()
    }

    /// Everything to say, in the door's language; `None` when all is well.
    fn error(&self) -> Option<String> {
        let said: Vec<String> = self
            .notice
            .iter()
            .cloned()
            .chain(
                self.problems
                    .iter()
                    .map(|p| Msg::Provision(p).text(self.lang)),
            )
            .collect();
        (!said.is_empty()).then(|| said.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg_in(dir: &Path) -> Config {
        Config {
            data_dir: dir.join("data"),
            ..Config::default()
        }
    }

    #[test]
    fn hub_answers_become_plain_words() {
        let url = "https://hub.example";
        let unknown = SyncError::Permanent {
            status: 401,
            code: "unknown_code".into(),
            message: "no such code".into(),
        };
        assert_eq!(from_sync(unknown, url), ProvisionError::UnknownCode);
        let used = SyncError::Permanent {
            status: 409,
            code: "code_used".into(),
            message: "used".into(),
        };
        assert_eq!(from_sync(used, url), ProvisionError::CodeUsed);
        let down = from_sync(SyncError::Network("connection refused".into()), url).to_string();
        assert!(
            down.starts_with("Cannot reach the hub at https://hub.example"),
            "{down}"
        );
        assert!(down.contains("connection refused"), "{down}");
        let busy = SyncError::Transient {
            status: 503,
            retry_after: None,
            message: "maintenance".into(),
        };
        assert!(from_sync(busy, url)
            .to_string()
            .contains("try again in a minute"));
    }

    #[test]
    fn the_provisioning_screen_speaks_the_doors_language() {
        let view = |lang, problems| ProvisionView {
            hub_url: String::new(),
            name: String::new(),
            busy: false,
            notice: None,
            problems,
            lang,
        };
        assert_eq!(view(Lang::En, vec![]).error(), None);
        let retry = || {
            vec![ProvisionError::SetupRetrying {
                error: Box::new(ProvisionError::HubBusy("HTTP 503".into())),
                secs: 10,
            }]
        };
        assert_eq!(
            view(Lang::En, retry()).error().as_deref(),
            Some(
                "Enrolling with the setup file: The hub is busy or down right now (HTTP 503): \
                 try again in a minute. Trying again in 10 s."
            )
        );
        let es = view(Lang::Es, retry()).error().unwrap_or_default();
        assert!(
            es.starts_with("Registrando con el archivo de configuración: El hub está ocupado"),
            "{es}"
        );
        assert!(es.ends_with("Se intentará de nuevo en 10 s."), "{es}");
        let mut two = view(Lang::Es, vec![ProvisionError::UnknownCode]);
        two.notice = Some("The database was missing.".into());
        assert_eq!(
            two.error().as_deref(),
            Some(
                "The database was missing. El hub no conoce este código de registro: revíselo \
                 o pida uno nuevo al administrador del hub."
            )
        );
        // `cubby provision` says it in English, from the same words.
        assert_eq!(
            ProvisionError::CodeUsed.to_string(),
            "This enrollment code was already used: ask the hub administrator for a new one."
        );
    }

    #[tokio::test]
    async fn bad_input_is_refused_before_calling_any_hub() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg_in(dir.path());
        let err = |r: Result<(Config, Provisioned), ProvisionError>| r.unwrap_err();
        assert_eq!(
            err(enroll(&cfg, "  ", "ABCD-EFGH", "Front door").await),
            ProvisionError::NoHubUrl
        );
        // Plain http to a non-loopback host: refused without a connection attempt.
        let e = err(enroll(&cfg, "http://hub.invalid:8700", "ABCD-EFGH", "Front door").await);
        assert!(matches!(e, ProvisionError::BadHubUrl(_)), "{e:?}");
        assert!(e.to_string().contains("use https"), "{e}");
        assert_eq!(
            err(enroll(&cfg, "https://hub.invalid", " ", "Front door").await),
            ProvisionError::NoCode
        );
        assert_eq!(
            err(enroll(&cfg, "https://hub.invalid", "ABCD-EFGH", "").await),
            ProvisionError::NoName
        );
        // Nothing was written.
        assert!(!cfg.device_file_path().exists());
        assert!(!cfg.token_path().exists());
    }

    #[test]
    fn stored_device_id_reads_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg_in(dir.path());
        assert_eq!(stored_device_id(&cfg), None);
        assert!(!cfg.db_path().exists(), "must not create the database");

        std::fs::create_dir_all(&cfg.data_dir).unwrap();
        let store = Store::open(&cfg.db_path()).unwrap();
        assert_eq!(stored_device_id(&cfg), None);
        store.set_meta(keys::DEVICE_ID, "dev_07").unwrap();
        assert_eq!(stored_device_id(&cfg).as_deref(), Some("dev_07"));
    }

    #[test]
    fn enrollment_goes_to_device_toml_and_replaces_the_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("cubby.toml");
        std::fs::write(
            &cfg_path,
            format!(
                "data_dir = \"{}\"\nhub_url = \"https://old.example\"\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let conffile = std::fs::read_to_string(&cfg_path).unwrap();
        let cfg = Config::load(&cfg_path).unwrap();
        let resp = |device: &str, token: &str| -> EnrollResponse {
            serde_json::from_value(serde_json::json!({
                "device_id": device,
                "token": token,
                "pin_key": "MDEyMzQ1Njc4OWFiY2RlZg==",
                "center": {"id": "ctr_1", "name": "Maple", "timezone": "America/Chicago"},
                "qr_keys": [],
            }))
            .unwrap()
        };
        let out = apply_enrollment(
            &cfg,
            "https://hub.example/",
            "Front door",
            &resp("dev_01", "t1"),
        )
        .unwrap();
        assert_eq!(out.hub_url.as_deref(), Some("https://hub.example"));
        let again = apply_enrollment(
            &out,
            "https://hub2.example",
            "Side door",
            &resp("dev_02", "t2"),
        )
        .unwrap();
        assert_eq!(again.device_name, "Side door");

        assert_eq!(std::fs::read_to_string(&cfg_path).unwrap(), conffile);
        let loaded = Config::load(&cfg_path).unwrap();
        assert_eq!(loaded.hub_url.as_deref(), Some("https://hub2.example"));
        assert_eq!(loaded.device_name, "Side door");
        assert_eq!(
            super::super::secrets::read_secret(&loaded.token_path()).unwrap(),
            "t2"
        );
        assert_eq!(stored_device_id(&loaded).as_deref(), Some("dev_02"));
        assert!(provisioning_state(&loaded).unwrap().is_none());
    }
}
