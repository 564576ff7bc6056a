//! The wallet service's own key: `<data_dir>/nwc.key` (the secret key in hex, mode 0600, next
//! to the seed, which is as secret), made on first use. Never logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use nostr::{Keys, SecretKey};

/// The file in the data directory that holds the wallet service's secret key.
pub const SERVICE_KEY_FILE: &str = "nwc.key";

/// The path of the service key in `data_dir`.
pub fn service_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SERVICE_KEY_FILE)
}

/// The wallet service's keys, from `<data_dir>/nwc.key`, created (readable by the owner only)
/// when missing.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<Keys> {
    let path = service_key_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let sk = SecretKey::from_hex(text.trim()).map_err(|_| {
                std::io::Error::other(format!("{} does not hold a secret key", path.display()))
            })?;
            Ok(Keys::new(sk))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = Keys::generate();
            write_private(&path, &keys.secret_key().to_secret_hex())?;
            Ok(keys)
        }
        Err(e) => Err(e),
    }
}

/// Writes `text` to `path`, readable by the owner only, without replacing an existing file
/// (two callers racing both end up reading the first one's key).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    // A hard link fails if the file appeared meanwhile: the first key stays.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(service_key_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(service_key_path(dir.path()), "nope").unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }
}
