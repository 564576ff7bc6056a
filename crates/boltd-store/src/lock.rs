//! The data-directory lock.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use tracing::debug;

use crate::error::StoreError;

/// The name of the lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = "boltd.lock";

/// An exclusive advisory lock on a data directory, held on `<data_dir>/boltd.lock`, which also
/// records the holder's process id.
///
/// The lock is released when this value is dropped, and by the operating system when the
/// process exits in any way (including `SIGKILL`), so a crash never leaves a stale lock. The
/// lock file itself is left in place.
#[derive(Debug)]
#[must_use = "the data directory is unlocked as soon as this value is dropped"]
pub struct DataDirLock {
    data_dir: PathBuf,
    path: PathBuf,
    file: File,
}

impl DataDirLock {
    /// Creates `data_dir` if needed and takes the lock without waiting.
    ///
    /// Fails with [`StoreError::Locked`] (carrying the holder's pid when it could be read) if
    /// another process, or another `DataDirLock` in this process, holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
        let path = data_dir.join(LOCK_FILE_NAME);
        // Do not truncate before holding the lock: that would erase the holder's pid.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => {}
            Ok(false) => {
                return Err(StoreError::Locked {
                    path: data_dir.to_path_buf(),
                    pid: read_pid(&path),
                })
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        let pid = std::process::id();
        write_pid(&file, pid).map_err(|e| StoreError::io(&path, e))?;
        debug!(path = %path.display(), pid, "locked data directory");
        Ok(DataDirLock { data_dir: data_dir.to_path_buf(), path, file })
    }

    /// The locked data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking explicitly also covers copies of the
        // descriptor that a forked child might still hold.
        if let Err(e) = FileExt::unlock(&self.file) {
            debug!(path = %self.path.display(), error = %e, "unlocking data directory failed");
        }
    }
}

fn write_pid(mut file: &File, pid: u32) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{pid}")?;
    file.sync_data()
}

/// The pid the holder wrote, if it wrote one yet.
fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        assert_eq!(first.path(), dir.path().join(LOCK_FILE_NAME));
        assert_eq!(first.data_dir(), dir.path());
        let contents = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(contents.trim(), std::process::id().to_string());

        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        match &err {
            StoreError::Locked { path, pid } => {
                assert_eq!(path, dir.path());
                assert_eq!(*pid, Some(std::process::id()));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "data directory {} is in use by another boltd (pid {})",
                dir.path().display(),
                std::process::id()
            )
        );
        // The failed attempt did not erase the holder's pid.
        let contents = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(contents.trim(), std::process::id().to_string());

        drop(first);
        let again = DataDirLock::acquire(dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn stale_lock_file_contents_do_not_block() {
        // A lock file left behind by a killed process holds no lock.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE_NAME), "999999999 and more junk\n").unwrap();
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        let contents = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(contents, format!("{}\n", std::process::id()));
    }

    #[test]
    fn acquire_creates_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("a").join("b");
        let _lock = DataDirLock::acquire(&data_dir).unwrap();
        assert!(data_dir.join(LOCK_FILE_NAME).is_file());
    }
}
