//! The kiosk's configuration: a TOML file (`/etc/cubby/cubby.toml` by default).
//!
//! Every value has a default except what provisioning writes (`hub_url`). A wrong value
//! is an error that names the key and the file, so a technician can fix it over SSH.
//!
//! Provisioning never rewrites the config file (a dpkg conffile): it writes `hub_url` and
//! `device_name` to `<data_dir>/device.toml` ([`DEVICE_FILE`]), which [`Config::load`]
//! layers over the file: the config file's values are defaults, device.toml's win.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const DEFAULT_PATH: &str = "/etc/cubby/cubby.toml";

/// What provisioning writes, in `data_dir` (e.g. `/var/lib/cubby/device.toml`).
pub const DEVICE_FILE: &str = "device.toml";

/// The keys of `<data_dir>/device.toml`; each one given replaces the config file's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// Errors name the file; the OS error is part of the message (not a `source`, so a
/// caller printing the chain shows it once).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}{}", read_hint(.path, .error))]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// What to do about a config file that is not there: the package installs
/// [`DEFAULT_PATH`] (a conffile, so dpkg restores it only when asked to).
fn read_hint(path: &Path, error: &std::io::Error) -> String {
    if error.kind() != std::io::ErrorKind::NotFound || path.ends_with(DEVICE_FILE) {
        return String::new();
    }
    if path == Path::new(DEFAULT_PATH) {
        ". Restore the packaged file with `sudo apt-get install --reinstall \
         -o Dpkg::Options::=--force-confmiss cubby`, or pass --config PATH"
            .to_string()
    } else {
        format!(". Pass --config with an existing file (the package installs {DEFAULT_PATH})")
    }
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
    /// The door's language when nobody has chosen one: `"en"` or `"es"`. A family may
    /// switch on the home screen; the door comes back to this after each transaction.
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub timing: Timing,
    /// `[qr]`: how long a scanned code may live.
    #[serde(default)]
    pub qr: QrLimits,
    /// `[fingerprint]`: the R30x reader (no section: no reader). `devices::config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<crate::devices::config::FingerprintConfig>,
    /// `[[scanner]]`: QR/barcode scanners, one table each (none: no scanner).
    #[serde(
        default,
        deserialize_with = "crate::devices::config::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub scanner: Vec<crate::devices::scanner::ScannerConfig>,
    /// `[gpio]`: door strike, LEDs, buzzer (nothing configured: absent, strike disabled).
    #[serde(
        default,
        skip_serializing_if = "crate::devices::config::gpio_is_default"
    )]
    pub gpio: crate::devices::gpio::GpioConfig,
}

/// `[qr]`: the longest lifetime (`exp - iat`) this door accepts on a QR code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QrLimits {
    /// Codes on a phone: at most this many seconds between issue and expiry.
    pub max_lifetime_s: i64,
    /// Printed cards and staff badges the hub marked `long_lived`: at most this many days.
    pub max_long_lived_days: i64,
}

impl Default for QrLimits {
    fn default() -> Self {
        QrLimits {
            max_lifetime_s: crate::qr::DEFAULT_MAX_LIFETIME_S,
            max_long_lived_days: crate::qr::DEFAULT_MAX_LONG_LIVED_S / 86_400,
        }
    }
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

fn default_language() -> String {
    "en".to_string()
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
            language: default_language(),
            timing: Timing::default(),
            qr: QrLimits::default(),
            fingerprint: None,
            scanner: Vec::new(),
            gpio: Default::default(),
        }
    }
}

impl Config {
    /// Load and validate, then layer `<data_dir>/device.toml` over it. A missing config
    /// file is an error (say where it was looked for); a missing device.toml is not.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let mut cfg = Config::parse(&text, path)?;
        cfg.layer_device_file()?;
        Ok(cfg)
    }

    /// Load if the file exists, else defaults (used by `provision` on a fresh device);
    /// device.toml is layered over either.
    pub fn load_or_default(path: &Path) -> Result<Config, ConfigError> {
        if path.exists() {
            Config::load(path)
        } else {
            let mut cfg = Config::default();
            cfg.layer_device_file()?;
            Ok(cfg)
        }
    }

    /// `<data_dir>/device.toml`.
    pub fn device_file_path(&self) -> PathBuf {
        self.data_dir.join(DEVICE_FILE)
    }

    /// Apply `<data_dir>/device.toml` (if present) over the values loaded so far and
    /// validate the result; errors name device.toml and the key.
    pub fn layer_device_file(&mut self) -> Result<(), ConfigError> {
        let path = self.device_file_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(ConfigError::Read { path, error }),
        };
        let device: DeviceFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        if let Some(url) = device.hub_url {
            self.hub_url = Some(url);
        }
        if let Some(name) = device.device_name {
            self.device_name = name;
        }
        self.validate(&path)
    }

    /// Write `hub_url` and `device_name` to `<data_dir>/device.toml` (replacing it whole,
    /// atomically), creating `data_dir` if needed. The config file is not touched.
    pub fn save_device_file(&self) -> Result<(), ConfigError> {
        let path = self.device_file_path();
        let device = DeviceFile {
            hub_url: self.hub_url.clone(),
            device_name: Some(self.device_name.clone()),
        };
        let text = toml::to_string_pretty(&device).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let write = |error| ConfigError::Write {
            path: path.clone(),
            error,
        };
        crate::store::check::ensure_private_dir(&self.data_dir).map_err(write)?;
        let header =
            "# Written by `cubby provision` (or the provisioning screen); replaced when the\n\
                      # kiosk is provisioned again. These keys override the config file.\n";
        let tmp = path.with_extension("toml.new");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // 0600 like the database beside it: the hub address and door name are the
            // kiosk's own business.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(write)?;
            f.write_all(format!("{header}{text}").as_bytes())
                .map_err(write)?;
            f.sync_all().map_err(write)?;
        }
        std::fs::rename(&tmp, &path).map_err(write)
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
        if crate::kiosk::Lang::parse(&self.language).is_none() {
            return Err(bad(
                "language",
                &format!(
                    "must be \"en\" (English) or \"es\" (Spanish), not {:?}",
                    self.language
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", "must not be empty"));
        }
        crate::devices::config::validate(self.fingerprint.as_ref(), &self.scanner, &self.gpio)
            .map_err(|(key, problem)| bad(key, &problem))?;
        if !(60..=30 * 86_400).contains(&self.qr.max_lifetime_s) {
            return Err(bad(
                "qr.max_lifetime_s",
                "must be between 60 (one minute) and 2592000 (30 days)",
            ));
        }
        if !(1..=3660).contains(&self.qr.max_long_lived_days) {
            return Err(bad(
                "qr.max_long_lived_days",
                "must be between 1 and 3660 days",
            ));
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
        let write = |error| ConfigError::Write {
            path: path.to_path_buf(),
            error,
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
    fn language_is_en_or_es_and_named_when_wrong() {
        assert_eq!(parse("").unwrap().language, "en");
        assert_eq!(parse("language = \"es\"\n").unwrap().language, "es");
        let err = parse("language = \"fr\"\n").unwrap_err().to_string();
        assert!(err.contains("`language` must be \"en\""), "{err}");
        assert!(err.contains("\"fr\""), "{err}");
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

    /// The `# [timing]` block of the shipped file, its `# key = value` lines uncommented.
    fn shipped_timing_section() -> String {
        let shipped = include_str!("../assets/cubby.toml");
        let start = shipped
            .find("# [timing]\n")
            .expect("assets/cubby.toml documents [timing]");
        let block = &shipped[start..];
        let end = block[1..].find("\n# ----").map_or(block.len(), |i| i + 1);
        block[..end]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn the_shipped_config_documents_every_timing_key_with_its_default() {
        let section = shipped_timing_section();
        // Every field of `Timing` (as serde names it) is there, commented out.
        let fields = toml::Table::try_from(Timing::default()).unwrap();
        assert!(fields.len() >= 6, "{fields:?}");
        let documented: toml::Table = section.parse().unwrap();
        let documented = documented["timing"].as_table().unwrap();
        for key in fields.keys() {
            assert!(
                documented.contains_key(key),
                "timing.{key} missing:\n{section}"
            );
        }
        // Uncommented, it is a valid config whose values are the built-in defaults.
        assert_eq!(
            parse(&section).unwrap().timing,
            Timing::default(),
            "{section}"
        );
    }

    #[test]
    fn a_missing_file_names_its_path_once_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.toml");
        let err = Config::load(&path).unwrap_err();
        assert!(
            std::error::Error::source(&err).is_none(),
            "the OS error is in the message, not repeated as a source"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot read {}: ", path.display())),
            "{text}"
        );
        assert_eq!(
            text.matches("No such file or directory").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("--config") && text.contains(DEFAULT_PATH),
            "{text}"
        );
        let hint = read_hint(
            Path::new(DEFAULT_PATH),
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(hint.contains("--force-confmiss cubby"), "{hint}");
        let denied = read_hint(
            Path::new(DEFAULT_PATH),
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(denied, "", "only a missing file gets the hint");
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

#[cfg(test)]
mod device_file_tests {
    use super::*;

    /// A config file in `dir` with `data_dir = dir/data` and the given extra lines.
    fn config_file(dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("cubby.toml");
        let data = dir.join("data");
        std::fs::write(&path, format!("data_dir = \"{}\"\n{extra}", data.display())).unwrap();
        path
    }

    fn device_file(dir: &Path, text: &str) -> PathBuf {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let path = data.join(DEVICE_FILE);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn device_file_wins_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(
            dir.path(),
            "hub_url = \"https://old.example\"\ndevice_name = \"Old name\"\n",
        );
        device_file(
            dir.path(),
            "hub_url = \"https://hub.example\"\ndevice_name = \"Side door\"\n",
        );
        let c = Config::load(&path).unwrap();
        assert_eq!(c.hub_url.as_deref(), Some("https://hub.example"));
        assert_eq!(c.device_name, "Side door");
    }

    #[test]
    fn config_file_values_stay_for_keys_device_file_does_not_give() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(
            dir.path(),
            "hub_url = \"https://hub.example\"\ndevice_name = \"Gym door\"\n",
        );
        // An existing (pre-device.toml) install: the config file alone carries hub_url.
        let c = Config::load(&path).unwrap();
        assert_eq!(c.hub_url.as_deref(), Some("https://hub.example"));
        device_file(dir.path(), "device_name = \"Back door\"\n");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.hub_url.as_deref(), Some("https://hub.example"));
        assert_eq!(c.device_name, "Back door");
    }

    #[test]
    fn a_bad_device_file_is_refused_naming_it_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(dir.path(), "");
        let dev = device_file(dir.path(), "hub_ulr = \"https://hub.example\"\n");
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains(&dev.display().to_string()), "{err}");
        assert!(err.contains("hub_ulr"), "{err}");

        device_file(dir.path(), "hub_url = \"http://hub.lan:8700\"\n");
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains(&dev.display().to_string()), "{err}");
        assert!(err.contains("`hub_url`"), "{err}");
        assert!(err.contains("allow_insecure_http"), "{err}");

        // The config file's allow_insecure_http applies to device.toml's hub_url.
        let path = config_file(dir.path(), "allow_insecure_http = true\n");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.hub_url.as_deref(), Some("http://hub.lan:8700"));
    }

    #[test]
    fn save_device_file_replaces_it_and_leaves_the_config_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(dir.path(), "# a technician's comment\n");
        let before = std::fs::read_to_string(&path).unwrap();
        let mut c = Config::load(&path).unwrap();
        c.hub_url = Some("https://one.example".into());
        c.device_name = "Front door".into();
        c.save_device_file().unwrap();
        c.hub_url = Some("https://two.example".into());
        c.device_name = "Side door".into();
        c.save_device_file().unwrap();

        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let loaded = Config::load(&path).unwrap();
        assert_eq!(loaded.hub_url.as_deref(), Some("https://two.example"));
        assert_eq!(loaded.device_name, "Side door");
        assert!(!c.device_file_path().with_extension("toml.new").exists());
        // A config built in code (no file) gets the same values on demand.
        let mut layered = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        layered.layer_device_file().unwrap();
        assert_eq!(layered.hub_url.as_deref(), Some("https://two.example"));
    }
}

/// The device sections as the whole configuration file parses them.
#[cfg(test)]
mod device_sections {
    use std::path::Path;

    use crate::config::Config;
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::devices::config::*;
    use crate::devices::gpio::GpioConfig;
    use crate::devices::scanner::ScannerConfig;

    const SHIPPED: &str = include_str!("../assets/cubby.toml");

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/cubby/cubby.toml")).map_err(|e| e.to_string())
    }

    /// The shipped file with every commented device example (`# key = value`, `# [table]`,
    /// `# [[table]]` between the Hardware and Logging headings) uncommented.
    fn hardware_uncommented(text: &str) -> (String, usize) {
        let mut in_hw = false;
        let mut n = 0;
        let out = text
            .lines()
            .map(|line| {
                if line.starts_with("# ----") {
                    in_hw = line.contains("Hardware");
                    return line.to_string();
                }
                let body = line.strip_prefix("# ").unwrap_or("");
                let is_table = body.starts_with('[') && body.ends_with(']');
                let is_key = body.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                if in_hw && (is_table || is_key) {
                    n += 1;
                    body.to_string()
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        (out, n)
    }

    #[test]
    fn shipped_config_parses_as_shipped_and_with_device_examples_uncommented() {
        let shipped = parse(SHIPPED).unwrap();
        assert_eq!(shipped.fingerprint, None, "nothing configured = no reader");
        assert!(shipped.scanner.is_empty());
        assert_eq!(shipped.gpio, GpioConfig::default());
        assert!(!shipped.gpio.strike.enabled);

        let (text, n) = hardware_uncommented(SHIPPED);
        assert!(n >= 15, "only {n} device example lines found:\n{text}");
        let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        let fp = cfg.fingerprint.expect("[fingerprint] example");
        assert_eq!(fp.device, PathBuf::from("/dev/cubby-fingerprint"));
        assert_eq!(fp.reader().baud, 57_600);
        assert_eq!(
            cfg.scanner.len(),
            2,
            "one HID and one serial scanner example"
        );
        assert_eq!(
            cfg.scanner[0].device.as_deref(),
            Some(Path::new("/dev/input/cubby-scanner"))
        );
        assert_eq!(cfg.gpio.strike.pin, Some(17));
        assert_eq!(cfg.gpio.led_green, Some(27));
        assert_eq!(cfg.gpio.led_red, Some(22));
        assert_eq!(cfg.gpio.buzzer, Some(23));
        // The example leaves the strike off until the relay is wired and tested.
        assert!(!cfg.gpio.strike.enabled);
    }

    #[test]
    fn shipped_general_settings_are_real_keys() {
        // Uncomment every `# key = value` line above the hardware block: each must be a
        // key the kiosk accepts (Config denies unknown keys).
        let mut before_hw = true;
        let text: String = SHIPPED
            .lines()
            .map(|line| {
                if line.starts_with("# ---- Hardware") {
                    before_hw = false;
                }
                let body = line.strip_prefix("# ").unwrap_or("");
                let is_key = body.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                if before_hw && is_key {
                    format!("{body}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert_eq!(cfg.hub_url.as_deref(), Some("https://hub.example.org"));
        assert_eq!(cfg.device_name, "Front door");
        assert_eq!(cfg.language, "en");
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/cubby"));
        assert!(!cfg.allow_insecure_http);
    }

    #[test]
    fn a_single_scanner_table_is_accepted_too() {
        let cfg = parse("[scanner]\ndevice = \"/dev/ttyACM0\"\nbaud = 115200\n").unwrap();
        assert_eq!(cfg.scanner.len(), 1);
        assert_eq!(cfg.scanner[0].baud, 115_200);
        let err = parse("[scanner]\ndevice = \"/dev/ttyACM0\"\nbaud = \"fast\"\n").unwrap_err();
        assert!(err.contains("baud"), "{err}");
    }

    #[test]
    fn bad_device_values_name_the_key_and_file() {
        for (text, key) in [
            ("[fingerprint]\nbaud = 57600\n", "device"),
            (
                "[fingerprint]\ndevice = \"/dev/x\"\nbaud = 1234\n",
                "fingerprint.baud",
            ),
            (
                "[fingerprint]\ndevice = \"/dev/x\"\ncaptures = 9\n",
                "fingerprint.captures",
            ),
            (
                "[fingerprint]\ndevice = \"/dev/x\"\nmin_score = 0\n",
                "fingerprint.min_score",
            ),
            ("[fingerprint]\ndevice = \"/dev/x\"\nspeed = 1\n", "speed"),
            ("[[scanner]]\nmode = \"hid\"\n", "scanner.device"),
            (
                "[[scanner]]\ndevice = \"/dev/a\"\n[[scanner]]\ndevice = \"/dev/a\"\n",
                "configured twice",
            ),
            ("[gpio.strike]\nenabled = true\n", "gpio.strike.enabled"),
            ("[gpio]\nled_red = 5\nbuzzer = 5\n", "gpio.buzzer"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text:?} → {err}");
            assert!(err.contains("/etc/cubby/cubby.toml"), "{err}");
        }
    }

    #[test]
    fn device_sections_round_trip_through_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cubby.toml");
        let mut c = Config::default();
        c.save(&path).unwrap();
        let plain = std::fs::read_to_string(&path).unwrap();
        assert!(
            !plain.contains("[gpio"),
            "defaults are not written: {plain}"
        );
        c.fingerprint = Some(FingerprintConfig::at("/dev/ttyUSB0"));
        c.scanner = vec![ScannerConfig {
            device: Some("/dev/input/event3".into()),
            ..ScannerConfig::default()
        }];
        c.gpio.simulate = true;
        c.gpio.strike.enabled = true;
        c.gpio.strike.pin = Some(17);
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
    }

    #[test]
    fn reader_config_carries_every_value() {
        let mut fp = FingerprintConfig::at("/dev/ttyUSB0");
        fp.password = 7;
        fp.reply_timeout_ms = 500;
        fp.finger_timeout_s = 9;
        fp.char_buffers = 6;
        let r = fp.reader();
        assert_eq!(r.path, PathBuf::from("/dev/ttyUSB0"));
        assert_eq!(r.password, 7);
        assert_eq!(r.reply_timeout, Duration::from_millis(500));
        assert_eq!(r.finger_timeout, Duration::from_secs(9));
        assert_eq!(r.char_buffers, 6);
        assert_eq!(r.address, 0xFFFF_FFFF);
    }
}
