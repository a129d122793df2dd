//! The device's secrets on disk: the hub token and the PIN HMAC key, each in its own
//! file readable by the kiosk's user only (0600, directory 0700). Never logged.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("this kiosk is not provisioned ({path} is missing): run `cubby provision --hub URL --code CODE --name NAME`")]
    Missing { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a valid PIN key (base64 of at least 16 bytes): re-provision this kiosk")]
    BadPinKey { path: PathBuf },
}

pub fn write_secret(path: &Path, value: &str) -> Result<(), SecretError> {
    let err = |source| SecretError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    // Write a fresh file (old content and permissions are not inherited) and fsync it.
    let tmp = path.with_extension("new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

pub fn read_secret(path: &Path) -> Result<String, SecretError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SecretError::Missing {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(SecretError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Remove a secret file; a missing one is fine.
pub fn remove_secret(path: &Path) -> Result<(), SecretError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SecretError::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Decode the base64 PIN key read from `path`.
pub fn decode_pin_key(text: &str, path: &Path) -> Result<Vec<u8>, SecretError> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| SecretError::BadPinKey {
            path: path.to_path_buf(),
        })?;
    if key.len() < 16 {
        return Err(SecretError::BadPinKey {
            path: path.to_path_buf(),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_written_0600_in_a_0700_dir_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("token");
        write_secret(&path, "s3cret\n").unwrap();
        assert_eq!(read_secret(&path).unwrap(), "s3cret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        remove_secret(&path).unwrap();
        assert!(matches!(
            read_secret(&path),
            Err(SecretError::Missing { .. })
        ));
    }

    #[test]
    fn short_or_invalid_pin_key_is_refused() {
        let p = Path::new("/x/pin_key");
        assert!(decode_pin_key("not base64!", p).is_err());
        assert!(decode_pin_key("AAAA", p).is_err());
        assert_eq!(
            decode_pin_key(&format!("{}=", "A".repeat(43)), p)
                .unwrap()
                .len(),
            32
        );
    }
}
