//! Zero-touch setup of a freshly flashed door: `cubby-setup.toml`, written by a technician
//! onto the card's FAT partition, applied once at first boot by `cubby setup` (root, before
//! the kiosk starts).
//!
//! Owns reading and checking that file (every key named in its error), applying the
//! system's part (host name, time zone, Wi-Fi, an SSH key that turns SSH on), handing the
//! enrollment to the kiosk (`<data_dir>/setup-enrollment.toml`, 0600, which the
//! provisioning screen enrolls with by itself) and taking the one-time and secret parts
//! off the FAT partition. A file that cannot be used changes nothing and leaves its
//! reason in `<data_dir>/setup-error.txt`, which the provisioning screen shows.
//!
//! Paths are under a `root` so that tests apply a file to a folder, not to this machine.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The setup file as a technician writes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetupFile {
    /// Host name of the door on the network ("front-door").
    pub hostname: Option<String>,
    /// IANA time zone of the center ("America/Chicago").
    pub timezone: Option<String>,
    pub wifi: Option<Wifi>,
    pub hub: Option<HubSetup>,
    pub technician: Option<TechnicianSetup>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Wifi {
    /// Two-letter regulatory country ("US").
    pub country: String,
    pub ssid: String,
    /// WPA2/WPA3 passphrase (8–63 characters); absent for an open network. Removed from
    /// the FAT partition once applied.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HubSetup {
    pub url: String,
    /// The one-time enrollment code (`cubby hub enroll-code`). Removed once applied.
    pub code: String,
    /// The door's name at the hub ("Front door").
    pub door_name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TechnicianSetup {
    /// The technician PIN (opens the device screen only). Removed once applied.
    pub pin: Option<String>,
    /// An OpenSSH public key: SSH is turned on for root with this key only.
    pub ssh_key: Option<String>,
}

/// What the kiosk enrolls with by itself (`<data_dir>/setup-enrollment.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingEnrollment {
    pub hub_url: String,
    pub code: String,
    pub door_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technician_pin: Option<String>,
}

/// File names under the data folder.
pub const PENDING_FILE: &str = "setup-enrollment.toml";
pub const ERROR_FILE: &str = "setup-error.txt";

/// Why a setup file cannot be used, in words for the screen and the journal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetupError {
    #[error("the setup file {path} cannot be read: {detail}")]
    Unreadable { path: String, detail: String },
    #[error("the setup file is not valid TOML or has an unknown key: {0}")]
    Syntax(String),
    #[error("setup file, `{key}`: {why}")]
    Key { key: &'static str, why: String },
    #[error("setup could not write {path}: {detail}")]
    Write { path: String, detail: String },
}

fn key(key: &'static str, why: impl Into<String>) -> SetupError {
    SetupError::Key {
        key,
        why: why.into(),
    }
}

/// Parse and check a setup file's text. Nothing is applied.
pub fn parse(text: &str) -> Result<SetupFile, SetupError> {
    let file: SetupFile = toml::from_str(text).map_err(|e| {
        // toml's message names the line and the key; keep it to one calm line.
        let msg = e.message().trim().to_string();
        let at = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        SetupError::Syntax(match at {
            Some(line) => format!("line {line}: {msg}"),
            None => msg,
        })
    })?;
    check(&file)?;
    Ok(file)
}

fn check(f: &SetupFile) -> Result<(), SetupError> {
    if let Some(h) = &f.hostname {
        let ok = !h.is_empty()
            && h.len() <= 63
            && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !h.starts_with('-')
            && !h.ends_with('-');
        if !ok {
            return Err(key(
                "hostname",
                "use 1–63 letters, digits and inner hyphens, e.g. \"front-door\"",
            ));
        }
    }
    if let Some(tz) = &f.timezone {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(key(
                "timezone",
                format!("unknown time zone {tz:?}; use an IANA name, e.g. \"America/Chicago\""),
            ));
        }
    }
    if let Some(w) = &f.wifi {
        if w.country.len() != 2 || !w.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(key(
                "wifi.country",
                "use the two capital letters of the country, e.g. \"US\"",
            ));
        }
        if w.ssid.is_empty() || w.ssid.len() > 32 || w.ssid.chars().any(char::is_control) {
            return Err(key("wifi.ssid", "the network name must be 1–32 characters"));
        }
        if let Some(p) = &w.password {
            if !(8..=63).contains(&p.len()) || p.chars().any(|c| !(' '..='~').contains(&c)) {
                return Err(key(
                    "wifi.password",
                    "a WPA passphrase is 8–63 plain characters (leave it out for an open network)",
                ));
            }
        }
    }
    if let Some(h) = &f.hub {
        crate::config::check_hub_url(h.url.trim(), false)
            .map_err(|e| key("hub.url", format!("the address {e}")))?;
        let code = h.code.trim();
        if code.is_empty() || code.len() > 64 || code.chars().any(char::is_control) {
            return Err(key(
                "hub.code",
                "copy the enrollment code exactly as `cubby hub enroll-code` printed it",
            ));
        }
        let name = h.door_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(key(
                "hub.door_name",
                "give the door a name of 1–64 characters, e.g. \"Front door\"",
            ));
        }
    }
    if let Some(t) = &f.technician {
        if let Some(pin) = &t.pin {
            if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(key("technician.pin", "use 4 to 8 digits"));
            }
            if f.hub.is_none() {
                return Err(key(
                    "technician.pin",
                    "needs the [hub] section: the PIN is set once the door is enrolled",
                ));
            }
        }
        if let Some(k) = &t.ssh_key {
            let mut parts = k.split_whitespace();
            let kind = parts.next().unwrap_or_default();
            let body = parts.next().unwrap_or_default();
            let known = kind.starts_with("ssh-") || kind.starts_with("ecdsa-sha2-");
            if !known || body.len() < 40 || k.contains('\n') {
                return Err(key(
                    "technician.ssh_key",
                    "paste one OpenSSH public key line, e.g. \"ssh-ed25519 AAAA… tech@laptop\"",
                ));
            }
        }
    }
    Ok(())
}

/// The setup file with its one-time and secret parts taken out, for the FAT partition:
/// what was applied stays readable, nothing that would let someone enroll a door, join
/// the Wi-Fi or open the device screen.
pub fn without_secrets(f: &SetupFile, applied_at: &str) -> String {
    let mut out = format!(
        "# Applied by the door at {applied_at}. The enrollment code, the Wi-Fi password and\n\
         # the technician PIN were removed from this card.\n"
    );
    if let Some(h) = &f.hostname {
        out.push_str(&format!("hostname = {}\n", quote(h)));
    }
    if let Some(tz) = &f.timezone {
        out.push_str(&format!("timezone = {}\n", quote(tz)));
    }
    if let Some(w) = &f.wifi {
        out.push_str(&format!(
            "\n[wifi]\ncountry = {}\nssid = {}\n",
            quote(&w.country),
            quote(&w.ssid)
        ));
    }
    if let Some(h) = &f.hub {
        out.push_str(&format!(
            "\n# [hub] applied: url = {}, door_name = {}\n",
            quote(&h.url),
            quote(&h.door_name)
        ));
    }
    if let Some(k) = f.technician.as_ref().and_then(|t| t.ssh_key.as_ref()) {
        out.push_str(&format!("\n[technician]\nssh_key = {}\n", quote(k)));
    }
    out
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Where things go, under `root` ("/" on a door).
#[derive(Debug, Clone)]
pub struct Targets {
    pub root: PathBuf,
    /// The kiosk's data folder (`data_dir`, /var/lib/cubby on a door).
    pub data_dir: PathBuf,
}

impl Targets {
    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// What applying a setup file did, one line each (for the journal).
pub type Applied = Vec<String>;

/// Apply a checked setup file: system settings under `t.root`, the enrollment for the
/// kiosk in `t.data_dir`. Units are enabled by their links, so this works on a folder
/// as on a running door.
pub fn apply(f: &SetupFile, t: &Targets) -> Result<Applied, SetupError> {
    let mut done = Vec::new();
    if let Some(h) = &f.hostname {
        write(&t.at("/etc/hostname"), &format!("{h}\n"), 0o644)?;
        write(
            &t.at("/etc/hosts"),
            &format!(
                "127.0.0.1 localhost\n127.0.1.1 {h}\n::1 localhost ip6-localhost ip6-loopback\n"
            ),
            0o644,
        )?;
        done.push(format!("host name {h}"));
    }
    if let Some(tz) = &f.timezone {
        let link = t.at("/etc/localtime");
        let _ = std::fs::remove_file(&link);
        symlink(&format!("/usr/share/zoneinfo/{tz}"), &link)?;
        write(&t.at("/etc/timezone"), &format!("{tz}\n"), 0o644)?;
        done.push(format!("time zone {tz}"));
    }
    if let Some(w) = &f.wifi {
        let mut conf = format!(
            "# Written by `cubby setup` from the card's cubby-setup.toml.\n\
             ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\nupdate_config=0\n\
             country={}\n\nnetwork={{\n    ssid={}\n",
            w.country,
            wpa_quote(&w.ssid)
        );
        match &w.password {
            Some(p) => conf.push_str(&format!(
                "    psk={}\n    key_mgmt=WPA-PSK SAE\n    ieee80211w=1\n",
                wpa_quote(p)
            )),
            None => conf.push_str("    key_mgmt=NONE\n"),
        }
        conf.push_str("}\n");
        write(
            &t.at("/etc/wpa_supplicant/wpa_supplicant-wlan0.conf"),
            &conf,
            0o600,
        )?;
        enable(
            t,
            "wpa_supplicant@wlan0.service",
            "/lib/systemd/system/wpa_supplicant@.service",
        )?;
        done.push(format!("Wi-Fi {:?} ({})", w.ssid, w.country));
    }
    if let Some(k) = f.technician.as_ref().and_then(|t| t.ssh_key.as_ref()) {
        write(
            &t.at("/root/.ssh/authorized_keys"),
            &format!("{k}\n"),
            0o600,
        )?;
        std::fs::set_permissions(t.at("/root/.ssh"), perm(0o700)).map_err(|e| {
            SetupError::Write {
                path: "/root/.ssh".into(),
                detail: e.to_string(),
            }
        })?;
        write(
            &t.at("/etc/ssh/sshd_config.d/cubby.conf"),
            "# Written by `cubby setup`: keys only.\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            0o644,
        )?;
        enable(t, "ssh.service", "/lib/systemd/system/ssh.service")?;
        done.push("SSH on, for the key given".to_string());
    }
    if let Some(h) = &f.hub {
        let pending = PendingEnrollment {
            hub_url: h.url.trim().to_string(),
            code: h.code.trim().to_string(),
            door_name: h.door_name.trim().to_string(),
            technician_pin: f.technician.as_ref().and_then(|t| t.pin.clone()),
        };
        let text = toml::to_string(&pending).map_err(|e| SetupError::Write {
            path: PENDING_FILE.into(),
            detail: e.to_string(),
        })?;
        crate::store::check::ensure_private_dir(&t.data_dir).map_err(|e| SetupError::Write {
            path: t.data_dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let path = t.data_dir.join(PENDING_FILE);
        write(&path, &text, 0o600)?;
        own_like_dir(&path, &t.data_dir)?;
        done.push(format!(
            "enrollment with {} as {:?} handed to the kiosk",
            pending.hub_url, pending.door_name
        ));
    }
    Ok(done)
}

/// A wpa_supplicant string, quoted (the checks above keep quotes and newlines out of
/// nothing, so escape what could end it).
fn wpa_quote(s: &str) -> String {
    if s.contains('"') || s.contains('\\') {
        // Hex form: any byte is fine.
        s.bytes().map(|b| format!("{b:02x}")).collect()
    } else {
        format!("\"{s}\"")
    }
}

fn perm(mode: u32) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(mode)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), SetupError> {
    let err = |e: std::io::Error| SetupError::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("cubby-tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::set_permissions(&tmp, perm(mode)).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Give a file in the data folder to the folder's owner (the `cubby` user on a door):
/// `cubby setup` runs as root, the kiosk reads and removes the file.
fn own_like_dir(file: &Path, dir: &Path) -> Result<(), SetupError> {
    use std::os::unix::fs::MetadataExt;
    let err = |e: std::io::Error| SetupError::Write {
        path: file.display().to_string(),
        detail: e.to_string(),
    };
    let meta = std::fs::metadata(dir).map_err(err)?;
    std::os::unix::fs::chown(file, Some(meta.uid()), Some(meta.gid())).map_err(err)
}

fn symlink(target: &str, link: &Path) -> Result<(), SetupError> {
    let err = |e: std::io::Error| SetupError::Write {
        path: link.display().to_string(),
        detail: e.to_string(),
    };
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::os::unix::fs::symlink(target, link).map_err(err)
}

/// `systemctl enable` as its link in multi-user.target.wants (works on a folder too).
fn enable(t: &Targets, unit: &str, target: &str) -> Result<(), SetupError> {
    let link = t.at(&format!(
        "/etc/systemd/system/multi-user.target.wants/{unit}"
    ));
    if std::fs::symlink_metadata(&link).is_ok() {
        return Ok(());
    }
    symlink(target, &link)
}

/// Read the pending enrollment the setup left for the kiosk, if any. A file that cannot
/// be read is an error in words (the screen shows it).
pub fn pending_enrollment(data_dir: &Path) -> Result<Option<PendingEnrollment>, String> {
    let path = data_dir.join(PENDING_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{} is damaged: {}", path.display(), e.message()))
}

/// The reason the last setup file could not be used, if it left one.
pub fn setup_error(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(ERROR_FILE))
        .ok()
        .map(|s| crate::sanitize::clean(s.trim(), 400))
        .filter(|s| !s.is_empty())
}

/// Where the applied file goes beside the setup file: `cubby-setup.applied.toml`.
pub fn applied_path(file: &Path) -> PathBuf {
    file.with_extension("applied.toml")
}

/// The whole first-boot step: read `file`, check it, apply it, strip the FAT copy. On a
/// file that cannot be used nothing is applied and the reason is kept in
/// `<data_dir>/setup-error.txt` for the screen. Once applied, the file is renamed
/// [`applied_path`] without its secrets. Returns what was done.
pub fn run(file: &Path, t: &Targets, applied_at: &str) -> Result<Applied, SetupError> {
    let result = std::fs::read_to_string(file)
        .map_err(|e| SetupError::Unreadable {
            path: file.display().to_string(),
            detail: e.to_string(),
        })
        .and_then(|text| parse(&text))
        .and_then(|f| {
            let done = apply(&f, t)?;
            // The card keeps what was applied, as a file the next boot leaves alone.
            write(&applied_path(file), &without_secrets(&f, applied_at), 0o600)?;
            std::fs::remove_file(file).map_err(|e| SetupError::Write {
                path: file.display().to_string(),
                detail: e.to_string(),
            })?;
            Ok(done)
        });
    let error_file = t.data_dir.join(ERROR_FILE);
    match &result {
        Ok(_) => {
            let _ = std::fs::remove_file(&error_file);
        }
        Err(e) => {
            let _ = crate::store::check::ensure_private_dir(&t.data_dir);
            if write(&error_file, &format!("{e}\n"), 0o600).is_ok() {
                let _ = own_like_dir(&error_file, &t.data_dir);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
hostname = "front-door"
timezone = "America/Chicago"

[wifi]
country = "US"
ssid = "Maple Street"
password = "correct horse battery"

[hub]
url = "https://hub.maple.example"
code = "K7QM-2XPA"
door_name = "Front door"

[technician]
pin = "482913"
ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv2l0W1b8Xj0n4hB7bQy5m6k3 tech@laptop"
"#;

    fn targets() -> (tempfile::TempDir, Targets) {
        let dir = tempfile::tempdir().unwrap();
        let t = Targets {
            root: dir.path().join("root"),
            data_dir: dir.path().join("root/var/lib/cubby"),
        };
        (dir, t)
    }

    #[test]
    fn a_good_file_is_applied_and_its_secrets_leave_the_card() {
        let (dir, t) = targets();
        let card = dir.path().join("cubby-setup.toml");
        std::fs::write(&card, GOOD).unwrap();
        let done = run(&card, &t, "2026-12-02 08:00").unwrap();
        assert_eq!(done.len(), 5, "{done:?}");
        let read = |p: &str| std::fs::read_to_string(t.at(p)).unwrap();
        assert_eq!(read("/etc/hostname"), "front-door\n");
        assert!(read("/etc/hosts").contains("127.0.1.1 front-door"));
        assert_eq!(
            std::fs::read_link(t.at("/etc/localtime")).unwrap(),
            PathBuf::from("/usr/share/zoneinfo/America/Chicago")
        );
        let wpa = read("/etc/wpa_supplicant/wpa_supplicant-wlan0.conf");
        assert!(wpa.contains("country=US") && wpa.contains("ssid=\"Maple Street\""));
        assert!(wpa.contains("psk=\"correct horse battery\""));
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(t.at("/etc/wpa_supplicant/wpa_supplicant-wlan0.conf")),
            0o600
        );
        assert!(std::fs::symlink_metadata(
            t.at("/etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service")
        )
        .is_ok());
        assert!(read("/root/.ssh/authorized_keys").starts_with("ssh-ed25519 AAAA"));
        assert!(std::fs::symlink_metadata(
            t.at("/etc/systemd/system/multi-user.target.wants/ssh.service")
        )
        .is_ok());
        let pending = pending_enrollment(&t.data_dir).unwrap().unwrap();
        assert_eq!(
            pending,
            PendingEnrollment {
                hub_url: "https://hub.maple.example".into(),
                code: "K7QM-2XPA".into(),
                door_name: "Front door".into(),
                technician_pin: Some("482913".into()),
            }
        );
        assert_eq!(mode(t.data_dir.join(PENDING_FILE)), 0o600);
        // The card keeps what was applied, and none of the secrets.
        assert!(!card.exists(), "the setup file is applied once");
        let left = std::fs::read_to_string(applied_path(&card)).unwrap();
        assert!(applied_path(&card).ends_with("cubby-setup.applied.toml"));
        for secret in ["K7QM-2XPA", "correct horse battery", "482913"] {
            assert!(!left.contains(secret), "{secret} left on the card:\n{left}");
        }
        assert!(left.contains("front-door") && left.contains("Maple Street"));
        // What is left is a valid setup file that enrolls nothing.
        let again = parse(&left).unwrap();
        assert!(again.hub.is_none() && again.wifi.unwrap().password.is_none());
        assert!(setup_error(&t.data_dir).is_none());
    }

    #[test]
    fn a_bad_file_names_its_key_and_changes_nothing() {
        let cases = [
            ("hostname = \"front door\"", "hostname"),
            ("timezone = \"Mars/Olympus\"", "timezone"),
            ("[wifi]\ncountry = \"usa\"\nssid = \"x\"", "wifi.country"),
            ("[wifi]\ncountry = \"US\"\nssid = \"x\"\npassword = \"short\"", "wifi.password"),
            ("[hub]\nurl = \"ftp://hub\"\ncode = \"A\"\ndoor_name = \"D\"", "hub.url"),
            ("[hub]\nurl = \"https://hub\"\ncode = \"\"\ndoor_name = \"D\"", "hub.code"),
            ("[hub]\nurl = \"https://hub\"\ncode = \"A\"\ndoor_name = \" \"", "hub.door_name"),
            ("[hub]\nurl = \"https://hub\"\ncode = \"A\"\ndoor_name = \"D\"\n[technician]\npin = \"12a4\"", "technician.pin"),
            ("[technician]\nssh_key = \"hello\"", "technician.ssh_key"),
        ];
        for (text, want) in cases {
            let (dir, t) = targets();
            let card = dir.path().join("cubby-setup.toml");
            std::fs::write(&card, text).unwrap();
            let err = run(&card, &t, "now").unwrap_err();
            assert!(
                matches!(&err, SetupError::Key { key, .. } if *key == want),
                "{text:?}: {err}"
            );
            assert!(err.to_string().contains(&format!("`{want}`")), "{err}");
            // Nothing applied, the card untouched, the reason kept for the screen.
            assert!(!t.at("/etc").exists(), "{text:?} wrote under /etc");
            assert_eq!(std::fs::read_to_string(&card).unwrap(), text);
            assert_eq!(
                setup_error(&t.data_dir).as_deref(),
                Some(err.to_string().as_str())
            );
        }
    }

    #[test]
    fn unknown_keys_and_broken_toml_say_where() {
        let err = parse("hostname = \"a\"\nwifi_ssid = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `wifi_ssid`"), "{text}");
        let err = parse("hostname = \"a\"\n[hub\nurl = 1").unwrap_err();
        assert!(matches!(err, SetupError::Syntax(_)), "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
        let (dir, t) = targets();
        let err = run(&dir.path().join("missing.toml"), &t, "now").unwrap_err();
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }

    #[test]
    fn a_wifi_name_with_quotes_is_written_in_hex() {
        assert_eq!(wpa_quote("Maple"), "\"Maple\"");
        assert_eq!(wpa_quote("a\"b"), "612262");
    }
}
