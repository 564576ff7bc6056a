//! Exact counts of the durability system calls a process makes, from the kernel's syscall
//! tracepoints through `perf stat` (`syscalls:sys_enter_fsync`, `sys_enter_fdatasync`,
//! `sys_enter_sync_file_range`).
//!
//! `perf stat -p PID` counts in the kernel for every thread of the process, including threads
//! started after it attached, without stopping the process on each call (unlike `strace`), so
//! the count is exact and the measured throughput is not slowed by the measurement. It needs
//! `perf` and access to the tracepoints (root, or `kernel.perf_event_paranoid` <= -1 with
//! tracefs readable); [`available`] says why not when it cannot.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Serialize;

const EVENTS: [&str; 3] = [
    "syscalls:sys_enter_fsync",
    "syscalls:sys_enter_fdatasync",
    "syscalls:sys_enter_sync_file_range",
];

/// Durability system calls counted over a window.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SyncCalls {
    /// `fsync` calls.
    pub fsync: u64,
    /// `fdatasync` calls.
    pub fdatasync: u64,
    /// `sync_file_range` calls.
    pub sync_file_range: u64,
}

impl SyncCalls {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.fsync + self.fdatasync + self.sync_file_range
    }

    /// The sum of two counts.
    pub fn plus(&self, other: &SyncCalls) -> SyncCalls {
        SyncCalls {
            fsync: self.fsync + other.fsync,
            fdatasync: self.fdatasync + other.fdatasync,
            sync_file_range: self.sync_file_range + other.sync_file_range,
        }
    }
}

fn perf_command() -> Command {
    let mut cmd = Command::new("perf");
    cmd.args(["stat", "-x", ",", "--no-big-num"]);
    for e in EVENTS {
        cmd.args(["-e", e]);
    }
    cmd
}

/// Whether counting works here; the reason when it does not.
pub fn available() -> Result<(), String> {
    let out = perf_command()
        .arg("--")
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `perf` ({e}); install it (Debian: linux-perf)"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || parse(&text).is_err() {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(format!("`perf stat` cannot count syscall tracepoints here: {first}"));
    }
    Ok(())
}

fn parse(text: &str) -> Result<SyncCalls, String> {
    let mut calls = SyncCalls::default();
    let mut seen = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let Some(pos) = fields.iter().position(|f| EVENTS.contains(f)) else { continue };
        let value: u64 = fields[0]
            .trim()
            .parse()
            .map_err(|_| format!("perf could not count {}: `{}`", fields[pos], fields[0]))?;
        match fields[pos] {
            "syscalls:sys_enter_fsync" => calls.fsync = value,
            "syscalls:sys_enter_fdatasync" => calls.fdatasync = value,
            _ => calls.sync_file_range = value,
        }
        seen += 1;
    }
    if seen != EVENTS.len() {
        return Err(format!("perf printed {seen} of the {} counters", EVENTS.len()));
    }
    Ok(calls)
}

/// A running count on one process (a `perf stat -p` child).
pub struct Counter {
    child: Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Counter {
    /// Starts counting the durability calls of process `pid` (all its threads).
    pub fn attach(pid: u32) -> Result<Counter, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let out = dir.path().join("perf.csv");
        let child = perf_command()
            .arg("-o")
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run `perf`: {e}"))?;
        // perf opens one counter per thread before it counts; give it that time.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Counter { child, out, _dir: dir })
    }

    /// Stops counting and returns the counts.
    pub fn stop(mut self) -> Result<SyncCalls, String> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let status = self.child.wait().map_err(|e| format!("waiting for perf: {e}"))?;
        let text = std::fs::read_to_string(&self.out)
            .map_err(|e| format!("perf wrote no counts ({status}): {e}"))?;
        parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_csv() {
        let text = "# started on Mon\n\n\
            12,,syscalls:sys_enter_fsync,1000,100.00,,\n\
            345,,syscalls:sys_enter_fdatasync,1000,100.00,,\n\
            0,,syscalls:sys_enter_sync_file_range,1000,100.00,,\n";
        let c = parse(text).unwrap();
        assert_eq!((c.fsync, c.fdatasync, c.sync_file_range, c.total()), (12, 345, 0, 357));
        assert!(parse("<not counted>,,syscalls:sys_enter_fsync,0,0,,\n").is_err());
        assert!(parse("").is_err());
    }

    /// Counts our own fdatasync calls exactly, where perf can count at all.
    #[test]
    fn counts_exactly_where_available() {
        if let Err(why) = available() {
            eprintln!("skipped: {why}");
            return;
        }
        let counter = Counter::attach(std::process::id()).unwrap();
        let file = tempfile::tempfile().unwrap();
        for _ in 0..17 {
            file.sync_data().unwrap();
        }
        let c = counter.stop().unwrap();
        assert!(c.fdatasync >= 17, "{c:?}");
    }
}
