//! Storage faults under a running daemon: its data directory is a small tmpfs that the test
//! fills up ([`Method::Tmpfs`]), or, where mounting is refused (no root, no `CAP_SYS_ADMIN`),
//! the daemon runs with `RLIMIT_FSIZE` just above its files' sizes and `SIGXFSZ` ignored, so a
//! write that grows a file past it fails with `EFBIG` ([`Method::Rlimit`]).
//! `BOLTD_TORTURE_FAULT=rlimit` forces the fallback (to test it where mounting works).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::HarnessError;

/// How writes are made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The data directory is a tmpfs of the given size (bytes); [`FaultyDir::fill`] fills it.
    Tmpfs(u64),
    /// The daemon is started with `RLIMIT_FSIZE` ([`FaultyDir::limit_command`]).
    Rlimit,
}

/// A data directory whose writes can be made to fail (see the module documentation). A tmpfs
/// is unmounted on drop: drop it before the directory that holds it.
#[derive(Debug)]
pub struct FaultyDir {
    path: PathBuf,
    method: Method,
    /// Why the tmpfs was not used, for the record.
    pub fallback_reason: Option<String>,
}

const FILLER: &str = "torture-filler";

impl FaultyDir {
    /// Makes `path` (a data directory not yet created) a tmpfs of `tmpfs_bytes`, or, if that is
    /// refused or `BOLTD_TORTURE_FAULT=rlimit`, a plain directory for [`Method::Rlimit`].
    pub fn prepare(path: &Path, tmpfs_bytes: u64) -> Result<FaultyDir, HarnessError> {
        std::fs::create_dir_all(path)
            .map_err(|e| HarnessError::io(format!("creating {}", path.display()), e))?;
        let forced = std::env::var("BOLTD_TORTURE_FAULT").unwrap_or_default();
        let (method, fallback_reason) = if forced == "rlimit" {
            (Method::Rlimit, Some("BOLTD_TORTURE_FAULT=rlimit".to_string()))
        } else {
            match mount(path, &format!("size={tmpfs_bytes},mode=0700")) {
                Ok(()) => (Method::Tmpfs(tmpfs_bytes), None),
                Err(e) => (Method::Rlimit, Some(format!("mounting a tmpfs was refused: {e}"))),
            }
        };
        Ok(FaultyDir { path: path.to_path_buf(), method, fallback_reason })
    }

    /// How writes are made to fail.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method in words, for the test's output.
    pub fn describe(&self) -> String {
        match (self.method, &self.fallback_reason) {
            (Method::Tmpfs(n), _) => {
                format!("a tmpfs of {} KiB as the data directory, filled up", n / 1024)
            }
            (Method::Rlimit, why) => format!(
                "RLIMIT_FSIZE on the daemon, SIGXFSZ ignored (writes past it fail with EFBIG); {}",
                why.as_deref().unwrap_or("")
            ),
        }
    }

    /// The size of the biggest file in the data directory (recursively).
    pub fn biggest_file(&self) -> u64 {
        fn walk(p: &Path, max: &mut u64) {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path(), max),
                    Ok(m) => *max = (*max).max(m.len()),
                    Err(_) => {}
                }
            }
        }
        let mut max = 0;
        walk(&self.path, &mut max);
        max
    }

    /// A `configure` hook for [`crate::TestNode::spawn_configured`] that starts the daemon
    /// with `RLIMIT_FSIZE` of `limit_bytes` and `SIGXFSZ` ignored.
    pub fn limit_command(limit_bytes: u64) -> impl FnOnce(&mut Command) {
        move |cmd: &mut Command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit { rlim_cur: limit_bytes, rlim_max: limit_bytes };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
    }

    /// Fills the tmpfs to the last byte (a file of zeros written until `ENOSPC`); returns the
    /// bytes written. Nothing to do for [`Method::Rlimit`] (the limit is set at start).
    pub fn fill(&self) -> Result<u64, HarnessError> {
        if self.method == Method::Rlimit {
            return Ok(0);
        }
        let path = self.path.join(FILLER);
        let mut f = std::fs::File::create(&path)
            .map_err(|e| HarnessError::io(format!("creating {}", path.display()), e))?;
        let mut written = 0u64;
        for chunk in [1 << 20, 4096, 512] {
            let buf = vec![0u8; chunk];
            loop {
                match f.write(&buf) {
                    Ok(0) => break,
                    Ok(n) => written += n as u64,
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => return Err(HarnessError::io("filling the tmpfs", e)),
                }
            }
        }
        let _ = f.sync_all();
        Ok(written)
    }

    /// Ends the fault: removes the filler and grows the tmpfs to `tmpfs_bytes` (nothing to do
    /// for [`Method::Rlimit`]: start the daemon without the limit).
    pub fn heal(&self, tmpfs_bytes: u64) -> Result<(), HarnessError> {
        if let Method::Tmpfs(_) = self.method {
            let _ = std::fs::remove_file(self.path.join(FILLER));
            let out = Command::new("mount")
                .args(["-o", &format!("remount,size={tmpfs_bytes}")])
                .arg(&self.path)
                .output()
                .map_err(|e| HarnessError::io("running mount -o remount", e))?;
            if !out.status.success() {
                return Err(HarnessError::Other(format!(
                    "growing the tmpfs failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(())
    }
}

fn mount(path: &Path, options: &str) -> Result<(), String> {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("mount: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Drop for FaultyDir {
    fn drop(&mut self) {
        if let Method::Tmpfs(_) = self.method {
            let _ = Command::new("umount").arg("-l").arg(&self.path).output();
        }
    }
}
