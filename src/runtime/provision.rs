//! Provisioning: enroll this kiosk with a hub using a one-time code, then keep the
//! device identity (store), the secrets (0600 files) and the hub URL (config).
//!
//! Re-provisioning replaces every secret of the previous enrollment. Attendance already
//! recorded stays in the database and is still delivered.

use std::path::Path;

use crate::api::{EnrollRequest, EnrollResponse};
use crate::config::{check_hub_url, Config};
use crate::store::{keys, Store};
use crate::sync::client::{HubClient, SyncError};

use super::secrets::{decode_pin_key, remove_secret, write_secret};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug)]
pub struct Provisioned {
    pub device_id: String,
    pub center_name: String,
}

pub async fn provision(
    config_path: &Path,
    hub_url: &str,
    code: &str,
    name: &str,
) -> anyhow::Result<Provisioned> {
    let mut cfg = Config::load_or_default(config_path)?;
    check_hub_url(hub_url, cfg.allow_insecure_http).map_err(|p| anyhow::anyhow!("--hub {p}"))?;
    if name.trim().is_empty() {
        anyhow::bail!("--name must not be empty (e.g. \"Front door\")");
    }
    let client = HubClient::new(hub_url, None, cfg.http_timeout())?;
    let req = EnrollRequest {
        code: code.trim().to_string(),
        name: name.trim().to_string(),
        version: VERSION.to_string(),
    };
    let resp = client.enroll(&req).await.map_err(|e| match e {
        SyncError::Unauthorized => anyhow::anyhow!(
            "the hub does not know enrollment code {:?}: ask the administrator for a new one",
            req.code
        ),
        SyncError::Permanent { status: 409, .. } => anyhow::anyhow!(
            "enrollment code {:?} was already used: ask the administrator for a new one",
            req.code
        ),
        other => anyhow::anyhow!("enrollment failed: {other}"),
    })?;
    apply_enrollment(&mut cfg, config_path, hub_url, &req.name, &resp)?;
    Ok(Provisioned {
        device_id: resp.device_id,
        center_name: resp.center.name,
    })
}

/// Persist an enrollment: secrets first (old ones removed), then identity, then config.
pub fn apply_enrollment(
    cfg: &mut Config,
    config_path: &Path,
    hub_url: &str,
    name: &str,
    resp: &EnrollResponse,
) -> anyhow::Result<()> {
    decode_pin_key(&resp.pin_key, &cfg.pin_key_path())?;
    for p in [cfg.token_path(), cfg.pin_key_path()] {
        remove_secret(&p)?;
    }
    write_secret(&cfg.token_path(), &resp.token)?;
    write_secret(&cfg.pin_key_path(), &resp.pin_key)?;

    std::fs::create_dir_all(&cfg.data_dir)
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

    cfg.hub_url = Some(hub_url.trim_end_matches('/').to_string());
    cfg.device_name = name.to_string();
    cfg.save(config_path)?;
    Ok(())
}
