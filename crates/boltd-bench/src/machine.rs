//! What a report is stamped with: CPU model, commit, date, and the measured fsync rate of the
//! disk the benchmark's data directories live on; and the resident memory of a process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The workspace root (two levels above this crate).
pub fn workspace() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.canonicalize().unwrap_or(dir)
}

/// The CPU model from `/proc/cpuinfo` (`unknown` elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Logical CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(workspace()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The short commit of the workspace and whether the working tree has uncommitted changes.
pub fn commit() -> (String, bool) {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // The run's own reports (B1's are written before B2-B4 look) do not make the tree dirty.
    let dirty = git(&["status", "--porcelain", "--", ".", ":(exclude)bench/results"])
        .is_some_and(|s| !s.is_empty());
    (commit, dirty)
}

/// Writes a report as `<out>/<name>.md` and `<out>/<name>.json` (pretty JSON), creating `out`;
/// returns the two paths.
pub fn write_report(
    out: &Path,
    name: &str,
    md: &str,
    doc: &serde_json::Value,
) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let base = out.join(name);
    let (md_path, json_path) = (base.with_extension("md"), base.with_extension("json"));
    std::fs::write(&md_path, md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    Ok((md_path, json_path))
}

/// UTC date (`YYYY-MM-DD`) and time (`YYYY-MM-DDTHH:MM:SSZ`) from the system clock.
pub fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let time = format!("{date}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60);
    (date, time)
}

/// The disk's durable-write rate as the benchmark sees it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct DiskSync {
    /// `write(4 KiB)` + `fdatasync` rounds per second, one thread, on one file.
    pub fsyncs_per_sec: f64,
    /// Rounds made.
    pub rounds: u64,
    /// How long the loop ran, in seconds.
    pub secs: f64,
}

/// Measures the disk under `dir`: a loop of `write(4 KiB)` + `fdatasync` on a temporary file in
/// `dir` for `duration`, on one thread. This is the rate one SQLite connection in WAL mode with
/// `synchronous=FULL` can commit at, at best.
pub fn disk_fsyncs_per_sec(dir: &Path, duration: Duration) -> std::io::Result<DiskSync> {
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::tempfile_in(dir)?;
    let block = [0x5au8; 4096];
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < duration {
        file.write_all(&block)?;
        file.sync_data()?;
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(DiskSync { fsyncs_per_sec: rounds as f64 / secs, rounds, secs })
}

/// A value in kB from a `/proc/<pid>/status` line (`VmRSS`, `VmHWM`, ...).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
}

/// Resident memory of a process, MiB (`VmRSS`).
pub fn rss_mib(pid: u32) -> Option<f64> {
    proc_status_kib(pid, "VmRSS").map(|k| k as f64 / 1024.0)
}

/// Peak resident memory of a process, MiB (`VmHWM`).
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    proc_status_kib(pid, "VmHWM").map(|k| k as f64 / 1024.0)
}

/// CPU time (user + system) a process has used so far, in seconds (`/proc/<pid>/stat`).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

/// CPU time of the calling thread, in microseconds.
pub fn thread_cpu_micros() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// Runs `f`, returning its result and (wall, thread CPU) time in microseconds.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, (f64, f64)) {
    let cpu = thread_cpu_micros();
    let start = Instant::now();
    let r = f();
    let wall = start.elapsed().as_secs_f64() * 1e6;
    (r, (wall, thread_cpu_micros() - cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_figures() {
        let pid = std::process::id();
        assert!(rss_mib(pid).unwrap() > 0.0);
        assert!(peak_rss_mib(pid).unwrap() >= rss_mib(pid).unwrap() * 0.5);
        assert!(cpu_secs(pid).is_some());
        assert!(proc_status_kib(pid, "NoSuchField").is_none());
    }

    #[test]
    fn disk_loop_counts_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk_fsyncs_per_sec(dir.path(), Duration::from_millis(50)).unwrap();
        assert!(d.rounds >= 1 && d.secs >= 0.05 && d.fsyncs_per_sec > 0.0);
    }

    #[test]
    fn dates_are_well_formed() {
        let (date, time) = utc_now();
        assert_eq!(date.len(), 10);
        assert!(time.starts_with(&date) && time.ends_with('Z'));
    }
}
