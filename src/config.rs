//! The kiosk's configuration: a TOML file (`/etc/cubby/cubby.toml` by default).
//!
//! Every value has a default except what provisioning writes (`hub_url`). A wrong value
//! is an error that names the key and the file, so a technician can fix it over SSH.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const DEFAULT_PATH: &str = "/etc/cubby/cubby.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the hub, e.g. `https://hub.maple.example`. Written by `cubby provision`.
    #[serde(default)]
    pub hub_url: Option<String>,
    /// Where the database and secrets live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The name this door shows the hub ("Front door").
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// Device token file (0600). Default: `<data_dir>/secrets/token`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// PIN HMAC key file (0600). Default: `<data_dir>/secrets/pin_key`.
    #[serde(default)]
    pub pin_key_file: Option<PathBuf>,
    /// Allow a plain `http://` hub that is not on loopback (never in production).
    #[serde(default)]
    pub allow_insecure_http: bool,
    #[serde(default)]
    pub timing: Timing,
}

/// Timing knobs, all in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Incremental roster sync between the four scheduled full syncs.
    pub incremental_sync_s: u64,
    /// How often other kiosks' events are fetched.
    pub peer_poll_s: u64,
    pub heartbeat_s: u64,
    /// Timeout of one HTTP request to the hub.
    pub http_timeout_s: u64,
    /// First retry delay and cap of the outbox backoff.
    pub retry_base_s: u64,
    pub retry_cap_s: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            incremental_sync_s: 300,
            peer_poll_s: 15,
            heartbeat_s: 60,
            http_timeout_s: 20,
            retry_base_s: 1,
            retry_cap_s: 300,
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/cubby")
}

fn default_device_name() -> String {
    "Front door".to_string()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hub_url: None,
            data_dir: default_data_dir(),
            device_name: default_device_name(),
            token_file: None,
            pin_key_file: None,
            allow_insecure_http: false,
            timing: Timing::default(),
        }
    }
}

impl Config {
    /// Load and validate. A missing file is an error (say where it was looked for).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Load if the file exists, else defaults (used by `provision` on a fresh device).
    pub fn load_or_default(path: &Path) -> Result<Config, ConfigError> {
        if path.exists() {
            Config::load(path)
        } else {
            Ok(Config::default())
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key, problem: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem: problem.to_string(),
        };
        if let Some(url) = &self.hub_url {
            check_hub_url(url, self.allow_insecure_http).map_err(|p| bad("hub_url", &p))?;
        }
        if self.device_name.trim().is_empty() {
            return Err(bad("device_name", "must not be empty"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", "must not be empty"));
        }
        let t = &self.timing;
        for (key, v) in [
            ("timing.incremental_sync_s", t.incremental_sync_s),
            ("timing.peer_poll_s", t.peer_poll_s),
            ("timing.heartbeat_s", t.heartbeat_s),
            ("timing.http_timeout_s", t.http_timeout_s),
            ("timing.retry_base_s", t.retry_base_s),
            ("timing.retry_cap_s", t.retry_cap_s),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1 (seconds)"));
            }
        }
        if t.retry_cap_s < t.retry_base_s {
            return Err(bad(
                "timing.retry_cap_s",
                "must not be below timing.retry_base_s",
            ));
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let write = |source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let header = "# Cubby kiosk configuration. Written by `cubby provision`; edit with care.\n";
        std::fs::write(path, format!("{header}{text}")).map_err(write)
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("kiosk.sqlite")
    }

    pub fn token_path(&self) -> PathBuf {
        self.token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets").join("token"))
    }

    pub fn pin_key_path(&self) -> PathBuf {
        self.pin_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets").join("pin_key"))
    }

    pub fn http_timeout(&self) -> Duration {
        Duration::from_secs(self.timing.http_timeout_s)
    }
}

/// A hub URL must be `https://`, or `http://` on loopback, or `http://` anywhere when
/// the config says `allow_insecure_http = true`.
pub fn check_hub_url(url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("is not a URL ({e}): {url:?}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback || allow_insecure_http {
                Ok(())
            } else {
                Err(format!(
                    "uses plain http to a non-loopback host ({url}); use https, or set allow_insecure_http = true for a test network"
                ))
            }
        }
        other => Err(format!("has scheme {other:?}; use https://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/cubby/cubby.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(
            c.token_path(),
            PathBuf::from("/var/lib/cubby/secrets/token")
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_file() {
        let err = parse("[timing]\npeer_poll_s = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/cubby/cubby.toml"), "{err}");
        assert!(err.contains("peer_poll_s"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_not_silently_ignored() {
        let err = parse("hub_ulr = \"https://x\"\n").unwrap_err().to_string();
        assert!(err.contains("hub_ulr"), "{err}");
    }

    #[test]
    fn zero_timing_is_refused_by_name() {
        let err = parse("[timing]\nheartbeat_s = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`timing.heartbeat_s` must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        assert!(check_hub_url("https://hub.example", false).is_ok());
        assert!(check_hub_url("http://127.0.0.1:8700", false).is_ok());
        assert!(check_hub_url("http://localhost:8700", false).is_ok());
        assert!(check_hub_url("http://[::1]:8700", false).is_ok());
        let err = check_hub_url("http://hub.lan:8700", false).unwrap_err();
        assert!(err.contains("allow_insecure_http"), "{err}");
        assert!(check_hub_url("http://hub.lan:8700", true).is_ok());
        assert!(check_hub_url("ftp://hub", true).is_err());
        assert!(parse("hub_url = \"http://10.0.0.5\"\n").is_err());
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cubby.toml");
        let c = Config {
            hub_url: Some("https://hub.example".into()),
            device_name: "Side door".into(),
            ..Config::default()
        };
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
    }
}
